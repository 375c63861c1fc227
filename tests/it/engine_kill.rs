//! Real kill: a child process saves in a loop into one native run and is SIGKILLed at
//! random moments; after every kill the run must satisfy the engine's invariants
//! (DESIGN §3 rule 5), and the next writer's first save must succeed and sweep the
//! dead writer's temps.
//!
//! The child is this test binary re-executed in child mode (`kill_child`, ignored,
//! driven by `CKPT_KILL_CHILD`). Every payload and metric is a pure function of
//! (seed, epoch), so the parent can tell complete data from partial data.
//! Env: `CKPT_TEST_SEED` replays a run; `CKPT_KILLS` changes the number of kills (200).

use crate::util;

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Cursor};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::util::stress::{
    assert_run_consistent, list_temps, read_manifest, same_metric, XorShift,
};
use ckpt::engine::{EngineOptions, Run, SaveRequest, SaveSource};
use ckpt::rank::{MetricSpec, Mode, RetentionPolicy};

const MAX_PAYLOAD: u64 = 2 << 20;
const TOP_K: usize = 3;
const KEEP_LAST: usize = 2;

fn policy() -> RetentionPolicy {
    RetentionPolicy {
        keep_top_k: Some(TOP_K),
        keep_last: Some(KEEP_LAST),
        keep_every: None,
    }
}

/// Payload of `epoch`: its size (0–2 MiB, one in eight empty) and bytes.
fn payload(seed: u64, epoch: u64) -> Vec<u8> {
    let mut rng = XorShift::new(seed ^ epoch.wrapping_mul(0xA24B_AED4_963E_E407));
    // Tiny payloads are common; empty ones are refused by save (a writer that wrote
    // nothing), so the smallest is one byte.
    let len = if rng.range(0, 7) == 0 {
        1
    } else {
        rng.range(1, MAX_PAYLOAD)
    };
    let mut v = vec![0u8; len as usize];
    rng.fill(&mut v);
    v
}

/// Metric of `epoch`: NaN, ±inf, or a value on a coarse grid (so ties happen).
fn metric(seed: u64, epoch: u64) -> f64 {
    let mut rng = XorShift::new(seed ^ epoch.wrapping_mul(0x9FB2_1C65_1E98_DF25) ^ 0x55);
    match rng.range(0, 99) {
        0..=14 => f64::NAN,
        15..=19 => f64::INFINITY,
        20..=21 => f64::NEG_INFINITY,
        _ => rng.range(0, 400) as f64 / 4.0,
    }
}

/// Child mode: save epochs from the manifest's next one onwards until killed.
#[test]
#[ignore = "child process of real_kill_keeps_run_consistent"]
fn kill_child() {
    let Ok(dir) = std::env::var("CKPT_KILL_CHILD") else {
        panic!("kill_child is the child process of real_kill_keeps_run_consistent, not a test");
    };
    let dir = PathBuf::from(dir);
    let seed: u64 = std::env::var("CKPT_KILL_SEED").unwrap().parse().unwrap();
    let src_dir = PathBuf::from(std::env::var("CKPT_KILL_SRC").unwrap());
    let run = Run::open_or_create(&dir, EngineOptions::default()).unwrap();
    let leftovers = list_temps(&dir, ".pth.tar");
    let start = if util::stress::manifest_path(&dir).exists() {
        read_manifest(&dir)
            .checkpoints
            .iter()
            .map(|e| e.epoch + 1)
            .max()
            .unwrap_or(0)
    } else {
        0
    };
    for (i, epoch) in (start..start + 10_000).enumerate() {
        let data = payload(seed, epoch);
        let req = SaveRequest {
            epoch,
            metric: Some(metric(seed, epoch)),
            metric_spec: Some(MetricSpec {
                name: "eval_top1".into(),
                mode: Mode::Max,
            }),
            metrics: [("eval_loss".to_string(), epoch as f64 / 10.0)].into(),
            policy: Some(policy()),
            ..Default::default()
        };
        let report = match epoch % 4 {
            0 => {
                let mut w = |out: &mut dyn std::io::Write| out.write_all(&data);
                run.save(&req, SaveSource::Writer(&mut w), None)
            }
            1 => {
                let mut cur = Cursor::new(&data[..]);
                run.save(&req, SaveSource::Stream(&mut cur), None)
            }
            k => {
                let src = src_dir.join(format!("src-{}-{epoch}", std::process::id()));
                std::fs::write(&src, &data).unwrap();
                let r = run.save(
                    &req,
                    SaveSource::File {
                        path: &src,
                        move_file: k == 3,
                    },
                    None,
                );
                let _ = std::fs::remove_file(&src);
                r
            }
        }
        .unwrap_or_else(|e| panic!("child save of epoch {epoch} failed: {e}"));
        assert_eq!(report.bytes, data.len() as u64);
        if i == 0 {
            // Quiescent: this process is the only writer and its save is done.
            let check = assert_run_consistent(&dir);
            assert!(!check.pending, "a completed save left a pending intent");
            for t in &leftovers {
                assert!(!t.exists(), "dead writer's temp {} not swept", t.display());
            }
            assert!(
                check.temps.is_empty(),
                "temps after a completed save: {:?}",
                check.temps
            );
            println!("READY {epoch} swept={}", leftovers.len());
        }
    }
}

/// What the parent knows about every epoch's complete data.
struct Truth {
    seed: u64,
    hashes: HashMap<u64, String>,
}

impl Truth {
    fn hash(&mut self, epoch: u64) -> &str {
        let seed = self.seed;
        self.hashes
            .entry(epoch)
            .or_insert_with(|| util::engine::hash_of(&payload(seed, epoch)))
    }
}

/// After a kill: the invariants, plus "complete data only" for every final name.
/// Returns whether the kill caught an operation between its steps (pending intent).
fn check_after_kill(dir: &Path, truth: &mut Truth) -> bool {
    let check = assert_run_consistent(dir);
    let m = &check.manifest;
    for e in &m.checkpoints {
        assert_eq!(
            e.hash,
            truth.hash(e.epoch),
            "epoch {} recorded with the wrong content",
            e.epoch
        );
        assert!(
            same_metric(e.rank_value(), Some(metric(truth.seed, e.epoch))),
            "epoch {} metric {:?} != {}",
            e.epoch,
            e.rank_value(),
            metric(truth.seed, e.epoch)
        );
    }
    for o in &check.orphans {
        let name = o.file_name().unwrap().to_string_lossy().into_owned();
        let epoch = util::stress::epoch_of_name(&name, &m.ext).unwrap();
        let got = util::engine::file_hash(o).unwrap();
        assert_eq!(got, truth.hash(epoch), "orphan {name} holds partial data");
    }
    // The aliases hold some epoch's complete bytes (their entry's, or while an intent
    // is pending, the previous target's).
    let max_epoch = m.checkpoints.iter().map(|e| e.epoch).max().unwrap_or(0);
    for alias in [format!("last{}", m.ext), format!("model_best{}", m.ext)] {
        let path = dir.join(&alias);
        if path.exists() {
            let got = util::engine::file_hash(&path).unwrap();
            assert!(
                (0..=max_epoch + 1).any(|e| truth.hash(e) == got),
                "alias {alias} holds bytes no save ever wrote ({got})"
            );
        }
    }
    // Every epoch up to the newest listed one was committed once, so retention is
    // path-independent: the kept set is the policy applied to the whole history. A
    // save caught after its first manifest commit (pending intent recorded) still
    // lists what its retention is about to drop: the previous save's kept set.
    let last = m.last.expect("a completed save set last");
    assert_eq!(Some(last), m.checkpoints.iter().map(|e| e.epoch).max());
    let kept_after = |upto: u64| -> BTreeSet<u64> {
        let history: Vec<(u64, u64, Option<f64>)> = (0..=upto)
            .map(|e| (e, e, Some(metric(truth.seed, e))))
            .collect();
        let ranked = util::stress::reference_ranking(&history, true);
        let mut want: BTreeSet<u64> = ranked.iter().take(TOP_K).copied().collect();
        want.extend(upto.saturating_sub(KEEP_LAST as u64 - 1)..=upto);
        want
    };
    let history: Vec<(u64, u64, Option<f64>)> = (0..=last)
        .map(|e| (e, e, Some(metric(truth.seed, e))))
        .collect();
    let best = util::stress::reference_ranking(&history, true)
        .first()
        .copied();
    let want = kept_after(last);
    let got: BTreeSet<u64> = m.checkpoints.iter().map(|e| e.epoch).collect();
    let mid_save = check.pending && last > 0 && {
        let mut w = kept_after(last - 1);
        w.insert(last);
        got == w
    };
    assert!(
        got == want || mid_save,
        "kept set after kill: {got:?}, want {want:?} (best {best:?}, last {last}, pending {})",
        check.pending
    );
    assert_eq!(m.best.as_ref().map(|b| b.epoch), best, "best after kill");
    check.pending
}

#[test]
fn real_kill_keeps_run_consistent() {
    let seed = util::stress::seed_from_env();
    let kills: usize = std::env::var("CKPT_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    println!("engine_kill: seed {seed} (replay with CKPT_TEST_SEED={seed}), {kills} kills");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let mut rng = XorShift::new(seed);
    let mut truth = Truth {
        seed,
        hashes: HashMap::new(),
    };
    let (mut swept, mut pending_seen, mut orphans_seen, mut temps_seen) = (0usize, 0usize, 0, 0);
    let started = Instant::now();
    for iter in 0..kills {
        let stderr_path = tmp.path().join("child.stderr");
        let mut child = util::child_test(concat!(module_path!(), "::kill_child"))
            .env("CKPT_KILL_CHILD", &dir)
            .env("CKPT_KILL_SEED", seed.to_string())
            .env("CKPT_KILL_SRC", &src)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // libtest may print "test kill_child ... " on the same line first.
                let Some(at) = line.find("READY ") else {
                    continue;
                };
                if tx.send(line[at..].to_string()).is_err() {
                    break;
                }
            }
        });
        let ready = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "iteration {iter} (seed {seed}): child never finished its first save:\n{}",
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                );
            }
        };
        if let Some(n) = ready.split("swept=").nth(1) {
            swept += n.trim().parse::<usize>().unwrap_or(0);
        }
        let delay = rng.range(0, 30_000);
        std::thread::sleep(Duration::from_micros(delay));
        // SAFETY: kill(2) on our own child's pid, which we have not reaped yet.
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let status = child.wait().unwrap();
        if status.code().is_some() {
            panic!(
                "iteration {iter} (seed {seed}): child exited by itself ({status}):\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        // Source files a killed child was copying or moving from (outside the run).
        for f in std::fs::read_dir(&src).unwrap().flatten() {
            let _ = std::fs::remove_file(f.path());
        }
        let check = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check_after_kill(&dir, &mut truth)
        }));
        match check {
            Ok(pending) => pending_seen += usize::from(pending),
            Err(e) => {
                eprintln!("iteration {iter}, seed {seed}, kill after {delay} µs: invariant broken");
                std::panic::resume_unwind(e);
            }
        }
        let m = read_manifest(&dir);
        temps_seen += list_temps(&dir, &m.ext).len();
        orphans_seen += std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                util::stress::epoch_of_name(&n, &m.ext)
                    .is_some_and(|ep| !m.checkpoints.iter().any(|c| c.epoch == ep))
            })
            .count();
    }
    println!(
        "engine_kill: {kills} kills in {:.1}s; temps left by killed writers {temps_seen} \
         (swept by the next writer {swept}); orphan checkpoints seen {orphans_seen}; \
         operations caught mid-way (pending intent) {pending_seen}",
        started.elapsed().as_secs_f64()
    );
}
