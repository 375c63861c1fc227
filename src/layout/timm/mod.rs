//! timm (`timm.utils.CheckpointSaver`) runs: `checkpoint-<epoch>`, `last`, `model_best`,
//! `recovery-<epoch>-<batch>`, `milestone-<n>`, with metrics from `summary.csv` and the
//! metric name from `args.yaml` (DESIGN §4).
//!
//! Which epoch `last`/`model_best` hold is found by shared inode when hardlinked, and
//! only otherwise by reading the torch zip's pickle (data only), so a scan opens at most
//! those two files however many checkpoints the run has.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

mod saver;

use super::common::{self, CsvTable, Entry, Parts};
use crate::formats::pickle::Value;
use crate::rank::{strictly_better, MetricSpec, Mode, RetentionPolicy};
use crate::snapshot::AliasHow;
use crate::snapshot::{Alias, AliasFiles, Checkpoint, CheckpointState, Role, RunSnapshot};
use crate::snapshot::{LayoutKind, TrainerRecord};
use crate::store::temp::CKPT_TEMP_PREFIX;
use crate::Result;
use saver::{check_saver, read_saver, settle, Saver};

/// File extensions timm writes (longest first so `.pth.tar` wins over `.tar`).
pub(crate) const EXTS: &[&str] = &[".pth.tar", ".safetensors", ".pth", ".pt"];

/// What a timm file name says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TimmName {
    Checkpoint(u64),
    Recovery(u64, u64),
    Milestone(u64),
    Last,
    Best,
    Temp,
    /// Looks like a checkpoint name but the number is not one (`checkpoint-abc.pth.tar`).
    Malformed,
}

/// Classify a file name; `None` for files timm does not write as checkpoints.
pub(crate) fn classify(name: &str) -> Option<TimmName> {
    if name.starts_with(CKPT_TEMP_PREFIX) {
        return Some(TimmName::Temp);
    }
    let (stem, _) = common::split_ext(name, EXTS)?;
    // timm writes `f"{prefix}-{epoch}"`: plain decimal, no sign, no leading zero. Any
    // other spelling (`+8`, `007`) was not written by timm, so it is not guessed.
    let num = |s: &str| {
        let plain = !s.is_empty()
            && s.bytes().all(|b| b.is_ascii_digit())
            && (s == "0" || !s.starts_with('0'));
        plain.then(|| s.parse::<u64>().ok()).flatten()
    };
    Some(match stem {
        "last" => TimmName::Last,
        "model_best" => TimmName::Best,
        "tmp" | "recovery_tmp" => TimmName::Temp,
        _ => {
            if let Some(n) = stem.strip_prefix("checkpoint-") {
                num(n).map_or(TimmName::Malformed, TimmName::Checkpoint)
            } else if let Some(n) = stem.strip_prefix("milestone-") {
                num(n).map_or(TimmName::Malformed, TimmName::Milestone)
            } else if let Some(rest) = stem.strip_prefix("recovery-") {
                match rest.split_once('-') {
                    Some((e, b)) => match (num(e), num(b)) {
                        (Some(e), Some(b)) => TimmName::Recovery(e, b),
                        _ => TimmName::Malformed,
                    },
                    None => TimmName::Malformed,
                }
            } else {
                return None;
            }
        }
    })
}

/// True when `entries` look like a timm run.
pub(crate) fn looks_like(entries: &[Entry]) -> bool {
    let names = |n: &str| entries.iter().any(|e| e.name == n);
    entries.iter().any(|e| {
        !e.is_dir()
            && matches!(
                classify(&e.name),
                Some(
                    TimmName::Checkpoint(_)
                        | TimmName::Recovery(..)
                        | TimmName::Milestone(_)
                        | TimmName::Last
                        | TimmName::Best
                )
            )
    }) || (names("summary.csv") && names("args.yaml"))
}

/// The metric timm ranks by, from `args.yaml` (`eval_metric`, default `top1`).
fn metric_spec(run: &Path, warnings: &mut Vec<String>) -> (MetricSpec, Option<usize>) {
    let args = match common::read_capped(&run.join("args.yaml")) {
        Ok(t) => common::parse_yaml_scalars(&String::from_utf8_lossy(&t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(e) => {
            warnings.push(format!(
                "args.yaml: cannot read ({e}); assuming eval_metric top1"
            ));
            BTreeMap::new()
        }
    };
    let m = args
        .get("eval_metric")
        .filter(|s| !s.is_empty())
        .cloned()
        .unwrap_or_else(|| "top1".into());
    let name = if m.starts_with("eval_") {
        m.clone()
    } else {
        format!("eval_{m}")
    };
    let hist = args.get("checkpoint_hist").and_then(|s| s.parse().ok());
    (
        MetricSpec {
            mode: Mode::infer_from_name(&m),
            name,
        },
        hist,
    )
}

/// What an alias file's pickle says: epoch and metric.
struct Held {
    epoch: Option<u64>,
    metric: Option<f64>,
    value: Value,
}

fn read_held(path: &Path) -> std::result::Result<Held, String> {
    if path.to_string_lossy().ends_with(".safetensors") {
        return Err(
            "a safetensors file records no epoch, and it shares no inode with a \
                    checkpoint; cannot tell which epoch it holds"
                .into(),
        );
    }
    let value = common::read_pickle(path, &["epoch", "metric", "saver"])?;
    let epoch = value
        .get("epoch")
        .and_then(Value::as_i64)
        .and_then(|e| u64::try_from(e).ok());
    let metric = value.get("metric").and_then(Value::as_f64);
    Ok(Held {
        epoch,
        metric,
        value,
    })
}

/// The one extension timm's saver uses in this run (its `extension` argument): that of
/// `last`/`model_best` when present, else the most common among checkpoint files (ties
/// and no files: timm's default `.pth.tar`).
fn run_extension(
    last: Option<&str>,
    best: Option<&str>,
    checkpoints: &[Checkpoint],
) -> &'static str {
    if let Some((_, e)) = last.or(best).and_then(|n| common::split_ext(n, EXTS)) {
        return e;
    }
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for c in checkpoints {
        if let Some((_, e)) = common::split_ext(&c.name, EXTS) {
            *counts.entry(e).or_default() += 1;
        }
    }
    let top = counts.values().copied().max().unwrap_or(0);
    let mut winners = counts.iter().filter(|(_, &n)| n == top).map(|(e, _)| *e);
    match (winners.next(), winners.next()) {
        (Some(e), None) => e,
        _ => ".pth.tar",
    }
}

/// A checkpoint file with another extension than the run's was not written by this
/// run's saver (`checkpoint-4.pth` beside `checkpoint-4.pth.tar`): two files of one
/// epoch are never guessed into the ranking; such a file is listed as unmanaged and
/// never pruned.
fn unmanage_other_extensions(
    checkpoints: &mut Vec<Checkpoint>,
    run_ext: &str,
    unmanaged: &mut BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) {
    checkpoints.retain(|c| {
        let other = common::split_ext(&c.name, EXTS).is_some_and(|(_, e)| e != run_ext);
        if other {
            warnings.push(format!(
                "{}: timm writes one extension per run ({run_ext} here); listed as unmanaged, \
                 never ranked or pruned",
                c.name
            ));
            unmanaged.insert(
                c.name.clone(),
                format!("another extension than this run's {run_ext}"),
            );
        }
        !other
    });
}

/// Scan a timm run directory: list its files by timm's names, resolve `last` and
/// `model_best`, read timm's own history from the newest checkpoint, then fill in what
/// `summary.csv` did not say.
pub fn scan(run: &Path) -> Result<RunSnapshot> {
    let entries = common::list_dir(run)?;
    let mut warnings = Vec::new();
    let (metric, hist) = metric_spec(run, &mut warnings);
    let table = common::read_csv(&run.join("summary.csv"), "epoch", &mut warnings);
    let column_missing = table
        .as_ref()
        .is_some_and(|t| !t.columns.iter().any(|c| c == &metric.name));

    let mut files = list_files(run, &entries, table.as_ref(), &metric.name, &mut warnings);
    let run_ext = run_extension(
        files.last.as_deref(),
        files.best.as_deref(),
        &files.checkpoints,
    );
    unmanage_other_extensions(
        &mut files.checkpoints,
        run_ext,
        &mut files.unmanaged,
        &mut warnings,
    );
    let mut aliases = resolve_aliases(run, &mut files, table.as_ref(), &metric.name, &mut warnings);
    common::mark_truncated_zips(run, &mut files.checkpoints);
    let (saver, own_metric) = newest_saver(
        run,
        &files.checkpoints,
        &mut aliases,
        metric.mode,
        hist,
        &mut warnings,
    );
    fill_missing_metrics(
        run,
        &mut files.checkpoints,
        saver.as_ref(),
        own_metric,
        &metric.name,
        &mut warnings,
    );
    if column_missing {
        warnings.push(column_missing_warning(&files.checkpoints, &metric.name));
    }
    if let Some(saver) = &saver {
        check_saver(
            saver,
            &files.checkpoints,
            aliases.best.as_ref(),
            &mut warnings,
        );
    }
    mark_writing(&files.temps, &mut files.checkpoints);

    let trainer_best = saver
        .as_ref()
        .and_then(|s| trainer_best(s, &files.checkpoints));
    let unreadable = unreadable_metrics(run, table.is_none(), &files.checkpoints);
    let history = common::csv_history(table.as_ref(), &metric.name);
    Ok(common::finish(
        run,
        Parts {
            layout: LayoutKind::Timm,
            metric: Some(metric),
            checkpoints: files.checkpoints,
            best: aliases.best,
            last: aliases.last,
            temps: files.temps,
            warnings,
            trainer_record: TrainerRecord {
                best: trainer_best,
                unreadable,
                unmanaged: files.unmanaged,
            },
            history,
            // timm keeps its `checkpoint_hist` best checkpoints.
            default_policy: hist.filter(|&h| h > 0).map(|h| RetentionPolicy {
                keep_top_k: Some(h),
                ..RetentionPolicy::default()
            }),
        },
    ))
}

/// A timm run's files by the names timm gives them.
struct Files {
    checkpoints: Vec<Checkpoint>,
    temps: Vec<PathBuf>,
    /// The `last.*` and `model_best.*` alias files (the first of each, by name).
    last: Option<String>,
    best: Option<String>,
    /// Names listed but never ranked or pruned, with why.
    unmanaged: BTreeMap<String, String>,
}

/// Sort the directory's entries by timm's names: checkpoints (with their
/// `summary.csv` row), temps, the two alias files, and names timm does not write.
fn list_files(
    run: &Path,
    entries: &[Entry],
    table: Option<&CsvTable>,
    metric: &str,
    warnings: &mut Vec<String>,
) -> Files {
    let mut files = Files {
        checkpoints: Vec::new(),
        temps: Vec::new(),
        last: None,
        best: None,
        unmanaged: BTreeMap::new(),
    };
    for e in entries {
        let Some(kind) = classify(&e.name) else {
            continue;
        };
        match kind {
            TimmName::Temp => files.temps.push(PathBuf::from(&e.name)),
            TimmName::Malformed => {
                warnings.push(format!(
                    "{}: not a timm checkpoint name (timm writes plain epoch numbers); \
                     listed as unmanaged, never ranked or pruned",
                    e.name
                ));
                files.unmanaged.insert(
                    e.name.clone(),
                    "not a name timm writes (its epoch is not a plain number)".into(),
                );
            }
            TimmName::Last | TimmName::Best => {
                let slot = if kind == TimmName::Last {
                    &mut files.last
                } else {
                    &mut files.best
                };
                match slot {
                    Some(prev) => {
                        warnings.push(format!("both {prev} and {} exist; using {prev}", e.name))
                    }
                    None => *slot = Some(e.name.clone()),
                }
            }
            _ => {
                if let Some(c) = checkpoint_file(run, e, kind, table, metric, warnings) {
                    files.checkpoints.push(c);
                }
            }
        }
    }
    files
}

/// A checkpoint file (regular, or a symlink resolved inside the run) with the epoch,
/// batch and role its name gives and the metrics of its `summary.csv` row.
fn checkpoint_file(
    run: &Path,
    e: &Entry,
    kind: TimmName,
    table: Option<&CsvTable>,
    metric: &str,
    warnings: &mut Vec<String>,
) -> Option<Checkpoint> {
    let meta = if e.is_symlink() {
        match common::resolve_in_run(run, Path::new(&e.name)) {
            Ok((_, m)) if m.is_file() => m,
            Ok(_) => {
                warnings.push(format!("{} does not lead to a file; ignored", e.name));
                return None;
            }
            Err(why) => {
                warnings.push(why);
                return None;
            }
        }
    } else if let (true, Some(m)) = (e.is_file(), &e.meta) {
        m.clone()
    } else {
        warnings.push(format!("{} is not a regular file; ignored", e.name));
        return None;
    };
    let mut c = common::file_checkpoint(&e.name, PathBuf::from(&e.name), &meta);
    match kind {
        TimmName::Checkpoint(n) => c.epoch = Some(n),
        TimmName::Recovery(ep, b) => {
            c.epoch = Some(ep);
            c.batch = Some(b);
            c.roles.push(Role::Recovery);
        }
        TimmName::Milestone(n) => {
            c.epoch = Some(n);
            c.roles.push(Role::Milestone);
        }
        _ => {}
    }
    // A recovery save is mid-epoch: that epoch's eval row does not describe it.
    if let (Some(t), Some(ep), false) = (table, c.epoch, c.has_role(Role::Recovery)) {
        if let Some(row) = t.rows.get(&ep) {
            c.metrics = row.clone();
        }
        // Milestones are kept outside the ranking: their metric stays in `metrics`.
        if !c.has_role(Role::Milestone) {
            common::apply_metric(&mut c, t, ep, metric);
        }
    }
    Some(c)
}

/// `last` and `model_best` resolved to checkpoints, and the pickle read from `last`.
struct Aliases {
    last: Option<Alias>,
    best: Option<Alias>,
    last_pickle: Option<Value>,
}

/// Resolve `last` first: when it is the only copy of its epoch it becomes a checkpoint
/// that `model_best` may then share.
fn resolve_aliases(
    run: &Path,
    files: &mut Files,
    table: Option<&CsvTable>,
    metric: &str,
    warnings: &mut Vec<String>,
) -> Aliases {
    let mut last_pickle: Option<Value> = None;
    let last = files.last.as_deref().map(|name| {
        resolve_alias(
            run,
            Role::Last,
            name,
            Path::new(name),
            &mut files.checkpoints,
            table,
            metric,
            warnings,
            &mut last_pickle,
            true,
        )
    });
    let mut best_pickle = None;
    let best = files.best.as_deref().map(|name| {
        resolve_alias(
            run,
            Role::Best,
            name,
            Path::new(name),
            &mut files.checkpoints,
            table,
            metric,
            warnings,
            &mut best_pickle,
            false,
        )
    });
    Aliases {
        last,
        best,
        last_pickle,
    }
}

/// timm's own history (its `CheckpointSaver`), from the newest checkpoint only: an
/// older file (a `last` restored to an earlier epoch) carries an older history that no
/// longer holds. Also the newest checkpoint's own `metric`, when its pickle was read
/// here.
fn newest_saver(
    run: &Path,
    checkpoints: &[Checkpoint],
    aliases: &mut Aliases,
    mode: Mode,
    hist: Option<usize>,
    warnings: &mut Vec<String>,
) -> (Option<Saver>, Option<(String, Option<f64>)>) {
    let newest = newest_checkpoint(checkpoints);
    let mut own_metric: Option<(String, Option<f64>)> = None;
    let last_target = aliases.last.as_ref().and_then(|l| l.target.as_ref());
    let newest_pickle = match newest {
        // `last` holds the newest: its pickle was read already (or failed, and said so).
        Some(i) if last_target == Some(&checkpoints[i].name) => aliases.last_pickle.take(),
        Some(i) => {
            let c = &checkpoints[i];
            let rel = c
                .paths
                .first()
                .cloned()
                .unwrap_or_else(|| PathBuf::from(&c.name));
            match common::read_pickle(&run.join(&rel), &["metric", "saver"]) {
                Ok(v) => {
                    own_metric = Some((c.name.clone(), v.get("metric").and_then(Value::as_f64)));
                    Some(v)
                }
                Err(why) => {
                    warnings.push(format!("{}: {why}", rel.display()));
                    None
                }
            }
        }
        None => None,
    };
    let saver = newest_pickle.as_ref().and_then(read_saver).map(|s| {
        let ext = newest
            .and_then(|i| common::split_ext(&checkpoints[i].name, EXTS))
            .map_or(".pth.tar", |(_, e)| e);
        settle(s, mode, hist, ext)
    });
    (saver, own_metric)
}

/// `summary.csv` has no column for the metric: say where metrics come from instead.
fn column_missing_warning(checkpoints: &[Checkpoint], metric: &str) -> String {
    let any = checkpoints
        .iter()
        .any(|c| c.metric.is_some() && !c.has_role(Role::Milestone));
    if any {
        format!(
            "summary.csv has no {metric} column (args.yaml eval_metric); metrics come from \
             the checkpoint files"
        )
    } else {
        format!(
            "summary.csv has no {metric} column (args.yaml eval_metric); checkpoints are unranked"
        )
    }
}

/// timm's own best (its saver history): a regular checkpoint of that epoch.
fn trainer_best(saver: &Saver, checkpoints: &[Checkpoint]) -> Option<String> {
    let be = saver.best_epoch?;
    checkpoints
        .iter()
        .find(|c| {
            c.epoch == Some(be)
                && !c.has_role(Role::Recovery)
                && !c.has_role(Role::Milestone)
                && matches!(classify(&c.name), Some(TimmName::Checkpoint(_)))
        })
        .map(|c| c.name.clone())
}

/// Checkpoints whose metric is unknown because `summary.csv` exists but could not be
/// read (and their file gave none).
fn unreadable_metrics(
    run: &Path,
    no_table: bool,
    checkpoints: &[Checkpoint],
) -> BTreeMap<String, String> {
    let csv_unreadable = no_table && std::fs::symlink_metadata(run.join("summary.csv")).is_ok();
    checkpoints
        .iter()
        .filter(|c| csv_unreadable && c.metric.is_none() && !c.has_role(Role::Milestone))
        .map(|c| (c.name.clone(), "summary.csv could not be read".to_string()))
        .collect()
}

/// A temp named for a checkpoint (the engine's `.ckpt-tmp-…-<name>`) marks it Writing.
fn mark_writing(temps: &[PathBuf], checkpoints: &mut [Checkpoint]) {
    for t in temps {
        let tn = t.to_string_lossy();
        if let Some(c) = checkpoints
            .iter_mut()
            .find(|c| tn.starts_with(CKPT_TEMP_PREFIX) && tn.ends_with(&c.name))
        {
            c.state = CheckpointState::Writing;
        }
    }
}

/// Index of the newest intact checkpoint by epoch (within an epoch a recovery save comes
/// before the milestone and the end-of-epoch checkpoint).
fn newest_checkpoint(checkpoints: &[Checkpoint]) -> Option<usize> {
    checkpoints
        .iter()
        .enumerate()
        .filter(|(_, c)| c.state == CheckpointState::Complete && c.epoch.is_some())
        .max_by_key(|(_, c)| {
            let rank = if c.has_role(Role::Recovery) {
                0
            } else if c.has_role(Role::Milestone) {
                1
            } else {
                2
            };
            (c.epoch, rank, c.batch)
        })
        .map(|(i, _)| i)
}

/// Metrics summary.csv does not give (file deleted, empty, or a missing cell): from
/// timm's history, else from the checkpoint's own pickle. Only those checkpoints are
/// opened, so a run with a full summary.csv reads none.
fn fill_missing_metrics(
    run: &Path,
    checkpoints: &mut [Checkpoint],
    saver: Option<&Saver>,
    own: Option<(String, Option<f64>)>,
    metric_name: &str,
    warnings: &mut Vec<String>,
) {
    for c in checkpoints.iter_mut() {
        // A NaN/inf cell is a recorded value; an unreadable one is not.
        if c.metric.is_some()
            || c.has_role(Role::Recovery)
            || c.has_role(Role::Milestone)
            || c.state != CheckpointState::Complete
        {
            continue;
        }
        let from_history = saver
            .and_then(|s| s.files.iter().find(|f| f.0 == c.name))
            .and_then(|f| f.1);
        let value = match (&own, from_history) {
            (Some((name, m)), _) if name == &c.name && m.is_some() => *m,
            (_, Some(m)) => Some(m),
            _ => {
                let rel = c
                    .paths
                    .first()
                    .cloned()
                    .unwrap_or_else(|| PathBuf::from(&c.name));
                if rel.to_string_lossy().ends_with(".safetensors") {
                    continue;
                }
                match common::read_pickle(&run.join(&rel), &["metric"]) {
                    Ok(v) => v.get("metric").and_then(Value::as_f64),
                    Err(why) => {
                        warnings.push(format!("{}: {why}", rel.display()));
                        None
                    }
                }
            }
        };
        if let Some(m) = value {
            c.metric = Some(m);
            c.metrics.insert(metric_name.to_string(), m);
            c.metric_raw = (!m.is_finite()).then(|| format!("{m}"));
        }
    }
}

/// Resolve `last`/`model_best` to the checkpoint it holds and give that checkpoint `role`.
#[allow(clippy::too_many_arguments)]
fn resolve_alias(
    run: &Path,
    role: Role,
    name: &str,
    rel: &Path,
    checkpoints: &mut Vec<Checkpoint>,
    table: Option<&common::CsvTable>,
    metric_name: &str,
    warnings: &mut Vec<String>,
    pickle_out: &mut Option<Value>,
    always_read: bool,
) -> Alias {
    let mut alias = Alias::unresolved(role, rel);
    let meta = match std::fs::symlink_metadata(run.join(rel)) {
        Ok(m) => m,
        Err(e) => {
            warnings.push(format!("{name}: cannot stat ({e})"));
            return alias;
        }
    };
    if meta.file_type().is_symlink() {
        match common::resolve_in_run(run, rel) {
            Ok((target, m)) if m.is_file() => {
                let tname = target.to_string_lossy().into_owned();
                if checkpoints.iter().any(|c| c.name == tname) {
                    alias.how = AliasHow::Symlink;
                    alias.target = Some(tname);
                    common::attach_role(checkpoints, &mut alias);
                } else {
                    warnings.push(format!(
                        "{name} links to {tname}, which is not a checkpoint of this run"
                    ));
                }
            }
            Ok(_) => warnings.push(format!("{name} does not lead to a file")),
            Err(why) => warnings.push(why),
        }
        return alias;
    }
    if !meta.is_file() {
        warnings.push(format!("{name} is not a regular file; ignored"));
        return alias;
    }
    if meta.len() == 0 {
        warnings.push(format!(
            "{name} is a zero-byte file; it holds no checkpoint"
        ));
        return alias;
    }
    let ino = common::inode(&meta);
    let by_inode = checkpoints
        .iter()
        .position(|c| c.inode == Some(ino))
        .filter(|_| meta.nlink() > 1);
    // Read the pickle only when needed (no inode match), or for `last`'s saver history.
    let held = if by_inode.is_none() || always_read {
        match read_held(&run.join(rel)) {
            Ok(h) => Some(h),
            Err(why) => {
                warnings.push(format!("{name}: {why}"));
                None
            }
        }
    } else {
        None
    };
    if let Some(i) = by_inode {
        let c = &mut checkpoints[i];
        if !c.paths.iter().any(|p| p == rel) {
            c.paths.push(rel.to_path_buf());
        }
        alias.how = AliasHow::Hardlink;
        alias.target = Some(c.name.clone());
        if let Some(ep) = held.as_ref().and_then(|h| h.epoch) {
            if c.epoch != Some(ep) {
                warnings.push(format!(
                    "{name} is a hardlink of {} but its pickle says epoch {ep}",
                    c.name
                ));
            }
        }
    } else if let Some(h) = &held {
        match h.epoch {
            Some(ep) => {
                let existing = checkpoints.iter().find(|c| {
                    c.epoch == Some(ep)
                        && !c.has_role(Role::Recovery)
                        && !c.has_role(Role::Milestone)
                });
                if let Some(c) = existing {
                    alias.how = AliasHow::Copy;
                    alias.target = Some(c.name.clone());
                } else {
                    // The alias is the only copy of this epoch: list it as a checkpoint.
                    let mut c = common::file_checkpoint(name, rel.to_path_buf(), &meta);
                    c.epoch = Some(ep);
                    if let Some(t) = table {
                        if let Some(row) = t.rows.get(&ep) {
                            c.metrics = row.clone();
                        }
                        common::apply_metric(&mut c, t, ep, metric_name);
                    }
                    if c.metric.is_none() && c.metric_raw.is_none() {
                        c.metric = h.metric;
                        if h.metric.is_some_and(|m| !m.is_finite()) {
                            c.metric_raw = h.metric.map(|m| format!("{m}"));
                        }
                    }
                    alias.how = AliasHow::File;
                    alias.target = Some(c.name.clone());
                    checkpoints.push(c);
                }
            }
            None => warnings.push(format!("{name}: its pickle has no integer `epoch`")),
        }
    }
    common::attach_role(checkpoints, &mut alias);
    if let Some(h) = held {
        *pickle_out = Some(h.value);
    }
    alias
}

/// Default extension of timm checkpoint files.
pub(crate) const DEFAULT_EXT: &str = ".pth.tar";

/// timm's alias files: `model_best<ext>` and `last<ext>` with the run's extension (the
/// scanned alias's own name when it is one).
pub(crate) fn alias_files(snap: &RunSnapshot) -> AliasFiles {
    let ext = run_ext(snap);
    AliasFiles {
        best: Some(
            common::alias_path_named(snap.best.as_ref(), "model_best")
                .unwrap_or_else(|| PathBuf::from(format!("model_best{ext}"))),
        ),
        last: Some(
            common::alias_path_named(snap.last.as_ref(), "last")
                .unwrap_or_else(|| PathBuf::from(format!("last{ext}"))),
        ),
    }
}

/// The extension timm uses in this run: taken from its `checkpoint-<n><ext>` files.
pub(crate) fn run_ext(snap: &RunSnapshot) -> String {
    let from_name = |name: &str| -> Option<String> {
        let rest = name
            .strip_prefix("checkpoint-")
            .or_else(|| name.strip_prefix("recovery-"))
            .or_else(|| name.strip_prefix("milestone-"))?;
        let ext_at = rest.find(|c: char| !(c.is_ascii_digit() || c == '-'))?;
        let ext = &rest[ext_at..];
        ext.starts_with('.').then(|| ext.to_string())
    };
    snap.checkpoints
        .iter()
        .flat_map(|c| c.paths.iter())
        .filter_map(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
        .find_map(|n| from_name(&n))
        .or_else(|| {
            let alias = snap.last.as_ref().or(snap.best.as_ref())?;
            let name = alias.path.file_name()?.to_string_lossy().into_owned();
            let stem = if name.starts_with("model_best") {
                "model_best"
            } else {
                "last"
            };
            name.strip_prefix(stem)
                .filter(|e| e.starts_with('.'))
                .map(str::to_string)
        })
        .unwrap_or_else(|| DEFAULT_EXT.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_save_joins_the_history_as_timm_would() {
        let s = Saver {
            files: vec![
                ("checkpoint-1.pth.tar".into(), Some(0.3)),
                ("checkpoint-2.pth.tar".into(), Some(0.5)),
            ],
            best_epoch: Some(1),
            best_metric: Some(0.3),
            pending: Some((3, Some(0.2))),
        };
        // A loss (min): 0.2 is best; history capped at 2 drops the worst (0.5).
        let t = settle(s.clone(), Mode::Min, Some(2), ".pth.tar");
        let names: Vec<_> = t.files.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(names, ["checkpoint-3.pth.tar", "checkpoint-1.pth.tar"]);
        assert_eq!((t.best_epoch, t.best_metric), (Some(3), Some(0.2)));
        // An accuracy (max): 0.2 is worse than both; with room it still joins, last.
        let t = settle(s, Mode::Max, None, ".pth");
        assert_eq!(t.files.len(), 3);
        assert_eq!(t.files[2].0, "checkpoint-3.pth");
        assert_eq!(t.best_epoch, Some(1));
    }

    #[test]
    fn classifies_timm_names() {
        assert_eq!(
            classify("checkpoint-12.pth.tar"),
            Some(TimmName::Checkpoint(12))
        );
        assert_eq!(
            classify("checkpoint-3.safetensors"),
            Some(TimmName::Checkpoint(3))
        );
        assert_eq!(classify("recovery-2-1.pth"), Some(TimmName::Recovery(2, 1)));
        assert_eq!(
            classify("milestone-10.pth.tar"),
            Some(TimmName::Milestone(10))
        );
        assert_eq!(classify("last.pth.tar"), Some(TimmName::Last));
        assert_eq!(classify("model_best.pth.tar"), Some(TimmName::Best));
        assert_eq!(classify("tmp.pth.tar"), Some(TimmName::Temp));
        assert_eq!(classify("recovery_tmp.pth.tar"), Some(TimmName::Temp));
        assert_eq!(classify(".ckpt-tmp-123-ab"), Some(TimmName::Temp));
        assert_eq!(
            classify("checkpoint-abc.pth.tar"),
            Some(TimmName::Malformed)
        );
        assert_eq!(classify("summary.csv"), None);
        assert_eq!(classify("model.pth.tar"), None);
    }
}
