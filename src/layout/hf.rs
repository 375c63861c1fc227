//! transformers `Trainer` runs: each `checkpoint-<global_step>/` directory is one
//! checkpoint; the newest `trainer_state.json` gives metrics by step (`log_history`),
//! `best_metric` and `best_model_checkpoint` (matched by its last path component, since
//! it is relative to where training started or stale after the run moved). Resume
//! takes the highest step, so that one is `last`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::common::{self, Entry, Parts};
use crate::formats::pickle::Value;
use crate::rank::{MetricSpec, Mode, RetentionPolicy};
use crate::snapshot::AliasHow;
use crate::snapshot::{Alias, Checkpoint, CheckpointState, MetricPoint, Role, RunSnapshot};
use crate::snapshot::{LayoutKind, TrainerRecord};
use crate::store::temp::CKPT_TEMP_PREFIX;
use crate::Result;

/// `checkpoint-<step>` → step.
///
/// As transformers reads it (`get_last_checkpoint`: `^checkpoint\-(\d+)$`, then `int()`):
/// ASCII digits only (no sign), leading zeros allowed (`checkpoint-007` is step 7).
pub(crate) fn parse_dir_name(name: &str) -> Option<u64> {
    let n = name.strip_prefix("checkpoint-")?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

/// Every name `transformers.trainer_utils.get_last_checkpoint` considers, with its step:
/// `checkpoint-<digits>` entries that are directories *following symlinks*
/// (`os.path.isdir`). The one it resumes from is the highest step.
pub fn resume_candidates(run: &Path) -> Vec<(String, u64)> {
    let Ok(rd) = std::fs::read_dir(run) else {
        return Vec::new();
    };
    let mut v: Vec<(String, u64)> = rd
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let step = parse_dir_name(&name)?;
            std::fs::metadata(e.path())
                .is_ok_and(|m| m.is_dir())
                .then_some((name, step))
        })
        .collect();
    v.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    v
}

/// True when `entries` hold a Trainer checkpoint directory.
pub(crate) fn looks_like(entries: &[Entry]) -> bool {
    entries.iter().any(|e| {
        e.is_dir()
            && (parse_dir_name(&e.name).is_some()
                || e.name
                    .strip_prefix("tmp-")
                    .and_then(parse_dir_name)
                    .is_some())
    })
}

/// Most bytes of a `trainer_state.json` ckpt reads: far above a long run's (a log row
/// is ~200 bytes), small enough that a hostile file costs little. It is streamed, and
/// only the log rows of the checkpoints' own steps are kept.
pub const MAX_TRAINER_STATE: u64 = 64 << 20;

/// The parts of `trainer_state.json` we use.
#[derive(Debug, Default)]
struct TrainerState {
    global_step: Option<u64>,
    best_metric: Option<f64>,
    best_model_checkpoint: Option<String>,
    best_global_step: Option<u64>,
    greater_is_better: Option<bool>,
    /// Numeric log values by step (later entries at the same step win), for the steps
    /// asked for.
    by_step: BTreeMap<u64, BTreeMap<String, f64>>,
    /// Some log row (of any step) has `eval_loss`.
    has_eval_loss: bool,
    /// `eval_*` values of every logged step (bounded), for the metric history.
    evals: BTreeMap<u64, BTreeMap<String, f64>>,
}

/// Read a `trainer_state.json` as transformers writes it (Python's json.dumps: `NaN`
/// and `Infinity` appear), keeping the log rows of `steps` only.
fn read_state(
    path: &Path,
    steps: &std::collections::BTreeSet<u64>,
) -> std::result::Result<TrainerState, String> {
    crate::formats::pyjson::read_capped_seed(path, MAX_TRAINER_STATE, StateSeed(steps))
        .map_err(|e| e.to_string())
}

/// Deserializes a [`TrainerState`] straight from the stream, keeping the log rows of
/// the given steps: unknown keys, nested values and other rows are skipped unbuilt.
struct StateSeed<'a>(&'a std::collections::BTreeSet<u64>);

impl<'de> serde::de::DeserializeSeed<'de> for StateSeed<'_> {
    type Value = TrainerState;
    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<TrainerState, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for StateSeed<'_> {
    type Value = TrainerState;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut a: A,
    ) -> std::result::Result<TrainerState, A::Error> {
        use crate::formats::pyjson::Scalar;
        let mut s = TrainerState::default();
        while let Some(k) = a.next_key::<String>()? {
            match k.as_str() {
                "global_step" => s.global_step = a.next_value::<Scalar>()?.as_u64(),
                "best_metric" => s.best_metric = a.next_value::<Scalar>()?.as_f64(),
                "best_model_checkpoint" => {
                    s.best_model_checkpoint = a.next_value::<Scalar>()?.as_str().map(String::from)
                }
                "best_global_step" => s.best_global_step = a.next_value::<Scalar>()?.as_u64(),
                "greater_is_better" => s.greater_is_better = a.next_value::<Scalar>()?.as_bool(),
                "log_history" => a.next_value_seed(LogSeed {
                    steps: self.0,
                    state: &mut s,
                })?,
                _ => {
                    a.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(s)
    }
}

/// `log_history`: a list of records; each is read as flat scalars and kept only when
/// its step is wanted.
struct LogSeed<'a> {
    steps: &'a std::collections::BTreeSet<u64>,
    state: &'a mut TrainerState,
}

impl<'de> serde::de::DeserializeSeed<'de> for LogSeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for LogSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of log records")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut a: A,
    ) -> std::result::Result<(), A::Error> {
        use crate::formats::pyjson::{Record, Scalar};
        while let Some(Record(row)) = a.next_element::<Record>()? {
            let Some(step) = row
                .iter()
                .find(|(k, _)| k == "step")
                .and_then(|(_, v)| v.as_u64())
            else {
                continue;
            };
            self.state.has_eval_loss |= row.iter().any(|(k, _)| k == "eval_loss");
            // Evaluations of every step (the monitor's full history), eval_* values only,
            // the newest MAX_HISTORY_POINTS steps.
            let evals: Vec<(String, f64)> = row
                .iter()
                .filter(|(k, _)| {
                    k.starts_with("eval_")
                        && !k.ends_with("_runtime")
                        && !k.ends_with("_per_second")
                })
                .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
                .collect();
            if !evals.is_empty() {
                self.state.evals.entry(step).or_default().extend(evals);
                if self.state.evals.len() > crate::snapshot::MAX_HISTORY_POINTS {
                    self.state.evals.pop_first();
                }
            }
            if !self.steps.contains(&step) {
                continue;
            }
            let keep = self.state.by_step.entry(step).or_default();
            for (k, v) in row {
                let noise = k == "step"
                    || k == "total_flos"
                    || k.ends_with("_runtime")
                    || k.ends_with("_per_second");
                if let (false, Some(x)) = (noise, Scalar::as_f64(&v)) {
                    keep.insert(k, x);
                }
            }
        }
        Ok(())
    }
    // Anything but a list: no rows.
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut a: A,
    ) -> std::result::Result<(), A::Error> {
        while a
            .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
            .is_some()
        {}
        Ok(())
    }
    fn visit_unit<E>(self) -> std::result::Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> std::result::Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> std::result::Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> std::result::Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> std::result::Result<(), E> {
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> std::result::Result<(), E> {
        Ok(())
    }
}

/// What the Trainer was told, from `training_args.bin` (a pickled `TrainingArguments`,
/// read as data).
struct Args {
    metric_for_best_model: Option<String>,
    greater_is_better: Option<bool>,
    save_total_limit: Option<usize>,
}

fn read_args(path: &Path) -> Option<Args> {
    let v = common::read_pickle(
        path,
        &[
            "metric_for_best_model",
            "greater_is_better",
            "save_total_limit",
        ],
    )
    .ok()?;
    Some(Args {
        metric_for_best_model: v
            .get("metric_for_best_model")
            .and_then(Value::as_str)
            .map(String::from),
        greater_is_better: v.get("greater_is_better").and_then(Value::as_bool),
        save_total_limit: v
            .get("save_total_limit")
            .and_then(Value::as_i64)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|&n| n > 0),
    })
}

/// Scan a Trainer output directory.
pub fn scan(run: &Path) -> Result<RunSnapshot> {
    let mut unmanaged: BTreeMap<String, String> = BTreeMap::new();
    let entries = common::list_dir(run)?;
    let mut warnings = Vec::new();
    let mut checkpoints: Vec<Checkpoint> = Vec::new();
    let mut temps = Vec::new();
    let mut writing: Vec<u64> = Vec::new();

    for e in &entries {
        if e.name.starts_with(CKPT_TEMP_PREFIX) {
            temps.push(PathBuf::from(&e.name));
            continue;
        }
        if let Some(step) = e.name.strip_prefix("tmp-").and_then(parse_dir_name) {
            temps.push(PathBuf::from(&e.name));
            writing.push(step);
            continue;
        }
        let Some(step) = parse_dir_name(&e.name) else {
            if e.name.starts_with("checkpoint-") && e.is_dir() {
                warnings.push(format!(
                    "{}: no step number transformers reads; listed as unmanaged, never pruned",
                    e.name
                ));
                unmanaged.insert(
                    e.name.clone(),
                    "transformers does not read this name as a checkpoint".into(),
                );
            }
            continue;
        };
        if e.is_symlink() {
            warnings.push(format!(
                "{} is a symlink; not followed (size and delete never follow symlinks)",
                e.name
            ));
            continue;
        }
        if !e.is_dir() {
            warnings.push(format!("{} is not a directory; ignored", e.name));
            continue;
        }
        let (bytes, newest) = common::dir_usage(&run.join(&e.name), 0);
        let mut c = Checkpoint {
            name: e.name.clone(),
            step: Some(step),
            bytes,
            paths: vec![PathBuf::from(&e.name)],
            mtime: newest
                .map(chrono::DateTime::<chrono::Utc>::from)
                .or_else(|| e.meta.as_ref().and_then(common::mtime)),
            inode: e.meta.as_ref().map(common::inode),
            ..Default::default()
        };
        if bytes == 0 {
            c.state = CheckpointState::Damaged;
            c.damage = Some("empty checkpoint directory".into());
        }
        checkpoints.push(c);
    }
    checkpoints.sort_by_key(|c| c.step);
    // Two directories with one step (`checkpoint-007`, `checkpoint-7`): transformers
    // would resume from either; ckpt guesses neither into the ranking.
    let mut by_step: BTreeMap<u64, usize> = BTreeMap::new();
    for c in &checkpoints {
        if let Some(s) = c.step {
            *by_step.entry(s).or_default() += 1;
        }
    }
    checkpoints.retain(|c| {
        let dup = c
            .step
            .is_some_and(|s| by_step.get(&s).copied().unwrap_or(0) > 1);
        if dup {
            warnings.push(format!(
                "{}: another directory has step {}; both listed as unmanaged, never \
                 ranked or pruned (rename one)",
                c.name,
                c.step.unwrap_or(0)
            ));
            unmanaged.insert(
                c.name.clone(),
                format!("same step {} as another directory", c.step.unwrap_or(0)),
            );
        }
        !dup
    });

    // The newest readable trainer_state.json: the highest checkpoint's, or the run's own
    // (written at the end of training) when it is further along. A checkpoint whose own
    // state cannot be read is remembered: unless a newer state gives its metric, its
    // metric is unknown (never "worst").
    let steps: std::collections::BTreeSet<u64> =
        checkpoints.iter().filter_map(|c| c.step).collect();
    let mut state: Option<TrainerState> = None;
    let mut unreadable: BTreeMap<String, String> = BTreeMap::new();
    for c in checkpoints.iter().rev() {
        let p = run.join(&c.name).join("trainer_state.json");
        if state.is_some() {
            // Older states are read only to find the newest readable one.
            break;
        }
        match read_state(&p, &steps) {
            Ok(s) => state = Some(s),
            Err(why) => {
                warnings.push(format!("{}/trainer_state.json: {why}", c.name));
                unreadable.insert(c.name.clone(), format!("trainer_state.json: {why}"));
            }
        }
    }
    if run.join("trainer_state.json").is_file() {
        match read_state(&run.join("trainer_state.json"), &steps) {
            Ok(s) => {
                if state
                    .as_ref()
                    .is_none_or(|cur| s.global_step >= cur.global_step)
                {
                    state = Some(s);
                }
            }
            Err(why) => warnings.push(format!("trainer_state.json: {why}")),
        }
    }
    let state = state.unwrap_or_default();

    for c in &mut checkpoints {
        if let Some(row) = c.step.and_then(|s| state.by_step.get(&s)) {
            c.metrics = row.clone();
        }
    }

    // Metric name and mode: training_args.bin, else the metric equal to best_metric.
    let args = checkpoints
        .iter()
        .rev()
        .find_map(|c| read_args(&run.join(&c.name).join("training_args.bin")));
    let (arg_name, arg_gib, save_total_limit) = match args {
        Some(a) => (
            a.metric_for_best_model,
            a.greater_is_better,
            a.save_total_limit,
        ),
        None => (None, None, None),
    };
    let best_name = state.best_model_checkpoint.as_deref().and_then(|p| {
        Path::new(p)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
    });
    let metric_name = arg_name
        .map(|m| {
            if m.starts_with("eval_") {
                m
            } else {
                format!("eval_{m}")
            }
        })
        .or_else(|| {
            let bm = state.best_metric?;
            let step = best_name.as_deref().and_then(parse_dir_name)?;
            state
                .by_step
                .get(&step)?
                .iter()
                .find(|(k, v)| {
                    k.starts_with("eval_") && (**v - bm).abs() <= 1e-12 * bm.abs().max(1.0)
                })
                .map(|(k, _)| k.clone())
        })
        .or_else(|| state.has_eval_loss.then(|| "eval_loss".to_string()));
    let metric = metric_name.map(|name| MetricSpec {
        mode: match arg_gib.or(state.greater_is_better) {
            Some(true) => Mode::Max,
            Some(false) => Mode::Min,
            None => Mode::infer_from_name(&name),
        },
        name,
    });
    if let Some(m) = &metric {
        for c in &mut checkpoints {
            c.metric = c.metrics.get(&m.name).copied();
            if c.metric.is_some_and(|v| !v.is_finite()) {
                c.metric_raw = c.metric.map(|v| format!("{v}"));
            }
        }
    }

    let best = best_name
        .clone()
        .and_then(|b| {
            if checkpoints.iter().any(|c| c.name == b) {
                Some(b)
            } else {
                warnings.push(format!(
                    "best_model_checkpoint {:?} is not in the run (deleted or stale)",
                    state.best_model_checkpoint.clone().unwrap_or_default()
                ));
                None
            }
        })
        .or_else(|| {
            let s = state.best_global_step?;
            let n = format!("checkpoint-{s}");
            checkpoints.iter().any(|c| c.name == n).then_some(n)
        })
        .map(|target| {
            let mut a = Alias {
                role: Role::Best,
                path: PathBuf::from(&target),
                target: Some(target),
                epoch: None,
                step: None,
                how: AliasHow::Record,
                held: false,
            };
            common::attach_role(&mut checkpoints, &mut a);
            a
        });
    if let (Some(b), Some(bm)) = (&best, state.best_metric) {
        if let Some(c) = checkpoints
            .iter()
            .find(|c| Some(&c.name) == b.target.as_ref())
        {
            if c.metric
                .is_some_and(|m| (m - bm).abs() > 1e-9 * bm.abs().max(1.0))
            {
                warnings.push(format!(
                    "best_metric {bm} differs from {}'s logged metric {}",
                    c.name,
                    c.metric.unwrap_or(f64::NAN)
                ));
            }
        }
    }

    let last = checkpoints
        .iter()
        .max_by_key(|c| c.step)
        .map(|c| c.name.clone())
        .map(|target| {
            let mut a = Alias {
                role: Role::Last,
                path: PathBuf::from(&target),
                target: Some(target),
                epoch: None,
                step: None,
                how: AliasHow::Newest,
                held: false,
            };
            common::attach_role(&mut checkpoints, &mut a);
            a
        });

    // What transformers will really resume from: a symlinked `checkpoint-N` (followed
    // by `os.path.isdir`) or a second name of a higher step wins over the directories
    // listed here; the reported resume point must say so, not name another one.
    let last = match resume_candidates(run).last() {
        Some((name, step))
            if last.as_ref().and_then(|a| {
                a.step
                    .or_else(|| a.target.as_deref().and_then(parse_dir_name))
            }) < Some(*step)
                || last.is_none() =>
        {
            let is_link =
                std::fs::symlink_metadata(run.join(name)).is_ok_and(|m| m.file_type().is_symlink());
            warnings.push(format!(
                "transformers resumes from {name} (step {step}){}, which ckpt does not manage; \
                 `ckpt restore` archives it",
                if is_link { ", a symlink" } else { "" }
            ));
            for c in checkpoints.iter_mut() {
                c.roles.retain(|r| *r != Role::Last);
            }
            Some(Alias {
                role: Role::Last,
                path: PathBuf::from(name),
                target: None,
                epoch: None,
                step: Some(*step),
                how: if is_link {
                    AliasHow::Symlink
                } else {
                    AliasHow::Newest
                },
                held: false,
            })
        }
        _ => last,
    };

    for step in writing {
        if let Some(c) = checkpoints.iter_mut().find(|c| c.step == Some(step)) {
            c.state = CheckpointState::Writing;
        }
    }

    // Unreadable states whose checkpoint still got its metric from a newer state are fine.
    unreadable.retain(|name, _| {
        checkpoints
            .iter()
            .find(|c| &c.name == name)
            .is_some_and(|c| c.metric.is_none())
    });
    let trainer_best = best_name
        .clone()
        .or_else(|| state.best_global_step.map(|s| format!("checkpoint-{s}")))
        .filter(|b| checkpoints.iter().any(|c| &c.name == b));
    // Every evaluation the Trainer logged, saved or not.
    let history = metric.as_ref().map_or_else(Vec::new, |m| {
        let points = state.evals.iter().filter_map(|(&step, row)| {
            Some(MetricPoint {
                epoch: None,
                step: Some(step),
                value: row.get(&m.name).copied().filter(|v| v.is_finite())?,
                at: None,
            })
        });
        common::newest(points.collect())
    });
    Ok(common::finish(
        run,
        Parts {
            layout: LayoutKind::Hf,
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
            // The Trainer keeps its `save_total_limit` newest checkpoints (and the best).
            default_policy: save_total_limit.map(|n| RetentionPolicy {
                keep_last: Some(n),
                ..RetentionPolicy::default()
            }),
        },
    ))
}
