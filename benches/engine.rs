//! Engine benchmark: `cargo bench --bench engine`. Prints one compact table; asserts
//! nothing (numbers go to the README).
//!
//! What it measures, all on the same filesystem in the same run:
//! - durable save of a large payload (`Run::save`, in-process writer and file copy) vs
//!   `dd bs=1M conv=fsync` and `cp` + `sync`, as throughput ratios;
//! - the timm way (benches/timm_saver.py: write `tmp.pth.tar`, `os.replace`,
//!   `os.link`, no fsync) on the same payload, for comparison;
//! - alias update, promote and restore by hardlink at 1 MiB and at the large size
//!   (median of N, µs): these must not depend on the checkpoint's size;
//! - xxh3-128 hash throughput vs the measured disk write throughput;
//! - peak RSS of this process (getrusage).
//!
//! Environment:
//! - `CKPT_BENCH_SIZE`   large payload size, bytes or with a K/M/G suffix (default `1G`;
//!   `8M` with 1 round and 3 reps when run without `--bench`, as `cargo test` does).
//! - `CKPT_BENCH_DIR`    directory to measure in (default: the system temp dir); a fresh
//!   subdirectory is created there and removed at the end.
//! - `CKPT_BENCH_ROUNDS` rounds of the large writes (dd, save, copy, cp), median
//!   reported (default 5).
//! - `CKPT_BENCH_REPS`   repetitions of the small operations, median reported (default 31).
//! - `CKPT_BENCH_PYTHON` interpreter for the timm baseline (default `python3`; the row is
//!   skipped when it cannot run).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ckpt::engine::{EngineOptions, RestoreOptions, Run, SaveRequest, SaveSource};
use ckpt::rank::{MetricSpec, Mode, RetentionPolicy};

const MIB: u64 = 1 << 20;
const CHUNK: usize = 16 << 20;

fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.chars().last()?.to_ascii_uppercase() {
        'K' => (&s[..s.len() - 1], 1u64 << 10),
        'M' => (&s[..s.len() - 1], 1 << 20),
        'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.trim().parse::<u64>().ok().map(|n| n * mult)
}

/// Pseudo-random bytes (xorshift): incompressible, cheap to make.
fn random_chunk(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut v = vec![0u8; len];
    for c in v.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c.copy_from_slice(&x.to_le_bytes()[..c.len()]);
    }
    v
}

fn write_payload(out: &mut dyn Write, chunk: &[u8], size: u64) -> std::io::Result<()> {
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        // 1 MiB writes, about what a serializer such as torch.save hands down.
        for piece in chunk[..n].chunks(MIB as usize) {
            out.write_all(piece)?;
        }
        left -= n as u64;
    }
    Ok(())
}

fn sync_all() {
    // SAFETY: sync(2) has no preconditions.
    unsafe { libc::sync() };
}

fn timed<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let t = Instant::now();
    let r = f();
    (t.elapsed(), r)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn fs_type(dir: &Path) -> String {
    Command::new("stat")
        .args(["-f", "-c", "%T"])
        .arg(dir)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "?".into())
}

fn peak_rss_mib(who: i32) -> f64 {
    // SAFETY: getrusage fills the struct we pass; zeroed is a valid rusage.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &mut ru) };
    ru.ru_maxrss as f64 / 1024.0
}

fn mbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e6
}

fn human(bytes: u64) -> String {
    if bytes >= 1 << 30 {
        format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
    } else {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    }
}

fn request(epoch: u64) -> SaveRequest {
    SaveRequest {
        epoch,
        metric: Some(epoch as f64),
        metric_spec: Some(MetricSpec {
            name: "eval_top1".into(),
            mode: Mode::Max,
        }),
        // Keep everything the bench makes; retention is not what is measured.
        policy: Some(RetentionPolicy {
            keep_top_k: None,
            keep_last: Some(1000),
            keep_every: None,
        }),
        ..Default::default()
    }
}

fn save_writer(run: &Run, epoch: u64, chunk: &[u8], size: u64) -> Duration {
    let mut w = |out: &mut dyn Write| write_payload(out, chunk, size);
    let (d, r) = timed(|| run.save(&request(epoch), SaveSource::Writer(&mut w), None));
    r.unwrap_or_else(|e| panic!("save of epoch {epoch} failed: {e}"));
    d
}

fn dd(dir: &Path, size: u64) -> Duration {
    let out = dir.join("dd.bin");
    let count = size.div_ceil(MIB);
    let (d, st) = timed(|| {
        Command::new("dd")
            .arg("if=/dev/zero")
            .arg(format!("of={}", out.display()))
            .args([
                "bs=1M",
                &format!("count={count}"),
                "conv=fsync",
                "status=none",
            ])
            .status()
    });
    assert!(st.is_ok_and(|s| s.success()), "dd failed");
    let _ = std::fs::remove_file(&out);
    sync_all();
    d
}

/// Median latency (µs) of one operation repeated `reps` times, alternating between two
/// checkpoints; `None` when the operation is not available (fails or panics).
fn median_us(reps: usize, mut op: impl FnMut(u64) -> ckpt::Result<()>) -> Option<f64> {
    let mut times = Vec::with_capacity(reps);
    for i in 0..reps {
        let r =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| timed(|| op(i as u64 % 2))));
        match r {
            Ok((d, Ok(()))) => times.push(d),
            Ok((_, Err(e))) => {
                eprintln!("bench: operation failed: {e}");
                return None;
            }
            Err(_) => return None,
        }
    }
    Some(median(times).as_secs_f64() * 1e6)
}

/// Median latency (µs) of alias update, promote and restore between epochs a and b.
fn small_ops(run: &Run, a: u64, b: u64, reps: usize) -> [Option<f64>; 3] {
    let pick = |k: u64| if k == 0 { a } else { b };
    let alias = median_us(reps, |k| {
        let p = PathBuf::from(format!("checkpoint-{}.pth.tar", pick(k)));
        ckpt::engine::alias::set_alias(&run.dir, "bench_alias.pth.tar", &p).map(|_| ())
    });
    let _ = std::fs::remove_file(run.dir.join("bench_alias.pth.tar"));
    let promote = median_us(reps, |k| run.promote(&pick(k).to_string()).map(|_| ()));
    let restore = median_us(reps, |k| {
        let plan = run.plan_restore(&pick(k).to_string(), &RestoreOptions::default())?;
        run.restore(&plan, None)
    });
    [alias, promote, restore]
}

fn hash_throughput(chunk: &[u8]) -> f64 {
    let total = 1u64 << 30;
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let (d, h) = timed(|| {
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            let mut done = 0u64;
            while done < total {
                h.update(chunk);
                done += chunk.len() as u64;
            }
            h.digest128()
        });
        std::hint::black_box(h);
        best = best.min(d);
    }
    mbps(total, best)
}

fn main() {
    // One line per panic (an unavailable operation is reported as n/a in the table).
    std::panic::set_hook(Box::new(|info| eprintln!("bench: {info}")));
    // `cargo test --all-targets` runs bench binaries too (without `--bench`): then do a
    // small smoke run that proves the bench works, not a 1 GiB measurement in debug.
    let full = std::env::args().skip(1).any(|a| a == "--bench");
    if !full {
        println!("engine bench: smoke run (8 MiB, 1 round); `cargo bench --bench engine` measures");
    }
    let (default_size, default_rounds, default_reps) = if full {
        (1u64 << 30, 5u64, 31usize)
    } else {
        (8 << 20, 1, 3)
    };
    let size = std::env::var("CKPT_BENCH_SIZE")
        .ok()
        .and_then(|s| parse_size(&s))
        .unwrap_or(default_size);
    let rounds: u64 = std::env::var("CKPT_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_rounds)
        .max(1);
    let reps: usize = std::env::var("CKPT_BENCH_REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_reps)
        .max(1);
    let parent = std::env::var_os("CKPT_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let python = std::env::var("CKPT_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let base = tempfile::Builder::new()
        .prefix("ckpt-bench-")
        .tempdir_in(&parent)
        .expect("bench dir");
    let chunk = random_chunk(CHUNK.min(size.max(MIB) as usize));
    let opts = EngineOptions::default();
    println!(
        "ckpt engine bench: payload {} on {} ({}), {rounds} rounds, {} reps for small ops",
        human(size),
        base.path().display(),
        ckpt::disk::headroom(base.path()).map_or_else(|_| fs_type(base.path()), |h| h.fs_type),
        reps
    );
    let started = Instant::now();
    let mut rows: Vec<(String, String, String, String)> = Vec::new();
    let row = |rows: &mut Vec<_>, op: &str, t: String, tp: String, vs: String| {
        rows.push((op.to_string(), t, tp, vs))
    };

    // Durable large writes, interleaved round by round so that drift in the device's
    // speed hits every contender alike; medians are reported.
    sync_all();
    let big = Run::open_or_create(&base.path().join("big"), opts.clone()).expect("big run");
    let src = base.path().join("src.bin");
    {
        let mut f = std::fs::File::create(&src).expect("src");
        write_payload(&mut f, &chunk, size).expect("write src");
    }
    sync_all();
    let (mut dd_v, mut writer_v, mut file_v, mut cp_v) = (vec![], vec![], vec![], vec![]);
    for r in 0..rounds {
        dd_v.push(dd(base.path(), size));
        writer_v.push(save_writer(&big, 1 + r, &chunk, size));
        sync_all();
        let (d, res) = timed(|| {
            big.save(
                &request(100 + r),
                SaveSource::File {
                    path: &src,
                    move_file: false,
                },
                None,
            )
        });
        res.expect("save from file");
        file_v.push(d);
        sync_all();
        let (d, ok) = timed(|| {
            let ok = Command::new("cp")
                .arg(&src)
                .arg(base.path().join("cp.bin"))
                .status()
                .is_ok_and(|s| s.success());
            sync_all();
            ok
        });
        assert!(ok, "cp failed");
        cp_v.push(d);
        let _ = std::fs::remove_file(base.path().join("cp.bin"));
        sync_all();
    }
    let _ = std::fs::remove_file(&src);
    let list = |v: &[Duration]| {
        v.iter()
            .map(|d| format!("{:.2}", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let rounds_line = format!(
        "per round (s): dd {} | writer {} | file copy {} | cp+sync {}",
        list(&dd_v),
        list(&writer_v),
        list(&file_v),
        list(&cp_v)
    );
    let dd_t = median(dd_v);
    let dd_bytes = size.div_ceil(MIB) * MIB;
    let dd_mbps = mbps(dd_bytes, dd_t);
    let ratio = |bytes: u64, d: Duration| format!("{:.2}×", mbps(bytes, d) / dd_mbps);
    let secs = |d: Duration| format!("{:.3} s", d.as_secs_f64());
    row(
        &mut rows,
        "dd bs=1M conv=fsync",
        secs(dd_t),
        format!("{dd_mbps:.0} MB/s"),
        "1.00×".into(),
    );
    for (name, v) in [
        ("ckpt save, writer (durable)", writer_v),
        ("ckpt save, file copy (durable)", file_v),
        ("cp + sync", cp_v),
    ] {
        let t = median(v);
        row(
            &mut rows,
            name,
            secs(t),
            format!("{:.0} MB/s", mbps(size, t)),
            ratio(size, t),
        );
    }

    // The timm way (no fsync), then how long its data takes to reach the disk.
    let timm_dir = base.path().join("timm");
    std::fs::create_dir_all(&timm_dir).expect("timm dir");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/timm_saver.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(&timm_dir)
        .arg(size.to_string())
        .arg("1")
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            let t = text
                .trim()
                .strip_prefix("seconds=")
                .and_then(|s| s.parse::<f64>().ok())
                .map(Duration::from_secs_f64)
                .expect("timm_saver output");
            let (sync_t, ()) = timed(sync_all);
            row(
                &mut rows,
                "timm-style python (no fsync)",
                secs(t),
                format!("{:.0} MB/s", mbps(size, t)),
                ratio(size, t),
            );
            row(
                &mut rows,
                "  … + the sync it skipped",
                secs(t + sync_t),
                format!("{:.0} MB/s", mbps(size, t + sync_t)),
                ratio(size, t + sync_t),
            );
        }
        Ok(o) => row(
            &mut rows,
            "timm-style python",
            "failed".into(),
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
                .into(),
            String::new(),
        ),
        Err(e) => row(
            &mut rows,
            "timm-style python",
            "skipped".into(),
            format!("{python}: {e}"),
            String::new(),
        ),
    }
    let _ = std::fs::remove_dir_all(&timm_dir);
    sync_all();

    // Small operations at 1 MiB and at the large size.
    let small = Run::open_or_create(&base.path().join("small"), opts.clone()).expect("small run");
    save_writer(&small, 1, &chunk, MIB);
    save_writer(&small, 2, &chunk, MIB);
    let one_mib = {
        let (d, _) = timed(|| save_writer(&small, 3, &chunk, MIB));
        d
    };
    let s_ops = small_ops(&small, 1, 2, reps);
    let b_ops = small_ops(&big, 1, 100, reps);
    let us = |v: f64| format!("{v:.0} µs");
    let us_opt = |v: Option<f64>| v.map_or_else(|| "n/a".to_string(), us);
    row(
        &mut rows,
        "ckpt save 1 MiB (durable)",
        us(one_mib.as_secs_f64() * 1e6),
        String::new(),
        String::new(),
    );
    for (k, name) in ["alias update (hardlink)", "promote", "restore"]
        .iter()
        .enumerate()
    {
        row(
            &mut rows,
            &format!("{name}, 1 MiB"),
            us_opt(s_ops[k]),
            "median".into(),
            String::new(),
        );
        row(
            &mut rows,
            &format!("{name}, {}", human(size)),
            us_opt(b_ops[k]),
            "median".into(),
            String::new(),
        );
    }

    let hash_mbps = hash_throughput(&chunk);
    row(
        &mut rows,
        "xxh3-128 hash (in memory)",
        String::new(),
        format!("{hash_mbps:.0} MB/s"),
        format!("{:.1}× disk", hash_mbps / dd_mbps),
    );

    let w = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    println!(
        "{:<w$}  {:>10}  {:>12}  {:>9}",
        "operation", "time", "throughput", "vs dd"
    );
    for (op, t, tp, vs) in &rows {
        println!("{op:<w$}  {t:>10}  {tp:>12}  {vs:>9}");
    }
    println!("{rounds_line}");
    println!(
        "peak RSS: bench process {:.1} MiB (children: {:.1} MiB); total {:.1} s",
        peak_rss_mib(libc::RUSAGE_SELF),
        peak_rss_mib(libc::RUSAGE_CHILDREN),
        started.elapsed().as_secs_f64()
    );
    drop(big);
    drop(small);
    drop(base);
}
