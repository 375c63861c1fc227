//! Hand-built runs for the monitor's state and render tests (no disk, no clock).

use ckpt::snapshot::AliasHow;
use std::path::PathBuf;

use chrono::{DateTime, TimeZone, Utc};
use ckpt::disk::Headroom;
use ckpt::rank::{MetricSpec, Mode};
use ckpt::snapshot::LayoutKind;
use ckpt::snapshot::{Alias, Checkpoint, CheckpointState, Role, RunSnapshot};
use ckpt::tui::app::{update, App, Msg, TrainerInfo};
use ckpt::watch::WatchMode;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

pub const RUN: &str = "/data/runs/resnet50-a1";

/// The fixed "now" of every test: 2026-11-28 15:00:00 UTC.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 15, 0, 0)
        .single()
        .unwrap()
}

pub fn ckpt(epoch: u64, metric: Option<f64>, bytes: u64, mins_ago: i64) -> Checkpoint {
    Checkpoint {
        name: format!("checkpoint-{epoch}.pth.tar"),
        epoch: Some(epoch),
        metric,
        bytes,
        paths: vec![PathBuf::from(format!("checkpoint-{epoch}.pth.tar"))],
        mtime: Some(now() - chrono::Duration::minutes(mins_ago)),
        hash: Some(format!("xxh3-128:{epoch:032x}")),
        ..Default::default()
    }
}

/// A native run like the timm fixture's metrics: epochs 0–7, best e5 (62.5), last e7.
pub fn native_run() -> RunSnapshot {
    let metrics = [10.0, 30.0, 20.0, 50.0, 40.0, 62.5, 25.0, 35.0];
    let mut cps: Vec<Checkpoint> = metrics
        .iter()
        .enumerate()
        .map(|(e, m)| ckpt(e as u64, Some(*m), 3_041_705, (8 - e as i64) * 10))
        .collect();
    cps[5].roles = vec![Role::Best];
    cps[7].roles = vec![Role::Last];
    cps[3].pinned = true;
    RunSnapshot {
        run: PathBuf::from(RUN),
        layout: LayoutKind::Ckpt,
        metric: Some(MetricSpec {
            name: "eval_top1".into(),
            mode: Mode::Max,
        }),
        checkpoints: cps,
        best: Some(Alias {
            role: Role::Best,
            path: PathBuf::from("model_best.pth.tar"),
            target: Some("checkpoint-5.pth.tar".into()),
            epoch: Some(5),
            step: None,
            how: AliasHow::Hardlink,
            held: false,
        }),
        last: Some(Alias {
            role: Role::Last,
            path: PathBuf::from("last.pth.tar"),
            target: Some("checkpoint-7.pth.tar".into()),
            epoch: Some(7),
            step: None,
            how: AliasHow::Hardlink,
            held: false,
        }),
        temps: vec![],
        warnings: vec![],
        scanned_at: now(),
        default_policy: None,
        trash_bytes: 0,
        trainer_record: Default::default(),
        history: Vec::new(),
        alias_files: ckpt::snapshot::AliasFiles {
            best: Some(PathBuf::from("model_best.pth.tar")),
            last: Some(PathBuf::from("last.pth.tar")),
        },
    }
}

/// A run of `n` checkpoints with a wavy metric.
pub fn big_run(n: u64) -> RunSnapshot {
    let mut s = native_run();
    s.checkpoints = (0..n)
        .map(|e| {
            ckpt(
                e,
                Some(50.0 + (e as f64 / 7.0).sin() * 10.0 + e as f64 * 0.001),
                1 << 20,
                (n - e) as i64,
            )
        })
        .collect();
    if let Some(c) = s.checkpoints.last_mut() {
        c.roles = vec![Role::Last];
    }
    s
}

pub fn headroom() -> Headroom {
    Headroom {
        fs_type: "ext4".into(),
        mount: PathBuf::from("/data"),
        total: 100 * (1 << 30),
        available: 41 * (1 << 30),
        used: 59 * (1 << 30),
    }
}

/// An app showing `snap` at `w`×`h`, scanned, in events mode, no trainer.
pub fn app_with(snap: RunSnapshot, w: u16, h: u16) -> App {
    let run = snap.run.clone();
    let mut app = App::new(vec![run.clone()], false, now());
    update(&mut app, Msg::Resize(w, h));
    update(
        &mut app,
        Msg::WatchMode {
            run: run.clone(),
            mode: WatchMode::Events,
            reason: None,
        },
    );
    update(
        &mut app,
        Msg::Trainer {
            run: run.clone(),
            trainer: None,
        },
    );
    update(
        &mut app,
        Msg::Scanned {
            run,
            result: Ok(snap),
            headroom: Some(headroom()),
            at: now(),
        },
    );
    app
}

pub fn trainer() -> TrainerInfo {
    TrainerInfo {
        pid: 4242,
        command: "python train.py --output /data/runs/resnet50-a1".into(),
        cpu_percent: 97.4,
        memory: 1_288_490_188,
        liveness: ckpt::tui::trainer::Liveness::Alive,
        evidence: ckpt::tui::trainer::Evidence::Argument,
    }
}

pub fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

pub fn code(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

pub fn ctrl(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

/// Names in display order.
pub fn view_names(app: &App) -> Vec<String> {
    let run = app.current().unwrap();
    let snap = run.snapshot.as_ref().unwrap();
    run.view
        .iter()
        .map(|&i| snap.checkpoints[i].name.clone())
        .collect()
}

pub fn selected_name(app: &App) -> String {
    app.current()
        .unwrap()
        .selected_checkpoint()
        .unwrap()
        .name
        .clone()
}

pub fn writing(mut c: Checkpoint) -> Checkpoint {
    c.state = CheckpointState::Writing;
    c
}

/// The worker's answer to a verify that found damage: the report, then the failed
/// action with its `summary`.
pub fn verified(app: &mut App, report: ckpt::engine::VerifyReport, summary: String) {
    update(
        app,
        Msg::Verified {
            run: PathBuf::from(RUN),
            report,
        },
    );
    update(
        app,
        Msg::Done {
            run: PathBuf::from(RUN),
            result: Err(summary),
        },
    );
}
