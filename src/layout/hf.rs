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
use crate::snapshot::LayoutKind;
use crate::snapshot::{Alias, Checkpoint, CheckpointState, MetricPoint, Role, RunSnapshot};
use crate::store::temp::CKPT_TEMP_PREFIX;
use crate::Result;

/// `checkpoint-<step>` → step.
pub fn parse_dir_name(name: &str) -> Option<u64> {
    name.strip_prefix("checkpoint-")?.parse().ok()
}

/// True when `entries` hold a Trainer checkpoint directory.
pub fn looks_like(entries: &[Entry]) -> bool {
    entries.iter().any(|e| {
        e.is_dir()
            && (parse_dir_name(&e.name).is_some()
                || e.name
                    .strip_prefix("tmp-")
                    .and_then(parse_dir_name)
                    .is_some())
    })
}

/// The parts of `trainer_state.json` we use.
#[derive(Debug, Default)]
struct TrainerState {
    global_step: Option<u64>,
    best_metric: Option<f64>,
    best_model_checkpoint: Option<String>,
    best_global_step: Option<u64>,
    greater_is_better: Option<bool>,
    /// Numeric log values by step (later entries at the same step win).
    by_step: BTreeMap<u64, BTreeMap<String, f64>>,
}

fn read_state(path: &Path) -> std::result::Result<TrainerState, String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read ({e})"))?;
    let j: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| format!("not JSON ({e})"))?;
    if !j.is_object() {
        return Err("not a JSON object".into());
    }
    let mut s = TrainerState {
        global_step: j.get("global_step").and_then(|v| v.as_u64()),
        best_metric: j.get("best_metric").and_then(|v| v.as_f64()),
        best_model_checkpoint: j
            .get("best_model_checkpoint")
            .and_then(|v| v.as_str())
            .map(String::from),
        best_global_step: j.get("best_global_step").and_then(|v| v.as_u64()),
        greater_is_better: j.get("greater_is_better").and_then(|v| v.as_bool()),
        by_step: BTreeMap::new(),
    };
    if let Some(log) = j.get("log_history").and_then(|v| v.as_array()) {
        for rec in log {
            let Some(obj) = rec.as_object() else { continue };
            let Some(step) = obj.get("step").and_then(|v| v.as_u64()) else {
                continue;
            };
            let row = s.by_step.entry(step).or_default();
            for (k, v) in obj {
                let noise = k == "step"
                    || k == "total_flos"
                    || k.ends_with("_runtime")
                    || k.ends_with("_per_second");
                if let (false, Some(x)) = (noise, v.as_f64()) {
                    row.insert(k.clone(), x);
                }
            }
        }
    }
    Ok(s)
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
                warnings.push(format!("{}: no step number; ignored", e.name));
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

    // The newest readable trainer_state.json: the highest checkpoint's, or the run's own
    // (written at the end of training) when it is further along.
    let mut state: Option<TrainerState> = None;
    for c in checkpoints.iter().rev() {
        let p = run.join(&c.name).join("trainer_state.json");
        match read_state(&p) {
            Ok(s) => {
                state = Some(s);
                break;
            }
            Err(why) => warnings.push(format!("{}/trainer_state.json: {why}", c.name)),
        }
    }
    if run.join("trainer_state.json").is_file() {
        match read_state(&run.join("trainer_state.json")) {
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
        .or_else(|| {
            state
                .by_step
                .values()
                .any(|r| r.contains_key("eval_loss"))
                .then(|| "eval_loss".to_string())
        });
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
                how: "record".into(),
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
                how: "newest".into(),
                held: false,
            };
            common::attach_role(&mut checkpoints, &mut a);
            a
        });

    for step in writing {
        if let Some(c) = checkpoints.iter_mut().find(|c| c.step == Some(step)) {
            c.state = CheckpointState::Writing;
        }
    }

    let parts = Parts {
        layout: LayoutKind::Hf,
        metric,
        checkpoints,
        best,
        last,
        temps,
        warnings,
    };
    let mut snap = common::finish(run, parts);
    // Every evaluation the Trainer logged, saved or not.
    if let Some(m) = &snap.metric {
        let points = state.by_step.iter().filter_map(|(&step, row)| {
            Some(MetricPoint {
                epoch: None,
                step: Some(step),
                value: row.get(&m.name).copied().filter(|v| v.is_finite())?,
                at: None,
            })
        });
        snap.history = common::newest(points.collect());
    }
    // The Trainer keeps its `save_total_limit` newest checkpoints (and the best).
    snap.default_policy = save_total_limit.map(|n| RetentionPolicy {
        keep_last: Some(n),
        ..RetentionPolicy::default()
    });
    Ok(snap)
}
