//! A program (usually the `ckpt` binary) in a real pseudo-terminal: everything it
//! prints is read by a thread that drains the pty continuously (the program never
//! blocks on a full pty buffer, whatever the test is doing) into a vt100 screen and the
//! raw bytes. Waits poll a condition with a deadline; nothing sleeps to synchronise.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use portable_pty::{native_pty_system, Child, CommandBuilder, ExitStatus, MasterPty, PtySize};

/// The `ckpt` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_ckpt");

/// What the program has printed so far.
pub struct Screen {
    /// The terminal as vt100 sees it.
    pub parser: vt100::Parser,
    /// Every byte, as printed.
    pub raw: Vec<u8>,
    /// When the last byte arrived.
    pub last_byte: Instant,
    /// The reader saw the end: every process holding the pty has closed it and all it
    /// printed is in `parser` and `raw`.
    pub eof: bool,
}

/// A program running in a pty; killed on drop.
pub struct Pty {
    screen: Arc<Mutex<Screen>>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn Child + Send + Sync>,
    master: Box<dyn MasterPty + Send>,
    poll: Duration,
}

/// A command line for the `ckpt` binary with `NO_COLOR` removed (add env, cwd and
/// `TERM` as the test needs).
pub fn ckpt_command(args: &[&str]) -> CommandBuilder {
    let mut cmd = CommandBuilder::new(BIN);
    cmd.args(args);
    cmd.env_remove("NO_COLOR");
    cmd
}

impl Pty {
    /// Start `cmd` in a `cols` x `rows` pty.
    pub fn spawn(cmd: CommandBuilder, cols: u16, rows: u16) -> Pty {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        let child = pair.slave.spawn_command(cmd).unwrap();
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().unwrap();
        let writer = pair.master.take_writer().unwrap();
        let screen = Arc::new(Mutex::new(Screen {
            parser: vt100::Parser::new(rows, cols, 0),
            raw: Vec::new(),
            last_byte: Instant::now(),
            eof: false,
        }));
        let sink = screen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 16384];
            loop {
                let n = reader.read(&mut buf).unwrap_or(0);
                // A test that panicked while looking leaves the lock poisoned: keep going.
                let mut s = sink.lock().unwrap_or_else(|e| e.into_inner());
                if n == 0 {
                    s.eof = true;
                    return;
                }
                s.parser.process(&buf[..n]);
                s.raw.extend_from_slice(&buf[..n]);
                s.last_byte = Instant::now();
            }
        });
        Pty {
            screen,
            writer,
            child,
            master: pair.master,
            poll: Duration::from_millis(20),
        }
    }

    /// Poll conditions this often (20 ms unless changed; a latency bench wants less).
    pub fn with_poll(mut self, poll: Duration) -> Pty {
        self.poll = poll;
        self
    }

    pub fn screen(&self) -> MutexGuard<'_, Screen> {
        self.screen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The terminal's text as vt100 shows it now.
    pub fn text(&self) -> String {
        self.screen().parser.screen().contents()
    }

    /// Everything printed so far, escapes included.
    pub fn raw(&self) -> String {
        String::from_utf8_lossy(&self.screen().raw).into_owned()
    }

    /// How many bytes were printed so far.
    pub fn bytes(&self) -> usize {
        self.screen().raw.len()
    }

    /// Poll the screen until `cond` holds; panic with the screen after `secs`. Returns
    /// the screen that satisfied it.
    pub fn wait_for(&self, what: &str, secs: u64, cond: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let text = self.text();
            if cond(&text) {
                return text;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; screen:\n{text}");
            }
            std::thread::sleep(self.poll);
        }
    }

    /// Poll the raw output until it contains `needle` (30 s deadline); returns it.
    pub fn wait_for_raw(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let t = self.raw();
            if t.contains(needle) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {needle:?}; got:\n{t}"
            );
            std::thread::sleep(self.poll);
        }
    }

    /// Wait until no byte has arrived for `quiet` (10 s at most).
    pub fn settle(&self, quiet: Duration) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.screen().last_byte.elapsed() < quiet && Instant::now() < deadline {
            std::thread::sleep(self.poll);
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
        self.writer.flush().unwrap();
    }

    pub fn keys(&mut self, keys: &str) {
        self.send(keys.as_bytes());
    }

    /// Resize the terminal (SIGWINCH to the program) and the vt100 screen with it.
    pub fn resize(&self, cols: u16, rows: u16) {
        self.master
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        self.screen().parser.screen_mut().set_size(rows, cols);
    }

    pub fn pid(&self) -> u32 {
        self.child.process_id().unwrap()
    }

    /// Wait for the program to exit (`secs` deadline; then it is killed and the test
    /// fails with what it printed), then for the reader to have drained what it printed
    /// last (restoring the terminal, an exit message), so the screen is final.
    pub fn wait_exit(&mut self, secs: u64) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                self.wait_drained(deadline.max(Instant::now() + Duration::from_secs(5)));
                return st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the program did not exit; output:\n{}", self.raw());
            }
            std::thread::sleep(self.poll);
        }
    }
}

impl Pty {
    /// Until the reader saw the end of the output, or `deadline` (a process the program
    /// started may still hold the pty open; the screen is then as complete as it gets).
    fn wait_drained(&self, deadline: Instant) {
        while !self.screen().eof && Instant::now() < deadline {
            std::thread::sleep(self.poll);
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}
