//! `ckpt demo` in a real pseudo-terminal when its trainer's save fails: the demo
//! writes into a tiny tmpfs of its own until a save hits ENOSPC; the monitor must then
//! say so in the status line, stop calling the trainer alive, and the demo's exit
//! message must say why it stopped.

use crate::util::pty::{ckpt_command, Pty};
use crate::util::tmpfs::TmpfsMount;

#[test]
fn demo_whose_save_fails_says_so_and_stops_calling_its_trainer_alive() {
    const TEST: &str = "demo_whose_save_fails_says_so_and_stops_calling_its_trainer_alive";
    // 8 MiB holds two 3 MB checkpoints; the third save cannot fit.
    let Some(fs) = TmpfsMount::new(TEST, "8m", "") else {
        return;
    };
    let dir = fs.path.join("run");
    let mut cmd = ckpt_command(&[
        "demo",
        "--dir",
        dir.to_str().unwrap(),
        "--size",
        "3000000",
        "--interval",
        "0.5",
    ]);
    cmd.env("TERM", "xterm-256color");
    let mut demo = Pty::spawn(cmd, 120, 40);
    let pid = demo.pid();
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

    demo.keys("q");
    let st = demo.wait_exit(20);
    // Back on the main screen: why the demo stopped, and where the run is.
    let out = demo.wait_for("the exit message", 10, |s| s.contains("demo stopped;"));
    assert!(
        out.contains("demo trainer stopped: saving epoch 2 failed: not enough space"),
        "{out}"
    );
    assert!(out.contains("the run is kept in"), "{out}");
    // The engine's hint, in plain words (one checkpoint is not "1 checkpoints").
    assert!(
        out.replace('\n', "")
            .contains("would free 3000000 bytes (1 checkpoint)"),
        "{out}"
    );
    assert!(
        st.success(),
        "quitting the demo is not an error: {st:?}\n{out}"
    );
}
