//! Shared harness for engine tests: make runs, save payloads, check the crash
//! invariants of DESIGN §3 after any interruption, and walk every fault-seam step of an
//! operation (fail in-process, crash in a child process).
//!
//! Used by the engine areas of `tests/it`.

use crate::util;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use ckpt::engine::fault::{self, FaultPlan};
use ckpt::engine::hash::hash_file;
use ckpt::engine::{EngineOptions, Run, SaveReport, SaveRequest, SaveSource};
use ckpt::rank::{MetricSpec, Mode, RetentionPolicy};
use ckpt::store::manifest::{BestRef, Entry, Manifest, MANIFEST_FORMAT, MANIFEST_VERSION};
use ckpt::store::temp::find_run_temps;
use ckpt::store::{alias_names, load_manifest, pending, resolve};

pub use crate::util::payload::generation as payload;

/// `xxh3-128:` hash of bytes, as the engine records it.
pub fn hash_of(bytes: &[u8]) -> String {
    ckpt::engine::hash::format_hash(xxhash_rust::xxh3::xxh3_128(bytes))
}

/// The epoch whose [`payload`] (any generation) has this content hash.
pub fn payload_epoch(hash: &str) -> Option<u64> {
    static BY_HASH: std::sync::OnceLock<std::collections::HashMap<String, u64>> =
        std::sync::OnceLock::new();
    BY_HASH
        .get_or_init(|| {
            (0..64)
                .flat_map(|e| (0..4).map(move |g| (hash_of(&payload(e, g)), e)))
                .collect()
        })
        .get(hash)
        .copied()
}

/// Every payload hash a test may have written (epochs 0..64, generations 0..4).
pub fn known_hashes() -> HashSet<String> {
    static KNOWN: std::sync::OnceLock<HashSet<String>> = std::sync::OnceLock::new();
    KNOWN
        .get_or_init(|| {
            let mut s = HashSet::new();
            for e in 0..64 {
                for g in 0..4 {
                    s.insert(hash_of(&payload(e, g)));
                }
            }
            s
        })
        .clone()
}

/// Options with a short lock timeout for tests.
pub fn opts() -> EngineOptions {
    EngineOptions {
        lock_timeout: std::time::Duration::from_secs(20),
        ..Default::default()
    }
}

/// A fresh native run in a temp dir.
pub fn new_run() -> (tempfile::TempDir, Run) {
    let d = tempfile::tempdir().unwrap();
    let run = Run::open_or_create(&d.path().join("run"), opts()).unwrap();
    (d, run)
}

/// A save request ranked by `top1` (max).
pub fn req(epoch: u64, metric: Option<f64>) -> SaveRequest {
    SaveRequest {
        epoch,
        metric,
        metric_spec: Some(MetricSpec {
            name: "top1".into(),
            mode: Mode::Max,
        }),
        ..Default::default()
    }
}

/// Save `payload(epoch, generation)` through an in-process writer in 4 KiB pieces, so
/// the write shows up as several seam steps.
pub fn save_gen(
    run: &Run,
    epoch: u64,
    generation: u64,
    metric: Option<f64>,
    policy: Option<RetentionPolicy>,
) -> ckpt::Result<SaveReport> {
    let data = payload(epoch, generation);
    let mut writer = |w: &mut dyn std::io::Write| {
        for chunk in data.chunks(8192) {
            w.write_all(chunk)?;
        }
        Ok(())
    };
    let mut r = req(epoch, metric);
    r.policy = policy;
    run.save(&r, SaveSource::Writer(&mut writer), None)
}

/// Plain save of generation 0.
pub fn save(run: &Run, epoch: u64, metric: Option<f64>) -> SaveReport {
    save_gen(run, epoch, 0, metric, None).unwrap()
}

/// A file's hash as the engine records it (`None` when it cannot be read).
pub fn file_hash(p: &Path) -> Option<String> {
    hash_file(p, None).ok().map(|(_, h)| h)
}

/// The invariants that must hold after any crash or failure (DESIGN §3 rule 5):
/// the manifest parses; every entry's file exists with its size and hash (or a hash
/// a recorded pending intent allows); `last` and `best` alias files exist and hash to
/// their entries (or to what the intent allows); no final checkpoint name holds bytes
/// that were never a complete payload (`known`, when given). Returns the manifest.
pub fn assert_run_consistent(dir: &Path) -> Manifest {
    assert_run_consistent_with(dir, None)
}

/// [`assert_run_consistent`] plus: every `checkpoint-*` file hashes to a `known` payload.
pub fn assert_run_consistent_with(dir: &Path, known: Option<&HashSet<String>>) -> Manifest {
    let m = load_manifest(dir).unwrap_or_else(|e| panic!("manifest must parse: {e}"));
    let p = pending(&m)
        .expect("pending record parses")
        .unwrap_or_default();
    let allowed = |name: &str, h: &str| {
        p.may_hold
            .get(name)
            .is_some_and(|v| v.iter().any(|x| x == h))
    };
    for e in &m.checkpoints {
        let path = resolve(dir, &e.path).unwrap();
        let md = std::fs::metadata(&path)
            .unwrap_or_else(|err| panic!("manifest entry {} has no file: {err}", e.path));
        let h = file_hash(&path).unwrap();
        let replace_ok = p
            .replace
            .as_ref()
            .is_some_and(|r| r.entry.path == e.path && r.entry.hash == h);
        assert!(
            (h == e.hash && md.len() == e.bytes) || allowed(&e.path, &h) || replace_ok,
            "entry {} holds {h} ({} bytes), manifest says {} ({} bytes)",
            e.path,
            md.len(),
            e.hash,
            e.bytes
        );
    }
    let (last_name, best_name) = alias_names(&m.ext);
    let entry = |epoch: u64| {
        m.checkpoints
            .iter()
            .find(|e| e.epoch == epoch && !e.path.starts_with("trash/"))
    };
    let check_alias = |alias: &str, epoch: Option<u64>| {
        let Some(epoch) = epoch else { return };
        let e = entry(epoch).unwrap_or_else(|| panic!("{alias} -> epoch {epoch} not in manifest"));
        let h = file_hash(&dir.join(alias)).unwrap_or_else(|| panic!("alias {alias} missing"));
        let replace_ok = p
            .replace
            .as_ref()
            .is_some_and(|r| r.entry.epoch == epoch && r.entry.hash == h);
        assert!(
            h == e.hash || allowed(alias, &h) || replace_ok,
            "alias {alias} holds {h}, entry {} is {}; pending {:?}",
            e.path,
            e.hash,
            p
        );
    };
    check_alias(&last_name, m.last);
    check_alias(&best_name, m.best.as_ref().map(|b| b.epoch));
    assert_reader_names_alias_bytes(dir);
    if let Some(known) = known {
        for ent in std::fs::read_dir(dir).unwrap().flatten() {
            let n = ent.file_name().to_string_lossy().into_owned();
            if n.starts_with("checkpoint-") || n == last_name || n == best_name {
                let h = file_hash(&ent.path()).unwrap();
                assert!(
                    known.contains(&h),
                    "{n} holds partial or unknown data ({h})"
                );
            }
        }
    }
    m
}

/// What a reader is told (`ls`, the monitor: the layout scan) about `last` and `best`
/// is the epoch whose bytes the alias files really hold, even between an operation's
/// manifest commit and its alias re-point (a crash there, or a lock-free read).
pub fn assert_reader_names_alias_bytes(dir: &Path) {
    let snap = ckpt::layout::scan(dir, None).unwrap_or_else(|e| panic!("scan failed: {e}"));
    for a in [&snap.last, &snap.best].into_iter().flatten() {
        let Some(held) = file_hash(&dir.join(&a.path)).and_then(|h| payload_epoch(&h)) else {
            continue;
        };
        assert_eq!(
            a.epoch,
            Some(held),
            "the scan says {} is epoch {:?}, but the file holds epoch {held}'s bytes (manifest: {})",
            a.path.display(),
            a.epoch,
            std::fs::read_to_string(dir.join(".ckpt/manifest.json")).unwrap_or_default()
        );
    }
}

/// After an interruption: a next save succeeds, sweeps every leftover temp, and
/// leaves a consistent run with no pending intent.
pub fn assert_next_save_recovers(dir: &Path) {
    let run = Run::open(dir, None, opts()).unwrap();
    save_gen(&run, 40, 3, Some(1.0), None).unwrap_or_else(|e| panic!("next save failed: {e}"));
    let temps = find_run_temps(dir);
    assert!(
        temps.is_empty(),
        "temps left after the next save: {temps:?}"
    );
    let m = assert_run_consistent_with(dir, Some(&known_hashes()));
    assert!(pending(&m).unwrap().is_none(), "pending intent not cleared");
    assert_eq!(m.last, Some(40));
    assert_best_is_ranked(&m);
}

/// Unless held, `best` is the best finite metric (ties: the earlier epoch).
pub fn assert_best_is_ranked(m: &Manifest) {
    if m.best.as_ref().is_some_and(|b| b.held) {
        return;
    }
    let live: Vec<_> = m
        .checkpoints
        .iter()
        .filter(|e| !e.path.starts_with("trash/"))
        .collect();
    let metrics: Vec<Option<f64>> = live.iter().map(|e| e.rank_value()).collect();
    let mode = m.metric.as_ref().map(|s| s.mode).unwrap_or_default();
    let want = ckpt::rank::best_index(&metrics, mode).map(|i| live[i].epoch);
    assert_eq!(
        m.best.as_ref().map(|b| b.epoch),
        want,
        "best is not the ranked best"
    );
}

/// Env var naming the child operation in a re-exec'd test binary.
pub const CHILD_OP: &str = "CKPT_TEST_CHILD_OP";
/// Env var naming the run dir for the child operation.
pub const CHILD_RUN: &str = "CKPT_TEST_CHILD_RUN";

/// Re-exec the current test binary running only `entry` (a `#[test]` that calls the
/// op named by [`CHILD_OP`]) with `CKPT_FAULT=fault`. Returns the exit code.
pub fn run_child(entry: &str, op: &str, dir: &Path, fault_spec: &str) -> Option<i32> {
    let out = util::child_test(entry)
        .arg("--test-threads=1")
        .env(CHILD_OP, op)
        .env(CHILD_RUN, dir)
        .env("CKPT_FAULT", fault_spec)
        .output()
        .unwrap();
    if out.status.code() != Some(137) && !out.status.success() {
        eprintln!(
            "child {op} ({fault_spec}) stderr:\n{}\nstdout:\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    out.status.code()
}

/// A scratch directory for many short runs: a private tmpfs when running as root (so
/// hundreds of fsyncs cost nothing), else a plain temp dir. Unmounted on drop.
pub enum Scratch {
    Tmpfs(crate::util::tmpfs::TmpfsMount),
    Disk(tempfile::TempDir),
}

impl Scratch {
    pub fn new() -> Scratch {
        let root = unsafe { libc::geteuid() } == 0;
        match root.then(|| crate::util::tmpfs::TmpfsMount::try_new("256m", "")) {
            Some(Ok(m)) => Scratch::Tmpfs(m),
            _ => Scratch::Disk(tempfile::tempdir().unwrap()),
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            Scratch::Tmpfs(m) => m.path(),
            Scratch::Disk(d) => d.path(),
        }
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch::new()
    }
}

/// One operation to walk: how to set a run up, and the operation itself.
pub struct Walk<'a> {
    /// Name for messages and the child op selector.
    pub name: &'a str,
    /// Prepare a run in the given dir (no faults armed).
    pub setup: &'a dyn Fn(&Path),
    /// The operation under test, on the prepared dir.
    pub op: &'a dyn Fn(&Path) -> ckpt::Result<()>,
    /// The `#[test]` fn that runs [`CHILD_OP`] ops, as `concat!(module_path!(), "::name")`.
    pub child_entry: &'a str,
}

/// Walk every seam step of `w.op`: record the steps, then for each step i fail it
/// in-process and crash at it in a child; after each, check the invariants and that
/// the next save recovers. Returns the recorded step labels.
pub fn fault_walk(w: &Walk<'_>) -> Vec<&'static str> {
    let base = Scratch::new();
    let known = known_hashes();
    let fresh = |tag: &str| -> PathBuf {
        let d = base.path().join(tag);
        (w.setup)(&d);
        d
    };
    let d = fresh("record");
    fault::start_recording();
    (w.op)(&d).unwrap_or_else(|e| panic!("{}: unfaulted op failed: {e}", w.name));
    let steps = fault::record();
    assert!(!steps.is_empty(), "{}: no seam steps recorded", w.name);
    assert_run_consistent_with(&d, Some(&known));

    for i in 1..=steps.len() {
        let label = steps[i - 1];
        // (a) fail at step i in-process
        let d = fresh(&format!("fail-{i}"));
        fault::arm(FaultPlan::fail(i, libc::EIO));
        let r = (w.op)(&d);
        let fired = fault::fired();
        fault::disarm();
        assert!(fired, "{}: step {i} ({label}) was not reached", w.name);
        if let Err(e) = &r {
            assert!(
                e.to_string().contains("Input/output error")
                    || e.to_string().contains("os error 5"),
                "{}: step {i} ({label}) gave an unexpected error: {e}",
                w.name
            );
        }
        assert_no_own_temps(&d, w.name, i, label);
        assert_run_consistent_with(&d, Some(&known));
        assert_next_save_recovers(&d);

        // (b) crash at step i in a child process
        let d = fresh(&format!("crash-{i}"));
        let code = run_child(w.child_entry, w.name, &d, &format!("crash:{i}"));
        assert_eq!(
            code,
            Some(137),
            "{}: child did not crash at step {i} ({label})",
            w.name
        );
        assert_run_consistent_with(&d, Some(&known));
        assert_next_save_recovers(&d);
    }
    steps
}

/// A failed in-process op removed its own temps (rule 7).
fn assert_no_own_temps(dir: &Path, name: &str, i: usize, label: &str) {
    let me = std::process::id();
    let own: Vec<_> = find_run_temps(dir)
        .into_iter()
        .filter(|t| t.pid == Some(me))
        .collect();
    assert!(
        own.is_empty(),
        "{name}: step {i} ({label}) left temps {own:?}"
    );
}

/// One checkpoint of a run written by hand ([`write_native_run`]).
pub struct HandWritten {
    pub epoch: u64,
    pub metric: f64,
    pub bytes: Vec<u8>,
    pub saved_at: chrono::DateTime<chrono::Utc>,
}

/// A native run written by hand, without the engine (fast for thousands of
/// checkpoints): `checkpoint-<epoch>.pth.tar` with each one's bytes, `last` hardlinked
/// to the newest epoch, `model_best` to the best `eval_top1` (max; ties: the earlier),
/// and the manifest that lists them. Returns the manifest written.
pub fn write_native_run(dir: &Path, checkpoints: Vec<HandWritten>) -> Manifest {
    std::fs::create_dir_all(dir.join(".ckpt")).unwrap();
    let mut entries = Vec::new();
    for c in checkpoints {
        let name = format!("checkpoint-{}.pth.tar", c.epoch);
        std::fs::write(dir.join(&name), &c.bytes).unwrap();
        entries.push(Entry {
            epoch: c.epoch,
            step: None,
            path: name,
            bytes: c.bytes.len() as u64,
            hash: hash_of(&c.bytes),
            metric: Some(c.metric),
            metric_raw: None,
            metrics: Default::default(),
            saved_at: c.saved_at,
            pinned: false,
            saved_by: None,
            extra: Default::default(),
        });
    }
    let last = entries.iter().map(|e| e.epoch).max().unwrap();
    let best = entries
        .iter()
        .fold(None::<&Entry>, |b, e| match b {
            Some(b) if b.metric >= e.metric => Some(b),
            _ => Some(e),
        })
        .unwrap()
        .epoch;
    for (alias, epoch) in [("last.pth.tar", last), ("model_best.pth.tar", best)] {
        std::fs::hard_link(
            dir.join(format!("checkpoint-{epoch}.pth.tar")),
            dir.join(alias),
        )
        .unwrap();
    }
    let m = Manifest {
        format: MANIFEST_FORMAT.into(),
        version: MANIFEST_VERSION,
        metric: Some(MetricSpec {
            name: "eval_top1".into(),
            mode: Mode::Max,
        }),
        policy: RetentionPolicy::default(),
        ext: ".pth.tar".into(),
        best: Some(BestRef {
            epoch: best,
            held: false,
            extra: Default::default(),
        }),
        last: Some(last),
        checkpoints: entries,
        history: Vec::new(),
        extra: Default::default(),
    };
    std::fs::write(
        dir.join(".ckpt/manifest.json"),
        serde_json::to_vec_pretty(&m).unwrap(),
    )
    .unwrap();
    m
}
