//! Each real fixture run yields exactly the facts tests/fixtures/README.md states,
//! plus detection, the --layout override, discovery, pins and temps.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::util::fixtures::{names, unpack};
use ckpt::layout;
use ckpt::rank::Mode;
use ckpt::snapshot::LayoutKind;
use ckpt::snapshot::{Checkpoint, CheckpointState, Role, RunSnapshot};

fn by_name<'a>(s: &'a RunSnapshot, name: &str) -> &'a Checkpoint {
    s.checkpoints
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no checkpoint {name} in {:?}", names(s)))
}

fn approx(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-6)
}

#[test]
fn timm_fixture_yields_the_readme_facts() {
    let (_t, run) = unpack("timm-basic");
    assert_eq!(layout::detect(&run), Some(LayoutKind::Timm));
    let s = layout::scan(&run, None).unwrap();
    assert_eq!(s.layout, LayoutKind::Timm);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let m = s.metric.clone().unwrap();
    assert_eq!((m.name.as_str(), m.mode), ("eval_top1", Mode::Max));

    // Sorted by (epoch, step): recovery 2/1, epochs 3, 4, 5, and 7 held only by last.pth.tar.
    assert_eq!(
        names(&s),
        [
            "recovery-2-1.pth.tar",
            "checkpoint-3.pth.tar",
            "checkpoint-4.pth.tar",
            "checkpoint-5.pth.tar",
            "last.pth.tar"
        ]
    );
    let epochs: Vec<_> = s.checkpoints.iter().map(|c| c.epoch).collect();
    assert_eq!(epochs, [Some(2), Some(3), Some(4), Some(5), Some(7)]);
    let rec = by_name(&s, "recovery-2-1.pth.tar");
    assert_eq!((rec.epoch, rec.batch), (Some(2), Some(1)));
    assert_eq!(rec.roles, [Role::Recovery]);
    assert_eq!(rec.metric, None, "a mid-epoch save has no eval metric");

    // Metrics from summary.csv.
    for (name, top1) in [
        ("checkpoint-3.pth.tar", 50.0),
        ("checkpoint-4.pth.tar", 40.0),
        ("checkpoint-5.pth.tar", 62.5),
        ("last.pth.tar", 35.0),
    ] {
        let c = by_name(&s, name);
        assert!(approx(c.metric, top1), "{name}: {:?}", c.metric);
        assert!(approx(
            c.metrics.get("eval_top5").copied(),
            c.metrics["eval_top5"]
        ));
        assert!(c.metrics.contains_key("eval_loss"));
        assert_eq!(c.state, CheckpointState::Complete);
        assert_eq!(c.bytes, 3_041_705);
        assert!(c.mtime.is_some() && c.inode.is_some());
    }
    assert!(approx(
        by_name(&s, "checkpoint-5.pth.tar")
            .metrics
            .get("eval_top5")
            .copied(),
        43.75
    ));

    // Best: epoch 5 by hardlink; last: epoch 7 read from the pickle, the only copy.
    let best = s.best.clone().unwrap();
    assert_eq!(best.path, PathBuf::from("model_best.pth.tar"));
    assert_eq!(best.target.as_deref(), Some("checkpoint-5.pth.tar"));
    assert_eq!((best.epoch, best.how.as_str()), (Some(5), "hardlink"));
    assert_eq!(s.with_role(Role::Best).unwrap().epoch, Some(5));
    let c5 = by_name(&s, "checkpoint-5.pth.tar");
    assert_eq!(
        c5.paths,
        [
            PathBuf::from("checkpoint-5.pth.tar"),
            PathBuf::from("model_best.pth.tar")
        ]
    );

    let last = s.last.clone().unwrap();
    assert_eq!(last.path, PathBuf::from("last.pth.tar"));
    assert_eq!(last.target.as_deref(), Some("last.pth.tar"));
    assert_eq!(last.epoch, Some(7));
    let l = s.with_role(Role::Last).unwrap();
    assert_eq!((l.name.as_str(), l.epoch), ("last.pth.tar", Some(7)));
    assert_eq!(l.paths, [PathBuf::from("last.pth.tar")]);
    assert!(s.temps.is_empty());
    assert_eq!(s.find("5").unwrap().name, "checkpoint-5.pth.tar");
    assert_eq!(s.find("7").unwrap().name, "last.pth.tar");
}

#[test]
fn lightning_fixture_yields_the_readme_facts_from_any_entry_point() {
    let (_t, root) = unpack("lightning-basic");
    let version = root.join("version_0");
    for dir in [root.clone(), version.clone(), version.join("checkpoints")] {
        assert_eq!(
            layout::detect(&dir),
            Some(LayoutKind::Lightning),
            "{}",
            dir.display()
        );
        let s = layout::scan(&dir, None).unwrap();
        assert_eq!(s.layout, LayoutKind::Lightning);
        assert!(s.run.ends_with("version_0"), "{}", s.run.display());
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        let m = s.metric.clone().unwrap();
        assert_eq!((m.name.as_str(), m.mode), ("val_loss", Mode::Min));
        assert_eq!(
            names(&s),
            [
                "epoch=1-step=8-val_loss=0.500.ckpt",
                "epoch=3-step=16-val_loss=0.400.ckpt"
            ]
        );
        let e: Vec<_> = s.checkpoints.iter().map(|c| (c.epoch, c.step)).collect();
        assert_eq!(e, [(Some(1), Some(8)), (Some(3), Some(16))]);
        assert!(approx(s.checkpoints[0].metric, 0.5));
        assert!(approx(s.checkpoints[1].metric, 0.4));
        assert_eq!(
            s.checkpoints[0].paths,
            [PathBuf::from(
                "checkpoints/epoch=1-step=8-val_loss=0.500.ckpt"
            )]
        );
        let last = s.last.clone().unwrap();
        assert_eq!(last.path, PathBuf::from("checkpoints/last.ckpt"));
        assert_eq!((last.epoch, last.how.as_str()), (Some(3), "copy"));
        // The copy is one of the files holding epoch 3, after its primary.
        assert_eq!(
            s.checkpoints[1].paths,
            [
                PathBuf::from("checkpoints/epoch=3-step=16-val_loss=0.400.ckpt"),
                PathBuf::from("checkpoints/last.ckpt")
            ]
        );
        assert_eq!(s.with_role(Role::Last).unwrap().epoch, Some(3));
        assert_eq!(s.with_role(Role::Best).unwrap().epoch, Some(3));
        assert_eq!(s.best.as_ref().unwrap().epoch, Some(3));
    }
}

#[test]
fn lightning_last_as_relative_symlink_resolves_to_its_target() {
    let (_t, root) = unpack("lightning-basic");
    let cdir = root.join("version_0/checkpoints");
    fs::remove_file(cdir.join("last.ckpt")).unwrap();
    std::os::unix::fs::symlink("epoch=1-step=8-val_loss=0.500.ckpt", cdir.join("last.ckpt"))
        .unwrap();
    let s = layout::scan(&root, None).unwrap();
    let last = s.last.clone().unwrap();
    assert_eq!((last.epoch, last.how.as_str()), (Some(1), "symlink"));
    assert_eq!(s.checkpoints.len(), 2);
    assert_eq!(s.with_role(Role::Best).unwrap().epoch, Some(3));
}

#[test]
fn lightning_best_ckpt_written_by_promote_is_the_best() {
    let (_t, root) = unpack("lightning-basic");
    let cdir = root.join("version_0/checkpoints");
    fs::hard_link(
        cdir.join("epoch=1-step=8-val_loss=0.500.ckpt"),
        cdir.join("best.ckpt"),
    )
    .unwrap();
    let s = layout::scan(&root, None).unwrap();
    let best = s.best.unwrap();
    assert_eq!(best.path, PathBuf::from("checkpoints/best.ckpt"));
    assert_eq!((best.epoch, best.how.as_str()), (Some(1), "hardlink"));
}

#[test]
fn hf_fixture_yields_the_readme_facts() {
    let (_t, run) = unpack("hf-basic");
    assert_eq!(layout::detect(&run), Some(LayoutKind::Hf));
    let s = layout::scan(&run, None).unwrap();
    assert_eq!(s.layout, LayoutKind::Hf);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let m = s.metric.clone().unwrap();
    assert_eq!((m.name.as_str(), m.mode), ("eval_loss", Mode::Min));
    assert_eq!(names(&s), ["checkpoint-20", "checkpoint-40"]);
    let steps: Vec<_> = s.checkpoints.iter().map(|c| (c.epoch, c.step)).collect();
    assert_eq!(steps, [(None, Some(20)), (None, Some(40))]);
    let c20 = by_name(&s, "checkpoint-20");
    assert!(approx(c20.metric, 0.5));
    assert!(approx(c20.metrics.get("epoch").copied(), 2.5));
    assert!(approx(by_name(&s, "checkpoint-40").metric, 0.75));
    // Size = sum of the directory's files.
    let sum: u64 = fs::read_dir(run.join("checkpoint-20"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert_eq!(c20.bytes, sum);
    // best_model_checkpoint "hf-basic/checkpoint-20" is relative to the training cwd.
    let best = s.best.clone().unwrap();
    assert_eq!(best.target.as_deref(), Some("checkpoint-20"));
    assert_eq!(best.step, Some(20));
    assert_eq!(s.with_role(Role::Best).unwrap().step, Some(20));
    assert_eq!(s.with_role(Role::Last).unwrap().step, Some(40));
    assert_eq!(s.find("40").unwrap().name, "checkpoint-40");
}

#[test]
fn hf_training_args_are_read_as_data() {
    let (_t, run) = unpack("hf-basic");
    let v =
        ckpt::formats::torchzip::read_pickle_value(&run.join("checkpoint-40/training_args.bin"))
            .unwrap();
    assert_eq!(
        v.get("metric_for_best_model").and_then(|v| v.as_str()),
        Some("eval_loss")
    );
    assert_eq!(
        v.get("greater_is_better").and_then(|v| v.as_bool()),
        Some(false)
    );
}

#[test]
fn hf_stale_absolute_best_path_resolves_by_last_component() {
    let (_t, run) = unpack("hf-basic");
    let p = run.join("checkpoint-40/trainer_state.json");
    let text = fs::read_to_string(&p).unwrap().replace(
        "\"hf-basic/checkpoint-20\"",
        "\"/old/cluster/scratch/hf-basic/checkpoint-20\"",
    );
    fs::write(&p, text).unwrap();
    let s = layout::scan(&run, None).unwrap();
    assert_eq!(s.with_role(Role::Best).unwrap().name, "checkpoint-20");
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
}

#[test]
fn hf_temp_dirs_are_listed_and_mark_writing() {
    let (_t, run) = unpack("hf-basic");
    fs::create_dir(run.join("tmp-checkpoint-40")).unwrap();
    fs::create_dir(run.join("tmp-checkpoint-60")).unwrap();
    let s = layout::scan(&run, None).unwrap();
    assert_eq!(
        s.temps,
        [
            PathBuf::from("tmp-checkpoint-40"),
            PathBuf::from("tmp-checkpoint-60")
        ]
    );
    assert_eq!(by_name(&s, "checkpoint-40").state, CheckpointState::Writing);
    assert_eq!(
        by_name(&s, "checkpoint-20").state,
        CheckpointState::Complete
    );
}

#[test]
fn timm_temps_are_listed() {
    let (_t, run) = unpack("timm-basic");
    fs::write(run.join("tmp.pth.tar"), b"partial").unwrap();
    fs::write(run.join("recovery_tmp.pth.tar"), b"partial").unwrap();
    let s = layout::scan(&run, None).unwrap();
    assert_eq!(
        s.temps,
        [
            PathBuf::from("recovery_tmp.pth.tar"),
            PathBuf::from("tmp.pth.tar")
        ]
    );
    assert_eq!(s.checkpoints.len(), 5);
}

#[test]
fn layout_override_is_honoured_and_mismatch_is_harmless() {
    let (_t, run) = unpack("timm-basic");
    let s = layout::scan(&run, Some(LayoutKind::Timm)).unwrap();
    assert_eq!(s.checkpoints.len(), 5);
    let s = layout::scan(&run, Some(LayoutKind::Hf)).unwrap();
    assert_eq!(s.layout, LayoutKind::Hf);
    assert!(s.checkpoints.is_empty());
    let s = layout::scan(&run, Some(LayoutKind::Lightning)).unwrap();
    assert_eq!(s.layout, LayoutKind::Lightning);
    assert!(s.best.is_none() || s.best.as_ref().unwrap().target.is_none());
    assert_eq!("transformers".parse::<LayoutKind>(), Ok(LayoutKind::Hf));
    assert!("keras".parse::<LayoutKind>().is_err());
}

#[test]
fn detect_and_scan_refuse_what_is_not_a_run() {
    let t = tempfile::tempdir().unwrap();
    assert_eq!(layout::detect(t.path()), None);
    assert!(layout::scan(t.path(), None).is_err());
    assert!(layout::scan(&t.path().join("missing"), None).is_err());
    // A native run is detected by its manifest even when names look like timm.
    fs::create_dir(t.path().join(".ckpt")).unwrap();
    fs::write(t.path().join(".ckpt/manifest.json"), b"{}").unwrap();
    fs::write(t.path().join("checkpoint-1.pth.tar"), b"x").unwrap();
    assert_eq!(layout::detect(t.path()), Some(LayoutKind::Ckpt));
    // A timm run ckpt has acted on keeps state.json, not a manifest: still timm.
    fs::remove_file(t.path().join(".ckpt/manifest.json")).unwrap();
    fs::write(t.path().join(".ckpt/state.json"), b"{}").unwrap();
    assert_eq!(layout::detect(t.path()), Some(LayoutKind::Timm));
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[test]
fn discover_runs_finds_each_run_and_each_lightning_version() {
    let root = tempfile::tempdir().unwrap();
    for n in ["timm-basic", "lightning-basic", "hf-basic"] {
        let (_t, run) = unpack(n);
        let dest = root.path().join("runs").join(n);
        copy_dir(&run, &dest);
    }
    let runs = root.path().join("runs");
    let found = layout::discover_runs(&runs);
    assert_eq!(
        found,
        [
            runs.join("hf-basic"),
            runs.join("lightning-basic/version_0"),
            runs.join("timm-basic")
        ]
    );
    // A run given directly is itself.
    assert_eq!(
        layout::discover_runs(&runs.join("timm-basic")),
        [runs.join("timm-basic")]
    );
    // Several versions: each is a run; scanning the parent picks the newest and says so.
    let lb = runs.join("lightning-basic");
    copy_dir(&lb.join("version_0"), &lb.join("version_1"));
    assert_eq!(
        layout::discover_runs(&lb),
        [lb.join("version_0"), lb.join("version_1")]
    );
    let s = layout::scan(&lb, None).unwrap();
    assert!(s.run.ends_with("version_1"));
    assert!(
        s.warnings
            .iter()
            .any(|w| w.contains("2 Lightning versions")),
        "{:?}",
        s.warnings
    );
    // Deeper than 3 levels below is not searched; a symlinked dir is not entered.
    let deep = root.path().join("a/b/c/d/e");
    copy_dir(&runs.join("timm-basic"), &deep);
    std::os::unix::fs::symlink(root.path(), root.path().join("a/loop")).unwrap();
    assert!(layout::discover_runs(&root.path().join("a")).is_empty());
}

#[test]
fn pins_and_held_best_come_from_ckpt_state() {
    let (_t, run) = unpack("hf-basic");
    fs::create_dir(run.join(".ckpt")).unwrap();
    fs::write(
        run.join(".ckpt/state.json"),
        r#"{"format":"ckpt-state","version":1,"pinned":["checkpoint-20"],"best_held":"checkpoint-40"}"#,
    )
    .unwrap();
    let s = layout::scan(&run, None).unwrap();
    assert!(by_name(&s, "checkpoint-20").pinned);
    assert!(!by_name(&s, "checkpoint-40").pinned);
    let best = s.best.clone().unwrap();
    assert_eq!(
        (best.target.as_deref(), best.held),
        (Some("checkpoint-40"), true)
    );
    assert_eq!(s.with_role(Role::Best).unwrap().name, "checkpoint-40");
    assert_eq!(
        s.checkpoints
            .iter()
            .filter(|c| c.has_role(Role::Best))
            .count(),
        1
    );

    // timm: model_best is a real file, so a hold it disagrees with is reported, not obeyed.
    let (_t2, timm) = unpack("timm-basic");
    fs::create_dir(timm.join(".ckpt")).unwrap();
    let state = |held: &str| {
        format!(r#"{{"format":"ckpt-state","version":1,"pinned":[],"best_held":"{held}"}}"#)
    };
    fs::write(timm.join(".ckpt/state.json"), state("checkpoint-5.pth.tar")).unwrap();
    let s = layout::scan(&timm, None).unwrap();
    assert!(s.best.as_ref().unwrap().held);
    fs::write(timm.join(".ckpt/state.json"), state("checkpoint-3.pth.tar")).unwrap();
    let s = layout::scan(&timm, None).unwrap();
    assert_eq!(s.with_role(Role::Best).unwrap().epoch, Some(5));
    assert!(
        s.warnings
            .iter()
            .any(|w| w.contains("held on checkpoint-3")),
        "{:?}",
        s.warnings
    );
}

#[test]
fn timm_milestones_are_listed_outside_the_ranking() {
    let (_t, run) = unpack("timm-basic");
    fs::copy(
        run.join("checkpoint-3.pth.tar"),
        run.join("milestone-3.pth.tar"),
    )
    .unwrap();
    let s = layout::scan(&run, None).unwrap();
    let m = by_name(&s, "milestone-3.pth.tar");
    assert_eq!(
        (m.epoch, m.roles.as_slice()),
        (Some(3), &[Role::Milestone][..])
    );
    assert_eq!(m.metric, None);
    assert!(approx(m.metrics.get("eval_top1").copied(), 50.0));
    assert_eq!(s.find("3").unwrap().name, "checkpoint-3.pth.tar");
}

#[test]
fn timm_nan_best_and_saver_disagreement_are_warned() {
    let (_t, run) = unpack("timm-basic");
    let p = run.join("summary.csv");
    let text = fs::read_to_string(&p).unwrap().replace(",62.5,", ",nan,");
    fs::write(&p, text).unwrap();
    fs::remove_file(run.join("checkpoint-4.pth.tar")).unwrap();
    let s = layout::scan(&run, None).unwrap();
    let c5 = by_name(&s, "checkpoint-5.pth.tar");
    assert!(c5.metric.unwrap().is_nan());
    assert_eq!(c5.metric_raw.as_deref(), Some("nan"));
    assert!(
        s.warnings.iter().any(|w| w.contains("non-finite")),
        "{:?}",
        s.warnings
    );
    assert!(
        s.warnings
            .iter()
            .any(|w| w.contains("checkpoint-4.pth.tar") && w.contains("not on disk")),
        "{:?}",
        s.warnings
    );
    assert!(
        s.warnings.iter().any(|w| w.contains("metric 62.5")),
        "saver metric vs summary: {:?}",
        s.warnings
    );
}

#[test]
fn timm_copies_instead_of_hardlinks_are_resolved_from_the_pickle() {
    let (_t, run) = unpack("timm-basic");
    // Break the hardlink: model_best becomes an independent copy of epoch 5.
    let data = fs::read(run.join("model_best.pth.tar")).unwrap();
    fs::remove_file(run.join("model_best.pth.tar")).unwrap();
    fs::write(run.join("model_best.pth.tar"), data).unwrap();
    let s = layout::scan(&run, None).unwrap();
    let best = s.best.unwrap();
    assert_eq!((best.epoch, best.how.as_str()), (Some(5), "copy"));
    assert_eq!(best.target.as_deref(), Some("checkpoint-5.pth.tar"));
    assert_eq!(s.checkpoints.len(), 5);
}

/// Not asserted: prints how long a warm scan of 10,000 checkpoints takes (debug build).
#[test]
fn timing_scan_of_ten_thousand_checkpoints() {
    let (_t, fixture) = unpack("timm-basic");
    let t = tempfile::tempdir().unwrap();
    let run = t.path();
    let mut summary = String::from("epoch,train_loss,eval_loss,eval_top1,eval_top5,lr\n");
    for e in 0..10_000u64 {
        fs::write(run.join(format!("checkpoint-{e}.pth.tar")), b"x").unwrap();
        summary.push_str(&format!("{e},1.0,2.0,{}.5,3.0,0.01\n", e % 97));
    }
    fs::write(run.join("summary.csv"), summary).unwrap();
    fs::copy(fixture.join("args.yaml"), run.join("args.yaml")).unwrap();
    fs::hard_link(
        run.join("checkpoint-9999.pth.tar"),
        run.join("last.pth.tar"),
    )
    .unwrap();
    fs::copy(
        fixture.join("model_best.pth.tar"),
        run.join("model_best.pth.tar"),
    )
    .unwrap();
    let s = layout::scan(run, None).unwrap();
    assert_eq!(s.checkpoints.len(), 10_000);
    // Best of 5 warm scans: the machine is shared, the minimum is the honest number.
    let mut took = std::time::Duration::MAX;
    let mut s = None;
    for _ in 0..5 {
        let start = Instant::now();
        s = Some(layout::scan(run, None).unwrap());
        took = took.min(start.elapsed());
    }
    let s = s.unwrap();
    assert_eq!(s.with_role(Role::Last).unwrap().epoch, Some(9999));
    assert_eq!(s.with_role(Role::Best).unwrap().epoch, Some(5));
    eprintln!(
        "TIMING: warm scan of a 10,000-checkpoint timm run took {:.1} ms ({} build; target < 100 ms)",
        took.as_secs_f64() * 1e3,
        if cfg!(debug_assertions) { "debug" } else { "release" }
    );
}

#[test]
fn hf_size_never_follows_symlinks() {
    let (_t, run) = unpack("hf-basic");
    let before = layout::scan(&run, None).unwrap();
    let big = run.parent().unwrap().join("big.bin");
    fs::write(&big, vec![0u8; 1 << 20]).unwrap();
    std::os::unix::fs::symlink(&big, run.join("checkpoint-20/big.bin")).unwrap();
    std::os::unix::fs::symlink("..", run.join("checkpoint-20/up")).unwrap();
    let after = layout::scan(&run, None).unwrap();
    assert_eq!(
        by_name(&after, "checkpoint-20").bytes,
        by_name(&before, "checkpoint-20").bytes
    );
}

/// Not asserted: prints how long discovering and scanning 200 runs takes.
#[test]
fn timing_discover_and_scan_two_hundred_runs() {
    let (_t, fixture) = unpack("timm-basic");
    let root = tempfile::tempdir().unwrap();
    let files: Vec<_> = fs::read_dir(&fixture)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    for i in 0..200 {
        let run = root.path().join(format!("exp{}/run-{i:03}", i % 10));
        fs::create_dir_all(&run).unwrap();
        for f in &files {
            // Hardlinks: cheap copies that keep model_best ≡ checkpoint-5.
            fs::hard_link(fixture.join(f), run.join(f)).unwrap();
        }
    }
    let scan_all = || {
        let runs = layout::discover_runs(root.path());
        let snaps: Vec<_> = runs
            .iter()
            .map(|r| layout::scan(r, None).unwrap())
            .collect();
        snaps
    };
    assert_eq!(scan_all().len(), 200);
    let start = Instant::now();
    let snaps = scan_all();
    let took = start.elapsed();
    assert!(snaps
        .iter()
        .all(|s| s.with_role(Role::Best).unwrap().epoch == Some(5)));
    eprintln!(
        "TIMING: discover + scan of 200 timm runs took {:.1} ms ({} build; target < 1 s)",
        took.as_secs_f64() * 1e3,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
}

/// Scan the timm fixture after `prepare` changed summary.csv; epochs 3/4/5/7 must rank
/// by the metrics stored in the checkpoints themselves.
fn timm_metrics_without_summary(prepare: impl FnOnce(&Path)) {
    let (_t, run) = unpack("timm-basic");
    prepare(&run);
    let s = layout::scan(&run, None).unwrap();
    for (name, top1) in [
        ("checkpoint-3.pth.tar", 50.0),
        ("checkpoint-4.pth.tar", 40.0),
        ("checkpoint-5.pth.tar", 62.5),
        ("last.pth.tar", 35.0),
    ] {
        let c = by_name(&s, name);
        assert!(approx(c.metric, top1), "{name}: {:?}", c.metric);
    }
    assert_eq!(by_name(&s, "recovery-2-1.pth.tar").metric, None);
    assert_eq!(s.best.as_ref().unwrap().epoch, Some(5));
    assert_eq!(s.with_role(Role::Best).unwrap().epoch, Some(5));
    let metrics: Vec<_> = s.checkpoints.iter().map(|c| c.metric).collect();
    let ranked = ckpt::rank::ranked(&metrics, Mode::Max);
    let first = ranked.first().map(|&i| s.checkpoints[i].name.as_str());
    assert_eq!(first, Some("checkpoint-5.pth.tar"), "{ranked:?}");
    assert!(
        !s.warnings.iter().any(|w| w.contains("history")),
        "{:?}",
        s.warnings
    );
}

#[test]
fn timm_metrics_come_from_the_checkpoints_when_summary_csv_is_missing() {
    timm_metrics_without_summary(|run| fs::remove_file(run.join("summary.csv")).unwrap());
}

#[test]
fn timm_metrics_come_from_the_checkpoints_when_summary_csv_is_empty() {
    timm_metrics_without_summary(|run| fs::write(run.join("summary.csv"), b"").unwrap());
}

#[test]
fn timm_metrics_come_from_the_checkpoints_when_summary_csv_lacks_rows_or_cells() {
    timm_metrics_without_summary(|run| {
        let p = run.join("summary.csv");
        let text = fs::read_to_string(&p).unwrap();
        let mut out = String::new();
        for line in text.lines() {
            // Drop epoch 4's row; blank epoch 5's top1 cell.
            if line.starts_with("4,") {
                continue;
            }
            out.push_str(&line.replace(",62.5,", ",,"));
            out.push('\n');
        }
        fs::write(&p, out).unwrap();
    });
}

#[test]
fn timm_history_is_read_from_the_newest_checkpoint_only() {
    // After a restore to epoch 4, last.pth.tar holds epoch 4 (a copy) whose pickle
    // carries timm's history as of epoch 4; checkpoint-5 is newer and is the one to trust.
    let (_t, run) = unpack("timm-basic");
    fs::remove_file(run.join("last.pth.tar")).unwrap();
    fs::copy(run.join("checkpoint-4.pth.tar"), run.join("last.pth.tar")).unwrap();
    let s = layout::scan(&run, None).unwrap();
    assert_eq!(s.last.as_ref().unwrap().epoch, Some(4));
    assert_eq!(s.best.as_ref().unwrap().epoch, Some(5));
    assert!(
        !s.warnings.iter().any(|w| w.contains("history")),
        "{:?}",
        s.warnings
    );

    // Restored to epoch 5 (the best): last is a copy of epoch 5, whose history predates
    // its own save (timm records the save in progress as pending).
    fs::remove_file(run.join("last.pth.tar")).unwrap();
    fs::copy(run.join("checkpoint-5.pth.tar"), run.join("last.pth.tar")).unwrap();
    let s = layout::scan(&run, None).unwrap();
    assert_eq!(s.last.as_ref().unwrap().epoch, Some(5));
    assert!(
        !s.warnings.iter().any(|w| w.contains("history")),
        "{:?}",
        s.warnings
    );
}

#[test]
fn timm_truncated_torch_zip_is_damaged() {
    let (_t, run) = unpack("timm-basic");
    let p = run.join("checkpoint-4.pth.tar");
    let f = fs::OpenOptions::new().write(true).open(&p).unwrap();
    f.set_len(1_500_000).unwrap();
    drop(f);
    let s = layout::scan(&run, None).unwrap();
    let c4 = by_name(&s, "checkpoint-4.pth.tar");
    assert_eq!(c4.state, CheckpointState::Damaged);
    assert_eq!(
        c4.damage.as_deref(),
        Some("truncated: no end of central directory")
    );
    for name in [
        "checkpoint-3.pth.tar",
        "checkpoint-5.pth.tar",
        "last.pth.tar",
    ] {
        assert_eq!(by_name(&s, name).state, CheckpointState::Complete, "{name}");
    }
}

#[test]
fn default_policy_is_what_the_trainer_was_told() {
    use ckpt::rank::RetentionPolicy;
    let (_t, run) = unpack("timm-basic");
    let s = layout::scan(&run, None).unwrap();
    // args.yaml: checkpoint_hist: 3.
    assert_eq!(
        s.default_policy,
        Some(RetentionPolicy {
            keep_top_k: Some(3),
            ..RetentionPolicy::default()
        })
    );
    let (_t, run) = unpack("hf-basic");
    let s = layout::scan(&run, None).unwrap();
    // training_args.bin: save_total_limit=2 (the Trainer keeps the newest 2).
    assert_eq!(
        s.default_policy,
        Some(RetentionPolicy {
            keep_last: Some(2),
            ..RetentionPolicy::default()
        })
    );
    // Lightning records save_top_k nowhere in the run.
    let (_t, root) = unpack("lightning-basic");
    assert_eq!(layout::scan(&root, None).unwrap().default_policy, None);
}

/// (x, value) of a snapshot's merged metric history.
fn history_xy(s: &RunSnapshot) -> Vec<(u64, f64)> {
    s.metric_history()
        .iter()
        .map(|p| (p.x().unwrap(), (p.value * 1000.0).round() / 1000.0))
        .collect()
}

#[test]
fn history_has_every_logged_epoch_or_step_of_each_fixture() {
    // timm: summary.csv epochs 0–7, though only 3, 4, 5 and 7 are on disk.
    let (_t, run) = unpack("timm-basic");
    let s = layout::scan(&run, None).unwrap();
    assert_eq!(
        history_xy(&s),
        [
            (0, 10.0),
            (1, 30.0),
            (2, 20.0),
            (3, 50.0),
            (4, 40.0),
            (5, 62.5),
            (6, 25.0),
            (7, 35.0)
        ]
    );
    // Lightning: metrics.csv val_loss for epochs 0–4 (checkpoints of 1 and 3 only).
    let (_t, root) = unpack("lightning-basic");
    let s = layout::scan(&root, None).unwrap();
    assert_eq!(
        history_xy(&s),
        [(0, 0.9), (1, 0.5), (2, 0.7), (3, 0.4), (4, 0.6)]
    );
    // hf: log_history eval_loss every 5 steps up to 40 (directories 20 and 40 only).
    let (_t, run) = unpack("hf-basic");
    let s = layout::scan(&run, None).unwrap();
    let xs: Vec<u64> = history_xy(&s).iter().map(|p| p.0).collect();
    assert_eq!(xs, [5, 10, 15, 20, 25, 30, 35, 40]);
    assert_eq!(history_xy(&s)[3], (20, 0.5));
}

#[test]
fn history_without_a_metrics_file_is_the_checkpoints() {
    let (_t, run) = unpack("timm-basic");
    fs::remove_file(run.join("summary.csv")).unwrap();
    let s = layout::scan(&run, None).unwrap();
    assert!(s.history.is_empty());
    // Metrics then come from the checkpoints themselves (their pickles).
    let xs: Vec<u64> = history_xy(&s).iter().map(|p| p.0).collect();
    assert_eq!(xs, [3, 4, 5, 7], "the recovery save is not a point");
}
