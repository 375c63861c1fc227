//! `verify`: re-hash native checkpoints; zip CRC / safetensors checks for any layout.
//!
//! Reads only: no lock is taken, nothing is written. Every problem is listed with its
//! path and reason; the CLI turns a non-empty `damaged` list into exit code 3.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::foreign::opsfs::{tree_files, with_progress, Report};
use super::*;
use crate::layout::check_file_integrity_report;
use crate::store::lookup::entry_path;
use crate::Result;

impl Run {
    /// Re-hash every checkpoint against the manifest (native), or check zip CRCs /
    /// safetensors headers (any layout).
    pub fn verify(&self, progress: Option<ProgressFn<'_>>) -> Result<VerifyReport> {
        with_progress(progress, |report| match self.layout {
            LayoutKind::Ckpt => self.verify_native(report),
            _ => self.verify_foreign(report),
        })
    }

    fn verify_native(&self, report: Report<'_>) -> Result<VerifyReport> {
        let m = crate::store::load_manifest(&self.dir)?;
        let mut out = VerifyReport {
            run: self.dir.clone(),
            checked: 0,
            bytes: 0,
            ok: vec![],
            damaged: vec![],
            notes: vec![],
        };
        let mut tally = Tally::new(
            m.checkpoints
                .iter()
                .map(|e| entry_path(&self.dir, e))
                .collect::<Result<_>>()?,
        );
        // Hashes by inode: a hardlinked alias is judged on its own bytes (which are the
        // checkpoint's bytes, damaged or not) without reading them twice.
        let mut hashes = Hashes::default();
        // After a crash, a file may hold a hash the interrupted operation allows until
        // the next mutation finishes it: that is not damage.
        let pending = crate::store::pending(&m).ok().flatten();
        // `epoch`: the checkpoint the file stands for; a replace in flight allows the
        // new entry's bytes there too.
        let allowed = |name: &str, epoch: u64| -> Vec<String> {
            let Some(p) = pending.as_ref() else {
                return Vec::new();
            };
            let mut v = p.may_hold.get(name).cloned().unwrap_or_default();
            if let Some(r) = p.replace.as_ref().filter(|r| r.entry.epoch == epoch) {
                v.push(r.entry.hash.clone());
            }
            v
        };
        let note = |name: &str, path: &Path| VerifyIssue {
            name: name.to_string(),
            path: path.to_path_buf(),
            reason: format!(
                "pending {}: holds bytes the interrupted operation allows; \
                 finish with any mutation (the next save, or `ckpt prune`/`pin`)",
                pending
                    .as_ref()
                    .map(|p| p.operation.as_str())
                    .filter(|o| !o.is_empty())
                    .unwrap_or("operation")
            ),
        };
        for e in &m.checkpoints {
            let path = entry_path(&self.dir, e)?;
            // Trash deleted by hand (DESIGN §5): the record is stale, not damage; `ckpt
            // trash empty` drops it.
            if e.is_trashed()
                && matches!(std::fs::symlink_metadata(&path),
                            Err(err) if err.kind() == std::io::ErrorKind::NotFound)
            {
                out.notes.push(VerifyIssue {
                    name: e.path.clone(),
                    path,
                    reason: format!(
                        "in the trash per the manifest but gone (deleted by hand?); not \
                         damage. `ckpt trash empty {}` drops the record",
                        self.dir.display()
                    ),
                });
                continue;
            }
            out.checked += 1;
            let may_hold = allowed(&e.path, e.epoch);
            if !may_hold.is_empty() && !e.is_trashed() {
                if let Ok(md) = std::fs::metadata(&path) {
                    let hash = hashes.get(&path, &md, &mut |p| tally.report(p, report))?;
                    tally.done(&path);
                    if hash != e.hash && may_hold.contains(&hash) {
                        out.bytes += md.len();
                        out.ok.push(e.path.clone());
                        out.notes.push(note(&e.path, &path));
                        continue;
                    }
                }
            }
            let reason = match std::fs::metadata(&path) {
                Err(err) => Some(format!("missing or unreadable: {err}")),
                Ok(md) if md.len() != e.bytes => Some(format!(
                    "size {} bytes, the manifest says {} (truncated or overwritten)",
                    md.len(),
                    e.bytes
                )),
                Ok(md) => {
                    let hash = hashes.get(&path, &md, &mut |p| tally.report(p, report))?;
                    tally.done(&path);
                    out.bytes += e.bytes;
                    if hash != e.hash {
                        Some(format!("content hash {hash} != manifest {}", e.hash))
                    } else {
                        let (damage, unchecked) = check_file_integrity_report(&path);
                        out.notes.extend(unchecked_note(&e.path, &path, &unchecked));
                        damage
                    }
                }
            };
            match reason {
                Some(reason) => out.damaged.push(VerifyIssue {
                    name: e.path.clone(),
                    path,
                    reason,
                }),
                None => out.ok.push(e.path.clone()),
            }
        }
        // Aliases must hold the bytes of the checkpoint the manifest says they hold.
        let aliases = [
            ("last", m.last),
            ("model_best", m.best.as_ref().map(|b| b.epoch)),
        ];
        for (stem, epoch) in aliases {
            let Some(epoch) = epoch else { continue };
            let alias = self.dir.join(format!("{stem}{}", m.ext));
            let Some(e) = m
                .checkpoints
                .iter()
                .rfind(|e| e.epoch == epoch && !e.is_trashed())
            else {
                continue;
            };
            let name = format!("{stem}{}", m.ext);
            let may_hold = allowed(&name, epoch);
            // Judged on the alias's own bytes, never on sharing an inode with the entry:
            // a hardlink to damaged bytes is as damaged as the checkpoint it shares them with.
            let md = std::fs::metadata(&alias);
            if let (false, Ok(md)) = (may_hold.is_empty(), md.as_ref()) {
                let hash = hashes.get(&alias, md, &mut |_: &Progress| {})?;
                if hash != e.hash && may_hold.contains(&hash) {
                    out.checked += 1;
                    out.ok.push(name.clone());
                    out.notes.push(note(&name, &alias));
                    continue;
                }
            }
            let reason = match md {
                Err(err) => Some(format!("alias missing: {err}")),
                Ok(a) if a.len() != e.bytes => Some(format!(
                    "alias has {} bytes, {} has {}",
                    a.len(),
                    e.path,
                    e.bytes
                )),
                Ok(a) => {
                    let hash = hashes.get(&alias, &a, &mut |_: &Progress| {})?;
                    (hash != e.hash).then(|| {
                        format!(
                            "alias does not hold {}: content hash {hash} != manifest {}",
                            e.path, e.hash
                        )
                    })
                }
            };
            out.checked += 1;
            match reason {
                Some(reason) => out.damaged.push(VerifyIssue {
                    name,
                    path: alias,
                    reason,
                }),
                None => out.ok.push(name),
            }
        }
        Ok(out)
    }

    fn verify_foreign(&self, report: Report<'_>) -> Result<VerifyReport> {
        let snap = self.snapshot()?;
        let base = snap.run.clone();
        let mut out = VerifyReport {
            run: base.clone(),
            checked: 0,
            bytes: 0,
            ok: vec![],
            damaged: vec![],
            notes: vec![],
        };
        // Alias files (timm `model_best.pth.tar`, Lightning `last.ckpt`) get their own
        // line even when they are a hardlink listed among a checkpoint's paths: every
        // name that holds damaged bytes is reported, with its path.
        let aliases: Vec<(String, PathBuf)> = [snap.last.as_ref(), snap.best.as_ref()]
            .into_iter()
            .flatten()
            .map(|a| (a.path.to_string_lossy().into_owned(), base.join(&a.path)))
            .filter(|(_, abs)| std::fs::metadata(abs).is_ok_and(|md| md.is_file()))
            .collect();
        let is_alias = |f: &PathBuf| aliases.iter().any(|(_, a)| a == f);
        // Each checkpoint's files (less its alias names, unless an alias is the only copy
        // of its state, as timm's `last.pth.tar` may be), then the alias files.
        let mut units: Vec<(String, Vec<PathBuf>)> = snap
            .checkpoints
            .iter()
            .map(|c| {
                let mut files: Vec<PathBuf> = c
                    .paths
                    .iter()
                    .flat_map(|p| {
                        let abs = base.join(p);
                        let found = tree_files(&abs);
                        if found.is_empty() && !abs.is_dir() {
                            vec![abs]
                        } else {
                            found
                        }
                    })
                    .collect();
                if files.iter().any(|f| !is_alias(f)) {
                    files.retain(|f| !is_alias(f));
                }
                (c.name.clone(), files)
            })
            .collect();
        let mut seen: HashSet<PathBuf> = units.iter().flat_map(|(_, f)| f.clone()).collect();
        for (name, abs) in aliases {
            if seen.insert(abs.clone()) {
                units.push((name, vec![abs]));
            }
        }
        let mut tally = Tally::new(units.iter().flat_map(|(_, f)| f.clone()).collect());
        // Verdicts by inode: the bytes are read once however many names they have.
        let mut verdicts: HashMap<(u64, u64), Option<String>> = HashMap::new();
        // Checkpoint directories recorded when they were made durable (hf adapter).
        let records = crate::store::read::load_state(&base)
            .map(|s| s.files)
            .unwrap_or_default();
        for (name, files) in units {
            out.checked += 1;
            let mut bad = None;
            if let Some(rec) = records.get(&name) {
                bad = super::dir_record::check_record(&base.join(&name), rec)?;
            }
            for f in files.iter().filter(|_| bad.is_none()) {
                tally.report_file(f, report);
                let reason = match std::fs::symlink_metadata(f) {
                    Err(err) => Some(format!("missing or unreadable: {err}")),
                    Ok(md) if md.len() == 0 && is_payload(f) => Some("empty file".to_string()),
                    Ok(_) => match std::fs::metadata(f) {
                        Err(err) => Some(format!("missing or unreadable: {err}")),
                        Ok(fm) => verdicts
                            .entry((fm.dev(), fm.ino()))
                            .or_insert_with(|| {
                                out.bytes += fm.len();
                                let (damage, unchecked) = check_file_integrity_report(f);
                                out.notes.extend(unchecked_note(&name, f, &unchecked));
                                damage
                            })
                            .clone(),
                    },
                };
                tally.done(f);
                if let Some(reason) = reason {
                    bad = Some((f.clone(), reason));
                    break;
                }
            }
            match bad {
                Some((path, reason)) => out.damaged.push(VerifyIssue { name, path, reason }),
                None => out.ok.push(name),
            }
        }
        Ok(out)
    }
}

/// Weights and checkpoint payloads, where zero bytes can only mean damage.
fn is_payload(p: &Path) -> bool {
    let n = p
        .file_name()
        .map(|f| f.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    [
        ".pth.tar",
        ".pth",
        ".pt",
        ".ckpt",
        ".safetensors",
        ".bin",
        ".tar",
    ]
    .iter()
    .any(|ext| n.ends_with(ext))
}

/// Content hashes by (device, inode), so names sharing one inode are each judged on the
/// bytes without hashing them again.
#[derive(Default)]
struct Hashes(HashMap<(u64, u64), String>);

impl Hashes {
    fn get(
        &mut self,
        path: &Path,
        md: &std::fs::Metadata,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<String> {
        let key = (md.dev(), md.ino());
        if let Some(h) = self.0.get(&key) {
            return Ok(h.clone());
        }
        let h = super::hash::content_hash(path, progress)?;
        self.0.insert(key, h.clone());
        Ok(h)
    }
}

/// Progress by bytes over the whole verify, not per file.
struct Tally {
    total: u64,
    finished: u64,
}

impl Tally {
    fn new(files: Vec<PathBuf>) -> Tally {
        let mut seen = HashSet::new();
        let total = files
            .iter()
            .filter(|f| seen.insert((*f).clone()))
            .filter_map(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .sum();
        Tally { total, finished: 0 }
    }

    fn report(&self, p: &Progress, sink: Report<'_>) {
        sink(&Progress {
            what: p.what.clone(),
            done: self.finished + p.done,
            total: self.total.max(self.finished + p.done),
        });
    }

    fn report_file(&self, f: &Path, sink: Report<'_>) {
        sink(&Progress {
            what: format!("verify {}", f.display()),
            done: self.finished,
            total: self.total,
        });
    }

    fn done(&mut self, f: &Path) {
        self.finished += std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
    }
}

/// A note naming the zip members verify could not check (their CRC is unknown).
fn unchecked_note(name: &str, path: &Path, unchecked: &[String]) -> Option<VerifyIssue> {
    (!unchecked.is_empty()).then(|| VerifyIssue {
        name: name.to_string(),
        path: path.to_path_buf(),
        reason: format!(
            "not checked: zip member(s) {} use a compression ckpt cannot inflate (only the \
             content hash vouches for them)",
            unchecked.join(", ")
        ),
    })
}
