//! Confirm dialog: the exact files and bytes an action touches; "No" is focused.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

use std::path::Path;

use super::fmt;
use super::theme::Theme;
use crate::engine::RestorePlan;
use crate::rank::KeepReason;
use crate::rank::RetentionPolicy;
use crate::snapshot::LayoutKind;
use crate::snapshot::{Checkpoint, Role, RunSnapshot};
use crate::tui::app::{Confirm, PendingAction, PruneBasis, PruneProposal};

/// Most file lines listed before "… and N more".
const MAX_FILES: usize = 12;

fn file_line(path: &std::path::Path, bytes: u64) -> Line<'static> {
    Line::from(format!(
        "  {:<44} {:>10}",
        path.display(),
        fmt::bytes(bytes)
    ))
}

/// A path shown relative to the run when it lies inside it (`.ckpt/trash/…`).
fn in_run(run: &Path, p: &Path) -> String {
    p.strip_prefix(run).unwrap_or(p).display().to_string()
}

/// The files of a checkpoint that move when it is archived and their bytes on disk:
/// every file under its paths (an hf step directory holds several), never an alias file
/// (`last.pth.tar`, `model_best.pth.tar`) that merely names it.
fn moving_files(snap: &RunSnapshot, c: &Checkpoint) -> (usize, u64) {
    let aliases: Vec<&Path> = [snap.best.as_ref(), snap.last.as_ref()]
        .into_iter()
        .flatten()
        .map(|a| a.path.as_path())
        .collect();
    let (mut files, mut bytes, mut seen) = (0usize, 0u64, false);
    for p in &c.paths {
        if aliases.contains(&p.as_path()) && c.paths.len() > 1 {
            continue;
        }
        let mut stack = vec![snap.run.join(p)];
        while let Some(q) = stack.pop() {
            match std::fs::symlink_metadata(&q) {
                Ok(m) if m.is_dir() => {
                    if let Ok(rd) = std::fs::read_dir(&q) {
                        stack.extend(rd.flatten().map(|e| e.path()));
                    }
                }
                Ok(m) => {
                    seen = true;
                    files += 1;
                    bytes += m.len();
                }
                Err(_) => {}
            }
        }
    }
    if seen {
        (files, bytes)
    } else {
        // Not on disk (a test's snapshot): the scan's own numbers.
        (1, c.bytes)
    }
}

/// "keep the top 3, the newest 2 and every 5th epoch".
fn policy_words(p: &RetentionPolicy) -> String {
    let mut parts = Vec::new();
    if let Some(k) = p.keep_top_k {
        parts.push(format!("the top {k}"));
    }
    if let Some(n) = p.keep_last {
        parts.push(format!("the newest {n}"));
    }
    if let Some(n) = p.keep_every {
        parts.push(format!("every {n}th epoch"));
    }
    match parts.len() {
        0 => "keep everything".into(),
        1 => format!("keep {}", parts[0]),
        n => format!("keep {} and {}", parts[..n - 1].join(", "), parts[n - 1]),
    }
}

/// Why a checkpoint is kept, in words: "best, #1 of the top 3".
fn keep_words(why: &[KeepReason], p: &RetentionPolicy) -> String {
    let words: Vec<String> = why
        .iter()
        .map(|r| match r {
            KeepReason::Best => "best".into(),
            KeepReason::Last => "last (resume point)".into(),
            KeepReason::Pinned => "pinned".into(),
            KeepReason::TopK(k) => match p.keep_top_k {
                Some(n) => format!("#{k} of the top {n}"),
                None => format!("#{k}"),
            },
            KeepReason::Newest => match p.keep_last {
                Some(n) if n < usize::MAX => format!("among the newest {n}"),
                _ => "newest".into(),
            },
            KeepReason::EveryNth => match p.keep_every {
                Some(n) => format!("every {n}th epoch"),
                None => "every nth epoch".into(),
            },
            KeepReason::Milestone => "milestone".into(),
            KeepReason::TrainerBest => "the trainer's own best".into(),
            KeepReason::MetricUnknown => "metric unreadable (never ranked out)".into(),
            KeepReason::NotManaged => {
                "not the policy's to delete (damaged or being written)".into()
            }
        })
        .collect();
    if words.is_empty() {
        "never pruned".into()
    } else {
        words.join(", ")
    }
}

/// How the bytes get there, in plain words.
fn copy_words(bytes: u64) -> String {
    if bytes == 0 {
        "a link to the same bytes: nothing is copied".into()
    } else {
        format!("copies {} bytes, {}", fmt::exact(bytes), fmt::bytes(bytes))
    }
}

/// "epoch 7" or, for layouts that count steps (hf), "step 20".
fn unit(plan: &RestorePlan, n: u64) -> String {
    if plan.step.is_some() && plan.epoch.is_none() {
        format!("step {n}")
    } else {
        format!("epoch {n}")
    }
}

/// The roles worth knowing before a checkpoint is overwritten or moved: "best",
/// "last", "pinned", "milestone", "held".
fn roles_of(snap: &RunSnapshot, c: &Checkpoint) -> Vec<&'static str> {
    let mut out = Vec::new();
    if c.has_role(Role::Best) {
        let held = snap.best.as_ref().is_some_and(|b| b.held);
        out.push(if held { "best (held)" } else { "best" });
    }
    if c.has_role(Role::Last) {
        out.push("last");
    }
    if c.pinned {
        out.push("pinned");
    }
    if c.has_role(Role::Milestone) {
        out.push("milestone");
    }
    out
}

/// The checkpoint a ranking would call best among `keep` (finite metrics, complete,
/// no recovery saves), by the run's mode.
fn top_of(snap: &RunSnapshot, keep: impl Fn(&Checkpoint) -> bool) -> Option<&Checkpoint> {
    let ranks = snap.ranks();
    snap.checkpoints
        .iter()
        .zip(ranks)
        .filter(|(c, r)| r.is_some() && keep(c))
        .min_by_key(|(_, r)| *r)
        .map(|(c, _)| c)
}

fn named(c: &Checkpoint) -> String {
    match c.finite_metric() {
        Some(v) => format!("{} ({})", c.name, fmt::metric_value(v)),
        None => c.name.clone(),
    }
}

/// What happens to `best` once the trainer resumes from the restored checkpoint, in
/// the words of the run's layout (each trainer treats its best differently).
fn best_after(plan: &RestorePlan, snap: &RunSnapshot) -> Vec<String> {
    let Some(best) = snap.with_role(Role::Best) else {
        return vec!["There is no best yet: the resumed run's saves will choose one.".into()];
    };
    let newer = plan.newer.contains(&best.name);
    let stays = plan.kept_newer.iter().any(|(n, _)| n == &best.name);
    let moves = newer && plan.archive_dir.is_some() && !stays;
    let unit = |n: u64| unit(plan, n);
    let at = plan.epoch.or(plan.step);
    let mut out = Vec::new();
    if moves {
        // An alias file that is not the checkpoint's own name keeps the bytes.
        let alias = snap
            .best
            .as_ref()
            .filter(|a| {
                a.how != crate::snapshot::AliasHow::Record
                    && a.path.as_os_str() != best.name.as_str()
            })
            .filter(|a| {
                snap.run.join(&a.path).is_file() || a.how == crate::snapshot::AliasHow::Hardlink
            })
            .map(|a| a.path.display().to_string());
        out.push(format!(
            "The best checkpoint, {}, moves to the trash (t shows the trash){}",
            named(best),
            match &alias {
                Some(_) => ";",
                None => ".",
            }
        ));
        if let Some(a) = alias {
            out.push(format!("  {a} still holds its bytes."));
        }
    }
    match snap.layout {
        LayoutKind::Ckpt => {
            if moves {
                let moved = |c: &Checkpoint| {
                    plan.newer.contains(&c.name)
                        && !plan.kept_newer.iter().any(|(n, _)| n == &c.name)
                };
                match top_of(snap, |c| !moved(c)) {
                    Some(c) => out.push(format!("Best becomes {}.", named(c))),
                    None => out.push("The run then has no best.".into()),
                }
            } else if newer {
                let e = best.epoch.map(unit).unwrap_or_else(|| best.name.clone());
                out.push(format!(
                    "Best stays {} until the resumed run saves {e} over it;",
                    named(best)
                ));
                out.push("then ckpt ranks again: a better save becomes best.".into());
            } else {
                out.push(format!(
                    "Best stays {}: a better save of the resumed run replaces it.",
                    named(best)
                ));
            }
        }
        LayoutKind::Timm => {
            let alias = snap
                .best
                .as_ref()
                .map(|a| a.path.display().to_string())
                .unwrap_or_else(|| "model_best.pth.tar".into());
            out.push(format!(
                "timm starts a resumed run with no best: its first save rewrites {alias},"
            ));
            out.push(format!(
                "  better or not (today it holds {}{}).",
                best.name,
                best.finite_metric()
                    .map(|v| format!(", {}", fmt::metric_value(v)))
                    .unwrap_or_default()
            ));
        }
        LayoutKind::Lightning => {
            let upto = |c: &Checkpoint| c.epoch.or(c.step) <= at;
            let then = top_of(snap, |c| upto(c) && !plan.newer.contains(&c.name));
            out.push(format!(
                "Lightning restores its best from the checkpoint: back to the best up to {}",
                at.map(unit).unwrap_or_else(|| plan.target.clone())
            ));
            out.push(match then {
                Some(c) => format!(
                    "({}); newer files it no longer tracks stay unless moved.",
                    named(c)
                ),
                None => "; newer files it no longer tracks stay unless moved.".into(),
            });
        }
        LayoutKind::Hf => {
            out.push(format!(
                "The Trainer restores best from {}/trainer_state.json (best as of {}).",
                plan.target,
                at.map(unit).unwrap_or_else(|| plan.target.clone())
            ));
        }
    }
    out
}

/// The newer checkpoints: each with its size and roles, whether they stay or move (with
/// the toggle where the layout offers one), and what the trainer will do to best.
fn newer_lines(plan: &RestorePlan, snap: Option<&RunSnapshot>, lines: &mut Vec<Line<'static>>) {
    let hf = plan.step.is_some() && plan.epoch.is_none()
        || snap.is_some_and(|s| s.layout == LayoutKind::Hf);
    let found: Vec<Option<&Checkpoint>> = plan
        .newer
        .iter()
        .map(|n| snap.and_then(|s| s.checkpoints.iter().find(|c| &c.name == n)))
        .collect();
    let n = plan.newer.len();
    let s = if n == 1 { "" } else { "s" };
    if n > 0 {
        match (&plan.archive_dir, hf) {
            (None, _) => {
                let (verb, them) = if n == 1 {
                    ("stays", "it")
                } else {
                    ("stay", "them")
                };
                lines.push(Line::from(format!(
                    "{n} newer checkpoint{s} {verb}; the resumed trainer saves over {them}:"
                )));
            }
            (Some(dir), true) => {
                let mut files = 0usize;
                let mut bytes = 0u64;
                for c in found.iter().flatten() {
                    if let Some(s) = snap {
                        let (f, b) = moving_files(s, c);
                        files += f;
                        bytes += b;
                    }
                }
                let size = if snap.is_some() && found.iter().all(Option::is_some) {
                    format!(
                        ", {files} files, {} bytes ({})",
                        fmt::exact(bytes),
                        fmt::bytes(bytes)
                    )
                } else {
                    String::new()
                };
                lines.push(Line::from(format!(
                    "{n} newer step folder{s}{size} {} to {}/:",
                    if n == 1 { "moves" } else { "move" },
                    in_run(&plan.run, dir)
                )));
                lines.push(Line::from(
                    "  (the Trainer resumes from the highest step: newer ones cannot stay)",
                ));
            }
            (Some(dir), false) => {
                let bytes: u64 = found
                    .iter()
                    .flatten()
                    .filter_map(|c| snap.map(|s| moving_files(s, c).1))
                    .sum();
                let size = if snap.is_some() && found.iter().all(Option::is_some) {
                    format!(" ({} bytes, {})", fmt::exact(bytes), fmt::bytes(bytes))
                } else {
                    String::new()
                };
                lines.push(Line::from(format!(
                    "{n} newer checkpoint{s}{size} {} to {}/:",
                    if n == 1 { "moves" } else { "move" },
                    in_run(&plan.run, dir)
                )));
            }
        }
    }
    for (name, c) in plan.newer.iter().zip(&found).take(MAX_FILES) {
        let stays = plan.kept_newer.iter().find(|(k, _)| k == name);
        let line = match (c, snap) {
            (Some(c), Some(s)) => {
                let mut roles = roles_of(s, c).join(", ");
                if let (Some(_), Some(_)) = (&plan.archive_dir, stays) {
                    roles = format!(
                        "{roles} — stays: {}",
                        stays.map(|k| k.1.as_str()).unwrap_or("")
                    );
                }
                format!(
                    "  {:<36} {:>10}  {roles}",
                    name,
                    fmt::bytes(moving_files(s, c).1)
                )
            }
            _ => format!("  {name}"),
        };
        lines.push(Line::from(line.trim_end().to_string()));
    }
    if n > MAX_FILES {
        lines.push(Line::from(format!("  … and {} more", n - MAX_FILES)));
    }
    // Newer checkpoints that stay whatever the toggle says (pinned, held best).
    let kept: Vec<String> = plan
        .kept_newer
        .iter()
        .filter(|(k, _)| plan.archive_dir.is_none() || !plan.newer.contains(k))
        .map(|(k, why)| format!("{k} ({why})"))
        .collect();
    if !kept.is_empty() {
        lines.push(Line::from(format!("Stay in place: {}", kept.join(", "))));
    }
    if !plan.kept_newer.is_empty() {
        lines.push(Line::from(
            "  the resumed trainer's save of that epoch is refused while it stays",
        ));
        lines.push(Line::from("  pinned/held: unpin it or release best first"));
    }
    if let Some(s) = snap {
        lines.extend(best_after(plan, s).into_iter().map(Line::from));
    }
    if n > 0 && !hf {
        lines.push(Line::from(match plan.archive_dir {
            None => "[ ] a: archive the newer ones in .ckpt/trash/ first (now: they stay)",
            Some(_) => "[x] a: archive the newer ones in .ckpt/trash/ first (a: let them stay)",
        }));
    }
}

/// The dialog's title and body lines for an action (also used by tests); `snap` is the
/// run's latest scan, for the sizes of checkpoints a plan names only.
pub(crate) fn body(
    action: &PendingAction,
    snap: Option<&RunSnapshot>,
) -> (String, Vec<Line<'static>>) {
    let mut lines = Vec::new();
    let title = match action {
        PendingAction::Promote {
            name,
            epoch,
            step,
            files,
            alias,
            alias_exists,
            previous,
            keeps_only_copy,
        } => {
            let e = match (epoch, step) {
                (Some(e), _) => format!(" (epoch {e})"),
                (None, Some(s)) => format!(" (step {s})"),
                _ => String::new(),
            };
            lines.push(Line::from(format!(
                "Make {name}{e} the best checkpoint, held"
            )));
            lines.push(Line::from(
                "until `ckpt promote --release`; it is also pinned.",
            ));
            lines.push(Line::from(match previous.as_deref() {
                Some(p) if p == name => "It is already best: this holds and pins it.".to_string(),
                Some(p) => format!("Replaces the current best (was {p})."),
                None => "There is no best yet (was none).".to_string(),
            }));
            match alias {
                Some(a) => {
                    let verb = if *alias_exists { "replaced" } else { "created" };
                    lines.push(Line::from(format!("{} is {verb} to hold:", a.display())));
                }
                None => {
                    lines.push(Line::from(
                        "No file is rewritten: best is recorded (and pinned)",
                    ));
                    lines.push(Line::from("in .ckpt/state.json. Best checkpoint:"));
                }
            }
            for (p, b) in files {
                lines.push(file_line(p, *b));
            }
            if let (true, Some(a)) = (keeps_only_copy, alias) {
                lines.push(Line::from(format!(
                    "{} is the only copy of its checkpoint:",
                    a.display()
                )));
                lines.push(Line::from("it is kept in .ckpt/trash/ first."));
            }
            "Promote to best?".to_string()
        }
        PendingAction::Pin { name, pin, files } => {
            if *pin {
                lines.push(Line::from(format!("Pin {name}: it will never be pruned.")));
            } else {
                lines.push(Line::from(format!(
                    "Unpin {name}: the retention policy may prune it."
                )));
            }
            for (p, b) in files {
                lines.push(file_line(p, *b));
            }
            if *pin { "Pin?" } else { "Unpin?" }.to_string()
        }
        PendingAction::Restore(plan) => {
            let e = plan
                .epoch
                .map(|e| format!(" (epoch {e})"))
                .unwrap_or_default();
            let hf = plan.step.is_some() && plan.epoch.is_none();
            let what = match (plan.epoch, plan.step) {
                (None, Some(st)) => format!(" (step {st})"),
                _ => e,
            };
            if plan.export {
                lines.push(Line::from(format!(
                    "Export an independent copy of {}{what} to",
                    plan.target
                )));
                lines.push(Line::from(format!(
                    "  {}  ({}); the run is not changed",
                    plan.dest.display(),
                    copy_words(plan.bytes_to_copy)
                )));
            } else {
                lines.push(Line::from(format!(
                    "Make {}{what} the resume point:",
                    plan.target
                )));
                if plan.dest == plan.run.join(&plan.target) {
                    if hf {
                        // With newer steps, the "Moves …" line below says it all.
                        if plan.newer.is_empty() {
                            lines.push(Line::from(
                                "  it is the highest step: the trainer resumes from it",
                            ));
                        }
                    } else {
                        lines.push(Line::from(format!(
                            "  {} already holds it",
                            in_run(&plan.run, &plan.dest)
                        )));
                    }
                } else {
                    lines.push(Line::from(format!(
                        "  {} will hold it ({})",
                        in_run(&plan.run, &plan.dest),
                        copy_words(plan.bytes_to_copy)
                    )));
                }
            }
            if let Some(b) = &plan.backup {
                let old = plan
                    .backup_epoch
                    .map(|n| format!(" ({})", unit(plan, n)))
                    .unwrap_or_default();
                lines.push(Line::from(format!(
                    "  the old last{old} is the only copy of its state: kept in {}",
                    in_run(&plan.run, b)
                )));
            }
            if !plan.export {
                newer_lines(plan, snap, &mut lines);
            }
            "Restore?".to_string()
        }
        PendingAction::Prune(PruneProposal { plan, basis }) => {
            let n = plan.victims.len();
            match basis {
                PruneBasis::Marked { .. } => lines.push(Line::from(format!(
                    "Delete the {n} marked checkpoint{}:",
                    if n == 1 { "" } else { "s" }
                ))),
                PruneBasis::Policy {
                    source,
                    refused_marks,
                } => {
                    if refused_marks.is_empty() {
                        lines.push(Line::from(
                            "No rows are marked (d marks them), so this applies the run's policy:",
                        ));
                    } else {
                        for (n, why) in refused_marks {
                            lines.push(Line::from(format!(
                                "Nothing is marked: d refused {n} — {why}."
                            )));
                        }
                        lines.push(Line::from("So this applies the run's policy:"));
                    }
                    lines.push(Line::from(format!(
                        "  {} ({source})",
                        policy_words(&plan.policy)
                    )));
                }
            }
            let files: usize = plan.victims.iter().map(|v| v.files.len()).sum();
            lines.push(Line::from(format!(
                "delete {n} checkpoint(s), {files} file(s); frees {} bytes ({}):",
                fmt::exact(plan.bytes_freed),
                fmt::bytes(plan.bytes_freed)
            )));
            let mut shown = 0;
            let all: Vec<_> = plan.victims.iter().flat_map(|v| v.files.iter()).collect();
            for f in &all {
                if shown == MAX_FILES {
                    break;
                }
                // Relative to the run, as `ckpt prune` prints them.
                lines.push(file_line(Path::new(&in_run(&plan.run, &f.path)), f.bytes));
                shown += 1;
            }
            if all.len() > shown {
                let rest: u64 = all[shown..].iter().map(|f| f.bytes).sum();
                lines.push(Line::from(format!(
                    "  … and {} more file(s), {}",
                    all.len() - shown,
                    fmt::bytes(rest)
                )));
            }
            // Every kept checkpoint with its reasons, as `ckpt prune --dry-run` says.
            let kept: Vec<&(String, Vec<KeepReason>)> = match basis {
                PruneBasis::Marked { refused } => refused.iter().collect(),
                PruneBasis::Policy { .. } => plan.kept.iter().collect(),
            };
            if !kept.is_empty() {
                lines.push(Line::from(match basis {
                    PruneBasis::Marked { .. } => "marked but kept:",
                    PruneBasis::Policy { .. } => "kept:",
                }));
                for (name, why) in kept.iter().take(MAX_FILES) {
                    lines.push(Line::from(format!(
                        "  {:<44} {}",
                        name,
                        keep_words(why, &plan.policy)
                    )));
                }
                if kept.len() > MAX_FILES {
                    lines.push(Line::from(format!(
                        "  … and {} more kept",
                        kept.len() - MAX_FILES
                    )));
                }
            }
            if let PruneBasis::Marked { .. } = basis {
                let others = plan.kept.len().saturating_sub(kept.len());
                if others > 0 {
                    lines.push(Line::from(format!("{others} unmarked checkpoint(s) stay.")));
                }
            }
            "Prune?".to_string()
        }
        PendingAction::TrashRestore(p) => {
            let what = match (p.epoch, p.step) {
                (Some(e), _) => format!(" (epoch {e})"),
                (None, Some(st)) => format!(" (step {st})"),
                _ => String::new(),
            };
            lines.push(Line::from(format!(
                "Bring {}{what} back from the trash ({}):",
                p.entry.name,
                p.entry.origin.as_str()
            )));
            lines.push(Line::from(format!(
                "  {:<44} {:>10}",
                format!("→ {}", in_run(&p.run, &p.dest)),
                fmt::bytes(p.bytes)
            )));
            lines.push(Line::from(format!(
                "  {} bytes come back into the run; nothing is copied (a rename)",
                fmt::exact(p.bytes)
            )));
            if p.becomes_best {
                lines.push(Line::from(
                    "It becomes best: its metric beats the current best.",
                ));
            }
            if p.becomes_last {
                lines.push(Line::from("It becomes last (the run has no resume point)."));
            }
            if p.becomes_resume_point {
                lines.push(Line::from(
                    "It is now the highest step: a resumed Trainer starts from it.",
                ));
            }
            if !p.becomes_best && !p.becomes_last && !p.becomes_resume_point {
                lines.push(Line::from(
                    "It comes back as a regular checkpoint: best and last do not change.",
                ));
            }
            "Restore from the trash?".to_string()
        }
        PendingAction::TrashEmpty(p) => {
            let n = p.entries.len();
            lines.push(Line::from(format!(
                "Delete everything in .ckpt/trash/: {n} item{}, {} bytes ({});",
                if n == 1 { "" } else { "s" },
                fmt::exact(p.bytes),
                fmt::bytes(p.bytes)
            )));
            lines.push(Line::from(format!(
                "frees {} bytes ({}) on disk (files also linked elsewhere stay):",
                fmt::exact(p.bytes_freed),
                fmt::bytes(p.bytes_freed)
            )));
            for e in p.entries.iter().take(MAX_FILES) {
                lines.push(Line::from(format!(
                    "  {:<44} {:>10}  {}",
                    e.name,
                    fmt::bytes(e.bytes),
                    e.origin.as_str()
                )));
            }
            if n > MAX_FILES {
                lines.push(Line::from(format!("  … and {} more", n - MAX_FILES)));
            }
            let gone = p.records.len().saturating_sub(n);
            if gone > 0 {
                lines.push(Line::from(format!(
                    "{gone} manifest record(s) of trash files already deleted by hand are dropped."
                )));
            }
            lines.push(Line::from("This cannot be undone."));
            "Empty the trash?".to_string()
        }
        PendingAction::Verify { checkpoints, bytes } => {
            lines.push(Line::from(format!(
                "Re-read {checkpoints} checkpoint(s), {} bytes ({}),",
                fmt::exact(*bytes),
                fmt::bytes(*bytes)
            )));
            lines.push(Line::from(
                "and check them against their hashes / zip CRCs.",
            ));
            lines.push(Line::from("Nothing is changed."));
            "Verify?".to_string()
        }
    };
    (title, lines)
}

/// Rows `line` takes when word-wrapped to `width` columns, measured by wrapping it for
/// real in a scratch buffer (so the dialog is exactly as tall as its text).
fn wrapped_rows(line: &Line<'_>, width: usize) -> usize {
    let n = line.width();
    if n <= width {
        return 1;
    }
    // Word wrapping never needs more than twice the plain division.
    let most = (2 * n.div_ceil(width.max(1)) + 1).min(u16::MAX as usize) as u16;
    let area = Rect::new(0, 0, width as u16, most);
    let mut scratch = Buffer::empty(area);
    Paragraph::new(line.clone())
        .wrap(Wrap { trim: false })
        .render(area, &mut scratch);
    (0..most)
        .rev()
        .find(|&y| (0..area.width).any(|x| scratch[(x, y)].symbol() != " "))
        .map_or(1, |y| y as usize + 1)
}

pub(crate) fn render(
    c: &Confirm,
    snap: Option<&RunSnapshot>,
    area: Rect,
    buf: &mut Buffer,
    theme: Theme,
) {
    let (title, mut lines) = body(&c.action, snap);
    let (no, yes) = if c.yes_focused {
        (theme.title(), theme.selected().patch(theme.warn()))
    } else {
        (theme.selected().patch(theme.title()), theme.title())
    };
    let mut buttons = Line::from(vec![
        Span::raw("        "),
        Span::styled("[ No ]", no),
        Span::raw("    "),
        Span::styled("[ Yes ]", yes),
        Span::styled("    y confirm · n/Esc cancel", theme.dim()),
    ]);
    // Narrow: the buttons alone (the footer names the keys).
    if buttons.width() + 2 > area.width as usize {
        buttons.spans.pop();
        buttons.spans[0] = Span::raw("  ");
    }
    // As wide as the longest line when the screen allows; else long lines (paths)
    // wrap, and the dialog grows taller instead of cutting them.
    let want = lines
        .iter()
        .chain([&buttons])
        .map(|l| l.width())
        .max()
        .unwrap_or(20) as u16
        + 4;
    let w = want.max(40).min(area.width);
    let iw = w.saturating_sub(2).max(1) as usize;
    let rows = |l: &Line| wrapped_rows(l, iw);
    // Never cut the buttons: when the screen is too short, the body's last lines give
    // way (what moves and what is deleted come first), and a line says so.
    let room = (area.height as usize).saturating_sub(2);
    let fixed = 1 + rows(&buttons);
    let cut = lines.iter().map(rows).sum::<usize>() + fixed > room;
    if cut {
        let fixed = rows(&buttons);
        let mut used = 0;
        let keep = lines
            .iter()
            .take_while(|l| {
                used += rows(l);
                used + fixed < room
            })
            .count();
        let more = lines.len() - keep;
        lines.truncate(keep);
        lines.push(Line::from(Span::styled(
            format!("… {more} more lines"),
            theme.dim(),
        )));
    } else {
        lines.push(Line::from(""));
    }
    lines.push(buttons);
    let h = lines.iter().map(rows).sum::<usize>() as u16 + 2;
    let inner = super::popup(area, w, h, &title, buf, theme);
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .render(inner, buf);
}
