//! The `--json` documents of the CLI, also what the Python package returns: explicit
//! view structs, so the output stays stable whatever the library types become.
//! Documented in the README; keys are never renamed.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Serialize;

use crate::disk::Headroom;
use crate::engine::{DoctorReport, PrunePlan, PruneReport, SaveReport, VerifyReport};
use crate::rank::KeepReason;
use crate::snapshot::{Alias, Checkpoint, CheckpointState, Role, RunSnapshot};

/// Version of every JSON document; bumped only for incompatible changes.
pub const JSON_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
pub struct MetricView {
    pub name: String,
    pub mode: &'static str,
}

#[derive(Debug, Serialize)]
pub struct AliasView {
    pub epoch: Option<u64>,
    pub step: Option<u64>,
    /// Alias file, relative to the run.
    pub path: String,
    /// Checkpoint it resolves to (its `name`), when known.
    pub target: Option<String>,
    /// "hardlink", "symlink", "copy", "reflink" or "unknown".
    pub how: crate::snapshot::AliasHow,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct CheckpointView {
    pub name: String,
    pub epoch: Option<u64>,
    pub step: Option<u64>,
    /// Finite metric value, else null (then `metric_raw` says what it was).
    pub metric: Option<f64>,
    pub metric_raw: Option<String>,
    /// 1-based rank by the run's metric; null when the metric is absent or not finite.
    pub rank: Option<usize>,
    pub metrics: BTreeMap<String, f64>,
    pub bytes: u64,
    pub paths: Vec<String>,
    /// RFC 3339 UTC.
    pub mtime: Option<String>,
    pub roles: Vec<&'static str>,
    pub pinned: bool,
    /// "complete", "writing" or "damaged".
    pub state: &'static str,
    pub damage: Option<String>,
    pub hash: Option<String>,
    /// Who wrote it (native runs): host, pid, ppid, cmd (DESIGN §2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved_by: Option<crate::store::manifest::SavedBy>,
}

#[derive(Debug, Serialize)]
pub struct DiskView {
    pub fs_type: String,
    pub mount: String,
    pub total: u64,
    pub available: u64,
    /// How many more checkpoints of the average size fit; null with no checkpoints.
    pub projected_checkpoints_until_full: Option<u64>,
    /// Bytes `ckpt trash empty` would give back (they count as used until then).
    pub trash_bytes: u64,
}

/// `ckpt ls --json`.
#[derive(Debug, Serialize)]
pub struct LsView {
    pub version: u32,
    pub run: String,
    pub layout: &'static str,
    pub metric: Option<MetricView>,
    pub best: Option<AliasView>,
    pub last: Option<AliasView>,
    pub checkpoints: Vec<CheckpointView>,
    pub total_bytes: u64,
    /// Bytes under `.ckpt/trash/` (each inode once): part of the run, not in `total_bytes`.
    pub trash_bytes: u64,
    /// Files the trainer treats specially (or whose name it would read otherwise than a
    /// guess): path → why. Never ranked, never pruned.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub unmanaged: std::collections::BTreeMap<String, String>,
    pub warnings: Vec<String>,
    pub disk: Option<DiskView>,
}

pub(crate) fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// The run directory as an absolute path when it can be resolved, so every document
/// names the run the same way whatever the caller typed.
pub(crate) fn run_str(p: &Path) -> String {
    path_str(&std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()))
}

pub fn role_str(r: Role) -> &'static str {
    match r {
        Role::Best => "best",
        Role::Last => "last",
        Role::Recovery => "recovery",
        Role::Milestone => "milestone",
    }
}

pub fn state_str(s: &CheckpointState) -> &'static str {
    match s {
        CheckpointState::Complete => "complete",
        CheckpointState::Writing => "writing",
        CheckpointState::Damaged => "damaged",
    }
}

/// Text for a metric that is not a finite number ("nan", "inf", "-inf", or the source text).
pub fn metric_raw(c: &Checkpoint) -> Option<String> {
    match c.metric {
        Some(v) if v.is_finite() => None,
        Some(v) => Some(
            c.metric_raw
                .clone()
                .unwrap_or_else(|| crate::units::non_finite_text(v)),
        ),
        None => c.metric_raw.clone(),
    }
}

/// 1-based rank of each ranked checkpoint (by name): finite metrics only, recovery saves
/// excluded, ties keep the earlier checkpoint ahead (stable sort over epoch order).
/// Damaged and still-writing checkpoints get no rank: prune does not manage them either.
pub fn ranks(snap: &RunSnapshot) -> HashMap<String, usize> {
    snap.checkpoints
        .iter()
        .zip(snap.ranks())
        .filter_map(|(c, r)| r.map(|r| (c.name.clone(), r)))
        .collect()
}

fn alias_view(a: &Alias, with_held: bool) -> AliasView {
    AliasView {
        epoch: a.epoch,
        step: a.step,
        path: path_str(&a.path),
        target: a.target.clone(),
        how: a.how,
        held: with_held.then_some(a.held),
    }
}

/// Average checkpoint size, for the "how many more fit" projection.
pub fn projected_fit(snap: &RunSnapshot, available: u64) -> Option<u64> {
    let sizes: Vec<u64> = snap
        .checkpoints
        .iter()
        .filter(|c| !c.has_role(Role::Recovery) && c.bytes > 0)
        .map(|c| c.bytes)
        .collect();
    if sizes.is_empty() {
        return None;
    }
    let avg = sizes.iter().sum::<u64>() / sizes.len() as u64;
    Some(available / avg.max(1))
}

pub(crate) fn disk_view(snap: &RunSnapshot, h: &Headroom) -> DiskView {
    DiskView {
        fs_type: h.fs_type.clone(),
        mount: path_str(&h.mount),
        total: h.total,
        available: h.available,
        projected_checkpoints_until_full: projected_fit(snap, h.available),
        trash_bytes: snap.trash_bytes,
    }
}

pub(crate) fn checkpoint_view(c: &Checkpoint, rank: Option<usize>) -> CheckpointView {
    CheckpointView {
        name: c.name.clone(),
        epoch: c.epoch,
        step: c.step,
        metric: c.finite_metric(),
        metric_raw: metric_raw(c),
        rank,
        metrics: c.metrics.clone(),
        bytes: c.bytes,
        paths: c.paths.iter().map(|p| path_str(p)).collect(),
        mtime: c
            .mtime
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        roles: c.roles.iter().map(|r| role_str(*r)).collect(),
        pinned: c.pinned,
        state: state_str(&c.state),
        damage: c.damage.clone(),
        hash: c.hash.clone(),
        saved_by: c.saved_by.clone(),
    }
}

pub fn ls_view(snap: &RunSnapshot, disk: Option<&Headroom>) -> LsView {
    let ranks = ranks(snap);
    LsView {
        version: JSON_VERSION,
        run: run_str(&snap.run),
        layout: snap.layout.as_str(),
        metric: snap.metric.as_ref().map(|m| MetricView {
            name: m.name.clone(),
            mode: m.mode.as_str(),
        }),
        best: snap.best.as_ref().map(|a| alias_view(a, true)),
        last: snap.last.as_ref().map(|a| alias_view(a, false)),
        checkpoints: snap
            .checkpoints
            .iter()
            .map(|c| checkpoint_view(c, ranks.get(&c.name).copied()))
            .collect(),
        total_bytes: snap.total_bytes(),
        trash_bytes: snap.trash_bytes,
        unmanaged: snap.trainer_record.unmanaged.clone(),
        warnings: snap.warnings.clone(),
        disk: disk.map(|h| disk_view(snap, h)),
    }
}

#[derive(Debug, Serialize)]
pub struct FileView {
    pub path: String,
    pub bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct VictimView {
    pub name: String,
    pub epoch: Option<u64>,
    pub step: Option<u64>,
    pub files: Vec<FileView>,
    pub bytes_freed: u64,
}

#[derive(Debug, Serialize)]
pub struct KeptView {
    pub name: String,
    /// "best", "last", "pinned", "top_k", "newest", "every_nth", "milestone", "not_managed".
    pub reasons: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct PolicyView {
    pub keep_top_k: Option<usize>,
    pub keep_last: Option<usize>,
    pub keep_every: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct PrunePlanView {
    pub policy: PolicyView,
    pub victims: Vec<VictimView>,
    pub kept: Vec<KeptView>,
    pub bytes_freed: u64,
}

#[derive(Debug, Serialize)]
pub struct RefusedView {
    pub name: String,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct PruneResultView {
    pub removed: Vec<String>,
    pub bytes_freed: u64,
    pub refused: Vec<RefusedView>,
}

/// `ckpt prune --json`: the plan, and the result unless `--dry-run` (then `result` is null).
#[derive(Debug, Serialize)]
pub struct PruneView {
    pub version: u32,
    pub run: String,
    pub dry_run: bool,
    pub plan: PrunePlanView,
    pub result: Option<PruneResultView>,
}

/// The `ckpt prune --json` document of a plan and, unless a dry run, its result.
pub fn prune_view(plan: &PrunePlan, dry_run: bool, result: Option<&PruneReport>) -> PruneView {
    PruneView {
        version: JSON_VERSION,
        run: run_str(&plan.run),
        dry_run,
        plan: prune_plan_view(plan),
        result: result.map(prune_result_view),
    }
}

pub fn keep_reason_str(r: &KeepReason) -> String {
    match r {
        KeepReason::Best => "best".into(),
        KeepReason::Last => "last".into(),
        KeepReason::Pinned => "pinned".into(),
        KeepReason::TopK(k) => format!("top_k:{k}"),
        KeepReason::Newest => "newest".into(),
        KeepReason::EveryNth => "every_nth".into(),
        KeepReason::Milestone => "milestone".into(),
        KeepReason::NotManaged => "not_managed".into(),
        KeepReason::TrainerBest => "trainer_best".into(),
        KeepReason::MetricUnknown => "metric_unknown".into(),
    }
}

/// Victim file paths as the user knows them: relative to the run when inside it.
pub fn rel(run: &Path, p: &Path) -> String {
    path_str(p.strip_prefix(run).unwrap_or(p))
}

pub(crate) fn prune_plan_view(plan: &PrunePlan) -> PrunePlanView {
    PrunePlanView {
        policy: PolicyView {
            keep_top_k: plan.policy.keep_top_k,
            keep_last: plan.policy.keep_last,
            keep_every: plan.policy.keep_every,
        },
        victims: plan
            .victims
            .iter()
            .map(|v| VictimView {
                name: v.name.clone(),
                epoch: v.epoch,
                step: v.step,
                files: v
                    .files
                    .iter()
                    .map(|f| FileView {
                        path: rel(&plan.run, &f.path),
                        bytes: f.bytes,
                    })
                    .collect(),
                bytes_freed: v.bytes_freed,
            })
            .collect(),
        kept: plan
            .kept
            .iter()
            .map(|(name, reasons)| KeptView {
                name: name.clone(),
                reasons: reasons.iter().map(keep_reason_str).collect(),
            })
            .collect(),
        bytes_freed: plan.bytes_freed,
    }
}

pub(crate) fn prune_result_view(r: &PruneReport) -> PruneResultView {
    PruneResultView {
        removed: r.removed.clone(),
        bytes_freed: r.bytes_freed,
        refused: r
            .refused
            .iter()
            .map(|(name, reason)| RefusedView {
                name: name.clone(),
                reason: reason.clone(),
            })
            .collect(),
    }
}

/// One file `verify` has something to say about: damage, or a note on an `ok` one.
#[derive(Debug, Serialize)]
pub struct DamageView {
    pub name: String,
    pub path: String,
    pub reason: String,
}

/// `ckpt verify --json`.
#[derive(Debug, Serialize)]
pub struct VerifyView {
    pub version: u32,
    pub run: String,
    /// "ok" or "damaged" (exit code 3).
    pub status: &'static str,
    pub checked: usize,
    pub bytes: u64,
    pub ok: Vec<String>,
    pub damaged: Vec<DamageView>,
    /// Files counted `ok` that need a word (bytes a pending interrupted operation allows).
    pub notes: Vec<DamageView>,
}

pub fn verify_view(r: &VerifyReport) -> VerifyView {
    VerifyView {
        version: JSON_VERSION,
        run: run_str(&r.run),
        status: if r.damaged.is_empty() {
            "ok"
        } else {
            "damaged"
        },
        checked: r.checked,
        bytes: r.bytes,
        ok: r.ok.clone(),
        damaged: r.damaged.iter().map(|d| issue_view(&r.run, d)).collect(),
        notes: r.notes.iter().map(|d| issue_view(&r.run, d)).collect(),
    }
}

fn issue_view(run: &Path, d: &crate::engine::VerifyIssue) -> DamageView {
    DamageView {
        name: d.name.clone(),
        path: rel(run, &d.path),
        reason: d.reason.clone(),
    }
}

#[derive(Debug, Serialize)]
pub struct CheckView {
    pub name: String,
    pub status: crate::engine::CheckStatus,
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct DoctorDiskView {
    pub fs_type: String,
    pub mount: String,
    pub total: u64,
    pub available: u64,
}

/// `ckpt doctor --json`.
#[derive(Debug, Serialize)]
pub struct DoctorView {
    pub version: u32,
    pub run: String,
    pub layout: &'static str,
    /// The worst check.
    pub status: crate::engine::CheckStatus,
    pub checks: Vec<CheckView>,
    pub disk: Option<DoctorDiskView>,
    pub watch_mode: crate::engine::DoctorWatchMode,
    pub stale_temps: Vec<String>,
}

pub fn doctor_view(r: &DoctorReport) -> DoctorView {
    DoctorView {
        version: JSON_VERSION,
        run: run_str(&r.run),
        layout: r.layout.as_str(),
        status: crate::engine::CheckStatus::worst(&r.checks),
        checks: r
            .checks
            .iter()
            .map(|c| CheckView {
                name: c.name.clone(),
                status: c.status,
                detail: c.detail.clone(),
            })
            .collect(),
        disk: r.disk.as_ref().map(|h| DoctorDiskView {
            fs_type: h.fs_type.clone(),
            mount: path_str(&h.mount),
            total: h.total,
            available: h.available,
        }),
        watch_mode: r.watch_mode,
        stale_temps: r.stale_temps.iter().map(|p| rel(&r.run, p)).collect(),
    }
}

/// `ckpt save --json`.
#[derive(Debug, Serialize)]
pub struct SaveView {
    pub version: u32,
    pub path: String,
    pub bytes: u64,
    pub hash: String,
    pub replaced: bool,
    pub became_best: bool,
    pub pruned: Vec<String>,
    pub bytes_freed: u64,
    #[serde(serialize_with = "crate::engine::alias::serialize_strategy")]
    pub alias_strategy: Option<crate::engine::alias::AliasStrategy>,
    /// What the save did that the caller may not expect: `{kind, message, …}`.
    pub notes: Vec<SaveNoteView>,
}

/// One [`crate::engine::SaveNote`]: its typed fields plus the sentence the CLI prints.
#[derive(Debug, Serialize)]
pub struct SaveNoteView {
    #[serde(flatten)]
    pub note: crate::engine::SaveNote,
    pub message: String,
}

pub fn save_view(r: &SaveReport) -> SaveView {
    SaveView {
        version: JSON_VERSION,
        path: path_str(&r.path),
        bytes: r.bytes,
        hash: r.hash.clone(),
        replaced: r.replaced,
        became_best: r.became_best,
        pruned: r.pruned.iter().map(|p| path_str(p)).collect(),
        bytes_freed: r.bytes_freed,
        alias_strategy: r.alias_strategy,
        notes: r
            .notes
            .iter()
            .map(|n| SaveNoteView {
                note: n.clone(),
                message: n.to_string(),
            })
            .collect(),
    }
}

/// Write a JSON document and a newline (the CLI's `--json` output).
pub fn print_json<T: Serialize>(out: &mut dyn std::io::Write, v: &T) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(v).map_err(std::io::Error::other)?;
    writeln!(out, "{text}")
}
