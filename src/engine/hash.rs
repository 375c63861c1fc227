//! Content hashes (xxh3-128, written `xxh3-128:<32 hex>` in the manifest): hashing a
//! whole file for verify and checks. Saves hash while they write (see `atomic`).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use xxhash_rust::xxh3::Xxh3;

use super::atomic::BUF;
use super::{Progress, ProgressFn};
use crate::{Error, Result};

/// The content hash ckpt records: `xxh3-128:<32 hex>`.
pub fn format_hash(h: u128) -> String {
    format!("xxh3-128:{h:032x}")
}

/// Hash a whole file (for verify and checks); progress is reported per buffer.
pub fn hash_file(path: &Path, mut progress: Option<ProgressFn<'_>>) -> Result<(u64, String)> {
    let mut f = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let total = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut h = Xxh3::new();
    let mut buf = vec![0u8; BUF];
    let mut done = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("read", path, e)),
        };
        h.update(&buf[..n]);
        done += n as u64;
        if let Some(p) = progress.as_mut() {
            p(&Progress {
                what: format!("hash {}", path.display()),
                done,
                total,
            });
        }
    }
    Ok((done, format_hash(h.digest128())))
}

/// The content hash of a file in the manifest's format, with progress by bytes.
pub fn content_hash(path: &Path, progress: &mut dyn FnMut(&Progress)) -> Result<String> {
    hash_file(path, Some(progress)).map(|(_, h)| h)
}
