//! Test harness for the `ckpt` binary, in the style of ripgrep's `tests/util.rs`:
//! a temp [`Dir`] to build runs in, and a [`TestCommand`] that runs the real binary
//! (never a terminal: stdin is /dev/null unless given) and checks its exit code.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A scratch directory removed when the test ends.
pub struct Dir {
    tmp: tempfile::TempDir,
}

impl Dir {
    pub fn new(name: &str) -> Dir {
        let tmp = tempfile::Builder::new()
            .prefix(&format!("ckpt-cli-{name}-"))
            .tempdir()
            .unwrap();
        Dir { tmp }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.path().join(rel)
    }

    /// Write a file (parents created).
    pub fn create(&self, rel: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, contents).unwrap();
        p
    }

    /// Unpack `tests/fixtures/<name>.tar.gz` here; returns its top dir.
    pub fn unpack(&self, name: &str) -> PathBuf {
        crate::util::fixtures::unpack_into(self.path(), name)
    }

    /// A command for the `ckpt` binary, run in this directory.
    pub fn command(&self) -> TestCommand {
        TestCommand::new(self.path())
    }

    /// Save `n` epochs of `size` bytes with the given metrics into `run` via `ckpt save`.
    pub fn native_run(&self, run: &str, metrics: &[f64], size: usize) -> PathBuf {
        for (epoch, m) in metrics.iter().enumerate() {
            let src = self.create(
                format!("staged-{epoch}.bin"),
                crate::util::payload::bytes(epoch as u64, size),
            );
            self.command()
                .args(["save", run, "--epoch", &epoch.to_string()])
                .args(["--metric", &m.to_string(), "--metric-name", "top1"])
                .arg(&src)
                .assert_ok();
            std::fs::remove_file(src).unwrap();
        }
        self.join(run)
    }
}

/// A builder around one run of `env!("CARGO_BIN_EXE_ckpt")`.
pub struct TestCommand {
    cmd: Command,
    stdin: Option<Vec<u8>>,
}

impl TestCommand {
    pub fn new(cwd: &Path) -> TestCommand {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ckpt"));
        cmd.current_dir(cwd)
            .env_remove("NO_COLOR")
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        TestCommand { cmd, stdin: None }
    }

    pub fn arg(&mut self, a: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.arg(a);
        self
    }

    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(&mut self, k: &str, v: &str) -> &mut Self {
        self.cmd.env(k, v);
        self
    }

    /// Feed these bytes on stdin (a pipe, not a terminal).
    pub fn stdin(&mut self, bytes: impl Into<Vec<u8>>) -> &mut Self {
        self.stdin = Some(bytes.into());
        self.cmd.stdin(Stdio::piped());
        self
    }

    pub fn output(&mut self) -> Output {
        let mut child = self.cmd.spawn().expect("ckpt binary starts");
        if let Some(bytes) = self.stdin.take() {
            let mut stdin = child.stdin.take().unwrap();
            // A writer thread: the child may exit early without reading everything.
            let t = std::thread::spawn(move || {
                let _ = stdin.write_all(&bytes);
            });
            let out = child.wait_with_output().unwrap();
            let _ = t.join();
            return out;
        }
        child.wait_with_output().unwrap()
    }

    /// Run, and require exit code `code`; returns the output.
    pub fn assert_exit(&mut self, code: i32) -> Output {
        let desc = format!("{:?}", self.cmd);
        let out = self.output();
        assert_eq!(
            out.status.code(),
            Some(code),
            "{desc}\n--- stdout\n{}\n--- stderr\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Run, require success; returns stdout.
    pub fn assert_ok(&mut self) -> String {
        String::from_utf8(self.assert_exit(0).stdout).unwrap()
    }

    /// Run, require exit `code`; returns stderr.
    pub fn assert_err(&mut self, code: i32) -> String {
        String::from_utf8(self.assert_exit(code).stderr).unwrap()
    }

    /// Run, require success, parse stdout as JSON.
    pub fn json(&mut self) -> serde_json::Value {
        let out = self.assert_ok();
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
    }
}

/// Keys an object must have.
pub fn assert_keys(v: &serde_json::Value, keys: &[&str]) {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"));
    for k in keys {
        assert!(obj.contains_key(*k), "missing key {k:?} in {v}");
    }
}

/// True when this process runs as root (chmod does not stop root's writes).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}
