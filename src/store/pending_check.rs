//! What a `pending` record may do. A record is written by an
//! operation caught between its steps, but a manifest can also come from someone's
//! tarball: recovery only unlinks what an interrupted save, prune, restore or trash
//! restore could have left — a checkpoint file (`checkpoint-<n>…`) the manifest no
//! longer lists, or a trash name whose bytes a listed checkpoint still has (same inode)
//! — never an alias, a listed checkpoint, or any other file. `doctor` reports the parts
//! of a record that do not match the files.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::manifest::Manifest;
use super::path::ManifestPath;
use super::read::Pending;

/// True for a file name the engine gives checkpoints: `checkpoint-<digits>` and then
/// nothing or an extension.
fn checkpoint_like(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("checkpoint-") else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && (rest.len() == digits || rest.as_bytes()[digits] == b'.')
}

/// Why recovery must not unlink `f` for this record (`None`: it may, if it is there).
pub(crate) fn unlink_refusal(run: &Path, m: &Manifest, f: &str) -> Option<String> {
    let mp = match ManifestPath::parse(f) {
        Ok(mp) => mp,
        Err(e) => return Some(e.to_string()),
    };
    if m.checkpoints.iter().any(|e| e.path == f) {
        return Some(format!("{f} is a checkpoint the manifest lists"));
    }
    let (last, best) = super::alias_names(&m.ext);
    let path = match mp.on_disk(run) {
        Ok(p) => p,
        Err(e) => return Some(e.to_string()),
    };
    let md = std::fs::symlink_metadata(&path).ok();
    if md.as_ref().is_some_and(|md| !md.is_file()) {
        return Some(format!("{f} is not a regular file"));
    }
    match mp {
        ManifestPath::Live { name } => {
            if name == last || name == best {
                return Some(format!("{f} is an alias"));
            }
            if !checkpoint_like(name) {
                return Some(format!("{f} is not a checkpoint file ckpt writes"));
            }
            None
        }
        ManifestPath::Trashed { .. } => {
            // Only a second name of a checkpoint the manifest still lists (a trash
            // restore that did not get to remove the trash name).
            let md = md?;
            let shared = m.checkpoints.iter().filter(|e| !e.is_trashed()).any(|e| {
                super::path::resolve(run, &e.path)
                    .ok()
                    .and_then(|p| std::fs::symlink_metadata(p).ok())
                    .is_some_and(|em| (em.dev(), em.ino()) == (md.dev(), md.ino()))
            });
            (!shared).then(|| {
                format!("{f} is in trash and no listed checkpoint has its bytes (same inode)")
            })
        }
    }
}

/// The parts of a pending record that do not match the files (for `doctor`), one line
/// each; empty when it is what an interrupted operation leaves.
pub(crate) fn pending_mismatches(run: &Path, m: &Manifest, p: &Pending) -> Vec<String> {
    let mut out: Vec<String> = p
        .unlink
        .iter()
        .filter_map(|f| unlink_refusal(run, m, f))
        .map(|why| format!("unlink: {why}; it will not be deleted"))
        .collect();
    let (last, best) = super::alias_names(&m.ext);
    for name in p.may_hold.keys() {
        let known = name == &last
            || name == &best
            || m.checkpoints.iter().any(|e| &e.path == name)
            || p.replace.as_ref().is_some_and(|r| &r.entry.path == name);
        if !known {
            out.push(format!(
                "may_hold: {name} is neither an alias nor a listed checkpoint"
            ));
        }
    }
    if let Some(r) = &p.replace {
        if !m.checkpoints.iter().any(|e| e.path == r.entry.path) {
            out.push(format!(
                "replace: {} is not a listed checkpoint",
                r.entry.path
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::checkpoint_like;

    #[test]
    fn checkpoint_names() {
        for ok in ["checkpoint-7.pth.tar", "checkpoint-12", "checkpoint-0.pt"] {
            assert!(checkpoint_like(ok), "{ok}");
        }
        for no in [
            "checkpoint-.pt",
            "checkpoint-7x",
            "notes.txt",
            "last.pth.tar",
            "checkpoint",
        ] {
            assert!(!checkpoint_like(no), "{no}");
        }
    }
}
