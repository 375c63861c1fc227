//! Native (`ckpt`) layout: the manifest is the source of truth, cross-checked with the
//! directory (missing or resized files are damaged, temps show saves in flight).
//! A corrupt manifest is an error; every other oddity becomes a warning.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::rank::Mode;
use crate::snapshot::LayoutKind;
use crate::snapshot::{
    Alias, AliasFiles, AliasHow, Checkpoint, CheckpointState, MetricPoint, Role, RunSnapshot,
};
use crate::store::temp::{find_temps, temp_final_name};
use crate::store::{alias_names, epoch_of_name, is_settled, load_manifest, pending, resolve};
use crate::store::{Entry, Manifest, Pending};
use crate::Result;

fn mtime_of(md: &std::fs::Metadata) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(md.mtime(), md.mtime_nsec().clamp(0, 999_999_999) as u32)
}

fn checkpoint_of(dir: &Path, e: &Entry) -> Checkpoint {
    let rank = e.rank_value();
    let mut c = Checkpoint {
        name: e.path.clone(),
        epoch: Some(e.epoch),
        step: e.step,
        batch: None,
        metric: rank,
        metric_raw: e
            .metric_raw
            .clone()
            .or_else(|| rank.filter(|v| !v.is_finite()).map(|v| v.to_string())),
        metrics: e.metrics.clone(),
        bytes: e.bytes,
        paths: vec![PathBuf::from(&e.path)],
        mtime: None,
        roles: Vec::new(),
        pinned: e.pinned,
        state: CheckpointState::Complete,
        damage: None,
        hash: Some(e.hash.clone()),
        inode: None,
        saved_by: e.saved_by.clone(),
    };
    match resolve(dir, &e.path)
        .map_err(std::io::Error::other)
        .and_then(std::fs::symlink_metadata)
    {
        Ok(md) if md.is_file() => {
            c.mtime = mtime_of(&md);
            c.inode = Some((md.dev(), md.ino()));
            if md.len() != e.bytes {
                c.state = CheckpointState::Damaged;
                c.damage = Some(format!(
                    "{} bytes on disk, the manifest says {}",
                    md.len(),
                    e.bytes
                ));
            }
        }
        Ok(_) => {
            c.state = CheckpointState::Damaged;
            c.damage = Some("not a regular file".into());
        }
        Err(err) => {
            c.state = CheckpointState::Damaged;
            c.damage = Some(if err.kind() == std::io::ErrorKind::NotFound {
                "file is missing".into()
            } else {
                format!("cannot stat: {err}")
            });
        }
    }
    c
}

/// Which epoch an alias file really holds. Normally the manifest's word (`intended`).
/// But a kill between an operation's manifest commit and its alias re-point leaves a
/// pending record saying the alias may still hold older bytes; then the file decides:
/// the checkpoint it is a hardlink of, else the one whose recorded hash its bytes have
/// (hashed only in that interrupted state). So `ls` and the monitor never name a `last`
/// whose bytes `last.pth.tar` does not contain. Reads take no lock, so this is also what
/// a reader sees in the instant between the two steps of a live commit.
fn alias_holds(
    dir: &Path,
    alias: &str,
    intended: Option<u64>,
    m: &Manifest,
    unsettled: Option<&Pending>,
    warnings: &mut Vec<String>,
) -> Option<u64> {
    let Some(p) = unsettled else {
        return intended;
    };
    if p.may_hold.get(alias).is_none_or(|h| h.is_empty()) {
        return intended;
    }
    let Ok(amd) = std::fs::symlink_metadata(dir.join(alias)) else {
        return intended;
    };
    if !amd.is_file() {
        return intended;
    }
    // The intended entry first, so a tie resolves to the manifest's word.
    let mut live: Vec<&Entry> = m.checkpoints.iter().filter(|e| !e.is_trashed()).collect();
    live.sort_by_key(|e| Some(e.epoch) != intended);
    let same_inode = |rel: &str| {
        resolve(dir, rel)
            .ok()
            .and_then(|f| std::fs::symlink_metadata(f).ok())
            .is_some_and(|t| (t.dev(), t.ino()) == (amd.dev(), amd.ino()))
    };
    if let Some(e) = live.iter().find(|e| same_inode(&e.path)) {
        return Some(e.epoch);
    }
    // A file still to be unlinked by the interrupted operation (pruned in its commit).
    if let Some(epoch) = p
        .unlink
        .iter()
        .find(|f| same_inode(f))
        .and_then(|f| epoch_of_name(f, &m.ext))
    {
        return Some(epoch);
    }
    // A copy (no hardlinks on this filesystem): compare content hashes.
    if let Ok((_, hash)) = crate::store::hash::hash_file_with(&dir.join(alias), &mut |_| {}) {
        if let Some(e) = live.iter().find(|e| e.hash == hash) {
            return Some(e.epoch);
        }
        // Bytes of a version since replaced or pruned: the record says whose they were.
        if let Some(&epoch) = p.epochs.get(&hash) {
            return Some(epoch);
        }
    }
    warnings.push(format!(
        "{alias} may still hold older bytes than epoch {} (an interrupted {}); the next mutation re-points it",
        intended.map_or_else(|| "?".to_string(), |e| e.to_string()),
        if p.operation.is_empty() { "operation" } else { &p.operation }
    ));
    intended
}

/// Scan a native run from its manifest, cross-checked against the directory.
pub fn scan(dir: &Path) -> Result<RunSnapshot> {
    let m = load_manifest(dir)?;
    let mut warnings = Vec::new();
    let ext = m.ext.clone();
    let mut checkpoints: Vec<Checkpoint> = m
        .checkpoints
        .iter()
        .filter(|e| !e.is_trashed())
        .map(|e| checkpoint_of(dir, e))
        .collect();
    // What the alias files hold: the manifest's word, unless an interrupted operation
    // left them behind it (then the files decide; see `alias_holds`).
    let unsettled = pending(&m)
        .ok()
        .flatten()
        .filter(|p| !is_settled(dir, &m, p));
    let (last_name, best_name) = alias_names(&ext);
    let last_epoch = alias_holds(
        dir,
        &last_name,
        m.last,
        &m,
        unsettled.as_ref(),
        &mut warnings,
    );
    let best_epoch = alias_holds(
        dir,
        &best_name,
        m.best.as_ref().map(|b| b.epoch),
        &m,
        unsettled.as_ref(),
        &mut warnings,
    );
    for c in checkpoints.iter_mut() {
        if c.epoch.is_some() && c.epoch == best_epoch {
            c.roles.push(Role::Best);
        }
        if c.epoch.is_some() && c.epoch == last_epoch {
            c.roles.push(Role::Last);
        }
        if let Some(d) = &c.damage {
            warnings.push(format!("{}: {d}", c.name));
        }
    }
    // A settled record (files already final, left for the next mutation to drop) is
    // not an interruption: no warning for it.
    if let Some(p) = &unsettled {
        warnings.push(format!(
            "an interrupted {} is recorded; the next mutation finishes it",
            if p.operation.is_empty() {
                "operation"
            } else {
                &p.operation
            }
        ));
    }

    // Temps: a live writer's temp for a final name the manifest lacks is a save in flight.
    let listed: HashSet<String> = checkpoints.iter().map(|c| c.name.clone()).collect();
    let mut temps = Vec::new();
    for t in find_temps(dir) {
        let name = t
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if t.foreign {
            warnings.push(format!("foreign temp file {name} present"));
        } else if !t.writer_alive {
            warnings.push(format!(
                "stale temp {name} (writer pid {} is gone); the next mutation removes it",
                t.pid.unwrap_or(0)
            ));
        } else if let Some(fin) = temp_final_name(&name) {
            if let Some(epoch) = epoch_of_name(fin, &ext) {
                if !listed.contains(fin) {
                    let md = std::fs::symlink_metadata(&t.path).ok();
                    checkpoints.push(Checkpoint {
                        name: fin.to_string(),
                        epoch: Some(epoch),
                        bytes: md.as_ref().map(|m| m.len()).unwrap_or(0),
                        paths: vec![PathBuf::from(&name)],
                        mtime: md.as_ref().and_then(mtime_of),
                        state: CheckpointState::Writing,
                        ..Default::default()
                    });
                }
            }
        }
        temps.push(t.path);
    }

    // Orphans: final checkpoint names on disk the manifest does not list.
    if let Ok(rd) = std::fs::read_dir(dir) {
        let mut orphans: Vec<String> = rd
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| epoch_of_name(n, &ext).is_some() && !listed.contains(n))
            .collect();
        orphans.sort();
        for o in orphans {
            warnings.push(format!(
                "{o} is not in the manifest (left by an interrupted save?); `ckpt doctor` shows it"
            ));
        }
    }

    checkpoints.sort_by_key(|c| (c.epoch.unwrap_or(0), c.step.unwrap_or(0)));

    let make_alias = |role: Role, alias_name: &str, epoch: Option<u64>, held: bool| {
        let target = checkpoints
            .iter()
            .find(|c| c.epoch == epoch && c.state != CheckpointState::Writing);
        let path = PathBuf::from(alias_name);
        let how = match target {
            Some(t) => super::common::alias_how(&dir.join(alias_name), &dir.join(&t.name)),
            None => AliasHow::Unknown,
        };
        Alias {
            role,
            path,
            target: target.map(|t| t.name.clone()),
            epoch,
            step: target.and_then(|t| t.step),
            how,
            held,
        }
    };
    let best = m
        .best
        .as_ref()
        .map(|b| make_alias(Role::Best, &best_name, best_epoch, b.held));
    let last = last_epoch.map(|l| make_alias(Role::Last, &last_name, Some(l), false));
    for a in best.iter().chain(last.iter()) {
        if a.target.is_none() {
            warnings.push(format!(
                "{} points at epoch {} which the manifest does not list",
                a.path.display(),
                a.epoch.unwrap_or(0)
            ));
        } else if std::fs::symlink_metadata(dir.join(&a.path)).is_err() {
            warnings.push(format!("alias {} is missing", a.path.display()));
        } else if std::fs::symlink_metadata(dir.join(&a.path))
            .is_ok_and(|m| !m.is_file() && !m.file_type().is_symlink())
        {
            warnings.push(format!(
                "alias {} is a directory (or other non-file): ckpt leaves it alone and does not update it; move it away",
                a.path.display()
            ));
        }
    }
    if let Some(spec) = &m.metric {
        if spec.mode != Mode::infer_from_name(&spec.name)
            && spec.name.to_lowercase().contains("loss")
        {
            warnings.push(format!(
                "metric {} is ranked {}; losses are usually minimised",
                spec.name,
                spec.mode.as_str()
            ));
        }
    }

    // The save history (pruned saves included), then archived entries it may lack.
    let mut history: Vec<MetricPoint> = m
        .history
        .iter()
        .map(|h| (h.epoch, h.step, h.metric, Some(h.saved_at)))
        .chain(
            m.checkpoints
                .iter()
                .filter(|e| e.path.starts_with("trash/"))
                .map(|e| (e.epoch, e.step, e.metric, Some(e.saved_at))),
        )
        .filter_map(|(epoch, step, metric, at)| {
            Some(MetricPoint {
                epoch: Some(epoch),
                step,
                value: metric.filter(|v| v.is_finite())?,
                at,
            })
        })
        .collect();
    history.sort_by_key(|p| (p.epoch, p.at));

    Ok(RunSnapshot {
        run: std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf()),
        layout: LayoutKind::Ckpt,
        metric: m.metric.clone(),
        checkpoints,
        best,
        last,
        temps,
        warnings,
        scanned_at: chrono::Utc::now(),
        default_policy: None,
        trash_bytes: 0,
        trainer_record: Default::default(),
        history,
        alias_files: AliasFiles {
            best: Some(PathBuf::from(&best_name)),
            last: Some(PathBuf::from(&last_name)),
        },
    })
}
