//! Names trainers treat as special are never pruned: Lightning's
//! `last-vN.ckpt` resume aliases, `checkpoint-+8`, and two names for one epoch/step are
//! read as the trainer reads them or listed as unmanaged, never guessed into a ranking.

use std::fs;
use std::process::Command;

use crate::util::cli::Dir;

fn names(ls: &serde_json::Value) -> Vec<String> {
    ls["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

fn prune(d: &Dir, run: &str) {
    d.command()
        .args(["prune", run, "--keep-top", "1", "--keep-last", "1", "--yes"])
        .assert_ok();
}

#[test]
fn lightning_versioned_last_is_a_resume_alias_never_pruned() {
    let d = Dir::new("last-v1");
    let run = d.unpack("lightning-basic");
    let ck = run.join("version_0/checkpoints");
    fs::copy(
        ck.join("epoch=1-step=8-val_loss=0.500.ckpt"),
        ck.join("last-v1.ckpt"),
    )
    .unwrap();
    let ls = d
        .command()
        .args(["ls", "lightning-basic/version_0", "--json"])
        .json();
    assert!(!names(&ls).iter().any(|n| n.contains("last-v1")), "{ls}");
    assert!(ls["unmanaged"].to_string().contains("last-v1.ckpt"), "{ls}");
    prune(&d, "lightning-basic/version_0");
    assert!(ck.join("last-v1.ckpt").is_file());
}

#[test]
fn timm_names_timm_never_writes_are_unmanaged() {
    let d = Dir::new("timm-odd");
    let run = d.unpack("timm-basic");
    fs::copy(
        run.join("checkpoint-3.pth.tar"),
        run.join("checkpoint-+8.pth.tar"),
    )
    .unwrap();
    fs::copy(
        run.join("checkpoint-4.pth.tar"),
        run.join("checkpoint-004.pth.tar"),
    )
    .unwrap();
    // Same epoch, another extension: this run's saver writes `.pth.tar` only.
    fs::copy(
        run.join("checkpoint-4.pth.tar"),
        run.join("checkpoint-4.pth"),
    )
    .unwrap();
    let ls = d.command().args(["ls", "timm-basic", "--json"]).json();
    let n = names(&ls);
    assert!(
        !n.iter()
            .any(|n| n.contains("+8") || n.contains("004") || n == "checkpoint-4.pth"),
        "{n:?}"
    );
    assert!(
        !ls["checkpoints"].to_string().contains("\"epoch\":8"),
        "{ls}"
    );
    let un = ls["unmanaged"].to_string();
    assert!(
        un.contains("checkpoint-+8.pth.tar")
            && un.contains("checkpoint-004.pth.tar")
            && un.contains("checkpoint-4.pth\""),
        "{ls}"
    );
    prune(&d, "timm-basic");
    assert!(run.join("checkpoint-+8.pth.tar").is_file());
    assert!(run.join("checkpoint-004.pth.tar").is_file());
    assert!(run.join("checkpoint-4.pth").is_file());
}

#[test]
fn hf_two_dirs_of_one_step_and_signed_names_are_unmanaged() {
    let d = Dir::new("hf-odd");
    let run = d.unpack("hf-basic");
    let cp = |from: &str, to: &str| {
        let st = Command::new("cp")
            .arg("-a")
            .arg(run.join(from))
            .arg(run.join(to))
            .status()
            .unwrap();
        assert!(st.success());
    };
    cp("checkpoint-20", "checkpoint-020");
    cp("checkpoint-20", "checkpoint-+8");
    let ls = d.command().args(["ls", "hf-basic", "--json"]).json();
    let n = names(&ls);
    assert_eq!(n, vec!["checkpoint-40".to_string()], "{ls}");
    let un = ls["unmanaged"].to_string();
    for name in ["checkpoint-20", "checkpoint-020", "checkpoint-+8"] {
        assert!(un.contains(&format!("\"{name}\"")), "{name}: {ls}");
    }
    prune(&d, "hf-basic");
    for name in [
        "checkpoint-20",
        "checkpoint-020",
        "checkpoint-+8",
        "checkpoint-40",
    ] {
        assert!(run.join(name).is_dir(), "{name} was pruned");
    }
}
