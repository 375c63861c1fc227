//! Content hashes (xxh3-128, written `xxh3-128:<32 hex>` in the manifest): hashing a
//! whole file for verify and checks. Saves hash while they write (see `atomic`).

use std::path::Path;

pub use crate::store::hash::format_hash;

use super::{Progress, ProgressFn};
use crate::{Error, Result};

/// Hash a whole file (for verify and checks); progress is reported per buffer.
pub fn hash_file(path: &Path, mut progress: Option<ProgressFn<'_>>) -> Result<(u64, String)> {
    let total = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let what = format!("hash {}", path.display());
    crate::store::hash::hash_file_with(path, &mut |done| {
        if let Some(p) = progress.as_mut() {
            p(&Progress {
                what: what.clone(),
                done,
                total,
            });
        }
    })
    .map_err(|e| Error::io("read", path, e))
}

/// The content hash of a file in the manifest's format, with progress by bytes.
pub(crate) fn content_hash(path: &Path, progress: &mut dyn FnMut(&Progress)) -> Result<String> {
    hash_file(path, Some(progress)).map(|(_, h)| h)
}
