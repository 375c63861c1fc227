//! Shared helpers for the engine stress tests: the run invariant checker (built on the
//! engine harness, `util::engine`), a seeded RNG, and a byte-level listing of a
//! run used to prove "nothing changed".

use crate::util;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use ckpt::store::manifest::{Entry, Manifest, MANIFEST_FORMAT, MANIFEST_VERSION};

/// Tiny seeded xorshift64* RNG: reproducible from the printed seed, no dependency.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        XorShift(seed.max(1) ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// A seed from `CKPT_TEST_SEED` when set (to replay a failure), else from the clock.
pub fn seed_from_env() -> u64 {
    if let Some(s) = std::env::var("CKPT_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return s;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(42)
}

pub fn manifest_path(dir: &Path) -> PathBuf {
    dir.join(".ckpt").join("manifest.json")
}

/// Parse the run's manifest (panics with the file's text on failure).
pub fn read_manifest(dir: &Path) -> Manifest {
    let path = manifest_path(dir);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("manifest {} unreadable: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("manifest {} does not parse: {e}\n{text}", path.display()))
}

/// Epoch of a native checkpoint file name `checkpoint-<epoch><ext>`.
pub fn epoch_of_name(name: &str, ext: &str) -> Option<u64> {
    name.strip_prefix("checkpoint-")?
        .strip_suffix(ext)?
        .parse()
        .ok()
}

/// Names the native layout gives final files (checkpoints and aliases).
pub fn is_final_name(name: &str, ext: &str) -> bool {
    if name == format!("last{ext}") || name == format!("model_best{ext}") {
        return true;
    }
    if epoch_of_name(name, ext).is_some() {
        return true;
    }
    if let Some(rest) = name
        .strip_prefix("recovery-")
        .and_then(|r| r.strip_suffix(ext))
    {
        let mut parts = rest.split('-');
        return matches!((parts.next(), parts.next(), parts.next()), (Some(a), Some(b), None)
            if a.parse::<u64>().is_ok() && b.parse::<u64>().is_ok());
    }
    false
}

/// Files in the run dir and `.ckpt/` that are neither final names nor ckpt's own state:
/// temps left by a writer (live or dead).
pub fn list_temps(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name == ".ckpt" || is_final_name(&name, ext) {
                continue;
            }
            out.push(e.path());
        }
    }
    if let Ok(rd) = std::fs::read_dir(dir.join(".ckpt")) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if matches!(name.as_str(), "manifest.json" | "trash" | "state.json")
                || name.starts_with("lock")
            {
                continue;
            }
            out.push(e.path());
        }
    }
    out.sort();
    out
}

/// What the checker saw, for callers that check more (e.g. orphans' content).
#[derive(Debug)]
pub struct RunCheck {
    pub manifest: Manifest,
    /// Final-named checkpoint files not listed in the manifest (left by a crash).
    pub orphans: Vec<PathBuf>,
    pub temps: Vec<PathBuf>,
    /// The manifest carried a pending intent (an operation caught between its steps).
    pub pending: bool,
}

/// Live (non-trash) entry of an epoch.
pub fn entry_by_epoch(m: &Manifest, epoch: u64) -> Option<&Entry> {
    m.checkpoints
        .iter()
        .find(|e| e.epoch == epoch && !e.path.starts_with("trash/"))
}

/// The invariants every state of a native run must satisfy (DESIGN §3 rule 5), as the
/// engine's own harness checks them (`util::engine::assert_run_consistent`: manifest
/// parses; every entry and both aliases hold their entry's bytes, or what a recorded
/// pending intent allows), plus: each live epoch listed once, and best never has a
/// non-finite metric unless a promote holds it. Returns what it saw.
pub fn assert_run_consistent(dir: &Path) -> RunCheck {
    let m = util::engine::assert_run_consistent(dir);
    assert_eq!(m.format, MANIFEST_FORMAT, "manifest format");
    assert_eq!(m.version, MANIFEST_VERSION, "manifest version");
    let pending = ckpt::store::pending(&m)
        .expect("pending record parses")
        .is_some();
    let mut epochs = BTreeSet::new();
    for e in m
        .checkpoints
        .iter()
        .filter(|e| !e.path.starts_with("trash/"))
    {
        assert!(epochs.insert(e.epoch), "epoch {} listed twice", e.epoch);
    }
    if let Some(best) = m.best.as_ref().filter(|b| !b.held) {
        let v = entry_by_epoch(&m, best.epoch).and_then(|e| e.rank_value());
        assert!(
            v.is_some_and(f64::is_finite),
            "best = epoch {} with non-finite metric {v:?}",
            best.epoch
        );
    }
    let listed: BTreeSet<&str> = m.checkpoints.iter().map(|e| e.path.as_str()).collect();
    let mut orphans = Vec::new();
    for ent in std::fs::read_dir(dir).expect("read run dir").flatten() {
        let name = ent.file_name().to_string_lossy().into_owned();
        if epoch_of_name(&name, &m.ext).is_some() && !listed.contains(name.as_str()) {
            orphans.push(ent.path());
        }
    }
    orphans.sort();
    let temps = list_temps(dir, &m.ext);
    RunCheck {
        manifest: m,
        orphans,
        temps,
        pending,
    }
}

/// Every file under `dir` (recursively) with its size and hash; `skip` filters out
/// relative paths that may legitimately change (e.g. the lock file's holder record).
pub fn tree_listing(dir: &Path, skip: &dyn Fn(&Path) -> bool) -> BTreeMap<PathBuf, (u64, String)> {
    fn walk(
        root: &Path,
        d: &Path,
        skip: &dyn Fn(&Path) -> bool,
        out: &mut BTreeMap<PathBuf, (u64, String)>,
    ) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap_or(&p).to_path_buf();
            if skip(&rel) {
                continue;
            }
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if meta.is_dir() {
                out.insert(rel.clone(), (0, "dir".into()));
                walk(root, &p, skip, out);
            } else if meta.is_file() {
                out.insert(rel, (meta.len(), util::engine::file_hash(&p).unwrap()));
            } else {
                out.insert(rel, (meta.len(), "other".into()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, skip, &mut out);
    out
}

/// The lock file may record its holder, so "unchanged" comparisons ignore it.
pub fn skip_lock(rel: &Path) -> bool {
    rel.starts_with(".ckpt")
        && rel
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("lock"))
}

/// Poll `cond` until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: std::time::Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Reference ranking of the tests (DESIGN §1): finite metrics only, better first,
/// ties keep the earlier (`order`) ahead. Items are (epoch, order, metric).
pub fn reference_ranking(items: &[(u64, u64, Option<f64>)], max: bool) -> Vec<u64> {
    let mut finite: Vec<(u64, u64, f64)> = items
        .iter()
        .filter_map(|&(e, o, m)| m.filter(|v| v.is_finite()).map(|v| (e, o, v)))
        .collect();
    finite.sort_by(|a, b| {
        let by_metric = if max {
            b.2.total_cmp(&a.2)
        } else {
            a.2.total_cmp(&b.2)
        };
        by_metric.then(a.1.cmp(&b.1))
    });
    finite.into_iter().map(|(e, _, _)| e).collect()
}

/// The same metric the manifest would record: NaN/inf survive as `metric_raw`.
pub fn same_metric(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => (x.is_nan() && y.is_nan()) || x == y,
        _ => false,
    }
}
