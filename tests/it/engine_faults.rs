//! The fault walk: for save (fresh, replacing
//! the last, replacing the best, with aliases and retention pruning), prune and pin,
//! every filesystem step is failed in-process and crashed at in a child process; after
//! each, the run is consistent and the next save recovers and sweeps leftovers.

use std::path::Path;

use crate::util::engine::*;
use ckpt::engine::{fault, Run};
use ckpt::rank::RetentionPolicy;

fn setup(dir: &Path) {
    let run = Run::open_or_create(dir, opts()).unwrap();
    save_gen(&run, 1, 0, Some(1.0), None).unwrap();
    save_gen(&run, 2, 0, Some(3.0), None).unwrap();
    save_gen(&run, 3, 0, Some(2.0), None).unwrap();
    // a source file next to the run, for the file and move sources
    std::fs::write(source_of(dir), payload(4, 2)).unwrap();
}

fn source_of(dir: &Path) -> std::path::PathBuf {
    dir.with_extension("src")
}

fn save_file(run: &Run, dir: &Path, move_file: bool) -> ckpt::Result<()> {
    let src = source_of(dir);
    let mut r = req(4, Some(5.0));
    r.policy = Some(policy());
    run.save(
        &r,
        ckpt::engine::SaveSource::File {
            path: &src,
            move_file,
        },
        None,
    )
    .map(|_| ())
}

fn policy() -> RetentionPolicy {
    RetentionPolicy {
        keep_top_k: Some(2),
        keep_last: Some(1),
        keep_every: None,
    }
}

fn open(dir: &Path) -> Run {
    Run::open(dir, None, opts()).unwrap()
}

/// The operations walked, by name (also run by the child process).
fn op(name: &str, dir: &Path) -> ckpt::Result<()> {
    let run = open(dir);
    match name {
        // new epoch, becomes best, prunes epochs 1 and 3
        "save_fresh" => save_gen(&run, 4, 1, Some(5.0), Some(policy())).map(|_| ()),
        // replaces the last epoch, which becomes best
        "save_replace_last" => save_gen(&run, 3, 1, Some(4.0), Some(policy())).map(|_| ()),
        // replaces the best epoch with a worse metric: best moves to epoch 3
        "save_replace_best" => save_gen(&run, 2, 1, Some(0.5), None).map(|_| ()),
        "prune" => {
            let plan = run.plan_prune(
                Some(RetentionPolicy {
                    keep_top_k: Some(1),
                    keep_last: Some(1),
                    keep_every: None,
                }),
                &[],
            )?;
            assert_eq!(plan.victims.len(), 1);
            run.prune(&plan).map(|_| ())
        }
        "save_copy" => save_file(&run, dir, false),
        "save_move" => save_file(&run, dir, true),
        "pin" => run.set_pinned("1", true),
        // the helper promote/restore use: best := epoch 1 (held), last := epoch 2
        "repoint" => {
            let (_lock, m) = run.begin_mutation("repoint")?;
            let old = m.unwrap();
            let mut new = old.clone();
            new.best = Some(ckpt::store::manifest::BestRef {
                epoch: 1,
                held: true,
                extra: Default::default(),
            });
            new.last = Some(2);
            ckpt::engine::commit::store_and_repoint(&run.dir, &old, &mut new, "repoint").map(|_| ())
        }
        other => panic!("unknown child op {other}"),
    }
}

/// Child-process entry: runs the op named in the environment.
#[test]
#[ignore = "child process of the fault walks (run by util::engine::run_child)"]
fn child_entry() {
    let (Ok(name), Ok(dir)) = (std::env::var(CHILD_OP), std::env::var(CHILD_RUN)) else {
        panic!("child_entry is the child process of the fault walks, not a test");
    };
    // Reaching the end means the crash point was never hit: exit 0 tells the parent.
    op(&name, Path::new(&dir)).unwrap();
}

fn walk(name: &str) -> Vec<&'static str> {
    let steps = fault_walk(&Walk {
        name,
        setup: &setup,
        op: &|d| op(name, d),
        child_entry: concat!(module_path!(), "::child_entry"),
    });
    eprintln!("{name}: {} steps: {steps:?}", steps.len());
    steps
}

#[test]
fn walk_save_fresh() {
    let steps = walk("save_fresh");
    for needed in [
        "tmp.create",
        "tmp.write",
        "tmp.fsync",
        "tmp.rename",
        "dir.fsync",
        "alias.link",
        "alias.rename",
        "prune.unlink",
        "manifest.store",
    ] {
        assert!(
            steps.contains(&needed),
            "save never passes {needed}: {steps:?}"
        );
    }
}

#[test]
fn walk_save_replace_last() {
    walk("save_replace_last");
}

#[test]
fn walk_save_replace_best() {
    walk("save_replace_best");
}

#[test]
fn walk_prune() {
    let steps = walk("prune");
    assert!(steps.contains(&"prune.unlink"));
}

#[test]
fn walk_pin() {
    walk("pin");
}

#[test]
fn walk_store_and_repoint() {
    walk("repoint");
}

#[test]
fn walk_save_copy() {
    walk("save_copy");
}

#[test]
fn walk_save_move() {
    let steps = walk("save_move");
    assert!(steps.contains(&"move.link") && steps.contains(&"move.unlink_source"));
}

/// Many FUSE mounts (gcsfuse, s3fs) answer fchmod with ENOSYS: the file keeps the
/// mount's fixed mode, and the save must still land, with its bytes and manifest entry.
#[test]
fn a_save_lands_when_fchmod_of_the_temp_is_unsupported() {
    let base = Scratch::new();
    let d = base.path().join("run");
    let run = Run::open_or_create(&d, opts()).unwrap();
    fault::arm(fault::FaultPlan::always("tmp.chmod", libc::ENOSYS));
    let r = save_gen(&run, 1, 0, Some(1.0), None);
    fault::disarm();
    r.unwrap_or_else(|e| panic!("save failed on a filesystem without chmod: {e}"));
    // The chmod was refused, so the file kept its temp's mode (proof the step ran).
    assert_eq!(mode(&d.join("checkpoint-1.pth.tar")), 0o600);
    assert_eq!(
        std::fs::read(d.join("checkpoint-1.pth.tar")).unwrap(),
        payload(1, 0)
    );
    let m = assert_run_consistent(&d);
    assert_eq!(m.last, Some(1));
}

/// The same for an alias made by copy (no hardlinks on such mounts either): the copy's
/// fchmod answering ENOSYS still leaves `last` and `best` holding the new bytes.
#[test]
fn a_copied_alias_lands_when_its_fchmod_is_unsupported() {
    let base = Scratch::new();
    let d = base.path().join("run");
    let run = Run::open_or_create(&d, opts()).unwrap();
    // No hardlinks for the alias, and fchmod unsupported: both answer ENOSYS. The link
    // is refused at the alias step, not as the filesystem's answer (`fs.link`), so the
    // engine remembers no strategy for this device: tmpfs device numbers are reused
    // after unmount, and other tests in this process would inherit it.
    fault::arm(fault::FaultPlan::always(
        "alias.link|alias.chmod",
        libc::ENOSYS,
    ));
    let r = save_gen(&run, 1, 0, Some(1.0), None);
    fault::disarm();
    r.unwrap_or_else(|e| panic!("save failed on a filesystem without chmod: {e}"));
    for name in ["checkpoint-1.pth.tar", "last.pth.tar", "model_best.pth.tar"] {
        assert_eq!(
            std::fs::read(d.join(name)).unwrap(),
            payload(1, 0),
            "{name}"
        );
    }
    let ino = |n: &str| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(d.join(n)).unwrap());
    assert_ne!(
        ino("last.pth.tar"),
        ino("checkpoint-1.pth.tar"),
        "the alias should be a copy"
    );
    // The copy's chmod was refused: it kept the mode it was created with.
    assert_eq!(mode(&d.join("last.pth.tar")), 0o600);
    assert_run_consistent(&d);
}

fn mode(p: &Path) -> u32 {
    std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions()) & 0o777
}
