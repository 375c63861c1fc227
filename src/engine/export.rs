//! `restore --to`: export an independent copy of a checkpoint outside the run. It reads
//! the run and writes only the destination (temp next to it, fsync, rename, directory
//! fsync); it takes no lock and never replaces anything but a same-kind file of the
//! checkpoint's own name, and only with `force`.

use std::fs;
use std::path::{Path, PathBuf};

use super::foreign::opsfs::{export, Report};
use super::promote::refuse;
use super::restore::{primary_path, usable};
use super::*;
use crate::store::lookup::{damage, entry_path, find_entry};
use crate::{Error, Result};

impl Run {
    /// Apply an export plan: read the run, write only outside it.
    pub(super) fn restore_export(&self, plan: &RestorePlan, report: Report<'_>) -> Result<()> {
        let (src, run) = match self.layout {
            LayoutKind::Ckpt => {
                let m = crate::store::load_manifest(&self.dir)?;
                let i = find_entry(&self.dir, &m, &plan.target)?;
                if let Some(why) = damage(&self.dir, &m.checkpoints[i]) {
                    return Err(refuse(&plan.target, &why));
                }
                (entry_path(&self.dir, &m.checkpoints[i])?, self.dir.clone())
            }
            _ => {
                let snap = self.snapshot()?;
                let base = snap.run.clone();
                let c = usable(&snap, &plan.target, &base)?;
                let primary = primary_path(c);
                (base.join(primary), base)
            }
        };
        check_export_dest(&run, &src, &plan.dest, plan.force)?;
        export(&src, &plan.dest, plan.force, report)?;
        Ok(())
    }
}

/// An export plan; `to` that is an existing directory receives `to/<checkpoint name>`
/// (like `cp`), so a user's directory is never replaced.
pub(super) fn export_plan(
    run: &Path,
    src: &Path,
    target: &str,
    to: &Path,
    bytes: u64,
    force: bool,
) -> Result<RestorePlan> {
    let dest = export_dest(src, to);
    check_export_dest(run, src, &dest, force)?;
    Ok(RestorePlan {
        run: run.to_path_buf(),
        target: target.to_string(),
        epoch: None,
        dest,
        backup: None,
        newer: vec![],
        archive_dir: None,
        bytes_to_copy: bytes,
        export: true,
        force,
        kept_newer: vec![],
        step: None,
        backup_epoch: None,
    })
}

/// Where an export of `src` to `to` lands: `to`, or `to/<name>` when `to` is a directory.
pub(crate) fn export_dest(src: &Path, to: &Path) -> PathBuf {
    match src.file_name() {
        Some(name) if to.is_dir() => to.join(name),
        _ => to.to_path_buf(),
    }
}

/// Refuse an export destination inside the run (it could overwrite a checkpoint, an
/// alias or `.ckpt/`), an existing one without `force`, and with `force` anything but a
/// file (for a file checkpoint) or a directory (for a directory checkpoint) of that name.
fn check_export_dest(run: &Path, src: &Path, dest: &Path, force: bool) -> Result<()> {
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let (Ok(p), Ok(r)) = (fs::canonicalize(parent), fs::canonicalize(run)) {
        if p.starts_with(&r) {
            return Err(Error::Protected(format!(
                "refusing to export to {}: it is inside the run {} (its checkpoints, aliases \
                 and .ckpt/ live there); pick a path outside the run",
                dest.display(),
                run.display()
            )));
        }
    }
    let Ok(dm) = fs::symlink_metadata(dest) else {
        return Ok(());
    };
    if !force {
        return Err(Error::Exists {
            path: dest.to_path_buf(),
        });
    }
    let src_dir = fs::metadata(src).is_ok_and(|m| m.is_dir());
    if dm.is_dir() != src_dir {
        let (is, want) = if dm.is_dir() {
            ("a directory", "file")
        } else {
            ("not a directory", "directory")
        };
        return Err(Error::Protected(format!(
            "refusing to overwrite {}: it is {is}, and --force only replaces a {want} \
             of the checkpoint's own name; pick another path",
            dest.display()
        )));
    }
    Ok(())
}
