//! `ckpt demo` in a real pseudo-terminal when its trainer's save fails (issue 11 item
//! 7): the demo writes into a tiny tmpfs of its own until a save hits ENOSPC; the
//! monitor must then say so in the status line, stop calling the trainer alive, and
//! the demo's exit message must say why it stopped.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common_skip;
mod common_tmpfs;

use common_tmpfs::TmpfsMount;
use portable_pty::{native_pty_system, Child, CommandBuilder, MasterPty, PtySize};

const BIN: &str = env!("CARGO_BIN_EXE_ckpt");

/// A command in a pty, its output parsed by vt100 on a reader thread that always
/// drains the pty (a full pty would block the child).
struct Pty {
    parser: Arc<Mutex<vt100::Parser>>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn Child + Send + Sync>,
    _master: Box<dyn MasterPty + Send>,
}

impl Pty {
    fn start(args: &[&str], cols: u16, rows: u16) -> Pty {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        let mut cmd = CommandBuilder::new(BIN);
        cmd.args(args);
        cmd.env("TERM", "xterm-256color");
        let child = pair.slave.spawn_command(cmd).unwrap();
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().unwrap();
        let writer = pair.master.take_writer().unwrap();
        let parser = Arc::new(Mutex::new(vt100::Parser::new(rows, cols, 0)));
        let p = parser.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    return;
                }
                p.lock().unwrap().process(&buf[..n]);
            }
        });
        Pty {
            parser,
            writer,
            child,
            _master: pair.master,
        }
    }

    fn text(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    fn wait_for(&self, what: &str, secs: u64, cond: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let text = self.text();
            if cond(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_exit(&mut self, secs: u64) -> portable_pty::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(Instant::now() < deadline, "ckpt demo did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

#[test]
fn demo_whose_save_fails_says_so_and_stops_calling_its_trainer_alive() {
    const TEST: &str = "demo_whose_save_fails_says_so_and_stops_calling_its_trainer_alive";
    // 8 MiB holds two 3 MB checkpoints; the third save cannot fit.
    let Some(fs) = TmpfsMount::new(TEST, "8m", "") else {
        return;
    };
    let dir = fs.path.join("run");
    let mut demo = Pty::start(
        &[
            "demo",
            "--dir",
            dir.to_str().unwrap(),
            "--size",
            "3000000",
            "--interval",
            "0.5",
        ],
        120,
        40,
    );
    let pid = demo.child.process_id().unwrap();
    // While it saves, the demo process is the trainer, alive.
    demo.wait_for("the trainer alive", 30, |s| {
        s.contains(&format!("trainer pid {pid} alive"))
    });
    // Then the third save fails: the status line says why, the header says stopped.
    let screen = demo.wait_for("the failed save on screen", 30, |s| {
        s.contains("saving epoch 2 failed") && s.contains(&format!("trainer pid {pid} stopped"))
    });
    assert!(
        !screen.contains(&format!("pid {pid} alive")),
        "a trainer that stopped is not alive:\n{screen}"
    );
    assert!(screen.contains("not enough space"), "{screen}");
    assert!(screen.contains("history 2/2"), "{screen}");
    // It stays stopped (the tracker's next look at the live process changes nothing).
    let stopped = format!("trainer pid {pid} stopped 3s ago");
    let screen = demo.wait_for("the stop to age", 15, |s| s.contains(&stopped));
    assert!(!screen.contains("alive"), "{screen}");

    demo.writer.write_all(b"q").unwrap();
    demo.writer.flush().unwrap();
    let st = demo.wait_exit(20);
    // Back on the main screen: why the demo stopped, and where the run is.
    let out = demo.wait_for("the exit message", 10, |s| s.contains("demo stopped;"));
    assert!(
        out.contains("demo trainer stopped: saving epoch 2 failed: not enough space"),
        "{out}"
    );
    assert!(out.contains("the run is kept in"), "{out}");
    assert!(
        st.success(),
        "quitting the demo is not an error: {st:?}\n{out}"
    );
}
