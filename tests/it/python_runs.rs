//! Runs written by the Python package, read by the monitor: a real Lightning `Trainer`
//! with `ckpt.lightning.CheckpointIO` (the training script of
//! `python/tests/test_lightning.py`, run by the Python in `CKPT_TEST_PYTHON`, else
//! `python3`), then `ckpt watch` on its log dir in a real pty.

use crate::util;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::pty::{ckpt_command, Pty};

/// The Python that has `ckpt`, torch and lightning (`.ci/test` sets `CKPT_TEST_PYTHON`
/// to its venv); `None` after a [`util::skip::skip`] when there is none.
fn python_with(test: &str, modules: &str) -> Option<String> {
    let py = std::env::var("CKPT_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(py);
    }
    util::skip::skip(
        test,
        &format!("{modules} not importable by {py} (set CKPT_TEST_PYTHON)"),
    );
    None
}

/// Train 4 epochs with `ModelCheckpoint(save_top_k=2, save_last=True, monitor="val_score",
/// mode="max")` through `ckpt.lightning.CheckpointIO`; returns the run (the logger's dir).
fn lightning_run(py: &str, root: &Path) -> PathBuf {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/tests");
    let out = Command::new(py)
        .current_dir(&tests)
        .args([
            "-c",
            "import sys; sys.path.insert(0, '.'); from test_lightning import load_train; \
             trainer, mc = load_train()['train'](sys.argv[1], epochs=4, monitor='val_score', mode='max'); \
             print(trainer.logger.log_dir)",
        ])
        .arg(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "training failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(stdout.lines().last().unwrap_or_default().trim())
}

#[test]
fn watch_reads_a_lightning_run_written_through_ckpt_lightning() {
    let test = "watch_reads_a_lightning_run_written_through_ckpt_lightning";
    let Some(py) = python_with(test, "ckpt.lightning, lightning, torch") else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let run = lightning_run(&py, root.path());
    let mut names: Vec<String> = std::fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // save_top_k=2 by val_score (0.3, 0.9, 0.5, 0.6): epochs 1 and 3 stay, plus last.ckpt.
    assert_eq!(
        names,
        [
            "epoch=1-step=8-val_score=0.9000.ckpt",
            "epoch=3-step=16-val_score=0.6000.ckpt",
            "last.ckpt"
        ],
        "{run:?}"
    );

    let mut cmd = ckpt_command(&["watch"]);
    cmd.arg(&run);
    cmd.env("TERM", "xterm-256color");
    let mut w = Pty::spawn(cmd, 160, 40);
    // The history table's row of `epoch`: its words (epoch, step, metric, rank, size, age,
    // roles, state), from the left pane.
    fn row(screen: &str, epoch: &str) -> Option<Vec<String>> {
        screen.lines().find_map(|l| {
            let cell = l.split('│').nth(1)?;
            let words: Vec<String> = cell.split_whitespace().map(str::to_string).collect();
            (words.first().map(String::as_str) == Some(epoch)).then_some(words)
        })
    }
    let screen = w.wait_for("the lightning run with its two checkpoints", 30, |s| {
        s.contains("· lightning ·") && row(s, "1").is_some() && row(s, "3").is_some()
    });
    println!("{screen}");
    let header = screen.lines().next().unwrap_or_default();
    assert!(
        header.contains(&format!("{} · lightning · val_score (max)", run.display())),
        "header: {header}"
    );
    // Best is epoch 1 (0.9), last is epoch 3 (0.6); epochs 0 and 2 were evicted.
    let (e1, e3) = (row(&screen, "1").unwrap(), row(&screen, "3").unwrap());
    assert_eq!(&e1[..3], ["1", "8", "0.9"], "{screen}");
    assert!(e1.contains(&"best".to_string()), "{e1:?}");
    assert_eq!(&e3[..3], ["3", "16", "0.6"], "{screen}");
    assert!(e3.contains(&"last".to_string()), "{e3:?}");
    assert!(screen.contains("history 2/2"), "{screen}");
    w.keys("q");
    assert!(w.wait_exit(10).success());
}
