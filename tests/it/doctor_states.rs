//! `doctor` sees broken states: `.ckpt` that is a symlink or a file,
//! a lock that is not a regular file, missing or wrong aliases, an interrupted
//! operation, bytes in the trash — each with the command that fixes it.

use std::fs;

use crate::util::cli::Dir;

fn doctor(d: &Dir, run: &str) -> serde_json::Value {
    let out = d.command().args(["doctor", run, "--json"]).output();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn check<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check: {doc}"))
}

#[test]
fn a_native_run_whose_ckpt_became_a_file_is_not_read_as_timm() {
    let d = Dir::new("ckpt-file");
    let run = d.native_run("r", &[1.0, 2.0], 4096);
    fs::remove_dir_all(run.join(".ckpt")).unwrap();
    fs::write(run.join(".ckpt"), b"oops").unwrap();
    let doc = doctor(&d, "r");
    assert_eq!(doc["layout"], "ckpt", "{doc}");
    let c = check(&doc, "ckpt dir");
    assert_eq!(c["status"], "fail");
    let detail = c["detail"].as_str().unwrap();
    assert!(
        detail.contains("a regular file") && detail.contains("mv "),
        "{detail}"
    );
    assert!(
        detail.contains(".ckpt .") || detail.contains(".ckpt.bad"),
        "{detail}"
    );
    // No advice to move a file *inside* the non-directory.
    assert!(
        !doc.to_string().contains(".ckpt/manifest.json.bad"),
        "{doc}"
    );
    assert!(!doc.to_string().contains(".ckpt/state.json.bad"), "{doc}");
}

#[test]
fn a_symlinked_ckpt_dir_and_a_lock_that_is_not_a_file_are_named_with_fixes() {
    let d = Dir::new("ckpt-link");
    let run = d.native_run("r", &[1.0], 4096);
    fs::rename(run.join(".ckpt"), d.join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(d.join("elsewhere"), run.join(".ckpt")).unwrap();
    let doc = doctor(&d, "r");
    let c = check(&doc, "ckpt dir");
    assert_eq!(c["status"], "fail", "{doc}");
    assert!(c["detail"].as_str().unwrap().contains("symlink"), "{c}");

    let d = Dir::new("lock-dir");
    let run = d.native_run("r", &[1.0], 4096);
    let _ = fs::remove_file(run.join(".ckpt/lock"));
    fs::create_dir(run.join(".ckpt/lock")).unwrap();
    let doc = doctor(&d, "r");
    let c = check(&doc, "lock file");
    assert_eq!(c["status"], "fail", "{doc}");
    assert!(c["detail"].as_str().unwrap().contains("a directory"), "{c}");
}

#[test]
fn missing_and_wrong_aliases_come_with_the_command_that_fixes_them() {
    let d = Dir::new("aliases");
    let run = d.native_run("r", &[1.0, 3.0, 2.0], 4096);
    fs::remove_file(run.join("last.pth.tar")).unwrap();
    fs::remove_file(run.join("model_best.pth.tar")).unwrap();
    fs::write(run.join("model_best.pth.tar"), b"not the checkpoint").unwrap();
    let doc = doctor(&d, "r");
    let c = check(&doc, "aliases");
    assert_eq!(c["status"], "fail", "{doc}");
    let detail = c["detail"].as_str().unwrap();
    assert!(detail.contains("last.pth.tar is missing"), "{detail}");
    assert!(detail.contains("ckpt restore"), "{detail}");
    assert!(detail.contains("model_best.pth.tar holds"), "{detail}");
    assert!(detail.contains("ckpt promote"), "{detail}");
    // The suggested commands do fix it.
    d.command().args(["restore", "r", "2", "--yes"]).assert_ok();
    d.command().args(["promote", "r", "1", "--yes"]).assert_ok();
    d.command().args(["promote", "r", "--release"]).assert_ok();
    let doc = doctor(&d, "r");
    assert_eq!(check(&doc, "aliases")["status"], "ok", "{doc}");
}

#[test]
fn bytes_in_the_trash_and_trash_deleted_by_hand_are_reported() {
    let d = Dir::new("trash");
    d.native_run("r", &[1.0, 2.0, 3.0], 4096);
    d.command()
        .args(["restore", "r", "0", "--archive-newer", "--yes"])
        .assert_ok();
    let doc = doctor(&d, "r");
    let c = check(&doc, "trash");
    assert_eq!(c["status"], "warn", "{doc}");
    let detail = c["detail"].as_str().unwrap();
    assert!(
        detail.contains("8192 bytes") && detail.contains("ckpt trash empty"),
        "{detail}"
    );
    let ls = d.command().args(["ls", "r", "--json"]).json();
    assert_eq!(ls["trash_bytes"], 8192, "{ls}");
    fs::remove_dir_all(d.join("r/.ckpt/trash")).unwrap();
    d.command().args(["verify", "r"]).assert_ok();
    let doc = doctor(&d, "r");
    assert!(check(&doc, "trash")["detail"]
        .as_str()
        .unwrap()
        .contains("deleted by hand"));
    d.command()
        .args(["trash", "empty", "r", "--yes"])
        .assert_ok();
    let doc = doctor(&d, "r");
    assert_eq!(check(&doc, "trash")["status"], "ok", "{doc}");
}
