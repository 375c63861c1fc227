//! Test harness for the `ckpt` binary, in the style of ripgrep's `tests/util.rs`:
//! a temp [`Dir`] to build runs in, and a [`TestCommand`] that runs the real binary
//! (never a terminal: stdin is /dev/null unless given) and checks its exit code.

#![allow(dead_code)]

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

    /// Unpack `tests/fixtures/<name>.tar.gz` here (hardlinks kept); returns its top dir.
    pub fn unpack(&self, name: &str) -> PathBuf {
        let archive = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(format!("{name}.tar.gz"));
        let status = Command::new("tar")
            .arg("-xzf")
            .arg(&archive)
            .arg("-C")
            .arg(self.path())
            .status()
            .expect("tar runs");
        assert!(status.success(), "unpacking {}", archive.display());
        self.join(name)
    }

    /// A command for the `ckpt` binary, run in this directory.
    pub fn command(&self) -> TestCommand {
        TestCommand::new(self.path())
    }

    /// Save `n` epochs of `size` bytes with the given metrics into `run` via `ckpt save`.
    pub fn native_run(&self, run: &str, metrics: &[f64], size: usize) -> PathBuf {
        for (epoch, m) in metrics.iter().enumerate() {
            let payload = payload(epoch as u64, size);
            let src = self.create(format!("staged-{epoch}.bin"), &payload);
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

/// Deterministic, varied bytes for epoch `e`.
pub fn payload(e: u64, size: usize) -> Vec<u8> {
    let mut x = e.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
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

/// `ckpt` running in a pseudo-terminal, for prompts and colour: everything it prints is
/// collected by a reader thread; `wait_for` polls it with a deadline.
pub struct PtyRun {
    child: Box<dyn portable_pty::Child + Send + Sync>,
    writer: Box<dyn Write + Send>,
    screen: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    _master: Box<dyn portable_pty::MasterPty + Send>,
}

impl PtyRun {
    pub fn spawn(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> PtyRun {
        use portable_pty::{native_pty_system, CommandBuilder, PtySize};
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: 40,
                cols: 140,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_ckpt"));
        cmd.args(args);
        cmd.cwd(cwd);
        cmd.env_remove("NO_COLOR");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = pair.slave.spawn_command(cmd).unwrap();
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().unwrap();
        let writer = pair.master.take_writer().unwrap();
        let screen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = screen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut reader, &mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        PtyRun {
            child,
            writer,
            screen,
            _master: pair.master,
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).into_owned()
    }

    /// Poll until the output contains `needle` (30 s deadline).
    pub fn wait_for(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let t = self.text();
            if t.contains(needle) {
                return t;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {needle:?}; got:\n{t}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
        self.writer.flush().unwrap();
    }

    /// Wait for exit (30 s deadline) and return the exit code.
    pub fn wait(&mut self) -> u32 {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.exit_code();
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("ckpt did not exit; output:\n{}", self.text());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
