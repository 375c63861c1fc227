//! Render tests: ratatui TestBackend + insta snapshots of every pane arrangement,
//! overlay and layout; a size sweep for panics and overlap; NO_COLOR attributes.

use ckpt::snapshot::AliasHow;
use ckpt::tui::app::Planned;
use std::path::PathBuf;
use std::time::Instant;

use crate::util::tui::*;
use ckpt::engine::{FileStamp, PrunePlan, RestorePlan, Victim};
use ckpt::rank::KeepReason;
use ckpt::rank::{MetricSpec, Mode, RetentionPolicy};
use ckpt::snapshot::LayoutKind;
use ckpt::snapshot::{Alias, Checkpoint, Role, RunSnapshot};
use ckpt::tui::app::{update, App, Confirm, Msg, Overlay, PendingAction};
use ckpt::tui::render;
use ckpt::watch::WatchMode;
use crossterm::event::KeyCode;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier};
use ratatui::Terminal;

fn buffer(app: &App, w: u16, h: u16) -> Buffer {
    let area = Rect::new(0, 0, w, h);
    let mut buf = Buffer::empty(area);
    render::draw(app, area, &mut buf);
    buf
}

fn screen(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| render::draw(app, f.area(), f.buffer_mut()))
        .unwrap();
    format!("{}", t.backend())
}

fn at(mut app: App, w: u16, h: u16) -> App {
    update(&mut app, Msg::Resize(w, h));
    app
}

fn confirm(app: &mut App, action: PendingAction) {
    app.overlay = Overlay::Confirm(Confirm {
        run: PathBuf::from(RUN),
        action,
        yes_focused: false,
    });
}

#[test]
fn native_80x24() {
    let app = app_with(native_run(), 80, 24);
    insta::assert_snapshot!(screen(&app, 80, 24));
}

#[test]
fn native_120x40() {
    let app = app_with(native_run(), 120, 40);
    insta::assert_snapshot!(screen(&app, 120, 40));
}

#[test]
fn native_100x30_with_trainer_and_writing() {
    let mut snap = native_run();
    snap.checkpoints.push(writing(ckpt(8, None, 1_200_000, 0)));
    snap.temps
        .push(PathBuf::from("checkpoint-8.pth.tar.tmp-4242-x"));
    let mut app = app_with(snap, 100, 30);
    update(
        &mut app,
        Msg::Trainer {
            run: PathBuf::from(RUN),
            trainer: Some(trainer()),
        },
    );
    let s = screen(&app, 100, 30);
    assert!(s.contains("writing"));
    assert!(s.contains("pid 4242"));
    insta::assert_snapshot!(s);
}

#[test]
fn polling_read_only_header() {
    let mut app = app_with(native_run(), 120, 40);
    app.read_only = true;
    update(
        &mut app,
        Msg::WatchMode {
            run: PathBuf::from(RUN),
            mode: ckpt::watch::WatchMode::Polling(std::time::Duration::from_secs(2)),
            reason: Some("nfs4 filesystem".into()),
        },
    );
    let s = screen(&app, 120, 40);
    assert!(s.contains("polling 2s (nfs4 filesystem) · scan 15:00:00"));
    assert!(s.contains("READ-ONLY"));
    assert!(!s.contains("promote"), "no promote hint in read-only");
    insta::assert_snapshot!(s);
}

fn prune_plan() -> PrunePlan {
    let victim = |e: u64| Victim {
        name: format!("checkpoint-{e}.pth.tar"),
        epoch: Some(e),
        step: None,
        files: vec![FileStamp {
            path: PathBuf::from(format!("checkpoint-{e}.pth.tar")),
            bytes: 3_041_705,
            mtime_ns: 0,
            dev: 1,
            ino: e,
            nlink: 1,
        }],
        bytes_freed: 3_041_705,
    };
    PrunePlan {
        run: PathBuf::from(RUN),
        policy: RetentionPolicy {
            keep_top_k: Some(3),
            keep_last: Some(1),
            keep_every: None,
        },
        victims: vec![victim(0), victim(2), victim(6)],
        kept: vec![
            (
                "checkpoint-5.pth.tar".into(),
                vec![KeepReason::Best, KeepReason::TopK(1)],
            ),
            ("checkpoint-3.pth.tar".into(), vec![KeepReason::TopK(2)]),
            ("checkpoint-7.pth.tar".into(), vec![KeepReason::Last]),
        ],
        bytes_freed: 3 * 3_041_705,
    }
}

#[test]
fn confirm_prune() {
    for (w, h) in [(80, 24), (120, 40)] {
        let mut app = app_with(native_run(), w, h);
        confirm(&mut app, PendingAction::Prune(prune_plan().into()));
        let s = screen(&app, w, h);
        assert!(s.contains("9,125,115 bytes"));
        assert!(s.contains("checkpoint-6.pth.tar"));
        assert!(s.contains("[ No ]"));
        insta::assert_snapshot!(format!("confirm_prune_{w}x{h}"), s);
    }
}

#[test]
fn confirm_restore_archive_newer() {
    for (w, h) in [(80, 24), (120, 40)] {
        let mut app = app_with(native_run(), w, h);
        confirm(
            &mut app,
            PendingAction::Restore(RestorePlan {
                run: PathBuf::from(RUN),
                target: "checkpoint-3.pth.tar".into(),
                epoch: Some(3),
                dest: PathBuf::from(RUN).join("last.pth.tar"),
                backup: None,
                newer: (4..8).map(|e| format!("checkpoint-{e}.pth.tar")).collect(),
                archive_dir: Some(PathBuf::from(RUN).join(".ckpt/trash/20261128T150000Z")),
                bytes_to_copy: 0,
                export: false,
                force: false,
                ..Default::default()
            }),
        );
        let s = screen(&app, w, h);
        assert!(
            s.contains("4 newer checkpoints (12,166,820 bytes, 11.6 MiB) move to"),
            "{s}"
        );
        assert!(s.contains("checkpoint-7.pth.tar"), "{s}");
        assert!(s.contains("[x] a: archive the newer ones"), "{s}");
        assert!(s.contains("12,166,820 bytes"), "{s}");
        assert!(s.contains(".ckpt/trash/20261128T150000Z/"), "{s}");
        assert!(s.contains("archive newer"), "footer offers the toggle: {s}");
        assert!(s.contains("[ No ]"));
        insta::assert_snapshot!(format!("confirm_restore_archive_{w}x{h}"), s);
    }
}

#[test]
fn confirm_restore_promote_pin_verify() {
    let mut app = app_with(native_run(), 100, 30);
    confirm(
        &mut app,
        PendingAction::Restore(RestorePlan {
            run: PathBuf::from(RUN),
            target: "checkpoint-3.pth.tar".into(),
            epoch: Some(3),
            dest: PathBuf::from("last.pth.tar"),
            backup: Some(PathBuf::from(".ckpt/trash/20261128T150000Z/last.pth.tar")),
            newer: vec![
                "checkpoint-4.pth.tar".into(),
                "checkpoint-5.pth.tar".into(),
                "checkpoint-7.pth.tar".into(),
            ],
            archive_dir: None,
            bytes_to_copy: 0,
            export: false,
            force: false,
            ..Default::default()
        }),
    );
    insta::assert_snapshot!("confirm_restore", screen(&app, 100, 30));
    confirm(
        &mut app,
        PendingAction::Promote {
            name: "checkpoint-3.pth.tar".into(),
            epoch: Some(3),
            step: None,
            files: vec![(PathBuf::from("checkpoint-3.pth.tar"), 3_041_705)],
            alias: Some(PathBuf::from("model_best.pth.tar")),
            alias_exists: true,
            previous: Some("checkpoint-5.pth.tar".into()),
            keeps_only_copy: false,
        },
    );
    insta::assert_snapshot!("confirm_promote", screen(&app, 100, 30));
    confirm(
        &mut app,
        PendingAction::Pin {
            name: "checkpoint-3.pth.tar".into(),
            pin: false,
            files: vec![(PathBuf::from("checkpoint-3.pth.tar"), 3_041_705)],
        },
    );
    insta::assert_snapshot!("confirm_unpin", screen(&app, 100, 30));
    confirm(
        &mut app,
        PendingAction::Verify {
            checkpoints: 8,
            bytes: 8 * 3_041_705,
        },
    );
    insta::assert_snapshot!("confirm_verify", screen(&app, 100, 30));
}

#[test]
fn help_overlay() {
    let mut app = app_with(native_run(), 120, 40);
    update(&mut app, key('?'));
    let s = screen(&app, 120, 40);
    use ckpt::tui::keymap::KeyMode;
    for b in ckpt::tui::keymap::BINDINGS {
        if !b
            .modes
            .iter()
            .any(|m| matches!(m, KeyMode::Run | KeyMode::Filter | KeyMode::Confirm))
        {
            continue;
        }
        assert!(s.contains(b.help), "help lacks {:?}", b.help);
    }
    insta::assert_snapshot!(s);
    let s80 = screen(&at(app, 80, 24), 80, 24);
    insta::assert_snapshot!("help_overlay_80x24", s80);
}

#[test]
fn details_overlay() {
    let mut app = app_with(native_run(), 100, 30);
    update(&mut app, code(KeyCode::Enter));
    insta::assert_snapshot!(screen(&app, 100, 30));
}

#[test]
fn error_status() {
    let mut app = app_with(native_run(), 80, 24);
    update(&mut app, key('p'));
    update(&mut app, key('y'));
    update(
        &mut app,
        Msg::Done {
            run: PathBuf::from(RUN),
            result: Err("not enough space on /data (ext4) for checkpoint-8.pth.tar: 1 bytes free, 3041705 bytes needed; prune checkpoints".into()),
        },
    );
    let s = screen(&app, 80, 24);
    assert!(s.contains("error: not enough space"));
    assert!(
        s.contains("… (! shows all)"),
        "a cut status says where the rest is"
    );
    update(&mut app, key('!'));
    let full = screen(&app, 80, 24);
    assert!(full.contains("prune checkpoints"), "{full}");
    update(&mut app, code(KeyCode::Esc));
    insta::assert_snapshot!(s);
}

#[test]
fn disk_full_warning_and_empty_run() {
    let mut app = app_with(native_run(), 120, 40);
    let mut h = headroom();
    h.available = 2_000_000;
    update(
        &mut app,
        Msg::Scanned {
            run: PathBuf::from(RUN),
            result: Ok(native_run()),
            headroom: Some(h),
            at: now(),
        },
    );
    let s = screen(&app, 120, 40);
    // Never cut: wrapped under the gauge, to its last word.
    assert!(s.contains("next save would not fit"));
    assert!(s.contains("MiB free "), "{s}");
    insta::assert_snapshot!("disk_full_120x40", s);
    let s = screen(&at(app.clone(), 80, 24), 80, 24);
    assert!(
        s.contains("next save would not fit: needs ~2.9 MiB, 1.9 MiB free"),
        "{s}"
    );
    // Narrower: the total and the bar give way before the warning's words do.
    for w in [60u16, 44, 30] {
        let s = screen(&at(app.clone(), w, 24), w, 24);
        let line = s.lines().find(|l| l.contains("⚠")).unwrap_or("");
        assert!(line.contains("⚠ next save won't fit"), "{w} cols: {line}");
    }
    let mut empty = native_run();
    empty.checkpoints.clear();
    empty.best = None;
    empty.last = None;
    let app = app_with(empty, 120, 40);
    let s = screen(&app, 120, 40);
    assert!(s.contains("no checkpoints yet"));
    insta::assert_snapshot!("empty_run_120x40", s);
}

#[test]
fn progress_in_status() {
    let mut app = app_with(native_run(), 80, 24);
    update(&mut app, key('v'));
    update(&mut app, key('y'));
    update(
        &mut app,
        Msg::Progress(ckpt::engine::Progress {
            what: "checkpoint-4.pth.tar".into(),
            done: 1_500_000,
            total: 3_041_705,
        }),
    );
    let s = screen(&app, 80, 24);
    assert!(s.contains("verify… checkpoint-4.pth.tar 49%"), "{s}");
}

/// Mimics what the layout scanners yield for the fixtures (tests/fixtures/README.md).
fn timm_like() -> RunSnapshot {
    let mut s = native_run();
    s.run = PathBuf::from("/data/timm-basic");
    s.layout = LayoutKind::Timm;
    s.metric = Some(MetricSpec {
        name: "top1".into(),
        mode: Mode::Max,
    });
    let mut keep: Vec<Checkpoint> = vec![];
    let mut rec = ckpt(2, None, 3_041_000, 55);
    rec.name = "recovery-2-1.pth.tar".into();
    rec.batch = Some(1);
    rec.paths = vec![PathBuf::from("recovery-2-1.pth.tar")];
    rec.roles = vec![Role::Recovery];
    keep.push(rec);
    for (e, m) in [(3, 50.0), (4, 40.0), (5, 62.5)] {
        let mut c = ckpt(e, Some(m), 3_041_705, (8 - e as i64) * 10);
        c.hash = None;
        if e == 5 {
            c.roles = vec![Role::Best];
        }
        keep.push(c);
    }
    s.checkpoints = keep;
    s.last = Some(Alias {
        role: Role::Last,
        path: PathBuf::from("last.pth.tar"),
        target: None,
        epoch: Some(7),
        step: None,
        how: AliasHow::Copy,
        held: false,
    });
    s.warnings = vec!["last.pth.tar (epoch 7) is the only copy of its state".into()];
    s
}

fn lightning_like() -> RunSnapshot {
    let mut s = native_run();
    s.run = PathBuf::from("/data/lightning_logs/version_0");
    s.layout = LayoutKind::Lightning;
    s.metric = Some(MetricSpec {
        name: "val_loss".into(),
        mode: Mode::Min,
    });
    let mk = |e: u64, st: u64, m: f64| {
        let name = format!("epoch={e}-step={st}-val_loss={m:.3}.ckpt");
        Checkpoint {
            name: name.clone(),
            epoch: Some(e),
            step: Some(st),
            metric: Some(m),
            bytes: 1_203_811,
            paths: vec![PathBuf::from(format!("checkpoints/{name}"))],
            mtime: Some(now() - chrono::Duration::minutes(30 - e as i64 * 5)),
            ..Default::default()
        }
    };
    let mut a = mk(1, 8, 0.5);
    let mut b = mk(3, 16, 0.4);
    a.roles = vec![];
    b.roles = vec![Role::Best, Role::Last];
    s.checkpoints = vec![a, b];
    s.best = None;
    s.last = Some(Alias {
        role: Role::Last,
        path: PathBuf::from("checkpoints/last.ckpt"),
        target: Some("epoch=3-step=16-val_loss=0.400.ckpt".into()),
        epoch: Some(3),
        step: Some(16),
        how: AliasHow::Copy,
        held: false,
    });
    s
}

fn hf_like() -> RunSnapshot {
    let mut s = native_run();
    s.run = PathBuf::from("/data/hf-basic");
    s.layout = LayoutKind::Hf;
    s.metric = Some(MetricSpec {
        name: "eval_loss".into(),
        mode: Mode::Min,
    });
    let mk = |st: u64, m: f64| Checkpoint {
        name: format!("checkpoint-{st}"),
        epoch: None,
        step: Some(st),
        metric: Some(m),
        bytes: 2_407_332,
        paths: vec![
            PathBuf::from(format!("checkpoint-{st}/model.safetensors")),
            PathBuf::from(format!("checkpoint-{st}/trainer_state.json")),
        ],
        mtime: Some(now() - chrono::Duration::minutes(40 - st as i64 / 2)),
        ..Default::default()
    };
    let mut a = mk(20, 0.5);
    let mut b = mk(40, 0.7);
    a.roles = vec![Role::Best];
    b.roles = vec![Role::Last];
    s.checkpoints = vec![a, b];
    s.best = None;
    s.last = None;
    s
}

#[test]
fn layouts_at_both_sizes() {
    for (name, snap) in [
        ("timm", timm_like()),
        ("lightning", lightning_like()),
        ("hf", hf_like()),
    ] {
        for (w, h) in [(80, 24), (120, 40)] {
            let app = app_with(snap.clone(), w, h);
            let s = screen(&app, w, h);
            assert!(s.contains(snap.layout.as_str()));
            insta::assert_snapshot!(format!("layout_{name}_{w}x{h}"), s);
        }
    }
}

#[test]
fn run_list() {
    let runs = vec![
        PathBuf::from("/data/runs/hf-basic"),
        PathBuf::from("/data/runs/lightning/version_0"),
        PathBuf::from("/data/runs/timm-basic"),
    ];
    let mut app = App::new(runs.clone(), false, now());
    app.root = Some(PathBuf::from("/data/runs"));
    update(&mut app, Msg::Resize(100, 30));
    for (path, mut snap) in runs.iter().zip([hf_like(), lightning_like(), timm_like()]) {
        snap.run = path.clone();
        update(
            &mut app,
            Msg::Scanned {
                run: path.clone(),
                result: Ok(snap),
                headroom: Some(headroom()),
                at: now(),
            },
        );
    }
    update(
        &mut app,
        Msg::Trainer {
            run: runs[2].clone(),
            trainer: Some(trainer()),
        },
    );
    update(&mut app, key('j'));
    let s = screen(&app, 100, 30);
    assert!(s.contains("lightning/version_0"));
    insta::assert_snapshot!(s);
    insta::assert_snapshot!("run_list_80x24", screen(&at(app, 80, 24), 80, 24));
}

fn assert_ansi16(buf: &Buffer) {
    for c in buf.content() {
        for col in [c.fg, c.bg] {
            assert!(
                !matches!(col, Color::Rgb(..) | Color::Indexed(_)),
                "non-ANSI-16 colour {col:?}"
            );
        }
    }
}

fn selected_row_y(buf: &Buffer, name_fragment: &str) -> u16 {
    let area = buf.area;
    (0..area.height)
        .find(|&y| {
            let line: String = (0..area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect();
            line.contains(name_fragment)
                && buf[(area.width / 4, y)]
                    .modifier
                    .contains(Modifier::REVERSED)
        })
        .expect("selected row is reversed")
}

#[test]
fn no_color_keeps_the_selection_visible() {
    let mut app = app_with(native_run(), 120, 40);
    app.color = false;
    update(&mut app, key('j'));
    let buf = buffer(&app, 120, 40);
    for c in buf.content() {
        assert_eq!(c.fg, Color::Reset, "NO_COLOR draws no foreground colour");
        assert_eq!(c.bg, Color::Reset, "NO_COLOR draws no background colour");
    }
    let y = selected_row_y(&buf, "     6 ");
    // Snapshot the text plus which rows carry REVERSED.
    let marks: String = (0..40)
        .map(|row| {
            if buf[(30, row)].modifier.contains(Modifier::REVERSED) {
                'R'
            } else {
                '.'
            }
        })
        .collect();
    assert_eq!(marks.chars().filter(|c| *c == 'R').count(), 1);
    assert_eq!(marks.find('R'), Some(y as usize));
    insta::assert_snapshot!(format!("{}\nreversed rows: {marks}", screen(&app, 120, 40)));
    // In colour, only ANSI-16 named colours, and the selection is still reversed.
    app.color = true;
    let buf = buffer(&app, 120, 40);
    assert_ansi16(&buf);
    selected_row_y(&buf, "     6 ");
}

#[test]
fn every_size_renders_without_panic_or_overlap() {
    let mut states: Vec<App> = vec![];
    states.push(app_with(native_run(), 80, 24));
    let mut help = app_with(native_run(), 80, 24);
    update(&mut help, key('?'));
    states.push(help);
    let mut conf = app_with(native_run(), 80, 24);
    confirm(&mut conf, PendingAction::Prune(prune_plan().into()));
    states.push(conf);
    let mut details = app_with(native_run(), 80, 24);
    update(&mut details, code(KeyCode::Enter));
    states.push(details);
    states.push(app_with(hf_like(), 80, 24));
    states.push(App::new(
        vec![PathBuf::from("/a"), PathBuf::from("/b")],
        true,
        now(),
    ));
    let mut sizes = vec![];
    for w in (20..=300).step_by(7) {
        for h in (5..=100).step_by(5) {
            sizes.push((w, h));
        }
    }
    sizes.extend([(20, 5), (300, 100), (80, 24), (99, 29), (100, 30), (21, 6)]);
    for (w, h) in sizes {
        let area = Rect::new(0, 0, w, h);
        let a = render::areas(area);
        let panes = [
            a.header, a.summary, a.table, a.chart, a.ranking, a.disk, a.status, a.footer,
        ];
        for (i, p) in panes.iter().enumerate() {
            if p.area() == 0 {
                continue;
            }
            assert!(area.contains(p.as_position()) && p.right() <= w && p.bottom() <= h);
            for q in &panes[i + 1..] {
                assert!(
                    q.area() == 0 || !p.intersects(*q),
                    "{w}x{h}: {p:?} overlaps {q:?}"
                );
            }
        }
        for app in &states {
            let app = at(app.clone(), w, h);
            let _ = buffer(&app, w, h);
        }
    }
}

#[test]
fn compact_80x24_shows_table_best_last_headroom() {
    let app = app_with(native_run(), 80, 24);
    let s = screen(&app, 80, 24);
    assert!(s.contains("best e5 62.5"));
    assert!(s.contains("last e7 35"));
    assert!(s.contains("41.0 GiB free"));
    assert!(s.contains("epoch"));
    let app = app_with(native_run(), 120, 40);
    let s = screen(&app, 120, 40);
    for pane in [
        "history",
        "eval_top1",
        "top-k",
        "disk",
        "more checkpoints fit",
        "no growth seen yet",
    ] {
        assert!(s.contains(pane), "120x40 lacks {pane}");
    }
}

#[test]
fn ten_thousand_rows_render_fast() {
    let mut app = app_with(big_run(10_000), 120, 40);
    let t = Instant::now();
    for _ in 0..20 {
        update(&mut app, key('j'));
        let _ = buffer(&app, 120, 40);
    }
    let per_frame = t.elapsed() / 20;
    // Reported, never judged (timing must not decide pass/fail on a shared machine):
    // the table is virtualised, which the window below proves.
    eprintln!("10,000 rows: {per_frame:?} per key + frame (debug build)");
    let s = screen(&app, 120, 40);
    assert!(s.contains("history 10000/10000"), "{s}");
    // Newest first: 20 moves down select epoch 9979, drawn in the visible window.
    assert!(s.contains("   9979 "), "{s}");
    assert!(
        !s.contains("   9900 "),
        "only the visible rows are built: {s}"
    );
}

/// Unpack a real fixture run and scan it with the real layout code.
fn real_fixture(name: &str) -> RunSnapshot {
    let (tmp, root) = crate::util::fixtures::unpack(name);
    let runs = ckpt::layout::discover_runs(&root);
    assert_eq!(runs.len(), 1, "{name}: {runs:?}");
    let mut snap = ckpt::layout::scan(&runs[0], None).unwrap();
    // Deterministic text: the temp dir becomes a fixed path.
    let fixed = PathBuf::from("/fixtures").join(runs[0].strip_prefix(tmp.path()).unwrap());
    let tmp_s = runs[0].to_string_lossy().into_owned();
    snap.run = fixed.clone();
    for w in &mut snap.warnings {
        *w = w.replace(&tmp_s, &fixed.to_string_lossy());
    }
    snap
}

#[test]
fn real_fixture_layouts_at_both_sizes() {
    for name in ["timm-basic", "lightning-basic", "hf-basic"] {
        let snap = real_fixture(name);
        let newest = snap
            .checkpoints
            .iter()
            .filter_map(|c| c.mtime)
            .max()
            .unwrap();
        for (w, h) in [(80, 24), (120, 40)] {
            let mut app = app_with(snap.clone(), w, h);
            app.now = newest + chrono::Duration::minutes(5);
            let s = screen(&app, w, h);
            assert!(s.contains(snap.layout.as_str()), "{name}: {s}");
            insta::assert_snapshot!(format!("fixture_{name}_{w}x{h}"), s);
        }
    }
}

#[test]
fn verify_damage_shows_in_rows_status_and_details() {
    let mut app = app_with(native_run(), 80, 24);
    let rep = ckpt::engine::VerifyReport {
        run: PathBuf::from(RUN),
        checked: 8,
        bytes: 1,
        ok: (0..7).map(|e| format!("checkpoint-{e}.pth.tar")).collect(),
        damaged: vec![ckpt::engine::VerifyIssue {
            name: "checkpoint-7.pth.tar".into(),
            path: PathBuf::from(RUN).join("checkpoint-7.pth.tar"),
            reason:
                "truncated: no end of central directory record in the last 65,557 bytes of the zip"
                    .into(),
        }],
        notes: vec![],
    };
    let names: Vec<String> = native_run()
        .checkpoints
        .iter()
        .map(|c| c.name.clone())
        .collect();
    let summary = ckpt::tui::app::verify_summary(&rep, &names).unwrap_err();
    verified(&mut app, rep, summary);
    let s = screen(&app, 80, 24);
    assert!(s.contains("damaged"), "{s}");
    assert!(
        s.contains("error: verify: 1 checkpoint of 8 damaged — Enter on a row shows why"),
        "{s}"
    );
    insta::assert_snapshot!("verify_damaged_80x24", s);
    update(&mut app, code(KeyCode::Enter));
    let s = screen(&app, 80, 24);
    assert!(s.contains("no end of central"), "{s}");
    insta::assert_snapshot!("verify_damaged_details_80x24", s);
    update(&mut app, code(KeyCode::Esc));
    update(&mut app, key('!'));
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("65,557 bytes of") && s.contains("checkpoint-7.pth.tar):"),
        "{s}"
    );
    insta::assert_snapshot!("verify_damaged_message_80x24", s);
}

#[test]
fn deleted_run_is_stale_at_both_sizes() {
    for (w, h) in [(80, 24), (120, 40)] {
        let mut app = app_with(native_run(), w, h);
        update(
            &mut app,
            Msg::Gone {
                run: PathBuf::from(RUN),
                at: now(),
            },
        );
        let s = screen(&app, w, h);
        assert!(
            s.contains("run directory is gone: /data/runs/resnet50-a1"),
            "{s}"
        );
        assert!(s.contains("stale"), "{s}");
        assert!(!s.contains(" ok "), "no row claims ok: {s}");
        insta::assert_snapshot!(format!("run_gone_{w}x{h}"), s);
    }
}

#[test]
fn run_list_cuts_paths_from_the_left_and_shows_the_trainer() {
    let runs = vec![
        PathBuf::from("/tmp/qa/a-long-experiment-directory/timm/timm-basic"),
        PathBuf::from("/tmp/qa/a-long-experiment-directory/runs/timm-basic"),
    ];
    let mut app = App::new(runs.clone(), false, now());
    update(&mut app, Msg::Resize(80, 24));
    for path in &runs {
        let mut snap = timm_like();
        snap.run = path.clone();
        update(
            &mut app,
            Msg::Scanned {
                run: path.clone(),
                result: Ok(snap),
                headroom: Some(headroom()),
                at: now(),
            },
        );
        update(
            &mut app,
            Msg::WatchMode {
                run: path.clone(),
                mode: WatchMode::Events,
                reason: None,
            },
        );
    }
    update(
        &mut app,
        Msg::Trainer {
            run: runs[0].clone(),
            trainer: Some(trainer()),
        },
    );
    update(
        &mut app,
        Msg::Trainer {
            run: runs[1].clone(),
            trainer: None,
        },
    );
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("…timm/timm-basic") || s.contains("timm/timm-basic"),
        "{s}"
    );
    assert!(s.contains("/runs/timm-basic"), "{s}");
    assert!(s.contains("pid "), "{s}");
    assert!(s.contains("no trainer"), "{s}");
    assert!(
        !s.contains("events"),
        "activity is the trainer, not the watch mode: {s}"
    );
    insta::assert_snapshot!("run_list_left_cut_80x24", s);
    let s = screen(&at(app, 120, 30), 120, 30);
    assert!(s.contains("no trainer · saved 30m ago"), "{s}");
    assert!(s.contains("pid 4242 · cpu"), "{s}");
}

#[test]
fn confirm_dialogs_wrap_long_paths_at_narrow_sizes() {
    let long = PathBuf::from(
        "/scratch/project-with-a-long-name/experiments/2026-11-28/resnet50-a1-lr0.1-wd1e-4",
    );
    for (w, h) in [(40, 24), (60, 24), (80, 24)] {
        let mut snap = native_run();
        snap.run = long.clone();
        let mut app = App::new(vec![long.clone()], false, now());
        update(&mut app, Msg::Resize(w, h));
        update(
            &mut app,
            Msg::Scanned {
                run: long.clone(),
                result: Ok(snap),
                headroom: Some(headroom()),
                at: now(),
            },
        );
        app.overlay = Overlay::Confirm(Confirm {
            run: long.clone(),
            action: PendingAction::Restore(RestorePlan {
                run: long.clone(),
                target: "checkpoint-3.pth.tar".into(),
                epoch: Some(3),
                dest: long.join("last.pth.tar"),
                backup: None,
                newer: (4..8).map(|e| format!("checkpoint-{e}.pth.tar")).collect(),
                archive_dir: Some(PathBuf::from(
                    "/elsewhere/trash-of-a-very-long-path/.ckpt/trash/20261128T150000Z",
                )),
                bytes_to_copy: 0,
                export: false,
                force: false,
                ..Default::default()
            }),
            yes_focused: false,
        });
        let s = screen(&app, w, h);
        // Rejoin the wrapped rows: the whole trash path is there, nothing is cut.
        let joined: String = s
            .lines()
            .map(|l| {
                l.trim_matches('"')
                    .trim_end()
                    .trim_end_matches('│')
                    .trim()
                    .trim_start_matches('│')
                    .to_string()
            })
            .collect();
        assert!(joined.contains("20261128T150000Z/"), "{w}x{h}: {s}");
        assert!(s.contains("[ No ]"), "{w}x{h}: {s}");
        insta::assert_snapshot!(format!("confirm_wrap_{w}x{h}"), s);
    }
}

#[test]
fn disk_pane_says_steady_or_full_from_the_runs_growth() {
    let mut app = app_with(native_run(), 120, 40);
    let mut later = now();
    for _ in 0..2 {
        later += chrono::Duration::minutes(5);
        update(
            &mut app,
            Msg::Scanned {
                run: PathBuf::from(RUN),
                result: Ok(native_run()),
                headroom: Some(headroom()),
                at: later,
            },
        );
    }
    let s = screen(&app, 120, 40);
    assert!(s.contains("run size steady"), "{s}");
    assert!(!s.contains("full in"), "{s}");
    // One save and two do not make a trend: no time to full is claimed yet.
    let mut grown = native_run();
    for epoch in 8..11 {
        grown.checkpoints.push(ckpt(epoch, Some(1.0), 3_041_705, 0));
        later += chrono::Duration::minutes(5);
        update(
            &mut app,
            Msg::Scanned {
                run: PathBuf::from(RUN),
                result: Ok(grown.clone()),
                headroom: Some(headroom()),
                at: later,
            },
        );
        let s = screen(&app, 120, 40);
        if epoch < 10 {
            assert!(s.contains("time to full: no growth seen yet"), "{s}");
        }
    }
    let s = screen(&app, 120, 40);
    assert!(s.contains("full in ~"), "{s}");
    // Three saves of 3,041,705 bytes in 25 minutes.
    assert!(s.contains("· run +20.9 MiB/h"), "{s}");
    insta::assert_snapshot!("disk_growth_120x40", s);
}

/// Unpack a fixture into a temp dir (kept alive by the caller) and scan it for real.
fn fixture_copy(name: &str) -> (tempfile::TempDir, RunSnapshot) {
    let (tmp, root) = crate::util::fixtures::unpack(name);
    let runs = ckpt::layout::discover_runs(&root);
    assert_eq!(runs.len(), 1, "{name}: {runs:?}");
    let snap = ckpt::layout::scan(&runs[0], None).unwrap();
    (tmp, snap)
}

/// Select `name` in the table and press `key`; the dialog's action.
fn act_on(app: &mut App, name: &str, key_c: char) -> PendingAction {
    for _ in 0..30 {
        if selected_name(app) == name {
            break;
        }
        update(app, key('j'));
    }
    assert_eq!(selected_name(app), name);
    update(app, key(key_c));
    match &app.overlay {
        Overlay::Confirm(c) => c.action.clone(),
        o => panic!("no confirm: {o:?} status {:?}", app.status),
    }
}

fn show(app: &mut App, action: PendingAction, w: u16, h: u16) -> String {
    let run = app.current().unwrap().path.clone();
    app.overlay = Overlay::Confirm(Confirm {
        run,
        action,
        yes_focused: false,
    });
    screen(app, w, h)
}

/// Files and bytes under a path, walked on disk.
fn tree_size(p: &std::path::Path) -> (usize, u64) {
    let m = std::fs::symlink_metadata(p).unwrap();
    if !m.is_dir() {
        return (1, m.len());
    }
    std::fs::read_dir(p).unwrap().fold((0, 0), |(f, b), e| {
        let (f2, b2) = tree_size(&e.unwrap().path());
        (f + f2, b + b2)
    })
}

#[test]
fn promote_dialogs_name_the_file_the_engine_writes() {
    // Lightning: best.ckpt (absent in the fixture) is created; no checkpoint is rewritten.
    let (_t, snap) = fixture_copy("lightning-basic");
    let mut app = app_with(snap, 120, 40);
    let a = act_on(&mut app, "epoch=1-step=8-val_loss=0.500.ckpt", 'p');
    let PendingAction::Promote { alias, .. } = &a else {
        panic!("{a:?}")
    };
    assert_eq!(
        alias.as_deref(),
        Some(std::path::Path::new("checkpoints/best.ckpt"))
    );
    let s = screen(&app, 120, 40);
    assert!(
        s.contains("checkpoints/best.ckpt is created to hold:"),
        "{s}"
    );
    assert!(!s.contains("Rewrites"), "{s}");
    assert!(
        s.contains("(was epoch=3-step=16-val_loss=0.400.ckpt)"),
        "{s}"
    );
    // last.ckpt (a copy naming epoch 3) is not one of the checkpoint's files.
    let (_t2, snap) = fixture_copy("lightning-basic");
    let mut app = app_with(snap, 120, 40);
    act_on(&mut app, "epoch=3-step=16-val_loss=0.400.ckpt", 'p');
    let s = screen(&app, 120, 40);
    assert!(s.contains("It is already best"), "{s}");
    assert!(!s.contains("last.ckpt"), "{s}");

    // hf: nothing is rewritten; best is a record.
    let (_t, snap) = fixture_copy("hf-basic");
    let mut app = app_with(snap, 120, 40);
    let a = act_on(&mut app, "checkpoint-40", 'p');
    assert!(
        matches!(&a, PendingAction::Promote { alias: None, .. }),
        "{a:?}"
    );
    let s = screen(&app, 120, 40);
    assert!(s.contains("No file is rewritten"), "{s}");
    assert!(s.contains("Make checkpoint-40 (step 40) the best"), "{s}");
    assert!(s.contains(".ckpt/state.json"), "{s}");
    assert!(s.contains("(was checkpoint-20)"), "{s}");
    assert!(!s.contains("Rewrites"), "{s}");

    // Native: says which best it replaces; the alias exists, so it is replaced.
    let mut app = app_with(native_run(), 120, 40);
    act_on(&mut app, "checkpoint-4.pth.tar", 'p');
    let s = screen(&app, 120, 40);
    assert!(s.contains("model_best.pth.tar is replaced to hold:"), "{s}");
    assert!(s.contains("(was checkpoint-5.pth.tar)"), "{s}");
}

#[test]
fn hf_restore_dialog_moves_step_directories_with_their_real_size() {
    let (_t, snap) = fixture_copy("hf-basic");
    let run = snap.run.clone();
    let (files, bytes) = tree_size(&run.join("checkpoint-40"));
    assert!(files > 1, "checkpoint-40 is a directory of files");
    let action = ckpt::tui::worker::plan(
        &run,
        None,
        &ckpt::tui::app::PlanRequest::Restore {
            name: "checkpoint-20".into(),
            archive_newer: false,
        },
    )
    .unwrap();
    let Planned::Confirm(action) = action else {
        panic!("{action:?}")
    };
    let mut app = app_with(snap, 120, 40);
    let s = show(&mut app, action.clone(), 120, 40);
    let want = format!(
        "1 newer step folder, {files} files, {} bytes",
        ckpt::tui::render::fmt::exact(bytes)
    );
    assert!(s.contains(&want), "{want}\n{s}");
    assert!(
        s.contains("the Trainer resumes from the highest step"),
        "{s}"
    );
    // Nothing to toggle on hf: the footer does not offer `a`.
    assert!(!s.contains("a archive newer"), "{s}");
    assert!(s.contains("(step 20)"), "{s}");
    assert!(!s.contains("rewrite checkpoint-20"), "{s}");
    assert!(!s.contains("(0 bytes to copy)"), "{s}");
    // A small dialog keeps what moves.
    let s = show(&mut app, action, 40, 10);
    assert!(s.contains("1 newer step folder"), "{s}");
}

#[test]
fn restore_dialog_shows_kept_newer_and_its_warning() {
    let mut app = app_with(native_run(), 120, 40);
    let s = show(
        &mut app,
        PendingAction::Restore(RestorePlan {
            run: PathBuf::from(RUN),
            target: "checkpoint-2.pth.tar".into(),
            epoch: Some(2),
            dest: PathBuf::from(RUN).join("last.pth.tar"),
            newer: vec!["checkpoint-4.pth.tar".into()],
            kept_newer: vec![("checkpoint-3.pth.tar".into(), "pinned".into())],
            archive_dir: Some(PathBuf::from(RUN).join(".ckpt/trash/20261128T150000Z")),
            ..Default::default()
        }),
        120,
        40,
    );
    assert!(
        s.contains("Stay in place: checkpoint-3.pth.tar (pinned)"),
        "{s}"
    );
    assert!(s.contains("unpin it or release best first"), "{s}");
    assert!(
        s.contains("1 newer checkpoint (3,041,705 bytes, 2.9 MiB) moves to .ckpt/trash/"),
        "{s}"
    );
    assert!(s.contains("[x] a: archive the newer ones"), "{s}");
}

#[test]
fn timm_restore_archive_counts_checkpoints_not_aliases_and_status_names_the_backup() {
    let (_t, snap) = fixture_copy("timm-basic");
    let run = snap.run.clone();
    let req = ckpt::tui::app::PlanRequest::Restore {
        name: "checkpoint-4.pth.tar".into(),
        archive_newer: true,
    };
    let Planned::Confirm(action) = ckpt::tui::worker::plan(&run, None, &req).unwrap() else {
        panic!("nothing to confirm")
    };
    let PendingAction::Restore(plan) = &action else {
        panic!("{action:?}")
    };
    let n = plan.newer.len();
    let bytes: u64 = plan
        .newer
        .iter()
        .map(|c| std::fs::metadata(run.join(c)).unwrap().len())
        .sum();
    let mut app = app_with(snap, 120, 40);
    let s = show(&mut app, action.clone(), 120, 40);
    let want = format!(
        "{n} newer checkpoint{} ({} bytes",
        if n == 1 { "" } else { "s" },
        ckpt::tui::render::fmt::exact(bytes)
    );
    assert!(s.contains(&want), "{want}\n{s}");
    assert!(
        plan.backup.is_some(),
        "last.pth.tar is the only copy of epoch 7"
    );
    let (tx, _rx) = std::sync::mpsc::channel();
    let done = ckpt::tui::worker::apply(&run, None, &action, &tx).unwrap();
    assert_eq!(done.action, ckpt::tui::app::ActionKind::Restore);
    let text = done.text;
    assert!(
        text.contains("old last (epoch 7, only copy) kept in .ckpt/trash/"),
        "{text}"
    );
    assert!(text.contains("/last.pth.tar"), "{text}");
}

#[test]
fn prune_without_a_policy_says_so_like_the_cli() {
    let (_t, snap) = fixture_copy("lightning-basic");
    let req = ckpt::tui::app::PlanRequest::Prune { marked: vec![] };
    let planned = ckpt::tui::worker::plan(&snap.run, None, &req).unwrap();
    let Planned::NothingToDo(why) = planned else {
        panic!("{planned:?}")
    };
    assert_eq!(why, ckpt::tui::worker::NO_POLICY);
    assert!(why.contains("--keep-top/--keep-last/--keep-every"));
    // timm's checkpoint_hist is the fallback policy, as in `ckpt prune`.
    let (_t, snap) = fixture_copy("timm-basic");
    assert!(snap.default_policy.is_some());
    let r = ckpt::tui::worker::plan(&snap.run, None, &req);
    assert_ne!(
        r,
        Ok(Planned::NothingToDo(ckpt::tui::worker::NO_POLICY.into()))
    );
}

#[test]
fn compact_disk_line_drops_whole_segments_never_cuts_them() {
    let mut app = app_with(native_run(), 80, 24);
    let mut h = headroom();
    h.total = 200_000_000_000_000;
    h.available = 97_000_000_000_000; // ~32 million more checkpoints fit
    update(
        &mut app,
        Msg::Scanned {
            run: PathBuf::from(RUN),
            result: Ok(native_run()),
            headroom: Some(h),
            at: now(),
        },
    );
    for w in 50..=90u16 {
        let s = screen(&at(app.clone(), w, 24), w, 24);
        let Some(line) = s.lines().find(|l| l.contains("disk ")) else {
            continue;
        };
        if line.contains(" · ~") {
            assert!(line.contains("more fit"), "cut at {w}: {line}");
        }
        assert!(line.contains("free of"), "{w}: {line}");
    }
}

/// The native run after retention: only epochs 3, 5 and 7 remain, but the manifest's
/// history has every save 0–7.
fn pruned_native_run() -> RunSnapshot {
    let mut s = native_run();
    s.history = s
        .checkpoints
        .iter()
        .map(|c| ckpt::snapshot::MetricPoint {
            epoch: c.epoch,
            step: None,
            value: c.metric.unwrap(),
            at: c.mtime,
        })
        .collect();
    s.checkpoints
        .retain(|c| [3, 5, 7].contains(&c.epoch.unwrap()));
    s
}

#[test]
fn chart_draws_pruned_epochs_and_marks_what_is_on_disk_120x40() {
    let app = app_with(pruned_native_run(), 120, 40);
    let s = screen(&app, 120, 40);
    // The x axis spans the whole run (0–7), not just the surviving 3–7.
    assert!(s.contains("8 epochs · • 3 on disk"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn chart_of_a_single_point_centres_it_120x40() {
    let mut snap = native_run();
    snap.checkpoints.retain(|c| c.epoch == Some(5));
    snap.checkpoints[0].roles = vec![Role::Best, Role::Last];
    let app = app_with(snap, 120, 40);
    let s = screen(&app, 120, 40);
    // One label each, at the point: not "5 … 6" and "62.5 … 63.5".
    assert!(!s.contains("63.5") && !s.contains("│    5 "), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn compact_view_has_a_sparkline_of_the_whole_history_80x24() {
    let app = app_with(pruned_native_run(), 80, 24);
    let s = screen(&app, 80, 24);
    assert!(s.contains("eval_top1 ▁▄▂▆▅█▃▄ 10…62.5 · 8 epochs"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn sparkline_and_downsample_keep_the_shape() {
    use ckpt::tui::render::chart::{downsample, sparkline};
    assert_eq!(sparkline(&[1.0, 2.0, 3.0], 10), "▁▅█");
    assert_eq!(sparkline(&[5.0, 5.0], 10), "▄▄", "flat is mid-height");
    assert_eq!(sparkline(&[0.0, 0.0, 10.0, 10.0], 2), "▁█");
    // A one-epoch spike survives a 50× downsample.
    let mut pts: Vec<(f64, f64)> = (0..1000).map(|i| (i as f64, 1.0)).collect();
    pts[500].1 = 9.0;
    let d = downsample(&pts, 40);
    assert!(d.len() <= 41, "{}", d.len());
    assert!(d.contains(&(500.0, 9.0)));
    assert_eq!(d.last(), Some(&(999.0, 1.0)));
}

/// The header's second line and the colour of the cell where `needle` starts on it.
/// The trainer tracker reports `t` for the run.
fn set_trainer(app: &mut App, t: ckpt::tui::app::TrainerInfo) {
    update(
        app,
        Msg::Trainer {
            run: PathBuf::from(RUN),
            trainer: Some(t),
        },
    );
}

fn trainer_line(app: &App, w: u16, needle: &str) -> (String, Option<Color>) {
    let buf = buffer(app, w, 24);
    let line: String = (0..w).map(|x| buf[(x, 1)].symbol().to_string()).collect();
    let col = line
        .find(needle)
        .map(|byte| line[..byte].chars().count() as u16)
        .map(|x| buf[(x, 1)].fg);
    (line.trim_end().to_string(), col)
}

#[test]
fn trainer_alive_exited_overdue_and_remote() {
    use ckpt::tui::trainer::Liveness;
    let mut app = app_with(native_run(), 120, 40);
    let mut t = trainer();
    set_trainer(&mut app, t.clone());
    let (line, col) = trainer_line(&app, 120, "pid 4242 alive");
    assert_eq!(col, Some(Color::Green), "{line}");
    assert!(
        line.starts_with("last save 10m ago · trainer pid 4242 alive · cpu 97%"),
        "{line}"
    );

    // It dies: red "exited N ago", and the minutes tick.
    t.liveness = Liveness::Exited {
        at: Some(now() - chrono::Duration::seconds(130)),
        last_save: None,
    };
    set_trainer(&mut app, t.clone());
    let (line, col) = trainer_line(&app, 120, "pid 4242 exited 2m ago");
    assert_eq!(col, Some(Color::Red), "{line}");
    assert!(!line.contains("cpu"), "{line}");
    update(&mut app, Msg::Tick(now() + chrono::Duration::seconds(60)));
    let (line, _) = trainer_line(&app, 120, "exited");
    assert!(line.contains("pid 4242 exited 3m ago"), "{line}");
    assert!(
        !line.contains("overdue"),
        "exited says more than overdue: {line}"
    );
    // The header at 80 columns (the rest of the screen is other tests' business).
    let exited_80: String = screen(&at(app.clone(), 80, 24), 80, 24)
        .lines()
        .take(2)
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!("trainer_exited_80x24", exited_80);

    // Alive but no save for 45 minutes where the run saves every 10: overdue (yellow).
    t.liveness = Liveness::Alive;
    set_trainer(&mut app, t.clone());
    update(&mut app, Msg::Tick(now() + chrono::Duration::minutes(19)));
    assert!(!trainer_line(&app, 120, "x").0.contains("overdue"));
    update(&mut app, Msg::Tick(now() + chrono::Duration::minutes(35)));
    let (line, col) = trainer_line(&app, 120, "overdue");
    assert!(
        line.starts_with(
            "last save 45m ago · overdue (usually every 10m) · trainer pid 4242 alive"
        ),
        "{line}"
    );
    assert_eq!(col, Some(Color::Yellow));

    // Saved on another host: named, not checked.
    t.liveness = Liveness::Remote {
        host: "gpu07".into(),
    };
    set_trainer(&mut app, t);
    let (line, _) = trainer_line(&app, 120, "x");
    assert!(
        line.contains("trainer pid 4242 on gpu07 (not checked from here)"),
        "{line}"
    );
}

#[test]
fn a_trainer_gone_before_the_monitor_looked_is_dated_by_its_last_save() {
    use ckpt::tui::trainer::Liveness;
    let mut app = app_with(native_run(), 120, 40);
    let mut t = trainer();
    // The newest checkpoint (e7) is 10 minutes old; the trainer saved it, then died.
    t.liveness = Liveness::Exited {
        at: None,
        last_save: Some(now() - chrono::Duration::minutes(10)),
    };
    set_trainer(&mut app, t.clone());
    let (line, col) = trainer_line(&app, 120, "exited");
    assert_eq!(col, Some(Color::Red), "{line}");
    assert!(
        line.starts_with("trainer pid 4242 exited (last save 10m ago) · "),
        "the age is said once, with the exit: {line}"
    );
    // It ticks like any age.
    update(&mut app, Msg::Tick(now() + chrono::Duration::minutes(2)));
    let (line, _) = trainer_line(&app, 120, "exited");
    assert!(line.contains("exited (last save 12m ago)"), "{line}");
    // A trainer whose last save is not the run's newest keeps the run's age first.
    t.liveness = Liveness::Exited {
        at: None,
        last_save: Some(now() - chrono::Duration::minutes(40)),
    };
    set_trainer(&mut app, t.clone());
    let (line, _) = trainer_line(&app, 120, "exited");
    assert!(
        line.starts_with("last save 12m ago · trainer pid 4242 exited (last save 42m ago)"),
        "{line}"
    );
    // The process lives on but stopped training (`ckpt demo` after a failed save).
    t.liveness = Liveness::Stopped {
        at: now() + chrono::Duration::minutes(2) - chrono::Duration::seconds(3),
    };
    set_trainer(&mut app, t);
    let (line, col) = trainer_line(&app, 120, "stopped");
    assert_eq!(col, Some(Color::Red), "{line}");
    assert!(line.contains("trainer pid 4242 stopped 3s ago"), "{line}");
    assert!(!line.contains("alive"), "{line}");
}

#[test]
fn run_names_are_cut_so_that_two_runs_stay_distinguishable() {
    use ckpt::tui::render::fmt::fit_distinct;
    let names = [
        "sweep/lr0.1-wd0.01-resnet50-imagenet-final".to_string(),
        "sweep/lr0.2-wd0.01-resnet50-imagenet-final".to_string(),
        "sweep/short".to_string(),
    ];
    let cut = fit_distinct(&names, 17);
    assert!(cut.iter().all(|c| c.chars().count() <= 17), "{cut:?}");
    assert_ne!(cut[0], cut[1], "{cut:?}");
    assert!(
        cut[0].contains("lr0.1") && cut[1].contains("lr0.2"),
        "{cut:?}"
    );
    assert_eq!(cut[2], "sweep/short");
    // A name that differs only at its end keeps the tail, as before.
    let tails = fit_distinct(&["a/b/c/run-seed1".into(), "a/b/c/run-seed2".into()], 8);
    assert_eq!(tails, ["…n-seed1", "…n-seed2"]);

    let runs: Vec<PathBuf> = names[..2]
        .iter()
        .map(|n| PathBuf::from("/data").join(n))
        .collect();
    let mut app = App::new(runs.clone(), false, now());
    app.root = Some(PathBuf::from("/data"));
    update(&mut app, Msg::Resize(80, 24));
    for path in &runs {
        let mut snap = timm_like();
        snap.run = path.clone();
        update(
            &mut app,
            Msg::Scanned {
                run: path.clone(),
                result: Ok(snap),
                headroom: Some(headroom()),
                at: now(),
            },
        );
    }
    let s = screen(&app, 80, 24);
    assert!(s.contains("lr0.1") && s.contains("lr0.2"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn narrow_tables_drop_state_first_when_all_rows_are_ok_else_age() {
    // 56 columns: one column must go.
    let app = app_with(native_run(), 56, 24);
    let s = screen(&app, 56, 24);
    let head = s
        .lines()
        .find(|l| l.contains("metric") && l.contains("size"))
        .unwrap()
        .to_string();
    assert!(head.contains("age") && !head.contains("state"), "{head}");
    let mut snap = native_run();
    snap.checkpoints[2].state = ckpt::snapshot::CheckpointState::Damaged;
    snap.checkpoints[2].damage = Some("truncated".into());
    let app = app_with(snap, 56, 24);
    let s = screen(&app, 56, 24);
    let head = s
        .lines()
        .find(|l| l.contains("metric") && l.contains("size"))
        .unwrap()
        .to_string();
    assert!(head.contains("state") && !head.contains("age"), "{head}");
    assert!(s.contains("damaged"), "{s}");
}

#[test]
fn numbers_and_their_titles_are_right_aligned_with_the_sort_arrow() {
    let app = app_with(native_run(), 120, 40);
    let buf = buffer(&app, 120, 40);
    let row = |y: u16| -> String { (0..72).map(|x| buf[(x, y)].symbol()).collect() };
    let head = row(3);
    let first = row(4);
    // Each numeric title ends in the same column as the numbers under it.
    for (title, value) in [("epoch▼", "7"), ("metric", "35"), ("size", "2.9 MiB")] {
        let t_end = head.find(title).unwrap() + title.len();
        let v_end = first.find(value).unwrap() + value.len();
        assert_eq!(
            head[..t_end].chars().count(),
            first[..v_end].chars().count(),
            "{title}:\n{head}\n{first}"
        );
    }
}

#[test]
fn the_80_column_footer_keeps_enter_and_filter_and_points_to_help() {
    let app = app_with(native_run(), 80, 24);
    let s = screen(&app, 80, 24);
    let footer = s.lines().last().unwrap().to_string();
    assert!(footer.contains("Enter details"), "{footer}");
    assert!(footer.contains("/ filter"), "{footer}");
    assert!(footer.contains("? all keys"), "{footer}");
    // Wide enough for everything: plain "help".
    let s = screen(&at(app, 160, 40), 160, 40);
    let footer = s.lines().last().unwrap().to_string();
    assert!(
        footer.contains("? help") && footer.contains("s sort"),
        "{footer}"
    );
}

/// Restore epoch 3 of the native run: 4, 5 (best), 6 and 7 (last) are newer.
fn restore_3(archive: bool) -> RestorePlan {
    RestorePlan {
        run: PathBuf::from(RUN),
        target: "checkpoint-3.pth.tar".into(),
        epoch: Some(3),
        dest: PathBuf::from(RUN).join("last.pth.tar"),
        newer: (4..8).map(|e| format!("checkpoint-{e}.pth.tar")).collect(),
        archive_dir: archive.then(|| PathBuf::from(RUN).join(".ckpt/trash/20261128T150000Z")),
        ..Default::default()
    }
}

#[test]
fn restore_dialog_marks_roles_and_says_what_happens_to_best() {
    let mut snap = native_run();
    snap.checkpoints[3].pinned = false;
    snap.checkpoints[6].pinned = true; // epoch 6
    let mut app = app_with(snap, 120, 40);
    confirm(&mut app, PendingAction::Restore(restore_3(false)));
    let s = screen(&app, 120, 40);
    for want in [
        "4 newer checkpoints stay; the resumed trainer saves over them:",
        "checkpoint-5.pth.tar                    2.9 MiB  best",
        "checkpoint-6.pth.tar                    2.9 MiB  pinned",
        "checkpoint-7.pth.tar                    2.9 MiB  last",
        "Best stays checkpoint-5.pth.tar (62.5) until the resumed run saves epoch 5 over it;",
        "last.pth.tar will hold it (a link to the same bytes: nothing is copied)",
        "[ ] a: archive the newer ones in .ckpt/trash/ first (now: they stay)",
    ] {
        assert!(s.contains(want), "{want}\n{s}");
    }
    assert!(!s.contains("bytes to copy"), "{s}");
    insta::assert_snapshot!("confirm_restore_best_newer_stays_120x40", s);

    confirm(&mut app, PendingAction::Restore(restore_3(true)));
    let s = screen(&app, 120, 40);
    for want in [
        "4 newer checkpoints (12,166,820 bytes, 11.6 MiB) move to .ckpt/trash/20261128T150000Z/:",
        "The best checkpoint, checkpoint-5.pth.tar (62.5), moves to the trash",
        "Best becomes checkpoint-3.pth.tar (50).",
        "[x] a: archive the newer ones",
    ] {
        assert!(s.contains(want), "{want}\n{s}");
    }
    insta::assert_snapshot!("confirm_restore_best_newer_moves_120x40", s);
    insta::assert_snapshot!(
        "confirm_restore_best_newer_moves_80x24",
        screen(&at(app, 80, 24), 80, 24)
    );
}

#[test]
fn restore_dialog_says_timm_rewrites_its_best_after_a_resume() {
    let mut app = app_with(timm_like(), 120, 40);
    let plan = RestorePlan {
        run: PathBuf::from("/data/timm-basic"),
        target: "checkpoint-4.pth.tar".into(),
        epoch: Some(4),
        dest: PathBuf::from("/data/timm-basic/last.pth.tar"),
        newer: vec!["checkpoint-5.pth.tar".into()],
        ..Default::default()
    };
    let run = app.current().unwrap().path.clone();
    app.overlay = Overlay::Confirm(Confirm {
        run,
        action: PendingAction::Restore(plan),
        yes_focused: false,
    });
    let s = screen(&app, 120, 40);
    assert!(
        s.contains("checkpoint-5.pth.tar                    2.9 MiB  best"),
        "{s}"
    );
    assert!(
        s.contains("better or not (today it holds checkpoint-5.pth.tar, 62.5)."),
        "{s}"
    );
    assert!(
        s.contains(
            "timm starts a resumed run with no best: its first save rewrites model_best.pth.tar,"
        ),
        "{s}"
    );
    insta::assert_snapshot!("confirm_restore_timm_best_newer_120x40", s);
}

#[test]
fn prune_dialog_gives_every_kept_reason_and_why_it_is_the_policy() {
    use ckpt::tui::app::{PruneBasis, PruneProposal};
    let mut app = app_with(native_run(), 120, 40);
    confirm(
        &mut app,
        PendingAction::Prune(PruneProposal {
            plan: prune_plan(),
            basis: PruneBasis::Policy {
                source: "saved in the run's manifest".into(),
                refused_marks: vec![(
                    "checkpoint-5.pth.tar".into(),
                    "it is the best checkpoint (promote another one first)".into(),
                )],
            },
        }),
    );
    let s = screen(&app, 120, 40);
    for want in [
        "Nothing is marked: d refused checkpoint-5.pth.tar — it is the best checkpoint (promote another one first).",
        "So this applies the run's policy:",
        "  keep the top 3 and the newest 1 (saved in the run's manifest)",
        "checkpoint-5.pth.tar                         best, #1 of the top 3",
        "checkpoint-3.pth.tar                         #2 of the top 3",
        "checkpoint-7.pth.tar                         last (resume point)",
    ] {
        assert!(s.contains(want), "{want}\n{s}");
    }
    insta::assert_snapshot!("confirm_prune_policy_reasons_120x40", s);

    let mut plan = prune_plan();
    plan.victims.truncate(1);
    confirm(
        &mut app,
        PendingAction::Prune(PruneProposal {
            plan,
            basis: PruneBasis::Marked {
                refused: vec![("checkpoint-3.pth.tar".into(), vec![KeepReason::Pinned])],
            },
        }),
    );
    let s = screen(&app, 120, 40);
    for want in [
        "Delete the 1 marked checkpoint:",
        "marked but kept:",
        "checkpoint-3.pth.tar                         pinned",
    ] {
        assert!(s.contains(want), "{want}\n{s}");
    }
    insta::assert_snapshot!("confirm_prune_marked_refused_120x40", s);
}

#[test]
fn trash_view_at_both_sizes() {
    use ckpt::engine::trash::{TrashEntry, TrashListing, TrashOrigin};
    let entry = |name: &str, epoch: u64, origin, mins: i64| TrashEntry {
        name: name.into(),
        path: PathBuf::from(RUN).join(".ckpt/trash").join(name),
        epoch: Some(epoch),
        step: None,
        metric: Some(35.0),
        origin,
        trashed_at: Some(now() - chrono::Duration::minutes(mins)),
        bytes: 3_041_705,
        bytes_freed: 3_041_705,
        is_dir: false,
        recorded: true,
        files: vec![],
    };
    for (w, h) in [(80, 24), (120, 40)] {
        let mut snap = native_run();
        snap.trash_bytes = 2 * 3_041_705;
        let mut app = app_with(snap, w, h);
        let s = screen(&app, w, h);
        assert!(
            s.contains("trash 5.8 MiB"),
            "disk pane counts the trash: {s}"
        );
        update(&mut app, key('t'));
        update(
            &mut app,
            Msg::TrashListed {
                run: PathBuf::from(RUN),
                result: Ok(TrashListing {
                    run: PathBuf::from(RUN),
                    dir: PathBuf::from(RUN).join(".ckpt/trash"),
                    entries: vec![
                        entry(
                            "20261128T140000Z/last.pth.tar",
                            7,
                            TrashOrigin::PreviousLast,
                            60,
                        ),
                        entry(
                            "20261128T143000Z/checkpoint-8.pth.tar",
                            8,
                            TrashOrigin::ArchivedNewer,
                            30,
                        ),
                    ],
                    bytes: 2 * 3_041_705,
                    reclaimable: 3_041_705,
                    missing: vec![],
                    warnings: vec![],
                }),
            },
        );
        let s = screen(&app, w, h);
        assert!(
            s.contains("trash · 2 items · 5.8 MiB · emptying frees 2.9 MiB"),
            "{s}"
        );
        assert!(s.contains("r restore x empty"), "{s}");
        insta::assert_snapshot!(format!("trash_view_{w}x{h}"), s);
    }
}
