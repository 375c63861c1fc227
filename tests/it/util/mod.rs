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

/// This test binary, set to run only the `#[ignore]`d child-process entry `path`
/// (`concat!(module_path!(), "::kill_child")`) with its output not captured. The
/// caller adds the env that tells the child what to do.
pub fn child_test(path: &str) -> std::process::Command {
    // libtest names a test by its path without the crate: `engine_kill::kill_child`.
    let name = path.split_once("::").map_or(path, |(_, rest)| rest);
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", name, "--nocapture", "--ignored"]);
    cmd
}
