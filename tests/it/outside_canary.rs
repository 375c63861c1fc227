//! Property test: random and adversarial manifests — paths that leave
//! the run, paths through symlinks planted in the run, pending records naming aliases,
//! listed checkpoints, user files and files outside — run through every reading and
//! mutating command (library calls, and the CLI for a few) must never create, change or
//! delete anything outside the run directory. A canary tree around the run (siblings, a
//! parent file, symlink targets, a dead writer's temp name outside) is hashed before
//! and after each case.

use crate::util;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use ckpt::engine::{EngineOptions, RestoreOptions, Run, SaveRequest, SaveSource};
use ckpt::rank::{MetricSpec, Mode, RetentionPolicy};
use proptest::prelude::*;

/// Everything under `root` except `skip` (the run): type and content or link target.
fn canary_state(root: &Path, skip: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(p: &Path, root: &Path, skip: &Path, out: &mut BTreeMap<PathBuf, String>) {
        let Ok(rd) = fs::read_dir(p) else { return };
        for e in rd.flatten() {
            let path = e.path();
            if path == skip {
                continue;
            }
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let md = fs::symlink_metadata(&path).unwrap();
            let v = if md.file_type().is_symlink() {
                format!("link {}", fs::read_link(&path).unwrap().display())
            } else if md.is_dir() {
                walk(&path, root, skip, out);
                "dir".to_string()
            } else {
                use std::os::unix::fs::PermissionsExt;
                format!(
                    "file {:o} {:032x}",
                    md.permissions().mode(),
                    xxhash_rust::xxh3::xxh3_128(&fs::read(&path).unwrap())
                )
            };
            out.insert(rel, v);
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, skip, &mut out);
    out
}

fn opts() -> EngineOptions {
    EngineOptions {
        lock_timeout: std::time::Duration::from_secs(10),
        ..Default::default()
    }
}

fn save(run: &Run, epoch: u64, metric: f64, len: usize) -> ckpt::Result<()> {
    let data = util::payload::bytes(epoch, len);
    let mut w = |out: &mut dyn std::io::Write| out.write_all(&data);
    run.save(
        &SaveRequest {
            epoch,
            metric: Some(metric),
            metric_spec: Some(MetricSpec {
                name: "top1".into(),
                mode: Mode::Max,
            }),
            ..Default::default()
        },
        SaveSource::Writer(&mut w),
        None,
    )
    .map(|_| ())
}

/// The canary tree: `root/{sibling/, parent_file, outside/{precious, <dead temp>}}` and
/// `root/run`, a native run with three checkpoints and symlinks planted out of it.
fn setup(root: &Path) -> PathBuf {
    fs::create_dir_all(root.join("sibling")).unwrap();
    fs::write(root.join("sibling/file"), b"sibling").unwrap();
    fs::write(root.join("parent_file"), b"parent").unwrap();
    let outside = root.join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("precious"), b"precious").unwrap();
    fs::write(outside.join(".ckpt-tmp-x"), b"x").unwrap();
    fs::write(outside.join("checkpoint-3.pth.tar"), b"not yours").unwrap();
    fs::write(
        outside.join(format!(
            ".ckpt-tmp-{}-2147483600-0123456789abcdef-checkpoint-5.pth.tar",
            ckpt::store::temp::host_tag()
        )),
        b"dead writer elsewhere",
    )
    .unwrap();
    let dir = root.join("run");
    let run = Run::open_or_create(&dir, opts()).unwrap();
    for (e, m) in [(1, 1.0), (2, 3.0), (3, 2.0)] {
        save(&run, e, m, 3000).unwrap();
    }
    dir
}

/// Symlinks an attacker can plant inside the run (from a tarball).
const PLANTS: &[(&str, &str)] = &[
    (".ckpt/trash/evil", "outside"),
    (".ckpt/lock", "outside/precious"),
    (".ckpt/trash", "outside"),
    ("link", "parent_file"),
    ("checkpoint-9.pth.tar", "outside/precious"),
    ("checkpoint-7.pth.tar", "outside/checkpoint-3.pth.tar"),
];

/// Manifest paths an attacker can write (the pool the strategies pick from): first
/// ones a manifest accepts as text (the dangerous ones: they reach the engine), then
/// ones validation refuses (they make the whole manifest corrupt).
const PATHS: &[&str] = &[
    "trash/evil/precious",
    "trash/evil/checkpoint-3.pth.tar",
    "trash/evil/.ckpt-tmp-x",
    "link",
    "checkpoint-9.pth.tar",
    "checkpoint-7.pth.tar",
    "last.pth.tar",
    "model_best.pth.tar",
    "checkpoint-1.pth.tar",
    "checkpoint-2.pth.tar",
    "notes.txt",
    // refused as text:
    "../parent_file",
    "../outside/precious",
    "/etc/hostname",
    "trash/evil/../../parent_file",
    "trash/../../parent_file",
    "trash/evil",
    "sibling/file",
    "./checkpoint-1.pth.tar",
    "trash//x",
    "",
];
const VALID: usize = 11;

fn path_index() -> impl Strategy<Value = usize> {
    prop_oneof![12 => 0..VALID, 1 => VALID..PATHS.len()]
}

#[derive(Debug, Clone)]
struct Case {
    plants: Vec<bool>,
    /// Extra entries: (path index, epoch, bytes).
    entries: Vec<(usize, u64, u64)>,
    /// Pending unlink / may_hold / replace path indices.
    unlink: Vec<usize>,
    may_hold: Vec<usize>,
    replace: Option<usize>,
    /// Also point `last`/`best` at one of the extra entries' epochs.
    repoint: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(any::<bool>(), PLANTS.len()),
        prop::collection::vec((path_index(), 4u64..12, 0u64..20), 0..3),
        prop::collection::vec(path_index(), 0..5),
        prop::collection::vec(path_index(), 0..3),
        prop::option::of(path_index()),
        any::<bool>(),
    )
        .prop_map(
            |(plants, entries, unlink, may_hold, replace, repoint)| Case {
                plants,
                entries,
                unlink,
                may_hold,
                replace,
                repoint,
            },
        )
}

fn craft(root: &Path, dir: &Path, c: &Case) {
    for (on, (at, to)) in c.plants.iter().zip(PLANTS) {
        if *on {
            let at = dir.join(at);
            if at.is_dir() && !at.is_symlink() {
                let _ = fs::remove_dir_all(&at);
            }
            let _ = fs::remove_file(&at);
            std::os::unix::fs::symlink(root.join(to), &at).unwrap();
        }
    }
    let p = dir.join(".ckpt/manifest.json");
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
    let template = v["checkpoints"][0].clone();
    for (i, epoch, bytes) in &c.entries {
        let mut e = template.clone();
        e["path"] = PATHS[*i].into();
        e["epoch"] = (*epoch).into();
        e["bytes"] = (*bytes).into();
        v["checkpoints"].as_array_mut().unwrap().push(e);
        if c.repoint {
            v["last"] = (*epoch).into();
            v["best"] = serde_json::json!({"epoch": epoch, "held": false});
        }
    }
    let hash = template["hash"].clone();
    let may_hold: serde_json::Map<String, serde_json::Value> = c
        .may_hold
        .iter()
        .map(|i| (PATHS[*i].to_string(), serde_json::json!([hash.clone()])))
        .collect();
    let mut pending = serde_json::json!({
        "operation": "save",
        "unlink": c.unlink.iter().map(|i| PATHS[*i]).collect::<Vec<_>>(),
        "may_hold": may_hold,
    });
    if let Some(i) = c.replace {
        let mut e = template.clone();
        e["path"] = PATHS[i].into();
        pending["replace"] = serde_json::json!({"entry": e, "dev": 0, "ino": 0});
    }
    v["pending"] = pending;
    fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

/// Every command, reading and mutating; errors are fine (a crafted manifest may be
/// refused), touching anything outside the run is not.
fn every_command(dir: &Path) {
    let Ok(run) = Run::open(dir, None, opts()) else {
        return;
    };
    let _ = run.snapshot();
    let _ = run.verify(None);
    let _ = run.doctor();
    let _ = run.trash();
    let _ = run.plan_promote("2");
    let _ = run.set_pinned("1", true);
    let _ = run.set_pinned("1", false);
    let _ = run.promote("2");
    let _ = run.release_best();
    for archive_newer in [false, true] {
        if let Ok(plan) = run.plan_restore(
            "1",
            &RestoreOptions {
                archive_newer,
                ..Default::default()
            },
        ) {
            let _ = run.restore(&plan, None);
        }
    }
    if let Ok(plan) = run.plan_prune(
        Some(RetentionPolicy {
            keep_last: Some(1),
            ..Default::default()
        }),
        &[],
    ) {
        let _ = run.prune(&plan);
    }
    let _ = save(&run, 3, 9.0, 2000);
    let _ = save(&run, 13, 10.0, 2000);
    if let Ok(plan) = run.plan_trash_restore("2") {
        let _ = run.trash_restore(&plan, None);
    }
    let _ = run.verify(None);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn crafted_runs_never_touch_anything_outside(c in case()) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let dir = setup(root);
        craft(root, &dir, &c);
        let before = canary_state(root, &dir);
        every_command(&dir);
        let after = canary_state(root, &dir);
        prop_assert_eq!(before, after, "outside the run changed for {:?}", c);
    }
}

/// The CLI over the same kind of run: ls, verify, doctor, pin, promote, restore, prune.
#[test]
fn cli_commands_on_a_crafted_run_stay_inside() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let dir = setup(root);
    let c = Case {
        plants: vec![true; PLANTS.len()],
        entries: vec![(0, 8, 8), (4, 9, 8)],
        unlink: (0..VALID).collect(),
        may_hold: vec![6, 7],
        replace: Some(4),
        repoint: true,
    };
    craft(root, &dir, &c);
    let before = canary_state(root, &dir);
    let bin = env!("CARGO_BIN_EXE_ckpt");
    let d = dir.display().to_string();
    for args in [
        vec!["ls", &d, "--json"],
        vec!["verify", &d],
        vec!["doctor", &d],
        vec!["pin", &d, "1"],
        vec!["promote", &d, "2", "--yes"],
        vec!["restore", &d, "1", "--archive-newer", "--yes"],
        vec!["prune", &d, "--keep-last", "1", "--yes"],
        vec!["trash", &d],
    ] {
        let _ = std::process::Command::new(bin)
            .args(&args)
            .output()
            .unwrap();
    }
    assert_eq!(before, canary_state(root, &dir));
}
