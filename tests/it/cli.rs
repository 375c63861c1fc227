//! Integration tests of the `ckpt` binary: every command on the real fixture runs and
//! on native runs made with `ckpt save`, including the error paths and exit codes.

use crate::util;

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::cli::{assert_keys, is_root, Dir};
use crate::util::payload::bytes as payload;
use crate::util::pty::{ckpt_command, Pty};
use crate::util::skip::skip;
use crate::util::tmpfs::TmpfsMount;
use serde_json::Value;

/// `ckpt ARGS` in a 140x40 pty, run in `cwd` with `env` added (prompts and colour).
fn pty_in(cwd: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Pty {
    let mut cmd = ckpt_command(args);
    cmd.cwd(cwd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Pty::spawn(cmd, 140, 40)
}

const KIB: usize = 1024;

fn checkpoints(v: &Value) -> &Vec<Value> {
    v["checkpoints"].as_array().expect("checkpoints array")
}

fn by_epoch(v: &Value, epoch: u64) -> &Value {
    checkpoints(v)
        .iter()
        .rfind(|c| c["epoch"] == epoch)
        .unwrap_or_else(|| panic!("no epoch {epoch} in {v}"))
}

// ---------------------------------------------------------------- help and usage

#[test]
fn help_has_examples_and_exit_codes() {
    let d = Dir::new("help");
    let out = d.command().arg("--help").assert_ok();
    assert!(out.contains("Examples:"), "{out}");
    assert!(out.contains("Exit codes: 0 ok, 1 failure, 2 usage error, 3 verify"));
    for cmd in [
        "watch", "ls", "save", "promote", "restore", "prune", "pin", "unpin", "verify", "doctor",
        "demo",
    ] {
        assert!(out.contains(cmd), "{cmd} missing from --help");
        let sub = d.command().args([cmd, "--help"]).assert_ok();
        assert!(
            sub.contains("Example"),
            "{cmd} --help has no example:\n{sub}"
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    let d = Dir::new("usage");
    d.command().arg("--bogus").assert_exit(2);
    d.command().args(["ls", "--nope"]).assert_exit(2);
    d.command().arg("frobnicate").assert_exit(2);
    let err = d.command().args(["--layout", "zip", "ls"]).assert_err(2);
    assert!(
        err.contains("expected one of ckpt, timm, lightning, hf"),
        "{err}"
    );
    let err = d
        .command()
        .args(["save", "run", "--epoch", "1", "--metric", "abc", "x"])
        .assert_err(2);
    assert!(err.contains("--metric \"abc\" is not a number"), "{err}");
    let err = d
        .command()
        .args(["save", "run", "--epoch", "1", "--move", "-"])
        .assert_err(2);
    assert!(err.contains("--move needs a FILE"), "{err}");
    d.command()
        .args(["--lock-timeout", "-1", "ls"])
        .assert_exit(2);
}

// ---------------------------------------------------------------- ls

#[test]
fn ls_timm_fixture_json() {
    let d = Dir::new("ls-timm");
    let run = d.unpack("timm-basic");
    let v = d.command().arg("ls").arg(&run).arg("--json").json();
    assert_keys(
        &v,
        &[
            "run",
            "layout",
            "metric",
            "best",
            "last",
            "checkpoints",
            "warnings",
            "disk",
        ],
    );
    assert_eq!(v["layout"], "timm");
    assert_eq!(v["metric"]["name"], "eval_top1");
    assert_eq!(v["metric"]["mode"], "max");
    assert_eq!(v["best"]["epoch"], 5);
    assert_eq!(v["best"]["held"], false);
    assert_keys(&v["best"], &["epoch", "step", "path", "held"]);
    assert_keys(&v["last"], &["epoch", "step", "path"]);
    assert_eq!(v["last"]["epoch"], 7);
    let c5 = by_epoch(&v, 5);
    assert_keys(
        c5,
        &[
            "epoch",
            "step",
            "metric",
            "metric_raw",
            "metrics",
            "bytes",
            "paths",
            "mtime",
            "roles",
            "pinned",
            "state",
        ],
    );
    assert_eq!(c5["metric"], 62.5);
    assert_eq!(c5["rank"], 1);
    assert_eq!(c5["bytes"], 3041705);
    assert!(c5["roles"]
        .as_array()
        .unwrap()
        .contains(&Value::from("best")));
    assert_eq!(c5["state"], "complete");
    assert_keys(
        &v["disk"],
        &[
            "fs_type",
            "mount",
            "total",
            "available",
            "projected_checkpoints_until_full",
        ],
    );
    assert!(v["disk"]["available"].as_u64().unwrap() > 0);
}

#[test]
fn ls_timm_fixture_human_table() {
    let d = Dir::new("ls-timm-h");
    let run = d.unpack("timm-basic");
    let out = d.command().arg("ls").arg(&run).assert_ok();
    let header = out.lines().nth(1).unwrap();
    for col in [
        "EPOCH", "STEP", "METRIC", "RANK", "SIZE", "AGE", "ROLES", "PIN", "STATE",
    ] {
        assert!(header.contains(col), "{col} missing: {header}");
    }
    let row5 = out
        .lines()
        .find(|l| l.contains("checkpoint-5.pth.tar"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(row5.contains("62.5") && row5.contains("2.9 MiB") && row5.contains("best"));
    assert!(!out.contains('\x1b'), "colour off a terminal:\n{out}");
    assert!(out.contains("best epoch 5"), "{out}");
    assert!(out.contains("last epoch 7"), "{out}");
    assert!(out.contains("disk "), "{out}");
}

#[test]
fn ls_lightning_and_hf_fixtures() {
    let d = Dir::new("ls-other");
    let pl = d.unpack("lightning-basic").join("version_0");
    let v = d.command().arg("ls").arg(&pl).arg("--json").json();
    assert_eq!(v["layout"], "lightning");
    assert_eq!(v["metric"]["name"], "val_loss");
    assert_eq!(v["metric"]["mode"], "min");
    assert_eq!(v["best"]["epoch"], 3);
    assert_eq!(by_epoch(&v, 1)["metric"], 0.5);

    let hf = d.unpack("hf-basic");
    let v = d.command().arg("ls").arg(&hf).arg("--json").json();
    assert_eq!(v["layout"], "hf");
    assert_eq!(v["metric"]["mode"], "min");
    assert_eq!(v["best"]["step"], 20);
    assert_eq!(checkpoints(&v).len(), 2);
}

#[test]
fn ls_defaults_to_current_directory() {
    let d = Dir::new("ls-dot");
    d.unpack("timm-basic");
    let v = d
        .command()
        .args(["--layout", "timm", "ls", "timm-basic", "--json"])
        .json();
    assert_eq!(v["layout"], "timm");
    let mut cmd = util::cli::TestCommand::new(&d.join("timm-basic"));
    let v = cmd.args(["ls", "--json"]).json();
    assert_eq!(v["best"]["epoch"], 5);
}

#[test]
fn ls_missing_run_names_path_and_next_step() {
    let d = Dir::new("ls-missing");
    let err = d.command().args(["ls", "no-such-run"]).assert_err(1);
    assert!(err.starts_with("ckpt: error: "), "{err}");
    assert!(err.contains("no-such-run"), "{err}");
    assert!(err.contains("ckpt save"), "next step missing: {err}");
    assert_eq!(err.lines().count(), 1, "one clear line: {err}");
}

#[test]
fn ls_corrupt_manifest_points_to_doctor() {
    let d = Dir::new("ls-corrupt");
    let run = d.native_run("run", &[1.0, 2.0], KIB);
    fs::write(
        run.join(".ckpt/manifest.json"),
        b"{ \"format\": \"ckpt-manifest\", trunc",
    )
    .unwrap();
    let err = d.command().args(["ls", "run"]).assert_err(1);
    assert!(err.contains("corrupt manifest"), "{err}");
    assert!(err.contains("manifest.json"), "{err}");
    assert!(err.contains("ckpt doctor"), "{err}");
}

#[test]
fn closed_stdout_pipe_is_not_an_error() {
    let d = Dir::new("pipe");
    let run = d.unpack("timm-basic");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ckpt"))
        .arg("ls")
        .arg(&run)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------- save

#[test]
fn save_copy_move_and_stdin() {
    let d = Dir::new("save");
    // copy: the source stays.
    let src = d.create("a.bin", payload(0, 64 * KIB));
    let out = d
        .command()
        .args([
            "save",
            "run",
            "--epoch",
            "0",
            "--metric",
            "10",
            "--metric-name",
            "top1",
        ])
        .arg(&src)
        .assert_ok();
    assert!(out.contains("saved epoch 0"), "{out}");
    assert!(src.exists());
    assert_eq!(
        fs::read(d.join("run/checkpoint-0.pth.tar")).unwrap(),
        payload(0, 64 * KIB)
    );
    assert_eq!(
        fs::read(d.join("run/last.pth.tar")).unwrap(),
        payload(0, 64 * KIB)
    );

    // move: zero-copy rename on the same filesystem (same inode).
    let staged = d.create("run/staged.pth.tar", payload(1, 64 * KIB));
    let ino = fs::metadata(&staged).unwrap().ino();
    d.command()
        .args(["save", "run", "--epoch", "1", "--metric", "30", "--move"])
        .arg(&staged)
        .assert_ok();
    assert!(!staged.exists());
    let saved = d.join("run/checkpoint-1.pth.tar");
    assert_eq!(fs::metadata(&saved).unwrap().ino(), ino);
    assert_eq!(fs::read(&saved).unwrap(), payload(1, 64 * KIB));

    // stdin.
    let v: Value = {
        let out = d
            .command()
            .args([
                "save", "run", "--epoch", "2", "--metric", "20", "--json", "-",
            ])
            .stdin(payload(2, 200 * KIB))
            .assert_ok();
        serde_json::from_str(&out).unwrap()
    };
    assert_keys(
        &v,
        &["path", "bytes", "hash", "replaced", "became_best", "pruned"],
    );
    assert_eq!(v["bytes"], 200 * KIB);
    assert_eq!(v["became_best"], false);
    assert_eq!(
        fs::read(d.join("run/checkpoint-2.pth.tar")).unwrap(),
        payload(2, 200 * KIB)
    );

    let ls = d.command().args(["ls", "run", "--json"]).json();
    assert_eq!(ls["layout"], "ckpt");
    assert_eq!(ls["metric"]["name"], "top1");
    assert_eq!(ls["best"]["epoch"], 1);
    assert_eq!(ls["last"]["epoch"], 2);
    assert_eq!(checkpoints(&ls).len(), 3);
    assert!(by_epoch(&ls, 2)["hash"]
        .as_str()
        .unwrap()
        .starts_with("xxh3-128:"));
}

#[test]
fn save_nan_metric_never_becomes_best() {
    let d = Dir::new("save-nan");
    d.native_run("run", &[5.0], KIB);
    d.command()
        .args(["save", "run", "--epoch", "1", "--metric", "nan", "-"])
        .stdin(payload(9, KIB))
        .assert_ok();
    let v = d.command().args(["ls", "run", "--json"]).json();
    let c1 = by_epoch(&v, 1);
    assert_eq!(c1["metric"], Value::Null);
    assert_eq!(c1["metric_raw"].as_str().unwrap().to_lowercase(), "nan");
    assert_eq!(c1["rank"], Value::Null);
    assert_eq!(v["best"]["epoch"], 0);
}

#[test]
fn save_records_saved_by_naming_the_parent_as_trainer() {
    let d = Dir::new("save-by");
    d.native_run("run", &[5.0], KIB);
    let raw = std::fs::read_to_string(d.join("run/.ckpt/manifest.json")).unwrap();
    let m: Value = serde_json::from_str(&raw).unwrap();
    let by = &m["checkpoints"][0]["saved_by"];
    assert_keys(by, &["host", "pid", "ppid", "cmd"]);
    // The `ckpt save` child: its parent is this test process (the "trainer").
    assert_eq!(by["ppid"], std::process::id());
    assert_ne!(by["pid"], std::process::id());
    let cmd = by["cmd"].as_str().unwrap();
    assert!(cmd.contains("ckpt save run --epoch 0"), "{cmd}");
    let parent = by["parent_cmd"].as_str().unwrap();
    let me = std::env::args().next().unwrap();
    assert!(parent.starts_with(&me), "{parent} vs {me}");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(by["host"], host.trim());
    let sb: ckpt::store::manifest::SavedBy = serde_json::from_value(by.clone()).unwrap();
    assert!(sb.is_cli_save());
    assert_eq!(sb.trainer(), (std::process::id(), parent));
    // `ls --json` shows it per checkpoint.
    let v = d.command().args(["ls", "run", "--json"]).json();
    assert_eq!(by_epoch(&v, 0)["saved_by"]["ppid"], std::process::id());
}

#[test]
fn save_same_epoch_replaces_it() {
    let d = Dir::new("save-replace");
    d.native_run("run", &[1.0], KIB);
    let out = d
        .command()
        .args(["save", "run", "--epoch", "0", "--metric", "2", "-"])
        .stdin(payload(7, 2 * KIB))
        .assert_ok();
    assert!(out.contains("replaced epoch 0"), "{out}");
    assert_eq!(
        fs::read(d.join("run/checkpoint-0.pth.tar")).unwrap(),
        payload(7, 2 * KIB)
    );
}

#[test]
fn save_missing_file_names_it() {
    let d = Dir::new("save-missing");
    let err = d
        .command()
        .args(["save", "run", "--epoch", "0", "nope.pth.tar"])
        .assert_err(1);
    assert!(err.contains("nope.pth.tar"), "{err}");
}

#[test]
fn save_into_read_only_directory_fails_before_touching_anything() {
    let d = Dir::new("save-ro");
    let ro = d.join("ro");
    // Root writes through chmod: a read-only tmpfs stops it.
    let tmpfs = if is_root() {
        match TmpfsMount::try_at(&ro, "1m", "ro") {
            Ok(m) => Some(m),
            Err(why) => {
                skip(
                    "save_into_read_only_directory_fails_before_touching_anything",
                    &format!(
                        "running as root and cannot mount a read-only tmpfs ({why}), \
                         and chmod does not stop root's writes"
                    ),
                );
                return;
            }
        }
    } else {
        fs::create_dir(&ro).unwrap();
        let mut perm = fs::metadata(&ro).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o555);
        fs::set_permissions(&ro, perm).unwrap();
        None
    };
    let src = d.create("a.bin", payload(0, KIB));
    let out = d
        .command()
        .args(["save", "ro", "--epoch", "0"])
        .arg(&src)
        .assert_exit(1);
    drop(tmpfs);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ro"), "{err}");
    assert!(
        err.contains("cannot write") || err.contains("Read-only") || err.contains("ermission"),
        "{err}"
    );
    assert!(src.exists());
}

// ---------------------------------------------------------------- promote

#[test]
fn promote_needs_yes_off_a_terminal_then_holds_best() {
    let d = Dir::new("promote");
    let run = d.native_run("run", &[1.0, 3.0, 2.0], KIB);
    let before = fs::read(run.join("model_best.pth.tar")).unwrap();
    let err = d.command().args(["promote", "run", "0"]).assert_err(2);
    assert!(err.contains("pass --yes"), "{err}");
    assert_eq!(fs::read(run.join("model_best.pth.tar")).unwrap(), before);

    let plan = d
        .command()
        .args(["promote", "run", "0", "--dry-run"])
        .assert_ok();
    assert!(plan.contains("checkpoint-0.pth.tar"), "{plan}");

    d.command()
        .args(["promote", "run", "checkpoint-0.pth.tar", "--yes"])
        .assert_ok();
    assert_eq!(
        fs::read(run.join("model_best.pth.tar")).unwrap(),
        payload(0, KIB)
    );
    let v = d.command().args(["ls", "run", "--json"]).json();
    assert_eq!(v["best"]["epoch"], 0);
    assert_eq!(v["best"]["held"], true);
    assert_eq!(by_epoch(&v, 0)["pinned"], true);

    // A better save does not move a held best...
    d.command()
        .args(["save", "run", "--epoch", "3", "--metric", "9", "-"])
        .stdin(payload(3, KIB))
        .assert_ok();
    let v = d.command().args(["ls", "run", "--json"]).json();
    assert_eq!(v["best"]["epoch"], 0);
    // ...until released.
    d.command()
        .args(["promote", "run", "--release"])
        .assert_ok();
    let v = d.command().args(["ls", "run", "--json"]).json();
    assert_eq!(v["best"]["held"], false);
}

#[test]
fn promote_unknown_epoch_says_how_to_list() {
    let d = Dir::new("promote-unknown");
    d.native_run("run", &[1.0], KIB);
    let err = d
        .command()
        .args(["promote", "run", "99", "--yes"])
        .assert_err(1);
    assert!(err.contains("no checkpoint 99"), "{err}");
    assert!(err.contains("ckpt ls"), "{err}");
}

#[test]
fn promote_on_timm_rewrites_model_best() {
    let d = Dir::new("promote-timm");
    let run = d.unpack("timm-basic");
    d.command()
        .arg("promote")
        .arg(&run)
        .args(["4", "--yes"])
        .assert_ok();
    assert_eq!(
        fs::read(run.join("model_best.pth.tar")).unwrap(),
        fs::read(run.join("checkpoint-4.pth.tar")).unwrap()
    );
    let v = d.command().arg("ls").arg(&run).arg("--json").json();
    assert_eq!(v["best"]["epoch"], 4);
    assert_eq!(v["best"]["held"], true);
}

// ---------------------------------------------------------------- restore

#[test]
fn restore_plan_confirm_apply() {
    let d = Dir::new("restore");
    let run = d.native_run("run", &[1.0, 3.0, 2.0], KIB);
    let err = d.command().args(["restore", "run", "1"]).assert_err(2);
    assert!(err.contains("pass --yes"), "{err}");
    let plan = d
        .command()
        .args(["restore", "run", "1", "--dry-run"])
        .assert_ok();
    assert!(plan.contains("last.pth.tar"), "{plan}");
    assert!(
        plan.contains("checkpoint-2.pth.tar"),
        "newer listed: {plan}"
    );
    assert_eq!(fs::read(run.join("last.pth.tar")).unwrap(), payload(2, KIB));

    d.command()
        .args(["restore", "run", "1", "--yes"])
        .assert_ok();
    assert_eq!(fs::read(run.join("last.pth.tar")).unwrap(), payload(1, KIB));
    let v = d.command().args(["ls", "run", "--json"]).json();
    assert_eq!(v["last"]["epoch"], 1);
}

#[test]
fn restore_to_exports_without_clobbering() {
    let d = Dir::new("restore-to");
    d.native_run("run", &[1.0, 3.0], KIB);
    let out = d.join("export.pth.tar");
    d.command()
        .args(["restore", "run", "0", "--to"])
        .arg(&out)
        .assert_ok();
    assert_eq!(fs::read(&out).unwrap(), payload(0, KIB));
    let err = d
        .command()
        .args(["restore", "run", "1", "--yes", "--to"])
        .arg(&out)
        .assert_err(1);
    assert!(
        err.contains("export.pth.tar") && err.contains("--force"),
        "{err}"
    );
    d.command()
        .args(["restore", "run", "1", "--yes", "--force", "--to"])
        .arg(&out)
        .assert_ok();
    assert_eq!(fs::read(&out).unwrap(), payload(1, KIB));
}

#[test]
fn restore_timm_keeps_the_only_copy_of_last() {
    let d = Dir::new("restore-timm");
    let run = d.unpack("timm-basic");
    let old_last = fs::read(run.join("last.pth.tar")).unwrap();
    d.command()
        .arg("restore")
        .arg(&run)
        .args(["4", "--yes"])
        .assert_ok();
    assert_eq!(
        fs::read(run.join("last.pth.tar")).unwrap(),
        fs::read(run.join("checkpoint-4.pth.tar")).unwrap()
    );
    // The epoch-7 state was the only copy: it must survive somewhere under .ckpt/trash.
    let mut found = false;
    let mut stack = vec![run.join(".ckpt/trash")];
    while let Some(p) = stack.pop() {
        for e in fs::read_dir(&p).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else if fs::read(e.path()).unwrap() == old_last {
                found = true;
            }
        }
    }
    assert!(found, "old last.pth.tar not kept in .ckpt/trash");
}

// ---------------------------------------------------------------- prune, pin

#[test]
fn prune_dry_run_then_apply_with_pins() {
    let d = Dir::new("prune");
    let run = d.native_run("run", &[1.0, 5.0, 2.0, 4.0, 3.0], 4 * KIB);
    d.command().args(["pin", "run", "0"]).assert_ok();

    let plan = d
        .command()
        .args([
            "prune",
            "run",
            "--keep-top",
            "1",
            "--keep-last",
            "1",
            "--dry-run",
        ])
        .assert_ok();
    assert!(plan.contains("checkpoint-2.pth.tar"), "{plan}");
    assert!(plan.contains("checkpoint-3.pth.tar"), "{plan}");
    assert!(plan.contains("4.0 KiB"), "{plan}");
    assert!(plan.contains("dry run"), "{plan}");
    assert!(run.join("checkpoint-2.pth.tar").exists());

    let j = d
        .command()
        .args([
            "prune",
            "run",
            "--keep-top",
            "1",
            "--keep-last",
            "1",
            "--dry-run",
            "--json",
        ])
        .json();
    assert_keys(&j, &["run", "dry_run", "plan", "result"]);
    assert_keys(&j["plan"], &["policy", "victims", "kept", "bytes_freed"]);
    assert_eq!(j["result"], Value::Null);
    let victims: Vec<&str> = j["plan"]["victims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(victims, ["checkpoint-2.pth.tar", "checkpoint-3.pth.tar"]);
    assert_eq!(j["plan"]["bytes_freed"], 8 * KIB);

    let err = d
        .command()
        .args(["prune", "run", "--keep-top", "1", "--keep-last", "1"])
        .assert_err(2);
    assert!(err.contains("pass --yes"), "{err}");
    assert!(run.join("checkpoint-2.pth.tar").exists());

    let j = d
        .command()
        .args([
            "prune",
            "run",
            "--keep-top",
            "1",
            "--keep-last",
            "1",
            "--yes",
            "--json",
        ])
        .json();
    assert_keys(&j["result"], &["removed", "bytes_freed", "refused"]);
    assert_eq!(j["result"]["bytes_freed"], 8 * KIB);
    assert!(!run.join("checkpoint-2.pth.tar").exists());
    assert!(!run.join("checkpoint-3.pth.tar").exists());
    assert!(run.join("checkpoint-0.pth.tar").exists(), "pinned");
    assert!(run.join("checkpoint-1.pth.tar").exists(), "best");
    assert!(run.join("checkpoint-4.pth.tar").exists(), "last");

    d.command().args(["unpin", "run", "0"]).assert_ok();
    let v = d.command().args(["ls", "run", "--json"]).json();
    assert_eq!(by_epoch(&v, 0)["pinned"], false);
}

#[test]
fn pin_unknown_checkpoint_fails() {
    let d = Dir::new("pin-unknown");
    d.native_run("run", &[1.0], KIB);
    let err = d
        .command()
        .args(["pin", "run", "checkpoint-9.pth.tar"])
        .assert_err(1);
    assert!(err.contains("no checkpoint checkpoint-9.pth.tar"), "{err}");
}

// ---------------------------------------------------------------- verify, doctor

#[test]
fn verify_clean_then_damaged_exits_3() {
    let d = Dir::new("verify");
    let run = d.native_run("run", &[1.0, 2.0, 0.5], 8 * KIB);
    let out = d.command().args(["verify", "run"]).assert_ok();
    assert!(out.contains("0 damaged"), "{out}");

    // Flip one byte of the oldest (not an alias target) checkpoint.
    let victim = run.join("checkpoint-0.pth.tar");
    let mut bytes = fs::read(&victim).unwrap();
    bytes[100] ^= 0xff;
    fs::write(&victim, bytes).unwrap();
    let out = d.command().args(["verify", "run"]).assert_exit(3);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("DAMAGED checkpoint-0.pth.tar"), "{text}");
    let v: Value = {
        let out = d.command().args(["verify", "run", "--json"]).assert_exit(3);
        serde_json::from_slice(&out.stdout).unwrap()
    };
    assert_keys(&v, &["run", "status", "checked", "bytes", "ok", "damaged"]);
    assert_eq!(v["status"], "damaged");
    assert_eq!(v["damaged"][0]["name"], "checkpoint-0.pth.tar");
    assert_keys(&v["damaged"][0], &["name", "path", "reason"]);
}

/// A byte flipped in place in the checkpoint `last` and `model_best` are hardlinks of:
/// all three names are DAMAGED, each with its own path, and the exit code is 3.
#[test]
fn verify_reports_hardlinked_aliases_of_damaged_bytes() {
    use std::os::unix::fs::FileExt;
    let d = Dir::new("verify-links");
    // Epoch 2 is both newest and best (max top1).
    let run = d.native_run("run", &[1.0, 2.0, 3.0], 8 * KIB);
    let victim = run.join("checkpoint-2.pth.tar");
    let ino = |n: &str| fs::metadata(run.join(n)).unwrap().ino();
    assert_eq!(ino("checkpoint-2.pth.tar"), ino("last.pth.tar"));
    assert_eq!(ino("checkpoint-2.pth.tar"), ino("model_best.pth.tar"));
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&victim)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_at(&mut b, 100).unwrap();
    f.write_at(&[b[0] ^ 0xff], 100).unwrap();
    drop(f);

    let out = d.command().args(["verify", "run"]).assert_exit(3);
    let text = String::from_utf8_lossy(&out.stdout);
    for n in ["checkpoint-2.pth.tar", "last.pth.tar", "model_best.pth.tar"] {
        assert!(text.contains(&format!("DAMAGED {n} ({n})")), "{text}");
        assert!(!text.contains(&format!("ok      {n}")), "{text}");
    }
    assert!(text.contains("3 damaged"), "{text}");
    let out = d.command().args(["verify", "run", "--json"]).assert_exit(3);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut damaged: Vec<(String, String)> = v["damaged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["name"].to_string(), x["path"].to_string()))
        .collect();
    damaged.sort();
    let want: Vec<(String, String)> =
        ["checkpoint-2.pth.tar", "last.pth.tar", "model_best.pth.tar"]
            .iter()
            .map(|n| (format!("{n:?}"), format!("{n:?}")))
            .collect();
    assert_eq!(damaged, want);
}

/// Files an interrupted operation allows are `ok` with a note: a `note` line in human
/// output and `notes` in `--json`.
#[test]
fn verify_prints_notes_for_bytes_a_pending_operation_allows() {
    use ckpt::engine::commit::{set_pending, store_manifest};
    use ckpt::store::{load_manifest, Pending};
    let d = Dir::new("verify-notes");
    let run = d.native_run("run", &[1.0, 2.0], 8 * KIB);
    let out = d.command().args(["verify", "run", "--json"]).json();
    assert_eq!(out["notes"], Value::Array(vec![]));
    // As if a save crashed before re-pointing `last`: it still holds epoch 0.
    let last = run.join("last.pth.tar");
    fs::remove_file(&last).unwrap();
    let old = payload(0, 8 * KIB);
    fs::write(&last, &old).unwrap();
    let mut m = load_manifest(&run).unwrap();
    let mut p = Pending {
        operation: "save".into(),
        ..Default::default()
    };
    p.may_hold.insert(
        "last.pth.tar".into(),
        vec![format!(
            "xxh3-128:{:032x}",
            xxhash_rust::xxh3::xxh3_128(&old)
        )],
    );
    set_pending(&mut m, Some(&p));
    store_manifest(&run, &m).unwrap();

    let text = d.command().args(["verify", "run"]).assert_ok();
    let line = text
        .lines()
        .find(|l| l.starts_with("note"))
        .unwrap_or_else(|| panic!("no note line:\n{text}"));
    assert!(line.contains("last.pth.tar (last.pth.tar)"), "{line}");
    assert!(line.contains("pending save"), "{line}");
    assert!(text.contains("0 damaged"), "{text}");

    let v = d.command().args(["verify", "run", "--json"]).json();
    assert_eq!(v["status"], "ok");
    assert_keys(&v, &["ok", "damaged", "notes"]);
    let notes = v["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 1, "{v}");
    assert_keys(&notes[0], &["name", "path", "reason"]);
    assert_eq!(notes[0]["name"], "last.pth.tar");
    assert_eq!(notes[0]["path"], "last.pth.tar");
    assert!(notes[0]["reason"]
        .as_str()
        .unwrap()
        .contains("pending save"));
}

#[test]
fn verify_timm_fixture_zip_crcs() {
    let d = Dir::new("verify-timm");
    let run = d.unpack("timm-basic");
    let v = d.command().arg("verify").arg(&run).arg("--json").json();
    assert_eq!(v["status"], "ok");
    assert!(v["checked"].as_u64().unwrap() >= 3);
}

#[test]
fn doctor_json_on_native_and_fixtures() {
    let d = Dir::new("doctor");
    d.native_run("run", &[1.0], KIB);
    let v = d.command().args(["doctor", "run", "--json"]).json();
    assert_keys(
        &v,
        &[
            "run",
            "layout",
            "status",
            "checks",
            "disk",
            "watch_mode",
            "stale_temps",
        ],
    );
    assert_eq!(v["layout"], "ckpt");
    assert_keys(&v["checks"][0], &["name", "status", "detail"]);
    let out = d.command().args(["doctor", "run"]).assert_ok();
    assert!(out.contains("doctor"), "{out}");

    let timm = d.unpack("timm-basic");
    let v = d.command().arg("doctor").arg(&timm).arg("--json").json();
    assert_eq!(v["layout"], "timm");
}

// ---------------------------------------------------------------- lock

#[test]
fn lock_timeout_is_honoured() {
    let d = Dir::new("lock");
    let run = d.native_run("run", &[1.0], KIB);
    // The holder record a mutation writes into the lock file.
    fs::write(
        run.join(".ckpt/lock"),
        r#"{"pid":4242,"operation":"save","since":"2026-01-02T03:04:05Z"}"#,
    )
    .unwrap();
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(run.join(".ckpt/lock"))
        .unwrap();
    // SAFETY: flock on a valid fd; released when `lock` closes.
    let rc = unsafe {
        libc::flock(
            std::os::unix::io::AsRawFd::as_raw_fd(&lock),
            libc::LOCK_EX | libc::LOCK_NB,
        )
    };
    assert_eq!(rc, 0);
    let t = Instant::now();
    let err = d
        .command()
        .args(["--lock-timeout", "0.5", "pin", "run", "0"])
        .assert_err(1);
    assert!(t.elapsed() < Duration::from_secs(20));
    assert!(err.contains("lock"), "{err}");
    // While waiting it said who holds the lock, once.
    let wait = "waiting for the run lock held by pid 4242 (save) since 2026-01-02T03:04:05Z";
    assert_eq!(err.matches(wait).count(), 1, "{err}");
    drop(lock);
    d.command().args(["pin", "run", "0"]).assert_ok();
}

// ---------------------------------------------------------------- demo

#[test]
fn demo_prints_saves_and_leaves_nothing_behind() {
    let d = Dir::new("demo");
    let tmp = d.join("tmp");
    fs::create_dir(&tmp).unwrap();
    let out = d
        .command()
        .env("TMPDIR", tmp.to_str().unwrap())
        .args(["demo", "--saves", "4", "--interval", "0", "--size", "4096"])
        .assert_ok();
    assert_eq!(
        fs::read_dir(&tmp).unwrap().count(),
        0,
        "left behind in TMPDIR"
    );
    let saves = out.lines().filter(|l| l.starts_with("epoch")).count();
    assert_eq!(saves, 4, "{out}");
    let run = out
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("demo run "))
        .and_then(|l| l.split(' ').next())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(!std::path::Path::new(run).exists(), "{run} left behind");
    assert!(out.contains("temporary run was removed"), "{out}");
}

#[test]
fn demo_with_dir_keeps_a_native_run() {
    let d = Dir::new("demo-dir");
    d.command()
        .args([
            "demo",
            "--dir",
            "kept",
            "--saves",
            "6",
            "--interval",
            "0",
            "--size",
            "2048",
        ])
        .assert_ok();
    let v = d.command().args(["ls", "kept", "--json"]).json();
    assert_eq!(v["layout"], "ckpt");
    assert_eq!(v["metric"]["name"], "eval_top1");
    assert_eq!(v["last"]["epoch"], 5);
    // keep top 3 + last 2: never more than 5 of 6.
    assert!(checkpoints(&v).len() <= 5, "{v}");
    d.command().args(["verify", "kept"]).assert_ok();
}

#[test]
fn demo_stops_cleanly_on_sigint() {
    let d = Dir::new("demo-int");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ckpt"))
        .args(["demo", "--interval", "0.05", "--size", "1024"])
        .current_dir(d.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let run = first
        .strip_prefix("demo run ")
        .and_then(|l| l.split(' ').next())
        .unwrap()
        .to_string();
    // Wait for one save, then interrupt.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let l = lines.next().unwrap().unwrap();
        if l.starts_with("epoch") {
            break;
        }
        assert!(Instant::now() < deadline);
    }
    // SAFETY: signalling our own child by pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{rest:?}");
    assert!(!std::path::Path::new(&run).exists(), "{run} left behind");
}

// ---------------------------------------------------------------- on a terminal

#[test]
fn prune_on_a_terminal_asks_and_defaults_to_no() {
    let d = Dir::new("tty-prune");
    let run = d.native_run("run", &[1.0, 5.0, 2.0, 4.0], KIB);
    let args = ["prune", "run", "--keep-top", "1", "--keep-last", "1"];
    let mut pty = pty_in(d.path(), &args, &[]);
    let shown = pty.wait_for_raw("[y/N]");
    assert!(shown.contains("checkpoint-2.pth.tar"), "{shown}");
    pty.send(b"\r");
    assert_eq!(pty.wait_exit(30).exit_code(), 0);
    // The reader thread may still be draining the pty after exit: poll, don't peek.
    pty.wait_for_raw("nothing deleted");
    assert!(run.join("checkpoint-2.pth.tar").exists());

    let mut pty = pty_in(d.path(), &args, &[]);
    pty.wait_for_raw("[y/N]");
    pty.send(b"y\r");
    assert_eq!(pty.wait_exit(30).exit_code(), 0);
    assert!(!run.join("checkpoint-2.pth.tar").exists(), "{}", pty.raw());
}

#[test]
fn colour_only_on_a_terminal_and_never_under_no_color() {
    let d = Dir::new("tty-colour");
    d.unpack("timm-basic");
    let mut pty = pty_in(d.path(), &["ls", "timm-basic"], &[]);
    assert_eq!(pty.wait_exit(30).exit_code(), 0);
    pty.wait_for_raw("free of");
    assert!(
        pty.raw().contains("\x1b["),
        "no colour on a terminal:\n{}",
        pty.raw()
    );

    let mut pty = pty_in(d.path(), &["ls", "timm-basic"], &[("NO_COLOR", "1")]);
    assert_eq!(pty.wait_exit(30).exit_code(), 0);
    let text = pty.wait_for_raw("free of");
    assert!(
        !text.contains("\x1b[1m") && !text.contains("\x1b[3"),
        "colour under NO_COLOR:\n{text}"
    );
}

// ---------------------------------------------------------------- foreign layouts

#[test]
fn timm_fixture_pin_prune_and_damage() {
    let d = Dir::new("timm-ops");
    let run = d.unpack("timm-basic");
    d.command().arg("pin").arg(&run).arg("3").assert_ok();
    let plan = d
        .command()
        .arg("prune")
        .arg(&run)
        .args(["--keep-top", "1", "--dry-run", "--json"])
        .json();
    let victims: Vec<&str> = plan["plan"]["victims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert!(victims.contains(&"checkpoint-4.pth.tar"), "{plan}");
    assert!(!victims.contains(&"checkpoint-3.pth.tar"), "pinned: {plan}");
    assert!(!victims.contains(&"checkpoint-5.pth.tar"), "best: {plan}");
    assert!(!victims.contains(&"last.pth.tar"), "last: {plan}");
    d.command()
        .arg("prune")
        .arg(&run)
        .args(["--keep-top", "1", "--yes"])
        .assert_ok();
    assert!(!run.join("checkpoint-4.pth.tar").exists());
    assert!(run.join("checkpoint-3.pth.tar").exists());
    assert!(run.join("model_best.pth.tar").exists());
    assert!(run.join("last.pth.tar").exists());
    assert!(
        run.join("summary.csv").exists(),
        "never delete what is not a checkpoint"
    );

    // Damage inside the torch zip (a stored member's bytes): the CRC check catches it.
    let victim = run.join("checkpoint-3.pth.tar");
    let mut bytes = fs::read(&victim).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    fs::write(&victim, bytes).unwrap();
    let out = d
        .command()
        .arg("verify")
        .arg(&run)
        .arg("--json")
        .assert_exit(3);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["damaged"][0]["name"], "checkpoint-3.pth.tar", "{v}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("damaged") && err.contains("ckpt restore"),
        "{err}"
    );
}

#[test]
fn lightning_fixture_restore_rewrites_last_ckpt() {
    let d = Dir::new("pl-restore");
    let run = d.unpack("lightning-basic").join("version_0");
    let ckpts = run.join("checkpoints");
    d.command()
        .arg("restore")
        .arg(&run)
        .args(["epoch=1-step=8-val_loss=0.500.ckpt", "--yes"])
        .assert_ok();
    assert_eq!(
        fs::read(ckpts.join("last.ckpt")).unwrap(),
        fs::read(ckpts.join("epoch=1-step=8-val_loss=0.500.ckpt")).unwrap()
    );
    let v = d.command().arg("ls").arg(&run).arg("--json").json();
    assert_eq!(v["last"]["epoch"], 1);
    d.command().arg("verify").arg(&run).assert_ok();
}

#[test]
fn hf_fixture_by_step_pin_promote_doctor() {
    let d = Dir::new("hf-ops");
    let run = d.unpack("hf-basic");
    d.command().arg("pin").arg(&run).arg("40").assert_ok();
    let v = d.command().arg("ls").arg(&run).arg("--json").json();
    let c40 = checkpoints(&v).iter().find(|c| c["step"] == 40).unwrap();
    assert_eq!(c40["pinned"], true);
    assert_eq!(c40["name"], "checkpoint-40");
    let err = d.command().arg("promote").arg(&run).arg("40").assert_err(2);
    assert!(err.contains("pass --yes"), "{err}");
    d.command()
        .arg("promote")
        .arg(&run)
        .args(["checkpoint-40/", "--yes"])
        .assert_ok();
    let v = d.command().arg("ls").arg(&run).arg("--json").json();
    assert_eq!(v["best"]["step"], 40);
    assert_eq!(v["best"]["held"], true);
    let doc = d.command().arg("doctor").arg(&run).arg("--json").json();
    assert_eq!(doc["layout"], "hf");
    d.command().arg("verify").arg(&run).assert_ok();
}

/// After promoting step 40 over the trainer's recorded best (step 20), every field of
/// `best` in `ls --json` names checkpoint-40, and only it has the best role.
#[test]
fn hf_promote_moves_the_whole_best_alias() {
    let d = Dir::new("hf-promote-best");
    let run = d.unpack("hf-basic");
    let v = d.command().arg("ls").arg(&run).arg("--json").json();
    assert_eq!(v["best"]["path"], "checkpoint-20");
    d.command()
        .arg("promote")
        .arg(&run)
        .args(["40", "--yes"])
        .assert_ok();
    let v = d.command().arg("ls").arg(&run).arg("--json").json();
    let best = &v["best"];
    assert_eq!(best["path"], "checkpoint-40", "{best}");
    assert_eq!(best["target"], "checkpoint-40", "{best}");
    assert_eq!(best["step"], 40, "{best}");
    assert_eq!(best["held"], true, "{best}");
    let c40 = checkpoints(&v).iter().find(|c| c["step"] == 40).unwrap();
    assert_eq!(best["epoch"], c40["epoch"]);
    let has_best = |c: &Value| {
        c["roles"]
            .as_array()
            .unwrap()
            .contains(&Value::from("best"))
    };
    assert!(has_best(c40), "{c40}");
    let c20 = checkpoints(&v).iter().find(|c| c["step"] == 20).unwrap();
    assert!(!has_best(c20), "{c20}");
}

// ---------------------------------------------------------------- watch and demo on a terminal

#[test]
fn watch_flags_and_errors() {
    let d = Dir::new("watch-args");
    d.command().args(["watch", "--poll", "-1"]).assert_exit(2);
    d.command()
        .args(["watch", "--color", "sometimes"])
        .assert_exit(2);
    let err = d.command().args(["watch", "no-such-dir"]).assert_err(1);
    assert!(err.contains("no-such-dir"), "{err}");
}

#[test]
fn watch_opens_a_run_and_quits_on_q() {
    let d = Dir::new("tty-watch");
    d.unpack("timm-basic");
    let args = ["watch", "timm-basic", "--poll", "1", "--read-only"];
    let mut pty = pty_in(d.path(), &args, &[]);
    pty.wait_for_raw("checkpoint");
    pty.send(b"q");
    assert_eq!(pty.wait_exit(30).exit_code(), 0, "{}", pty.raw());
}

#[test]
fn demo_on_a_terminal_opens_the_monitor_and_cleans_up_on_q() {
    let d = Dir::new("tty-demo");
    // The demo's temp run goes under TMPDIR: give it one of our own to check afterwards.
    let tmp = d.join("tmp");
    fs::create_dir(&tmp).unwrap();
    let args = ["demo", "--interval", "0.2", "--size", "2048"];
    let env = [("TMPDIR", tmp.to_str().unwrap())];
    let mut pty = pty_in(d.path(), &args, &env);
    pty.wait_for_raw("eval_top1");
    assert_eq!(
        fs::read_dir(&tmp).unwrap().count(),
        1,
        "the demo run is in TMPDIR"
    );
    pty.send(b"q");
    assert_eq!(pty.wait_exit(30).exit_code(), 0, "{}", pty.raw());
    pty.wait_for_raw("temporary run was removed");
    let left: Vec<_> = fs::read_dir(&tmp).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn ls_on_a_directory_of_runs_names_them() {
    let d = Dir::new("ls-many");
    d.unpack("timm-basic");
    d.unpack("hf-basic");
    let err = d.command().args(["ls", "."]).assert_err(1);
    assert!(err.contains("holds 2 run(s)"), "{err}");
    assert!(
        err.contains("timm-basic") && err.contains("ckpt watch"),
        "{err}"
    );
}

/// The README's training-loop recipe, with Python standing in for torch.save.
#[test]
fn python_training_loop_streams_and_stages() {
    if Command::new("python3").arg("--version").output().is_err() {
        skip(
            "python_training_loop_streams_and_stages",
            "python3 not found",
        );
        return;
    }
    let d = Dir::new("python");
    let script = format!(
        r#"
import subprocess, os
ckpt, run = {bin:?}, "run"
for epoch, metric in enumerate([61.0, 70.5, float("nan")]):
    state = bytes([epoch]) * 100000
    cmd = [ckpt, "save", run, "--epoch", str(epoch), "--metric", str(metric), "--metric-name", "eval_top1"]
    if epoch % 2 == 0:
        proc = subprocess.Popen(cmd + ["-"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        proc.stdin.write(state); proc.stdin.close(); assert proc.wait() == 0
    else:
        os.makedirs(run, exist_ok=True)
        with open(f"{{run}}/staged.pth.tar", "wb") as f: f.write(state)
        subprocess.run(cmd + ["--move", f"{{run}}/staged.pth.tar"], check=True, stdout=subprocess.DEVNULL)
"#,
        bin = env!("CARGO_BIN_EXE_ckpt")
    );
    let status = Command::new("python3")
        .arg("-c")
        .arg(script)
        .current_dir(d.path())
        .status()
        .unwrap();
    assert!(status.success());
    let v = d.command().args(["ls", "run", "--json"]).json();
    assert_eq!(checkpoints(&v).len(), 3);
    assert_eq!(v["best"]["epoch"], 1);
    assert_eq!(v["last"]["epoch"], 2);
    assert_eq!(by_epoch(&v, 2)["metric_raw"], "nan");
    assert!(!d.join("run/staged.pth.tar").exists());
    assert_eq!(
        fs::read(d.join("run/checkpoint-1.pth.tar")).unwrap(),
        vec![1u8; 100000]
    );
}

// ---------------------------------------------------------------- QA #15 messages

#[test]
fn promote_without_epoch_is_a_usage_error() {
    let d = Dir::new("promote-no-epoch");
    let run = d.native_run("run", &[1.0, 3.0, 2.0], KIB);
    let err = d.command().args(["promote", "run"]).assert_err(2);
    assert!(
        err.contains("missing EPOCH: ckpt promote RUN EPOCH, or --release"),
        "{err}"
    );
    for cmd in ["pin", "unpin", "restore"] {
        let err = d.command().args([cmd, "run"]).assert_err(2);
        assert!(err.contains("missing EPOCH"), "{cmd}: {err}");
    }
    let err = util::cli::TestCommand::new(&run)
        .arg("promote")
        .assert_err(2);
    assert!(err.contains("missing EPOCH"), "{err}");
    // One positional that is not a run is the epoch in the run `.`.
    let out = util::cli::TestCommand::new(&run)
        .args(["promote", "2", "--yes"])
        .assert_ok();
    assert!(out.contains("best := checkpoint-2"), "{out}");
    util::cli::TestCommand::new(&run)
        .args(["pin", "0"])
        .assert_ok();
}

#[test]
fn forced_layout_that_does_not_match_says_what_the_run_is() {
    let d = Dir::new("layout-mismatch");
    d.unpack("timm-basic");
    for forced in ["ckpt", "hf"] {
        let err = d
            .command()
            .args(["ls", "timm-basic", "--layout", forced])
            .assert_err(1);
        assert!(
            err.contains(&format!(
                "timm-basic is not a {forced} run (it looks like a timm run); drop --layout or pass --layout timm"
            )),
            "{err}"
        );
    }
    d.command()
        .args(["ls", "timm-basic", "--layout", "timm"])
        .assert_ok();
}

#[test]
fn io_errors_get_a_next_step_that_fits() {
    let d = Dir::new("io-hints");
    d.create("afile", b"not a run");
    d.create("p1", payload(1, KIB));
    fs::create_dir(d.join("adir")).unwrap();
    // A regular file named as the run: it is a file, not "check that it exists".
    let err = d
        .command()
        .args(["save", "afile", "--epoch", "1", "--metric", "1", "p1"])
        .assert_err(1);
    assert!(
        err.contains("afile is a file, not a directory; choose a directory for the run"),
        "{err}"
    );
    assert!(!err.contains("exists and is readable"), "{err}");
    let err = d.command().args(["ls", "afile"]).assert_err(1);
    assert!(
        err.contains("afile is a file, not a run directory"),
        "{err}"
    );
    assert!(!err.contains("ckpt save"), "{err}");
    // A directory where a file is wanted.
    let err = d
        .command()
        .args(["save", "run", "--epoch", "1", "--metric", "1", "adir"])
        .assert_err(1);
    assert!(
        err.contains("adir is a directory; give a file path")
            || err.contains("adir is a directory; save takes one checkpoint file"),
        "{err}"
    );
    // A missing path is the one case told to check that it exists.
    let err = d
        .command()
        .args(["save", "run", "--epoch", "1", "--metric", "1", "gone"])
        .assert_err(1);
    assert!(err.contains("gone"), "{err}");
}

/// A disk that fills mid-stream: the typed no-space message (mount, free vs needed, hint).
#[test]
fn disk_full_mid_write_says_free_space() {
    let d = Dir::new("enospc");
    let Some(tmpfs) = TmpfsMount::new_at(
        "disk_full_mid_write_says_free_space",
        &d.join("small"),
        "4m",
        "",
    ) else {
        return;
    };
    let err = d
        .command()
        .args(["save", "small/run", "--epoch", "1", "--metric", "1", "-"])
        .stdin(payload(2, 6 << 20))
        .assert_err(1);
    // The same words as a refused preflight: the mount, free vs needed, what would help.
    assert!(
        err.contains(&format!(
            "not enough space on {} (tmpfs)",
            tmpfs.path.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("bytes free, ") && err.contains("bytes needed; "),
        "{err}"
    );
    assert!(err.contains("free space on the filesystem"), "{err}");
    assert!(!err.contains("exists"), "{err}");
}

#[test]
fn doctor_on_a_corrupt_manifest_gives_the_repair_step() {
    let d = Dir::new("doctor-corrupt");
    let run = d.native_run("run", &[1.0, 2.0], KIB);
    fs::write(run.join(".ckpt/manifest.json"), b"{ trunc").unwrap();
    let out = d.command().args(["doctor", "run"]).assert_exit(1);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let line = stdout
        .lines()
        .find(|l| l.starts_with("FAIL") && l.contains("manifest"))
        .unwrap_or_else(|| panic!("no failing manifest check:\n{stdout}"));
    assert!(
        !line.contains("ckpt doctor"),
        "doctor sends you to itself: {line}"
    );
    assert!(
        line.contains("restore it from a backup")
            && line.contains("`mv run/.ckpt/manifest.json run/.ckpt/manifest.json.bad`"),
        "{line}"
    );
    // The step works: the checkpoint files stay and the run can be read again.
    fs::rename(
        run.join(".ckpt/manifest.json"),
        run.join(".ckpt/manifest.json.bad"),
    )
    .unwrap();
    d.command().args(["ls", "run"]).assert_ok();
    assert_eq!(
        fs::read(run.join("checkpoint-1.pth.tar")).unwrap(),
        payload(1, KIB)
    );
}

// ---------------------------------------------------------------- QA #18 prune policy

#[test]
fn prune_flags_override_the_saved_policy_one_rule_at_a_time() {
    let d = Dir::new("prune-merge");
    // Metrics by epoch 0..=8; the last save stores keep-top 3 / keep-last 2.
    let metrics = [0.0, 7.0, 5.0, 3.0, 1.0, 8.0, 6.0, 4.0, 2.0];
    for (epoch, m) in metrics.iter().enumerate() {
        let src = d.create(format!("s{epoch}"), payload(epoch as u64, KIB));
        let mut cmd = d.command();
        cmd.args(["save", "run", "--epoch", &epoch.to_string()])
            .args(["--metric", &m.to_string(), "--metric-name", "top1"]);
        if epoch == 8 {
            cmd.args(["--keep-top", "3", "--keep-last", "2"]);
        }
        cmd.arg(&src).assert_ok();
    }
    // Kept by the saved policy: top 3 (5, 1, 6) and the newest 2 (7, 8).
    let out = d.command().args(["prune", "run", "--dry-run"]).assert_ok();
    assert!(
        out.starts_with("policy: keep-top 3 (saved), keep-last 2 (saved)\n"),
        "{out}"
    );
    // --keep-every 4 adds a rule; the saved top-3 and last-2 still hold.
    let v = d
        .command()
        .args(["prune", "run", "--keep-every", "4", "--dry-run", "--json"])
        .json();
    assert_eq!(v["plan"]["policy"]["keep_top_k"], 3, "{v}");
    assert_eq!(v["plan"]["policy"]["keep_last"], 2, "{v}");
    assert_eq!(v["plan"]["policy"]["keep_every"], 4, "{v}");
    let out = d
        .command()
        .args(["prune", "run", "--keep-every", "4", "--dry-run"])
        .assert_ok();
    assert!(
        out.starts_with("policy: keep-top 3 (saved), keep-last 2 (saved), keep-every 4 (flag)\n"),
        "{out}"
    );
    for top in [
        "checkpoint-1.pth.tar",
        "checkpoint-5.pth.tar",
        "checkpoint-6.pth.tar",
    ] {
        assert!(!out.contains(&format!("delete {top}")), "{out}");
        assert!(d.join("run").join(top).exists());
    }
    // A flag replaces only its own rule.
    let out = d
        .command()
        .args(["prune", "run", "--keep-top", "1", "--dry-run"])
        .assert_ok();
    assert!(
        out.starts_with("policy: keep-top 1 (flag), keep-last 2 (saved)\n"),
        "{out}"
    );
    assert!(out.contains("delete checkpoint-1.pth.tar"), "{out}");
}

#[test]
fn prune_of_a_foreign_run_without_any_policy_says_so() {
    // Lightning records no save_top_k anywhere on disk: no policy unless flags give one.
    let d = Dir::new("prune-nopolicy");
    d.unpack("lightning-basic");
    let out = d
        .command()
        .args(["prune", "lightning-basic", "--dry-run"])
        .assert_ok();
    assert_eq!(
        out.trim(),
        "no retention policy for this run: pass --keep-top/--keep-last/--keep-every"
    );
    let out = d
        .command()
        .args(["prune", "lightning-basic", "--yes"])
        .assert_ok();
    assert!(out.contains("no retention policy"), "{out}");
    assert!(d
        .join("lightning-basic/version_0/checkpoints/epoch=1-step=8-val_loss=0.500.ckpt")
        .exists());
    let out = d
        .command()
        .args(["prune", "lightning-basic", "--keep-last", "1", "--dry-run"])
        .assert_ok();
    assert!(out.starts_with("policy: keep-last 1 (flag)\n"), "{out}");
    assert!(!out.contains("()"), "{out}");
}

#[test]
fn prune_of_a_timm_run_defaults_to_its_checkpoint_hist() {
    // args.yaml says checkpoint_hist: 3; a flag replaces only its own rule.
    let d = Dir::new("prune-timm-hist");
    d.unpack("timm-basic");
    let out = d
        .command()
        .args(["prune", "timm-basic", "--dry-run"])
        .assert_ok();
    assert!(
        out.starts_with("policy: keep-top 3 (trainer setting)\n"),
        "{out}"
    );
    assert!(
        out.contains("keep   checkpoint-4.pth.tar  (top_k:3)"),
        "{out}"
    );
    let out = d
        .command()
        .args(["prune", "timm-basic", "--keep-last", "1", "--dry-run"])
        .assert_ok();
    assert!(
        out.starts_with("policy: keep-top 3 (trainer setting), keep-last 1 (flag)\n"),
        "{out}"
    );
}

// ---------------------------------------------------------------- save refusals

/// Every file of a run (top level and .ckpt/, not the lock) with its bytes.
fn run_files(run: &std::path::Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    for d in [run.to_path_buf(), run.join(".ckpt")] {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_file() && p.file_name().unwrap() != "lock" {
                out.insert(p.clone(), fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn save_refuses_a_cut_off_torch_save_piped_in_and_an_empty_stdin() {
    let d = Dir::new("save-cut");
    let timm = d.unpack("timm-basic");
    let good = timm.join("checkpoint-5.pth.tar");
    d.command()
        .args(["save", "run", "--epoch", "1", "--metric", "50"])
        .args([
            "--metric-name",
            "top1",
            "--keep-top",
            "1",
            "--keep-last",
            "1",
        ])
        .arg(&good)
        .assert_ok();
    let run = d.join("run");
    let before = run_files(&run);
    // The trainer died mid torch.save: only the head of the file reaches the pipe.
    let whole = fs::metadata(timm.join("checkpoint-4.pth.tar"))
        .unwrap()
        .len();
    let out = std::process::Command::new("sh")
        .current_dir(d.path())
        .arg("-c")
        .arg(format!(
            "head -c {} \"$1\" | \"$2\" save run --epoch 2 --metric 60 -",
            whole / 2
        ))
        .arg("sh")
        .arg(timm.join("checkpoint-4.pth.tar"))
        .arg(env!("CARGO_BIN_EXE_ckpt"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("checkpoint-2.pth.tar"), "{err}");
    assert!(err.contains("end of central directory"), "{err}");
    assert!(err.contains("not changed"), "{err}");
    assert_eq!(run_files(&run), before, "the run changed");

    let err = d
        .command()
        .args(["save", "run", "--epoch", "2", "--metric", "60", "-"])
        .stdin(Vec::new())
        .assert_err(1);
    assert!(err.contains("empty (0 bytes)"), "{err}");
    assert_eq!(run_files(&run), before, "the run changed");
    let v = d.command().args(["ls", "run", "--json"]).json();
    assert_eq!(v["best"]["epoch"], 1);
    assert_eq!(checkpoints(&v).len(), 1);
}

#[test]
fn save_refuses_to_move_a_checkpoint_of_the_same_run() {
    let d = Dir::new("save-self");
    let run = d.native_run("run", &[10.0, 20.0], KIB);
    let before = run_files(&run);
    for name in ["checkpoint-0.pth.tar", "model_best.pth.tar"] {
        let err = d
            .command()
            .args(["save", "run", "--epoch", "0", "--metric", "10", "--move"])
            .arg(run.join(name))
            .assert_err(1);
        assert!(err.contains("outside the run"), "{err}");
        assert_eq!(run_files(&run), before, "{name}");
    }
    d.command().args(["pin", "run", "1"]).assert_ok();
    assert_eq!(
        fs::read(run.join("checkpoint-0.pth.tar")).unwrap(),
        payload(0, KIB)
    );
}

#[test]
fn save_ext_sets_a_new_runs_extension_and_cannot_change_it() {
    let d = Dir::new("save-ext");
    d.command()
        .args([
            "save", "run", "--epoch", "3", "--metric", "1", "--ext", ".pt", "-",
        ])
        .stdin(payload(3, KIB))
        .assert_ok();
    assert_eq!(
        fs::read(d.join("run/checkpoint-3.pt")).unwrap(),
        payload(3, KIB)
    );
    assert!(d.join("run/last.pt").exists());
    // Later saves keep the run's extension, with or without a matching --ext.
    d.command()
        .args(["save", "run", "--epoch", "4", "--metric", "2", "-"])
        .stdin(payload(4, KIB))
        .assert_ok();
    assert!(d.join("run/checkpoint-4.pt").exists());
    let err = d
        .command()
        .args([
            "save", "run", "--epoch", "5", "--metric", "2", "--ext", ".pth.tar", "-",
        ])
        .stdin(payload(5, KIB))
        .assert_err(1);
    assert!(err.contains("*.pt") && err.contains("--ext"), "{err}");
    assert!(!d.join("run/checkpoint-5.pth.tar").exists());
    let err = d
        .command()
        .args(["save", "run2", "--epoch", "1", "--ext", "pt", "-"])
        .stdin(payload(1, KIB))
        .assert_err(2);
    assert!(err.contains("--ext"), "{err}");
}

#[test]
fn save_metric_name_defaults_with_a_note_and_a_switch_says_what_to_do() {
    let d = Dir::new("save-metric");
    let out = d
        .command()
        .args(["save", "run", "--epoch", "1", "--metric", "50", "-"])
        .stdin(payload(1, KIB))
        .output();
    assert_eq!(out.status.code(), Some(0));
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(
        note.contains("`metric` (max)") && note.contains("--metric-name"),
        "{note}"
    );
    // Later bare --metric saves say nothing.
    let out = d
        .command()
        .args(["save", "run", "--epoch", "2", "--metric", "51", "-"])
        .stdin(payload(2, KIB))
        .output();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = d
        .command()
        .args(["save", "run", "--epoch", "3", "--metric", "52"])
        .args(["--metric-name", "eval_top1", "-"])
        .stdin(payload(3, KIB))
        .assert_err(1);
    assert!(err.contains("ranks by `metric` (max)"), "{err}");
    assert!(err.contains("--metric-name metric"), "{err}");
    assert!(err.contains("new run directory"), "{err}");
}

// ---------------------------------------------------------------- restore/promote messages (QA)

#[test]
fn restore_timm_says_where_the_old_last_went() {
    let d = Dir::new("restore-timm-msg");
    let run = d.unpack("timm-basic");
    let plan = d
        .command()
        .arg("restore")
        .arg(&run)
        .args(["3", "--dry-run"])
        .assert_ok();
    assert!(plan.contains("epoch 7"), "{plan}");
    assert!(!plan.contains("last.pth.tar, "), "{plan}");
    assert!(!plan.contains(", last.pth.tar"), "{plan}");
    let out = d
        .command()
        .arg("restore")
        .arg(&run)
        .args(["5", "--yes"])
        .assert_ok();
    assert!(
        out.contains("old last (epoch 7, only copy) kept in .ckpt/trash/"),
        "{out}"
    );
    let kept = out
        .lines()
        .find_map(|l| l.split(" kept in ").nth(1))
        .unwrap();
    assert!(run.join(kept.trim()).is_file(), "{out}");
}

#[test]
fn restore_hf_names_steps_and_says_what_happens() {
    let d = Dir::new("restore-hf-msg");
    let run = d.unpack("hf-basic");
    let plan = d
        .command()
        .arg("restore")
        .arg(&run)
        .args(["20", "--dry-run"])
        .assert_ok();
    assert!(plan.contains("restore step 20"), "{plan}");
    assert!(!plan.contains("epoch 20"), "{plan}");
    assert!(!plan.contains("rewrite"), "{plan}");
    assert!(!plan.contains("0 B to copy"), "{plan}");
    assert!(plan.contains("checkpoint-40"), "{plan}");
}

#[test]
fn restore_to_never_writes_into_the_run_nor_replaces_a_directory() {
    let d = Dir::new("restore-to-safe");
    let run = d.native_run("run", &[1.0, 3.0, 2.0], KIB);
    let err = d
        .command()
        .args(["restore", "run", "2", "--force", "--yes", "--to"])
        .arg(run.join("checkpoint-0.pth.tar"))
        .assert_err(1);
    assert!(err.contains("inside the run"), "{err}");
    assert_eq!(
        fs::read(run.join("checkpoint-0.pth.tar")).unwrap(),
        payload(0, KIB)
    );
    let out = d.join("out");
    fs::create_dir(&out).unwrap();
    fs::write(out.join("keep.txt"), b"mine").unwrap();
    let plan = d
        .command()
        .args(["restore", "run", "2", "--dry-run", "--to"])
        .arg(&out)
        .assert_ok();
    assert!(plan.contains("out/checkpoint-2.pth.tar"), "{plan}");
    // A fresh destination needs no --yes, even with --force.
    let done = d
        .command()
        .args(["restore", "run", "2", "--force", "--to"])
        .arg(&out)
        .assert_ok();
    assert!(done.contains("out/checkpoint-2.pth.tar"), "{done}");
    assert_eq!(fs::read(out.join("keep.txt")).unwrap(), b"mine");
    // Overwriting asks, and off a terminal says what it would overwrite.
    let err = d
        .command()
        .args(["restore", "run", "1", "--force", "--to"])
        .arg(out.join("checkpoint-2.pth.tar"))
        .assert_err(2);
    assert!(
        err.contains("overwrites") && err.contains("checkpoint-2.pth.tar"),
        "{err}"
    );
    assert!(!err.contains("changes the run"), "{err}");
}

#[test]
fn restore_to_on_a_foreign_run_creates_nothing_in_it() {
    let d = Dir::new("restore-to-ro");
    let run = d.unpack("timm-basic");
    let dest = d.join("x.pth.tar");
    d.command()
        .arg("restore")
        .arg(&run)
        .args(["4", "--to"])
        .arg(&dest)
        .assert_ok();
    assert_eq!(
        fs::read(&dest).unwrap(),
        fs::read(run.join("checkpoint-4.pth.tar")).unwrap()
    );
    assert!(!run.join(".ckpt").exists());
}

#[test]
fn promote_messages_name_the_written_file_release_and_nan() {
    let d = Dir::new("promote-msg");
    let pl = d.unpack("lightning-basic").join("version_0");
    let plan = d
        .command()
        .arg("promote")
        .arg(&pl)
        .args(["1", "--dry-run"])
        .assert_ok();
    assert!(plan.contains("best.ckpt is"), "{plan}");
    let out = d
        .command()
        .arg("promote")
        .arg(&pl)
        .arg("--release")
        .assert_ok();
    assert!(
        out.contains("nothing to release: best is not held"),
        "{out}"
    );

    let run = d.native_run("run", &[1.0, 3.0], KIB);
    d.command()
        .args(["save", "run", "--epoch", "2", "--metric", "nan", "-"])
        .stdin(payload(2, KIB))
        .assert_ok();
    let out = d
        .command()
        .args(["promote", "run", "2", "--yes"])
        .assert_exit(0);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("metric") && err.contains("nan"), "{err}");
    assert!(run.join("model_best.pth.tar").is_file());
}

// ---------------------------------------------------------------- QA round 2

#[test]
fn restore_past_a_pinned_epoch_warns_its_save_will_be_refused() {
    let d = Dir::new("restore-pinned-ahead");
    d.native_run("pn", &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], KIB);
    d.command().args(["pin", "pn", "5"]).assert_ok();
    let warning = "the resumed trainer will reach epoch 5, which is pinned: its save will be refused until `ckpt unpin pn 5`";
    for extra in [&["--archive-newer"][..], &[][..]] {
        let plan = d
            .command()
            .args(["restore", "pn", "3", "--dry-run"])
            .args(extra)
            .assert_ok();
        assert!(plan.contains(warning), "{extra:?}: {plan}");
    }
    let out = d
        .command()
        .args(["restore", "pn", "3", "--archive-newer", "--yes"])
        .assert_ok();
    assert!(out.contains(warning), "{out}");
    // The warning is true: the resumed trainer's save of epoch 5 is refused.
    let src = d.create("staged.bin", payload(9, KIB));
    let err = d
        .command()
        .args(["save", "pn", "--epoch", "5"])
        .arg(&src)
        .assert_err(1);
    assert!(err.contains("is pinned"), "{err}");
}

#[test]
fn restore_past_a_held_best_names_release() {
    let d = Dir::new("restore-held-ahead");
    d.native_run("pn", &[1.0, 2.0, 3.0, 4.0, 5.0], KIB);
    d.command()
        .args(["promote", "pn", "4", "--yes"])
        .assert_ok();
    let plan = d
        .command()
        .args(["restore", "pn", "2", "--dry-run"])
        .assert_ok();
    assert!(
        plan.contains("will reach epoch 4, which is pinned, held best")
            && plan.contains("`ckpt unpin pn 4` and `ckpt promote pn --release`"),
        "{plan}"
    );
}

#[test]
fn promote_dry_run_refuses_a_damaged_checkpoint_and_ls_does_not_rank_it() {
    let d = Dir::new("promote-damaged");
    let run = d.unpack("timm-basic");
    let victim = run.join("checkpoint-3.pth.tar");
    let len = fs::metadata(&victim).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&victim)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let yes = d
        .command()
        .arg("promote")
        .arg(&run)
        .args(["3", "--yes"])
        .assert_err(1);
    let dry = d
        .command()
        .arg("promote")
        .arg(&run)
        .args(["3", "--dry-run"])
        .assert_err(1);
    assert!(
        dry.contains("refusing to use checkpoint checkpoint-3.pth.tar"),
        "{dry}"
    );
    assert_eq!(dry, yes, "dry run refuses exactly as --yes");
    let v = d.command().arg("ls").arg(&run).arg("--json").json();
    let c3 = checkpoints(&v)
        .iter()
        .find(|c| c["name"] == "checkpoint-3.pth.tar")
        .unwrap();
    assert_eq!(c3["state"], "damaged", "{c3}");
    assert!(c3["rank"].is_null(), "damaged gets no rank: {c3}");
    let ranks: Vec<u64> = checkpoints(&v)
        .iter()
        .filter_map(|c| c["rank"].as_u64())
        .collect();
    let mut sorted = ranks.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=ranks.len() as u64).collect::<Vec<_>>(), "{v}");
}

#[test]
fn lock_wait_without_holder_record_says_so() {
    let d = Dir::new("lock-unknown");
    let run = d.native_run("run", &[1.0], KIB);
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(run.join(".ckpt/lock"))
        .unwrap();
    // SAFETY: flock on a valid fd; released when `lock` closes.
    let rc = unsafe {
        libc::flock(
            std::os::unix::io::AsRawFd::as_raw_fd(&lock),
            libc::LOCK_EX | libc::LOCK_NB,
        )
    };
    assert_eq!(rc, 0);
    let err = d
        .command()
        .args(["--lock-timeout", "0.5", "pin", "run", "0"])
        .assert_err(1);
    assert!(
        err.contains("waiting for the run lock held by another process (no holder record)…"),
        "{err}"
    );
    assert!(!err.contains("pid 0"), "{err}");
    assert!(
        err.contains("locked by another process (no holder record)"),
        "{err}"
    );
    drop(lock);
}

#[test]
fn pin_and_unpin_say_when_nothing_changed() {
    let d = Dir::new("pin-noop");
    d.native_run("run", &[1.0, 2.0], KIB);
    let out = d.command().args(["unpin", "run", "1"]).assert_ok();
    assert_eq!(out.trim(), "checkpoint-1.pth.tar was not pinned");
    let out = d.command().args(["pin", "run", "1"]).assert_ok();
    assert_eq!(out.trim(), "pinned checkpoint-1.pth.tar");
    let out = d.command().args(["pin", "run", "1"]).assert_ok();
    assert_eq!(out.trim(), "checkpoint-1.pth.tar is already pinned");
    let out = d.command().args(["unpin", "run", "1"]).assert_ok();
    assert_eq!(out.trim(), "unpinned checkpoint-1.pth.tar");
}
