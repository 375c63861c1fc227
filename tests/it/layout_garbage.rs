//! Garbage in a run never panics and never produces a wrong best: each odd thing
//! becomes a warning in the snapshot.
//!
//! Tests run as root here, and `chmod 000` does not stop root from reading. So an
//! "unreadable file" is tested with what root cannot read either: a dangling symlink,
//! a symlink loop, and a directory where a file is expected. The chmod case runs
//! only for a non-root user and says loudly when it is skipped.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use crate::util::fixtures::unpack;
use ckpt::layout;
use ckpt::snapshot::{Role, RunSnapshot};

fn scan(run: &Path) -> RunSnapshot {
    layout::scan(run, None).expect("a run with garbage still scans")
}

fn warned(s: &RunSnapshot, needle: &str) -> bool {
    s.warnings.iter().any(|w| w.contains(needle))
}

/// The timm fixture's truth: best is epoch 5, last holds epoch 7.
fn timm_truth_holds(s: &RunSnapshot) {
    assert_eq!(
        s.with_role(Role::Best).map(|c| c.epoch),
        Some(Some(5)),
        "{s:#?}"
    );
    assert_eq!(s.best.as_ref().unwrap().epoch, Some(5));
    assert_eq!(s.with_role(Role::Last).map(|c| c.epoch), Some(Some(7)));
}

fn set_file(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
}

#[test]
fn empty_summary_csv() {
    let (_t, run) = unpack("timm-basic");
    set_file(&run.join("summary.csv"), "");
    let s = scan(&run);
    assert!(warned(&s, "summary.csv is empty"), "{:?}", s.warnings);
    timm_truth_holds(&s);
    // Metrics come from the checkpoints themselves (timm's history and pickles).
    for c in &s.checkpoints {
        let expected = match c.epoch {
            Some(3) => Some(50.0),
            Some(4) => Some(40.0),
            Some(5) => Some(62.5),
            Some(7) => Some(35.0),
            _ => None,
        };
        assert_eq!(c.metric, expected, "{}", c.name);
    }
}

#[test]
fn header_only_summary_and_missing_metric_column() {
    let (_t, run) = unpack("timm-basic");
    set_file(&run.join("summary.csv"), "epoch,train_loss\n0,1.0\n");
    let s = scan(&run);
    assert!(warned(&s, "no eval_top1 column"), "{:?}", s.warnings);
    timm_truth_holds(&s);
}

#[test]
fn text_in_a_metric_column() {
    let (_t, run) = unpack("timm-basic");
    let p = run.join("summary.csv");
    let text = fs::read_to_string(&p).unwrap();
    let text = text
        .replace(",50.0,37.5,", ",abc,37.5,")
        .replace("\n6,", "\nsix,");
    set_file(&p, &text);
    let s = scan(&run);
    assert!(warned(&s, "\"abc\" is not a number"), "{:?}", s.warnings);
    assert!(warned(&s, "\"six\" is not a number"), "{:?}", s.warnings);
    let c3 = s.find("3").unwrap();
    // The unreadable cell is replaced by the metric the checkpoint itself records.
    assert_eq!((c3.metric, c3.metric_raw.as_deref()), (Some(50.0), None));
    timm_truth_holds(&s);
}

#[test]
fn garbage_in_lightning_metrics_csv() {
    let (_t, root) = unpack("lightning-basic");
    let p = root.join("version_0/metrics.csv");
    let text = fs::read_to_string(&p)
        .unwrap()
        .replace("0.4000000059604645", "oops");
    set_file(&p, &text);
    let s = scan(&root);
    assert!(warned(&s, "\"oops\" is not a number"), "{:?}", s.warnings);
    // The file name still carries val_loss=0.400.
    assert!((s.find("3").unwrap().metric.unwrap() - 0.4).abs() < 1e-9);
    assert_eq!(s.with_role(Role::Best).unwrap().epoch, Some(3));

    set_file(&p, "");
    let s = scan(&root);
    assert!(warned(&s, "metrics.csv is empty"), "{:?}", s.warnings);
    assert_eq!(s.with_role(Role::Best).unwrap().epoch, Some(3));
}

#[test]
fn trainer_state_that_is_not_json() {
    let (_t, run) = unpack("hf-basic");
    set_file(&run.join("checkpoint-40/trainer_state.json"), "{ not json");
    let s = scan(&run);
    assert!(
        warned(&s, "checkpoint-40/trainer_state.json: not JSON"),
        "{:?}",
        s.warnings
    );
    // The older state still names the best; last is still the highest step.
    assert_eq!(s.with_role(Role::Best).unwrap().step, Some(20));
    assert_eq!(s.with_role(Role::Last).unwrap().step, Some(40));

    // With no readable state at all there is no best, rather than a wrong one.
    set_file(&run.join("checkpoint-20/trainer_state.json"), "[1, 2");
    let s = scan(&run);
    assert!(s.best.is_none() && s.with_role(Role::Best).is_none());
    assert_eq!(s.with_role(Role::Last).unwrap().step, Some(40));

    // Valid JSON of the wrong shape.
    set_file(&run.join("checkpoint-40/trainer_state.json"), "[1, 2]");
    set_file(
        &run.join("checkpoint-20/trainer_state.json"),
        r#"{"log_history": [{"step": "x"}, 3, {"step": 40, "eval_loss": "nan"}], "best_model_checkpoint": 7}"#,
    );
    let s = scan(&run);
    assert!(s.best.is_none());
    assert!(warned(&s, "not a JSON object"), "{:?}", s.warnings);
}

#[test]
fn malformed_checkpoint_names() {
    let (_t, run) = unpack("timm-basic");
    fs::copy(
        run.join("checkpoint-3.pth.tar"),
        run.join("checkpoint-abc.pth.tar"),
    )
    .unwrap();
    fs::write(run.join("recovery-x-1.pth.tar"), b"x").unwrap();
    let s = scan(&run);
    assert!(
        warned(&s, "checkpoint-abc.pth.tar: not a timm checkpoint name"),
        "{:?}",
        s.warnings
    );
    assert!(warned(&s, "recovery-x-1.pth.tar"), "{:?}", s.warnings);
    assert_eq!(s.checkpoints.len(), 5);
    timm_truth_holds(&s);

    let (_h, hf) = unpack("hf-basic");
    fs::create_dir(hf.join("checkpoint-abc")).unwrap();
    let s = scan(&hf);
    assert!(
        warned(&s, "checkpoint-abc: no step number"),
        "{:?}",
        s.warnings
    );
    assert_eq!(s.checkpoints.len(), 2);
}

#[test]
fn symlink_loops_and_links_out_of_the_run() {
    let (_t, run) = unpack("timm-basic");
    symlink("checkpoint-9.pth.tar", run.join("checkpoint-8.pth.tar")).unwrap();
    symlink("checkpoint-8.pth.tar", run.join("checkpoint-9.pth.tar")).unwrap();
    symlink("/etc/hostname", run.join("checkpoint-10.pth.tar")).unwrap();
    symlink("../../outside.pth.tar", run.join("checkpoint-11.pth.tar")).unwrap();
    let s = scan(&run);
    assert!(warned(&s, "symlink loop"), "{:?}", s.warnings);
    assert!(
        warned(&s, "checkpoint-10.pth.tar is a symlink pointing outside"),
        "{:?}",
        s.warnings
    );
    assert!(
        warned(&s, "checkpoint-11.pth.tar is a symlink pointing outside"),
        "{:?}",
        s.warnings
    );
    assert_eq!(s.checkpoints.len(), 5);
    timm_truth_holds(&s);
    // discover_runs does not hang on a directory symlink loop.
    symlink(".", run.join("again")).unwrap();
    assert_eq!(
        layout::discover_runs(run.parent().unwrap()),
        vec![run.clone()]
    );

    let (_l, root) = unpack("lightning-basic");
    let cdir = root.join("version_0/checkpoints");
    fs::remove_file(cdir.join("last.ckpt")).unwrap();
    symlink("last.ckpt", cdir.join("last.ckpt")).unwrap();
    let s = scan(&root);
    assert!(warned(&s, "symlink loop"), "{:?}", s.warnings);
    assert_eq!(s.with_role(Role::Best).unwrap().epoch, Some(3));
    assert!(s.with_role(Role::Last).is_none());

    let (_h, hf) = unpack("hf-basic");
    symlink("checkpoint-20", hf.join("checkpoint-60")).unwrap();
    let s = scan(&hf);
    assert!(
        warned(&s, "checkpoint-60 is a symlink; not followed"),
        "{:?}",
        s.warnings
    );
    // transformers' get_last_checkpoint follows the link: the reported resume point is
    // checkpoint-60 (step 60), not the newest directory ckpt manages (step 40).
    assert!(
        warned(
            &s,
            "transformers resumes from checkpoint-60 (step 60), a symlink"
        ),
        "{:?}",
        s.warnings
    );
    let last = s.last.as_ref().unwrap();
    assert_eq!(
        (last.path.as_path(), last.step),
        (std::path::Path::new("checkpoint-60"), Some(60))
    );
    assert!(s.with_role(Role::Last).is_none());
}

#[test]
fn unreadable_files_dangling_links_and_dirs_where_files_belong() {
    let (_t, run) = unpack("timm-basic");
    symlink("gone.pth.tar", run.join("checkpoint-6.pth.tar")).unwrap();
    fs::create_dir(run.join("checkpoint-7.pth.tar")).unwrap();
    fs::remove_file(run.join("summary.csv")).unwrap();
    fs::create_dir(run.join("summary.csv")).unwrap();
    fs::remove_file(run.join("args.yaml")).unwrap();
    fs::create_dir(run.join("args.yaml")).unwrap();
    let s = scan(&run);
    assert!(
        warned(&s, "checkpoint-6.pth.tar is a dangling symlink"),
        "{:?}",
        s.warnings
    );
    assert!(
        warned(&s, "checkpoint-7.pth.tar is not a regular file"),
        "{:?}",
        s.warnings
    );
    assert!(warned(&s, "summary.csv: cannot read"), "{:?}", s.warnings);
    assert!(warned(&s, "args.yaml: cannot read"), "{:?}", s.warnings);
    timm_truth_holds(&s);

    let (_h, hf) = unpack("hf-basic");
    let ts = hf.join("checkpoint-40/trainer_state.json");
    fs::remove_file(&ts).unwrap();
    fs::create_dir(&ts).unwrap();
    let s = scan(&hf);
    assert!(
        warned(&s, "checkpoint-40/trainer_state.json: cannot read"),
        "{:?}",
        s.warnings
    );
    assert_eq!(s.with_role(Role::Best).unwrap().step, Some(20));

    // A mode-000 file: root reads it anyway, so as root the scan runs on a thread
    // without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH (capabilities are per thread).
    use std::os::unix::fs::PermissionsExt;
    let (_t2, run2) = unpack("timm-basic");
    fs::set_permissions(run2.join("summary.csv"), fs::Permissions::from_mode(0o000)).unwrap();
    let s = std::thread::spawn(move || {
        drop_dac_override_on_this_thread();
        scan(&run2)
    })
    .join()
    .unwrap();
    assert!(warned(&s, "summary.csv: cannot read"), "{:?}", s.warnings);
    timm_truth_holds(&s);
}

/// Drop the capabilities that let root read any file from the calling thread's
/// effective set (a no-op for other users, who do not have them).
fn drop_dac_override_on_this_thread() {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const V3: u32 = 0x2008_0522;
    const DAC_OVERRIDE: u32 = 1 << 1;
    const DAC_READ_SEARCH: u32 = 1 << 2;
    let mut h = Header {
        version: V3,
        pid: 0,
    };
    let mut d = [Data::default(); 2];
    // SAFETY: capget/capset with a v3 header and two data structs, as the ABI says.
    unsafe {
        assert_eq!(libc::syscall(libc::SYS_capget, &mut h, d.as_mut_ptr()), 0);
        d[0].effective &= !(DAC_OVERRIDE | DAC_READ_SEARCH);
        assert_eq!(libc::syscall(libc::SYS_capset, &mut h, d.as_ptr()), 0);
    }
}

#[test]
fn garbage_pickles() {
    // last.pth.tar is random bytes: a warning, last unknown, best still epoch 5.
    let (_t, run) = unpack("timm-basic");
    fs::write(run.join("last.pth.tar"), b"this is not a zip at all").unwrap();
    let s = scan(&run);
    assert!(warned(&s, "last.pth.tar: not a zip"), "{:?}", s.warnings);
    assert_eq!(s.with_role(Role::Best).unwrap().epoch, Some(5));
    assert!(s.with_role(Role::Last).is_none());
    assert_eq!(s.last.as_ref().unwrap().target, None);

    // A real zip whose pickle is scrambled: the parser refuses it, nothing panics.
    let (_t2, run2) = unpack("timm-basic");
    let p = run2.join("last.pth.tar");
    let mut data = fs::read(&p).unwrap();
    let at = data.windows(5).position(|w| w == b"epoch").unwrap();
    for b in &mut data[at - 6..at + 40] {
        *b = 0xfe;
    }
    fs::write(&p, &data).unwrap();
    let s = scan(&run2);
    assert!(
        warned(&s, "last.pth.tar: unreadable pickle"),
        "{:?}",
        s.warnings
    );
    assert_eq!(s.with_role(Role::Best).unwrap().epoch, Some(5));

    // model_best no longer hardlinked and unreadable: no best rather than a wrong one.
    let (_t3, run3) = unpack("timm-basic");
    fs::remove_file(run3.join("model_best.pth.tar")).unwrap();
    fs::write(run3.join("model_best.pth.tar"), vec![0u8; 4096]).unwrap();
    let s = scan(&run3);
    assert!(warned(&s, "model_best.pth.tar"), "{:?}", s.warnings);
    assert!(s.with_role(Role::Best).is_none());
    assert_eq!(s.with_role(Role::Last).unwrap().epoch, Some(7));

    // Lightning last.ckpt is garbage: best still from the ranking/record.
    let (_l, root) = unpack("lightning-basic");
    fs::write(
        root.join("version_0/checkpoints/last.ckpt"),
        b"PK\x03\x04garbage",
    )
    .unwrap();
    let s = scan(&root);
    assert!(warned(&s, "last.ckpt"), "{:?}", s.warnings);
    assert_eq!(s.with_role(Role::Best).unwrap().epoch, Some(3));

    // A corrupt .ckpt/state.json is a warning too.
    fs::create_dir(run.join(".ckpt")).unwrap();
    fs::write(run.join(".ckpt/state.json"), b"{\"pinned\": 3").unwrap();
    let s = scan(&run);
    assert!(
        warned(&s, ".ckpt/state.json is not valid"),
        "{:?}",
        s.warnings
    );
}

#[test]
fn zero_byte_aliases_and_nan_everywhere() {
    let (_t, run) = unpack("timm-basic");
    fs::write(run.join("last.pth.tar"), b"").unwrap();
    let p = run.join("summary.csv");
    let text = fs::read_to_string(&p)
        .unwrap()
        .replace(",50.0,", ",nan,")
        .replace(",40.0,", ",inf,");
    fs::write(&p, text).unwrap();
    let s = scan(&run);
    assert!(
        warned(&s, "last.pth.tar is a zero-byte file"),
        "{:?}",
        s.warnings
    );
    assert_eq!(s.with_role(Role::Best).unwrap().epoch, Some(5));
    assert_eq!(s.find("4").unwrap().metric_raw.as_deref(), Some("inf"));
}
