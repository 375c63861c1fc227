//! `doctor`: preflight and health report.
//!
//! Doctor only looks: it takes no lock, deletes nothing (stale temps are listed, not
//! swept), and reports a corrupt manifest as a failed check rather than an error, since
//! it is the command other errors point users to.

use std::fs;
use std::path::{Path, PathBuf};

use super::*;
use crate::store::lookup::entry_path;
use crate::Result;

impl Run {
    /// Preflight and health report.
    pub fn doctor(&self) -> Result<DoctorReport> {
        let mut checks = Vec::new();
        let mut report = DoctorReport {
            run: self.dir.clone(),
            layout: self.layout,
            checks: vec![],
            disk: None,
            watch_mode: DoctorWatchMode::NativeEvents,
            stale_temps: vec![],
        };
        if !self.dir.is_dir() {
            checks.push(fail(
                "run directory",
                format!("{} is not a directory", self.dir.display()),
            ));
            report.checks = checks;
            return Ok(report);
        }
        checks.push(ok("run directory", self.dir.display().to_string()));
        checks.push(write_check(&self.dir));

        // Disk: free space against the next checkpoint, fs type, watch mode.
        let next = self.next_checkpoint_bytes();
        match crate::disk::headroom(&self.dir) {
            Ok(h) => {
                let needed = crate::engine::save::space_needed(next);
                let detail = format!(
                    "{} free of {} on {} ({}); next checkpoint needs ~{}",
                    crate::units::human_bytes(h.available),
                    crate::units::human_bytes(h.total),
                    h.mount.display(),
                    h.fs_type,
                    crate::units::human_bytes(needed)
                );
                checks.push(if h.available >= needed {
                    ok("free space", detail)
                } else {
                    fail(
                        "free space",
                        format!(
                            "{detail}; prune (`ckpt prune {}`) or move the run",
                            self.dir.display()
                        ),
                    )
                });
                report.watch_mode = if crate::disk::is_network_fs(&h.fs_type) {
                    DoctorWatchMode::Polling
                } else {
                    DoctorWatchMode::NativeEvents
                };
                checks.push(ok(
                    "filesystem",
                    format!("{} → watch mode: {}", h.fs_type, report.watch_mode),
                ));
                report.disk = Some(h);
            }
            Err(e) => checks.push(warn("free space", format!("cannot measure: {e}"))),
        }
        checks.push(link_check(&self.dir));
        checks.push(lock_check(&self.dir));

        let temps = crate::store::temp::find_run_temps(&self.dir);
        let (stale, live): (Vec<_>, Vec<_>) = temps
            .into_iter()
            .partition(|t| t.foreign || !t.writer_alive);
        report.stale_temps = stale.into_iter().map(|t| t.path).collect();
        let live: Vec<PathBuf> = live.into_iter().map(|t| t.path).collect();
        checks.push(match (report.stale_temps.is_empty(), live.is_empty()) {
            (true, true) => ok("temp files", "none".to_string()),
            (true, false) => ok(
                "temp files",
                format!("a save is in flight: {}", list(&live)),
            ),
            (false, _) => warn(
                "temp files",
                format!(
                    "{} left behind by writers that are gone or unknown (the next ckpt \
                     mutation removes ckpt's own): {}",
                    report.stale_temps.len(),
                    list(&report.stale_temps)
                ),
            ),
        });

        // ckpt's own files first: when `.ckpt` is not a directory nothing under it can
        // be read, and its fix comes before any other.
        let base = match self.layout {
            LayoutKind::Ckpt => self.dir.clone(),
            _ => self.foreign_base(),
        };
        checks.extend(super::doctor_state::state_files(&base, self.layout));
        let state_ok = super::doctor_state::state_dir_ok(&base);
        match self.layout {
            // The manifest under a `.ckpt` that is not a directory is unreachable: the
            // "ckpt dir" check above says so and how to fix it.
            LayoutKind::Ckpt if !state_ok => {}
            LayoutKind::Ckpt => {
                checks.extend(self.manifest_checks());
                if let Ok(m) = crate::store::load_manifest(&self.dir) {
                    checks.extend(super::doctor_state::native_aliases(&self.dir, &m));
                    checks.extend(super::doctor_state::pending(&self.dir, &m));
                    checks.extend(super::doctor_state::trash(&self.dir, self.layout, Some(&m)));
                }
            }
            _ => {
                let foreign = self.foreign_checks();
                // `.ckpt` that is not a directory: its own check says how to fix it; a
                // "state.json unreadable" line would suggest an impossible `mv`.
                checks.extend(
                    foreign
                        .into_iter()
                        .filter(|c| state_ok || c.name != "ckpt state"),
                );
                if state_ok {
                    checks.extend(super::doctor_state::trash(&base, self.layout, None));
                }
            }
        }
        report.checks = checks;
        Ok(report)
    }

    /// Size the next save will need: the newest checkpoint's, else the largest.
    fn next_checkpoint_bytes(&self) -> u64 {
        if self.layout == LayoutKind::Ckpt {
            if let Ok(m) = crate::store::load_manifest(&self.dir) {
                return m
                    .checkpoints
                    .iter()
                    .filter(|e| !e.is_trashed())
                    .max_by_key(|e| e.epoch)
                    .map(|e| e.bytes)
                    .unwrap_or(0);
            }
            return 0;
        }
        self.snapshot()
            .ok()
            .and_then(|s| s.checkpoints.last().map(|c| c.bytes))
            .unwrap_or(0)
    }

    /// Manifest readable and in step with the files on disk.
    fn manifest_checks(&self) -> Vec<DoctorCheck> {
        let m = match crate::store::load_manifest(&self.dir) {
            Ok(m) => m,
            Err(e) => return vec![fail("manifest", e.to_string())],
        };
        let mut out = vec![ok(
            "manifest",
            format!("{} checkpoints listed", m.checkpoints.len()),
        )];
        let mut drift = Vec::new();
        let mut listed = std::collections::HashSet::new();
        for e in &m.checkpoints {
            listed.insert(e.path.clone());
            match entry_path(&self.dir, e).map(fs::metadata) {
                Ok(Err(_)) | Err(_) => drift.push(format!("{} is listed but missing", e.path)),
                Ok(Ok(md)) if md.len() != e.bytes => drift.push(format!(
                    "{} has {} bytes, manifest says {}",
                    e.path,
                    md.len(),
                    e.bytes
                )),
                Ok(Ok(_)) => {}
            }
        }
        if let Ok(rd) = fs::read_dir(&self.dir) {
            let mut unlisted: Vec<String> = rd
                .flatten()
                .map(|d| d.file_name().to_string_lossy().into_owned())
                .filter(|n| looks_like_checkpoint(n, &m.ext) && !listed.contains(n))
                .collect();
            unlisted.sort();
            drift.extend(
                unlisted
                    .into_iter()
                    .map(|n| format!("{n} is on disk but not in the manifest")),
            );
        }
        out.push(if drift.is_empty() {
            ok("manifest vs disk", "in step".to_string())
        } else {
            warn("manifest vs disk", drift.join("; "))
        });
        // A pending record that does not match the files (crafted, or hand-edited):
        // the next mutation ignores those parts; say which.
        if let Ok(Some(p)) = crate::store::pending(&m) {
            let bad = crate::store::pending_check::pending_mismatches(&self.dir, &m, &p);
            if !bad.is_empty() {
                out.push(warn(
                    "pending record",
                    format!(
                        "the {} record does not match the files: {}",
                        p.operation,
                        bad.join("; ")
                    ),
                ));
            }
        }
        out
    }

    /// Scan health and ckpt's own state for foreign runs.
    fn foreign_checks(&self) -> Vec<DoctorCheck> {
        let mut out = Vec::new();
        let snap = match self.snapshot() {
            Ok(s) => s,
            Err(e) => return vec![fail("scan", e.to_string())],
        };
        out.push(ok(
            "scan",
            format!(
                "{} checkpoints ({})",
                snap.checkpoints.len(),
                self.layout.as_str()
            ),
        ));
        if !snap.warnings.is_empty() {
            out.push(warn("scan warnings", snap.warnings.join("; ")));
        }
        match crate::store::load_state(&snap.run) {
            Err(e) => out.push(fail("ckpt state", e.to_string())),
            Ok(s) => {
                let gone: Vec<&String> = s
                    .pinned
                    .iter()
                    .chain(s.best_held.iter())
                    .filter(|n| snap.find(n).is_none())
                    .collect();
                out.push(if gone.is_empty() {
                    ok("ckpt state", format!("{} pinned", s.pinned.len()))
                } else {
                    warn(
                        "ckpt state",
                        format!(
                            "pins or held best name checkpoints no longer on disk: {}",
                            gone.iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                });
            }
        }
        out
    }
}

/// `checkpoint-<n><ext>` or `recovery-<n>-<m><ext>`: files the native engine writes.
fn looks_like_checkpoint(name: &str, ext: &str) -> bool {
    let Some(stem) = name.strip_suffix(ext) else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(n) = stem.strip_prefix("checkpoint-") {
        return digits(n);
    }
    if let Some(rest) = stem.strip_prefix("recovery-") {
        return rest
            .split_once('-')
            .is_some_and(|(a, b)| digits(a) && digits(b));
    }
    false
}

/// Create and remove a temp file in the run dir: the real test of write access.
fn write_check(dir: &Path) -> DoctorCheck {
    let probe = crate::store::temp::temp_path(dir, &dir.join("doctor-probe"));
    let r = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .and_then(|f| f.sync_all());
    let _ = fs::remove_file(&probe);
    match r {
        Ok(()) => ok("write access", "can create and remove files".into()),
        Err(e) => fail(
            "write access",
            format!("cannot create a file in {}: {e}", dir.display()),
        ),
    }
}

/// Try a hardlink and a reflink (FICLONE) between temp files in the run dir.
fn link_check(dir: &Path) -> DoctorCheck {
    let src = crate::store::temp::temp_path(dir, &dir.join("doctor-link"));
    let hard = crate::store::temp::temp_path(dir, &dir.join("doctor-hard"));
    let clone = crate::store::temp::temp_path(dir, &dir.join("doctor-clone"));
    let result = (|| -> std::io::Result<(bool, bool)> {
        fs::write(&src, b"ckpt doctor link probe\n")?;
        let hardlink = crate::engine::alias::hard_link(&src, &hard).is_ok();
        let reflink = {
            let from = fs::File::open(&src)?;
            let to = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&clone)?;
            rustix::fs::ioctl_ficlone(&to, &from).is_ok()
        };
        Ok((hardlink, reflink))
    })();
    for p in [&src, &hard, &clone] {
        let _ = fs::remove_file(p);
    }
    match result {
        Ok((true, r)) => ok(
            "links",
            format!(
                "hardlink works{}; aliases cost no space",
                if r { ", reflink works" } else { "" }
            ),
        ),
        Ok((false, true)) => ok(
            "links",
            "no hardlinks; reflink works (aliases share blocks)".into(),
        ),
        Ok((false, false)) => warn(
            "links",
            "no hardlink or reflink here: aliases are full copies (more space and time)".into(),
        ),
        Err(e) => fail(
            "links",
            format!("cannot test links in {}: {e}", dir.display()),
        ),
    }
}

/// Who holds `.ckpt/lock` right now, and who held it last (read without waiting).
fn lock_check(dir: &Path) -> DoctorCheck {
    use crate::engine::lock;
    let path = lock::lock_path(dir);
    if !path.exists() {
        return ok("lock", "no lock file (no mutation has run yet)".into());
    }
    match lock::current_holder(dir) {
        Some(h) if h.pid == 0 => warn(
            "lock",
            "held now by a process that did not record itself".into(),
        ),
        Some(h) => warn(
            "lock",
            format!(
                "held now by pid {} ({}) since {}{}",
                h.pid,
                h.operation,
                h.since,
                if crate::store::temp::pid_alive(h.pid) {
                    ""
                } else {
                    " (that pid is gone: another process inherited the lock)"
                }
            ),
        ),
        None => ok("lock", "free".into()),
    }
}

fn ok(name: &str, detail: String) -> DoctorCheck {
    check(name, CheckStatus::Ok, detail)
}

fn warn(name: &str, detail: String) -> DoctorCheck {
    check(name, CheckStatus::Warn, detail)
}

fn fail(name: &str, detail: String) -> DoctorCheck {
    check(name, CheckStatus::Fail, detail)
}

fn check(name: &str, status: CheckStatus, detail: String) -> DoctorCheck {
    DoctorCheck {
        name: name.to_string(),
        status,
        detail,
    }
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_names_the_engine_writes() {
        assert!(looks_like_checkpoint("checkpoint-12.pth.tar", ".pth.tar"));
        assert!(looks_like_checkpoint("recovery-3-100.pt", ".pt"));
        assert!(!looks_like_checkpoint("checkpoint-x.pth.tar", ".pth.tar"));
        assert!(!looks_like_checkpoint("last.pth.tar", ".pth.tar"));
        assert!(!looks_like_checkpoint("checkpoint-1.pt", ".pth.tar"));
    }
}
