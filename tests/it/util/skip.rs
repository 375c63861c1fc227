//! Tests that cannot run must not pass: a test that needs root, a
//! tmpfs, python… and cannot have it calls [`skip`], which says `SKIPPED: <why>` past
//! libtest's output capture and, when `CI=true`, fails the test instead.

/// True when the environment says this is CI (`CI=true` or `CI=1`): skips fail there.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Report that `test` could not run because of `why`; panics under `CI=true`. Call it,
/// then return from the test.
#[track_caller]
pub fn skip(test: &str, why: &str) {
    use std::io::Write;
    let msg = format!("SKIPPED: {test}: {why}");
    let _ = writeln!(std::io::stderr(), "\n*** {msg} ***\n");
    if in_ci() {
        panic!("{msg} (CI=true: a test that does not run fails)");
    }
}

/// True when running as root; otherwise [`skip`]s `test` (tmpfs and loop mounts need root).
#[track_caller]
pub fn require_root(test: &str, what: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    skip(test, &format!("needs root to {what}"));
    false
}
