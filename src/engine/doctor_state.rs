//! Doctor checks of ckpt's own files and the alias files: `.ckpt`
//! that is a symlink or a file, a lock or trash that is not what it should be, missing
//! or wrong aliases, an interrupted operation, bytes in the trash. Each problem ends
//! with the command that fixes it. Looks only (lstat, never follows a symlink).

use super::CheckStatus;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::DoctorCheck;
use crate::layout::trash::kind_of;
use crate::snapshot::LayoutKind;
use crate::store::manifest::Manifest;

fn check(name: &str, status: CheckStatus, detail: String) -> DoctorCheck {
    DoctorCheck {
        name: name.into(),
        status,
        detail,
    }
}

/// True when `RUN/.ckpt` is a real directory (not a symlink, not a file).
pub fn state_dir_ok(run: &Path) -> bool {
    fs::symlink_metadata(run.join(".ckpt")).is_ok_and(|m| m.is_dir())
}

/// `.ckpt` itself, `.ckpt/lock` and `.ckpt/trash`: the type each must be.
pub(crate) fn state_files(run: &Path, layout: LayoutKind) -> Vec<DoctorCheck> {
    let r = run.display();
    let dir = run.join(".ckpt");
    let mut out = Vec::new();
    match fs::symlink_metadata(&dir) {
        Err(_) if layout != LayoutKind::Ckpt => {
            out.push(check(
                "ckpt dir",
                CheckStatus::Ok,
                "none yet (ckpt has not acted on this run)".into(),
            ));
            return out;
        }
        Err(e) => {
            out.push(check(
                "ckpt dir",
                CheckStatus::Fail,
                format!("{}: {e}", dir.display()),
            ));
            return out;
        }
        Ok(md) if md.file_type().is_symlink() => {
            let to = fs::read_link(&dir)
                .map(|t| t.display().to_string())
                .unwrap_or_else(|_| "?".into());
            out.push(check(
                "ckpt dir",
                CheckStatus::Fail,
                format!(
                    "{} is a symlink (to {to}); ckpt never follows it, so no command can change \
                     this run. Fix: `mv {r}/.ckpt {r}/.ckpt.link`, then if {to} holds this run's \
                     state, `cp -a {to} {r}/.ckpt`",
                    dir.display()
                ),
            ));
            return out;
        }
        Ok(md) if !md.is_dir() => {
            out.push(check(
                "ckpt dir",
                CheckStatus::Fail,
                format!(
                    "{} is {}, not ckpt's state directory: the manifest, pins and trash are \
                     unreachable and no command can change this run. Fix: \
                     `mv {r}/.ckpt {r}/.ckpt.bad`, then restore {r}/.ckpt/ from a backup",
                    dir.display(),
                    kind_of(&md)
                ),
            ));
            return out;
        }
        Ok(_) => out.push(check(
            "ckpt dir",
            CheckStatus::Ok,
            dir.display().to_string(),
        )),
    }
    let lock = dir.join("lock");
    match fs::symlink_metadata(&lock) {
        Ok(md) if !md.is_file() => out.push(check(
            "lock file",
            CheckStatus::Fail,
            format!(
                "{} is {}, not a regular file: every mutation refuses to open it. Fix: \
                 `mv {} {}.bad` (ckpt creates a fresh lock)",
                lock.display(),
                kind_of(&md),
                lock.display(),
                lock.display()
            ),
        )),
        _ => {}
    }
    let trash = dir.join("trash");
    if let Ok(md) = fs::symlink_metadata(&trash) {
        if !md.is_dir() {
            out.push(check(
                "trash",
                CheckStatus::Fail,
                format!(
                    "{} is {}, not a directory; ckpt never follows it. Fix: `mv {} {}.bad`",
                    trash.display(),
                    kind_of(&md),
                    trash.display(),
                    trash.display()
                ),
            ));
        }
    }
    out
}

/// Bytes in the trash (and records of trash deleted by hand).
pub(crate) fn trash(run: &Path, layout: LayoutKind, m: Option<&Manifest>) -> Option<DoctorCheck> {
    let l = crate::layout::trash::list(run, layout, m).ok()?;
    let r = run.display();
    let mut notes = Vec::new();
    if !l.missing.is_empty() {
        notes.push(format!(
            "{} manifest record(s) of trash deleted by hand (not damage; `ckpt trash empty {r}` \
             drops them)",
            l.missing.len()
        ));
    }
    if l.entries.is_empty() {
        return Some(if notes.is_empty() {
            check("trash", CheckStatus::Ok, "empty".into())
        } else {
            check("trash", CheckStatus::Warn, notes.join("; "))
        });
    }
    notes.insert(
        0,
        format!(
            "{} in {} entr{} ({} bytes; emptying frees {} bytes): `ckpt trash {r}` lists them, \
             `ckpt trash empty {r}` deletes them",
            crate::units::human_bytes(l.bytes),
            l.entries.len(),
            if l.entries.len() == 1 { "y" } else { "ies" },
            l.bytes,
            l.reclaimable
        ),
    );
    Some(check("trash", CheckStatus::Warn, notes.join("; ")))
}

/// Native aliases against the manifest: present, regular files, holding the entry's
/// bytes (same inode, or same size: `verify` hashes a copy).
pub(crate) fn native_aliases(run: &Path, m: &Manifest) -> Vec<DoctorCheck> {
    let r = run.display();
    let (last_name, best_name) = crate::store::alias_names(&m.ext);
    let live = |epoch: u64| {
        m.checkpoints
            .iter()
            .find(|e| e.epoch == epoch && !e.is_trashed())
    };
    let mut problems = Vec::new();
    let held = m.best.as_ref().is_some_and(|b| b.held);
    for (name, epoch, fix) in [
        (
            &last_name,
            m.last,
            m.last.map(|e| format!("`ckpt restore {r} {e} --yes`")),
        ),
        (
            &best_name,
            m.best.as_ref().map(|b| b.epoch),
            m.best.as_ref().map(|b| {
                if held {
                    format!("`ckpt promote {r} {} --yes`", b.epoch)
                } else {
                    format!(
                        "`ckpt promote {r} {e} --yes && ckpt promote {r} --release`",
                        e = b.epoch
                    )
                }
            }),
        ),
    ] {
        let (Some(epoch), Some(fix)) = (epoch, fix) else {
            continue;
        };
        let Some(entry) = live(epoch) else { continue };
        let alias = run.join(name);
        let Ok(target) = fs::symlink_metadata(run.join(&entry.path)) else {
            continue; // the checkpoint itself is missing: "manifest vs disk" says so
        };
        let why = match fs::symlink_metadata(&alias) {
            Err(_) => Some(format!("{name} is missing (should hold epoch {epoch})")),
            Ok(md) if !md.is_file() => Some(format!(
                "{name} is {}, not a file holding epoch {epoch}",
                kind_of(&md)
            )),
            Ok(md) if (md.dev(), md.ino()) == (target.dev(), target.ino()) => None,
            Ok(md) if md.len() != target.len() => Some(format!(
                "{name} holds {} bytes, epoch {epoch} has {}: it is not that checkpoint",
                md.len(),
                target.len()
            )),
            Ok(_) => None,
        };
        if let Some(why) = why {
            problems.push(format!("{why}. Fix: {fix}"));
        }
    }
    if problems.is_empty() {
        vec![check(
            "aliases",
            CheckStatus::Ok,
            format!("{last_name} and {best_name} hold their checkpoints"),
        )]
    } else {
        vec![check("aliases", CheckStatus::Fail, problems.join("; "))]
    }
}

/// An interrupted operation recorded in the manifest (files may hold older bytes
/// until it is finished), with the no-op mutation that finishes it.
pub fn pending(run: &Path, m: &Manifest) -> Option<DoctorCheck> {
    let p = crate::store::pending(m).ok().flatten()?;
    if crate::store::is_settled(run, m, &p) {
        return None;
    }
    let r = run.display();
    let fix = match m.checkpoints.iter().find(|e| !e.is_trashed() && !e.pinned) {
        Some(e) => format!("`ckpt unpin {r} {}` (changes nothing else)", e.epoch),
        None => match m.checkpoints.iter().find(|e| !e.is_trashed()) {
            Some(e) => format!(
                "`ckpt pin {r} {}` (already pinned: changes nothing else)",
                e.epoch
            ),
            None => format!("the next `ckpt save` into {r}"),
        },
    };
    Some(check(
        "pending",
        CheckStatus::Warn,
        format!(
            "an interrupted {} is recorded: until it is finished some files may hold the \
             bytes it allows. Any mutation finishes it, e.g. {fix}",
            if p.operation.is_empty() {
                "operation"
            } else {
                &p.operation
            }
        ),
    ))
}
