//! Helpers every foreign layout scanner shares: listing a directory without following
//! symlinks, resolving a symlink only inside the run, tiny YAML/CSV readers, ckpt's own
//! `.ckpt/state.json`, and assembling the final [`RunSnapshot`].

use std::collections::BTreeMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use crate::rank::{MetricSpec, RetentionPolicy};
use crate::snapshot::AliasHow;
use crate::snapshot::{
    Alias, Checkpoint, CheckpointState, MetricPoint, Role, RunSnapshot, MAX_HISTORY_POINTS,
};
use crate::snapshot::{LayoutKind, TrainerRecord};
use crate::store::ForeignState;
use crate::{Error, Result};

/// One directory entry. Its type comes from the directory listing itself (`d_type`),
/// its metadata from `lstat` when asked for (symlinks are never followed).
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub name: String,
    pub ftype: std::fs::FileType,
    /// `lstat` of the entry; `None` from [`list_types`].
    pub meta: Option<Metadata>,
}

impl Entry {
    pub(crate) fn is_file(&self) -> bool {
        self.ftype.is_file()
    }
    pub(crate) fn is_dir(&self) -> bool {
        self.ftype.is_dir()
    }
    pub(crate) fn is_symlink(&self) -> bool {
        self.ftype.is_symlink()
    }
}

fn list(dir: &Path, with_meta: bool) -> Result<Vec<Entry>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io("read directory", dir, e))?;
    let mut out = Vec::new();
    for ent in rd {
        let Ok(ent) = ent else { continue };
        let Ok(ftype) = ent.file_type() else { continue };
        // DirEntry::metadata does not traverse symlinks on Unix.
        let meta = if with_meta {
            match ent.metadata() {
                Ok(m) => Some(m),
                Err(_) => continue,
            }
        } else {
            None
        };
        let name = ent.file_name().to_string_lossy().into_owned();
        out.push(Entry { name, ftype, meta });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// List `dir` with one `lstat` per entry, sorted by name.
pub(crate) fn list_dir(dir: &Path) -> Result<Vec<Entry>> {
    list(dir, true)
}

/// List `dir` names and types only (no `stat`): enough to detect a layout cheaply.
pub(crate) fn list_types(dir: &Path) -> Result<Vec<Entry>> {
    list(dir, false)
}

pub(crate) fn mtime(meta: &Metadata) -> Option<chrono::DateTime<chrono::Utc>> {
    meta.modified()
        .ok()
        .map(chrono::DateTime::<chrono::Utc>::from)
}

pub(crate) fn inode(meta: &Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

/// Remove `.` and `..` lexically; `None` when `..` climbs above the start.
fn normalize(p: &Path) -> Option<PathBuf> {
    let mut out: Vec<Component> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                _ => return None,
            },
            other => out.push(other),
        }
    }
    Some(out.iter().collect())
}

/// Follow the symlink `rel` (relative to `run`) hop by hop, never leaving the run.
/// Returns the relative path of the final non-symlink entry and its metadata.
pub(crate) fn resolve_in_run(
    run: &Path,
    rel: &Path,
) -> std::result::Result<(PathBuf, Metadata), String> {
    let mut cur = rel.to_path_buf();
    for _ in 0..16 {
        let full = run.join(&cur);
        let meta = std::fs::symlink_metadata(&full)
            .map_err(|e| format!("{} is a dangling symlink ({e})", rel.display()))?;
        if !meta.file_type().is_symlink() {
            // A directory symlink in the middle of the path could still lead out.
            let canon_run = run.canonicalize().unwrap_or_else(|_| run.to_path_buf());
            let inside = full.canonicalize().is_ok_and(|c| c.starts_with(&canon_run));
            return if inside {
                Ok((cur, meta))
            } else {
                Err(outside(rel))
            };
        }
        let target = std::fs::read_link(&full)
            .map_err(|e| format!("cannot read link {}: {e}", rel.display()))?;
        if target.is_absolute() {
            // Accept an absolute target only when it points inside the run.
            let canon_run = run.canonicalize().unwrap_or_else(|_| run.to_path_buf());
            let norm = normalize(&target).ok_or_else(|| outside(rel))?;
            cur = norm
                .strip_prefix(&canon_run)
                .or_else(|_| norm.strip_prefix(run))
                .map_err(|_| outside(rel))?
                .to_path_buf();
        } else {
            let parent = cur.parent().map(Path::to_path_buf).unwrap_or_default();
            cur = normalize(&parent.join(&target)).ok_or_else(|| outside(rel))?;
        }
        if cur.as_os_str().is_empty() {
            return Err(outside(rel));
        }
    }
    Err(format!("{} is a symlink loop", rel.display()))
}

fn outside(rel: &Path) -> String {
    format!(
        "{} is a symlink pointing outside the run; ignored",
        rel.display()
    )
}

/// Top-level `key: value` pairs of a YAML file (the subset timm's args.yaml and
/// Lightning's hparams.yaml use for scalars); nested blocks and lists are skipped.
pub(crate) fn parse_yaml_scalars(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with([' ', '\t', '-', '#']) || line.trim().is_empty() {
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.split(" #").next().unwrap_or("").trim();
        let v = v
            .strip_prefix('\'')
            .and_then(|s| s.strip_suffix('\''))
            .or_else(|| v.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
            .unwrap_or(v);
        out.insert(k.trim().to_string(), v.to_string());
    }
    out
}

/// A metric cell: `(value, raw)`; raw is kept when the text is not a finite number.
pub(crate) fn parse_metric_cell(s: &str) -> (Option<f64>, Option<String>) {
    let t = s.trim();
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() => (Some(v), None),
        Ok(v) => (Some(v), Some(t.to_string())),
        Err(_) => (None, Some(t.to_string())),
    }
}

/// Per-row metrics of a CSV log (`summary.csv`, `metrics.csv`), keyed by the integer in
/// `key_col`; later rows win. Bad cells become warnings, never errors.
pub(crate) struct CsvTable {
    pub rows: BTreeMap<u64, BTreeMap<String, f64>>,
    /// Cells that were not finite numbers, by (key, column).
    pub raw: BTreeMap<(u64, String), String>,
    pub columns: Vec<String>,
}

/// Most bytes ckpt reads from a trainer's text file (`summary.csv`, `metrics.csv`,
/// `args.yaml`): far above a real one, small enough that parsing a hostile one stays
/// cheap. A larger file is not read, and the scan says so.
pub const MAX_TRAINER_FILE: u64 = 16 << 20;

/// Read a trainer's text file of at most [`MAX_TRAINER_FILE`] bytes; a larger one is an
/// error that says so (nothing is read).
pub(crate) fn read_capped(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    let md = f.metadata()?;
    if !md.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    if md.len() > MAX_TRAINER_FILE {
        return Err(std::io::Error::other(format!(
            "{} bytes, more than the {} MiB ckpt reads from such a file; not read",
            md.len(),
            MAX_TRAINER_FILE >> 20
        )));
    }
    let mut out = Vec::with_capacity(md.len() as usize);
    // `take` also bounds a file that grows while it is read.
    f.take(MAX_TRAINER_FILE).read_to_end(&mut out)?;
    Ok(out)
}

pub(crate) fn read_csv(path: &Path, key_col: &str, warnings: &mut Vec<String>) -> Option<CsvTable> {
    let file_name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let text = match read_capped(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            warnings.push(format!("{file_name}: cannot read ({e}); metrics unknown"));
            return None;
        }
    };
    if text.iter().all(|b| b.is_ascii_whitespace()) {
        warnings.push(format!("{file_name} is empty; metrics unknown"));
        return None;
    }
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_slice());
    let columns: Vec<String> = match rdr.headers() {
        Ok(h) => h.iter().map(|s| s.trim().to_string()).collect(),
        Err(e) => {
            warnings.push(format!("{file_name}: unreadable header ({e})"));
            return None;
        }
    };
    let Some(key_idx) = columns.iter().position(|c| c == key_col) else {
        warnings.push(format!(
            "{file_name} has no {key_col:?} column; metrics unknown"
        ));
        return None;
    };
    let mut table = CsvTable {
        rows: BTreeMap::new(),
        raw: BTreeMap::new(),
        columns: columns.clone(),
    };
    let mut bad = 0usize;
    for (i, rec) in rdr.records().enumerate() {
        let Ok(rec) = rec else {
            bad += 1;
            continue;
        };
        let key_txt = rec.get(key_idx).unwrap_or("").trim();
        let key = match key_txt.parse::<u64>() {
            Ok(k) => k,
            Err(_) => match key_txt.parse::<f64>() {
                Ok(f) if f.is_finite() && f >= 0.0 && f.fract() == 0.0 => f as u64,
                _ => {
                    warnings.push(format!(
                        "{file_name} row {}: {key_col} {key_txt:?} is not a number; row ignored",
                        i + 2
                    ));
                    continue;
                }
            },
        };
        let row = table.rows.entry(key).or_default();
        for (j, cell) in rec.iter().enumerate() {
            if j == key_idx || cell.trim().is_empty() {
                continue;
            }
            let Some(col) = columns.get(j) else { continue };
            let (v, raw) = parse_metric_cell(cell);
            if let Some(v) = v {
                row.insert(col.clone(), v);
            } else {
                row.remove(col);
            }
            match raw {
                Some(raw) => {
                    if v.is_none() {
                        warnings.push(format!(
                            "{file_name} row {}: {col} {raw:?} is not a number",
                            i + 2
                        ));
                    }
                    table.raw.insert((key, col.clone()), raw);
                }
                None if !table.raw.is_empty() => {
                    table.raw.remove(&(key, col.clone()));
                }
                None => {}
            }
        }
    }
    if bad > 0 {
        warnings.push(format!("{file_name}: {bad} unreadable rows ignored"));
    }
    Some(table)
}

/// Set `metric`/`metric_raw` of a checkpoint from a table cell.
pub(crate) fn apply_metric(c: &mut Checkpoint, table: &CsvTable, key: u64, metric: &str) {
    let v = table.rows.get(&key).and_then(|r| r.get(metric)).copied();
    let raw = table.raw.get(&(key, metric.to_string())).cloned();
    if v.is_some() || raw.is_some() {
        c.metric = v;
        c.metric_raw = raw;
    }
}

/// ckpt's own record for a foreign run (`.ckpt/state.json`), when present.
pub(crate) fn load_foreign_state(run: &Path, warnings: &mut Vec<String>) -> Option<ForeignState> {
    let text = match std::fs::read(crate::store::state_path(run)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            warnings.push(format!(".ckpt/state.json: cannot read ({e}); pins ignored"));
            return None;
        }
    };
    match crate::store::read::parse_state_lenient(&text) {
        Ok(s) => Some(s),
        Err(e) => {
            warnings.push(format!(
                ".ckpt/state.json is not valid ({e}); pins ignored. `ckpt doctor` inspects it"
            ));
            None
        }
    }
}

/// Facts of a regular file as a checkpoint (size, mtime, inode; zero bytes = damaged).
pub(crate) fn file_checkpoint(name: &str, rel: PathBuf, meta: &Metadata) -> Checkpoint {
    let mut c = Checkpoint {
        name: name.to_string(),
        bytes: meta.len(),
        paths: vec![rel],
        mtime: mtime(meta),
        inode: Some(inode(meta)),
        ..Default::default()
    };
    if meta.len() == 0 {
        c.state = CheckpointState::Damaged;
        c.damage = Some("zero-byte file".into());
    }
    c
}

/// Extensions of files that are torch zips when they start with `PK`.
const ZIP_EXTS: &[&str] = &[".pth.tar", ".pth", ".ckpt", ".pt"];

/// [`mark_truncated_zip`] for the checkpoints whose size no other checkpoint of the run
/// shares. Checkpoints of one model are all the same size, so a file cut short stands
/// out; opening only those keeps a 10,000-checkpoint scan fast (opening every file
/// tripled its time).
pub(crate) fn mark_truncated_zips(run: &Path, checkpoints: &mut [Checkpoint]) {
    let mut sizes: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
    for c in checkpoints.iter() {
        *sizes.entry(c.bytes).or_default() += 1;
    }
    for c in checkpoints.iter_mut() {
        if c.state == CheckpointState::Complete && sizes.get(&c.bytes) == Some(&1) {
            mark_truncated_zip(run, c);
        }
    }
}

/// Mark a checkpoint Damaged when its file is a torch zip cut short: it starts with `PK`
/// but has no end-of-central-directory record at its end. Reads 4 + 22 bytes (more only
/// when a zip comment may follow the record), so a scan stays cheap.
pub(crate) fn mark_truncated_zip(run: &Path, c: &mut Checkpoint) {
    let Some(rel) = c.paths.first() else {
        return;
    };
    let name = rel.to_string_lossy();
    if !ZIP_EXTS.iter().any(|e| name.ends_with(e)) || c.bytes == 0 {
        return;
    }
    if let Some(why) = zip_tail_problem(&run.join(rel)) {
        c.state = CheckpointState::Damaged;
        c.damage = Some(why);
    }
}

/// `Some(reason)` when `path` starts like a zip and has no end of central directory.
fn zip_tail_problem(path: &Path) -> Option<String> {
    use std::os::unix::fs::FileExt;
    const EOCD: &[u8; 4] = b"PK\x05\x06";
    const EOCD_LEN: u64 = 22;
    let f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let mut head = [0u8; 4];
    f.read_exact_at(&mut head, 0).ok()?;
    if &head[..2] != b"PK" {
        return None;
    }
    if len < EOCD_LEN {
        return Some("truncated: no end of central directory".into());
    }
    let mut tail = [0u8; EOCD_LEN as usize];
    f.read_exact_at(&mut tail, len - EOCD_LEN).ok()?;
    if &tail[..4] == EOCD {
        return None;
    }
    // A zip comment (up to 64 KiB) may follow the record: look for it before judging.
    let span = len.min(EOCD_LEN + 65_535);
    let mut buf = vec![0u8; span as usize];
    f.read_exact_at(&mut buf, len - span).ok()?;
    let found = buf.windows(4).enumerate().rev().any(|(i, w)| {
        w == EOCD && i + EOCD_LEN as usize <= buf.len() && {
            let clen = u16::from_le_bytes([buf[i + 20], buf[i + 21]]) as usize;
            i + EOCD_LEN as usize + clen == buf.len()
        }
    });
    (!found).then(|| "truncated: no end of central directory".into())
}

/// Give `role` to the checkpoint named `target` (and record its epoch/step on the alias).
pub(crate) fn attach_role(checkpoints: &mut [Checkpoint], alias: &mut Alias) {
    let Some(t) = alias.target.as_deref() else {
        return;
    };
    if let Some(c) = checkpoints.iter_mut().find(|c| c.name == t) {
        if !c.roles.contains(&alias.role) {
            c.roles.push(alias.role);
        }
        alias.epoch = alias.epoch.or(c.epoch);
        alias.step = alias.step.or(c.step);
    }
}

/// Build the final snapshot: sort, apply pins and held best, order roles.
pub(crate) struct Parts {
    pub layout: LayoutKind,
    pub metric: Option<MetricSpec>,
    pub checkpoints: Vec<Checkpoint>,
    pub best: Option<Alias>,
    pub last: Option<Alias>,
    pub temps: Vec<PathBuf>,
    pub warnings: Vec<String>,
    /// What the trainer itself recorded: its best, metrics it could not give, names it
    /// does not manage.
    pub trainer_record: TrainerRecord,
    /// Every evaluation the trainer logged, saved or not.
    pub history: Vec<MetricPoint>,
    /// The retention the trainer itself applies (`prune` with no flags does the same).
    pub default_policy: Option<RetentionPolicy>,
}

/// Build the snapshot from a layout's parts: warn about a non-finite trainer best
/// (before ckpt's own state can override it), then apply pins and a held best from
/// `.ckpt/state.json`.
pub(crate) fn finish(run: &Path, mut p: Parts) -> RunSnapshot {
    warn_non_finite_best(&mut p);
    if let Some(state) = load_foreign_state(run, &mut p.warnings) {
        // Checkpoint directories recorded when they were made durable: a recorded file
        // missing or of another size is damage (sizes only; `verify` re-hashes).
        for c in p.checkpoints.iter_mut() {
            let Some(rec) = state.files.get(&c.name) else {
                continue;
            };
            if let Some((_, why)) = rec.size_mismatch(&run.join(&c.name)) {
                c.state = CheckpointState::Damaged;
                c.damage = Some(why);
            }
        }
        for name in &state.pinned {
            match p.checkpoints.iter_mut().find(|c| &c.name == name) {
                Some(c) => c.pinned = true,
                None => p
                    .warnings
                    .push(format!("pinned checkpoint {name} is no longer in the run")),
            }
        }
        if let Some(held) = &state.best_held {
            if p.checkpoints.iter().any(|c| &c.name == held) {
                let resolved = p.best.as_ref().and_then(|b| b.target.clone());
                // A best alias that is a real file (timm model_best, Lightning best.ckpt)
                // is what a user loads: when it disagrees with the hold, the file wins and
                // we say so. A best that is only a record (hf) or a ranking follows the hold.
                let file_backed = p.best.as_ref().is_some_and(|b| {
                    matches!(
                        b.how,
                        AliasHow::Hardlink
                            | AliasHow::Copy
                            | AliasHow::Symlink
                            | AliasHow::File
                            | AliasHow::Reflink
                    )
                });
                if file_backed && resolved.as_deref() != Some(held.as_str()) {
                    p.warnings.push(format!(
                        "best was promoted and held on {held}, but {} now holds {}; \
                         promote again to restore the hold",
                        p.best
                            .as_ref()
                            .map(|b| b.path.display().to_string())
                            .unwrap_or_default(),
                        resolved
                            .clone()
                            .unwrap_or_else(|| "an unknown checkpoint".into())
                    ));
                } else if resolved.as_deref() != Some(held.as_str()) {
                    for c in &mut p.checkpoints {
                        c.roles.retain(|r| *r != Role::Best);
                    }
                    let path = p
                        .checkpoints
                        .iter()
                        .find(|c| &c.name == held)
                        .and_then(|c| c.paths.first().cloned())
                        .unwrap_or_else(|| PathBuf::from(held));
                    let mut alias = p.best.take().unwrap_or_else(|| Alias {
                        role: Role::Best,
                        path: path.clone(),
                        target: None,
                        epoch: None,
                        step: None,
                        how: AliasHow::Record,
                        held: true,
                    });
                    // No alias file of its own: the whole alias follows the hold
                    // (path, target, epoch, step), or `best.path` names the old best.
                    // An unresolved alias file ("unknown") keeps its own path.
                    if alias.how != AliasHow::Unknown {
                        alias.path = path;
                        alias.how = AliasHow::Record;
                    }
                    alias.target = Some(held.clone());
                    alias.epoch = None;
                    alias.step = None;
                    attach_role(&mut p.checkpoints, &mut alias);
                    p.best = Some(alias);
                }
                if let Some(b) = p
                    .best
                    .as_mut()
                    .filter(|b| b.target.as_deref() == Some(held))
                {
                    b.held = true;
                }
            } else {
                p.warnings.push(format!(
                    "best was held on {held}, which is no longer in the run"
                ));
            }
        }
    }
    for c in &mut p.checkpoints {
        c.roles.sort();
        c.roles.dedup();
    }
    // Within one epoch a milestone sorts before the regular checkpoint, so that
    // `RunSnapshot::find("3")` (the last match) names the regular one.
    let key = |c: &Checkpoint| (c.epoch, c.step, c.batch, !c.has_role(Role::Milestone));
    p.checkpoints
        .sort_by(|a, b| (key(a), &a.name).cmp(&(key(b), &b.name)));
    p.temps.sort();
    let mut snap = RunSnapshot {
        run: run.to_path_buf(),
        layout: p.layout,
        metric: p.metric,
        checkpoints: p.checkpoints,
        best: p.best,
        last: p.last,
        temps: p.temps,
        warnings: p.warnings,
        scanned_at: chrono::Utc::now(),
        default_policy: p.default_policy,
        trash_bytes: 0,
        trainer_record: p.trainer_record,
        history: p.history,
        alias_files: Default::default(),
    };
    snap.alias_files = super::foreign_alias_files(&snap);
    snap
}

/// The metric `column` of a per-epoch table (timm `summary.csv`, Lightning
/// `metrics.csv`) as history: every epoch the trainer logged, finite values only.
pub(crate) fn csv_history(table: Option<&CsvTable>, column: &str) -> Vec<MetricPoint> {
    let Some(t) = table else {
        return Vec::new();
    };
    let points = t.rows.iter().filter_map(|(&epoch, row)| {
        let value = row.get(column).copied().filter(|v| v.is_finite())?;
        Some(MetricPoint {
            epoch: Some(epoch),
            step: None,
            value,
            at: None,
        })
    });
    newest(points.collect())
}

/// Bound a history to the newest [`MAX_HISTORY_POINTS`].
pub(crate) fn newest(mut points: Vec<MetricPoint>) -> Vec<MetricPoint> {
    if points.len() > MAX_HISTORY_POINTS {
        points.drain(..points.len() - MAX_HISTORY_POINTS);
    }
    points
}

/// How the alias file `alias` holds `target`: a symlink, the same inode (hardlink), a
/// copy (a reflink cannot be told apart from a copy cheaply), or unknown when either is
/// missing.
pub(crate) fn alias_how(alias: &Path, target: &Path) -> AliasHow {
    let Ok(a) = std::fs::symlink_metadata(alias) else {
        return AliasHow::Unknown;
    };
    if a.file_type().is_symlink() {
        return AliasHow::Symlink;
    }
    match std::fs::metadata(target) {
        Ok(t) if t.dev() == a.dev() && t.ino() == a.ino() => AliasHow::Hardlink,
        Ok(_) => AliasHow::Copy,
        Err(_) => AliasHow::Unknown,
    }
}

/// Warn when the best checkpoint's metric is NaN/inf while finite ones exist (timm's NaN bug).
fn warn_non_finite_best(p: &mut Parts) {
    let Some(best) = p.checkpoints.iter().find(|c| c.has_role(Role::Best)) else {
        return;
    };
    let bad = best.metric.is_some_and(|m| !m.is_finite());
    let finite_exists = p
        .checkpoints
        .iter()
        .any(|c| !c.has_role(Role::Milestone) && c.finite_metric().is_some());
    if bad && finite_exists {
        let raw = best
            .metric_raw
            .clone()
            .unwrap_or_else(|| format!("{:?}", best.metric.unwrap_or(f64::NAN)));
        p.warnings.push(format!(
            "best ({}) holds a non-finite metric ({raw}) while finite ones exist; it should not be best",
            best.name
        ));
    }
}

/// Strip one of `exts` from `name`: `("checkpoint-3", ".pth.tar")`.
pub(crate) fn split_ext<'a>(
    name: &'a str,
    exts: &[&'static str],
) -> Option<(&'a str, &'static str)> {
    exts.iter()
        .find_map(|e| name.strip_suffix(e).map(|stem| (stem, *e)))
}

/// Sum of regular files under `dir` (never following symlinks), and the newest mtime.
pub(crate) fn dir_usage(dir: &Path, depth: usize) -> (u64, Option<std::time::SystemTime>) {
    let mut total = 0u64;
    let mut newest = None;
    let Ok(rd) = std::fs::read_dir(dir) else {
        return (0, None);
    };
    for ent in rd.flatten() {
        let Ok(meta) = ent.metadata() else { continue };
        if meta.is_file() {
            total += meta.len();
            if let Ok(m) = meta.modified() {
                newest = newest.max(Some(m));
            }
        } else if meta.is_dir() && depth < 8 {
            let (b, m) = dir_usage(&ent.path(), depth + 1);
            total += b;
            newest = newest.max(m);
        }
    }
    (total, newest)
}

/// Read a checkpoint's pickle, building only the top-level `keys` (tensors and
/// optimizer state are skipped); errors become one-line reasons.
pub(crate) fn read_pickle(
    path: &Path,
    keys: &[&str],
) -> std::result::Result<crate::formats::pickle::Value, String> {
    crate::formats::torchzip::read_pickle_keys(path, keys).map_err(|e| e.to_string())
}

/// The scanned alias's path when it really is an alias file (its name starts with
/// `stem`), never a checkpoint file a scanner reported as the role's holder.
pub(crate) fn alias_path_named(
    alias: Option<&crate::snapshot::Alias>,
    stem: &str,
) -> Option<PathBuf> {
    let a = alias?;
    let name = a.path.file_name()?.to_string_lossy();
    name.starts_with(stem).then(|| a.path.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zip_tail_check_accepts_a_comment_and_spots_a_cut() {
        let t = tempfile::tempdir().unwrap();
        let mut eocd = b"PK\x05\x06".to_vec();
        eocd.extend_from_slice(&[0u8; 16]);
        let mut bytes = b"PK\x03\x04 some entry data".to_vec();
        bytes.extend_from_slice(&eocd);
        bytes.extend_from_slice(&[0, 0]);
        let plain = t.path().join("plain.pth");
        std::fs::write(&plain, &bytes).unwrap();
        assert_eq!(zip_tail_problem(&plain), None);
        // Same record with a 3-byte comment after it.
        let n = bytes.len();
        bytes[n - 2] = 3;
        bytes.extend_from_slice(b"abc");
        let commented = t.path().join("commented.pth");
        std::fs::write(&commented, &bytes).unwrap();
        assert_eq!(zip_tail_problem(&commented), None);
        let cut = t.path().join("cut.pth");
        std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
        assert!(zip_tail_problem(&cut)
            .unwrap()
            .contains("no end of central directory"));
        // Not a zip (legacy torch pickle): not judged here.
        let legacy = t.path().join("legacy.pth");
        std::fs::write(&legacy, b"\x80\x02 pickle").unwrap();
        assert_eq!(zip_tail_problem(&legacy), None);
    }

    #[test]
    fn yaml_scalars_skip_nested_blocks() {
        let y = "eval_metric: loss # comment\nmodel: 'resnet'\nnested:\n  a: 1\n- item\nname: \"x: y\"\n";
        let m = parse_yaml_scalars(y);
        assert_eq!(m["eval_metric"], "loss");
        assert_eq!(m["model"], "resnet");
        assert_eq!(m["nested"], "");
        assert_eq!(m["name"], "x: y");
        assert!(!m.contains_key("a"));
    }

    #[test]
    fn symlinks_resolve_only_inside_the_run() {
        let t = tempfile::tempdir().unwrap();
        let run = t.path().join("run");
        std::fs::create_dir_all(run.join("sub")).unwrap();
        std::fs::write(run.join("a"), b"x").unwrap();
        std::os::unix::fs::symlink("../a", run.join("sub/l")).unwrap();
        std::os::unix::fs::symlink("../../outside", run.join("sub/out")).unwrap();
        let (p, _) = resolve_in_run(&run, Path::new("sub/l")).unwrap();
        assert_eq!(p, PathBuf::from("a"));
        assert!(resolve_in_run(&run, Path::new("sub/out"))
            .unwrap_err()
            .contains("outside"));
        std::os::unix::fs::symlink(run.join("a"), run.join("abs")).unwrap();
        assert_eq!(
            resolve_in_run(&run, Path::new("abs")).unwrap().0,
            PathBuf::from("a")
        );
    }
}
