//! End to end in a real pseudo-terminal: `ckpt watch` on a temp native run, driven
//! with keys and with checkpoints saved by another process, read back through vt100.
//! Also the output budget: bytes written to the terminal idle and per new checkpoint.

use crate::util;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::pty::{ckpt_command, Pty, BIN};
use crate::util::tmpfs::TmpfsMount;

/// `ckpt watch ARGS` in a `cols` x `rows` pty.
fn watch(args: &[&str], cols: u16, rows: u16) -> Pty {
    watch_env(args, cols, rows, &[])
}

fn watch_env(args: &[&str], cols: u16, rows: u16, env: &[(&str, &str)]) -> Pty {
    let mut cmd = ckpt_command(&["watch"]);
    cmd.args(args);
    cmd.env("TERM", "xterm-256color");
    for (k, v) in env {
        cmd.env(k, v);
    }
    Pty::spawn(cmd, cols, rows)
}

/// Save a checkpoint from another process (the CLI), like a trainer would.
fn save(run: &Path, epoch: u64, metric: f64) {
    let payload = run.with_file_name(format!("payload-{epoch}"));
    std::fs::create_dir_all(run.parent().unwrap()).unwrap();
    std::fs::write(&payload, vec![epoch as u8; 200_000 + epoch as usize]).unwrap();
    let out = Command::new(BIN)
        .args(["save"])
        .arg(run)
        .args([
            "--epoch",
            &epoch.to_string(),
            "--metric",
            &metric.to_string(),
            "--metric-name",
            "eval_top1",
            "--mode",
            "max",
        ])
        .arg(&payload)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ckpt save failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Save like [`save`], from a short-lived shell: the run's trainer (the `ckpt save`
/// child's parent) has exited, so nothing about it changes on screen afterwards.
fn save_from_exited_shell(run: &Path, epoch: u64, metric: f64) {
    let payload = run.with_file_name(format!("payload-{epoch}"));
    std::fs::create_dir_all(run.parent().unwrap()).unwrap();
    std::fs::write(&payload, vec![epoch as u8; 200_000 + epoch as usize]).unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg("\"$0\" \"$@\"; status=$?; exit $status")
        .arg(BIN)
        .arg("save")
        .arg(run)
        .args([
            "--epoch",
            &epoch.to_string(),
            "--metric",
            &metric.to_string(),
        ])
        .args(["--metric-name", "eval_top1", "--mode", "max"])
        .arg(&payload)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Set every file of the run to one whole minute, `mins` ago (ages then change only
/// when the wall clock's minute does).
fn age_files(run: &Path, mins: i64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let t = (now / 60 - mins) * 60;
    let when = std::time::UNIX_EPOCH + Duration::from_secs(t as u64);
    for e in std::fs::read_dir(run).unwrap().flatten() {
        if e.file_type().unwrap().is_file() {
            let f = std::fs::File::options().write(true).open(e.path()).unwrap();
            f.set_modified(when).unwrap();
        }
    }
}

fn native_run(n: u64) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    for e in 0..n {
        save(&run, e, [10.0, 30.0, 20.0, 50.0, 40.0][e as usize % 5]);
    }
    (tmp, run)
}

fn appear_then_prune(extra: &[&str]) {
    let (_tmp, run) = native_run(3);
    let run_s = run.to_str().unwrap();
    let mut args = vec![run_s];
    args.extend_from_slice(extra);
    let mut w = watch(&args, 120, 40);
    w.wait_for("the history", 20, |s| s.contains("history 3/3"));
    if extra.is_empty() {
        w.wait_for("events mode", 5, |s| s.contains("events · scan"));
    } else {
        w.wait_for("polling mode", 5, |s| s.contains("polling 1s · scan"));
    }
    // Another process saves epoch 3: its row appears.
    save(&run, 3, 45.0);
    w.wait_for("epoch 3 to appear", 10, |s| s.contains("history 4/4"));
    // Oldest row (epoch 0, neither best nor last): mark, plan, confirm.
    w.keys("G");
    w.keys("d");
    w.wait_for("the mark", 5, |s| s.contains("1 marked"));
    w.keys("x");
    w.wait_for("the prune dialog", 10, |s| s.contains("Prune?"));
    let s = w.text();
    assert!(s.contains("checkpoint-0.pth.tar"), "{s}");
    assert!(s.contains("200,000 bytes"), "exact bytes shown: {s}");
    assert!(s.contains("[ No ]"));
    w.keys("y");
    w.wait_for("the prune result", 15, |s| {
        s.contains("pruned 1 checkpoint")
    });
    assert!(
        !run.join("checkpoint-0.pth.tar").exists(),
        "the file is gone"
    );
    assert!(run.join("checkpoint-1.pth.tar").exists());
    w.wait_for("the rescan", 10, |s| s.contains("history 3/3"));
    w.keys("q");
    assert!(w.wait_exit(10).success());
    let screen = w.screen();
    assert!(!screen.parser.screen().alternate_screen());
    assert!(!screen.parser.screen().hide_cursor());
}

#[test]
fn events_new_row_appears_and_prune_removes_files() {
    appear_then_prune(&[]);
}

#[test]
fn polling_new_row_appears_and_prune_removes_files() {
    appear_then_prune(&["--poll", "1"]);
}

#[test]
fn sigterm_and_sighup_restore_the_terminal() {
    for sig in [libc::SIGTERM, libc::SIGHUP] {
        let (_tmp, run) = native_run(2);
        let mut w = watch(&[run.to_str().unwrap()], 100, 30);
        w.wait_for("the monitor", 20, |s| s.contains("history 2/2"));
        {
            let s = w.screen();
            assert!(s.parser.screen().alternate_screen());
            assert!(s.parser.screen().hide_cursor());
        }
        assert_eq!(unsafe { libc::kill(w.pid() as i32, sig) }, 0);
        w.wait_exit(10);
        // The reader thread may still be draining the last bytes.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (alt, hidden) = {
                let s = w.screen();
                (
                    s.parser.screen().alternate_screen(),
                    s.parser.screen().hide_cursor(),
                )
            };
            if !alt && !hidden {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "signal {sig}: alternate screen {alt}, cursor hidden {hidden}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn read_only_says_so_and_refuses() {
    let (_tmp, run) = native_run(2);
    let mut w = watch(&[run.to_str().unwrap(), "--read-only"], 120, 40);
    w.wait_for("the monitor", 20, |s| s.contains("history 2/2"));
    assert!(w.text().contains("READ-ONLY"));
    w.keys("Gdx");
    w.wait_for("the refusal", 5, |s| {
        s.contains("read-only: actions are disabled")
    });
    assert!(!w.text().contains("Prune?"));
    w.keys("q");
    w.wait_exit(10);
}

fn minute_of_day() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 60
}

#[test]
fn output_budget_idle_and_per_checkpoint() {
    // Its own tmpfs: free space that nobody else changes (the disk figures tick).
    let Some(fs) = TmpfsMount::new("output_budget_idle_and_per_checkpoint", "64m", "") else {
        return;
    };
    let run = fs.path.join("run");
    for e in 0..4 {
        save_from_exited_shell(&run, e, [10.0, 30.0, 20.0, 50.0][e as usize]);
    }
    // Saved 10 minutes ago, on a whole minute: ages tick only at the clock's minute.
    age_files(&run, 10);
    let w = watch(&[run.to_str().unwrap()], 120, 40);
    // The shell that saved was gone before the monitor looked: its exit is dated by
    // its last save, said once.
    let s = w.wait_for("the monitor", 20, |s| {
        s.contains("history 4/4") && s.contains("exited (last save 10m ago)")
    });
    assert_eq!(s.matches("last save 10m ago").count(), 1, "{s}");
    w.settle(Duration::from_millis(500));
    // Idle: nothing changes, nothing is written (retry once if a minute tick fell inside).
    let mut idle = None;
    for _ in 0..2 {
        let minute = minute_of_day();
        let before = w.bytes();
        std::thread::sleep(Duration::from_secs(3)); // the measurement window itself
        if minute_of_day() == minute {
            idle = Some(w.bytes() - before);
            break;
        }
    }
    let idle = idle.expect("two minute boundaries in a row?");
    eprintln!("idle: {idle} bytes in 3 s");
    assert_eq!(idle, 0, "an idle monitor writes nothing");
    // One new checkpoint.
    let before = w.bytes();
    save_from_exited_shell(&run, 4, 60.0);
    w.wait_for("epoch 4", 10, |s| s.contains("history 5/5"));
    w.settle(Duration::from_millis(600));
    let cost = w.bytes() - before;
    eprintln!("one new checkpoint at 120x40: {cost} bytes");
    assert!(cost < 4096, "one new checkpoint cost {cost} bytes");
}

#[test]
fn directory_of_runs_lists_them_and_opens_one() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("runs/alpha");
    let b = tmp.path().join("runs/beta");
    save(&a, 0, 10.0);
    save(&a, 1, 20.0);
    save(&b, 0, 5.0);
    let root = tmp.path().join("runs");
    let mut w = watch(&[root.to_str().unwrap()], 100, 30);
    w.wait_for("the run list", 20, |s| {
        s.contains("2 runs") && s.contains("alpha") && s.contains("beta") && s.contains("e1 20")
    });
    w.keys("j\r");
    w.wait_for("beta opened", 10, |s| {
        s.contains("history 1/1") && s.contains("beta")
    });
    w.keys("\x1b");
    w.wait_for("back to the list", 10, |s| s.contains("2 runs"));
    w.keys("q");
    assert!(w.wait_exit(10).success());
}

#[test]
fn panic_restores_the_terminal() {
    let (_tmp, run) = native_run(1);
    let mut w = watch_env(
        &[run.to_str().unwrap()],
        80,
        24,
        &[("CKPT_TUI_TEST_PANIC", "1")],
    );
    let status = w.wait_exit(20);
    assert!(!status.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (alt, hidden, text) = {
            let s = w.screen();
            let sc = s.parser.screen();
            (sc.alternate_screen(), sc.hide_cursor(), sc.contents())
        };
        if !alt && !hidden && text.contains("deliberate panic") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "alternate screen {alt}, cursor hidden {hidden}, screen:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Colours used on screen: (any colour at all, any outside the ANSI-16 palette, any inverse cell).
fn palette(w: &Pty) -> (bool, bool, bool) {
    let s = w.screen();
    let sc = s.parser.screen();
    let (rows, cols) = sc.size();
    let (mut any, mut wide, mut inverse) = (false, false, false);
    for r in 0..rows {
        for c in 0..cols {
            if let Some(cell) = sc.cell(r, c) {
                for col in [cell.fgcolor(), cell.bgcolor()] {
                    match col {
                        vt100::Color::Default => {}
                        vt100::Color::Idx(i) => {
                            any = true;
                            wide |= i >= 16;
                        }
                        vt100::Color::Rgb(..) => {
                            any = true;
                            wide = true;
                        }
                    }
                }
                inverse |= cell.inverse();
            }
        }
    }
    (any, wide, inverse)
}

#[test]
fn ansi16_by_default_and_no_color_keeps_the_selection() {
    let (_tmp, run) = native_run(3);
    let mut w = watch(&[run.to_str().unwrap(), "--color", "always"], 120, 40);
    w.wait_for("the monitor", 20, |s| s.contains("history 3/3"));
    w.settle(Duration::from_millis(300));
    let (any, wide, inverse) = palette(&w);
    assert!(
        any && !wide && inverse,
        "colour {any}, beyond ANSI-16 {wide}, selection {inverse}"
    );
    w.keys("q");
    w.wait_exit(10);
    let mut w = watch_env(&[run.to_str().unwrap()], 120, 40, &[("NO_COLOR", "1")]);
    w.wait_for("the monitor", 20, |s| s.contains("history 3/3"));
    w.settle(Duration::from_millis(300));
    let (any, _, inverse) = palette(&w);
    assert!(!any, "NO_COLOR: no colour at all");
    assert!(
        inverse,
        "NO_COLOR: the selection is still visible (reversed)"
    );
    w.keys("q");
    w.wait_exit(10);
}

#[test]
fn resizing_switches_between_full_and_compact() {
    let (_tmp, run) = native_run(3);
    let mut w = watch(&[run.to_str().unwrap()], 120, 40);
    w.wait_for("the full layout", 20, |s| {
        s.contains("history 3/3") && s.contains("top-k")
    });
    w.resize(80, 24);
    w.wait_for("the compact layout", 10, |s| {
        s.contains("best e1 30") && s.contains("free of") && !s.contains("top-k")
    });
    w.resize(20, 5);
    w.resize(130, 45);
    w.wait_for("the full layout again", 10, |s| s.contains("top-k"));
    w.keys("q");
    assert!(w.wait_exit(10).success());
}

#[test]
fn a_save_in_flight_shows_as_writing() {
    let (_tmp, run) = native_run(2);
    let mut w = watch(&[run.to_str().unwrap()], 120, 40);
    w.wait_for("the monitor", 20, |s| s.contains("history 2/2"));
    // A writer (this test process, alive) has a temp file for epoch 2 open.
    let temp = run.join(ckpt::store::temp::temp_name("checkpoint-2.pth.tar"));
    std::fs::write(&temp, vec![0u8; 4096]).unwrap();
    w.wait_for("the writing row", 10, |s| s.contains("writing"));
    std::fs::remove_file(&temp).unwrap();
    w.wait_for("the writing row to go", 10, |s| !s.contains("writing"));
    w.keys("q");
    w.wait_exit(10);
}

#[test]
fn promote_and_pin_through_the_engine() {
    let (_tmp, run) = native_run(3); // metrics 10, 30, 20: best is epoch 1
    let mut w = watch(&[run.to_str().unwrap()], 120, 40);
    w.wait_for("the monitor", 20, |s| {
        s.contains("history 3/3") && s.contains("best e1 30")
    });
    w.keys("G"); // epoch 0
    w.keys("p");
    w.wait_for("the promote dialog", 10, |s| s.contains("Promote to best?"));
    w.keys("\r"); // Enter presses the focused button: No
    w.wait_for("the cancel", 10, |s| s.contains("promote cancelled"));
    w.keys("p");
    w.wait_for("the promote dialog", 10, |s| s.contains("Promote to best?"));
    w.keys("y");
    w.wait_for("the promote result", 15, |s| {
        s.contains("promoted checkpoint-0.pth.tar")
    });
    w.wait_for("the new best", 10, |s| s.contains("best e0 10"));
    assert_eq!(
        std::fs::read(run.join("model_best.pth.tar")).unwrap(),
        std::fs::read(run.join("checkpoint-0.pth.tar")).unwrap()
    );
    w.keys("k"); // epoch 1
    w.keys(" ");
    w.wait_for("the pin dialog", 10, |s| s.contains("Pin?"));
    w.keys("y");
    w.wait_for("the pin result", 15, |s| {
        s.contains("pinned checkpoint-1.pth.tar")
    });
    let manifest = std::fs::read_to_string(run.join(".ckpt/manifest.json")).unwrap();
    let m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    let pinned: Vec<u64> = m["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["pinned"] == true)
        .map(|c| c["epoch"].as_u64().unwrap())
        .collect();
    assert!(pinned.contains(&1), "{manifest}");
    w.keys("q");
    w.wait_exit(10);
}

#[test]
fn restore_with_archive_moves_newer_to_trash() {
    let (_tmp, run) = native_run(4); // epochs 0..3
    let mut w = watch(&[run.to_str().unwrap()], 120, 40);
    w.wait_for("the monitor", 20, |s| s.contains("history 4/4"));
    w.keys("G"); // epoch 0
    w.keys("k"); // epoch 1
    w.keys("r");
    w.wait_for("the restore dialog", 10, |s| s.contains("Restore?"));
    let s = w.text();
    assert!(
        s.contains("2 newer checkpoints stay; the resumed trainer saves over them"),
        "{s}"
    );
    assert!(
        s.contains("[ ] a: archive the newer ones"),
        "archiving is off by default: {s}"
    );
    w.keys("a");
    // Re-planned: the exact bytes that move (epochs 2 and 3: 200,002 + 200,003).
    w.wait_for("the archiving plan", 10, |s| {
        s.contains("2 newer checkpoints (400,005 bytes")
    });
    assert!(w.text().contains(".ckpt/trash/"));
    w.keys("y");
    w.wait_for("the restore result", 15, |s| {
        s.contains("archived 2 newer to .ckpt/trash/")
    });
    let trash = std::fs::read_dir(run.join(".ckpt/trash"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("checkpoint-2.pth.tar").exists())
        .expect("a trash dir holding the newer checkpoints");
    for e in [2u64, 3] {
        let name = format!("checkpoint-{e}.pth.tar");
        assert!(!run.join(&name).exists(), "{name} left the run");
        assert_eq!(
            std::fs::metadata(trash.join(&name)).unwrap().len(),
            200_000 + e,
            "{name} in trash"
        );
    }
    assert_eq!(
        std::fs::read(run.join("last.pth.tar")).unwrap(),
        std::fs::read(run.join("checkpoint-1.pth.tar")).unwrap(),
        "last is epoch 1"
    );
    w.keys("q");
    assert!(w.wait_exit(10).success());
}

#[test]
fn a_deleted_run_is_noticed_and_comes_back() {
    let (tmp, run) = native_run(2);
    let run_s = run.to_str().unwrap();
    let mut w = watch(&[run_s], 120, 40);
    w.wait_for("the history", 20, |s| s.contains("history 2/2"));
    w.wait_for("events mode", 5, |s| s.contains("events · scan"));
    // Move the run away (like `rm -rf`, but keep it to bring back).
    let aside = tmp.path().join("aside");
    std::fs::rename(&run, &aside).unwrap();
    w.wait_for("the gone notice", 10, |s| {
        s.contains(&format!("run directory is gone: {run_s}")) && s.contains("stale")
    });
    assert!(w.text().contains("history 2/2"), "last rows kept");
    std::fs::rename(&aside, &run).unwrap();
    w.wait_for("the run back", 10, |s| {
        !s.contains("gone") && s.contains("events · scan")
    });
    // Events work again: a new save shows up.
    save(&run, 2, 60.0);
    w.wait_for("epoch 2 to appear", 10, |s| s.contains("history 3/3"));
    w.keys("q");
    assert!(w.wait_exit(10).success());
}

#[test]
fn native_run_without_policy_x_says_so_and_promote_names_the_old_best() {
    let (_tmp, run) = native_run(3); // epochs 0..2, no --keep-*: no policy
    let mut w = watch(&[run.to_str().unwrap()], 160, 40);
    w.wait_for("the monitor", 20, |s| s.contains("history 3/3"));
    w.keys("x");
    w.wait_for("the no-policy message", 10, |s| {
        s.contains("no retention policy for this run: mark rows with d, or prune with")
    });
    w.keys("G"); // epoch 0
    w.keys("p");
    w.wait_for("the promote dialog", 10, |s| s.contains("Promote to best?"));
    let s = w.text();
    // Best is epoch 1 (30.0); its alias file exists and is replaced.
    assert!(s.contains("(was checkpoint-1"), "{s}");
    assert!(s.contains("is replaced to hold:"), "{s}");
    w.keys("q");
}

/// The time of the last scan in the header ("· scan 14:03:22").
fn scan_clock(screen: &str) -> Option<String> {
    let first = screen.lines().next()?;
    Some(
        first
            .split("scan ")
            .nth(1)?
            .split_whitespace()
            .next()?
            .to_string(),
    )
}

/// The "free … of …" figure of the disk pane.
fn free_text(screen: &str) -> Option<String> {
    let i = screen.find("free ")?;
    Some(screen[i..].split(" of ").next()?.to_string())
}

#[test]
fn ages_and_disk_free_tick_once_a_second_without_a_rescan() {
    let Some(fs) = TmpfsMount::new("ages_and_disk_free_tick", "64m", "") else {
        return;
    };
    let run = fs.path.join("run");
    save_from_exited_shell(&run, 0, 10.0);
    save_from_exited_shell(&run, 1, 20.0);
    let w = watch(&[run.to_str().unwrap()], 120, 40);
    w.wait_for("the monitor", 20, |s| {
        s.contains("history 2/2") && s.contains("events · scan")
    });
    // The age moves with the clock alone: nothing changes on disk, no scan runs.
    w.wait_for("a seconds age", 10, |s| s.contains("last save 2s ago"));
    let scan = scan_clock(&w.text());
    let before = w.bytes();
    w.wait_for("the age to tick", 5, |s| s.contains("last save 4s ago"));
    let two_ticks = w.bytes() - before;
    eprintln!("two ticks of a seconds age: {two_ticks} bytes");
    assert_eq!(scan_clock(&w.text()), scan, "it ticked, it did not rescan");
    // Free space used by something else on the filesystem shows within a tick or two.
    let free = free_text(&w.text()).expect("free figure");
    std::fs::write(fs.path.join("other-file"), vec![1u8; 16 << 20]).unwrap();
    w.wait_for("free space to tick", 5, |s| {
        free_text(s).is_some_and(|f| f != free)
    });
    assert_eq!(scan_clock(&w.text()), scan, "outside the run: no rescan");
}

#[test]
fn disk_percent_used_is_what_df_says() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    save_from_exited_shell(&run, 0, 10.0);
    let w = watch(&[run.to_str().unwrap()], 120, 40);
    w.wait_for("the disk pane", 20, |s| s.contains("% used"));
    let out = Command::new("df").arg("-P").arg(&run).output().unwrap();
    let df: u64 = String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(4))
        .and_then(|p| p.trim_end_matches('%').parse().ok())
        .expect("df -P prints a percentage");
    let s = w.text();
    let ours: u64 = s
        .split("% used")
        .next()
        .and_then(|head| head.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no percentage: {s}"));
    // Others write to this filesystem meanwhile: one point of drift is allowed.
    assert!(
        ours.abs_diff(df) <= 1,
        "monitor says {ours}%, df says {df}%:\n{s}"
    );
}

#[test]
fn trash_view_lists_brings_back_and_empties_through_the_engine() {
    let (_tmp, run) = native_run(4); // epochs 0..3
    let mut w = watch(&[run.to_str().unwrap()], 120, 40);
    w.wait_for("the monitor", 20, |s| s.contains("history 4/4"));
    // Archive epochs 2 and 3 by restoring epoch 1.
    w.keys("G");
    w.keys("k");
    w.keys("r");
    w.wait_for("the restore dialog", 10, |s| s.contains("Restore?"));
    w.keys("a");
    w.wait_for("the archiving plan", 10, |s| s.contains("[x] a: archive"));
    w.keys("y");
    w.wait_for("the restore", 15, |s| s.contains("archived 2 newer"));
    w.wait_for("trash bytes in the disk pane", 10, |s| {
        s.contains(" · trash ")
    });
    w.keys("t");
    w.wait_for("the trash view", 10, |s| {
        s.contains("trash · 2 items") && s.contains("checkpoint-3.pth.tar")
    });
    assert!(w.text().contains("r restore x empty"), "{}", w.text());
    // Bring epoch 2 back (oldest first: the cursor is on it).
    w.keys("r");
    w.wait_for("the trash restore dialog", 10, |s| {
        s.contains("Restore from the trash?") && s.contains("→ checkpoint-2.pth.tar")
    });
    w.keys("n");
    w.wait_for("cancelled", 5, |s| s.contains("cancelled"));
    assert!(
        !run.join("checkpoint-2.pth.tar").exists(),
        "No changes nothing"
    );
    w.keys("r");
    w.wait_for("the dialog again", 10, |s| {
        s.contains("Restore from the trash?")
    });
    w.keys("y");
    w.wait_for("the trash restore", 15, |s| {
        s.contains("brought") && s.contains("back from the trash as checkpoint-2.pth.tar")
    });
    assert_eq!(
        std::fs::metadata(run.join("checkpoint-2.pth.tar"))
            .unwrap()
            .len(),
        200_002
    );
    w.wait_for("the relisted trash", 10, |s| s.contains("trash · 1 item "));
    // Empty: planned with exact bytes, default No, then yes.
    w.keys("x");
    w.wait_for("the empty dialog", 10, |s| {
        s.contains("Empty the trash?") && s.contains("200,003 bytes")
    });
    w.keys("y");
    w.wait_for("the empty result", 15, |s| {
        s.contains("emptied the trash: deleted 1")
    });
    w.wait_for("an empty trash", 10, |s| s.contains("the trash is empty"));
    assert!(!std::fs::read_dir(run.join(".ckpt/trash"))
        .unwrap()
        .flatten()
        .any(|e| e.path().join("checkpoint-3.pth.tar").exists()));
    w.keys("\x1b");
    w.wait_for("the run view", 10, |s| s.contains("history 3/3"));
    w.keys("q");
    assert!(w.wait_exit(10).success());
}

/// A trainer that saves a native run through `ckpt save` children (its parent is the
/// trainer), writing `<output>/train/<experiment>` like timm.
const NATIVE_TRAINER: &str = r#"
import argparse, os, subprocess, time
p = argparse.ArgumentParser()
p.add_argument("--output"); p.add_argument("--experiment"); p.add_argument("--ckpt")
a = p.parse_args()
run = os.path.join(a.output, "train", a.experiment)
for epoch in range(100000):
    src = "staged-%d.bin" % epoch
    with open(src, "wb") as f:
        f.write(os.urandom(4096))
    subprocess.run([a.ckpt, "save", run, "--epoch", str(epoch), "--metric", str(epoch),
                    "--metric-name", "top1", "--mode", "max", "--move", src], check=True,
                   stdout=subprocess.DEVNULL)
    time.sleep(0.5)
"#;

/// A timm-like trainer: checkpoint files and summary.csv, no ckpt involved.
const TIMM_TRAINER: &str = r#"
import argparse, os, time
p = argparse.ArgumentParser()
p.add_argument("--output"); p.add_argument("--experiment")
a = p.parse_args()
run = os.path.join(a.output, "train", a.experiment)
os.makedirs(run, exist_ok=True)
for epoch in range(100000):
    with open(os.path.join(run, "checkpoint-%d.pth.tar" % epoch), "wb") as f:
        f.write(os.urandom(4096))
    with open(os.path.join(run, "summary.csv"), "a") as f:
        f.write("%d,0.5,%d\n" % (epoch, epoch))
    time.sleep(0.5)
"#;

/// Kills and reaps a child when dropped (a failed assertion leaves nothing running).
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Foreground colour of the first cell of `needle` on the screen.
fn colour_of(w: &Pty, needle: &str) -> Option<vt100::Color> {
    let s = w.screen();
    let screen = s.parser.screen();
    let text = screen.contents();
    for (row, line) in text.lines().enumerate() {
        if let Some(byte) = line.find(needle) {
            let col = line[..byte].chars().count() as u16;
            return screen.cell(row as u16, col).map(|c| c.fgcolor());
        }
    }
    None
}

#[test]
fn trainers_started_from_the_parent_dir_are_named_then_shown_exited_when_killed() {
    let test = "trainers_started_from_the_parent_dir_are_named_then_shown_exited_when_killed";
    if Command::new("python3")
        .arg("-c")
        .arg("pass")
        .status()
        .map_or(true, |s| !s.success())
    {
        util::skip::skip(test, "python3 is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let proj = tmp.path().canonicalize().unwrap().join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    std::fs::write(proj.join("train.py"), NATIVE_TRAINER).unwrap();
    std::fs::write(proj.join("train_timm.py"), TIMM_TRAINER).unwrap();
    // Both launched from the parent directory with relative paths.
    let native = Reaped(
        Command::new("python3")
            .args([
                "train.py",
                "--output",
                "./output",
                "--experiment",
                "exp",
                "--ckpt",
                BIN,
            ])
            .current_dir(&proj)
            .spawn()
            .unwrap(),
    );
    let timm = Reaped(
        Command::new("python3")
            .args([
                "train_timm.py",
                "--output",
                "./output",
                "--experiment",
                "exp2",
            ])
            .current_dir(&proj)
            .spawn()
            .unwrap(),
    );
    let exp = proj.join("output/train/exp");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(exp.join(".ckpt/manifest.json").exists()
        && proj.join("output/train/exp2/checkpoint-0.pth.tar").exists())
    {
        assert!(
            Instant::now() < deadline,
            "the trainers did not start saving"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A shell sitting in the run with a `sleep 30`: never the trainer.
    let sitter = Reaped(
        Command::new("sh")
            .args(["-c", "sleep 30; :"])
            .current_dir(&exp)
            .spawn()
            .unwrap(),
    );
    let (np, tp) = (native.0.id(), timm.0.id());
    let root = proj.join("output/train");
    let mut w = watch(&[root.to_str().unwrap()], 120, 40);
    // The run list: each run's trainer, found by saved_by and by its arguments.
    w.wait_for("both trainers in the run list", 30, |s| {
        s.contains("2 runs") && s.contains(&format!("pid {np}")) && s.contains(&format!("pid {tp}"))
    });
    // Open exp (the first row): the header names the python trainer, alive.
    w.keys("\r");
    let alive = format!("trainer pid {np} alive");
    w.wait_for("the native trainer, alive", 20, |s| s.contains(&alive));
    let s = w.text();
    assert!(
        s.contains("train.py --output ./output --experiment exp"),
        "{s}"
    );
    assert!(
        !s.contains(&format!("pid {}", sitter.0.id())),
        "the sleeping shell: {s}"
    );
    assert_eq!(
        colour_of(&w, &format!("pid {np} alive")),
        Some(vt100::Color::Idx(2)),
        "green"
    );
    // Killed mid-run: "exited N ago", in red, within a couple of seconds.
    drop(native);
    let exited = format!("trainer pid {np} exited");
    let seen = w.wait_for("the trainer to be seen exited", 10, |s| s.contains(&exited));
    // The age ticks on its own (no rescan): whatever it first said, it grows. Compared,
    // not matched against fixed values, so a slow machine cannot skip past them.
    let age_of = |s: &str| -> Option<u64> {
        let rest = &s[s.find(&exited)? + exited.len()..];
        rest.trim_start().split('s').next()?.trim().parse().ok()
    };
    let first = age_of(&seen);
    w.wait_for("the exit age to tick", 10, |s| {
        matches!((first, age_of(s)), (Some(a), Some(b)) if b > a)
            || (first.is_none() && age_of(s).is_some())
    });
    assert_eq!(
        colour_of(&w, &format!("pid {np} exited")),
        Some(vt100::Color::Idx(1)),
        "red"
    );
    // Back in the list: the native run's trainer exited, the timm one alive; then it
    // is killed too.
    w.keys("\x1b");
    w.wait_for("the list with the exit", 10, |s| {
        s.contains(&format!("pid {np} exited")) && s.contains(&format!("pid {tp} · cpu"))
    });
    drop(timm);
    w.wait_for("the timm trainer exited", 10, |s| {
        s.contains(&format!("pid {tp} exited"))
    });
    w.keys("q");
    assert!(w.wait_exit(10).success());
}

/// A small real Lightning training (CSV logger, `ModelCheckpoint` top-2 + last): logs
/// and ~1 MiB checkpoints under `<--root>/lightning_logs/version_N`, an epoch about
/// every 0.3 s, until killed.
const LIGHTNING_TRAINER: &str = r#"
import sys, time
import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

class Model(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(512, 512)
    def training_step(self, batch, _):
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x), y)
    def validation_step(self, batch, _):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y))
    def on_train_epoch_end(self):
        time.sleep(0.3)  # the epoch's work
    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

root = sys.argv[sys.argv.index("--root") + 1]
data = TensorDataset(torch.randn(32, 512), torch.randn(32, 512))
trainer = L.Trainer(
    max_epochs=100000, default_root_dir=root,
    logger=L.pytorch.loggers.CSVLogger(root),
    callbacks=[L.pytorch.callbacks.ModelCheckpoint(monitor="val_loss", save_top_k=2, save_last=True)],
    enable_progress_bar=False, enable_model_summary=False, accelerator="cpu", log_every_n_steps=1,
)
trainer.fit(Model(), DataLoader(data, batch_size=16), DataLoader(data, batch_size=16))
"#;

#[test]
fn a_live_lightning_trainer_started_with_a_relative_root_is_alive_then_exited() {
    let test = "a_live_lightning_trainer_started_with_a_relative_root_is_alive_then_exited";
    // The Python with torch and lightning (`.ci/test` sets CKPT_TEST_PYTHON to its venv).
    let py = std::env::var("CKPT_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let has = Command::new(&py)
        .args(["-c", "import lightning, torch"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has {
        util::skip::skip(
            test,
            &format!("lightning and torch not importable by {py} (set CKPT_TEST_PYTHON)"),
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let proj = tmp.path().canonicalize().unwrap().join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    std::fs::write(proj.join("train.py"), LIGHTNING_TRAINER).unwrap();
    // An earlier, finished run of the same project: never this trainer's.
    let old = proj.join("logs/lightning_logs/version_0");
    std::fs::create_dir_all(&old).unwrap();
    // Launched from the project dir with a relative root: it writes version_1.
    let trainer = Reaped(
        Command::new(&py)
            .args(["train.py", "--root", "./logs"])
            .current_dir(&proj)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = trainer.0.id();
    let run = proj.join("logs/lightning_logs/version_1");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !run.join("checkpoints/last.ckpt").exists() {
        assert!(
            Instant::now() < deadline,
            "the Lightning trainer did not save"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut w = watch(&[run.to_str().unwrap()], 120, 40);
    let alive = format!("trainer pid {pid} alive");
    let s = w.wait_for("the Lightning trainer, alive", 30, |s| s.contains(&alive));
    assert!(s.contains("· lightning · val_loss (min)"), "{s}");
    assert!(s.contains("train.py --root ./logs"), "{s}");
    let green = colour_of(&w, &format!("pid {pid} alive"));
    assert_eq!(green, Some(vt100::Color::Idx(2)), "green");
    // The finished version_0 is not its run.
    let mut o = watch(&[old.to_str().unwrap()], 120, 40);
    o.wait_for("the old run's header", 30, |s| {
        s.contains("no trainer seen")
    });
    o.keys("q");
    assert!(o.wait_exit(10).success());
    // Killed mid-run: exited, in red.
    drop(trainer);
    let exited = format!("trainer pid {pid} exited");
    w.wait_for("the trainer to be seen exited", 10, |s| s.contains(&exited));
    let red = colour_of(&w, &format!("pid {pid} exited"));
    assert_eq!(red, Some(vt100::Color::Idx(1)), "red");
    w.keys("q");
    assert!(w.wait_exit(10).success());
}
