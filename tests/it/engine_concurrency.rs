//! Concurrency, the case behind timm's `FileNotFoundError: tmp.pth.tar -> last.pth.tar`:
//! 8 processes × 25 saves into one run at once. No save may fail, every save must be
//! accounted for (kept, or pruned by a later save's retention), the manifest must be
//! valid and the kept set must be exactly the policy's choice.
//!
//! The writers are this test binary re-executed in child mode (`concurrency_child`).
//! Env: `CKPT_TEST_SEED` replays a run.

use crate::util;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::util::stress::{assert_run_consistent, epoch_of_name, XorShift};
use ckpt::engine::{EngineOptions, Run, SaveRequest, SaveSource};
use ckpt::rank::{MetricSpec, Mode, RetentionPolicy};

const PROCS: u64 = 8;
const SAVES: u64 = 25;
const TOP_K: usize = 5;
const LOCK_TIMEOUT: Duration = Duration::from_secs(60);

fn epoch_of(p: u64, i: u64) -> u64 {
    p * 1000 + i
}

/// Metric of a save: one in ten NaN, else a continuous value (no ties).
fn metric(seed: u64, epoch: u64) -> f64 {
    let mut rng = XorShift::new(seed ^ epoch.wrapping_mul(0xD6E8_FEB8_6659_FD93));
    if rng.range(0, 9) == 0 {
        f64::NAN
    } else {
        rng.unit() * 100.0
    }
}

/// Child mode: wait for the start signal, then 25 saves; one report line per save.
#[test]
#[ignore = "child process of eight_writers_one_run"]
fn concurrency_child() {
    let Ok(dir) = std::env::var("CKPT_CONC_CHILD") else {
        panic!("concurrency_child is the child process of eight_writers_one_run, not a test");
    };
    let dir = PathBuf::from(dir);
    let p: u64 = std::env::var("CKPT_CONC_P").unwrap().parse().unwrap();
    let seed: u64 = std::env::var("CKPT_CONC_SEED").unwrap().parse().unwrap();
    let go = PathBuf::from(std::env::var("CKPT_CONC_GO").unwrap());
    assert!(
        util::stress::wait_until(Duration::from_secs(60), || go.exists()),
        "no start signal"
    );
    let options = EngineOptions {
        lock_timeout: LOCK_TIMEOUT,
        ..EngineOptions::default()
    };
    let run = Run::open_or_create(&dir, options).unwrap();
    let mut rng = XorShift::new(seed ^ (p + 1).wrapping_mul(0x1234_5678_9ABC_DEF1));
    let mut lines = Vec::new();
    for i in 0..SAVES {
        let epoch = epoch_of(p, i);
        let mut data = vec![0u8; rng.range(1, 256 << 10) as usize]; // empty saves are refused
        rng.fill(&mut data);
        let req = SaveRequest {
            epoch,
            metric: Some(metric(seed, epoch)),
            metric_spec: Some(MetricSpec {
                name: "eval_top1".into(),
                mode: Mode::Max,
            }),
            policy: Some(RetentionPolicy {
                keep_top_k: Some(TOP_K),
                keep_last: None,
                keep_every: None,
            }),
            ..Default::default()
        };
        let t = Instant::now();
        let mut w = |out: &mut dyn std::io::Write| out.write_all(&data);
        let report = run
            .save(&req, SaveSource::Writer(&mut w), None)
            .unwrap_or_else(|e| panic!("process {p}: save of epoch {epoch} failed: {e}"));
        let ms = t.elapsed().as_millis();
        assert_eq!(report.bytes, data.len() as u64);
        let pruned: Vec<String> = report
            .pruned
            .iter()
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                epoch_of_name(&name, ".pth.tar")
                    .unwrap_or_else(|| panic!("pruned a non-checkpoint file {}", p.display()))
                    .to_string()
            })
            .collect();
        lines.push(format!("{epoch} {ms} {}", pruned.join(",")));
    }
    let out = dir.parent().unwrap().join(format!("report-{p}.txt"));
    std::fs::write(out, lines.join("\n") + "\n").unwrap();
}

fn wait_all(children: &mut [(u64, Child, PathBuf)], timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let mut done = vec![false; children.len()];
    while done.iter().any(|d| !d) {
        for (k, (p, child, err)) in children.iter_mut().enumerate() {
            if done[k] {
                continue;
            }
            if let Some(status) = child.try_wait().unwrap() {
                done[k] = true;
                assert!(
                    status.success(),
                    "writer process {p} failed ({status}):\n{}",
                    std::fs::read_to_string(err).unwrap_or_default()
                );
            }
        }
        if Instant::now() > deadline {
            for (_, c, _) in children.iter_mut() {
                let _ = c.kill();
                let _ = c.wait();
            }
            panic!("writers did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn read_reports(root: &Path) -> (Vec<u64>, Vec<u64>, Vec<u128>) {
    let (mut saved, mut pruned, mut ms) = (Vec::new(), Vec::new(), Vec::new());
    for p in 0..PROCS {
        let text = std::fs::read_to_string(root.join(format!("report-{p}.txt"))).unwrap();
        for line in text.lines() {
            let mut parts = line.split(' ');
            saved.push(parts.next().unwrap().parse().unwrap());
            ms.push(parts.next().unwrap().parse().unwrap());
            pruned.extend(
                parts
                    .next()
                    .unwrap_or("")
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| s.parse::<u64>().unwrap()),
            );
        }
    }
    (saved, pruned, ms)
}

#[test]
fn eight_writers_one_run() {
    let seed = util::stress::seed_from_env();
    println!("engine_concurrency: seed {seed} (replay with CKPT_TEST_SEED={seed})");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let go = tmp.path().join("go");
    let mut children: Vec<(u64, Child, PathBuf)> = (0..PROCS)
        .map(|p| {
            let err = tmp.path().join(format!("stderr-{p}.txt"));
            let child = util::child_test(concat!(module_path!(), "::concurrency_child"))
                .env("CKPT_CONC_CHILD", &dir)
                .env("CKPT_CONC_P", p.to_string())
                .env("CKPT_CONC_SEED", seed.to_string())
                .env("CKPT_CONC_GO", &go)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&err).unwrap())
                .spawn()
                .unwrap();
            (p, child, err)
        })
        .collect();
    let started = Instant::now();
    std::fs::write(&go, b"go").unwrap();
    wait_all(&mut children, Duration::from_secs(180));
    let elapsed = started.elapsed();

    let (saved, pruned, mut ms) = read_reports(tmp.path());
    assert_eq!(saved.len() as u64, PROCS * SAVES, "saves reported");
    let all: BTreeSet<u64> = (0..PROCS)
        .flat_map(|p| (0..SAVES).map(move |i| epoch_of(p, i)))
        .collect();
    assert_eq!(saved.iter().copied().collect::<BTreeSet<_>>(), all);

    let check = assert_run_consistent(&dir);
    assert!(check.temps.is_empty(), "temps left: {:?}", check.temps);
    assert!(
        check.orphans.is_empty(),
        "orphans left: {:?}",
        check.orphans
    );
    let m = check.manifest;
    let kept: BTreeSet<u64> = m.checkpoints.iter().map(|e| e.epoch).collect();

    // Every save is accounted for exactly once: still listed, or pruned by one report.
    let mut times_pruned: BTreeMap<u64, usize> = BTreeMap::new();
    for e in &pruned {
        *times_pruned.entry(*e).or_default() += 1;
    }
    for (e, n) in &times_pruned {
        assert_eq!(*n, 1, "epoch {e} reported pruned {n} times");
        assert!(
            !kept.contains(e),
            "epoch {e} reported pruned but still listed"
        );
    }
    let accounted: BTreeSet<u64> = kept.iter().chain(times_pruned.keys()).copied().collect();
    assert_eq!(accounted, all, "kept ∪ pruned must be all 200 saves");

    // Kept set = top-k by the reference ranking, plus last (best is the top one).
    let items: Vec<(u64, u64, Option<f64>)> =
        all.iter().map(|&e| (e, e, Some(metric(seed, e)))).collect();
    let ranked = util::stress::reference_ranking(&items, true);
    let last = m.last.expect("last set");
    let mut want: BTreeSet<u64> = ranked.iter().take(TOP_K).copied().collect();
    want.insert(last);
    assert_eq!(kept, want, "kept set (last = {last})");
    assert_eq!(
        m.best.as_ref().map(|b| b.epoch),
        ranked.first().copied(),
        "best"
    );
    for e in &m.checkpoints {
        assert!(
            util::stress::same_metric(e.rank_value(), Some(metric(seed, e.epoch))),
            "epoch {}: manifest metric {:?} (raw {:?}), saved {}",
            e.epoch,
            e.metric,
            e.metric_raw,
            metric(seed, e.epoch)
        );
    }

    ms.sort_unstable();
    let max = *ms.last().unwrap();
    println!(
        "engine_concurrency: {} saves by {PROCS} processes in {:.1}s; save latency \
         median {} ms, max {max} ms; kept {:?}",
        saved.len(),
        elapsed.as_secs_f64(),
        ms[ms.len() / 2],
        kept
    );
    assert!(
        max < LOCK_TIMEOUT.as_millis(),
        "a save waited {max} ms, beyond the lock timeout"
    );
}
