//! Hardening: only copies survive alias rewrites,
//! nothing outside the run is touched, filesystems without hardlinks, temps of dead
//! writers before the space preflight, and the small ones.

use crate::util;

use std::fs;
use std::path::{Path, PathBuf};

use crate::util::cli::Dir;
use crate::util::tmpfs::TmpfsMount;
use ckpt::engine::{EngineOptions, Run};
use ckpt::snapshot::LayoutKind;

fn h(p: &Path) -> u128 {
    xxhash_rust::xxh3::xxh3_128(&fs::read(p).unwrap())
}

fn open(dir: &Path, layout: LayoutKind) -> Run {
    Run::open(dir, Some(layout), EngineOptions::default()).unwrap()
}

/// Every regular file under `.ckpt/trash/` (any depth).
fn trash_files(run: &Path) -> Vec<PathBuf> {
    fn walk(p: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = fs::read_dir(p) else { return };
        for e in rd.flatten() {
            let t = e.file_type().unwrap();
            if t.is_dir() {
                walk(&e.path(), out);
            } else if t.is_file() {
                out.push(e.path());
            }
        }
    }
    let mut v = Vec::new();
    walk(&run.join(".ckpt/trash"), &mut v);
    v.sort();
    v
}

// ------------------------------------------------------------ 1. only copies

/// timm's model_best.pth.tar after checkpoint-5 rotated out holds the only copy of
/// epoch 5: promote 3 keeps it in trash first, and the plan says so.
#[test]
fn promote_keeps_timm_model_best_that_is_the_only_copy() {
    let d = Dir::new("only-copy-timm");
    let run = d.unpack("timm-basic");
    fs::remove_file(run.join("checkpoint-5.pth.tar")).unwrap();
    let best = h(&run.join("model_best.pth.tar"));

    let out = d
        .command()
        .arg("promote")
        .arg(&run)
        .args(["3", "--dry-run"])
        .assert_ok();
    assert!(
        out.contains("only copy") && out.contains(".ckpt/trash/"),
        "the dry run must say the old best is kept in trash: {out}"
    );
    let r = open(&run, LayoutKind::Timm);
    let plan = r.plan_promote("3").unwrap();
    assert!(plan.backup.is_some(), "{plan:?}");
    assert!(trash_files(&run).is_empty(), "a plan changes nothing");

    let rep = r.promote("3").unwrap();
    assert_eq!(
        h(&run.join("model_best.pth.tar")),
        h(&run.join("checkpoint-3.pth.tar"))
    );
    let kept: Vec<PathBuf> = trash_files(&run)
        .into_iter()
        .filter(|p| h(p) == best)
        .collect();
    assert_eq!(kept.len(), 1, "epoch 5's only copy must be kept in trash");
    assert_eq!(rep.backup.as_deref(), Some(kept[0].as_path()));
}

/// A Lightning `best.ckpt` written under its own name (ModelCheckpoint(filename="best"))
/// is a checkpoint, not a copy: promote keeps it before rewriting the name.
#[test]
fn promote_keeps_lightning_best_ckpt_written_under_its_own_name() {
    let d = Dir::new("only-copy-lightning");
    let run = d.unpack("lightning-basic");
    let ck = run.join("version_0/checkpoints");
    fs::rename(
        ck.join("epoch=1-step=8-val_loss=0.500.ckpt"),
        ck.join("best.ckpt"),
    )
    .unwrap();
    let best = h(&ck.join("best.ckpt"));
    let r = open(&run, LayoutKind::Lightning);
    let plan = r
        .plan_promote("epoch=3-step=16-val_loss=0.400.ckpt")
        .unwrap();
    assert!(plan.backup.is_some(), "{plan:?}");
    r.promote("epoch=3-step=16-val_loss=0.400.ckpt").unwrap();
    assert_eq!(
        h(&ck.join("best.ckpt")),
        h(&ck.join("epoch=3-step=16-val_loss=0.400.ckpt"))
    );
    let base = r.snapshot().unwrap().run;
    assert!(
        trash_files(&base).iter().any(|p| h(p) == best),
        "the old best.ckpt must be kept in trash: {:?}",
        trash_files(&base)
    );
}

/// Native: model_best whose checkpoint file was deleted by hand is the only copy of
/// that epoch; promote keeps it, records it in the manifest, and verify finds it intact.
#[test]
fn promote_keeps_native_model_best_that_is_the_only_copy() {
    let d = Dir::new("only-copy-native");
    let run = d.native_run("run", &[1.0, 3.0, 2.0], 4096);
    let best = h(&run.join("model_best.pth.tar"));
    fs::remove_file(run.join("checkpoint-1.pth.tar")).unwrap();
    let r = open(&run, LayoutKind::Ckpt);
    assert!(r.plan_promote("2").unwrap().backup.is_some());
    let rep = r.promote("2").unwrap();
    let kept = rep.backup.expect("kept");
    assert_eq!(h(&kept), best);
    let m = ckpt::store::read::load_manifest(&run).unwrap();
    assert!(
        m.checkpoints
            .iter()
            .any(|e| e.path.starts_with("trash/") && e.path.ends_with("model_best.pth.tar")),
        "the kept copy is recorded: {:?}",
        m.checkpoints
    );
    // Releasing moves best back by rank: no second copy is made of a non-only copy.
    let n = trash_files(&run).len();
    r.release_best().unwrap();
    assert_eq!(trash_files(&run).len(), n);
}

fn req(epoch: u64, metric: f64) -> ckpt::engine::SaveRequest {
    ckpt::engine::SaveRequest {
        epoch,
        metric: Some(metric),
        metric_spec: Some(ckpt::rank::MetricSpec {
            name: "top1".into(),
            mode: ckpt::rank::Mode::Max,
        }),
        ..Default::default()
    }
}

fn save_bytes(
    run: &Run,
    epoch: u64,
    metric: f64,
    data: &[u8],
) -> ckpt::Result<ckpt::engine::SaveReport> {
    let mut w = |out: &mut dyn std::io::Write| out.write_all(data);
    run.save(
        &req(epoch, metric),
        ckpt::engine::SaveSource::Writer(&mut w),
        None,
    )
}

fn noise(len: usize, seed: u64) -> Vec<u8> {
    util::payload::bytes(seed, len)
}

const MIB: usize = 1 << 20;

// ------------------------------------------------------------ 5. dead writers' temps

/// A temp left by a writer that died (5 MiB on an 8 MiB tmpfs) is swept before the
/// space preflight refuses a save that fits once it is gone.
#[test]
fn dead_writers_temps_are_swept_before_the_preflight_refuses() {
    let Some(mnt) = TmpfsMount::new(
        "dead_writers_temps_are_swept_before_the_preflight_refuses",
        "8m",
        "",
    ) else {
        return;
    };
    let dir = mnt.path.join("run");
    let run = Run::open_or_create(&dir, EngineOptions::default()).unwrap();
    save_bytes(&run, 1, 1.0, &noise(MIB, 1)).unwrap();
    let dead = dir.join(format!(
        ".ckpt-tmp-{}-2147483600-0123456789abcdef-checkpoint-9.pth.tar",
        ckpt::store::temp::host_tag()
    ));
    fs::write(&dead, noise(5 * MIB, 9)).unwrap();
    let src_dir = tempfile::tempdir().unwrap();
    let src = src_dir.path().join("two.bin");
    fs::write(&src, noise(2 * MIB, 2)).unwrap();
    let rep = run
        .save(
            &req(2, 2.0),
            ckpt::engine::SaveSource::File {
                path: &src,
                move_file: false,
            },
            None,
        )
        .unwrap_or_else(|e| panic!("the dead writer's 5 MiB temp is reclaimable: {e}"));
    assert_eq!(rep.bytes, 2 * MIB as u64);
    assert!(!dead.exists(), "the dead writer's temp was swept");
}

// ------------------------------------------------------------ 3. nothing outside the run

/// A native run of three 4 KiB checkpoints made by the CLI, plus a directory outside it
/// holding a file the test watches.
fn run_and_outside(d: &Dir) -> (PathBuf, PathBuf) {
    let run = d.native_run("run", &[1.0, 3.0, 2.0], 4096);
    let outside = d.join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("precious"), b"not ckpt's to touch").unwrap();
    (run, outside)
}

fn stdout_of(c: &mut util::cli::TestCommand) -> String {
    String::from_utf8_lossy(&c.output().stdout).into_owned()
}

fn all_output(c: &mut util::cli::TestCommand) -> String {
    let o = c.output();
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn edit_manifest(run: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let p = run.join(".ckpt/manifest.json");
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
    f(&mut v);
    fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

/// `.ckpt/lock` as a symlink: `ckpt pin` used to truncate the file it points to.
#[test]
fn lock_symlink_is_refused_not_followed() {
    let d = Dir::new("lock-symlink");
    let (run, outside) = run_and_outside(&d);
    let victim = outside.join("precious");
    fs::remove_file(run.join(".ckpt/lock")).unwrap();
    std::os::unix::fs::symlink(&victim, run.join(".ckpt/lock")).unwrap();
    let err = d.command().arg("pin").arg(&run).arg("1").assert_err(1);
    assert!(
        err.contains(".ckpt/lock"),
        "the error names the lock: {err}"
    );
    assert_eq!(fs::read(&victim).unwrap(), b"not ckpt's to touch");
}

/// `.ckpt` itself, the manifest or the trash as symlinks lead outside: refused.
#[test]
fn state_dir_manifest_and_trash_symlinks_are_refused() {
    let d = Dir::new("state-symlinks");
    let (run, outside) = run_and_outside(&d);
    // The manifest as a symlink to a file elsewhere is not read.
    let m = run.join(".ckpt/manifest.json");
    fs::rename(&m, outside.join("manifest.json")).unwrap();
    std::os::unix::fs::symlink(outside.join("manifest.json"), &m).unwrap();
    let err = d.command().arg("verify").arg(&run).assert_err(1);
    assert!(err.contains("manifest.json"), "{err}");
    let err = d.command().arg("pin").arg(&run).arg("1").assert_err(1);
    assert!(err.contains("manifest.json"), "{err}");
    fs::remove_file(&m).unwrap();
    fs::rename(outside.join("manifest.json"), &m).unwrap();
    // A trash that is a symlink to a directory elsewhere: a sweep never looks into it.
    let trash = run.join(".ckpt/trash");
    fs::remove_dir_all(&trash).unwrap();
    std::os::unix::fs::symlink(&outside, &trash).unwrap();
    let dead = outside.join(format!(
        ".ckpt-tmp-{}-2147483600-0123456789abcdef-x.pth.tar",
        ckpt::store::temp::host_tag()
    ));
    fs::write(&dead, b"someone else's").unwrap();
    d.command().arg("pin").arg(&run).arg("1").assert_ok();
    assert!(dead.exists(), "a sweep followed .ckpt/trash out of the run");
}

/// A crafted manifest (a run shared as a tarball): `trash/<dir>/<name>` where `<dir>`
/// is a symlink out of the run. The next mutation must not delete the file it leads
/// to (pending unlink), and verify must not read it.
#[test]
fn crafted_manifest_cannot_reach_outside_through_a_trash_symlink() {
    let d = Dir::new("crafted-trash");
    let (run, outside) = run_and_outside(&d);
    let victim = outside.join("precious");
    std::os::unix::fs::symlink(&outside, run.join(".ckpt/trash/evil")).unwrap();
    let secret_hash = format!("xxh3-128:{:032x}", h(&victim));
    edit_manifest(&run, |v| {
        v["pending"] = serde_json::json!({"operation": "save", "unlink": ["trash/evil/precious"]});
        let mut e = v["checkpoints"][0].clone();
        e["path"] = "trash/evil/precious".into();
        e["bytes"] = 19.into();
        e["hash"] = secret_hash.clone().into();
        v["checkpoints"].as_array_mut().unwrap().push(e);
    });
    let out = stdout_of(d.command().arg("verify").arg(&run).arg("--json"));
    assert!(
        !out.contains(&secret_hash) || !out.contains("\"ok\""),
        "verify must not read through the symlink: {out}"
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    let ok = v["ok"].as_array().cloned().unwrap_or_default();
    assert!(
        !ok.iter()
            .any(|n| n.as_str().is_some_and(|n| n.contains("precious"))),
        "verify read the file outside and found it intact: {out}"
    );
    let _ = stdout_of(d.command().arg("pin").arg(&run).arg("1"));
    assert_eq!(fs::read(&victim).unwrap(), b"not ckpt's to touch");
}

/// A pending record only ever unlinks what its operation could have left: never an
/// alias, a listed checkpoint, or a file the run's user keeps there.
#[test]
fn pending_unlink_never_deletes_aliases_listed_or_user_files() {
    let d = Dir::new("pending-unlink");
    let (run, _outside) = run_and_outside(&d);
    fs::write(run.join("notes.txt"), b"mine").unwrap();
    fs::write(run.join("train.py"), b"print(1)").unwrap();
    edit_manifest(&run, |v| {
        v["pending"] = serde_json::json!({
            "operation": "save",
            "unlink": ["notes.txt", "train.py", "last.pth.tar", "model_best.pth.tar",
                       "checkpoint-1.pth.tar", ".ckpt"]
        });
    });
    let doctor = all_output(d.command().arg("doctor").arg(&run));
    assert!(
        doctor.contains("pending") && doctor.contains("notes.txt"),
        "doctor reports a pending record that does not match the files: {doctor}"
    );
    d.command().arg("pin").arg(&run).arg("1").assert_ok();
    for f in [
        "notes.txt",
        "train.py",
        "last.pth.tar",
        "model_best.pth.tar",
        "checkpoint-1.pth.tar",
    ] {
        assert!(
            run.join(f).exists(),
            "{f} was deleted by a crafted pending record"
        );
    }
}

// ------------------------------------------------------------ 4. no hardlinks

/// A filesystem without hardlinks or reflinks (a real 8 MiB tmpfs with `link(2)`
/// refused through the fault seam; FICLONE is unsupported on tmpfs anyway): aliases are
/// copies. A save whose copies do not fit is refused before anything is written, the
/// prune the error recommends works, and an alias name taken by a directory is
/// reported, not a wedge.
#[test]
fn no_hardlinks_enospc_never_wedges_the_run() {
    let Some(mnt) = TmpfsMount::new("no_hardlinks_enospc_never_wedges_the_run", "8m", "") else {
        return;
    };
    let d = Dir::new("no-hardlinks");
    let run = mnt.path.join("run");
    let run_s = run.display().to_string();
    let save = |epoch: u64, metric: f64, len: usize| {
        let src = d.create(format!("p{epoch}.bin"), noise(len, epoch));
        let mut c = d.command();
        c.env("CKPT_FAULT", "always:fs.link:1")
            .args(["save", &run_s, "--epoch", &epoch.to_string()])
            .args(["--metric", &metric.to_string(), "--metric-name", "top1"])
            .arg(&src);
        let o = c.output();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    assert_eq!(save(1, 1.0, MIB).0, Some(0));
    assert_eq!(save(2, 2.0, MIB).0, Some(0));
    // Two 1 MiB checkpoints + last and best as 1 MiB copies: 4 MiB of 8 used.
    let (code, err) = save(3, 3.0, 5 * MIB / 2);
    let m = ckpt::store::read::load_manifest(&run).unwrap();
    if code != Some(0) {
        assert!(
            err.contains("not enough space"),
            "refused by the preflight: {err}"
        );
        assert_eq!(m.last, Some(2), "a refused save changes nothing: {err}");
        assert!(ckpt::store::pending(&m).unwrap().is_none(), "{err}");
    }
    // The prune the error recommends works (it is not wedged by the aliases).
    let mut c = d.command();
    c.env("CKPT_FAULT", "always:fs.link:1")
        .args(["prune", &run_s, "--keep-last", "1", "--yes"]);
    let o = c.output();
    assert_eq!(
        o.status.code(),
        Some(0),
        "prune: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    // A directory where model_best should be: reported, and saves and pins go on.
    let best = run.join("model_best.pth.tar");
    fs::remove_file(&best).unwrap();
    fs::create_dir(&best).unwrap();
    assert_eq!(
        save(4, 9.0, MIB / 2).0,
        Some(0),
        "{}",
        save(5, 9.5, MIB / 2).1
    );
    let mut c = d.command();
    c.args(["pin", &run_s, "4"]);
    assert_eq!(c.output().status.code(), Some(0));
    let ls = d.command().args(["ls", &run_s]).assert_ok();
    assert!(
        ls.contains("model_best.pth.tar") && ls.contains("directory"),
        "{ls}"
    );
    assert!(
        best.is_dir(),
        "ckpt never replaces a directory the user put there"
    );
}

// ------------------------------------------------------------ 13. smaller ones

/// `--lock-timeout` takes any non-negative number of seconds (huge ones and `inf` wait
/// as long as it takes); negative and NaN are usage errors that say what is expected.
#[test]
fn lock_timeout_accepts_any_non_negative_number() {
    let d = Dir::new("lock-timeout");
    let run = d.native_run("run", &[1.0], 1024);
    for t in ["0", "2.5", "1e9", "1e20", "inf"] {
        d.command()
            .args(["--lock-timeout", t])
            .arg("pin")
            .arg(&run)
            .arg("0")
            .assert_ok();
    }
    for t in ["-1", "NaN"] {
        let t = format!("--lock-timeout={t}");
        let err = d
            .command()
            .args([t.as_str(), "pin"])
            .arg(&run)
            .arg("0")
            .assert_err(2);
        assert!(err.contains("≥ 0"), "{err}");
    }
}

// ------------------------------------------------------------ 13. saves that need a word

/// Saving an epoch lower than `last` moves `last` back: legitimate (an epoch re-run)
/// but never silent — the CLI says so, and `--json` carries a typed note.
#[test]
fn saving_an_epoch_lower_than_last_says_so() {
    let d = Dir::new("lower-epoch");
    let run = d.native_run("run", &[1.0, 2.0, 3.0], 1024);
    let src = d.create("again.bin", vec![7u8; 1024]);
    let out = d
        .command()
        .args(["save"])
        .arg(&run)
        .args(["--epoch", "1", "--metric", "0.5"])
        .arg(&src)
        .assert_ok();
    assert!(
        out.contains("note: epoch 1 is lower than the previous last (epoch 2)"),
        "{out}"
    );
    let src = d.create("older.bin", vec![8u8; 1024]);
    let out = d
        .command()
        .args(["save", "--json"])
        .arg(&run)
        .args(["--epoch", "0", "--metric", "0.1"])
        .arg(&src)
        .assert_ok();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["notes"][0]["kind"], "earlier_than_last", "{v}");
    assert_eq!(v["notes"][0]["previous_last"], 1, "{v}");
    // And a save in order says nothing of the kind.
    let src = d.create("next.bin", vec![9u8; 1024]);
    let out = d
        .command()
        .args(["save"])
        .arg(&run)
        .args(["--epoch", "5"])
        .arg(&src)
        .assert_ok();
    assert!(!out.contains("note:"), "{out}");
}

/// A file under a checkpoint's name that the manifest does not list (an interrupted
/// save's orphan, or copied in by hand) is replaced by a save of that epoch: said, with
/// its size, in text and JSON.
#[test]
fn replacing_a_file_the_manifest_did_not_list_says_so() {
    let d = Dir::new("unlisted");
    let run = d.native_run("run", &[1.0], 1024);
    fs::write(run.join("checkpoint-4.pth.tar"), vec![1u8; 3000]).unwrap();
    let src = d.create("four.bin", vec![4u8; 1024]);
    let out = d
        .command()
        .args(["save"])
        .arg(&run)
        .args(["--epoch", "4"])
        .arg(&src)
        .assert_ok();
    assert!(
        out.contains("note: checkpoint-4.pth.tar (2.9 KiB) was on disk but not in the manifest"),
        "{out}"
    );
    assert_eq!(
        fs::read(run.join("checkpoint-4.pth.tar")).unwrap(),
        vec![4u8; 1024]
    );
    fs::write(run.join("checkpoint-6.pth.tar"), vec![1u8; 10]).unwrap();
    let src = d.create("six.bin", vec![6u8; 1024]);
    let out = d
        .command()
        .args(["save", "--json"])
        .arg(&run)
        .args(["--epoch", "6"])
        .arg(&src)
        .assert_ok();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["notes"][0]["kind"], "replaced_unlisted_file", "{v}");
    assert_eq!(v["notes"][0]["bytes"], 10, "{v}");
    assert!(v["notes"][0]["message"]
        .as_str()
        .unwrap()
        .contains("checkpoint-6.pth.tar"));
}
