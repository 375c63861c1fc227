//! timm's own history inside its checkpoints: `CheckpointSaver` pickles its state
//! (`checkpoint_files` with their metrics, `best_epoch`, `best_metric`) into every
//! checkpoint. Read from the newest one only, it fills metrics summary.csv lacks, names
//! the trainer's own best, and is checked against what the directory holds.

use super::*;

/// timm's own history from a checkpoint's `saver` entry (timm ≥ 1.0.31).
#[derive(Debug, Clone, Default)]
pub(super) struct Saver {
    pub(super) files: Vec<(String, Option<f64>)>,
    pub(super) best_epoch: Option<u64>,
    pub(super) best_metric: Option<f64>,
    /// `(epoch, metric)` of the save in progress when this pickle was written: timm
    /// records its history *before* adding the file that holds it.
    pub(super) pending: Option<(u64, Option<f64>)>,
}

pub(super) fn read_saver(v: &Value) -> Option<Saver> {
    let s = v.get("saver")?;
    let mut out = Saver::default();
    if let Some(files) = s.get("checkpoint_files").and_then(Value::as_seq) {
        for f in files {
            let Some(t) = f.as_seq() else { continue };
            let Some(path) = t.first().and_then(Value::as_str) else {
                continue;
            };
            let name = Path::new(path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.to_string());
            out.files.push((name, t.get(1).and_then(Value::as_f64)));
        }
    }
    out.best_epoch = s
        .get("best_epoch")
        .and_then(Value::as_i64)
        .and_then(|e| u64::try_from(e).ok());
    out.best_metric = s.get("best_metric").and_then(Value::as_f64);
    out.pending = s.get("pending").and_then(Value::as_seq).and_then(|t| {
        let ep = t
            .first()
            .and_then(Value::as_i64)
            .and_then(|e| u64::try_from(e).ok())?;
        Some((ep, t.get(1).and_then(Value::as_f64)))
    });
    Some(out)
}

/// The history as timm holds it once the pending save is done: the pending file joins
/// the ranked list (best first, at most `hist` long) and may become best (timm's
/// `CheckpointSaver.save_checkpoint`).
pub(super) fn settle(mut s: Saver, mode: Mode, hist: Option<usize>, ext: &str) -> Saver {
    let Some((ep, Some(m))) = s.pending.take() else {
        return s;
    };
    if !m.is_finite() {
        return s;
    }
    let better = |a: f64, b: f64| strictly_better(a, b, mode);
    let worst = s.files.last().and_then(|f| f.1);
    let room = hist.is_none_or(|h| s.files.len() < h);
    let name = format!("checkpoint-{ep}{ext}");
    if (room || worst.is_none_or(|w| better(m, w))) && !s.files.iter().any(|f| f.0 == name) {
        s.files.push((name, Some(m)));
        s.files.sort_by(|a, b| {
            let (x, y) = (a.1.unwrap_or(f64::NAN), b.1.unwrap_or(f64::NAN));
            if better(x, y) {
                std::cmp::Ordering::Less
            } else if better(y, x) {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        });
        if let Some(h) = hist {
            s.files.truncate(h.max(1));
        }
    }
    if s.best_metric.is_none_or(|b| better(m, b)) {
        s.best_epoch = Some(ep);
        s.best_metric = Some(m);
    }
    s
}

/// Compare timm's own history (the `saver` entry of `last`) with the files on disk.
pub(super) fn check_saver(
    saver: &Saver,
    checkpoints: &[Checkpoint],
    best: Option<&Alias>,
    warnings: &mut Vec<String>,
) {
    for (file, m) in &saver.files {
        match checkpoints.iter().find(|c| &c.name == file) {
            None => warnings.push(format!("timm's history lists {file}, which is not on disk")),
            Some(c) => {
                if let (Some(a), Some(b)) = (m, c.metric) {
                    let same = (a.is_nan() && b.is_nan())
                        || a == &b
                        || (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0);
                    if !same {
                        warnings.push(format!(
                            "timm's history gives {file} metric {a}, summary.csv says {b}"
                        ));
                    }
                }
            }
        }
    }
    if !saver.files.is_empty() {
        for c in checkpoints {
            let regular = !c.has_role(Role::Recovery)
                && !c.has_role(Role::Milestone)
                && c.name.starts_with("checkpoint-");
            if regular && !saver.files.iter().any(|(f, _)| f == &c.name) {
                warnings.push(format!(
                    "{} is not in timm's checkpoint history (timm will not rotate it out)",
                    c.name
                ));
            }
        }
    }
    if let (Some(be), Some(b)) = (saver.best_epoch, best) {
        if b.epoch.is_some_and(|e| e != be) && !b.held {
            warnings.push(format!(
                "timm's history says best is epoch {be}, {} holds epoch {}",
                b.path.display(),
                b.epoch.unwrap_or_default()
            ));
        }
    }
}
