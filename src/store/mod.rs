//! The on-disk contract of DESIGN §2, read-only: where a run keeps its files, how they
//! are named (checkpoints, aliases, temps), the manifest and state types, and how to
//! parse, validate and load them. No locks and no writes: everything that changes a
//! run is `engine`'s; everything that reads the format (layouts, CLI, monitor, engine)
//! goes through here, so the format is spelled in one place.

pub(crate) mod hash;
pub(crate) mod lookup;
pub mod manifest;
pub(crate) mod path;
pub(crate) mod pending_check;
pub mod read;
pub(crate) mod state_files;
pub mod temp;

use std::path::{Path, PathBuf};

pub(crate) use manifest::{BestRef, Entry, ForeignState, HistoryEntry, Manifest};
pub use path::{check_rel_path, resolve, BadPath, ManifestPath};
pub use read::{
    has_unsettled_pending, is_settled, load_manifest, load_state, new_manifest, parse_manifest,
    pending, try_load_manifest, validate_manifest, Pending, PendingReplace,
};

/// ckpt's own directory inside a run.
pub(crate) const STATE_DIR: &str = ".ckpt";

/// `RUN/.ckpt`.
pub(crate) fn state_dir(run: &Path) -> PathBuf {
    run.join(STATE_DIR)
}

/// `RUN/.ckpt/manifest.json`.
pub fn manifest_path(run: &Path) -> PathBuf {
    state_dir(run).join("manifest.json")
}

/// `RUN/.ckpt/state.json` (foreign runs).
pub fn state_path(run: &Path) -> PathBuf {
    state_dir(run).join("state.json")
}

/// `RUN/.ckpt/lock`: the advisory lock every mutation takes.
pub(crate) fn lock_path(run: &Path) -> PathBuf {
    state_dir(run).join("lock")
}

/// `RUN/.ckpt/trash`.
pub(crate) fn trash_dir(run: &Path) -> PathBuf {
    state_dir(run).join("trash")
}

/// Names of the alias files of a native run with extension `ext`: (last, best).
pub fn alias_names(ext: &str) -> (String, String) {
    (format!("last{ext}"), format!("model_best{ext}"))
}

/// File name of the checkpoint of `epoch`.
pub fn checkpoint_name(epoch: u64, ext: &str) -> String {
    format!("checkpoint-{epoch}{ext}")
}

/// Parse `checkpoint-<epoch><ext>` into its epoch.
pub(crate) fn epoch_of_name(name: &str, ext: &str) -> Option<u64> {
    name.strip_prefix("checkpoint-")?
        .strip_suffix(ext)?
        .parse()
        .ok()
}
