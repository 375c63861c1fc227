//! Lightning (`ModelCheckpoint`) runs: a run is the directory holding `checkpoints/`
//! (e.g. `lightning_logs/version_0/`), with `epoch=E-step=S[-name=V][-vK].ckpt` files,
//! `last.ckpt` (a copy or a relative symlink), `metrics.csv` and `hparams.yaml`.
//!
//! Lightning records the monitored metric's mode nowhere in the run's text files: not in
//! file names, `metrics.csv` or `hparams.yaml`. It is only inside checkpoints, in the
//! `ModelCheckpoint{'monitor': …, 'mode': …}` callback key; we read it from `last.ckpt`
//! (which we open anyway) and otherwise fall back to timm's rule (min when the name
//! contains `loss`).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::common::{self, Entry, Parts};
use crate::formats::pickle::Value;
use crate::rank::{strictly_better, MetricSpec, Mode};
use crate::snapshot::AliasHow;
use crate::snapshot::{Alias, AliasFiles, Checkpoint, CheckpointState, Role, RunSnapshot};
use crate::snapshot::{LayoutKind, TrainerRecord};
use crate::store::temp::CKPT_TEMP_PREFIX;
use crate::Result;

/// The top-level checkpoint entries we read (the state dict is never built).
const LIGHTNING_KEYS: &[&str] = &["epoch", "global_step", "callbacks"];

/// How many `.ckpt` files with unparseable names we open to read their epoch.
const MAX_UNNAMED_READS: usize = 64;

/// What a Lightning file name says.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct LightningName {
    pub epoch: Option<u64>,
    pub step: Option<u64>,
    /// Other `name=value` parts (the monitored metric when the template has it).
    pub metrics: Vec<(String, String)>,
    /// The `-vK` suffix Lightning adds to avoid a name clash.
    pub version: Option<u64>,
}

/// Parse `epoch=E-step=S[-name=V][-vK].ckpt`; `None` without an epoch or step part.
pub(crate) fn parse_name(name: &str) -> Option<LightningName> {
    let mut stem = name.strip_suffix(".ckpt")?;
    let mut out = LightningName::default();
    if let Some((head, v)) = stem.rsplit_once("-v") {
        if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
            out.version = v.parse().ok();
            stem = head;
        }
    }
    // Split on '-', then glue back parts without '=' (negative values: `val=-0.5`).
    let mut parts: Vec<String> = Vec::new();
    for tok in stem.split('-') {
        match parts.last_mut() {
            Some(prev) if !tok.contains('=') => {
                prev.push('-');
                prev.push_str(tok);
            }
            _ => parts.push(tok.to_string()),
        }
    }
    for p in parts {
        let (k, v) = p.split_once('=')?;
        match k {
            "epoch" => out.epoch = Some(v.parse().ok()?),
            "step" => out.step = Some(v.parse().ok()?),
            _ => out.metrics.push((k.to_string(), v.to_string())),
        }
    }
    (out.epoch.is_some() || out.step.is_some()).then_some(out)
}

/// Where a Lightning run and its checkpoint directory are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Located {
    /// The run directory (holds `checkpoints/`, `metrics.csv`, `hparams.yaml`).
    pub run: PathBuf,
    /// The checkpoint directory relative to `run` (`checkpoints`, or empty).
    pub ckpt_dir: PathBuf,
}

fn has_ckpt_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|rd| {
        rd.flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".ckpt"))
    })
}

/// `version_N` subdirectories holding `checkpoints/`, sorted by N.
pub(crate) fn version_dirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = common::list_types(dir) else {
        return Vec::new();
    };
    let mut v: Vec<(u64, PathBuf)> = entries
        .iter()
        .filter(|e| e.is_dir())
        .filter_map(|e| {
            let n = e.name.strip_prefix("version_")?.parse::<u64>().ok()?;
            let p = dir.join(&e.name);
            p.join("checkpoints").is_dir().then_some((n, p))
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, p)| p).collect()
}

/// True when `dir`'s entries make it a Lightning run (or a checkpoints dir, or a parent
/// of `version_N` runs).
pub(crate) fn looks_like(dir: &Path, entries: &[Entry]) -> bool {
    let lightning_file = |e: &Entry| {
        !e.is_dir()
            && (e.name == "last.ckpt" || e.name == "best.ckpt" || parse_name(&e.name).is_some())
    };
    entries.iter().any(lightning_file)
        || entries.iter().any(|e| {
            e.is_dir() && e.name == "checkpoints" && has_ckpt_files(&dir.join("checkpoints"))
        })
        || (entries
            .iter()
            .any(|e| e.is_dir() && e.name == "checkpoints")
            && entries
                .iter()
                .any(|e| e.name == "hparams.yaml" || e.name == "metrics.csv"))
        || !version_dirs(dir).is_empty()
}

/// Find the run for `dir`: the dir itself, its parent when `dir` is `checkpoints/`, or
/// its newest `version_N` when pointed at a logger directory.
pub(crate) fn locate(dir: &Path, warnings: &mut Vec<String>) -> Located {
    if dir.join("checkpoints").is_dir() {
        return Located {
            run: dir.to_path_buf(),
            ckpt_dir: PathBuf::from("checkpoints"),
        };
    }
    let is_ckpt_dir = dir.file_name().is_some_and(|n| n == "checkpoints");
    if is_ckpt_dir {
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            return Located {
                run: parent.to_path_buf(),
                ckpt_dir: PathBuf::from("checkpoints"),
            };
        }
    }
    if !has_ckpt_files(dir) {
        let versions = version_dirs(dir);
        if let Some(newest) = versions.last() {
            if versions.len() > 1 {
                warnings.push(format!(
                    "{} holds {} Lightning versions; showing {} (name one to choose)",
                    dir.display(),
                    versions.len(),
                    newest.file_name().unwrap_or_default().to_string_lossy()
                ));
            }
            return Located {
                run: newest.clone(),
                ckpt_dir: PathBuf::from("checkpoints"),
            };
        }
    }
    Located {
        run: dir.to_path_buf(),
        ckpt_dir: PathBuf::new(),
    }
}

/// The `ModelCheckpoint` callback state inside a Lightning checkpoint.
#[derive(Debug, Default)]
struct CallbackInfo {
    monitor: Option<String>,
    mode: Option<Mode>,
    best_model_path: Option<String>,
}

fn quoted_after(key: &str, text: &str) -> Option<String> {
    let at = text.find(&format!("'{key}': '"))? + key.len() + 5;
    let rest = &text[at..];
    Some(rest[..rest.find('\'')?].to_string())
}

fn callback_info(v: &Value) -> CallbackInfo {
    let mut out = CallbackInfo::default();
    let Some(cbs) = v.get("callbacks").and_then(Value::as_dict) else {
        return out;
    };
    for (k, state) in cbs {
        let Some(k) = k.as_str().filter(|k| k.starts_with("ModelCheckpoint")) else {
            continue;
        };
        out.monitor = quoted_after("monitor", k).or_else(|| {
            state
                .get("monitor")
                .and_then(Value::as_str)
                .map(String::from)
        });
        out.mode = match quoted_after("mode", k).as_deref() {
            Some("min") => Some(Mode::Min),
            Some("max") => Some(Mode::Max),
            _ => None,
        };
        out.best_model_path = state
            .get("best_model_path")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from);
        if out.monitor.is_some() {
            break;
        }
    }
    out
}

/// Scan a Lightning run (see [`locate`] for what `dir` may be).
pub fn scan(dir: &Path) -> Result<RunSnapshot> {
    let mut warnings = Vec::new();
    let loc = locate(dir, &mut warnings);
    let run = loc.run.as_path();
    let cdir = run.join(&loc.ckpt_dir);
    let entries = common::list_dir(&cdir)?;
    let table = common::read_csv(&run.join("metrics.csv"), "epoch", &mut warnings);

    let mut checkpoints: Vec<Checkpoint> = Vec::new();
    let mut temps = Vec::new();
    let mut last_file = None;
    let mut best_file = None;
    let mut unnamed_reads = 0usize;
    let mut unmanaged: std::collections::BTreeMap<String, String> = Default::default();
    let mut name_metrics: Vec<String> = Vec::new();

    for e in &entries {
        let rel = loc.ckpt_dir.join(&e.name);
        if e.name.starts_with(CKPT_TEMP_PREFIX) || e.name.ends_with(".ckpt.tmp") {
            temps.push(rel);
            continue;
        }
        if !e.name.ends_with(".ckpt") {
            continue;
        }
        if e.name == "last.ckpt" {
            last_file = Some(rel);
            continue;
        }
        if e.name == "best.ckpt" {
            best_file = Some(rel);
            continue;
        }
        // `last-vN.ckpt`: Lightning's versioned resume alias (a second save_last in the
        // same dir); `ckpt_path="last"` may resume from it, so it is never ranked or pruned.
        if is_versioned_last(&e.name) {
            unmanaged.insert(
                rel.to_string_lossy().into_owned(),
                "a Lightning resume alias (last-vN.ckpt): ckpt_path=\"last\" may pick it".into(),
            );
            continue;
        }
        let meta = if e.is_symlink() {
            match common::resolve_in_run(run, &rel) {
                Ok((_, m)) if m.is_file() => m,
                Ok(_) => {
                    warnings.push(format!(
                        "{} does not lead to a file; ignored",
                        rel.display()
                    ));
                    continue;
                }
                Err(why) => {
                    warnings.push(why);
                    continue;
                }
            }
        } else if let (true, Some(m)) = (e.is_file(), &e.meta) {
            m.clone()
        } else {
            warnings.push(format!("{} is not a regular file; ignored", rel.display()));
            continue;
        };
        let mut c = common::file_checkpoint(&e.name, rel.clone(), &meta);
        match parse_name(&e.name) {
            Some(n) => {
                c.epoch = n.epoch;
                c.step = n.step;
                for (k, v) in n.metrics {
                    if let Ok(x) = v.parse::<f64>() {
                        c.metrics.insert(k.clone(), x);
                    }
                    if !name_metrics.contains(&k) {
                        name_metrics.push(k);
                    }
                }
            }
            None if unnamed_reads < MAX_UNNAMED_READS && meta.len() > 0 => {
                unnamed_reads += 1;
                match common::read_pickle(&run.join(&rel), LIGHTNING_KEYS) {
                    Ok(v) => {
                        c.epoch = v
                            .get("epoch")
                            .and_then(Value::as_i64)
                            .and_then(|x| u64::try_from(x).ok());
                        c.step = v
                            .get("global_step")
                            .and_then(Value::as_i64)
                            .and_then(|x| u64::try_from(x).ok());
                    }
                    Err(why) => warnings.push(format!("{}: {why}", rel.display())),
                }
            }
            None => warnings.push(format!(
                "{}: name has no epoch/step; not read",
                rel.display()
            )),
        }
        checkpoints.push(c);
    }

    // last.ckpt is read anyway: it tells the epoch it holds and the callback's monitor/mode.
    let mut cb = CallbackInfo::default();
    let last = last_file.map(|rel| {
        resolve_alias(
            run,
            Role::Last,
            &rel,
            &mut checkpoints,
            &mut warnings,
            Some(&mut cb),
        )
    });
    // The callback's record is freshest in the newest checkpoint; `last.ckpt` may point
    // at an older one (after a restore).
    let newest = checkpoints
        .iter()
        .filter(|c| c.state == CheckpointState::Complete)
        .max_by_key(|c| (c.epoch, c.step))
        .filter(|c| last.as_ref().and_then(|l| l.target.as_ref()) != Some(&c.name))
        .and_then(|c| c.paths.first().cloned());
    if let Some(rel) = newest {
        match common::read_pickle(&run.join(&rel), LIGHTNING_KEYS) {
            Ok(v) => {
                let fresh = callback_info(&v);
                if fresh.monitor.is_some() || fresh.best_model_path.is_some() {
                    cb = fresh;
                }
            }
            Err(why) => warnings.push(format!("{}: {why}", rel.display())),
        }
    }
    common::mark_truncated_zips(run, &mut checkpoints);
    let best_alias_file = best_file
        .map(|rel| resolve_alias(run, Role::Best, &rel, &mut checkpoints, &mut warnings, None));

    let metric_name = cb.monitor.clone().or_else(|| name_metrics.first().cloned());
    let metric = metric_name.map(|name| MetricSpec {
        mode: cb.mode.unwrap_or_else(|| Mode::infer_from_name(&name)),
        name,
    });

    if let Some(m) = &metric {
        for c in &mut checkpoints {
            let from_name = c.metrics.get(&m.name).copied();
            let from_csv = c
                .epoch
                .and_then(|ep| table.as_ref()?.rows.get(&ep)?.get(&m.name).copied());
            if let (Some(t), Some(ep)) = (&table, c.epoch) {
                if let Some(row) = t.rows.get(&ep) {
                    for (k, v) in row {
                        if k != "step" {
                            c.metrics.entry(k.clone()).or_insert(*v);
                        }
                    }
                }
            }
            // metrics.csv is exact; the file name is rounded. Use the csv value when the
            // two agree to the name's precision (a mid-epoch save may differ).
            c.metric = match (from_name, from_csv) {
                (Some(n), Some(x)) if (n - x).abs() <= 0.5e-3 + 1e-9 * n.abs() => Some(x),
                (Some(n), _) => Some(n),
                (None, x) => x,
            };
            if let Some(v) = c.metric {
                c.metrics.insert(m.name.clone(), v);
                if !v.is_finite() {
                    c.metric_raw = Some(format!("{v}"));
                }
            }
        }
    }

    let best = match best_alias_file {
        Some(a) => Some(a),
        None => record_or_ranked_best(&cb, &loc.ckpt_dir, &mut checkpoints, metric.as_ref()),
    };

    for t in &temps {
        let tn = t.to_string_lossy();
        if let Some(c) = checkpoints.iter_mut().find(|c| {
            tn.ends_with(&format!("{}.tmp", c.name))
                || (tn.contains(CKPT_TEMP_PREFIX) && tn.ends_with(&c.name))
        }) {
            c.state = CheckpointState::Writing;
        }
    }

    let trainer_best = cb.best_model_path.as_deref().and_then(|p| {
        let last = Path::new(p).file_name()?.to_string_lossy().into_owned();
        checkpoints.iter().any(|c| c.name == last).then_some(last)
    });
    // The monitored metric is unknown (not bad) for a checkpoint whose name does not
    // carry it when metrics.csv exists but could not be read.
    let unreadable = unreadable_metrics(run, table.is_none(), metric.as_ref(), &checkpoints);
    let history = metric
        .as_ref()
        .map(|m| common::csv_history(table.as_ref(), &m.name))
        .unwrap_or_default();
    Ok(common::finish(
        run,
        Parts {
            layout: LayoutKind::Lightning,
            metric,
            checkpoints,
            best,
            last,
            temps,
            warnings,
            trainer_record: TrainerRecord {
                best: trainer_best,
                unreadable,
                unmanaged,
            },
            history,
            default_policy: None,
        },
    ))
}

/// `last-v1.ckpt`, `last-v2.ckpt`…: what Lightning names `last` when the name is taken.
pub(crate) fn is_versioned_last(name: &str) -> bool {
    name.strip_prefix("last-v")
        .and_then(|r| r.strip_suffix(".ckpt"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Checkpoints with no metric because `metrics.csv` exists but could not be read.
fn unreadable_metrics(
    run: &Path,
    table_missing: bool,
    metric: Option<&MetricSpec>,
    checkpoints: &[Checkpoint],
) -> std::collections::BTreeMap<String, String> {
    let csv = run.join("metrics.csv");
    if metric.is_none() || !table_missing || std::fs::symlink_metadata(&csv).is_err() {
        return Default::default();
    }
    checkpoints
        .iter()
        .filter(|c| c.metric.is_none() && !c.has_role(Role::Recovery))
        .map(|c| (c.name.clone(), "metrics.csv could not be read".to_string()))
        .collect()
}

/// Best without a `best.ckpt`: the callback's `best_model_path` (by last component),
/// else the top of the ranking by the monitored metric.
fn record_or_ranked_best(
    cb: &CallbackInfo,
    ckpt_dir: &Path,
    checkpoints: &mut [Checkpoint],
    metric: Option<&MetricSpec>,
) -> Option<Alias> {
    let recorded = cb.best_model_path.as_deref().and_then(|p| {
        let last = Path::new(p).file_name()?.to_string_lossy().into_owned();
        checkpoints.iter().any(|c| c.name == last).then_some(last)
    });
    let (target, how) = match recorded {
        Some(t) => (t, AliasHow::Record),
        None => {
            let m = metric?;
            let mut best: Option<&Checkpoint> = None;
            for c in checkpoints
                .iter()
                .filter(|c| c.state == CheckpointState::Complete && c.finite_metric().is_some())
            {
                let better = match best {
                    None => true,
                    Some(b) => strictly_better(
                        c.metric.unwrap_or(f64::NAN),
                        b.metric.unwrap_or(f64::NAN),
                        m.mode,
                    ),
                };
                if better {
                    best = Some(c);
                }
            }
            (best?.name.clone(), AliasHow::Ranking)
        }
    };
    let mut alias = Alias {
        role: Role::Best,
        path: ckpt_dir.join(&target),
        target: Some(target),
        epoch: None,
        step: None,
        how,
        held: false,
    };
    common::attach_role(checkpoints, &mut alias);
    Some(alias)
}

/// Resolve `last.ckpt`/`best.ckpt`: symlink target, shared inode, or the (epoch,
/// global_step) in its pickle; the only copy of its state becomes a checkpoint itself.
fn resolve_alias(
    run: &Path,
    role: Role,
    rel: &Path,
    checkpoints: &mut Vec<Checkpoint>,
    warnings: &mut Vec<String>,
    cb: Option<&mut CallbackInfo>,
) -> Alias {
    let name = rel.to_string_lossy().into_owned();
    let mut alias = Alias::unresolved(role, rel);
    let lmeta = match std::fs::symlink_metadata(run.join(rel)) {
        Ok(m) => m,
        Err(e) => {
            warnings.push(format!("{name}: cannot stat ({e})"));
            return alias;
        }
    };
    let mut file_rel = rel.to_path_buf();
    let mut meta = lmeta.clone();
    if lmeta.file_type().is_symlink() {
        match common::resolve_in_run(run, rel) {
            Ok((target, m)) if m.is_file() => {
                let tname = target
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if let Some(c) = checkpoints
                    .iter()
                    .find(|c| c.paths.first() == Some(&target))
                {
                    alias.how = AliasHow::Symlink;
                    alias.target = Some(c.name.clone());
                } else {
                    warnings.push(format!(
                        "{name} links to {tname}, which is not a checkpoint of this run"
                    ));
                }
                file_rel = target;
                meta = m;
            }
            Ok(_) => {
                warnings.push(format!("{name} does not lead to a file"));
                return alias;
            }
            Err(why) => {
                warnings.push(why);
                return alias;
            }
        }
    } else if !lmeta.is_file() {
        warnings.push(format!("{name} is not a regular file; ignored"));
        return alias;
    }
    if meta.len() == 0 {
        warnings.push(format!(
            "{name} is a zero-byte file; it holds no checkpoint"
        ));
        return alias;
    }
    if alias.target.is_none() {
        let ino = common::inode(&meta);
        if let Some(c) = checkpoints
            .iter_mut()
            .find(|c| c.inode == Some(ino))
            .filter(|_| meta.nlink() > 1)
        {
            alias.how = AliasHow::Hardlink;
            alias.target = Some(c.name.clone());
            if !c.paths.iter().any(|p| p == rel) {
                c.paths.push(rel.to_path_buf());
            }
        }
    }
    let need_pickle = alias.target.is_none() || cb.is_some();
    let value = if need_pickle {
        match common::read_pickle(&run.join(&file_rel), LIGHTNING_KEYS) {
            Ok(v) => Some(v),
            Err(why) => {
                warnings.push(format!("{name}: {why}"));
                None
            }
        }
    } else {
        None
    };
    if let (Some(v), Some(cb)) = (&value, cb) {
        *cb = callback_info(v);
    }
    if alias.target.is_none() {
        if let Some(v) = &value {
            let ep = v
                .get("epoch")
                .and_then(Value::as_i64)
                .and_then(|x| u64::try_from(x).ok());
            let st = v
                .get("global_step")
                .and_then(Value::as_i64)
                .and_then(|x| u64::try_from(x).ok());
            let candidates: Vec<&Checkpoint> = checkpoints
                .iter()
                .filter(|c| c.epoch == ep && (st.is_none() || c.step.is_none() || c.step == st))
                .collect();
            let pick = candidates
                .iter()
                .find(|c| c.bytes == meta.len())
                .or(candidates.first())
                .map(|c| c.name.clone());
            if let Some(target) = pick {
                alias.how = AliasHow::Copy;
                // The copy is a file of the run holding that checkpoint: listed after
                // its primary path, so sizes and totals count it.
                if let Some(c) = checkpoints.iter_mut().find(|c| c.name == target) {
                    if !c.paths.iter().any(|p| p == rel) {
                        c.paths.push(rel.to_path_buf());
                    }
                }
                alias.target = Some(target);
            } else if ep.is_some() || st.is_some() {
                let fname = rel
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let mut c = common::file_checkpoint(&fname, rel.to_path_buf(), &meta);
                c.epoch = ep;
                c.step = st;
                alias.how = AliasHow::File;
                alias.target = Some(c.name.clone());
                checkpoints.push(c);
            } else {
                warnings.push(format!("{name}: its pickle has no epoch or global_step"));
            }
        }
    }
    common::attach_role(checkpoints, &mut alias);
    alias
}

/// Lightning's alias files: `best.ckpt` and `last.ckpt` next to its checkpoints (the
/// scanned `last` alias's own name when it is one, e.g. `last-v1.ckpt`).
pub(crate) fn alias_files(snap: &RunSnapshot) -> AliasFiles {
    let dir = checkpoint_dir(snap);
    let last = common::alias_path_named(snap.last.as_ref(), "last")
        .unwrap_or_else(|| dir.join("last.ckpt"));
    AliasFiles {
        best: Some(dir.join("best.ckpt")),
        last: Some(last),
    }
}

/// Lightning's `checkpoints/` directory relative to the run: where its `.ckpt` files are.
pub(crate) fn checkpoint_dir(snap: &RunSnapshot) -> PathBuf {
    let parent_of = |p: &Path| p.parent().map(Path::to_path_buf).unwrap_or_default();
    if let Some(p) = snap.checkpoints.iter().find_map(|c| c.paths.first()) {
        return parent_of(p);
    }
    if let Some(a) = snap.last.as_ref().or(snap.best.as_ref()) {
        return parent_of(&a.path);
    }
    if snap.run.join("checkpoints").is_dir() {
        return PathBuf::from("checkpoints");
    }
    PathBuf::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lightning_names() {
        let n = parse_name("epoch=3-step=16-val_loss=0.400.ckpt").unwrap();
        assert_eq!((n.epoch, n.step, n.version), (Some(3), Some(16), None));
        assert_eq!(n.metrics, [("val_loss".to_string(), "0.400".to_string())]);
        let n = parse_name("epoch=3-step=16-val_loss=-0.25-v2.ckpt").unwrap();
        assert_eq!(n.version, Some(2));
        assert_eq!(n.metrics, [("val_loss".to_string(), "-0.25".to_string())]);
        let n = parse_name("epoch=0-step=4.ckpt").unwrap();
        assert_eq!((n.epoch, n.step), (Some(0), Some(4)));
        assert!(parse_name("last.ckpt").is_none());
        assert!(parse_name("epoch=x-step=4.ckpt").is_none());
        assert!(parse_name("epoch=1-step=4.pth").is_none());
        assert!(parse_name("my-model.ckpt").is_none());
    }
}
