//! Tests that do not run must not pass: a skip says `SKIPPED: why`
//! and fails under `CI=true`; child-process entry points are `#[ignore]`d, never green
//! no-ops; nobody prints SKIPPED by hand (that would pass under CI).

use crate::util;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Not a test: the body [`skip_fails_under_ci`] runs in a child, always skipping.
#[test]
#[ignore = "child process of skip_fails_under_ci"]
fn forced_skip_probe() {
    if std::env::var("CKPT_TEST_SKIP_PROBE").is_err() {
        panic!("forced_skip_probe is the child process of skip_fails_under_ci, not a test");
    }
    util::skip::skip("forced_skip_probe", "the probe always skips");
}

fn probe(ci: Option<&str>) -> (bool, String) {
    let mut cmd = util::child_test(concat!(module_path!(), "::forced_skip_probe"));
    cmd.env("CKPT_TEST_SKIP_PROBE", "1").env_remove("CI");
    if let Some(v) = ci {
        cmd.env("CI", v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn skip_fails_under_ci() {
    let (ok, err) = probe(None);
    assert!(ok, "a skip outside CI passes (and says so): {err}");
    assert!(
        err.contains("SKIPPED: forced_skip_probe: the probe always skips"),
        "{err}"
    );
    for ci in ["true", "1"] {
        let (ok, err) = probe(Some(ci));
        assert!(!ok, "CI={ci}: a skipped test must fail: {err}");
        assert!(err.contains("SKIPPED: forced_skip_probe"), "{err}");
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The body of each `#[test]` (from the attribute to the function's closing brace at
/// column 0 or 4), with whether it is `#[ignore]`d.
fn test_bodies(src: &str) -> Vec<(String, bool, String)> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(at) = rest.find("#[test]") {
        let tail = &rest[at..];
        let Some(fn_at) = tail.find("fn ") else { break };
        let attrs = &tail[..fn_at];
        let name: String = tail[fn_at + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let end = ["\n}\n", "\n    }\n"]
            .iter()
            .filter_map(|t| tail.find(t))
            .min()
            .unwrap_or(tail.len());
        out.push((name, attrs.contains("#[ignore"), tail[..end].to_string()));
        rest = &tail[7..];
    }
    out
}

#[test]
fn no_silent_skips_in_tests() {
    // CKPT_HYGIENE_TESTS points the check at another tree (e.g. an older checkout).
    let root = std::env::var_os("CKPT_HYGIENE_TESTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests"));
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut problems = Vec::new();
    for f in &files {
        let src = std::fs::read_to_string(f).unwrap();
        let rel = f.strip_prefix(&root).unwrap().display().to_string();
        for (i, line) in src.lines().enumerate() {
            // `util::skip::skip` writes the word itself; a literal elsewhere is a skip
            // that passes under CI=true.
            let own = f.ends_with("util/skip.rs") || f.ends_with("test_hygiene.rs");
            if line.contains("\"SKIPPED") && !own {
                problems.push(format!(
                    "{rel}:{}: prints SKIPPED by hand; call util::skip::skip (fails under CI=true)",
                    i + 1
                ));
            }
        }
        for (name, ignored, body) in test_bodies(&src) {
            let child = body.contains("env::var(")
                && body
                    .split("else {")
                    .skip(1)
                    .any(|after| after.trim_start().starts_with("return"));
            if child && !ignored {
                problems.push(format!(
                    "{rel}: #[test] {name} returns early when an env var is missing: a child-process \
                     entry must be #[ignore]d, not a green no-op"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `cargo tree` of this package, or `None` (after a loud skip) when no cargo can be run
/// here: the test binary run on its own by a user who cannot read the toolchain.
fn cargo_tree(edges: &str) -> Option<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = match Command::new(&cargo)
        .args(["tree", "--offline", "--prefix", "none", "-e", edges])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            crate::util::skip::skip(
                "fault_seam_only_in_test_builds",
                &format!("cannot run {cargo} ({e}); run the tests through cargo"),
            );
            return None;
        }
    };
    assert!(
        out.status.success(),
        "cargo tree: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The fault seam (`CKPT_FAULT`) is a cargo feature only the tests turn on: a release
/// build of the library or the binary never has it.
#[test]
fn fault_seam_only_in_test_builds() {
    let seam = "ckpt feature \"fault-injection\"";
    let Some(normal) = cargo_tree("features,normal") else {
        return;
    };
    assert!(
        !normal.contains(seam),
        "a normal build must not enable the fault seam:\n{normal}"
    );
    let Some(with_dev) = cargo_tree("features,normal,dev") else {
        return;
    };
    assert!(
        with_dev.contains(seam),
        "the tests enable the seam through the dev-dependency on ckpt itself:\n{with_dev}"
    );
}
