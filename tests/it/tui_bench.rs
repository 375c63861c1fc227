//! Speed numbers for the monitor (ignored by default; they take ~2 minutes):
//!   cargo test --release --test it tui_bench -- --ignored --nocapture
//! idle CPU over 60 s on a 1,000-checkpoint run, RSS at 10,000 checkpoints,
//! file-appear-to-screen latency p95 with events and with polling, and bytes written
//! per idle minute next to `watch -n 2 'ls -l RUN; df -h RUN'` in the same pty size.

use crate::util;

use std::path::Path;
use std::time::{Duration, Instant};

use ckpt::engine::{EngineOptions, Run, SaveRequest, SaveSource};

use crate::util::pty::{Pty, BIN};
use portable_pty::CommandBuilder;

/// `program ARGS` in a 120x40 pty, polled every 2 ms (latency is measured on it).
fn term(program: &str, args: &[&str]) -> Pty {
    let mut cmd = CommandBuilder::new(program);
    cmd.args(args);
    cmd.env("TERM", "xterm-256color");
    Pty::spawn(cmd, 120, 40).with_poll(Duration::from_millis(2))
}

/// A native run of `n` 1 KiB checkpoints, written directly (fast for 10,000), one a
/// minute up to now (file times too: ages on screen are real minutes).
fn synthetic_run(dir: &Path, n: u64) {
    let t0 = chrono::Utc::now() - chrono::Duration::seconds(n as i64 * 60);
    let at = |e: u64| t0 + chrono::Duration::seconds(e as i64 * 60);
    let checkpoints = (0..n)
        .map(|e| util::engine::HandWritten {
            epoch: e,
            metric: 50.0 + (e as f64 / 9.0).sin() * 10.0,
            bytes: vec![(e % 251) as u8; 1024],
            saved_at: at(e),
        })
        .collect();
    util::engine::write_native_run(dir, checkpoints);
    for e in 0..n {
        std::fs::File::options()
            .write(true)
            .open(dir.join(format!("checkpoint-{e}.pth.tar")))
            .unwrap()
            .set_modified(std::time::SystemTime::from(at(e)))
            .unwrap();
    }
    let snap = ckpt::layout::scan(dir, None).unwrap();
    assert_eq!(snap.checkpoints.len() as u64, n, "{:?}", snap.warnings);
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap()
}

fn p95(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[(v.len() * 95).div_ceil(100) - 1])
}

/// Latency from a save's commit (engine in-process) to its row on screen; with
/// `compare`, also to its line in `watch -n 2 'ls -lt RUN'`.
fn latency(
    extra: &[&str],
    samples: u64,
    compare: bool,
) -> ((Duration, Duration), Option<(Duration, Duration)>) {
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = tmp.path().join("run");
    synthetic_run(&run_dir, 20);
    let mut args = vec!["watch", run_dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let t = term(BIN, &args);
    t.wait_for("the screen", 20, |s| s.contains("history 20/20"));
    let script = format!("ls -lt {}", run_dir.display());
    let w = compare.then(|| term("watch", &["-n", "2", &script]));
    if let Some(w) = &w {
        w.wait_for("the screen", 10, |s| s.contains("checkpoint-19"));
    }
    let run = Run::open(&run_dir, None, EngineOptions::default()).unwrap();
    let mut out = Vec::new();
    let mut other = Vec::new();
    for i in 0..samples {
        let epoch = 20 + i;
        let mut write = |w: &mut dyn std::io::Write| w.write_all(&[7u8; 4096]);
        run.save(
            &SaveRequest {
                epoch,
                metric: Some(1.0),
                ..Default::default()
            },
            SaveSource::Writer(&mut write),
            None,
        )
        .unwrap();
        let t0 = Instant::now();
        let want = format!("history {}/{}", epoch + 1, epoch + 1);
        t.wait_for("the screen", 10, |s| s.contains(&want));
        let t1 = Instant::now();
        out.push(t1 - t0);
        if let Some(w) = &w {
            let name = format!("checkpoint-{epoch}.pth.tar");
            w.wait_for("the screen", 10, |s| s.contains(&name));
            other.push(t0.elapsed());
        }
        // Spread the saves so each is its own change, not part of one burst; with the
        // `watch -n 2` comparison, at varied phases of its 2 s period.
        let pause = if compare { 150 + (i * 373) % 2000 } else { 150 };
        std::thread::sleep(Duration::from_millis(pause));
    }
    (p95(out), w.map(|_| p95(other)))
}

#[test]
#[ignore = "benchmark: ~2 minutes; run with --ignored --nocapture"]
fn monitor_speed_numbers() {
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;

    // RSS at 10,000 checkpoints.
    let tmp = tempfile::tempdir().unwrap();
    let big = tmp.path().join("big");
    synthetic_run(&big, 10_000);
    let t = term(BIN, &["watch", big.to_str().unwrap()]);
    let t0 = Instant::now();
    t.wait_for("the screen", 60, |s| s.contains("history 10000/10000"));
    println!(
        "10,000 checkpoints: first full screen after {:?}",
        t0.elapsed()
    );
    std::thread::sleep(Duration::from_secs(2));
    println!("RSS at 10,000 checkpoints: {} KiB", rss_kib(t.pid()));
    drop(t);

    // Latency, events then polling.
    let ((med, p), other) = latency(&[], 20, true);
    println!("latency with events: median {med:?}, p95 {p:?}");
    if let Some((med, p)) = other {
        println!("latency of watch -n 2 'ls -lt RUN': median {med:?}, p95 {p:?}");
    }
    let ((med, p), _) = latency(&["--poll", "1"], 12, false);
    println!("latency with --poll 1: median {med:?}, p95 {p:?}");

    // Idle CPU, RSS and bytes over 60 s on 1,000 checkpoints, beside `watch -n 2`, on
    // a tmpfs of its own when root (free space nobody else changes; the gauge ticks).
    let fs = util::tmpfs::TmpfsMount::new("monitor_speed_numbers", "256m", "");
    let base = fs
        .as_ref()
        .map_or(tmp.path().to_path_buf(), |f| f.path.clone());
    let mid = base.join("mid");
    synthetic_run(&mid, 1_000);
    let t = term(BIN, &["watch", mid.to_str().unwrap()]);
    t.wait_for("the screen", 30, |s| s.contains("history 1000/1000"));
    std::thread::sleep(Duration::from_secs(2));
    let script = format!("ls -l {0}; df -h {0}", mid.display());
    let w = term("watch", &["-n", "2", &script]);
    w.wait_for("the screen", 10, |s| s.contains("checkpoint-"));
    let idle_minute = |what: &str| {
        let (c0, b0, wb0, start) = (cpu_ticks(t.pid()), t.bytes(), w.bytes(), Instant::now());
        std::thread::sleep(Duration::from_secs(60));
        let secs = start.elapsed().as_secs_f64();
        let cpu = (cpu_ticks(t.pid()) - c0) as f64 / tick / secs * 100.0;
        println!(
            "{what}: idle CPU {cpu:.3}% of one core, RSS {} KiB",
            rss_kib(t.pid())
        );
        println!(
            "{what}: bytes per idle minute at 120x40: ckpt watch {:.0}, watch -n 2 'ls -l RUN; df -h RUN' {:.0}",
            (t.bytes() - b0) as f64 * 60.0 / secs,
            (w.bytes() - wb0) as f64 * 60.0 / secs
        );
    };
    idle_minute("last save 1m+ ago (ages tick by the minute)");
    // The worst idle minute: right after a save, its age ticks every second (header
    // and its row). Saved from a shell that exits: a trainer that changes nothing.
    let payload = base.join("payload");
    std::fs::write(&payload, vec![3u8; 4096]).unwrap();
    let st = std::process::Command::new("sh")
        .arg("-c")
        .arg("\"$0\" \"$@\"; status=$?; exit $status")
        .arg(BIN)
        .args([
            "save",
            mid.to_str().unwrap(),
            "--epoch",
            "1000",
            "--metric",
            "55",
        ])
        .arg(&payload)
        .status()
        .unwrap();
    assert!(st.success());
    t.wait_for("the screen", 10, |s| s.contains("history 1001/1001"));
    std::thread::sleep(Duration::from_millis(500));
    idle_minute("first minute after a save (a seconds age ticking)");
}
