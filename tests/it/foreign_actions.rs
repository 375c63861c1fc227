//! Actions on copies of the real fixture runs (timm, Lightning, HF Trainer): each leaves
//! a run its own tool would still read correctly, under its own names.

use std::fs;
use std::path::{Path, PathBuf};

use ckpt::engine::{EngineOptions, RestoreOptions, Run};
use ckpt::snapshot::LayoutKind;
use ckpt::snapshot::RunSnapshot;

use crate::util::fixtures::unpack as fixture;

fn run(dir: &Path, layout: LayoutKind) -> Run {
    Run {
        dir: dir.to_path_buf(),
        layout,
        options: EngineOptions::default(),
    }
}

fn hash(p: &Path) -> u128 {
    xxhash_rust::xxh3::xxh3_128(&fs::read(p).unwrap())
}

fn scan(dir: &Path, layout: LayoutKind) -> RunSnapshot {
    ckpt::layout::scan(dir, Some(layout)).unwrap()
}

/// Every file under `.ckpt/trash/<stamp>/`, relative to its stamp folder.
fn trash(dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir(dir.join(".ckpt/trash")) else {
        return out;
    };
    for stamp in rd.flatten() {
        for f in fs::read_dir(stamp.path()).unwrap().flatten() {
            out.push((PathBuf::from(f.file_name()), f.path()));
        }
    }
    out.sort();
    out
}

fn pickle_epoch(p: &Path) -> Option<i64> {
    ckpt::formats::torchzip::read_pickle_value(p)
        .ok()?
        .get("epoch")
        .and_then(|v| v.as_i64())
}

// ---------------------------------------------------------------- timm

#[test]
fn timm_promote_rewrites_model_best_and_a_rescan_sees_it_held() {
    let (_t, dir) = fixture("timm-basic");
    let c5 = hash(&dir.join("checkpoint-5.pth.tar"));
    let r = run(&dir, LayoutKind::Timm);
    let rep = r.promote("4").unwrap();
    assert_eq!(rep.epoch, Some(4));
    assert_eq!(rep.alias, Some(dir.join("model_best.pth.tar")));
    assert_eq!(
        hash(&dir.join("model_best.pth.tar")),
        hash(&dir.join("checkpoint-4.pth.tar"))
    );
    assert_eq!(hash(&dir.join("checkpoint-5.pth.tar")), c5);
    assert_eq!(pickle_epoch(&dir.join("model_best.pth.tar")), Some(4));

    let snap = scan(&dir, LayoutKind::Timm);
    let best = snap.best.as_ref().expect("best alias");
    assert_eq!(best.epoch, Some(4));
    assert!(best.held, "{best:?}");
    assert!(snap.find("4").unwrap().pinned);

    r.release_best().unwrap();
    let snap = scan(&dir, LayoutKind::Timm);
    assert!(!snap.best.as_ref().unwrap().held);
    // timm's own files untouched.
    for f in ["summary.csv", "args.yaml", "recovery-2-1.pth.tar"] {
        assert!(dir.join(f).is_file(), "{f}");
    }
}

#[test]
fn timm_restore_keeps_the_only_copy_of_epoch_7_and_resumes_from_epoch_4() {
    let (_t, dir) = fixture("timm-basic");
    let old_last = fs::read(dir.join("last.pth.tar")).unwrap();
    assert_eq!(pickle_epoch(&dir.join("last.pth.tar")), Some(7));
    let r = run(&dir, LayoutKind::Timm);
    let plan = r.plan_restore("4", &RestoreOptions::default()).unwrap();
    assert_eq!(plan.dest.file_name().unwrap(), "last.pth.tar");
    assert!(plan.backup.is_some(), "epoch 7 exists only in last.pth.tar");
    assert!(
        plan.newer.contains(&"checkpoint-5.pth.tar".to_string()),
        "{:?}",
        plan.newer
    );
    r.restore(&plan, None).unwrap();

    let last = dir.join("last.pth.tar");
    assert_eq!(hash(&last), hash(&dir.join("checkpoint-4.pth.tar")));
    assert!(ckpt::formats::torchzip::verify_file(&last).is_ok());
    assert_eq!(pickle_epoch(&last), Some(4));
    let kept = trash(&dir);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0].0, PathBuf::from("last.pth.tar"));
    assert_eq!(fs::read(&kept[0].1).unwrap(), old_last);
    // Newer checkpoints were only reported.
    assert!(dir.join("checkpoint-5.pth.tar").is_file());

    let snap = scan(&dir, LayoutKind::Timm);
    assert_eq!(snap.last.as_ref().and_then(|a| a.epoch), Some(4));
    assert_eq!(snap.best.as_ref().and_then(|a| a.epoch), Some(5));
}

#[test]
fn timm_restore_of_the_current_last_only_archives_newer() {
    let (_t, dir) = fixture("timm-basic");
    let before = hash(&dir.join("last.pth.tar"));
    let r = run(&dir, LayoutKind::Timm);
    let plan = r.plan_restore("7", &RestoreOptions::default()).unwrap();
    assert_eq!(plan.backup, None);
    assert!(plan.newer.is_empty(), "{:?}", plan.newer);
    r.restore(&plan, None).unwrap();
    assert_eq!(hash(&dir.join("last.pth.tar")), before);
    assert!(trash(&dir).is_empty());
}

#[test]
fn timm_restore_archive_newer_moves_checkpoints_but_keeps_aliases_and_logs() {
    let (_t, dir) = fixture("timm-basic");
    let c4 = hash(&dir.join("checkpoint-4.pth.tar"));
    let c5 = hash(&dir.join("checkpoint-5.pth.tar"));
    let r = run(&dir, LayoutKind::Timm);
    let opts = RestoreOptions {
        archive_newer: true,
        ..Default::default()
    };
    let plan = r.plan_restore("3", &opts).unwrap();
    assert!(plan.archive_dir.is_some());
    r.restore(&plan, None).unwrap();
    let moved: Vec<PathBuf> = trash(&dir).into_iter().map(|(n, _)| n).collect();
    for f in [
        "checkpoint-4.pth.tar",
        "checkpoint-5.pth.tar",
        "last.pth.tar",
    ] {
        assert!(
            moved.contains(&PathBuf::from(f)),
            "{f} not in trash: {moved:?}"
        );
    }
    assert!(!dir.join("checkpoint-4.pth.tar").exists());
    assert!(!dir.join("checkpoint-5.pth.tar").exists());
    for (name, path) in trash(&dir) {
        if name == Path::new("checkpoint-4.pth.tar") {
            assert_eq!(hash(&path), c4);
        }
        if name == Path::new("checkpoint-5.pth.tar") {
            assert_eq!(hash(&path), c5);
        }
    }
    // model_best.pth.tar is an alias name: it stays, still holding epoch 5's bytes.
    assert_eq!(hash(&dir.join("model_best.pth.tar")), c5);
    assert_eq!(
        hash(&dir.join("last.pth.tar")),
        hash(&dir.join("checkpoint-3.pth.tar"))
    );
    for f in ["summary.csv", "args.yaml", "recovery-2-1.pth.tar"] {
        assert!(dir.join(f).is_file(), "{f}");
    }
}

#[test]
fn timm_restore_to_exports_a_copy_and_verify_passes() {
    let (t, dir) = fixture("timm-basic");
    let r = run(&dir, LayoutKind::Timm);
    let dest = t.path().join("resume-from.pth.tar");
    let plan = r
        .plan_restore(
            "4",
            &RestoreOptions {
                to: Some(dest.clone()),
                ..Default::default()
            },
        )
        .unwrap();
    r.restore(&plan, None).unwrap();
    assert_eq!(hash(&dest), hash(&dir.join("checkpoint-4.pth.tar")));
    assert_eq!(pickle_epoch(&dir.join("last.pth.tar")), Some(7));

    let v = r.verify(None).unwrap();
    assert!(v.damaged.is_empty(), "{:?}", v.damaged);
    assert!(v.checked >= 5, "{v:?}");
}

/// timm's `model_best.pth.tar` is a hardlink of `checkpoint-5.pth.tar` in the fixture:
/// a byte flipped in place damages both names, and verify reports each with its path.
#[test]
fn timm_verify_reports_a_hardlinked_best_holding_damaged_bytes() {
    use std::os::unix::fs::{FileExt, MetadataExt};
    let (_t, dir) = fixture("timm-basic");
    let c5 = dir.join("checkpoint-5.pth.tar").canonicalize().unwrap();
    let best = dir.join("model_best.pth.tar").canonicalize().unwrap();
    let ino = |p: &Path| fs::metadata(p).unwrap().ino();
    assert_eq!(ino(&c5), ino(&best), "fixture: model_best is a hardlink");
    let clean = run(&dir, LayoutKind::Timm).verify(None).unwrap();
    assert!(clean.damaged.is_empty(), "{:?}", clean.damaged);
    assert!(
        clean.ok.contains(&"model_best.pth.tar".to_string()),
        "{clean:?}"
    );

    // Flip a byte in the middle: inside the largest member (the weights), so its CRC fails.
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&c5)
        .unwrap();
    let len = f.metadata().unwrap().len();
    let at = len / 2;
    let mut b = [0u8; 1];
    f.read_at(&mut b, at).unwrap();
    f.write_at(&[b[0] ^ 0xff], at).unwrap();
    drop(f);
    assert_eq!(ino(&c5), ino(&best));

    let v = run(&dir, LayoutKind::Timm).verify(None).unwrap();
    for (name, path) in [("checkpoint-5.pth.tar", &c5), ("model_best.pth.tar", &best)] {
        let d = v
            .damaged
            .iter()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("{name} not reported damaged: {:?}", v.damaged));
        assert_eq!(&d.path, path);
        assert!(!v.ok.contains(&name.to_string()), "{v:?}");
    }
    assert!(v.ok.contains(&"checkpoint-4.pth.tar".to_string()), "{v:?}");
}

#[test]
fn timm_verify_reports_truncated_and_empty_checkpoints() {
    let (_t, dir) = fixture("timm-basic");
    let c4 = dir.join("checkpoint-4.pth.tar");
    let len = fs::metadata(&c4).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&c4)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    // Zero bytes: break the hardlink first so model_best keeps its data.
    let c3 = dir.join("checkpoint-3.pth.tar");
    fs::write(&c3, b"").unwrap();
    let v = run(&dir, LayoutKind::Timm).verify(None).unwrap();
    let damaged: Vec<&Path> = v.damaged.iter().map(|d| d.path.as_path()).collect();
    assert!(damaged.contains(&c4.as_path()), "{:?}", v.damaged);
    assert!(damaged.contains(&c3.as_path()), "{:?}", v.damaged);
    assert!(v.ok.contains(&"checkpoint-5.pth.tar".to_string()), "{v:?}");
    for d in &v.damaged {
        assert!(!d.reason.is_empty());
    }
}

#[test]
fn timm_refuses_to_promote_a_damaged_checkpoint() {
    let (_t, dir) = fixture("timm-basic");
    fs::write(dir.join("checkpoint-4.pth.tar"), b"").unwrap();
    let before = hash(&dir.join("model_best.pth.tar"));
    let r = run(&dir, LayoutKind::Timm);
    let snap = scan(&dir, LayoutKind::Timm);
    assert_eq!(
        snap.find("4").map(|c| c.state.clone()),
        Some(ckpt::snapshot::CheckpointState::Damaged),
        "the timm scan marks a zero-byte checkpoint damaged"
    );
    assert!(r.promote("4").is_err());
    assert_eq!(hash(&dir.join("model_best.pth.tar")), before);
}

// ---------------------------------------------------------------- lightning

fn lightning_ckpts(dir: &Path) -> PathBuf {
    dir.join("version_0/checkpoints")
}

#[test]
fn lightning_restore_rewrites_last_ckpt() {
    let (_t, dir) = fixture("lightning-basic");
    let cdir = lightning_ckpts(&dir);
    let e1 = cdir.join("epoch=1-step=8-val_loss=0.500.ckpt");
    let e3 = hash(&cdir.join("epoch=3-step=16-val_loss=0.400.ckpt"));
    let r = run(&dir, LayoutKind::Lightning);
    let plan = r.plan_restore("1", &RestoreOptions::default()).unwrap();
    assert_eq!(plan.dest, cdir.canonicalize().unwrap().join("last.ckpt"));
    assert_eq!(
        plan.newer,
        vec!["epoch=3-step=16-val_loss=0.400.ckpt".to_string()]
    );
    // Lightning 2.6 wrote last.ckpt as a byte copy of epoch 3: not an only copy.
    assert_eq!(plan.backup, None);
    r.restore(&plan, None).unwrap();
    assert!(trash(&dir.join("version_0")).is_empty());
    assert_eq!(hash(&cdir.join("last.ckpt")), hash(&e1));
    assert!(ckpt::formats::torchzip::verify_file(&cdir.join("last.ckpt")).is_ok());
    assert_eq!(hash(&cdir.join("epoch=3-step=16-val_loss=0.400.ckpt")), e3);
    let snap = scan(&dir, LayoutKind::Lightning);
    assert_eq!(snap.last.as_ref().and_then(|a| a.epoch), Some(1));
    for f in ["metrics.csv", "hparams.yaml"] {
        assert!(dir.join("version_0").join(f).is_file(), "{f}");
    }
}

#[test]
fn lightning_restore_keeps_a_symlinked_last_a_symlink() {
    let (_t, dir) = fixture("lightning-basic");
    let cdir = lightning_ckpts(&dir);
    fs::remove_file(cdir.join("last.ckpt")).unwrap();
    std::os::unix::fs::symlink(
        "epoch=3-step=16-val_loss=0.400.ckpt",
        cdir.join("last.ckpt"),
    )
    .unwrap();
    let r = run(&dir, LayoutKind::Lightning);
    let plan = r.plan_restore("1", &RestoreOptions::default()).unwrap();
    assert_eq!(plan.backup, None, "a symlink is never the only copy");
    r.restore(&plan, None).unwrap();
    let link = cdir.join("last.ckpt");
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        fs::read_link(&link).unwrap(),
        PathBuf::from("epoch=1-step=8-val_loss=0.500.ckpt")
    );
    assert!(cdir.join("epoch=3-step=16-val_loss=0.400.ckpt").is_file());
}

#[test]
fn lightning_promote_writes_best_ckpt() {
    let (_t, dir) = fixture("lightning-basic");
    let cdir = lightning_ckpts(&dir);
    let r = run(&dir, LayoutKind::Lightning);
    let rep = r.promote("1").unwrap();
    let best = cdir.join("best.ckpt");
    assert_eq!(
        rep.alias,
        Some(cdir.canonicalize().unwrap().join("best.ckpt"))
    );
    assert_eq!(
        hash(&best),
        hash(&cdir.join("epoch=1-step=8-val_loss=0.500.ckpt"))
    );
    let snap = scan(&dir, LayoutKind::Lightning);
    let b = snap.best.as_ref().expect("best");
    assert_eq!(b.epoch, Some(1));
    assert!(b.held);
    // best.ckpt is an alias, not a new checkpoint.
    assert_eq!(snap.checkpoints.len(), 2, "{:?}", snap.checkpoints);
}

#[test]
fn lightning_verify_passes_on_the_fixture() {
    let (_t, dir) = fixture("lightning-basic");
    let v = run(&dir, LayoutKind::Lightning).verify(None).unwrap();
    assert!(v.damaged.is_empty(), "{:?}", v.damaged);
    assert!(v.checked >= 2);
}

// ---------------------------------------------------------------- hf

#[test]
fn hf_restore_archives_newer_checkpoint_dirs() {
    let (_t, dir) = fixture("hf-basic");
    let model20 = hash(&dir.join("checkpoint-20/model.safetensors"));
    let model40 = hash(&dir.join("checkpoint-40/model.safetensors"));
    let r = run(&dir, LayoutKind::Hf);
    let plan = r
        .plan_restore("checkpoint-20", &RestoreOptions::default())
        .unwrap();
    assert_eq!(plan.newer, vec!["checkpoint-40".to_string()]);
    assert!(plan.archive_dir.is_some(), "hf always archives newer dirs");
    r.restore(&plan, None).unwrap();

    assert!(!dir.join("checkpoint-40").exists());
    let moved = trash(&dir);
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(moved[0].0, PathBuf::from("checkpoint-40"));
    assert!(moved[0].1.is_dir());
    assert_eq!(hash(&moved[0].1.join("model.safetensors")), model40);
    assert_eq!(hash(&dir.join("checkpoint-20/model.safetensors")), model20);
    let snap = scan(&dir, LayoutKind::Hf);
    let steps: Vec<Option<u64>> = snap.checkpoints.iter().map(|c| c.step).collect();
    assert_eq!(steps, vec![Some(20)]);
    // Mode 0600 as HF wrote it: untouched.
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(dir.join("checkpoint-20/model.safetensors"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn hf_restore_by_step_number() {
    let (_t, dir) = fixture("hf-basic");
    let r = run(&dir, LayoutKind::Hf);
    let plan = r.plan_restore("20", &RestoreOptions::default()).unwrap();
    assert_eq!(plan.target, "checkpoint-20");
}

#[test]
fn hf_promote_records_a_held_best_in_state_json() {
    let (_t, dir) = fixture("hf-basic");
    let r = run(&dir, LayoutKind::Hf);
    let rep = r.promote("checkpoint-40").unwrap();
    assert_eq!(rep.alias, None);
    let state: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join(".ckpt/state.json")).unwrap()).unwrap();
    assert_eq!(state["best_held"], "checkpoint-40");
    assert!(state["pinned"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("checkpoint-40")));
    let snap = scan(&dir, LayoutKind::Hf);
    let best = snap.best.as_ref().expect("best");
    // The whole alias describes the promoted checkpoint, not the trainer's old best.
    assert!(best.held);
    assert_eq!(best.step, Some(40));
    assert_eq!(best.target.as_deref(), Some("checkpoint-40"));
    assert_eq!(best.path, PathBuf::from("checkpoint-40"));
    let c40 = snap.find("checkpoint-40").expect("checkpoint-40");
    assert_eq!(best.epoch, c40.epoch);
    assert_eq!(Some(&best.path), c40.paths.first());
    assert!(c40.has_role(ckpt::snapshot::Role::Best) && c40.pinned);
    let c20 = snap.find("checkpoint-20").expect("checkpoint-20");
    assert!(!c20.has_role(ckpt::snapshot::Role::Best), "{c20:?}");
    // Through the engine's own snapshot too (what `ls` and the monitor show).
    let via_run = r.snapshot().unwrap();
    assert_eq!(via_run.best, snap.best);
    // The trainer's own record is untouched.
    let ts: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("checkpoint-40/trainer_state.json")).unwrap())
            .unwrap();
    assert!(ts["best_model_checkpoint"]
        .as_str()
        .unwrap()
        .ends_with("checkpoint-20"));
}

#[test]
fn hf_export_copies_the_whole_directory() {
    let (t, dir) = fixture("hf-basic");
    let r = run(&dir, LayoutKind::Hf);
    let dest = t.path().join("exported-20");
    let plan = r
        .plan_restore(
            "checkpoint-20",
            &RestoreOptions {
                to: Some(dest.clone()),
                ..Default::default()
            },
        )
        .unwrap();
    r.restore(&plan, None).unwrap();
    for f in fs::read_dir(dir.join("checkpoint-20")).unwrap().flatten() {
        assert_eq!(hash(&dest.join(f.file_name())), hash(&f.path()));
    }
    assert!(dir.join("checkpoint-40").is_dir(), "export touches nothing");
    // An existing directory receives the export inside it, like `cp -r`.
    fs::write(dest.join("keep.txt"), b"mine").unwrap();
    let opts = RestoreOptions {
        to: Some(dest.clone()),
        ..Default::default()
    };
    let into = r.plan_restore("checkpoint-20", &opts).unwrap();
    assert_eq!(into.dest, dest.join("checkpoint-20"));
    r.restore(&into, None).unwrap();
    assert!(dest.join("checkpoint-20/trainer_state.json").is_file());
    let again = r.plan_restore("checkpoint-20", &opts);
    assert!(matches!(again, Err(ckpt::Error::Exists { .. })));
    // --force replaces only that checkpoint directory, never the user's directory.
    let forced = RestoreOptions {
        force: true,
        ..opts.clone()
    };
    let plan = r.plan_restore("checkpoint-20", &forced).unwrap();
    assert_eq!(plan.dest, dest.join("checkpoint-20"));
    r.restore(&plan, None).unwrap();
    assert_eq!(fs::read(dest.join("keep.txt")).unwrap(), b"mine");
    assert!(
        !dir.join(".ckpt").exists(),
        "an export creates nothing in the run"
    );
}

#[test]
fn hf_verify_passes_and_catches_a_truncated_safetensors() {
    let (_t, dir) = fixture("hf-basic");
    let r = run(&dir, LayoutKind::Hf);
    let v = r.verify(None).unwrap();
    assert!(v.damaged.is_empty(), "{:?}", v.damaged);
    let st = dir.join("checkpoint-40/model.safetensors");
    let len = fs::metadata(&st).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&st)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    let v = r.verify(None).unwrap();
    assert_eq!(v.damaged.len(), 1, "{:?}", v.damaged);
    assert_eq!(v.damaged[0].name, "checkpoint-40");
    assert_eq!(v.damaged[0].path, st.canonicalize().unwrap());
}

#[test]
fn doctor_on_each_fixture_reports_without_failing() {
    for (name, layout) in [
        ("timm-basic", LayoutKind::Timm),
        ("lightning-basic", LayoutKind::Lightning),
        ("hf-basic", LayoutKind::Hf),
    ] {
        let (_t, dir) = fixture(name);
        let rep = run(&dir, layout).doctor().unwrap();
        let failed: Vec<_> = rep
            .checks
            .iter()
            .filter(|c| c.status == ckpt::engine::CheckStatus::Fail)
            .collect();
        assert!(failed.is_empty(), "{name}: {failed:?}");
        assert!(rep
            .checks
            .iter()
            .any(|c| c.name == "scan" && c.status == ckpt::engine::CheckStatus::Ok));
    }
}

// ---------------------------------------------------------------- prune

/// Files each layout's trainer or logger owns, relative to the run.
fn protected_files(layout: LayoutKind) -> &'static [&'static str] {
    match layout {
        LayoutKind::Timm => &[
            "summary.csv",
            "args.yaml",
            "last.pth.tar",
            "model_best.pth.tar",
        ],
        LayoutKind::Lightning => &["metrics.csv", "hparams.yaml", "checkpoints/last.ckpt"],
        LayoutKind::Hf => &[],
        LayoutKind::Ckpt => &[],
    }
}

#[test]
fn prune_on_each_fixture_never_deletes_what_the_trainer_owns() {
    for (name, sub, layout) in [
        ("timm-basic", "", LayoutKind::Timm),
        ("lightning-basic", "version_0", LayoutKind::Lightning),
        ("hf-basic", "", LayoutKind::Hf),
    ] {
        let (_t, top) = fixture(name);
        let dir = top.join(sub);
        let r = run(&dir, layout);
        let before = scan(&dir, layout);
        let policy = ckpt::rank::RetentionPolicy {
            keep_top_k: Some(1),
            keep_last: Some(1),
            keep_every: None,
        };
        let plan = r.plan_prune(Some(policy), &[]).unwrap();
        for v in &plan.victims {
            for f in &v.files {
                let rel = f.path.strip_prefix(&before.run).unwrap_or(&f.path);
                assert!(
                    ckpt::engine::foreign::may_delete(&before, rel, false),
                    "{name}: plan would delete {}: {:?}",
                    rel.display(),
                    ckpt::engine::foreign::protected_reason(&before, rel, false)
                );
            }
        }
        r.prune(&plan).unwrap();
        for f in protected_files(layout) {
            assert!(dir.join(f).exists(), "{name}: prune removed {f}");
        }
        // Every kept hf directory keeps its trainer_state.json and weights.
        let after = scan(&dir, layout);
        if layout == LayoutKind::Hf {
            for c in &after.checkpoints {
                for f in ["trainer_state.json", "model.safetensors", "config.json"] {
                    assert!(dir.join(&c.name).join(f).is_file(), "{}/{f}", c.name);
                }
            }
        }
        // best and last still resolve after the prune.
        assert_eq!(
            after.best.as_ref().and_then(|a| a.epoch.or(a.step)),
            before.best.as_ref().and_then(|a| a.epoch.or(a.step)),
            "{name}: best moved"
        );
        if layout == LayoutKind::Timm {
            assert!(
                !plan.victims.is_empty(),
                "timm: top-1 + last-1 prunes something"
            );
            assert_eq!(pickle_epoch(&dir.join("last.pth.tar")), Some(7));
        }
    }
}

// ---------------------------------------------------------------- fault walks (in-process)

/// Fail every seam step of a timm restore with --archive-newer in turn: the run keeps
/// a complete `last.pth.tar` (epoch 7 or 3), epoch 7's only copy is never lost, every
/// checkpoint is in the run or in trash, and a retry succeeds.
#[test]
fn timm_restore_survives_a_failure_at_every_step() {
    use ckpt::engine::fault::{self, FaultPlan};
    let opts = RestoreOptions {
        archive_newer: true,
        ..Default::default()
    };
    let (_t, dir) = fixture("timm-basic");
    let epoch7 = hash(&dir.join("last.pth.tar"));
    let c4 = hash(&dir.join("checkpoint-4.pth.tar"));
    let r = run(&dir, LayoutKind::Timm);
    fault::start_recording();
    let plan = r.plan_restore("3", &opts).unwrap();
    r.restore(&plan, None).unwrap();
    let steps = fault::record();
    assert!(steps.len() > 5, "{steps:?}");

    for i in 1..=steps.len() {
        let (_t, dir) = fixture("timm-basic");
        let r = run(&dir, LayoutKind::Timm);
        let plan = r.plan_restore("3", &opts).unwrap();
        fault::arm(FaultPlan::fail(i, libc::EIO));
        let res = r.restore(&plan, None);
        let fired = fault::fired();
        fault::disarm();
        assert!(fired, "step {i} ({}) not reached", steps[i - 1]);
        let last = dir.join("last.pth.tar");
        if res.is_ok() {
            // The alias chain falls back (hardlink → reflink → copy): a completed restore.
            assert!(
                steps[i - 1].starts_with("alias."),
                "step {i} ({})",
                steps[i - 1]
            );
            assert_eq!(pickle_epoch(&last), Some(3));
            assert_eq!(hash(&last), hash(&dir.join("checkpoint-3.pth.tar")));
            continue;
        }

        assert!(
            ckpt::formats::torchzip::verify_file(&last).is_ok(),
            "step {i}"
        );
        assert!(matches!(pickle_epoch(&last), Some(7) | Some(3)), "step {i}");
        let everywhere = |h: u128| {
            hash(&last) == h
                || dir.join("checkpoint-4.pth.tar").is_file()
                    && hash(&dir.join("checkpoint-4.pth.tar")) == h
                || trash(&dir).iter().any(|(_, p)| p.is_file() && hash(p) == h)
        };
        assert!(
            everywhere(epoch7),
            "step {i} ({}): epoch 7 lost",
            steps[i - 1]
        );
        assert!(
            everywhere(c4),
            "step {i} ({}): checkpoint-4 lost",
            steps[i - 1]
        );

        // A fresh plan and retry completes the restore.
        let plan = r.plan_restore("3", &opts).unwrap();
        r.restore(&plan, None)
            .unwrap_or_else(|e| panic!("retry after step {i} failed: {e}"));
        assert_eq!(pickle_epoch(&last), Some(3));
        assert!(trash(&dir).iter().any(|(_, p)| hash(p) == epoch7));
    }
}

/// The same for an hf restore: directories move whole or not at all.
#[test]
fn hf_restore_survives_a_failure_at_every_step() {
    use ckpt::engine::fault::{self, FaultPlan};
    let (_t, dir) = fixture("hf-basic");
    let r = run(&dir, LayoutKind::Hf);
    fault::start_recording();
    let plan = r
        .plan_restore("checkpoint-20", &RestoreOptions::default())
        .unwrap();
    r.restore(&plan, None).unwrap();
    let steps = fault::record();
    for i in 1..=steps.len() {
        let (_t, dir) = fixture("hf-basic");
        let r = run(&dir, LayoutKind::Hf);
        let plan = r
            .plan_restore("checkpoint-20", &RestoreOptions::default())
            .unwrap();
        fault::arm(FaultPlan::fail(i, libc::EIO));
        let res = r.restore(&plan, None);
        fault::disarm();
        assert!(res.is_err(), "step {i} ({})", steps[i - 1]);
        let in_run = dir.join("checkpoint-40");
        let in_trash: Vec<_> = trash(&dir)
            .into_iter()
            .filter(|(n, _)| n == Path::new("checkpoint-40"))
            .collect();
        assert_eq!(
            usize::from(in_run.is_dir()) + in_trash.len(),
            1,
            "step {i}: checkpoint-40 must be in exactly one place"
        );
        let d40 = if in_run.is_dir() {
            in_run
        } else {
            in_trash[0].1.clone()
        };
        assert_eq!(
            fs::read_dir(&d40).unwrap().count(),
            7,
            "step {i}: files lost"
        );
        let plan = r
            .plan_restore("checkpoint-20", &RestoreOptions::default())
            .unwrap();
        r.restore(&plan, None).unwrap();
        assert!(!dir.join("checkpoint-40").exists());
    }
}

// ---------------------------------------------------------------- integration fixes

/// Opened at the Lightning logger dir (`lightning-basic/` holding `version_0/`), the run
/// resolves to `version_0`: pins land where the scanner reads them and prune removes
/// the planned file, not an empty list that apply then refuses.
#[test]
fn lightning_logger_dir_pin_and_prune_act_on_the_version_run() {
    let (_t, top) = fixture("lightning-basic");
    let v0 = top.join("version_0");
    let ck = lightning_ckpts(&top);
    let e1 = ck.join("epoch=1-step=8-val_loss=0.500.ckpt");
    let e3 = ck.join("epoch=3-step=16-val_loss=0.400.ckpt");
    let r = Run::open(&top, None, EngineOptions::default()).unwrap();
    assert_eq!(r.layout, LayoutKind::Lightning);
    assert_eq!(
        r.dir.canonicalize().unwrap(),
        v0.canonicalize().unwrap(),
        "Run::open must resolve the logger dir to its version run"
    );
    let policy = ckpt::rank::RetentionPolicy {
        keep_top_k: Some(1),
        ..Default::default()
    };

    // Pinned: the rescan (from the logger dir, as the monitor does) sees it; no victim.
    r.set_pinned("1", true).unwrap();
    assert!(v0.join(".ckpt/state.json").is_file());
    assert!(!top.join(".ckpt").exists(), "state written beside the run");
    let snap = ckpt::layout::scan(&top, None).unwrap();
    let c1 = snap.find("1").unwrap();
    assert!(c1.pinned, "pin not visible in a rescan: {snap:?}");
    let plan = r.plan_prune(Some(policy), &[]).unwrap();
    assert!(plan.victims.is_empty(), "{plan:?}");

    // Unpinned: epoch 1 (val_loss .5, worse than .4) is the one victim and goes.
    r.set_pinned("1", false).unwrap();
    assert!(!scan(&top, LayoutKind::Lightning).find("1").unwrap().pinned);
    let plan = r.plan_prune(Some(policy), &[]).unwrap();
    assert_eq!(plan.victims.len(), 1, "{plan:?}");
    assert_eq!(plan.victims[0].epoch, Some(1));
    assert_eq!(plan.victims[0].files.len(), 1, "{plan:?}");
    let rep = r.prune(&plan).unwrap();
    assert!(rep.refused.is_empty(), "{rep:?}");
    assert_eq!(rep.removed.len(), 1);
    assert!(!e1.exists());
    assert!(e3.is_file());
    for f in ["metrics.csv", "hparams.yaml", "checkpoints/last.ckpt"] {
        assert!(v0.join(f).is_file(), "prune removed {f}");
    }
    let after = scan(&top, LayoutKind::Lightning);
    assert_eq!(
        after
            .checkpoints
            .iter()
            .filter(|c| c.epoch == Some(1))
            .count(),
        0
    );
}

/// Prune consults the protected set for every file: milestones stay unless named,
/// the trainer's files and alias names (even a hardlinked `model_best`) survive.
#[test]
fn timm_prune_keeps_milestones_unless_named_and_never_touches_trainer_files() {
    let (_t, dir) = fixture("timm-basic");
    fs::copy(
        dir.join("checkpoint-3.pth.tar"),
        dir.join("milestone-2.pth.tar"),
    )
    .unwrap();
    let guarded = [
        "summary.csv",
        "args.yaml",
        "last.pth.tar",
        "model_best.pth.tar",
    ];
    let before: Vec<u128> = guarded.iter().map(|f| hash(&dir.join(f))).collect();
    let r = run(&dir, LayoutKind::Timm);
    let policy = ckpt::rank::RetentionPolicy {
        keep_top_k: Some(1),
        ..Default::default()
    };
    let snap = scan(&dir, LayoutKind::Timm);
    let check_plan = |plan: &ckpt::engine::PrunePlan, named: bool| {
        for v in &plan.victims {
            for f in &v.files {
                let rel = f.path.strip_prefix(&dir).unwrap();
                assert!(
                    ckpt::engine::foreign::may_delete(&snap, rel, named),
                    "plan would delete {}",
                    rel.display()
                );
                assert!(!guarded.contains(&rel.to_str().unwrap()), "{rel:?}");
            }
        }
    };

    // By policy alone the milestone is kept, as a milestone.
    let plan = r.plan_prune(Some(policy), &[]).unwrap();
    check_plan(&plan, false);
    assert!(plan.victims.iter().all(|v| v.name != "milestone-2.pth.tar"));
    assert!(plan
        .kept
        .iter()
        .any(|(n, why)| n == "milestone-2.pth.tar"
            && why.contains(&ckpt::rank::KeepReason::Milestone)));
    assert!(!plan.victims.is_empty(), "top-1 prunes checkpoint-3/4");

    // Named, it goes too; everything the trainer owns stays, byte for byte.
    let plan = r
        .plan_prune(Some(policy), &["milestone-2.pth.tar".into()])
        .unwrap();
    check_plan(&plan, true);
    let rep = r.prune(&plan).unwrap();
    assert!(rep.refused.is_empty(), "{rep:?}");
    assert!(!dir.join("milestone-2.pth.tar").exists());
    assert!(!dir.join("checkpoint-3.pth.tar").exists());
    assert!(!dir.join("checkpoint-4.pth.tar").exists());
    assert!(dir.join("checkpoint-5.pth.tar").is_file());
    let after: Vec<u128> = guarded.iter().map(|f| hash(&dir.join(f))).collect();
    assert_eq!(before, after);
    assert_eq!(pickle_epoch(&dir.join("last.pth.tar")), Some(7));
    assert_eq!(pickle_epoch(&dir.join("model_best.pth.tar")), Some(5));
}

#[test]
fn timm_restore_plan_names_the_old_last_and_lists_only_real_newer_checkpoints() {
    let (_t, dir) = fixture("timm-basic");
    let r = run(&dir, LayoutKind::Timm);
    let plan = r.plan_restore("5", &RestoreOptions::default()).unwrap();
    assert_eq!(plan.backup_epoch, Some(7));
    assert!(plan.backup.is_some());
    assert!(plan.newer.is_empty(), "{:?}", plan.newer);
    let plan = r.plan_restore("3", &RestoreOptions::default()).unwrap();
    assert!(
        !plan.newer.iter().any(|n| n.contains("last")),
        "{:?}",
        plan.newer
    );
}

#[test]
fn timm_restore_archive_newer_keeps_a_promoted_best_in_place() {
    let (_t, dir) = fixture("timm-basic");
    let r = run(&dir, LayoutKind::Timm);
    r.promote("4").unwrap();
    let c4 = hash(&dir.join("checkpoint-4.pth.tar"));
    let opts = RestoreOptions {
        archive_newer: true,
        ..Default::default()
    };
    let plan = r.plan_restore("3", &opts).unwrap();
    assert_eq!(
        plan.kept_newer,
        vec![(
            "checkpoint-4.pth.tar".to_string(),
            "pinned, held best".to_string()
        )]
    );
    assert!(!plan.newer.contains(&"checkpoint-4.pth.tar".to_string()));
    r.restore(&plan, None).unwrap();
    assert_eq!(hash(&dir.join("checkpoint-4.pth.tar")), c4);
    assert!(!dir.join("checkpoint-5.pth.tar").exists());
    assert_eq!(hash(&dir.join("model_best.pth.tar")), c4);
    let snap = scan(&dir, LayoutKind::Timm);
    let best = snap.best.unwrap();
    assert_eq!(best.epoch, Some(4));
    assert!(best.held);
}

#[test]
fn timm_export_refuses_the_run_and_creates_no_ckpt_dir() {
    let (t, dir) = fixture("timm-basic");
    let r = run(&dir, LayoutKind::Timm);
    for inside in [
        dir.join("checkpoint-3.pth.tar"),
        dir.join("last.pth.tar"),
        dir.join("new.pth.tar"),
    ] {
        let opts = RestoreOptions {
            to: Some(inside),
            force: true,
            ..Default::default()
        };
        assert!(matches!(
            r.plan_restore("4", &opts),
            Err(ckpt::Error::Protected(_))
        ));
    }
    let out = t.path().join("out");
    fs::create_dir(&out).unwrap();
    let plan = r
        .plan_restore(
            "4",
            &RestoreOptions {
                to: Some(out.clone()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(plan.dest, out.join("checkpoint-4.pth.tar"));
    r.restore(&plan, None).unwrap();
    assert_eq!(
        hash(&out.join("checkpoint-4.pth.tar")),
        hash(&dir.join("checkpoint-4.pth.tar"))
    );
    assert!(!dir.join(".ckpt").exists(), "an export only reads the run");
}

#[test]
fn hf_restore_plan_counts_steps() {
    let (_t, dir) = fixture("hf-basic");
    let r = run(&dir, LayoutKind::Hf);
    let plan = r.plan_restore("20", &RestoreOptions::default()).unwrap();
    assert_eq!(plan.step, Some(20));
    assert_eq!(plan.epoch, None);
}

#[test]
fn hf_restore_refuses_when_a_newer_checkpoint_is_held() {
    let (_t, dir) = fixture("hf-basic");
    let r = run(&dir, LayoutKind::Hf);
    r.promote("checkpoint-40").unwrap();
    match r.plan_restore("20", &RestoreOptions::default()) {
        Err(ckpt::Error::Protected(msg)) => assert!(msg.contains("checkpoint-40"), "{msg}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(dir.join("checkpoint-40").is_dir());
}
