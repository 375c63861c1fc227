//! Role → file names for foreign layouts (timm `model_best.pth.tar`/`last.pth.tar`,
//! Lightning `best.ckpt`/`last.ckpt`, hf: records only) and their protected sets.
//!
//! Actions on a foreign run must use the names its own trainer reads back, so that
//! `train.py --resume last.pth.tar` or Lightning's `ckpt_path="last"` keep working.

pub(crate) mod opsfs;

use std::path::{Path, PathBuf};

use crate::snapshot::LayoutKind;
use crate::snapshot::{Checkpoint, Role, RunSnapshot};

/// Files a layout's trainer or logger owns: never deleted by ckpt, whatever a policy says.
pub(crate) const PROTECTED_NAMES: &[&str] = &[
    "summary.csv",
    "args.yaml",
    "metrics.csv",
    "hparams.yaml",
    "trainer_state.json",
    "config.json",
    "training_args.bin",
];

/// Refuse to write an alias over a file that is a checkpoint of the run (a scanner may
/// report a checkpoint file as a role's holder; rule 9: never overwrite what it names).
pub(crate) fn ensure_alias_name(snap: &RunSnapshot, rel: &Path) -> crate::Result<()> {
    let alias_like = rel.file_name().is_some_and(|f| {
        let f = f.to_string_lossy();
        ["last", "model_best", "best"]
            .iter()
            .any(|s| f.starts_with(s))
    });
    // An alias-named checkpoint (timm's `last.pth.tar` as the only copy of its epoch) is
    // the alias itself; restore keeps it in trash first when it is the only copy.
    let clash = snap
        .checkpoints
        .iter()
        .filter(|_| !alias_like)
        .find(|c| c.paths.first().map(PathBuf::as_path) == Some(rel));
    match clash {
        Some(c) => Err(crate::Error::Protected(format!(
            "{} is checkpoint {} of {}, not an alias file; refusing to overwrite it",
            rel.display(),
            c.name,
            snap.run.display()
        ))),
        None => Ok(()),
    }
}

/// True when checkpoint `c` is a newer training state than `target` (a resumed trainer
/// would overwrite it). Epochs decide when both have one, else steps.
pub(crate) fn is_newer(c: &Checkpoint, target: &Checkpoint) -> bool {
    match (c.epoch, target.epoch) {
        (Some(a), Some(b)) if a != b => a > b,
        (Some(_), Some(_)) => match (c.step, target.step) {
            (Some(a), Some(b)) => a > b,
            _ => false,
        },
        _ => match (c.step, target.step) {
            (Some(a), Some(b)) => a > b,
            _ => false,
        },
    }
}

/// Why ckpt must not delete a path of a run; `None` when it may (it is a checkpoint of
/// the run, not a file its trainer or logger owns, and not a milestone unless named).
pub fn protected_reason(snap: &RunSnapshot, rel: &Path, named: bool) -> Option<String> {
    if rel.is_absolute()
        || rel
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Some("outside the run".into());
    }
    if rel
        .components()
        .next()
        .is_some_and(|c| c.as_os_str() == ".ckpt")
    {
        return Some("ckpt's own state".into());
    }
    let file = rel
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    if PROTECTED_NAMES.contains(&file.as_str()) && snap.layout != LayoutKind::Hf {
        return Some(format!("{file} belongs to the trainer"));
    }
    let aliases = &snap.alias_files;
    if snap.layout != LayoutKind::Ckpt
        && (aliases.best.as_deref() == Some(rel) || aliases.last.as_deref() == Some(rel))
    {
        return Some(format!("{} is an alias file", rel.display()));
    }
    let owner = snap.checkpoints.iter().find(|c| {
        c.paths
            .iter()
            .any(|p| p == rel || (snap.layout == LayoutKind::Hf && rel.starts_with(p)))
    });
    match owner {
        None => Some(format!("{} is not a checkpoint of this run", rel.display())),
        Some(c) if c.has_role(Role::Milestone) && !named => {
            Some(format!("{} is a milestone (name it to prune it)", c.name))
        }
        Some(_) => None,
    }
}

/// True when ckpt may delete `rel` (see [`protected_reason`]).
pub fn may_delete(snap: &RunSnapshot, rel: &Path, named: bool) -> bool {
    protected_reason(snap, rel, named).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Alias;

    fn ck(name: &str, epoch: Option<u64>, step: Option<u64>) -> Checkpoint {
        Checkpoint {
            name: name.into(),
            epoch,
            step,
            paths: vec![PathBuf::from(name)],
            ..Default::default()
        }
    }

    fn snap(layout: LayoutKind, cks: Vec<Checkpoint>) -> RunSnapshot {
        let mut s = RunSnapshot {
            run: PathBuf::from("/nonexistent-run"),
            layout,
            metric: None,
            checkpoints: cks,
            best: None,
            last: None,
            temps: vec![],
            warnings: vec![],
            scanned_at: chrono::Utc::now(),
            default_policy: None,
            trash_bytes: 0,
            trainer_record: Default::default(),
            history: Vec::new(),
            alias_files: Default::default(),
        };
        s.alias_files = crate::layout::foreign_alias_files(&s);
        s
    }

    #[test]
    fn timm_names_follow_the_runs_extension() {
        let s = snap(LayoutKind::Timm, vec![ck("checkpoint-3.pt", Some(3), None)]);
        let a = crate::layout::foreign_alias_files(&s);
        assert_eq!(a.best, Some(PathBuf::from("model_best.pt")));
        assert_eq!(a.last, Some(PathBuf::from("last.pt")));
        let empty = snap(LayoutKind::Timm, vec![]);
        assert_eq!(
            crate::layout::foreign_alias_files(&empty).last,
            Some(PathBuf::from("last.pth.tar"))
        );
    }

    #[test]
    fn lightning_aliases_live_next_to_the_checkpoints() {
        let mut c = ck("epoch=1-step=8.ckpt", Some(1), Some(8));
        c.paths = vec![PathBuf::from("version_0/checkpoints/epoch=1-step=8.ckpt")];
        let mut s = snap(LayoutKind::Lightning, vec![c]);
        let a = crate::layout::foreign_alias_files(&s);
        assert_eq!(
            a.best,
            Some(PathBuf::from("version_0/checkpoints/best.ckpt"))
        );
        assert_eq!(
            a.last,
            Some(PathBuf::from("version_0/checkpoints/last.ckpt"))
        );
        s.last = Some(Alias {
            role: Role::Last,
            path: PathBuf::from("version_0/checkpoints/last-v1.ckpt"),
            target: None,
            epoch: None,
            step: None,
            how: crate::snapshot::AliasHow::Copy,
            held: false,
        });
        assert_eq!(
            crate::layout::foreign_alias_files(&s).last,
            Some(PathBuf::from("version_0/checkpoints/last-v1.ckpt"))
        );
    }

    #[test]
    fn hf_has_no_alias_files() {
        let s = snap(
            LayoutKind::Hf,
            vec![
                ck("checkpoint-20", None, Some(20)),
                ck("checkpoint-40", None, Some(40)),
            ],
        );
        assert_eq!(
            crate::layout::foreign_alias_files(&s),
            crate::snapshot::AliasFiles::default()
        );
    }

    #[test]
    fn newer_compares_epochs_then_steps() {
        let t = ck("a", Some(4), Some(40));
        assert!(is_newer(&ck("b", Some(5), Some(1)), &t));
        assert!(!is_newer(&ck("b", Some(3), Some(99)), &t));
        assert!(is_newer(&ck("b", Some(4), Some(41)), &t));
        assert!(is_newer(&ck("b", None, Some(40)), &ck("a", None, Some(20))));
        assert!(!is_newer(&t, &t));
    }

    #[test]
    fn protected_set_keeps_trainer_files_and_milestones() {
        let mut m = ck("milestone-10.pth.tar", Some(10), None);
        m.roles = vec![Role::Milestone];
        let s = snap(
            LayoutKind::Timm,
            vec![ck("checkpoint-3.pth.tar", Some(3), None), m],
        );
        assert!(may_delete(&s, Path::new("checkpoint-3.pth.tar"), false));
        for p in [
            "summary.csv",
            "args.yaml",
            "last.pth.tar",
            "model_best.pth.tar",
        ] {
            assert!(!may_delete(&s, Path::new(p), true), "{p}");
        }
        assert!(!may_delete(&s, Path::new("notes.txt"), true));
        assert!(!may_delete(&s, Path::new("../checkpoint-3.pth.tar"), true));
        assert!(!may_delete(&s, Path::new(".ckpt/manifest.json"), true));
        assert!(!may_delete(&s, Path::new("milestone-10.pth.tar"), false));
        assert!(may_delete(&s, Path::new("milestone-10.pth.tar"), true));
    }

    #[test]
    fn aliases_are_never_written_over_a_numbered_checkpoint() {
        let s = snap(
            LayoutKind::Timm,
            vec![
                ck("checkpoint-3.pth.tar", Some(3), None),
                ck("last.pth.tar", Some(7), None),
            ],
        );
        assert!(ensure_alias_name(&s, Path::new("checkpoint-3.pth.tar")).is_err());
        assert!(ensure_alias_name(&s, Path::new("last.pth.tar")).is_ok());
        assert!(ensure_alias_name(&s, Path::new("model_best.pth.tar")).is_ok());
    }

    #[test]
    fn hf_files_inside_a_checkpoint_dir_go_with_it() {
        let s = snap(LayoutKind::Hf, vec![ck("checkpoint-20", None, Some(20))]);
        assert!(may_delete(
            &s,
            Path::new("checkpoint-20/trainer_state.json"),
            false
        ));
        assert!(!may_delete(&s, Path::new("runs/events.out"), false));
    }
}
