//! Scan benchmark (issue 5, Speed): `cargo bench --bench scan`. Prints one compact table
//! with the targets beside the numbers; asserts only that its inputs scan cleanly.
//!
//! Built in a fresh temp dir, all on the same filesystem:
//! - a native run with N checkpoints: the run and its first save come from the engine
//!   (`Run::save`), the other N-1 files and manifest entries are written directly in the
//!   manifest format, then stored and aliased with the engine's own `commit`;
//! - a timm run with N checkpoint files (tiny real torch zips holding `epoch` and
//!   `metric`), `summary.csv`, `args.yaml`, and `last`/`model_best` hardlinked as timm does;
//! - a directory of R small runs, a quarter of each layout: native (saved through the
//!   engine), timm (synthetic, as above), Lightning and HF (copies of the real fixtures).
//!
//! Timed warm (one unmeasured pass first): `ckpt::layout::scan` of each big run, and
//! `discover_runs` + `scan` of every run found, as median and p95 of `reps` passes;
//! and the monitor's share of a change: taking in the native run's scan, drawing a
//! 120×40 frame of it.
//!
//! Without a `--bench` argument (`cargo test --all-targets` runs bench binaries too) it
//! does a smoke run: N = 100, R = 5, 3 passes, well under 2 s in debug, exit 0.
//!
//! Environment: `CKPT_BENCH_DIR` (where to build; default the system temp dir),
//! `CKPT_SCAN_N` (default 10000), `CKPT_SCAN_RUNS` (default 200), `CKPT_SCAN_REPS`
//! (default 31).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ckpt::engine::commit::{recompute_best, repoint_aliases, store_manifest};
use ckpt::engine::hash::format_hash;
use ckpt::engine::{EngineOptions, Run, SaveRequest, SaveSource};
use ckpt::layout;
use ckpt::rank::{MetricSpec, Mode, RetentionPolicy};
use ckpt::snapshot::LayoutKind;
use ckpt::snapshot::RunSnapshot;
use ckpt::store::manifest::Entry;
use ckpt::store::{checkpoint_name, load_manifest};

const TARGET_ONE_RUN: Duration = Duration::from_millis(100);
const TARGET_MANY_RUNS: Duration = Duration::from_secs(1);

struct Config {
    checkpoints: u64,
    runs: usize,
    reps: usize,
    full: bool,
}

fn env_num<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|s| s.trim().parse().ok())
}

fn config() -> Config {
    let full = std::env::args().skip(1).any(|a| a == "--bench");
    if full {
        Config {
            checkpoints: env_num("CKPT_SCAN_N").unwrap_or(10_000).max(2),
            runs: env_num("CKPT_SCAN_RUNS").unwrap_or(200).max(4),
            reps: env_num("CKPT_SCAN_REPS").unwrap_or(31).max(1),
            full,
        }
    } else {
        Config {
            checkpoints: 100,
            runs: 5,
            reps: 3,
            full,
        }
    }
}

// ---------------------------------------------------------------- tiny torch zips

/// A pickle value the bench writes (protocol 2, data only).
enum PVal {
    Int(i32),
    Float(f64),
}

/// `{key: value, …}` as a protocol-2 pickle, as `torch.save` would write a flat dict.
fn pickle_dict(items: &[(&str, PVal)]) -> Vec<u8> {
    let mut p = vec![0x80, 2, b'}', b'('];
    for (k, v) in items {
        p.push(b'X');
        p.extend_from_slice(&(k.len() as u32).to_le_bytes());
        p.extend_from_slice(k.as_bytes());
        match v {
            PVal::Int(i) => {
                p.push(b'J');
                p.extend_from_slice(&i.to_le_bytes());
            }
            PVal::Float(f) => {
                p.push(b'G');
                p.extend_from_slice(&f.to_be_bytes());
            }
        }
    }
    p.extend_from_slice(b"u.");
    p
}

/// A stored (uncompressed) zip with torch's member names: `archive/data.pkl`, `archive/version`.
fn torch_zip(pickle: &[u8]) -> Vec<u8> {
    let members: [(&str, &[u8]); 2] = [("archive/data.pkl", pickle), ("archive/version", b"3\n")];
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in members {
        let crc = crc32fast::hash(data);
        let offset = out.len() as u32;
        let fixed = |buf: &mut Vec<u8>| {
            buf.extend_from_slice(&0u16.to_le_bytes()); // flags
            buf.extend_from_slice(&0u16.to_le_bytes()); // method: stored
            buf.extend_from_slice(&0u32.to_le_bytes()); // time, date
            buf.extend_from_slice(&crc.to_le_bytes());
            buf.extend_from_slice(&(data.len() as u32).to_le_bytes());
            buf.extend_from_slice(&(data.len() as u32).to_le_bytes());
            buf.extend_from_slice(&(name.len() as u16).to_le_bytes());
            buf.extend_from_slice(&0u16.to_le_bytes()); // extra
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes());
        fixed(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);

        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes()); // made by
        central.extend_from_slice(&20u16.to_le_bytes()); // needed
        fixed(&mut central);
        central.extend_from_slice(&0u16.to_le_bytes()); // comment
        central.extend_from_slice(&0u16.to_le_bytes()); // disk
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attrs
        central.extend_from_slice(&0u32.to_le_bytes()); // external attrs
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]); // disk numbers
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// A deterministic, noisy, slowly improving accuracy for `epoch` (best is not the last).
fn top1(epoch: u64) -> f64 {
    let mut x = epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 32;
    let noise = (x % 10_000) as f64 / 10_000.0; // [0, 1)
    let trend = 80.0 * (1.0 - (-(epoch as f64) / 50.0).exp());
    ((trend + 15.0 * noise) * 1000.0).round() / 1000.0
}

// ---------------------------------------------------------------- run builders

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn save_request(epoch: u64, metric: f64, keep: usize) -> SaveRequest {
    SaveRequest {
        epoch,
        step: Some(epoch * 100),
        metric: Some(metric),
        metric_spec: Some(MetricSpec {
            name: "eval_top1".into(),
            mode: Mode::Max,
        }),
        metrics: BTreeMap::from([("eval_top1".to_string(), metric)]),
        // Keep everything: retention is not what is measured.
        policy: Some(RetentionPolicy {
            keep_top_k: None,
            keep_last: Some(keep),
            keep_every: None,
        }),
        ..Default::default()
    }
}

fn engine_save(run: &Run, epoch: u64, keep: usize) {
    let bytes = torch_zip(&pickle_dict(&[("epoch", PVal::Int(epoch as i32))]));
    let mut w = |out: &mut dyn std::io::Write| out.write_all(&bytes);
    run.save(
        &save_request(epoch, top1(epoch), keep),
        SaveSource::Writer(&mut w),
        None,
    )
    .unwrap_or_else(|e| panic!("engine save of epoch {epoch} in {}: {e}", run.dir.display()));
}

/// A native run of `n` checkpoints: engine-created, then extended in the manifest format.
fn native_run(dir: &Path, n: u64) {
    let keep = usize::try_from(n).unwrap_or(usize::MAX);
    let run = Run::open_or_create(dir, EngineOptions::default()).expect("create native run");
    engine_save(&run, 0, keep);
    let mut m = load_manifest(dir).expect("load the engine's manifest");
    for epoch in 1..n {
        let bytes = torch_zip(&pickle_dict(&[("epoch", PVal::Int(epoch as i32))]));
        let name = checkpoint_name(epoch, &m.ext);
        write(&dir.join(&name), &bytes);
        let metric = top1(epoch);
        m.checkpoints.push(Entry {
            epoch,
            step: Some(epoch * 100),
            path: name,
            bytes: bytes.len() as u64,
            hash: format_hash(xxhash_rust::xxh3::xxh3_128(&bytes)),
            metric: Some(metric),
            metric_raw: None,
            metrics: BTreeMap::from([("eval_top1".to_string(), metric)]),
            saved_at: chrono::Utc::now(),
            pinned: false,
            saved_by: None,
            extra: BTreeMap::new(),
        });
    }
    m.last = Some(n - 1);
    recompute_best(&mut m);
    store_manifest(dir, &m).expect("store manifest");
    repoint_aliases(dir, &m).expect("re-point aliases");
}

/// A small native run saved entirely through the engine.
fn native_small(dir: &Path, n: u64) {
    let run = Run::open_or_create(dir, EngineOptions::default()).expect("create native run");
    for epoch in 0..n {
        engine_save(&run, epoch, n as usize);
    }
}

/// A timm `CheckpointSaver` run of `n` epochs, every checkpoint kept.
fn timm_run(dir: &Path, n: u64) {
    std::fs::create_dir_all(dir).expect("mkdir timm run");
    write(
        &dir.join("args.yaml"),
        format!("model: resnet18\neval_metric: top1\ncheckpoint_hist: {n}\nepochs: {n}\n")
            .as_bytes(),
    );
    let mut csv = String::from("epoch,train_loss,eval_loss,eval_top1,eval_top5\n");
    let mut best = 0;
    for epoch in 0..n {
        let t = top1(epoch);
        if t > top1(best) {
            best = epoch;
        }
        csv.push_str(&format!(
            "{epoch},{:.4},{:.4},{t},{:.3}\n",
            2.0 / (1.0 + epoch as f64),
            (100.0 - t) / 40.0,
            (t + 10.0).min(100.0)
        ));
        let bytes = torch_zip(&pickle_dict(&[
            ("epoch", PVal::Int(epoch as i32)),
            ("metric", PVal::Float(t)),
        ]));
        write(&dir.join(format!("checkpoint-{epoch}.pth.tar")), &bytes);
    }
    write(&dir.join("summary.csv"), csv.as_bytes());
    let link = |alias: &str, epoch: u64| {
        std::fs::hard_link(
            dir.join(format!("checkpoint-{epoch}.pth.tar")),
            dir.join(alias),
        )
        .expect("hardlink alias")
    };
    link("last.pth.tar", n - 1);
    link("model_best.pth.tar", best);
}

/// Unpack `tests/fixtures/<name>.tar.gz` into `into` (hardlinks and symlinks kept).
fn unpack_fixture(name: &str, into: &Path) -> PathBuf {
    let archive = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.tar.gz"));
    let file =
        std::fs::File::open(&archive).unwrap_or_else(|e| panic!("open {}: {e}", archive.display()));
    tar::Archive::new(flate2::read::GzDecoder::new(file))
        .unpack(into)
        .unwrap_or_else(|e| panic!("unpack {}: {e}", archive.display()));
    into.join(name)
}

/// Copy a directory tree; symlinks are copied as symlinks.
fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).expect("mkdir copy");
    for ent in std::fs::read_dir(src).expect("read fixture dir").flatten() {
        let (from, to) = (ent.path(), dst.join(ent.file_name()));
        let ft = ent.file_type().expect("file type");
        if ft.is_dir() {
            copy_tree(&from, &to);
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&from).expect("read link");
            std::os::unix::fs::symlink(target, &to).expect("symlink");
        } else {
            std::fs::copy(&from, &to).expect("copy file");
        }
    }
}

/// `count` small runs of mixed layouts under `dir`; returns how many of each.
fn many_runs(dir: &Path, templates: &Path, count: usize) -> [usize; 4] {
    let lightning = unpack_fixture("lightning-basic", templates);
    let hf = unpack_fixture("hf-basic", templates);
    let mut made = [0usize; 4];
    for i in 0..count {
        let kind = i % 4;
        let run = dir.join(format!("run-{i:03}"));
        match kind {
            0 => native_small(&run, 3),
            1 => timm_run(&run, 10),
            2 => copy_tree(&lightning, &run),
            _ => copy_tree(&hf, &run),
        }
        made[kind] += 1;
    }
    made
}

// ---------------------------------------------------------------- measuring

fn scan(dir: &Path) -> RunSnapshot {
    layout::scan(dir, None).unwrap_or_else(|e| panic!("scan {}: {e}", dir.display()))
}

/// The inputs must be what they claim, or the numbers mean nothing.
fn check_clean(s: &RunSnapshot, layout: LayoutKind, checkpoints: usize) {
    assert_eq!(s.layout, layout, "{}: wrong layout", s.run.display());
    assert!(
        s.warnings.is_empty(),
        "{}: unexpected warnings: {:?}",
        s.run.display(),
        s.warnings
    );
    assert_eq!(
        s.checkpoints.len(),
        checkpoints,
        "{}: wrong checkpoint count",
        s.run.display()
    );
    assert!(
        s.best.as_ref().is_some_and(|b| b.target.is_some()),
        "no best"
    );
    assert!(
        s.last.as_ref().is_some_and(|l| l.target.is_some()),
        "no last"
    );
}

struct Stats {
    median: Duration,
    p95: Duration,
}

/// Median and p95 (nearest rank) of `reps` timed calls, after one unmeasured warm-up.
fn measure(reps: usize, mut f: impl FnMut()) -> Stats {
    f();
    let mut v: Vec<Duration> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    v.sort();
    let rank = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    Stats {
        median: rank(0.5),
        p95: rank(0.95),
    }
}

/// The monitor's work per change of the native run: taking in a fresh scan (sort,
/// ranks, chart series) and drawing a whole 120×40 frame into a buffer (what the
/// terminal then gets is only the cells that differ).
fn monitor_times(run: &Path, reps: usize) -> (Stats, Stats) {
    use ckpt::tui::app::{update, App, Msg};
    use ratatui::buffer::Buffer;
    use ratatui::layout::Rect;
    let snap = scan(run);
    let path = snap.run.clone();
    let now = chrono::Utc::now();
    let mut app = App::new(vec![path.clone()], false, now);
    update(&mut app, Msg::Resize(120, 40));
    let take = measure(reps, || {
        update(
            &mut app,
            Msg::Scanned {
                run: path.clone(),
                result: Ok(snap.clone()),
                headroom: None,
                at: now,
            },
        );
    });
    let area = Rect::new(0, 0, 120, 40);
    let draw = measure(reps, || {
        let mut buf = Buffer::empty(area);
        ckpt::tui::render::draw(&app, area, &mut buf);
        std::hint::black_box(buf);
    });
    (take, draw)
}

fn ms(d: Duration) -> String {
    let x = d.as_secs_f64() * 1e3;
    if x < 10.0 {
        format!("{x:.2} ms")
    } else {
        format!("{x:.1} ms")
    }
}

fn fs_type(dir: &Path) -> String {
    std::process::Command::new("stat")
        .args(["-f", "-c", "%T"])
        .arg(dir)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "?".into())
}

fn main() {
    let cfg = config();
    let parent = std::env::var_os("CKPT_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let base = tempfile::Builder::new()
        .prefix("ckpt-scan-bench-")
        .tempdir_in(&parent)
        .expect("bench dir");
    let n = cfg.checkpoints;
    let started = Instant::now();

    let native = base.path().join("native");
    native_run(&native, n);
    let timm = base.path().join("timm");
    timm_run(&timm, n);
    let runs_dir = base.path().join("runs");
    let templates = base.path().join("templates");
    std::fs::create_dir_all(&runs_dir).expect("mkdir runs");
    std::fs::create_dir_all(&templates).expect("mkdir templates");
    let made = many_runs(&runs_dir, &templates, cfg.runs);
    let built = started.elapsed();

    check_clean(&scan(&native), LayoutKind::Ckpt, n as usize);
    check_clean(&scan(&timm), LayoutKind::Timm, n as usize);
    let found = layout::discover_runs(&runs_dir);
    assert_eq!(found.len(), cfg.runs, "discover_runs found {found:?}");
    let mut foreign_warnings = 0;
    for run in &found {
        let s = scan(run);
        match s.layout {
            LayoutKind::Ckpt => check_clean(&s, LayoutKind::Ckpt, 3),
            LayoutKind::Timm => check_clean(&s, LayoutKind::Timm, 10),
            _ => foreign_warnings += s.warnings.len(),
        }
    }

    let native_t = measure(cfg.reps, || {
        std::hint::black_box(scan(&native));
    });
    let timm_t = measure(cfg.reps, || {
        std::hint::black_box(scan(&timm));
    });
    let discover_t = measure(cfg.reps, || {
        std::hint::black_box(layout::discover_runs(&runs_dir));
    });
    let many_t = measure(cfg.reps, || {
        for run in layout::discover_runs(&runs_dir) {
            std::hint::black_box(scan(&run));
        }
    });
    let (update_t, draw_t) = monitor_times(&native, cfg.reps);

    println!(
        "ckpt scan bench{}: {} on {} ({}); built in {:.1} s; {} passes, warm",
        if cfg.full {
            ""
        } else {
            " (smoke run; pass --bench for the real one)"
        },
        format_args!("{n} checkpoints per big run, {} small runs", cfg.runs),
        base.path().display(),
        fs_type(base.path()),
        built.as_secs_f64(),
        cfg.reps,
    );
    println!(
        "  small runs: {} native (engine), {} timm, {} lightning, {} hf (fixture copies; {} warnings)",
        made[0], made[1], made[2], made[3], foreign_warnings
    );
    let target_text = |t: Duration| {
        if t >= Duration::from_secs(1) {
            format!("< {} s", t.as_secs_f64())
        } else {
            format!("< {} ms", t.as_millis())
        }
    };
    let verdict = |s: &Stats, target: Option<Duration>| match target {
        Some(t) if !cfg.full => format!("{} (smoke)", target_text(t)),
        Some(t) if s.p95 <= t => format!("{}  ok", target_text(t)),
        Some(t) if s.median <= t => format!("{}  ok (median)", target_text(t)),
        Some(t) => format!("{}  MISSED", target_text(t)),
        None => "-".into(),
    };
    let rows = [
        (
            format!("scan native run, {n} ckpts"),
            &native_t,
            Some(TARGET_ONE_RUN),
        ),
        (
            format!("scan timm run, {n} ckpts"),
            &timm_t,
            Some(TARGET_ONE_RUN),
        ),
        (
            format!("discover_runs, {} runs", cfg.runs),
            &discover_t,
            None,
        ),
        (
            format!("discover + scan all {} runs", cfg.runs),
            &many_t,
            Some(TARGET_MANY_RUNS),
        ),
        (
            format!("monitor: take in a scan, {n} ckpts"),
            &update_t,
            None,
        ),
        (
            format!("monitor: draw 120x40 frame, {n} ckpts"),
            &draw_t,
            None,
        ),
    ];
    println!("  {:<40} {:>10} {:>10}   target", "what", "median", "p95");
    for (what, s, target) in rows {
        println!(
            "  {:<40} {:>10} {:>10}   {}",
            what,
            ms(s.median),
            ms(s.p95),
            verdict(s, target)
        );
    }
}
