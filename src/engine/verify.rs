//! `verify`: re-hash native checkpoints; zip CRC / safetensors checks for any layout.

use super::*;
use crate::Result;

impl Run {
    /// Re-hash every checkpoint against the manifest (native), or check zip CRCs /
    /// safetensors headers (any layout).
    pub fn verify(&self, progress: Option<ProgressFn<'_>>) -> Result<VerifyReport> {
        let _ = progress;
        todo!("issue 2")
    }
}
