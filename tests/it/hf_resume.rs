//! HF resume point: after `restore --archive-newer`, the newest
//! `checkpoint-N/` is what `transformers.trainer_utils.get_last_checkpoint` picks, and a
//! symlinked checkpoint dir (which it follows) never makes the reported resume point a lie.

use crate::util;

use std::path::Path;
use std::process::Command;

use crate::util::cli::Dir;

/// What transformers itself resumes from: its `get_last_checkpoint`, run by the real
/// library when a Python with transformers is at hand (`CKPT_TEST_PYTHON`, else
/// `python3`); `None` when not (SKIPPED; a failure under `CI=true`).
fn transformers_last(run: &Path) -> Option<String> {
    let py = std::env::var("CKPT_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&py)
        .args([
            "-c",
            "import sys, os; from transformers.trainer_utils import get_last_checkpoint as g; \
             print(os.path.basename(g(sys.argv[1]) or ''))",
        ])
        .arg(run)
        .output();
    match out {
        Ok(o) if o.status.success() => Some(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        _ => {
            util::skip::skip(
                "hf_resume",
                &format!("transformers not importable by {py} (set CKPT_TEST_PYTHON)"),
            );
            None
        }
    }
}

/// The same rule in Rust (`^checkpoint-(\d+)$`, a directory following symlinks, highest step).
fn rust_last(run: &Path) -> Option<String> {
    ckpt::layout::hf::resume_candidates(run)
        .last()
        .map(|(n, _)| n.clone())
}

#[test]
fn a_symlinked_newer_checkpoint_is_the_reported_resume_point_and_restore_archives_it() {
    let d = Dir::new("hf-resume");
    let run = d.unpack("hf-basic");
    std::os::unix::fs::symlink("checkpoint-40", run.join("checkpoint-60")).unwrap();
    let ls = d.command().args(["ls", "hf-basic", "--json"]).json();
    assert_eq!(ls["last"]["path"], "checkpoint-60", "{ls}");
    assert_eq!(ls["last"]["how"], "symlink", "{ls}");
    assert_eq!(rust_last(&run).as_deref(), Some("checkpoint-60"));
    if let Some(t) = transformers_last(&run) {
        assert_eq!(t, "checkpoint-60");
    }

    d.command()
        .args(["restore", "hf-basic", "20", "--archive-newer", "--yes"])
        .assert_ok();
    assert!(run.join("checkpoint-40").symlink_metadata().is_err());
    assert!(run.join("checkpoint-60").symlink_metadata().is_err());
    assert_eq!(rust_last(&run).as_deref(), Some("checkpoint-20"));
    if let Some(t) = transformers_last(&run) {
        assert_eq!(t, "checkpoint-20", "transformers resumes elsewhere");
    }
    let ls = d.command().args(["ls", "hf-basic", "--json"]).json();
    assert_eq!(ls["last"]["path"], "checkpoint-20", "{ls}");
    // The symlink went to the trash as a link; its target's bytes were not followed.
    let trash = d.command().args(["trash", "hf-basic", "--json"]).json();
    assert!(
        trash["entries"].to_string().contains("checkpoint-60"),
        "{trash}"
    );
}

#[test]
fn a_second_name_of_a_higher_step_is_archived_too() {
    let d = Dir::new("hf-dup");
    let run = d.unpack("hf-basic");
    let st = Command::new("cp")
        .arg("-a")
        .arg(run.join("checkpoint-40"))
        .arg(run.join("checkpoint-0040"))
        .status()
        .unwrap();
    assert!(st.success());
    d.command()
        .args(["restore", "hf-basic", "20", "--archive-newer", "--yes"])
        .assert_ok();
    assert_eq!(rust_last(&run).as_deref(), Some("checkpoint-20"));
    if let Some(t) = transformers_last(&run) {
        assert_eq!(t, "checkpoint-20");
    }
}
