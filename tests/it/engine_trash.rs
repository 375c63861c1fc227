//! `.ckpt/trash/` is part of the run (DESIGN §5): listed with epoch/step, origin, age
//! and bytes; restored as a regular checkpoint (never over an existing one); emptied
//! with exact bytes; and a trash deleted by hand never makes `verify` fail.

use crate::util;

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::util::engine::{assert_run_consistent, new_run, payload, save};
use ckpt::engine::trash::TrashOrigin;
use ckpt::engine::{EngineOptions, RestoreOptions, Run};
use ckpt::snapshot::LayoutKind;

fn archive_newer(run: &Run, epoch: &str) {
    let plan = run
        .plan_restore(
            epoch,
            &RestoreOptions {
                archive_newer: true,
                ..Default::default()
            },
        )
        .unwrap();
    run.restore(&plan, None).unwrap();
}

fn foreign(dir: &Path, layout: LayoutKind) -> Run {
    Run::open(dir, Some(layout), EngineOptions::default()).unwrap()
}

#[test]
fn native_trash_lists_archived_checkpoints_with_epochs_and_exact_bytes() {
    let (_t, run) = new_run();
    for (e, m) in [(1, 10.0), (2, 30.0), (3, 20.0), (4, 25.0)] {
        save(&run, e, Some(m));
    }
    archive_newer(&run, "2");
    let l = run.trash().unwrap();
    let epochs: Vec<_> = l.entries.iter().map(|e| e.epoch).collect();
    assert_eq!(epochs, vec![Some(3), Some(4)]);
    assert!(l
        .entries
        .iter()
        .all(|e| e.origin == TrashOrigin::ArchivedNewer));
    assert!(l
        .entries
        .iter()
        .all(|e| e.recorded && e.trashed_at.is_some()));
    let want: u64 = [3, 4].iter().map(|&e| payload(e, 0).len() as u64).sum();
    assert_eq!(l.bytes, want);
    assert_eq!(l.reclaimable, want);
    assert_eq!(run.snapshot().unwrap().trash_bytes, want);
}

#[test]
fn native_trash_restore_brings_a_checkpoint_back_and_never_over_an_existing_one() {
    let (_t, run) = new_run();
    for (e, m) in [(1, 10.0), (2, 30.0), (3, 20.0), (4, 50.0)] {
        save(&run, e, Some(m));
    }
    archive_newer(&run, "2");
    // Epoch 4 (the best by metric) comes back: listed, ranked, verified.
    let plan = run.plan_trash_restore("4").unwrap();
    assert_eq!(plan.dest, run.dir.join("checkpoint-4.pth.tar"));
    assert!(plan.becomes_best);
    let rep = run.trash_restore(&plan, None).unwrap();
    assert!(rep.became_best);
    let snap = run.snapshot().unwrap();
    let c = snap.find("4").unwrap();
    assert_eq!(c.state, ckpt::snapshot::CheckpointState::Complete);
    assert_eq!(
        fs::read(run.dir.join("checkpoint-4.pth.tar")).unwrap(),
        payload(4, 0)
    );
    assert_eq!(snap.best.as_ref().and_then(|b| b.epoch), Some(4));
    assert!(run.verify(None).unwrap().damaged.is_empty());
    let m = assert_run_consistent(&run.dir);
    assert_eq!(m.checkpoints.iter().filter(|e| e.epoch == 4).count(), 1);
    assert_eq!(run.trash().unwrap().entries.len(), 1);

    // The trainer resumed at 2 and wrote epoch 3 again: the trashed 3 may not replace it.
    save(&run, 3, Some(21.0));
    let before = fs::read(run.dir.join("checkpoint-3.pth.tar")).unwrap();
    let err = run.plan_trash_restore("3").unwrap_err().to_string();
    assert!(err.contains("never replaces"), "{err}");
    assert_eq!(
        fs::read(run.dir.join("checkpoint-3.pth.tar")).unwrap(),
        before
    );
    // An unknown epoch is a typed error.
    assert!(matches!(
        run.plan_trash_restore("9"),
        Err(ckpt::Error::UnknownCheckpoint { .. })
    ));
}

#[test]
fn native_trash_empty_frees_exact_bytes_and_honours_older_than() {
    let (_t, run) = new_run();
    for e in 1..=4 {
        save(&run, e, Some(e as f64));
    }
    archive_newer(&run, "1");
    let l = run.trash().unwrap();
    assert_eq!(l.entries.len(), 3);
    // Nothing is a day old yet.
    let p = run
        .plan_trash_empty(Some(Duration::from_secs(86_400)))
        .unwrap();
    assert!(p.entries.is_empty());
    assert_eq!(p.kept.len(), 3);
    assert_eq!(p.bytes_freed, 0);
    let p = run.plan_trash_empty(None).unwrap();
    let want: u64 = (2..=4).map(|e| payload(e, 0).len() as u64).sum();
    assert_eq!((p.bytes, p.bytes_freed), (want, want));
    assert_eq!(p.records.len(), 3);
    let rep = run.trash_empty(&p).unwrap();
    assert_eq!(rep.bytes_freed, want);
    assert_eq!(rep.removed.len(), 3);
    assert!(rep.refused.is_empty());
    assert_eq!(run.trash().unwrap().bytes, 0);
    let m = assert_run_consistent(&run.dir);
    assert!(m.checkpoints.iter().all(|e| !e.path.starts_with("trash/")));
    assert!(run.verify(None).unwrap().damaged.is_empty());
}

#[test]
fn native_trash_empty_refuses_what_changed_since_the_plan() {
    let (_t, run) = new_run();
    for e in 1..=3 {
        save(&run, e, Some(e as f64));
    }
    archive_newer(&run, "1");
    let p = run.plan_trash_empty(None).unwrap();
    let changed = &p.entries[0].path;
    fs::write(changed, b"someone else's bytes").unwrap();
    let rep = run.trash_empty(&p).unwrap();
    assert_eq!(rep.refused.len(), 1);
    assert!(changed.exists());
    assert_eq!(rep.removed.len(), 1);
}

#[test]
fn a_run_whose_trash_was_deleted_by_hand_still_verifies() {
    let (_t, run) = new_run();
    for e in 1..=3 {
        save(&run, e, Some(e as f64));
    }
    archive_newer(&run, "1");
    fs::remove_dir_all(run.dir.join(".ckpt/trash")).unwrap();
    let v = run.verify(None).unwrap();
    assert!(v.damaged.is_empty(), "{:?}", v.damaged);
    assert_eq!(v.notes.len(), 2, "{:?}", v.notes);
    let l = run.trash().unwrap();
    assert_eq!(l.missing.len(), 2);
    // `trash empty` drops the stale records; the run is clean again.
    let p = run.plan_trash_empty(None).unwrap();
    assert_eq!(p.records.len(), 2);
    let rep = run.trash_empty(&p).unwrap();
    assert_eq!(rep.records_dropped, 2);
    let v = run.verify(None).unwrap();
    assert!(v.damaged.is_empty() && v.notes.is_empty(), "{v:?}");
}

#[test]
fn hf_trash_restore_puts_a_step_dir_back_and_says_it_becomes_the_resume_point() {
    let (_t, dir) = util::fixtures::unpack("hf-basic");
    let run = foreign(&dir, LayoutKind::Hf);
    let plan = run.plan_restore("20", &RestoreOptions::default()).unwrap();
    run.restore(&plan, None).unwrap();
    assert!(!dir.join("checkpoint-40").exists());
    let l = run.trash().unwrap();
    assert_eq!(l.entries.len(), 1);
    let e = &l.entries[0];
    assert_eq!(
        (e.step, e.is_dir, e.origin),
        (Some(40), true, TrashOrigin::ArchivedNewer)
    );
    assert!(e.bytes > 0 && e.files.len() >= 5);
    assert_eq!(run.snapshot().unwrap().trash_bytes, e.bytes);
    let p = run.plan_trash_restore("40").unwrap();
    assert_eq!(p.dest, dir.join("checkpoint-40"));
    assert!(p.becomes_resume_point);
    // Someone made checkpoint-40 again in between: never replaced.
    fs::create_dir(dir.join("checkpoint-40")).unwrap();
    assert!(run.trash_restore(&p, None).is_err());
    fs::remove_dir(dir.join("checkpoint-40")).unwrap();
    run.trash_restore(&p, None).unwrap();
    assert!(dir.join("checkpoint-40/trainer_state.json").is_file());
    assert_eq!(
        run.snapshot().unwrap().find("40").map(|c| c.step),
        Some(Some(40))
    );
    assert_eq!(run.trash().unwrap().entries.len(), 0);
}

#[test]
fn timm_previous_last_comes_back_under_its_epoch_name() {
    let (_t, dir) = util::fixtures::unpack("timm-basic");
    let run = foreign(&dir, LayoutKind::Timm);
    let last_bytes = fs::read(dir.join("last.pth.tar")).unwrap();
    let plan = run.plan_restore("4", &RestoreOptions::default()).unwrap();
    assert!(plan.backup.is_some());
    run.restore(&plan, None).unwrap();
    let l = run.trash().unwrap();
    let e = l
        .entries
        .iter()
        .find(|e| e.origin == TrashOrigin::PreviousLast)
        .unwrap();
    assert_eq!(e.epoch, Some(7));
    let p = run.plan_trash_restore("7").unwrap();
    assert_eq!(p.dest, dir.join("checkpoint-7.pth.tar"));
    run.trash_restore(&p, None).unwrap();
    assert_eq!(
        fs::read(dir.join("checkpoint-7.pth.tar")).unwrap(),
        last_bytes
    );
    let snap = run.snapshot().unwrap();
    assert!(snap.find("7").is_some());
    assert!(run.trash().unwrap().entries.is_empty());
}
