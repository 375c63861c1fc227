//! Trainer metadata as trainers really write it: transformers'
//! `trainer_state.json` holds `NaN`/`Infinity` (Python's json.dumps); such values are
//! read, a checkpoint whose metadata cannot be read is never pruned by a metric rule,
//! and the trainer's own recorded best is always kept.

use std::fs;
use std::path::Path;

use crate::util::cli::Dir;

/// Put Python's non-finite tokens into every `trainer_state.json` of an hf run, as a
/// Trainer writes them after an fp16 overflow (`grad_norm`).
fn inject_non_finite(run: &Path) {
    for step in [20, 40] {
        let p = run.join(format!("checkpoint-{step}/trainer_state.json"));
        let text = fs::read_to_string(&p).unwrap();
        let text = text
            .replace("\"grad_norm\": 0.5160225033760071", "\"grad_norm\": NaN")
            .replace(
                "\"grad_norm\": 0.26324063539505005",
                "\"grad_norm\": -Infinity",
            )
            .replace(
                "\"grad_norm\": 0.293100506067276",
                "\"grad_norm\": Infinity",
            );
        assert!(text.contains("NaN") && text.contains("-Infinity"));
        fs::write(&p, text).unwrap();
    }
}

fn checkpoint<'a>(ls: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    ls["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["paths"][0] == name)
        .unwrap_or_else(|| panic!("{name} not listed: {ls}"))
}

#[test]
fn hf_trainer_state_with_nan_and_infinity_is_read() {
    let d = Dir::new("nan-state");
    let run = d.unpack("hf-basic");
    inject_non_finite(&run);
    let ls = d.command().args(["ls", "hf-basic", "--json"]).json();
    let c20 = checkpoint(&ls, "checkpoint-20");
    assert_eq!(c20["metric"], 0.5, "{ls}");
    assert!(c20["metrics"]["grad_norm"].is_null() || c20["metrics"]["grad_norm"].is_number());
    assert_eq!(ls["best"]["path"], "checkpoint-20", "{ls}");
    let warnings = ls["warnings"].to_string();
    assert!(!warnings.contains("not JSON"), "{warnings}");
}

#[test]
fn prune_keeps_the_trainers_best_when_its_state_holds_nan() {
    let d = Dir::new("nan-prune");
    let run = d.unpack("hf-basic");
    inject_non_finite(&run);
    d.command()
        .args([
            "prune",
            "hf-basic",
            "--keep-top",
            "1",
            "--keep-last",
            "1",
            "--yes",
        ])
        .assert_ok();
    assert!(
        run.join("checkpoint-20").is_dir(),
        "the trainer's best was pruned"
    );
    assert!(run.join("checkpoint-40").is_dir());
}

#[test]
fn unreadable_metadata_is_never_pruned_by_a_metric_rule() {
    let d = Dir::new("garbage-state");
    let run = d.unpack("hf-basic");
    for step in [20, 40] {
        fs::write(
            run.join(format!("checkpoint-{step}/trainer_state.json")),
            b"{\"log_history\": [ {\"step\": 20, ",
        )
        .unwrap();
    }
    let plan = d
        .command()
        .args([
            "prune",
            "hf-basic",
            "--keep-top",
            "1",
            "--keep-last",
            "1",
            "--dry-run",
            "--json",
        ])
        .json();
    assert_eq!(
        plan["plan"]["victims"].as_array().map(Vec::len),
        Some(0),
        "{plan}"
    );
    let text = d
        .command()
        .args([
            "prune",
            "hf-basic",
            "--keep-top",
            "1",
            "--keep-last",
            "1",
            "--dry-run",
        ])
        .assert_ok();
    assert!(text.contains("metric_unknown"), "{text}");
    d.command()
        .args([
            "prune",
            "hf-basic",
            "--keep-top",
            "1",
            "--keep-last",
            "1",
            "--yes",
        ])
        .assert_ok();
    assert!(run.join("checkpoint-20").is_dir());
}

#[test]
fn timm_saver_best_is_kept_even_when_ckpt_best_is_another() {
    // model_best.pth.tar re-pointed by hand at epoch 4: timm's own history (the saver
    // state in last.pth.tar) still says epoch 5 is its best, so 5 is never pruned.
    let d = Dir::new("timm-saver-best");
    let run = d.unpack("timm-basic");
    fs::remove_file(run.join("model_best.pth.tar")).unwrap();
    fs::hard_link(
        run.join("checkpoint-4.pth.tar"),
        run.join("model_best.pth.tar"),
    )
    .unwrap();
    let out = d
        .command()
        .args([
            "prune",
            "timm-basic",
            "--keep-top",
            "1",
            "--keep-last",
            "1",
            "--dry-run",
        ])
        .assert_ok();
    let line = out
        .lines()
        .find(|l| l.contains("checkpoint-5.pth.tar"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.contains("keep") && line.contains("trainer_best"),
        "{out}"
    );
}
