//! Helpers shared by every area of the integration tests: one of each.
//!
//! - [`skip`]: a test that cannot run says `SKIPPED: <why>` and fails under `CI=true`.
//! - [`tmpfs`]: a small tmpfs of a test's own (root only).
//! - [`fixtures`]: the real runs in `tests/fixtures/*.tar.gz`, unpacked.
//! - [`payload`]: deterministic checkpoint bytes.
//! - [`pty`]: the `ckpt` binary in a real pseudo-terminal, read through vt100.
//! - [`cli`]: a temp [`cli::Dir`] and a [`cli::TestCommand`] for the `ckpt` binary.
//! - [`engine`], [`stress`]: runs made through the library, the crash invariants, fault
//!   walks, a seeded RNG.
//! - [`tui`]: hand-built snapshots and apps for the monitor's pure tests.

pub mod cli;
pub mod engine;
pub mod fixtures;
pub mod payload;
pub mod pty;
pub mod skip;
pub mod stress;
pub mod tmpfs;
pub mod tui;

/// The name libtest knows a test of this binary by, for re-running it as a child
/// process with `--exact`: the test's path without the crate. Call it with
/// `concat!(module_path!(), "::kill_child")` (`it::engine_kill::kill_child` becomes
/// `engine_kill::kill_child`).
pub fn test_name(path: &str) -> &str {
    path.split_once("::").map_or(path, |(_, rest)| rest)
}
