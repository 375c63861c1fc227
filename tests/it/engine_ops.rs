//! promote / restore / verify / doctor on native runs: outcomes checked on the bytes,
//! the manifest and the trash, never on log text alone.

use crate::util;

use std::fs;
use std::path::{Path, PathBuf};

use ckpt::engine::{EngineOptions, RestoreOptions, Run};
use ckpt::snapshot::LayoutKind;
use ckpt::store::manifest::Manifest;
use ckpt::Error;

use util::engine::hash_of;

/// Bytes of a fake checkpoint: distinct per epoch, a few blocks long.
fn payload(epoch: u64) -> Vec<u8> {
    util::payload::bytes(epoch, 200_000)
}

fn file_hash(p: &Path) -> String {
    hash_of(&fs::read(p).unwrap())
}

fn manifest(run: &Path) -> Manifest {
    serde_json::from_slice(&fs::read(run.join(".ckpt/manifest.json")).unwrap()).unwrap()
}

fn write_manifest(run: &Path, m: &Manifest) {
    fs::write(
        run.join(".ckpt/manifest.json"),
        serde_json::to_vec_pretty(m).unwrap(),
    )
    .unwrap();
}

/// A native run written by hand ([`util::engine::write_native_run`]): a checkpoint for
/// each (epoch, metric), `last` the newest, `model_best` the best (max).
fn native_run(metrics: &[(u64, f64)]) -> (tempfile::TempDir, Run) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let checkpoints = metrics
        .iter()
        .map(|&(epoch, metric)| util::engine::HandWritten {
            epoch,
            metric,
            bytes: payload(epoch),
            saved_at: chrono::Utc::now(),
        })
        .collect();
    util::engine::write_native_run(&dir, checkpoints);
    let run = Run {
        dir,
        layout: LayoutKind::Ckpt,
        options: EngineOptions::default(),
    };
    (tmp, run)
}

fn trash_files(run: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir(run.join(".ckpt/trash")) else {
        return out;
    };
    for stamp in rd.flatten() {
        for f in fs::read_dir(stamp.path()).unwrap().flatten() {
            out.push(f.path());
        }
    }
    out.sort();
    out
}

#[test]
fn promote_holds_best_pins_it_and_release_clears_the_hold() {
    let (_t, run) = native_run(&[(1, 10.0), (2, 30.0), (3, 20.0)]);
    let rep = run.promote("1").unwrap();
    assert_eq!(rep.epoch, Some(1));
    assert_eq!(rep.previous.as_deref(), Some("checkpoint-2.pth.tar"));
    let m = manifest(&run.dir);
    let best = m.best.as_ref().unwrap();
    assert_eq!((best.epoch, best.held), (1, true));
    assert!(m.checkpoints.iter().find(|e| e.epoch == 1).unwrap().pinned);
    assert_eq!(
        file_hash(&run.dir.join("model_best.pth.tar")),
        file_hash(&run.dir.join("checkpoint-1.pth.tar"))
    );
    // The previous best keeps its own bytes under its own name.
    assert_eq!(
        file_hash(&run.dir.join("checkpoint-2.pth.tar")),
        hash_of(&payload(2))
    );

    run.release_best().unwrap();
    let m = manifest(&run.dir);
    assert_eq!(m.best.as_ref().map(|b| (b.epoch, b.held)), Some((1, false)));
    // Still pinned: release only lets best move, it does not unpin.
    assert!(m.checkpoints.iter().find(|e| e.epoch == 1).unwrap().pinned);
}

#[test]
fn promote_by_file_name_and_unknown_selector() {
    let (_t, run) = native_run(&[(1, 10.0), (2, 30.0)]);
    run.promote("checkpoint-1.pth.tar").unwrap();
    assert_eq!(manifest(&run.dir).best.unwrap().epoch, 1);
    match run.promote("9") {
        Err(Error::UnknownCheckpoint { selector, .. }) => assert_eq!(selector, "9"),
        other => panic!("expected UnknownCheckpoint, got {other:?}"),
    }
}

#[test]
fn promote_refuses_a_damaged_checkpoint() {
    let (_t, run) = native_run(&[(1, 10.0), (2, 30.0)]);
    let f = fs::OpenOptions::new()
        .write(true)
        .open(run.dir.join("checkpoint-1.pth.tar"))
        .unwrap();
    f.set_len(100).unwrap();
    let err = run.promote("1").unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("refusing") && text.contains("checkpoint-1.pth.tar"),
        "{text}"
    );
    // Nothing moved.
    assert_eq!(manifest(&run.dir).best.unwrap().epoch, 2);
    assert_eq!(
        file_hash(&run.dir.join("model_best.pth.tar")),
        hash_of(&payload(2))
    );
}

#[test]
fn restore_points_last_at_the_chosen_checkpoint() {
    let (_t, run) = native_run(&[(1, 10.0), (2, 30.0), (3, 20.0)]);
    let plan = run.plan_restore("2", &RestoreOptions::default()).unwrap();
    assert_eq!(plan.dest, run.dir.join("last.pth.tar"));
    assert_eq!(plan.backup, None, "last is a hardlink of checkpoint-3");
    assert_eq!(plan.newer, vec!["checkpoint-3.pth.tar".to_string()]);
    assert_eq!(plan.archive_dir, None);
    run.restore(&plan, None).unwrap();
    assert_eq!(
        file_hash(&run.dir.join("last.pth.tar")),
        hash_of(&payload(2))
    );
    assert_eq!(manifest(&run.dir).last, Some(2));
    // Newer checkpoints were only reported.
    assert!(run.dir.join("checkpoint-3.pth.tar").is_file());
    assert!(trash_files(&run.dir).is_empty());
}

#[test]
fn restore_backs_up_an_only_copy_last_into_trash() {
    let (_t, run) = native_run(&[(1, 10.0), (2, 30.0)]);
    // `last` holds a state no checkpoint file has (as timm's last.pth.tar can).
    let unique = payload(77);
    fs::remove_file(run.dir.join("last.pth.tar")).unwrap();
    fs::write(run.dir.join("last.pth.tar"), &unique).unwrap();
    let plan = run.plan_restore("1", &RestoreOptions::default()).unwrap();
    let backup = plan.backup.clone().expect("only-copy last is backed up");
    assert!(backup.starts_with(run.dir.join(".ckpt/trash")));
    let mut seen = 0u64;
    let mut progress = |p: &ckpt::engine::Progress| seen = seen.max(p.done);
    run.restore(&plan, Some(&mut progress)).unwrap();
    assert_eq!(
        file_hash(&run.dir.join("last.pth.tar")),
        hash_of(&payload(1))
    );
    let kept = trash_files(&run.dir);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(fs::read(&kept[0]).unwrap(), unique);
    // The manifest records the kept copy under a trash/… path with its hash.
    let m = manifest(&run.dir);
    let rec = m
        .checkpoints
        .iter()
        .find(|e| e.path.starts_with("trash/"))
        .expect("trash entry");
    assert_eq!(rec.hash, hash_of(&unique));
    assert_eq!(run.dir.join(".ckpt").join(&rec.path), kept[0]);
    // verify accepts the result, including the kept copy.
    let v = run.verify(None).unwrap();
    assert!(v.damaged.is_empty(), "{:?}", v.damaged);
}

#[test]
fn a_last_that_is_a_byte_copy_of_a_checkpoint_is_not_backed_up() {
    let (_t, run) = native_run(&[(1, 10.0), (2, 30.0)]);
    // As on a filesystem without hardlinks: `last` is a full copy of checkpoint-2.
    fs::remove_file(run.dir.join("last.pth.tar")).unwrap();
    fs::write(run.dir.join("last.pth.tar"), payload(2)).unwrap();
    let plan = run.plan_restore("1", &RestoreOptions::default()).unwrap();
    assert_eq!(plan.backup, None);
    run.restore(&plan, None).unwrap();
    assert!(trash_files(&run.dir).is_empty());
    assert_eq!(
        file_hash(&run.dir.join("last.pth.tar")),
        hash_of(&payload(1))
    );
}

#[test]
fn restore_archive_newer_moves_files_and_manifest_entries() {
    let (_t, run) = native_run(&[(1, 10.0), (2, 30.0), (3, 20.0)]);
    let opts = RestoreOptions {
        archive_newer: true,
        ..Default::default()
    };
    let plan = run.plan_restore("1", &opts).unwrap();
    assert_eq!(plan.newer.len(), 2);
    let archive = plan.archive_dir.clone().expect("archive dir");
    run.restore(&plan, None).unwrap();
    for e in [2, 3] {
        let name = format!("checkpoint-{e}.pth.tar");
        assert!(!run.dir.join(&name).exists(), "{name} left in the run");
        assert_eq!(fs::read(archive.join(&name)).unwrap(), payload(e));
    }
    let m = manifest(&run.dir);
    assert_eq!(m.last, Some(1));
    for e in [2, 3] {
        let entry = m.checkpoints.iter().find(|x| x.epoch == e).unwrap();
        assert!(entry.path.starts_with("trash/"), "{}", entry.path);
        assert!(run.dir.join(".ckpt").join(&entry.path).is_file());
    }
    // Best was archived: it falls back to the best remaining checkpoint.
    assert_eq!(m.best.as_ref().map(|b| b.epoch), Some(1));
    assert_eq!(
        file_hash(&run.dir.join("model_best.pth.tar")),
        hash_of(&payload(1))
    );
    assert_eq!(
        file_hash(&run.dir.join("last.pth.tar")),
        hash_of(&payload(1))
    );
    let v = run.verify(None).unwrap();
    assert!(v.damaged.is_empty(), "{:?}", v.damaged);
}

#[test]
fn restore_to_exports_identical_bytes_and_never_clobbers_without_force() {
    let (t, run) = native_run(&[(1, 10.0), (2, 30.0)]);
    let dest = t.path().join("export.pth.tar");
    let opts = RestoreOptions {
        to: Some(dest.clone()),
        ..Default::default()
    };
    let plan = run.plan_restore("1", &opts).unwrap();
    assert_eq!(plan.bytes_to_copy, payload(1).len() as u64);
    run.restore(&plan, None).unwrap();
    assert_eq!(fs::read(&dest).unwrap(), payload(1));
    // An independent copy, not a link into the run.
    use std::os::unix::fs::MetadataExt;
    assert_eq!(fs::metadata(&dest).unwrap().nlink(), 1);
    // `last` untouched.
    assert_eq!(
        file_hash(&run.dir.join("last.pth.tar")),
        hash_of(&payload(2))
    );

    match run.plan_restore("2", &opts) {
        Err(Error::Exists { path }) => assert_eq!(path, dest),
        other => panic!("expected Exists, got {other:?}"),
    }
    // A destination that appears between plan and apply is not clobbered either.
    let dest2 = t.path().join("late.pth.tar");
    let plan2 = run
        .plan_restore(
            "2",
            &RestoreOptions {
                to: Some(dest2.clone()),
                ..Default::default()
            },
        )
        .unwrap();
    fs::write(&dest2, b"someone else's").unwrap();
    assert!(matches!(
        run.restore(&plan2, None),
        Err(Error::Exists { .. })
    ));
    assert_eq!(fs::read(&dest2).unwrap(), b"someone else's");

    let forced = RestoreOptions {
        to: Some(dest.clone()),
        force: true,
        ..Default::default()
    };
    let plan = run.plan_restore("2", &forced).unwrap();
    run.restore(&plan, None).unwrap();
    assert_eq!(fs::read(&dest).unwrap(), payload(2));
    let leftovers: Vec<_> = fs::read_dir(t.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temps left: {leftovers:?}");
}

#[test]
fn verify_lists_a_flipped_byte_and_a_missing_file() {
    let (_t, run) = native_run(&[(1, 10.0), (2, 30.0), (3, 20.0)]);
    let clean = run.verify(None).unwrap();
    assert!(clean.damaged.is_empty(), "{:?}", clean.damaged);
    assert_eq!(clean.ok.len(), clean.checked);

    // Flip one byte of checkpoint-1 (same size: only the hash can tell).
    let p1 = run.dir.join("checkpoint-1.pth.tar");
    let mut bytes = fs::read(&p1).unwrap();
    bytes[1000] ^= 0xff;
    fs::write(&p1, &bytes).unwrap();
    // checkpoint-2 is gone (model_best still holds its bytes).
    fs::remove_file(run.dir.join("checkpoint-2.pth.tar")).unwrap();

    let mut last_done = 0;
    let mut total = 0;
    let mut progress = |p: &ckpt::engine::Progress| {
        assert!(p.done >= last_done, "progress went backwards");
        last_done = p.done;
        total = p.total;
    };
    let rep = run.verify(Some(&mut progress)).unwrap();
    assert!(last_done > 0 && last_done <= total);
    let by_name: Vec<(&str, &Path, &str)> = rep
        .damaged
        .iter()
        .map(|d| (d.name.as_str(), d.path.as_path(), d.reason.as_str()))
        .collect();
    assert!(
        by_name
            .iter()
            .any(|(n, p, r)| *n == "checkpoint-1.pth.tar" && *p == p1 && r.contains("hash")),
        "{by_name:?}"
    );
    assert!(
        by_name
            .iter()
            .any(|(n, _, r)| *n == "checkpoint-2.pth.tar" && r.contains("missing")),
        "{by_name:?}"
    );
    assert!(rep.ok.contains(&"checkpoint-3.pth.tar".to_string()));
}

/// A byte flipped in place (same inode) damages every name of that inode: the
/// checkpoint and the `last`/`model_best` hardlinks are each reported with their path.
#[test]
fn verify_reports_every_hardlink_of_damaged_bytes() {
    use std::os::unix::fs::{FileExt, MetadataExt};
    let (_t, run) = native_run(&[(1, 10.0), (2, 30.0)]);
    let p2 = run.dir.join("checkpoint-2.pth.tar");
    let (last, best) = (
        run.dir.join("last.pth.tar"),
        run.dir.join("model_best.pth.tar"),
    );
    let ino = |p: &Path| fs::metadata(p).unwrap().ino();
    assert!(ino(&p2) == ino(&last) && ino(&p2) == ino(&best));
    let clean = run.verify(None).unwrap();
    assert!(clean.damaged.is_empty(), "{:?}", clean.damaged);
    for n in ["last.pth.tar", "model_best.pth.tar"] {
        assert!(clean.ok.contains(&n.to_string()), "{clean:?}");
    }

    let before = ino(&p2);
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&p2)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_at(&mut b, 5000).unwrap();
    f.write_at(&[b[0] ^ 0xff], 5000).unwrap();
    drop(f);
    assert_eq!(ino(&p2), before, "flipped in place");

    let rep = run.verify(None).unwrap();
    for (name, path) in [
        ("checkpoint-2.pth.tar", &p2),
        ("last.pth.tar", &last),
        ("model_best.pth.tar", &best),
    ] {
        let d = rep
            .damaged
            .iter()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("{name} not reported damaged: {rep:?}"));
        assert_eq!(&d.path, path);
        assert!(d.reason.contains("hash"), "{d:?}");
        assert!(!rep.ok.contains(&name.to_string()), "{rep:?}");
    }
    assert_eq!(rep.damaged.len(), 3, "{:?}", rep.damaged);
    assert!(rep.ok.contains(&"checkpoint-1.pth.tar".to_string()));
    assert_eq!(rep.checked, rep.ok.len() + rep.damaged.len());
}

#[test]
fn doctor_reports_temps_lock_holder_and_drift_without_touching_them() {
    let (_t, run) = native_run(&[(1, 10.0), (2, 30.0)]);
    // A temp left by a writer, drift of three kinds.
    // Named the engine's way, by a writer that has exited.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = gone.id();
    gone.wait().unwrap();
    let temp = run.dir.join(format!(
        ".ckpt-tmp-{}-{dead_pid}-0123456789abcdef-checkpoint-3.pth.tar",
        ckpt::store::temp::host_tag()
    ));
    fs::write(&temp, b"partial").unwrap();
    fs::write(run.dir.join("checkpoint-9.pth.tar"), b"unlisted").unwrap();
    fs::remove_file(run.dir.join("checkpoint-1.pth.tar")).unwrap();
    let mut m = manifest(&run.dir);
    m.checkpoints[1].bytes += 1;
    write_manifest(&run.dir, &m);

    // Hold the run lock the way a mutation does.
    let held =
        ckpt::engine::lock::RunLock::acquire(&run.dir, "save", std::time::Duration::from_secs(5))
            .unwrap();
    let report = run.doctor().unwrap();
    drop(held);
    let after = run.doctor().unwrap();

    let get = |n: &str| report.checks.iter().find(|c| c.name == n).unwrap();
    assert!(
        report.stale_temps.contains(&temp),
        "{:?}",
        report.stale_temps
    );
    assert!(temp.exists(), "doctor must not delete temps");
    let lock = get("lock");
    assert_eq!(lock.status, ckpt::engine::CheckStatus::Warn);
    let me = std::process::id().to_string();
    assert!(
        lock.detail.contains(&me) && lock.detail.contains("save"),
        "{}",
        lock.detail
    );
    let free = after.checks.iter().find(|c| c.name == "lock").unwrap();
    assert_eq!((free.status.as_str(), free.detail.as_str()), ("ok", "free"));
    let drift = &get("manifest vs disk").detail;
    assert!(
        drift.contains("checkpoint-1.pth.tar is listed but missing"),
        "{drift}"
    );
    assert!(
        drift.contains("checkpoint-9.pth.tar is on disk but not in the manifest"),
        "{drift}"
    );
    assert!(drift.contains("checkpoint-2.pth.tar has"), "{drift}");
    assert_eq!(get("write access").status, ckpt::engine::CheckStatus::Ok);
    assert!(["native events", "polling"].contains(&report.watch_mode.as_str()));
    assert!(
        get("links").detail.contains("hardlink works"),
        "{:?}",
        get("links")
    );
    // Probes left nothing behind.
    let names: Vec<String> = fs::read_dir(&run.dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("doctor"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn doctor_reports_a_corrupt_manifest_as_a_failed_check() {
    let (_t, run) = native_run(&[(1, 10.0)]);
    fs::write(run.dir.join(".ckpt/manifest.json"), b"{ not json").unwrap();
    let report = run.doctor().unwrap();
    let m = report.checks.iter().find(|c| c.name == "manifest").unwrap();
    assert_eq!(m.status, ckpt::engine::CheckStatus::Fail);
    assert!(m.detail.contains("manifest.json"), "{}", m.detail);
}

// ------------------------------------------------------------------ fault walks

/// Three engine saves: epochs 1, 2, 3 with top1 1.0, 3.0, 2.0 (best 2, last 3).
fn walk_setup(dir: &Path) {
    let run = Run::open_or_create(dir, util::engine::opts()).unwrap();
    util::engine::save_gen(&run, 1, 0, Some(1.0), None).unwrap();
    util::engine::save_gen(&run, 2, 0, Some(3.0), None).unwrap();
    util::engine::save_gen(&run, 3, 0, Some(2.0), None).unwrap();
}

/// Setup, then promote epoch 1 (for walking the release).
fn walk_setup_promoted(dir: &Path) {
    walk_setup(dir);
    Run::open(dir, None, util::engine::opts())
        .unwrap()
        .promote("1")
        .unwrap();
}

/// Where the `restore_to` walk exports, next to the run dir.
fn export_dest(dir: &Path) -> PathBuf {
    dir.with_extension("exported.pth.tar")
}

/// The operations walked, by name (also run by the child process).
fn walk_op(name: &str, dir: &Path) -> ckpt::Result<()> {
    let run = Run::open(dir, None, util::engine::opts())?;
    match name {
        "promote" => run.promote("1").map(|_| ()),
        "release" => run.release_best(),
        "restore" => {
            let plan = run.plan_restore("1", &RestoreOptions::default())?;
            run.restore(&plan, None)
        }
        "restore_archive" => {
            let opts = RestoreOptions {
                archive_newer: true,
                ..Default::default()
            };
            let plan = run.plan_restore("1", &opts)?;
            run.restore(&plan, None)
        }
        "restore_to" => {
            let opts = RestoreOptions {
                to: Some(export_dest(dir)),
                ..Default::default()
            };
            let plan = run.plan_restore("2", &opts)?;
            run.restore(&plan, None)
        }
        other => panic!("unknown child op {other}"),
    }
}

/// Child-process entry of the fault walks: runs the op named in the environment.
#[test]
#[ignore = "child process of the fault walks (run by util::engine::run_child)"]
fn ops_child_entry() {
    let (Ok(name), Ok(dir)) = (
        std::env::var(util::engine::CHILD_OP),
        std::env::var(util::engine::CHILD_RUN),
    ) else {
        panic!("ops_child_entry is the child process of the fault walks, not a test");
    };
    walk_op(&name, Path::new(&dir)).unwrap();
}

fn walk(name: &str, setup: &dyn Fn(&Path)) -> Vec<&'static str> {
    let steps = util::engine::fault_walk(&util::engine::Walk {
        name,
        setup,
        op: &|d| walk_op(name, d),
        child_entry: concat!(module_path!(), "::ops_child_entry"),
    });
    eprintln!("{name}: {} steps: {steps:?}", steps.len());
    steps
}

#[test]
fn walk_promote() {
    let steps = walk("promote", &walk_setup);
    assert!(steps.contains(&"promote.manifest") && steps.contains(&"alias.rename"));
}

#[test]
fn walk_release() {
    walk("release", &walk_setup_promoted);
}

#[test]
fn walk_restore() {
    let steps = walk("restore", &walk_setup);
    assert!(steps.contains(&"restore.alias") && steps.contains(&"manifest.store"));
}

#[test]
fn walk_restore_archive_newer() {
    let steps = walk("restore_archive", &walk_setup);
    for needed in [
        "trash.mkdir",
        "trash.link",
        "restore.unlink",
        "restore.manifest",
    ] {
        assert!(steps.contains(&needed), "{needed} not walked: {steps:?}");
    }
}

#[test]
fn walk_restore_to() {
    let steps = walk("restore_to", &walk_setup);
    assert!(steps.contains(&"tmp.rename"), "{steps:?}");
}

// ------------------------------------------------------------------ with engine saves

#[test]
fn promoted_best_holds_against_a_better_save_until_released() {
    let (_t, run) = util::engine::new_run();
    util::engine::save(&run, 1, Some(1.0));
    util::engine::save(&run, 2, Some(3.0));
    util::engine::save(&run, 3, Some(2.0));
    run.promote("1").unwrap();

    let rep = util::engine::save(&run, 4, Some(9.0));
    assert!(!rep.became_best, "a held best does not move");
    let m = util::engine::assert_run_consistent(&run.dir);
    assert_eq!(m.best.as_ref().map(|b| (b.epoch, b.held)), Some((1, true)));
    assert_eq!(
        file_hash(&run.dir.join("model_best.pth.tar")),
        util::engine::hash_of(&util::engine::payload(1, 0))
    );

    run.release_best().unwrap();
    let rep = util::engine::save(&run, 5, Some(10.0));
    assert!(rep.became_best, "after release a better save becomes best");
    let m = util::engine::assert_run_consistent(&run.dir);
    assert_eq!(m.best.as_ref().map(|b| (b.epoch, b.held)), Some((5, false)));
    // The promoted checkpoint stays pinned.
    assert!(m.checkpoints.iter().any(|e| e.epoch == 1 && e.pinned));
}

#[test]
fn restore_then_resume_saving_keeps_the_run_consistent() {
    let (_t, run) = util::engine::new_run();
    for (e, v) in [(1, 1.0), (2, 3.0), (3, 2.0)] {
        util::engine::save(&run, e, Some(v));
    }
    let opts = RestoreOptions {
        archive_newer: true,
        ..Default::default()
    };
    let plan = run.plan_restore("1", &opts).unwrap();
    run.restore(&plan, None).unwrap();
    let m = util::engine::assert_run_consistent(&run.dir);
    assert_eq!(m.last, Some(1));
    // The trainer resumes from epoch 1 and saves epoch 2 again: no clash with the
    // archived entry of the same epoch.
    util::engine::save_gen(&run, 2, 1, Some(0.5), None).unwrap();
    let m = util::engine::assert_run_consistent(&run.dir);
    assert_eq!(m.last, Some(2));
    let live2: Vec<_> = m
        .checkpoints
        .iter()
        .filter(|e| e.epoch == 2 && !e.path.starts_with("trash/"))
        .collect();
    assert_eq!(live2.len(), 1);
    assert_eq!(
        live2[0].hash,
        util::engine::hash_of(&util::engine::payload(2, 1))
    );
    assert!(m
        .checkpoints
        .iter()
        .any(|e| e.epoch == 2 && e.path.starts_with("trash/")));
    let v = run.verify(None).unwrap();
    assert!(v.damaged.is_empty(), "{:?}", v.damaged);
}

#[test]
fn restore_archive_newer_keeps_a_promoted_and_a_pinned_checkpoint_in_place() {
    let (_t, run) = native_run(&[(1, 10.0), (2, 30.0), (3, 20.0), (4, 5.0)]);
    run.promote("3").unwrap();
    run.set_pinned("4", true).unwrap();
    let opts = RestoreOptions {
        archive_newer: true,
        ..Default::default()
    };
    let plan = run.plan_restore("1", &opts).unwrap();
    assert_eq!(plan.newer, vec!["checkpoint-2.pth.tar".to_string()]);
    assert_eq!(
        plan.kept_newer,
        vec![
            (
                "checkpoint-3.pth.tar".to_string(),
                "pinned, held best".to_string()
            ),
            ("checkpoint-4.pth.tar".to_string(), "pinned".to_string()),
        ]
    );
    run.restore(&plan, None).unwrap();
    assert!(!run.dir.join("checkpoint-2.pth.tar").exists());
    assert!(run.dir.join("checkpoint-3.pth.tar").is_file());
    assert!(run.dir.join("checkpoint-4.pth.tar").is_file());
    let m = manifest(&run.dir);
    let best = m.best.clone().unwrap();
    assert_eq!((best.epoch, best.held), (3, true));
    assert!(m.checkpoints.iter().any(|e| e.epoch == 3 && e.pinned));
    assert_eq!(m.last, Some(1));
    assert_eq!(
        file_hash(&run.dir.join("model_best.pth.tar")),
        hash_of(&payload(3))
    );
    let v = run.verify(None).unwrap();
    assert!(v.damaged.is_empty(), "{:?}", v.damaged);
}

#[test]
fn restore_to_refuses_paths_inside_the_run_and_exports_into_an_existing_directory() {
    let (t, run) = native_run(&[(0, 10.0), (1, 30.0), (2, 20.0)]);
    for inside in [
        run.dir.join("checkpoint-0.pth.tar"),
        run.dir.join("last.pth.tar"),
        run.dir.join(".ckpt/x.pth.tar"),
        run.dir.clone(),
    ] {
        let opts = RestoreOptions {
            to: Some(inside.clone()),
            force: true,
            ..Default::default()
        };
        match run.plan_restore("2", &opts) {
            Err(Error::Protected(msg)) => assert!(msg.contains("inside the run"), "{msg}"),
            other => panic!("{}: expected a refusal, got {other:?}", inside.display()),
        }
    }
    assert_eq!(
        fs::read(run.dir.join("checkpoint-0.pth.tar")).unwrap(),
        payload(0)
    );
    // An existing directory receives DIR/<checkpoint name>; --force replaces only that file.
    let out = t.path().join("out");
    fs::create_dir(&out).unwrap();
    fs::write(out.join("keep.txt"), b"mine").unwrap();
    let opts = RestoreOptions {
        to: Some(out.clone()),
        force: true,
        ..Default::default()
    };
    for _ in 0..2 {
        let plan = run.plan_restore("2", &opts).unwrap();
        assert_eq!(plan.dest, out.join("checkpoint-2.pth.tar"));
        run.restore(&plan, None).unwrap();
    }
    assert_eq!(
        fs::read(out.join("checkpoint-2.pth.tar")).unwrap(),
        payload(2)
    );
    assert_eq!(fs::read(out.join("keep.txt")).unwrap(), b"mine");
    // A directory of the checkpoint's name is never replaced by a file, even with --force.
    fs::remove_file(out.join("checkpoint-2.pth.tar")).unwrap();
    fs::create_dir(out.join("checkpoint-2.pth.tar")).unwrap();
    assert!(matches!(
        run.plan_restore("2", &opts),
        Err(Error::Protected(_))
    ));
}

#[test]
fn restore_to_takes_no_lock_and_writes_nothing_in_the_run() {
    let (t, mut run) = native_run(&[(0, 10.0), (1, 30.0)]);
    run.options.lock_timeout = std::time::Duration::from_secs(1);
    // Another process holds the run's lock for as long as the export takes.
    let lock = fs::File::create(run.dir.join(".ckpt/lock")).unwrap();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
    let before: Vec<_> = fs::read_dir(run.dir.join(".ckpt"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    let dest = t.path().join("e.pth.tar");
    let opts = RestoreOptions {
        to: Some(dest.clone()),
        ..Default::default()
    };
    let plan = run.plan_restore("0", &opts).unwrap();
    run.restore(&plan, None).unwrap();
    assert_eq!(fs::read(&dest).unwrap(), payload(0));
    let after: Vec<_> = fs::read_dir(run.dir.join(".ckpt"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(before, after);
}

#[test]
fn restore_plan_lists_kept_epochs_whose_save_will_be_refused() {
    let (_t, run) = native_run(&[(1, 10.0), (2, 30.0), (3, 20.0), (4, 5.0)]);
    run.promote("3").unwrap();
    run.set_pinned("4", true).unwrap();
    for archive_newer in [true, false] {
        let opts = RestoreOptions {
            archive_newer,
            ..Default::default()
        };
        let plan = run.plan_restore("1", &opts).unwrap();
        assert_eq!(
            run.restore_refused_saves(&plan).unwrap(),
            vec![
                (3, "pinned, held best".to_string()),
                (4, "pinned".to_string())
            ],
            "archive_newer={archive_newer}"
        );
    }
    let plan = run.plan_restore("4", &RestoreOptions::default()).unwrap();
    assert!(
        run.restore_refused_saves(&plan).unwrap().is_empty(),
        "{plan:?}"
    );
}

#[test]
fn change_pinned_reports_whether_anything_changed_and_check_promote_refuses_damage() {
    let (_t, run) = native_run(&[(1, 10.0), (2, 30.0)]);
    assert!(!run.change_pinned("1", false).unwrap());
    assert!(run.change_pinned("1", true).unwrap());
    assert!(!run.change_pinned("1", true).unwrap());
    assert!(run.change_pinned("1", false).unwrap());
    run.check_promote("2").unwrap();
    let f = run.dir.join("checkpoint-2.pth.tar");
    let len = fs::metadata(&f).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&f)
        .unwrap()
        .set_len(len - 1)
        .unwrap();
    let dry = run.check_promote("2").unwrap_err().to_string();
    let real = run.promote("2").unwrap_err().to_string();
    assert_eq!(dry, real);
    assert!(dry.contains("refusing to use checkpoint 2"), "{dry}");
}
