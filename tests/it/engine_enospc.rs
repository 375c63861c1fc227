//! Real ENOSPC and read-only filesystems: each test mounts its own small tmpfs (as
//! root; otherwise it says loudly that it skipped and why) and checks that a save
//! that cannot fit fails before writing, a save that runs out mid-write leaves no
//! temp behind, and a read-only run fails before anything is written — each time
//! with the run byte-for-byte as it was.

use std::io::Read;
use std::path::Path;

use crate::util::stress::{assert_run_consistent, list_temps, skip_lock, tree_listing, XorShift};
use crate::util::tmpfs::TmpfsMount;
use ckpt::engine::{EngineOptions, Run, SaveRequest, SaveSource};
use ckpt::rank::{MetricSpec, Mode};
use ckpt::snapshot::LayoutKind;
use ckpt::Error;

const MIB: u64 = 1 << 20;

fn options() -> EngineOptions {
    EngineOptions {
        lock_timeout: std::time::Duration::from_secs(10),
        ..EngineOptions::default()
    }
}

fn request(epoch: u64, metric: f64) -> SaveRequest {
    SaveRequest {
        epoch,
        metric: Some(metric),
        metric_spec: Some(MetricSpec {
            name: "eval_top1".into(),
            mode: Mode::Max,
        }),
        ..Default::default()
    }
}

fn bytes(len: u64, seed: u64) -> Vec<u8> {
    let mut v = vec![0u8; len as usize];
    XorShift::new(seed).fill(&mut v);
    v
}

fn save_bytes(run: &Run, epoch: u64, metric: f64, data: &[u8]) {
    let mut w = |out: &mut dyn std::io::Write| out.write_all(data);
    run.save(&request(epoch, metric), SaveSource::Writer(&mut w), None)
        .unwrap_or_else(|e| panic!("setup save of epoch {epoch} failed: {e}"));
}

/// A run with two 1 MiB checkpoints on `dir`.
fn seeded_run(dir: &Path) -> Run {
    let run = Run::open_or_create(dir, options()).unwrap();
    save_bytes(&run, 1, 10.0, &bytes(MIB, 1));
    save_bytes(&run, 2, 20.0, &bytes(MIB, 2));
    assert_run_consistent(dir);
    run
}

/// An endless-enough reader of pseudo-random bytes (size unknown to the engine).
struct Endless {
    rng: XorShift,
    left: u64,
}

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.left) as usize;
        self.rng.fill(&mut buf[..n]);
        self.left -= n as u64;
        Ok(n)
    }
}

#[test]
fn file_that_cannot_fit_fails_before_writing() {
    let Some(mnt) = TmpfsMount::new("file_that_cannot_fit_fails_before_writing", "8m", "") else {
        return;
    };
    let dir = mnt.path.join("run");
    let run = seeded_run(&dir);
    let before = tree_listing(&dir, &skip_lock);

    let src_dir = tempfile::tempdir().unwrap();
    let src = src_dir.path().join("big.pth.tar");
    std::fs::write(&src, bytes(10 * MIB, 3)).unwrap();
    for move_file in [false, true] {
        let err = run
            .save(
                &request(3, 30.0),
                SaveSource::File {
                    path: &src,
                    move_file,
                },
                None,
            )
            .expect_err("a 10 MiB save onto an 8 MiB tmpfs must fail");
        let msg = err.to_string();
        match &err {
            Error::NoSpace {
                available, needed, ..
            } => {
                assert!(*needed >= 10 * MIB, "needed {needed} < the file's size");
                assert!(
                    available < needed,
                    "available {available} >= needed {needed}"
                );
                assert!(
                    msg.contains(&available.to_string()) && msg.contains(&needed.to_string()),
                    "message must name free and needed bytes: {msg}"
                );
            }
            other => panic!("expected Error::NoSpace, got {other:?}: {msg}"),
        }
        println!("engine_enospc: preflight refused (move_file={move_file}): {msg}");
        assert!(src.exists(), "the source file must be left alone");
        assert_eq!(
            tree_listing(&dir, &skip_lock),
            before,
            "run changed by a refused save"
        );
    }
    assert_run_consistent(&dir);
}

#[test]
fn stream_that_runs_out_mid_write_leaves_no_temp() {
    let Some(mnt) = TmpfsMount::new("stream_that_runs_out_mid_write_leaves_no_temp", "8m", "")
    else {
        return;
    };
    let dir = mnt.path.join("run");
    let run = seeded_run(&dir);
    let before = tree_listing(&dir, &skip_lock);

    // Preflight sees the previous checkpoint's 1 MiB, which fits; 12 MiB does not.
    let mut stream = Endless {
        rng: XorShift::new(4),
        left: 12 * MIB,
    };
    let err = run
        .save(&request(3, 30.0), SaveSource::Stream(&mut stream), None)
        .expect_err("a 12 MiB stream onto an 8 MiB tmpfs must fail");
    let msg = err.to_string();
    // The OS's ENOSPC mid-stream becomes the typed no-space error: free now (the temp
    // removed) vs at least what was written, and the prune that would help.
    match &err {
        Error::NoSpace {
            available,
            needed,
            hint,
            ..
        } => {
            assert!(*needed > 6 * MIB, "needed {needed}: less than was written");
            assert!(available < needed, "{available} free, {needed} needed");
            assert!(hint.contains("ckpt prune"), "{hint}");
        }
        other => panic!("expected Error::NoSpace, got {other:?}: {msg}"),
    }
    println!("engine_enospc: mid-write failure: {msg}");
    assert!(
        list_temps(&dir, ".pth.tar").is_empty(),
        "temp left behind: {:?}",
        list_temps(&dir, ".pth.tar")
    );
    assert_eq!(
        tree_listing(&dir, &skip_lock),
        before,
        "run changed by a failed save"
    );
    assert_run_consistent(&dir);

    // The space came back: the next save works.
    save_bytes(&run, 3, 30.0, &bytes(MIB, 5));
    let m = assert_run_consistent(&dir).manifest;
    assert_eq!(m.last, Some(3));
}

#[test]
fn read_only_run_fails_before_writing() {
    let Some(mnt) = TmpfsMount::new("read_only_run_fails_before_writing", "8m", "") else {
        return;
    };
    let dir = mnt.path.join("run");
    drop(seeded_run(&dir));
    mnt.remount("ro");
    let before = tree_listing(&dir, &|_| false);

    let run = Run::open(&dir, Some(LayoutKind::Ckpt), options())
        .unwrap_or_else(|e| panic!("opening a read-only run must work (reads need no write): {e}"));
    let data = bytes(MIB, 6);
    let mut w = |out: &mut dyn std::io::Write| out.write_all(&data);
    let err = run
        .save(&request(3, 30.0), SaveSource::Writer(&mut w), None)
        .expect_err("saving into a read-only run must fail");
    let msg = err.to_string();
    assert!(
        matches!(err, Error::NotWritable { .. }),
        "expected Error::NotWritable, got {err:?}: {msg}"
    );
    assert!(
        msg.contains(&dir.display().to_string()),
        "message must name the run: {msg}"
    );
    println!("engine_enospc: read-only: {msg}");
    assert_eq!(tree_listing(&dir, &|_| false), before);
    mnt.remount("rw");
    assert_run_consistent(&dir);
}
