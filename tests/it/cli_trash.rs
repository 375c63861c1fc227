//! `ckpt trash RUN [--json]`, `ckpt trash restore RUN EPOCH`, `ckpt trash empty RUN`.

use crate::util::cli::Dir;

#[test]
fn trash_lists_restores_and_empties_through_the_cli() {
    let d = Dir::new("trash-cli");
    d.native_run("r", &[1.0, 3.0, 2.0], 4096);
    d.command()
        .args(["restore", "r", "0", "--archive-newer", "--yes"])
        .assert_ok();
    let l = d.command().args(["trash", "r", "--json"]).json();
    assert_eq!(l["bytes"], 8192, "{l}");
    let e = &l["entries"];
    assert_eq!(e.as_array().map(Vec::len), Some(2), "{l}");
    assert_eq!(e[0]["epoch"], 1);
    assert_eq!(e[0]["origin"], "archived_newer");
    let text = d.command().args(["trash", "r"]).assert_ok();
    assert!(
        text.contains("epoch 2") && text.contains("archived newer"),
        "{text}"
    );
    // Destructive without a terminal needs --yes.
    d.command()
        .args(["trash", "restore", "r", "1"])
        .assert_exit(2);
    d.command()
        .args(["trash", "restore", "r", "1", "--yes"])
        .assert_ok();
    assert!(d.join("r/checkpoint-1.pth.tar").is_file());
    d.command().args(["verify", "r"]).assert_ok();
    let ls = d.command().args(["ls", "r", "--json"]).json();
    assert_eq!(ls["trash_bytes"], 4096, "{ls}");
    let plan = d
        .command()
        .args(["trash", "empty", "r", "--dry-run"])
        .assert_ok();
    assert!(plan.contains("freeing 4096 bytes"), "{plan}");
    d.command()
        .args(["trash", "empty", "r", "--older-than", "-1", "--yes"])
        .assert_exit(2);
    let done = d
        .command()
        .args(["trash", "empty", "r", "--yes"])
        .assert_ok();
    assert!(done.contains("freed 4096 bytes"), "{done}");
    let ls = d.command().args(["ls", "r", "--json"]).json();
    assert_eq!(ls["trash_bytes"], 0, "{ls}");
}
