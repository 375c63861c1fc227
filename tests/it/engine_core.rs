//! The save engine on real files: sources, replace, hashes, permissions, manifest
//! round-trip and corruption, ranking (timm's NaN case, ties, held best), retention,
//! prune plan/apply, lock contention, alias fallback, read-only directories.

use ckpt::engine::alias::AliasStrategy;
use ckpt::snapshot::AliasHow;
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::util::skip::skip;
use crate::util::tmpfs::TmpfsMount;

use crate::util::engine::*;
use ckpt::engine::atomic::create_mode;
use ckpt::engine::commit::store_manifest;
use ckpt::engine::fault::{self, FaultPlan};
use ckpt::engine::lock::RunLock;
use ckpt::engine::{EngineOptions, Run, SaveSource};
use ckpt::rank::KeepReason;
use ckpt::rank::RetentionPolicy;
use ckpt::snapshot::{CheckpointState, Role};
use ckpt::store::{load_manifest, manifest_path};
use ckpt::Error;

fn read(p: impl AsRef<Path>) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

#[test]
fn save_from_file_stream_writer_and_move() {
    let (d, run) = new_run();
    let src_dir = d.path().join("src");
    std::fs::create_dir(&src_dir).unwrap();

    // file (copy): the source stays
    let src = src_dir.join("a.bin");
    std::fs::write(&src, payload(1, 0)).unwrap();
    let r = run
        .save(
            &req(1, Some(1.0)),
            SaveSource::File {
                path: &src,
                move_file: false,
            },
            None,
        )
        .unwrap();
    assert!(src.exists());
    assert_eq!(read(&r.path), payload(1, 0));
    assert_eq!(r.hash, hash_of(&payload(1, 0)));
    assert!(!r.replaced);

    // stream, with progress reported
    let data = payload(2, 0);
    let mut cursor = std::io::Cursor::new(data.clone());
    let mut seen = 0u64;
    let mut progress = |p: &ckpt::engine::Progress| seen = p.done;
    let r = run
        .save(
            &req(2, Some(2.0)),
            SaveSource::Stream(&mut cursor),
            Some(&mut progress),
        )
        .unwrap();
    assert_eq!(seen, data.len() as u64);
    assert_eq!(read(&r.path), data);

    // in-process writer
    let r = save_gen(&run, 3, 0, Some(3.0), None).unwrap();
    assert_eq!(read(&r.path), payload(3, 0));

    // move on the same filesystem: the source name goes, the inode is reused
    let src = src_dir.join("d.bin");
    std::fs::write(&src, payload(4, 0)).unwrap();
    let ino = std::fs::metadata(&src).unwrap().ino();
    let r = run
        .save(
            &req(4, Some(4.0)),
            SaveSource::File {
                path: &src,
                move_file: true,
            },
            None,
        )
        .unwrap();
    assert!(!src.exists());
    assert_eq!(std::fs::metadata(&r.path).unwrap().ino(), ino);
    assert_eq!(r.hash, hash_of(&payload(4, 0)));

    let m = assert_run_consistent_with(&run.dir, Some(&known_hashes()));
    assert_eq!(m.checkpoints.len(), 4);
    assert_eq!(m.last, Some(4));
    assert_eq!(m.best.as_ref().unwrap().epoch, 4);
    assert_eq!(read(run.dir.join("last.pth.tar")), payload(4, 0));
    assert_eq!(read(run.dir.join("model_best.pth.tar")), payload(4, 0));
    for e in &m.checkpoints {
        assert_eq!(e.hash, hash_of(&read(run.dir.join(&e.path))));
    }
}

#[test]
fn in_process_save_records_this_process_as_saved_by() {
    let (_d, run) = new_run();
    let mut write = |w: &mut dyn std::io::Write| w.write_all(&payload(1, 4096));
    run.save(&req(1, Some(1.0)), SaveSource::Writer(&mut write), None)
        .unwrap();
    let m = load_manifest(&run.dir).unwrap();
    let by = m.checkpoints[0]
        .saved_by
        .clone()
        .expect("saved_by recorded");
    assert_eq!(by.pid, std::process::id());
    assert!(!by.is_cli_save());
    assert_eq!(by.trainer().0, std::process::id());
    let snap = run.snapshot().unwrap();
    assert_eq!(snap.checkpoints[0].saved_by.as_ref(), Some(&by));
}

#[test]
fn replacing_an_epoch_is_atomic_and_reported() {
    let (_d, run) = new_run();
    save(&run, 1, Some(1.0));
    let r = save_gen(&run, 1, 1, Some(2.0), None).unwrap();
    assert!(r.replaced);
    let m = assert_run_consistent(&run.dir);
    assert_eq!(m.checkpoints.len(), 1);
    assert_eq!(m.checkpoints[0].hash, hash_of(&payload(1, 1)));
    assert_eq!(m.checkpoints[0].metric, Some(2.0));
    assert_eq!(read(run.dir.join("last.pth.tar")), payload(1, 1));
    assert_eq!(read(run.dir.join("model_best.pth.tar")), payload(1, 1));
}

#[test]
fn final_files_get_umask_permissions() {
    let (_d, run) = new_run();
    let r = save(&run, 1, Some(1.0));
    let plain = run.dir.join("plain");
    std::fs::write(&plain, b"x").unwrap();
    let want = std::fs::metadata(&plain).unwrap().permissions().mode() & 0o777;
    assert_eq!(want, create_mode());
    for p in [
        r.path.clone(),
        run.dir.join("last.pth.tar"),
        manifest_path(&run.dir),
    ] {
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, want, "{} has mode {mode:o}", p.display());
    }
}

#[test]
fn manifest_roundtrip_keeps_unknown_fields() {
    let (_d, run) = new_run();
    save(&run, 1, Some(1.0));
    let path = manifest_path(&run.dir);
    let mut v: serde_json::Value = serde_json::from_slice(&read(&path)).unwrap();
    v["future_top"] = serde_json::json!({"a": [1, 2]});
    v["checkpoints"][0]["future_entry"] = serde_json::json!("kept");
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    save(&run, 2, Some(2.0));
    let back: serde_json::Value = serde_json::from_slice(&read(&path)).unwrap();
    assert_eq!(back["format"], "ckpt-manifest");
    assert_eq!(back["version"], 1);
    assert_eq!(back["future_top"], serde_json::json!({"a": [1, 2]}));
    assert_eq!(back["checkpoints"][0]["future_entry"], "kept");
    assert_eq!(back["checkpoints"][1]["path"], "checkpoint-2.pth.tar");
    assert_eq!(
        back["metric"],
        serde_json::json!({"name": "top1", "mode": "max"})
    );
}

/// A named edit that corrupts a manifest's JSON.
type Corruption = (&'static str, Box<dyn Fn(&mut serde_json::Value)>);

#[test]
fn corrupt_manifests_are_errors_naming_the_file() {
    let cases: Vec<Corruption> = vec![
        ("bad json", Box::new(|_| {})),
        (
            "dotdot",
            Box::new(|v| v["checkpoints"][0]["path"] = "../escape.pth.tar".into()),
        ),
        (
            "absolute",
            Box::new(|v| v["checkpoints"][0]["path"] = "/etc/passwd".into()),
        ),
        ("version", Box::new(|v| v["version"] = 99.into())),
        (
            "format",
            Box::new(|v| v["format"] = "something-else".into()),
        ),
        (
            "dup epoch",
            Box::new(|v| {
                let e = v["checkpoints"][0].clone();
                let mut e2 = e.clone();
                e2["path"] = "other.pth.tar".into();
                v["checkpoints"].as_array_mut().unwrap().push(e2);
            }),
        ),
    ];
    for (name, edit) in cases {
        let (_d, run) = new_run();
        save(&run, 1, Some(1.0));
        let path = manifest_path(&run.dir);
        if name == "bad json" {
            std::fs::write(&path, b"{\"format\": \"ckpt-manifest\", ").unwrap();
        } else {
            let mut v: serde_json::Value = serde_json::from_slice(&read(&path)).unwrap();
            edit(&mut v);
            std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
        }
        let before = read(&path);
        let e = save_gen(&run, 2, 0, Some(2.0), None).unwrap_err();
        assert!(matches!(e, Error::CorruptManifest { .. }), "{name}: {e}");
        let msg = e.to_string();
        assert!(msg.contains(&path.display().to_string()), "{name}: {msg}");
        assert!(msg.contains("ckpt doctor"), "{name}: {msg}");
        // never a silent reset: the file is untouched, nothing new was committed
        assert_eq!(read(&path), before, "{name}");
        assert!(!run.dir.join("checkpoint-2.pth.tar").exists(), "{name}");
        assert!(ckpt::store::temp::find_temps(&run.dir).is_empty(), "{name}");
        let scan = ckpt::layout::native::scan(&run.dir).unwrap_err();
        assert!(matches!(scan, Error::CorruptManifest { .. }), "{name}");
    }
}

#[test]
fn timm_nan_case_best_is_best_finite() {
    let (_d, run) = new_run();
    save(&run, 0, Some(f64::NAN));
    let m = load_manifest(&run.dir).unwrap();
    assert!(m.best.is_none(), "NaN never becomes best");
    assert_eq!(m.checkpoints[0].metric, None);
    assert_eq!(m.checkpoints[0].metric_raw.as_deref(), Some("nan"));
    for (e, v) in [(1, 10.0), (2, 30.0), (3, 20.0), (4, f64::INFINITY)] {
        save(&run, e, Some(v));
    }
    let m = assert_run_consistent(&run.dir);
    assert_eq!(m.best.as_ref().unwrap().epoch, 2);
    assert_eq!(read(run.dir.join("model_best.pth.tar")), payload(2, 0));
    let snap = ckpt::layout::native::scan(&run.dir).unwrap();
    assert!(snap.find("2").unwrap().has_role(Role::Best));
    assert!(snap.find("4").unwrap().has_role(Role::Last));
    assert_eq!(snap.find("0").unwrap().metric_raw.as_deref(), Some("nan"));
}

#[test]
fn ties_keep_the_earlier_checkpoint() {
    let (_d, run) = new_run();
    save(&run, 1, Some(5.0));
    let r = save(&run, 2, Some(5.0));
    assert!(!r.became_best);
    let m = load_manifest(&run.dir).unwrap();
    assert_eq!(m.best.as_ref().unwrap().epoch, 1);
    assert_eq!(read(run.dir.join("model_best.pth.tar")), payload(1, 0));
}

#[test]
fn held_best_is_not_moved_by_later_saves() {
    let (_d, run) = new_run();
    save(&run, 1, Some(1.0));
    save(&run, 2, Some(2.0));
    // hold epoch 1 as a promote would
    let mut m = load_manifest(&run.dir).unwrap();
    m.best = Some(ckpt::store::manifest::BestRef {
        epoch: 1,
        held: true,
        extra: BTreeMap::new(),
    });
    store_manifest(&run.dir, &m).unwrap();
    ckpt::engine::alias::set_alias(
        &run.dir,
        "model_best.pth.tar",
        Path::new("checkpoint-1.pth.tar"),
    )
    .unwrap();
    let r = save(&run, 3, Some(9.0));
    assert!(!r.became_best);
    let m = assert_run_consistent(&run.dir);
    assert_eq!(m.best.as_ref().map(|b| (b.epoch, b.held)), Some((1, true)));
    assert_eq!(read(run.dir.join("model_best.pth.tar")), payload(1, 0));
}

#[test]
fn retention_top_k_keep_last_keep_every_and_pinned() {
    let (_d, run) = new_run();
    let metrics = [10.0, 30.0, 20.0, 50.0, 40.0, 62.5, 25.0];
    for (e, v) in metrics.iter().enumerate() {
        save(&run, e as u64, Some(*v));
    }
    run.set_pinned("1", true).unwrap();
    let policy = RetentionPolicy {
        keep_top_k: Some(2),
        keep_last: Some(1),
        keep_every: Some(4),
    };
    let r = save_gen(&run, 7, 0, Some(35.0), Some(policy)).unwrap();
    let mut pruned: Vec<String> = r
        .pruned
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    pruned.sort();
    // kept: 0 and 4 (every 4th), 1 (pinned), 3 and 5 (top 2), 7 (last); pruned 2, 6
    assert_eq!(pruned, vec!["checkpoint-2.pth.tar", "checkpoint-6.pth.tar"]);
    assert!(r.bytes_freed > 0);
    let m = assert_run_consistent(&run.dir);
    let epochs: Vec<u64> = m.checkpoints.iter().map(|e| e.epoch).collect();
    assert_eq!(epochs, vec![0, 1, 3, 4, 5, 7]);
    assert_eq!(
        m.policy, policy,
        "the request's policy is kept for the next saves"
    );
    for p in &r.pruned {
        assert!(!p.exists());
    }
    // the plan explains why each is kept
    let plan = run.plan_prune(None, &[]).unwrap();
    assert!(plan.victims.is_empty());
    let why = |n: &str| plan.kept.iter().find(|(k, _)| k == n).unwrap().1.clone();
    assert_eq!(
        why("checkpoint-5.pth.tar"),
        vec![KeepReason::Best, KeepReason::TopK(1)]
    );
    assert_eq!(why("checkpoint-1.pth.tar"), vec![KeepReason::Pinned]);
    assert_eq!(
        why("checkpoint-7.pth.tar"),
        vec![KeepReason::Last, KeepReason::Newest]
    );
    assert_eq!(why("checkpoint-0.pth.tar"), vec![KeepReason::EveryNth]);
}

#[test]
fn bytes_freed_counted_by_inode() {
    let (d, run) = new_run();
    for e in 1..=4 {
        save(&run, e, Some(e as f64));
    }
    // epoch 1 has a second name outside the run: removing it frees nothing
    std::fs::hard_link(
        run.dir.join("checkpoint-1.pth.tar"),
        d.path().join("keep.bin"),
    )
    .unwrap();
    let plan = run
        .plan_prune(
            Some(RetentionPolicy {
                keep_last: Some(1),
                ..Default::default()
            }),
            &[],
        )
        .unwrap();
    let v = |n: &str| plan.victims.iter().find(|v| v.name == n).unwrap();
    assert_eq!(plan.victims.len(), 3);
    assert_eq!(v("checkpoint-1.pth.tar").bytes_freed, 0);
    assert_eq!(
        v("checkpoint-2.pth.tar").bytes_freed,
        payload(2, 0).len() as u64
    );
    assert_eq!(v("checkpoint-1.pth.tar").files[0].nlink, 2);
    assert_eq!(
        plan.bytes_freed,
        (payload(2, 0).len() + payload(3, 0).len()) as u64
    );
    let rep = run.prune(&plan).unwrap();
    assert_eq!(rep.removed.len(), 3);
    assert_eq!(rep.bytes_freed, plan.bytes_freed);
    assert_eq!(read(d.path().join("keep.bin")), payload(1, 0));
    assert_run_consistent(&run.dir);
}

#[test]
fn prune_refuses_a_victim_changed_after_the_plan() {
    let (_d, run) = new_run();
    for e in 1..=4 {
        save(&run, e, Some(e as f64));
    }
    let plan = run
        .plan_prune(
            Some(RetentionPolicy {
                keep_last: Some(1),
                ..Default::default()
            }),
            &[],
        )
        .unwrap();
    assert_eq!(plan.victims.len(), 3);
    // someone rewrites epoch 2 in place after the plan
    let p2 = run.dir.join("checkpoint-2.pth.tar");
    let mut f = std::fs::OpenOptions::new().append(true).open(&p2).unwrap();
    std::io::Write::write_all(&mut f, b"more").unwrap();
    drop(f);
    let rep = run.prune(&plan).unwrap();
    assert_eq!(rep.refused.len(), 1, "{rep:?}");
    assert_eq!(rep.refused[0].0, "checkpoint-2.pth.tar");
    assert!(rep.refused[0].1.contains("size"), "{rep:?}");
    assert!(p2.exists());
    assert!(!run.dir.join("checkpoint-1.pth.tar").exists());
    let m = load_manifest(&run.dir).unwrap();
    assert!(
        m.checkpoints.iter().any(|e| e.epoch == 2),
        "refused victim stays listed"
    );
}

#[test]
fn extra_victims_refuse_best_last_and_pinned() {
    let (_d, run) = new_run();
    for e in 1..=3 {
        save(&run, e, Some(e as f64 * if e == 2 { 10.0 } else { 1.0 }));
    }
    run.set_pinned("1", true).unwrap();
    for sel in ["2", "3", "1"] {
        let e = run.plan_prune(None, &[sel.to_string()]).unwrap_err();
        assert!(matches!(e, Error::Protected(_)), "{sel}: {e}");
    }
    run.set_pinned("checkpoint-1.pth.tar", false).unwrap();
    let plan = run.plan_prune(None, &["1".to_string()]).unwrap();
    assert_eq!(plan.victims.len(), 1);
    let e = run.plan_prune(None, &["99".to_string()]).unwrap_err();
    assert!(matches!(e, Error::UnknownCheckpoint { .. }));
}

#[test]
fn lock_timeout_names_holder_pid_and_operation() {
    let (_d, run) = new_run();
    save(&run, 1, Some(1.0));
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let dir = run.dir.clone();
    let holder = std::thread::spawn(move || {
        let _l = RunLock::acquire(&dir, "hold-test", Duration::from_secs(5)).unwrap();
        tx.send(()).unwrap();
        done_rx.recv().unwrap();
    });
    rx.recv().unwrap();
    let short = Run::open(
        &run.dir,
        None,
        EngineOptions {
            lock_timeout: Duration::from_millis(200),
            ..Default::default()
        },
    )
    .unwrap();
    let e = save_gen(&short, 2, 0, Some(2.0), None).unwrap_err();
    match &e {
        Error::Locked { pid, operation, .. } => {
            assert_eq!(*pid, std::process::id());
            assert_eq!(operation, "hold-test");
        }
        other => panic!("expected Locked, got {other}"),
    }
    assert!(e.to_string().contains("hold-test"));
    done_tx.send(()).unwrap();
    holder.join().unwrap();
    // the failed save left nothing behind
    assert!(ckpt::store::temp::find_temps(&run.dir).is_empty());
    assert!(!run.dir.join("checkpoint-2.pth.tar").exists());
    save(&run, 2, Some(2.0));
}

#[test]
fn failing_hardlink_falls_back_to_copy_with_identical_bytes() {
    let (_d, run) = new_run();
    save(&run, 1, Some(1.0));
    fault::arm(FaultPlan::fail(1, libc::EPERM).on_label("alias.link"));
    let r = save_gen(&run, 2, 0, Some(0.5), None).unwrap();
    fault::disarm();
    assert!(
        r.alias_strategy == Some(AliasStrategy::Copy)
            || r.alias_strategy == Some(AliasStrategy::Reflink),
        "{:?}",
        r.alias_strategy
    );
    let last = run.dir.join("last.pth.tar");
    assert_eq!(read(&last), read(&r.path));
    assert_ne!(
        std::fs::metadata(&last).unwrap().ino(),
        std::fs::metadata(&r.path).unwrap().ino()
    );
    let snap = ckpt::layout::native::scan(&run.dir).unwrap();
    assert_eq!(snap.last.as_ref().unwrap().how, AliasHow::Copy);
    assert_eq!(snap.best.as_ref().unwrap().how, AliasHow::Hardlink);
    assert_run_consistent(&run.dir);
    // the next save links again: an injected failure is not remembered for the device
    let r = save(&run, 3, Some(0.1));
    assert_eq!(r.alias_strategy, Some(AliasStrategy::Hardlink));
}

#[test]
fn snapshot_shows_writing_temp_and_damage() {
    let (_d, run) = new_run();
    save(&run, 1, Some(1.0));
    save(&run, 2, Some(2.0));
    // a save in flight from this (live) process
    let mut t =
        ckpt::engine::atomic::TempFile::create_for(&run.dir.join("checkpoint-3.pth.tar")).unwrap();
    t.fill(ckpt::engine::atomic::Source::Bytes(b"partial"), None)
        .unwrap();
    std::fs::remove_file(run.dir.join("checkpoint-1.pth.tar")).unwrap();
    let snap = ckpt::layout::native::scan(&run.dir).unwrap();
    assert_eq!(snap.temps.len(), 1);
    assert_eq!(snap.find("3").unwrap().state, CheckpointState::Writing);
    assert_eq!(snap.find("1").unwrap().state, CheckpointState::Damaged);
    assert_eq!(snap.last.as_ref().unwrap().how, AliasHow::Hardlink);
    assert!(snap.warnings.iter().any(|w| w.contains("missing")));
    drop(t);
}

#[test]
fn read_only_run_dir_fails_before_writing() {
    let d = tempfile::tempdir().unwrap();
    let root = unsafe { libc::geteuid() } == 0;
    // Root writes through chmod: a tmpfs remounted read-only stops it.
    let tmpfs = if root {
        match TmpfsMount::try_new("16m", "") {
            Ok(m) => Some(m),
            Err(why) => {
                skip(
                    "read_only_run_dir_fails_before_writing",
                    &format!("running as root but cannot mount a tmpfs ({why}); chmod does not stop root"),
                );
                return;
            }
        }
    } else {
        None
    };
    let mnt = match &tmpfs {
        Some(m) => m.path.clone(),
        None => d.path().to_path_buf(),
    };
    let dir = mnt.join("run");
    let run = Run::open_or_create(&dir, opts()).unwrap();
    save(&run, 1, Some(1.0));
    if let Some(m) = &tmpfs {
        m.remount("ro");
    } else {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    }
    let listing = |p: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(p)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let before = listing(&dir);
    let manifest_before = read(manifest_path(&dir));
    let e = save_gen(&run, 2, 0, Some(2.0), None).unwrap_err();
    assert!(matches!(e, Error::NotWritable { .. }), "{e}");
    assert!(e.to_string().contains(&dir.display().to_string()), "{e}");
    assert_eq!(listing(&dir), before);
    assert_eq!(read(manifest_path(&dir)), manifest_before);
    if !root {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[test]
fn no_space_fails_before_writing_with_numbers_and_hint() {
    let Some(tmpfs) = TmpfsMount::new(
        "no_space_fails_before_writing_with_numbers_and_hint",
        "4m",
        "",
    ) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let mnt = tmpfs.path.clone();
    let run = Run::open_or_create(&mnt.join("run"), opts()).unwrap();
    let big = d.path().join("big.bin");
    std::fs::write(&big, vec![1u8; 1 << 20]).unwrap();
    for e in 1..=2 {
        run.save(
            &req(e, Some(e as f64)),
            SaveSource::File {
                path: &big,
                move_file: false,
            },
            None,
        )
        .unwrap();
    }
    let huge = d.path().join("huge.bin");
    std::fs::write(&huge, vec![2u8; 3 << 20]).unwrap();
    let manifest_before = read(manifest_path(&run.dir));
    let e = run
        .save(
            &req(3, Some(3.0)),
            SaveSource::File {
                path: &huge,
                move_file: false,
            },
            None,
        )
        .unwrap_err();
    match &e {
        Error::NoSpace {
            available,
            needed,
            fs_type,
            mount,
            hint,
            ..
        } => {
            assert!(available < needed);
            assert_eq!(fs_type, "tmpfs");
            assert_eq!(mount, &mnt.canonicalize().unwrap());
            assert!(hint.contains("ckpt prune"), "{hint}");
            assert!(hint.contains("--keep-top 1"), "{hint}");
        }
        other => panic!("expected NoSpace, got {other}"),
    }
    assert_eq!(read(manifest_path(&run.dir)), manifest_before);
    assert!(ckpt::store::temp::find_run_temps(&run.dir).is_empty());
    assert!(!run.dir.join("checkpoint-3.pth.tar").exists());
}

#[test]
fn metrics_roundtrip_exactly_through_the_manifest() {
    let (_d, run) = new_run();
    let values = [
        0.1 + 0.2,
        62.5,
        1e-300,
        12.345_678_901_234_567,
        99.999_999_999_999_99,
    ];
    for (e, v) in values.iter().enumerate() {
        let mut r = req(e as u64, Some(*v));
        r.metrics.insert("eval_loss".into(), v / 3.0);
        let data = payload(e as u64, 0);
        let mut w = |out: &mut dyn std::io::Write| out.write_all(&data);
        run.save(&r, SaveSource::Writer(&mut w), None).unwrap();
    }
    let m = load_manifest(&run.dir).unwrap();
    for (e, v) in values.iter().enumerate() {
        assert_eq!(m.checkpoints[e].metric, Some(*v), "epoch {e}");
        assert_eq!(m.checkpoints[e].metrics["eval_loss"], v / 3.0, "epoch {e}");
    }
}

#[test]
fn after_release_best_is_the_top_of_the_ranking_again() {
    let (_d, run) = new_run();
    let min = |epoch: u64, v: f64| {
        let mut r = req(epoch, Some(v));
        r.metric_spec = Some(ckpt::rank::MetricSpec {
            name: "eval_loss".into(),
            mode: ckpt::rank::Mode::Min,
        });
        let data = payload(epoch, 0);
        let mut w = |out: &mut dyn std::io::Write| out.write_all(&data);
        run.save(&r, SaveSource::Writer(&mut w), None).unwrap()
    };
    let set_held = |held: bool| {
        let mut m = load_manifest(&run.dir).unwrap();
        m.best.as_mut().unwrap().held = held;
        store_manifest(&run.dir, &m).unwrap();
    };
    min(0, 1.0);
    set_held(true);
    assert!(!min(1, 0.0).became_best, "held");
    assert!(!min(2, 0.2).became_best, "held");
    set_held(false);
    // the next save ends the hold: best is epoch 1 (0.0), not the new 0.5
    assert!(!min(3, 0.5).became_best);
    let m = load_manifest(&run.dir).unwrap();
    assert_eq!(m.best.as_ref().map(|b| (b.epoch, b.held)), Some((1, false)));
    assert_eq!(read(run.dir.join("model_best.pth.tar")), payload(1, 0));
    assert!(!min(4, 0.0).became_best, "a tie keeps the earlier");
}

#[test]
fn native_scan_turns_drift_into_warnings_not_panics() {
    let (_d, run) = new_run();
    save(&run, 1, Some(1.0));
    save(&run, 2, Some(2.0));
    let mut m = load_manifest(&run.dir).unwrap();
    m.best.as_mut().unwrap().epoch = 77; // dangling
    m.checkpoints[0].bytes += 1; // resized
    store_manifest(&run.dir, &m).unwrap();
    // garbage next to the checkpoints
    std::fs::create_dir(run.dir.join("checkpoint-9.pth.tar")).unwrap();
    std::fs::write(run.dir.join("tmp.pth.tar"), b"timm temp").unwrap();
    std::fs::write(
        run.dir.join(format!(
            ".ckpt-tmp-{}-2147483600-0123456789abcdef-checkpoint-5.pth.tar",
            ckpt::store::temp::host_tag()
        )),
        b"dead",
    )
    .unwrap();
    std::fs::remove_file(run.dir.join("last.pth.tar")).unwrap();
    let snap = ckpt::layout::native::scan(&run.dir).unwrap();
    let w = snap.warnings.join("\n");
    assert!(w.contains("epoch 77"), "{w}");
    assert!(w.contains("bytes on disk"), "{w}");
    assert!(
        w.contains("checkpoint-9.pth.tar is not in the manifest"),
        "{w}"
    );
    assert!(w.contains("foreign temp"), "{w}");
    assert!(w.contains("stale temp"), "{w}");
    assert!(w.contains("alias last.pth.tar is missing"), "{w}");
    assert_eq!(snap.find("1").unwrap().state, CheckpointState::Damaged);
    assert_eq!(snap.temps.len(), 2);
    // the next save repairs what it owns: sweeps the dead temp, re-points aliases
    save(&run, 3, Some(3.0));
    assert!(!run
        .dir
        .join(format!(
            ".ckpt-tmp-{}-2147483600-0123456789abcdef-checkpoint-5.pth.tar",
            ckpt::store::temp::host_tag()
        ))
        .exists());
    assert!(
        run.dir.join("tmp.pth.tar").exists(),
        "timm's temp is never deleted"
    );
    let m = load_manifest(&run.dir).unwrap();
    assert_eq!(
        m.best.as_ref().unwrap().epoch,
        3,
        "a dangling best is recomputed"
    );
    assert_eq!(read(run.dir.join("last.pth.tar")), payload(3, 0));
}

// ---------------------------------------------------------------- verify during a pending intent

/// After a crash an alias may hold the bytes a recorded pending intent allows until the
/// next mutation: verify reports it ok with a note, not as damage; without the intent
/// the same bytes are damage; the next mutation finishes the job.
#[test]
fn verify_accepts_alias_bytes_a_pending_intent_allows() {
    use ckpt::engine::commit::set_pending;
    use ckpt::store::{pending, Pending};
    let (_d, run) = new_run();
    save(&run, 1, Some(1.0));
    save(&run, 2, Some(2.0));
    let dir = run.dir.clone();
    // `last.pth.tar` still holds epoch 1 (as if the crash hit before it was re-pointed).
    let last = dir.join("last.pth.tar");
    std::fs::remove_file(&last).unwrap();
    std::fs::write(&last, payload(1, 0)).unwrap();

    let v = run.verify(None).unwrap();
    assert!(
        v.damaged.iter().any(|d| d.name == "last.pth.tar"),
        "without an intent this is damage: {v:?}"
    );

    let mut m = load_manifest(&dir).unwrap();
    let mut p = Pending {
        operation: "save".into(),
        ..Default::default()
    };
    p.may_hold
        .insert("last.pth.tar".into(), vec![hash_of(&payload(1, 0))]);
    set_pending(&mut m, Some(&p));
    store_manifest(&dir, &m).unwrap();

    let v = run.verify(None).unwrap();
    assert!(v.damaged.is_empty(), "{:?}", v.damaged);
    assert!(v.ok.contains(&"last.pth.tar".to_string()), "{v:?}");
    assert_eq!(v.notes.len(), 1, "{v:?}");
    assert_eq!(v.notes[0].name, "last.pth.tar");
    assert!(v.notes[0].reason.contains("pending save"), "{v:?}");

    // Bytes the intent does not list are still damage.
    std::fs::remove_file(&last).unwrap();
    std::fs::write(&last, payload(9, 9)).unwrap();
    let v = run.verify(None).unwrap();
    assert!(v.damaged.iter().any(|d| d.name == "last.pth.tar"), "{v:?}");
    std::fs::remove_file(&last).unwrap();
    std::fs::write(&last, payload(1, 0)).unwrap();

    // Any mutation (here a pin) finishes the intent: clean, no notes.
    run.set_pinned("2", true).unwrap();
    assert!(pending(&load_manifest(&dir).unwrap()).unwrap().is_none());
    let v = run.verify(None).unwrap();
    assert!(v.damaged.is_empty() && v.notes.is_empty(), "{v:?}");
    assert_eq!(read(&last), payload(2, 0));
}

/// Promote and restore commit with ONE durable manifest write: the pending record they
/// leave is settled (aliases already hardlinked to their entries), invisible to scans
/// and verify, and the next mutation drops it without a write of its own. A record
/// whose alias does not share its entry's inode is not settled: it is reported and the
/// next mutation repairs the alias and stores the manifest without it.
#[test]
fn promote_and_restore_leave_only_a_settled_record() {
    use ckpt::engine::RestoreOptions;
    use ckpt::store::{is_settled, pending};
    let (_d, run) = new_run();
    save(&run, 1, Some(1.0));
    save(&run, 2, Some(2.0));
    let dir = run.dir.clone();
    let ino = |name: &str| std::fs::metadata(dir.join(name)).unwrap().ino();
    let stores = |steps: &[&str]| steps.iter().filter(|s| **s == "manifest.store").count();
    let quiet = |what: &str| {
        let m = assert_run_consistent(&dir);
        let p = pending(&m).unwrap();
        assert!(
            p.as_ref().is_none_or(|p| is_settled(&dir, &m, p)),
            "{what}: unsettled record {p:?}"
        );
        let snap = run.snapshot().unwrap();
        assert!(
            !snap.warnings.iter().any(|w| w.contains("interrupted")),
            "{what}: {:?}",
            snap.warnings
        );
        let v = run.verify(None).unwrap();
        assert!(v.damaged.is_empty() && v.notes.is_empty(), "{what}: {v:?}");
        m
    };

    for (i, sel) in ["1", "2", "1"].iter().enumerate() {
        fault::start_recording();
        run.promote(sel).unwrap();
        let steps = fault::record();
        assert_eq!(stores(&steps), 1, "promote #{i}: {steps:?}");
        let m = quiet("promote");
        assert!(pending(&m).unwrap().is_some(), "the record is left lazily");
        assert_eq!(
            ino("model_best.pth.tar"),
            ino(&format!("checkpoint-{sel}.pth.tar"))
        );
    }
    for sel in ["2", "1"] {
        fault::start_recording();
        let plan = run.plan_restore(sel, &RestoreOptions::default()).unwrap();
        run.restore(&plan, None).unwrap();
        let steps = fault::record();
        assert_eq!(stores(&steps), 1, "restore {sel}: {steps:?}");
        quiet("restore");
        assert_eq!(
            ino("last.pth.tar"),
            ino(&format!("checkpoint-{sel}.pth.tar"))
        );
    }
    // Any mutation that writes the manifest drops the settled record (promote pinned
    // both checkpoints: unpinning one writes).
    run.set_pinned("2", false).unwrap();
    assert!(pending(&load_manifest(&dir).unwrap()).unwrap().is_none());
    quiet("pin");

    // Unsettled: model_best is a copy of the old best's bytes, not the entry's inode.
    run.promote("2").unwrap();
    let best = dir.join("model_best.pth.tar");
    std::fs::remove_file(&best).unwrap();
    std::fs::write(&best, payload(1, 0)).unwrap();
    let m = assert_run_consistent(&dir);
    assert!(!is_settled(&dir, &m, &pending(&m).unwrap().unwrap()));
    let snap = run.snapshot().unwrap();
    assert!(
        snap.warnings
            .iter()
            .any(|w| w.contains("interrupted promote")),
        "{:?}",
        snap.warnings
    );
    assert_eq!(run.verify(None).unwrap().notes.len(), 1);
    run.set_pinned("1", false).unwrap();
    assert!(pending(&load_manifest(&dir).unwrap()).unwrap().is_none());
    assert_eq!(ino("model_best.pth.tar"), ino("checkpoint-2.pth.tar"));
    quiet("repair");
}

/// Fail every seam step of a save (new epoch, and a replace of the last one) in turn:
/// whatever state is left, verify reports no damage until the next mutation.
#[test]
fn verify_reports_no_damage_after_a_save_fails_at_any_step() {
    let mut noted = 0;
    for (epoch, generation) in [(3u64, 0u64), (2, 1)] {
        let setup = || {
            let (d, run) = new_run();
            save(&run, 1, Some(1.0));
            save(&run, 2, Some(2.0));
            (d, run)
        };
        let (_d, run) = setup();
        fault::start_recording();
        save_gen(&run, epoch, generation, Some(5.0), None).unwrap();
        let steps = fault::record();
        assert!(steps.len() > 4, "{steps:?}");
        for i in 1..=steps.len() {
            let (_d, run) = setup();
            fault::arm(FaultPlan::fail(i, libc::EIO));
            let _ = save_gen(&run, epoch, generation, Some(5.0), None);
            let fired = fault::fired();
            fault::disarm();
            assert!(fired, "step {i} ({}) not reached", steps[i - 1]);
            let v = run.verify(None).unwrap();
            assert!(
                v.damaged.is_empty(),
                "epoch {epoch} step {i} ({}): {:?}",
                steps[i - 1],
                v.damaged
            );
            noted += v.notes.len();
            // The next mutation leaves a run verify finds clean, without notes.
            run.set_pinned("1", true).unwrap();
            let v = run.verify(None).unwrap();
            assert!(
                v.damaged.is_empty() && v.notes.is_empty(),
                "step {i}: {v:?}"
            );
        }
    }
    assert!(noted > 0, "no step left an alias holding pending bytes");
}

// ------------------------------------------------------------ refusals (QA #1 #2 #9)

/// Every name in the run (top level and `.ckpt/`) with its bytes, to show nothing moved.
fn run_state(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for d in [dir.to_path_buf(), dir.join(".ckpt")] {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_file() && p.file_name().unwrap() != "lock" {
                out.insert(p.clone(), read(&p));
            }
        }
    }
    out
}

/// A complete stored zip with one member, the way torch.save lays one out.
fn tiny_zip() -> Vec<u8> {
    let name = b"archive/data.pkl";
    let data = b"\x80\x02}q\x00.";
    let crc = crc32fast::hash(data);
    let mut z = Vec::new();
    let local = |z: &mut Vec<u8>| {
        z.extend_from_slice(b"PK\x03\x04");
        z.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        z.extend_from_slice(&crc.to_le_bytes());
        z.extend_from_slice(&(data.len() as u32).to_le_bytes());
        z.extend_from_slice(&(data.len() as u32).to_le_bytes());
        z.extend_from_slice(&(name.len() as u16).to_le_bytes());
        z.extend_from_slice(&0u16.to_le_bytes());
        z.extend_from_slice(name);
        z.extend_from_slice(data);
    };
    local(&mut z);
    let cd_at = z.len() as u32;
    z.extend_from_slice(b"PK\x01\x02");
    z.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    z.extend_from_slice(&crc.to_le_bytes());
    z.extend_from_slice(&(data.len() as u32).to_le_bytes());
    z.extend_from_slice(&(data.len() as u32).to_le_bytes());
    z.extend_from_slice(&(name.len() as u16).to_le_bytes());
    z.extend_from_slice(&[0; 12]); // extra, comment, disk, attrs
    z.extend_from_slice(&0u32.to_le_bytes()); // local header offset
    z.extend_from_slice(name);
    let cd_len = z.len() as u32 - cd_at;
    z.extend_from_slice(b"PK\x05\x06");
    z.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
    z.extend_from_slice(&cd_len.to_le_bytes());
    z.extend_from_slice(&cd_at.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z
}

#[test]
fn save_refuses_empty_and_cut_off_zip_payloads() {
    let (d, run) = new_run();
    save(&run, 1, Some(50.0));
    let before = run_state(&run.dir);
    let zip = tiny_zip();
    ckpt::formats::torchzip::TorchZip::from_file({
        let p = d.path().join("whole.zip");
        std::fs::write(&p, &zip).unwrap();
        std::fs::File::open(&p).unwrap()
    })
    .expect("the helper builds a valid zip");
    let mut cut = zip[..zip.len() - 30].to_vec(); // torch.save died mid-stream
    cut.extend_from_slice(&[0u8; 5]);

    // Stream, writer and file sources all pass the same check on the durable temp.
    for (what, bytes) in [("empty", Vec::new()), ("cut", cut.clone())] {
        let mut cursor = std::io::Cursor::new(bytes.clone());
        let e = run
            .save(&req(2, Some(60.0)), SaveSource::Stream(&mut cursor), None)
            .unwrap_err();
        assert!(matches!(e, Error::IncompletePayload { .. }), "{what}: {e}");
        let msg = e.to_string();
        assert!(msg.contains("checkpoint-2.pth.tar"), "{msg}");
        assert!(msg.contains("not changed"), "{msg}");
        if what == "empty" {
            assert!(msg.contains("empty"), "{msg}");
        } else {
            assert!(msg.contains("end of central directory"), "{msg}");
        }
        let mut writer = |w: &mut dyn std::io::Write| w.write_all(&bytes);
        let e = run
            .save(&req(2, Some(60.0)), SaveSource::Writer(&mut writer), None)
            .unwrap_err();
        assert!(matches!(e, Error::IncompletePayload { .. }), "{what}: {e}");
        let src = d.path().join(format!("{what}.bin"));
        std::fs::write(&src, &bytes).unwrap();
        for move_file in [false, true] {
            let e = run
                .save(
                    &req(2, Some(60.0)),
                    SaveSource::File {
                        path: &src,
                        move_file,
                    },
                    None,
                )
                .unwrap_err();
            assert!(e.to_string().contains(&*src.to_string_lossy()), "{e}");
            assert!(src.exists(), "a refused move keeps its source");
        }
        assert_eq!(run_state(&run.dir), before, "{what}: run changed");
    }
    // A complete zip, and bytes that are no zip at all, are saved as before.
    let mut cursor = std::io::Cursor::new(zip.clone());
    run.save(&req(2, Some(60.0)), SaveSource::Stream(&mut cursor), None)
        .unwrap();
    assert_eq!(read(run.dir.join("checkpoint-2.pth.tar")), zip);
    assert_run_consistent(&run.dir);
}

#[test]
fn save_refuses_a_source_that_belongs_to_the_run() {
    let (d, run) = new_run();
    save(&run, 0, Some(10.0));
    save(&run, 1, Some(20.0));
    let before = run_state(&run.dir);
    let outside_link = d.path().join("link.bin");
    std::fs::hard_link(run.dir.join("checkpoint-1.pth.tar"), &outside_link).unwrap();
    let temp = run
        .dir
        .join(ckpt::store::temp::temp_name("checkpoint-7.pth.tar"));
    std::fs::write(&temp, b"being written").unwrap();
    let state_with_temp = run_state(&run.dir);
    let sources: Vec<(PathBuf, &str)> = vec![
        (run.dir.join("checkpoint-0.pth.tar"), "a checkpoint"),
        (run.dir.join("model_best.pth.tar"), "an alias"),
        (run.dir.join("last.pth.tar"), "an alias"),
        (temp.clone(), "a temp"),
        (run.dir.join(".ckpt/manifest.json"), "inside .ckpt"),
        // Another spelling of the run dir still names the same file.
        (
            run.dir.join("../run/./checkpoint-1.pth.tar"),
            "a checkpoint",
        ),
        (outside_link.clone(), "the same file"),
    ];
    for (src, what) in &sources {
        for move_file in [true, false] {
            let e = run
                .save(
                    &req(0, Some(10.0)),
                    SaveSource::File {
                        path: src,
                        move_file,
                    },
                    None,
                )
                .unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(what), "{}: {msg}", src.display());
            assert!(msg.contains("outside the run"), "{msg}");
            assert_eq!(run_state(&run.dir), state_with_temp, "{}", src.display());
        }
    }
    std::fs::remove_file(&temp).unwrap();
    std::fs::remove_file(&outside_link).unwrap();
    assert_eq!(run_state(&run.dir), before);
    // A file next to the checkpoints that the run does not own may be moved in.
    let loose = run.dir.join("exported.bin");
    std::fs::write(&loose, payload(2, 0)).unwrap();
    run.save(
        &req(2, Some(30.0)),
        SaveSource::File {
            path: &loose,
            move_file: true,
        },
        None,
    )
    .unwrap();
    assert!(!loose.exists());
    assert_run_consistent(&run.dir);
}

#[test]
fn save_refuses_to_overwrite_a_held_best_or_a_pinned_epoch() {
    let (_d, run) = new_run();
    save(&run, 1, Some(10.0));
    save(&run, 2, Some(20.0));
    save(&run, 3, Some(5.0));
    run.promote("1").unwrap();
    let before = run_state(&run.dir);
    let e = save_gen(&run, 1, 1, Some(99.0), None).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("epoch 1 is the promoted best (held)"), "{msg}");
    assert!(msg.contains("--release"), "{msg}");
    assert_eq!(run_state(&run.dir), before);
    run.release_best().unwrap();
    run.set_pinned("1", false).unwrap();
    run.set_pinned("3", true).unwrap();
    let before = run_state(&run.dir);
    let e = save_gen(&run, 3, 1, Some(1.0), None).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("epoch 3"), "{msg}");
    assert!(
        msg.contains("pinned") && msg.contains("ckpt unpin"),
        "{msg}"
    );
    assert_eq!(run_state(&run.dir), before);
    // Unheld, unpinned epochs are replaced as before.
    let r = save_gen(&run, 1, 1, Some(11.0), None).unwrap();
    assert!(r.replaced);
    assert_run_consistent(&run.dir);
}

#[test]
fn free_space_headroom_is_proportional() {
    use ckpt::engine::save::space_needed;
    assert_eq!(space_needed(800_000), 800_000 + 64 * 1024);
    assert_eq!(space_needed(1 << 30), (1 << 30) + (1 << 30) / 32);
    assert!(space_needed(0) > 0, "the manifest still needs room");
}

#[test]
fn a_waiting_mutation_is_told_who_holds_the_lock() {
    let (_d, run) = new_run();
    save(&run, 1, Some(1.0));
    let held = RunLock::acquire(&run.dir, "prune", Duration::from_secs(5)).unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let waiting = Run::open(
        &run.dir,
        None,
        EngineOptions {
            lock_timeout: Duration::from_millis(300),
            on_lock_wait: Some(std::sync::Arc::new(move |h| {
                s2.lock().unwrap().push((h.pid, h.operation.clone()))
            })),
            ..Default::default()
        },
    )
    .unwrap();
    let e = waiting.set_pinned("1", true).unwrap_err();
    assert!(matches!(e, Error::Locked { .. }), "{e}");
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(std::process::id(), "prune".to_string())]
    );
    drop(held);
    waiting.set_pinned("1", true).unwrap();
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "not called when the lock is free"
    );
}

#[test]
fn the_manifest_history_keeps_every_save_after_retention_prunes_it() {
    let (_d, run) = new_run();
    let keep1 = RetentionPolicy {
        keep_top_k: Some(1),
        ..Default::default()
    };
    for (e, m) in [(0, 10.0), (1, 30.0), (2, 20.0), (3, f64::NAN), (4, 25.0)] {
        save_gen(&run, e, 0, Some(m), Some(keep1)).unwrap();
    }
    // Re-saving an epoch is a new point for it; the chart shows the newer value.
    save_gen(&run, 4, 1, Some(28.0), Some(keep1)).unwrap();
    let m = load_manifest(&run.dir).unwrap();
    let hist: Vec<(u64, Option<f64>)> = m.history.iter().map(|h| (h.epoch, h.metric)).collect();
    assert_eq!(
        hist,
        [
            (0, Some(10.0)),
            (1, Some(30.0)),
            (2, Some(20.0)),
            (3, None),
            (4, Some(25.0)),
            (4, Some(28.0))
        ]
    );
    let snap = run.snapshot().unwrap();
    let on_disk: Vec<u64> = snap.checkpoints.iter().filter_map(|c| c.epoch).collect();
    assert_eq!(on_disk, [1, 4], "best (1) and last (4) survive keep-top 1");
    let xy: Vec<(u64, f64)> = snap
        .metric_history()
        .iter()
        .map(|p| (p.x().unwrap(), p.value))
        .collect();
    assert_eq!(xy, [(0, 10.0), (1, 30.0), (2, 20.0), (4, 28.0)]);
}

#[test]
fn the_manifest_history_is_bounded_and_keeps_its_whole_span() {
    use ckpt::store::manifest::{HistoryEntry, MAX_HISTORY};
    let mut m = ckpt::store::new_manifest(".pt");
    let at = chrono::Utc::now();
    for e in 0..(3 * MAX_HISTORY as u64) {
        m.record_history(HistoryEntry {
            epoch: e,
            step: None,
            metric: Some(e as f64),
            saved_at: at,
            extra: Default::default(),
        });
        assert!(
            m.history.len() <= MAX_HISTORY,
            "{} entries",
            m.history.len()
        );
    }
    assert_eq!(m.history.first().unwrap().epoch, 0, "the start stays");
    assert_eq!(m.history.last().unwrap().epoch, 3 * MAX_HISTORY as u64 - 1);
    assert!(m.history.windows(2).all(|w| w[0].epoch < w[1].epoch));
    // The newest saves are all there, at full resolution.
    let tail: Vec<u64> = m.history[m.history.len() - 10..]
        .iter()
        .map(|h| h.epoch)
        .collect();
    let want: Vec<u64> = (3 * MAX_HISTORY as u64 - 10..3 * MAX_HISTORY as u64).collect();
    assert_eq!(tail, want);
}
