//! Background threads that touch the disk: the scanner (coalesces scan requests) and
//! the action worker (plans and applies through the engine, with progress messages).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use crate::engine::{EngineOptions, Progress, RestoreOptions, Run};
use crate::rank::KeepReason;
use crate::rank::RetentionPolicy;
use crate::snapshot::LayoutKind;

use super::app::{
    ActionKind, Applied, Msg, PendingAction, PlanRequest, Planned, PruneBasis, PruneProposal,
};
use super::render::fmt;
use super::terminal::CATCHING;

/// Run `f`, turning a panic into an error message (a layout bug must not kill the monitor).
fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    CATCHING.with(|c| c.set(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(false));
    match r {
        Ok(r) => r,
        Err(p) => {
            let text = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(format!("{what} failed unexpectedly: {text}"))
        }
    }
}

/// Start the scanner: send it run paths; it replies with `Msg::Scanned`.
pub(crate) fn spawn_scanner(tx: Sender<Msg>, layout: Option<LayoutKind>) -> Sender<PathBuf> {
    let (req_tx, req_rx) = mpsc::channel::<PathBuf>();
    let _ = std::thread::Builder::new()
        .name("ckpt-scan".into())
        .spawn(move || scan_loop(req_rx, tx, layout));
    req_tx
}

fn scan_loop(rx: Receiver<PathBuf>, tx: Sender<Msg>, layout: Option<LayoutKind>) {
    while let Ok(first) = rx.recv() {
        // Coalesce: everything already queued is served by one scan per run.
        let mut todo = BTreeSet::from([first]);
        while let Ok(more) = rx.try_recv() {
            todo.insert(more);
        }
        for run in todo {
            let msg = scan_one(&run, layout);
            if tx.send(msg).is_err() {
                return;
            }
        }
    }
}

/// Scan one run and measure its filesystem.
pub fn scan_one(run: &Path, layout: Option<LayoutKind>) -> Msg {
    // Deleted or moved away: say so (the monitor keeps the last rows, marked stale).
    if !run.is_dir() {
        return Msg::Gone {
            run: run.to_path_buf(),
            at: chrono::Utc::now(),
        };
    }
    let result = guarded("scan", || {
        crate::layout::scan(run, layout).map_err(|e| match e {
            // Watching a run before its first save is normal: say what we wait for.
            crate::Error::NoRun { .. } => format!("waiting for the first checkpoint: {e}"),
            e => e.to_string(),
        })
    });
    if result.is_err() && !run.is_dir() {
        return Msg::Gone {
            run: run.to_path_buf(),
            at: chrono::Utc::now(),
        };
    }
    let headroom = guarded("disk", || {
        crate::disk::headroom(run).map_err(|e| e.to_string())
    })
    .ok();
    Msg::Scanned {
        run: run.to_path_buf(),
        result,
        headroom,
        at: chrono::Utc::now(),
    }
}

/// Work for the action worker.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per action; boxing buys nothing
pub(crate) enum Job {
    /// List the run's trash.
    ListTrash {
        run: PathBuf,
    },
    Plan {
        run: PathBuf,
        request: PlanRequest,
    },
    Apply {
        run: PathBuf,
        action: PendingAction,
    },
}

/// Start the action worker.
pub(crate) fn spawn_worker(tx: Sender<Msg>, layout: Option<LayoutKind>) -> Sender<Job> {
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let _ = std::thread::Builder::new()
        .name("ckpt-worker".into())
        .spawn(move || {
            while let Ok(job) = job_rx.recv() {
                let msg = match job {
                    Job::ListTrash { run } => {
                        let result = guarded("listing the trash", || {
                            open(&run, layout)?.trash().map_err(|e| e.to_string())
                        });
                        Msg::TrashListed { run, result }
                    }
                    Job::Plan { run, request } => {
                        let result = guarded("planning", || plan(&run, layout, &request));
                        Msg::Planned { run, result }
                    }
                    Job::Apply { run, action } => {
                        let result = guarded("the action", || apply(&run, layout, &action, &tx));
                        Msg::Done { run, result }
                    }
                };
                if tx.send(msg).is_err() {
                    return;
                }
            }
        });
    job_tx
}

fn open(run: &Path, layout: Option<LayoutKind>) -> Result<Run, String> {
    Run::open(run, layout, EngineOptions::default()).map_err(|e| e.to_string())
}

/// What `x` says when the run has no policy to prune by (the CLI's words).
pub const NO_POLICY: &str = "no retention policy for this run: mark rows with d, or prune with --keep-top/--keep-last/--keep-every";

/// Ask the engine for a plan: one to confirm, or why there is nothing to do.
pub fn plan(
    run: &Path,
    layout: Option<LayoutKind>,
    request: &PlanRequest,
) -> Result<Planned, String> {
    let r = open(run, layout)?;
    match request {
        PlanRequest::Restore {
            name,
            archive_newer,
        } => r
            .plan_restore(
                name,
                &RestoreOptions {
                    archive_newer: *archive_newer,
                    ..RestoreOptions::default()
                },
            )
            .map(|p| Planned::Confirm(PendingAction::Restore(p)))
            .map_err(|e| e.to_string()),
        PlanRequest::TrashRestore { name } => r
            .plan_trash_restore(name)
            .map(|p| Planned::Confirm(PendingAction::TrashRestore(p)))
            .map_err(|e| e.to_string()),
        PlanRequest::TrashEmpty => {
            let plan = r.plan_trash_empty(None).map_err(|e| e.to_string())?;
            if plan.entries.is_empty() && plan.records.is_empty() {
                return Ok(Planned::NothingToDo(
                    "nothing to empty: the trash is empty".into(),
                ));
            }
            Ok(Planned::Confirm(PendingAction::TrashEmpty(plan)))
        }
        PlanRequest::Prune { marked } => {
            let (policy, source) = if marked.is_empty() {
                // The CLI's fallback: the manifest's policy (native), else the trainer's
                // own setting (timm checkpoint_hist, hf save_total_limit).
                let (saved, source) = match r.layout {
                    LayoutKind::Ckpt => (
                        crate::store::load_manifest(&r.dir)
                            .map_err(|e| e.to_string())?
                            .policy,
                        "saved in the run's manifest",
                    ),
                    layout => (
                        r.snapshot()
                            .map_err(|e| e.to_string())?
                            .default_policy
                            .unwrap_or_default(),
                        match layout {
                            LayoutKind::Timm => "timm's checkpoint_hist in args.yaml",
                            LayoutKind::Hf => "the Trainer's save_total_limit",
                            _ => "the trainer's own setting",
                        },
                    ),
                };
                if saved == RetentionPolicy::default() {
                    return Ok(Planned::NothingToDo(NO_POLICY.into()));
                }
                (Some(saved), Some(source))
            } else {
                // Only what was marked: a policy that keeps everything else.
                let keep_all = RetentionPolicy {
                    keep_top_k: None,
                    keep_last: Some(usize::MAX),
                    keep_every: None,
                };
                (Some(keep_all), None)
            };
            let mut plan = r.plan_prune(policy, marked).map_err(|e| e.to_string())?;
            let basis = match source {
                Some(source) => {
                    if plan.victims.is_empty() {
                        return Ok(Planned::NothingToDo("nothing to prune: the retention policy keeps every checkpoint (mark rows with d to choose)".into()));
                    }
                    PruneBasis::Policy {
                        source: source.to_string(),
                        refused_marks: Vec::new(),
                    }
                }
                None => {
                    plan.victims.retain(|v| marked.contains(&v.name));
                    plan.bytes_freed = plan.victims.iter().map(|v| v.bytes_freed).sum();
                    let refused: Vec<(String, Vec<KeepReason>)> = plan
                        .kept
                        .iter()
                        .filter(|(n, _)| marked.contains(n))
                        .map(|(n, why)| {
                            // The keep-all policy is ours, not a reason the user needs.
                            let why = why
                                .iter()
                                .filter(|w| **w != KeepReason::Newest)
                                .cloned()
                                .collect();
                            (n.clone(), why)
                        })
                        .collect();
                    if plan.victims.is_empty() {
                        return Ok(Planned::NothingToDo(format!(
                            "nothing to prune: the engine keeps every marked checkpoint ({}) — best, last and pinned are never pruned",
                            marked.join(", ")
                        )));
                    }
                    PruneBasis::Marked { refused }
                }
            };
            Ok(Planned::Confirm(PendingAction::Prune(PruneProposal {
                plan,
                basis,
            })))
        }
    }
}

/// Progress callback that forwards at most ~10 updates a second.
fn throttled(tx: &Sender<Msg>) -> impl FnMut(&Progress) + '_ {
    let mut last = Instant::now() - Duration::from_secs(1);
    move |p: &Progress| {
        if last.elapsed() >= Duration::from_millis(100) || p.done >= p.total {
            last = Instant::now();
            let _ = tx.send(Msg::Progress(p.clone()));
        }
    }
}

/// "; left 1 that changed since the plan: x (why)", or nothing.
fn left_alone(refused: &[(String, String)]) -> String {
    if refused.is_empty() {
        return String::new();
    }
    let list: Vec<String> = refused
        .iter()
        .map(|(n, why)| format!("{n} ({why})"))
        .collect();
    format!(
        "; left {} that changed since the plan: {}",
        refused.len(),
        list.join(", ")
    )
}

/// Apply a confirmed action through the engine: which action it was and the status line.
pub fn apply(
    run: &Path,
    layout: Option<LayoutKind>,
    action: &PendingAction,
    tx: &Sender<Msg>,
) -> Result<Applied, String> {
    let kind = match action {
        PendingAction::Promote { .. } => ActionKind::Promote,
        PendingAction::Pin { .. } => ActionKind::Pin,
        PendingAction::Restore(_) => ActionKind::Restore,
        PendingAction::Prune(_) => ActionKind::Prune,
        PendingAction::TrashRestore(_) => ActionKind::TrashRestore,
        PendingAction::TrashEmpty(_) => ActionKind::TrashEmpty,
        PendingAction::Verify { .. } => ActionKind::Verify,
    };
    apply_text(run, layout, action, tx).map(|text| Applied { action: kind, text })
}

/// The engine call behind [`apply`] and the status line it ends with.
fn apply_text(
    run: &Path,
    layout: Option<LayoutKind>,
    action: &PendingAction,
    tx: &Sender<Msg>,
) -> Result<String, String> {
    let r = open(run, layout)?;
    let err = |e: crate::Error| e.to_string();
    match action {
        PendingAction::Promote { name, .. } => {
            let rep = r.promote(name).map_err(err)?;
            Ok(format!(
                "promoted {} to best (held, pinned){}{}",
                rep.target,
                rep.previous
                    .map(|p| format!("; was {p}"))
                    .unwrap_or_default(),
                rep.backup
                    .map(|_| "; the old best (only copy) is in .ckpt/trash/")
                    .unwrap_or_default()
            ))
        }
        PendingAction::Pin { name, pin, .. } => {
            r.set_pinned(name, *pin).map_err(err)?;
            Ok(format!(
                "{} {name}",
                if *pin { "pinned" } else { "unpinned" }
            ))
        }
        PendingAction::Restore(plan) => {
            let mut cb = throttled(tx);
            r.restore(plan, Some(&mut cb)).map_err(err)?;
            // Paths inside the run are shown relative to it: the status line is short.
            let short = |p: &Path| p.strip_prefix(&plan.run).unwrap_or(p).display().to_string();
            // Short (epoch/step): what follows must fit one status line at 120 columns.
            let what = match (plan.epoch, plan.step) {
                (Some(e), _) => format!("epoch {e}"),
                (None, Some(st)) => format!("step {st}"),
                _ => plan.target.clone(),
            };
            let mut text = format!("restored {what}");
            // Where the old state went comes first: the status line may be cut.
            if let Some(b) = &plan.backup {
                let unit = if plan.step.is_some() && plan.epoch.is_none() {
                    "step"
                } else {
                    "epoch"
                };
                let when = plan
                    .backup_epoch
                    .map(|e| format!("{unit} {e}, "))
                    .unwrap_or_default();
                text.push_str(&format!(
                    "; old last ({when}only copy) kept in {}",
                    short(b)
                ));
            }
            if plan.dest == plan.run.join(&plan.target) {
                text.push_str("; it is now the resume point");
            } else {
                text.push_str(&format!("; {} is now the resume point", short(&plan.dest)));
            }
            if let Some(dir) = &plan.archive_dir {
                let moved = plan.newer.len();
                if moved > 0 {
                    let same = plan.backup.as_ref().and_then(|b| b.parent()) == Some(dir.as_path());
                    if same {
                        text.push_str(&format!("; archived {moved} newer there too"));
                    } else {
                        text.push_str(&format!("; archived {moved} newer to {}/", short(dir)));
                    }
                }
            }
            Ok(text)
        }
        PendingAction::Prune(p) => {
            let rep = r.prune(&p.plan).map_err(err)?;
            let mut text = format!(
                "pruned {} checkpoint(s), freed {}",
                rep.removed.len(),
                fmt::bytes(rep.bytes_freed)
            );
            text.push_str(&left_alone(&rep.refused));
            Ok(text)
        }
        PendingAction::TrashRestore(plan) => {
            let mut cb = throttled(tx);
            let rep = r.trash_restore(plan, Some(&mut cb)).map_err(err)?;
            let mut text = format!(
                "brought {} back from the trash as {} ({})",
                plan.entry.name,
                rep.name,
                fmt::bytes(rep.bytes)
            );
            if rep.became_best {
                text.push_str("; it is best now");
            }
            if rep.became_last {
                text.push_str("; it is the resume point now");
            }
            Ok(text)
        }
        PendingAction::TrashEmpty(plan) => {
            let rep = r.trash_empty(plan).map_err(err)?;
            let mut text = format!(
                "emptied the trash: deleted {} item(s), freed {}",
                rep.removed.len(),
                fmt::bytes(rep.bytes_freed)
            );
            text.push_str(&left_alone(&rep.refused));
            Ok(text)
        }
        PendingAction::Verify { .. } => {
            let mut cb = throttled(tx);
            let rep = r.verify(Some(&mut cb)).map_err(err)?;
            let names: Vec<String> = r
                .snapshot()
                .map(|s| s.checkpoints.into_iter().map(|c| c.name).collect())
                .unwrap_or_default();
            let summary = super::app::verify_summary(&rep, &names);
            let _ = tx.send(Msg::Verified {
                run: run.to_path_buf(),
                report: rep,
            });
            summary
        }
    }
}
