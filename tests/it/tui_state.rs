//! Pure tests of the monitor's state update and keymap: no terminal, no disk.

use ckpt::tui::app::{ActionKind, Applied, Planned};
use std::path::PathBuf;

use crate::util::tui::*;
use ckpt::engine::{FileStamp, PrunePlan, RestorePlan, Victim};
use ckpt::rank::RetentionPolicy;
use ckpt::snapshot::Role;
use ckpt::tui::app::{
    projection, update, App, Command, Level, Msg, Overlay, PendingAction, PlanRequest, Screen,
    SortKey,
};
use ckpt::tui::keymap::{self, Action, KeyMode, BINDINGS};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn press(app: &mut App, keys: &str) -> Vec<Command> {
    keys.chars().flat_map(|c| update(app, key(c))).collect()
}

fn prune_plan(names: &[&str]) -> PrunePlan {
    PrunePlan {
        run: PathBuf::from(RUN),
        policy: RetentionPolicy::default(),
        victims: names
            .iter()
            .map(|n| Victim {
                name: n.to_string(),
                epoch: None,
                step: None,
                files: vec![FileStamp {
                    path: PathBuf::from(n),
                    bytes: 3_041_705,
                    mtime_ns: 0,
                    dev: 1,
                    ino: 2,
                    nlink: 1,
                }],
                bytes_freed: 3_041_705,
            })
            .collect(),
        kept: vec![],
        bytes_freed: 3_041_705 * names.len() as u64,
    }
}

#[test]
fn keymap_resolves_per_mode() {
    let ev = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    assert_eq!(keymap::resolve(KeyMode::Run, &ev('j')), Some(Action::Down));
    assert_eq!(
        keymap::resolve(
            KeyMode::Run,
            &KeyEvent::new(KeyCode::Up, KeyModifiers::NONE)
        ),
        Some(Action::Up)
    );
    assert_eq!(keymap::resolve(KeyMode::Run, &ev('y')), None);
    assert_eq!(
        keymap::resolve(KeyMode::Confirm, &ev('y')),
        Some(Action::Yes)
    );
    assert_eq!(keymap::resolve(KeyMode::Confirm, &ev('j')), None);
    assert_eq!(
        keymap::resolve(
            KeyMode::Confirm,
            &KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)
        ),
        Some(Action::Press)
    );
    // Shift is implied by the character.
    assert_eq!(
        keymap::resolve(
            KeyMode::Run,
            &KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT)
        ),
        Some(Action::Bottom)
    );
    let cc = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    for mode in [
        KeyMode::Run,
        KeyMode::RunList,
        KeyMode::Filter,
        KeyMode::Confirm,
        KeyMode::Help,
        KeyMode::Details,
    ] {
        assert_eq!(keymap::resolve(mode, &cc), Some(Action::Quit), "{mode:?}");
    }
    // In the filter input, letters are text, not commands.
    assert_eq!(keymap::resolve(KeyMode::Filter, &ev('q')), None);
}

#[test]
fn keymap_has_no_conflicts_and_drives_hints_and_help() {
    for b in BINDINGS {
        assert!(!b.keys.is_empty());
        for other in BINDINGS {
            if std::ptr::eq(b, other) {
                continue;
            }
            let shared_mode = b.modes.iter().any(|m| other.modes.contains(m));
            let shared_key = b.keys.iter().any(|k| other.keys.contains(k));
            assert!(
                !(shared_mode && shared_key && b.action != other.action),
                "{:?} and {:?} conflict",
                b.action,
                other.action
            );
        }
    }
    let hints = keymap::hints(KeyMode::Run, false);
    assert!(hints.iter().any(|(k, h)| k == "p" && *h == "promote"));
    assert!(hints.iter().any(|(k, h)| k == "?" && *h == "help"));
    let ro = keymap::hints(KeyMode::Run, true);
    assert!(!ro.iter().any(|(_, h)| *h == "promote" || *h == "prune"));
    assert!(ro.iter().any(|(_, h)| *h == "verify"));
    let help = keymap::help_lines(KeyMode::Run, true);
    assert!(help.iter().any(|(k, _, disabled)| k == "p" && *disabled));
    assert!(help.iter().any(|(k, _, _)| k == "q/Ctrl-C"));
}

#[test]
fn navigation_moves_and_clamps() {
    let mut app = app_with(native_run(), 120, 40);
    assert_eq!(selected_name(&app), "checkpoint-7.pth.tar", "newest first");
    press(&mut app, "j");
    assert_eq!(selected_name(&app), "checkpoint-6.pth.tar");
    press(&mut app, "G");
    assert_eq!(selected_name(&app), "checkpoint-0.pth.tar");
    press(&mut app, "j");
    assert_eq!(
        selected_name(&app),
        "checkpoint-0.pth.tar",
        "clamped at the end"
    );
    press(&mut app, "g");
    assert_eq!(selected_name(&app), "checkpoint-7.pth.tar");
    press(&mut app, "k");
    assert_eq!(
        selected_name(&app),
        "checkpoint-7.pth.tar",
        "clamped at the top"
    );
    update(&mut app, code(KeyCode::Down));
    assert_eq!(selected_name(&app), "checkpoint-6.pth.tar");
}

#[test]
fn ten_thousand_rows_page_and_scroll() {
    let mut app = app_with(big_run(10_000), 120, 40);
    let rows = ckpt::tui::render::table_rows(&app);
    assert!(rows > 10);
    update(&mut app, code(KeyCode::PageDown));
    let run = app.current().unwrap();
    assert_eq!(run.selected, rows);
    assert!(run.selected >= run.offset && run.selected < run.offset + rows);
    press(&mut app, "G");
    let run = app.current().unwrap();
    assert_eq!(run.selected, 9_999);
    assert_eq!(run.offset, 10_000 - rows);
}

#[test]
fn sort_cycles_epoch_metric_size() {
    let mut app = app_with(native_run(), 120, 40);
    assert_eq!(app.sort, SortKey::Epoch);
    press(&mut app, "s");
    assert_eq!(app.sort, SortKey::Metric);
    let names = view_names(&app);
    assert_eq!(names[0], "checkpoint-5.pth.tar", "best first");
    assert_eq!(names[1], "checkpoint-3.pth.tar");
    assert_eq!(names[7], "checkpoint-0.pth.tar");
    press(&mut app, "s");
    assert_eq!(app.sort, SortKey::Size);
    press(&mut app, "s");
    assert_eq!(app.sort, SortKey::Epoch);
    assert_eq!(view_names(&app)[0], "checkpoint-7.pth.tar");
}

#[test]
fn metric_sort_respects_min_mode_and_nan() {
    let mut snap = native_run();
    snap.metric.as_mut().unwrap().mode = ckpt::rank::Mode::Min;
    snap.checkpoints[0].metric = Some(f64::NAN);
    snap.checkpoints[0].metric_raw = Some("nan".into());
    let mut app = app_with(snap, 120, 40);
    press(&mut app, "s");
    let names = view_names(&app);
    assert_eq!(names[0], "checkpoint-2.pth.tar", "20 is the lowest finite");
    assert_eq!(names[7], "checkpoint-0.pth.tar", "NaN never ranks");
    let run = app.current().unwrap();
    assert_eq!(run.ranks[0], None);
}

#[test]
fn filter_narrows_and_esc_clears() {
    let mut app = app_with(native_run(), 120, 40);
    press(&mut app, "/");
    assert_eq!(app.key_mode(), KeyMode::Filter);
    press(&mut app, "pinned");
    assert_eq!(view_names(&app), vec!["checkpoint-3.pth.tar"]);
    update(&mut app, code(KeyCode::Enter));
    assert_eq!(app.key_mode(), KeyMode::Run);
    assert_eq!(app.filter, "pinned");
    update(&mut app, code(KeyCode::Esc));
    assert_eq!(app.filter, "");
    assert_eq!(view_names(&app).len(), 8);
    press(&mut app, "/e5");
    assert_eq!(view_names(&app), vec!["checkpoint-5.pth.tar"]);
    update(&mut app, code(KeyCode::Backspace));
    update(&mut app, code(KeyCode::Backspace));
    assert_eq!(view_names(&app).len(), 8);
}

#[test]
fn mark_toggles_and_prune_plans_marked() {
    let mut app = app_with(native_run(), 120, 40);
    press(&mut app, "jj"); // e5? no: e7, e6, e5 -> on e5
    press(&mut app, "j"); // e4
    assert_eq!(selected_name(&app), "checkpoint-4.pth.tar");
    press(&mut app, "d"); // marks e4, moves to e3
    assert_eq!(selected_name(&app), "checkpoint-3.pth.tar");
    press(&mut app, "j");
    press(&mut app, "d"); // marks e2
    let marked: Vec<String> = app.current().unwrap().marked.iter().cloned().collect();
    assert_eq!(marked, vec!["checkpoint-2.pth.tar", "checkpoint-4.pth.tar"]);
    let cmds = press(&mut app, "x");
    assert_eq!(
        cmds,
        vec![Command::Plan {
            run: PathBuf::from(RUN),
            request: PlanRequest::Prune { marked }
        }]
    );
    assert!(app.busy.is_some());
    // Toggle off.
    press(&mut app, "k");
    assert_eq!(selected_name(&app), "checkpoint-2.pth.tar");
}

#[test]
fn best_last_and_pinned_cannot_be_marked() {
    let mut app = app_with(native_run(), 120, 40);
    press(&mut app, "d"); // e7 is last
    assert!(app.current().unwrap().marked.is_empty());
    assert!(app.status.as_ref().unwrap().text.contains("resume point"));
    press(&mut app, "jjd"); // e5 is best
    assert!(app.current().unwrap().marked.is_empty());
    assert!(app.status.as_ref().unwrap().text.contains("best"));
    press(&mut app, "jjd"); // e3 is pinned
    assert!(app.current().unwrap().marked.is_empty());
    assert!(app.status.as_ref().unwrap().text.contains("pinned"));
}

#[test]
fn confirm_defaults_to_no() {
    let mut app = app_with(native_run(), 120, 40);
    let cmds = press(&mut app, "x");
    assert_eq!(
        cmds,
        vec![Command::Plan {
            run: PathBuf::from(RUN),
            request: PlanRequest::Prune { marked: vec![] }
        }]
    );
    update(
        &mut app,
        Msg::Planned {
            run: PathBuf::from(RUN),
            result: Ok(Planned::Confirm(PendingAction::Prune(
                prune_plan(&["checkpoint-0.pth.tar"]).into(),
            ))),
        },
    );
    assert!(app.busy.is_none());
    let Overlay::Confirm(c) = &app.overlay else {
        panic!("no confirm dialog")
    };
    assert!(!c.yes_focused, "No is focused by default");
    assert_eq!(app.key_mode(), KeyMode::Confirm);
    // Enter presses the focused button: No.
    let cmds = update(&mut app, code(KeyCode::Enter));
    assert!(cmds.is_empty());
    assert_eq!(app.overlay, Overlay::None);
    assert_eq!(app.status.as_ref().unwrap().text, "prune cancelled");
    // Keys that mean nothing in the dialog do nothing (no accidental yes).
    update(
        &mut app,
        Msg::Planned {
            run: PathBuf::from(RUN),
            result: Ok(Planned::Confirm(PendingAction::Prune(
                prune_plan(&["checkpoint-0.pth.tar"]).into(),
            ))),
        },
    );
    assert!(press(&mut app, "jkpxd ").is_empty());
    assert!(matches!(app.overlay, Overlay::Confirm(_)));
    assert!(update(&mut app, code(KeyCode::Esc)).is_empty());
    assert_eq!(app.overlay, Overlay::None);
    // n cancels too.
    update(
        &mut app,
        Msg::Planned {
            run: PathBuf::from(RUN),
            result: Ok(Planned::Confirm(PendingAction::Prune(
                prune_plan(&["checkpoint-0.pth.tar"]).into(),
            ))),
        },
    );
    assert!(press(&mut app, "n").is_empty());
    // Tab then Enter = yes.
    update(
        &mut app,
        Msg::Planned {
            run: PathBuf::from(RUN),
            result: Ok(Planned::Confirm(PendingAction::Prune(
                prune_plan(&["checkpoint-0.pth.tar"]).into(),
            ))),
        },
    );
    update(&mut app, code(KeyCode::Tab));
    let cmds = update(&mut app, code(KeyCode::Enter));
    assert!(matches!(cmds.as_slice(), [Command::Apply { .. }]));
}

#[test]
fn confirmed_prune_runs_and_reports() {
    let mut app = app_with(native_run(), 120, 40);
    press(&mut app, "jd");
    press(&mut app, "x");
    let plan = prune_plan(&["checkpoint-6.pth.tar"]);
    update(
        &mut app,
        Msg::Planned {
            run: PathBuf::from(RUN),
            result: Ok(Planned::Confirm(PendingAction::Prune(plan.clone().into()))),
        },
    );
    let cmds = press(&mut app, "y");
    assert_eq!(
        cmds,
        vec![Command::Apply {
            run: PathBuf::from(RUN),
            action: PendingAction::Prune(plan.into())
        }]
    );
    assert!(app.busy.is_some());
    // Another action while busy is refused.
    assert!(press(&mut app, "v").is_empty());
    assert_eq!(app.status.as_ref().unwrap().level, Level::Warn);
    let cmds = update(
        &mut app,
        Msg::Done {
            run: PathBuf::from(RUN),
            result: Ok(Applied {
                action: ActionKind::Prune,
                text: "pruned 1 checkpoint(s), freed 2.9 MiB".into(),
            }),
        },
    );
    assert_eq!(cmds, vec![Command::Scan(PathBuf::from(RUN))]);
    assert!(app.busy.is_none());
    assert!(app.current().unwrap().marked.is_empty());
    assert_eq!(app.status.as_ref().unwrap().level, Level::Ok);
}

/// The plan the engine gives for restoring epoch 3 of `native_run`, archiving or not.
fn restore_plan(archive: bool) -> RestorePlan {
    RestorePlan {
        run: PathBuf::from(RUN),
        target: "checkpoint-3.pth.tar".into(),
        epoch: Some(3),
        dest: PathBuf::from(RUN).join("last.pth.tar"),
        backup: None,
        newer: (4..8).map(|e| format!("checkpoint-{e}.pth.tar")).collect(),
        archive_dir: archive.then(|| PathBuf::from(RUN).join(".ckpt/trash/20261128T150000Z")),
        bytes_to_copy: 0,
        export: false,
        force: false,
        ..Default::default()
    }
}

fn planned(app: &mut App, plan: RestorePlan) {
    update(
        app,
        Msg::Planned {
            run: PathBuf::from(RUN),
            result: Ok(Planned::Confirm(PendingAction::Restore(plan))),
        },
    );
}

#[test]
fn archive_toggle_replans_and_confirm_sends_it() {
    let mut app = app_with(native_run(), 120, 40);
    press(&mut app, "jjjj");
    assert_eq!(selected_name(&app), "checkpoint-3.pth.tar");
    // r plans with archiving off (the default).
    let cmds = press(&mut app, "r");
    assert_eq!(
        cmds,
        vec![Command::Plan {
            run: PathBuf::from(RUN),
            request: PlanRequest::Restore {
                name: "checkpoint-3.pth.tar".into(),
                archive_newer: false,
            },
        }]
    );
    planned(&mut app, restore_plan(false));
    assert!(app.offers(Action::ToggleArchive));
    let hints = keymap::hints_where(KeyMode::Confirm, false, |a| app.offers(a));
    assert!(hints.iter().any(|(k, h)| k == "a" && *h == "archive newer"));
    // a re-plans with archiving on; the old plan cannot be confirmed meanwhile.
    let cmds = press(&mut app, "a");
    assert_eq!(
        cmds,
        vec![Command::Plan {
            run: PathBuf::from(RUN),
            request: PlanRequest::Restore {
                name: "checkpoint-3.pth.tar".into(),
                archive_newer: true,
            },
        }]
    );
    assert_eq!(app.overlay, Overlay::None);
    assert!(app
        .busy
        .as_ref()
        .unwrap()
        .label
        .contains("archive newer on"));
    assert!(
        press(&mut app, "y").is_empty(),
        "no stale yes while re-planning"
    );
    planned(&mut app, restore_plan(true));
    let Overlay::Confirm(c) = &app.overlay else {
        panic!("no confirm dialog after re-planning")
    };
    assert!(!c.yes_focused, "No is focused again after re-planning");
    // Enter still means No.
    assert!(update(&mut app, code(KeyCode::Enter)).is_empty());
    assert_eq!(app.status.as_ref().unwrap().text, "restore cancelled");
    // a again turns it off.
    planned(&mut app, restore_plan(true));
    let cmds = press(&mut app, "a");
    assert!(matches!(
        cmds.as_slice(),
        [Command::Plan {
            request: PlanRequest::Restore {
                archive_newer: false,
                ..
            },
            ..
        }]
    ));
    // y confirms exactly the archiving plan.
    planned(&mut app, restore_plan(true));
    let cmds = press(&mut app, "y");
    assert_eq!(
        cmds,
        vec![Command::Apply {
            run: PathBuf::from(RUN),
            action: PendingAction::Restore(restore_plan(true)),
        }]
    );
}

#[test]
fn archive_toggle_only_where_it_applies() {
    let mut app = app_with(native_run(), 120, 40);
    // Not offered in a prune dialog: a does nothing but say why.
    update(
        &mut app,
        Msg::Planned {
            run: PathBuf::from(RUN),
            result: Ok(Planned::Confirm(PendingAction::Prune(
                prune_plan(&["checkpoint-0.pth.tar"]).into(),
            ))),
        },
    );
    assert!(!app.offers(Action::ToggleArchive));
    let hints = keymap::hints_where(KeyMode::Confirm, false, |a| app.offers(a));
    assert!(!hints.iter().any(|(k, _)| k == "a"));
    assert!(press(&mut app, "a").is_empty());
    assert!(matches!(app.overlay, Overlay::Confirm(_)));
    assert!(app
        .status
        .as_ref()
        .unwrap()
        .text
        .contains("nothing to archive"));
    // Nor in a restore of the newest checkpoint (nothing newer).
    let mut plan = restore_plan(false);
    plan.newer.clear();
    planned(&mut app, plan);
    assert!(!app.offers(Action::ToggleArchive));
    assert!(press(&mut app, "a").is_empty());
    assert!(matches!(app.overlay, Overlay::Confirm(_)));
}

#[test]
fn engine_errors_reach_the_status_line() {
    let mut app = app_with(native_run(), 120, 40);
    press(&mut app, "r");
    update(
        &mut app,
        Msg::Planned {
            run: PathBuf::from(RUN),
            result: Err("run /data/runs/resnet50-a1 is locked by pid 77 (save)".into()),
        },
    );
    assert_eq!(app.overlay, Overlay::None);
    let s = app.status.as_ref().unwrap();
    assert_eq!(s.level, Level::Error);
    assert!(s.text.contains("locked by pid 77"));
}

#[test]
fn promote_and_pin_plan_exact_files() {
    let mut app = app_with(native_run(), 120, 40);
    press(&mut app, "jj"); // e5
    press(&mut app, "j"); // e4
    press(&mut app, "p");
    let Overlay::Confirm(c) = &app.overlay else {
        panic!("no confirm")
    };
    assert_eq!(
        c.action,
        PendingAction::Promote {
            name: "checkpoint-4.pth.tar".into(),
            epoch: Some(4),
            step: None,
            files: vec![(PathBuf::from("checkpoint-4.pth.tar"), 3_041_705)],
            alias: Some(PathBuf::from("model_best.pth.tar")),
            alias_exists: true,
            previous: Some("checkpoint-5.pth.tar".into()),
            keeps_only_copy: false,
        }
    );
    press(&mut app, "n");
    press(&mut app, " ");
    let Overlay::Confirm(c) = &app.overlay else {
        panic!("no confirm")
    };
    assert!(
        matches!(&c.action, PendingAction::Pin { pin: true, name, .. } if name == "checkpoint-4.pth.tar")
    );
    let cmds = press(&mut app, "y");
    assert!(matches!(
        cmds.as_slice(),
        [Command::Apply {
            action: PendingAction::Pin { .. },
            ..
        }]
    ));
}

#[test]
fn read_only_refuses_actions_but_verifies() {
    let mut app = app_with(native_run(), 120, 40);
    app.read_only = true;
    for k in ['p', 'r', ' ', 'd', 'x'] {
        let cmds = press(&mut app, &k.to_string());
        assert!(cmds.is_empty(), "{k}");
        assert_eq!(app.overlay, Overlay::None);
        let s = app.status.as_ref().unwrap();
        assert_eq!(s.level, Level::Warn);
        assert!(s.text.contains("read-only"));
    }
    assert!(app.current().unwrap().marked.is_empty());
    press(&mut app, "v");
    assert!(matches!(
        &app.overlay,
        Overlay::Confirm(c) if matches!(c.action, PendingAction::Verify { checkpoints: 8, .. })
    ));
}

#[test]
fn writing_checkpoints_are_not_acted_on() {
    let mut snap = native_run();
    let mut c = writing(ckpt(8, None, 100, 0));
    c.roles = vec![];
    snap.checkpoints.push(c);
    let mut app = app_with(snap, 120, 40);
    assert_eq!(selected_name(&app), "checkpoint-8.pth.tar");
    press(&mut app, "p");
    assert_eq!(app.overlay, Overlay::None);
    assert!(app
        .status
        .as_ref()
        .unwrap()
        .text
        .contains("still being written"));
}

#[test]
fn help_toggles_and_esc_closes() {
    let mut app = app_with(native_run(), 120, 40);
    press(&mut app, "?");
    assert_eq!(app.overlay, Overlay::Help);
    assert_eq!(app.key_mode(), KeyMode::Help);
    press(&mut app, "?");
    assert_eq!(app.overlay, Overlay::None);
    press(&mut app, "?");
    update(&mut app, code(KeyCode::Esc));
    assert_eq!(app.overlay, Overlay::None);
    update(&mut app, code(KeyCode::Enter));
    assert_eq!(app.overlay, Overlay::Details);
    update(&mut app, code(KeyCode::Esc));
    assert_eq!(app.overlay, Overlay::None);
}

#[test]
fn quit_keys() {
    let mut app = app_with(native_run(), 120, 40);
    assert_eq!(press(&mut app, "q"), vec![Command::Quit]);
    assert!(app.quit);
    let mut app = app_with(native_run(), 120, 40);
    press(&mut app, "/");
    assert_eq!(update(&mut app, ctrl('c')), vec![Command::Quit]);
    let mut app = app_with(native_run(), 120, 40);
    assert_eq!(update(&mut app, Msg::Terminate), vec![Command::Quit]);
}

#[test]
fn rescan_keeps_the_selection_and_marks() {
    let mut app = app_with(native_run(), 120, 40);
    press(&mut app, "j");
    press(&mut app, "d"); // marks e6, moves to e5
    assert_eq!(selected_name(&app), "checkpoint-5.pth.tar");
    let mut snap = native_run();
    snap.checkpoints.push(ckpt(8, Some(70.0), 3_041_705, 0));
    snap.checkpoints[7].roles.clear();
    snap.checkpoints[8].roles = vec![Role::Last, Role::Best];
    snap.checkpoints[5].roles.clear();
    update(
        &mut app,
        Msg::Scanned {
            run: PathBuf::from(RUN),
            result: Ok(snap),
            headroom: None,
            at: now(),
        },
    );
    assert_eq!(selected_name(&app), "checkpoint-5.pth.tar");
    assert_eq!(view_names(&app)[0], "checkpoint-8.pth.tar");
    assert!(app
        .current()
        .unwrap()
        .marked
        .contains("checkpoint-6.pth.tar"));
    // A vanished checkpoint loses its mark.
    update(
        &mut app,
        Msg::Scanned {
            run: PathBuf::from(RUN),
            result: Ok({
                let mut s = native_run();
                s.checkpoints.remove(6);
                s
            }),
            headroom: None,
            at: now(),
        },
    );
    assert!(app.current().unwrap().marked.is_empty());
    let cmds = press(&mut app, "R");
    assert_eq!(cmds, vec![Command::Scan(PathBuf::from(RUN))]);
    let cmds = update(&mut app, Msg::RunChanged(PathBuf::from(RUN)));
    assert_eq!(cmds, vec![Command::Scan(PathBuf::from(RUN))]);
}

#[test]
fn multi_run_list_opens_and_goes_back() {
    let runs = vec![PathBuf::from("/r/a"), PathBuf::from("/r/b")];
    let mut app = App::new(runs, false, now());
    update(&mut app, Msg::Resize(100, 30));
    assert_eq!(app.screen, Screen::RunList);
    assert_eq!(app.key_mode(), KeyMode::RunList);
    press(&mut app, "j");
    assert_eq!(app.list_selected, 1);
    update(&mut app, code(KeyCode::Enter));
    assert_eq!(app.screen, Screen::Run(1));
    // Actions need a scanned run.
    press(&mut app, "p");
    assert!(app
        .status
        .as_ref()
        .unwrap()
        .text
        .contains("not been scanned"));
    update(&mut app, code(KeyCode::Esc));
    assert_eq!(app.screen, Screen::RunList);
    let cmds = press(&mut app, "R");
    assert_eq!(cmds.len(), 2, "rescan all runs from the list");
}

#[test]
fn scan_errors_are_kept_per_run() {
    let mut app = app_with(native_run(), 120, 40);
    update(
        &mut app,
        Msg::Scanned {
            run: PathBuf::from(RUN),
            result: Err("corrupt manifest".into()),
            headroom: None,
            at: now(),
        },
    );
    let run = app.current().unwrap();
    assert_eq!(run.error.as_deref(), Some("corrupt manifest"));
    assert!(run.snapshot.is_some(), "the last good snapshot stays");
}

#[test]
fn projection_counts_fits_and_time_from_the_runs_growth() {
    use ckpt::tui::app::{growth, record_size, Growth};
    let snap = native_run(); // saves every 10 minutes, 3,041,705 bytes each
    let mut h = headroom();
    let t = now();
    let min = chrono::Duration::minutes;
    // One scan: no rate yet, so no time is claimed.
    let mut sizes = Vec::new();
    record_size(&mut sizes, t, 10_000_000);
    assert_eq!(growth(&sizes), Growth::Unknown);
    let p = projection(&snap, &h, growth(&sizes)).unwrap();
    assert_eq!(p.next_size, 3_041_705);
    let need = 3_041_705 + 3_041_705 / 32;
    assert_eq!(p.fits, h.available / need);
    assert_eq!(p.interval, Some(std::time::Duration::from_secs(600)));
    assert_eq!(p.full_in, None);
    assert!(!p.warn);
    // Saves with retention keep the size flat: steady, no time to full.
    record_size(&mut sizes, t + min(10), 10_000_000);
    record_size(&mut sizes, t + min(20), 9_000_000);
    assert_eq!(growth(&sizes), Growth::Steady);
    assert_eq!(projection(&snap, &h, growth(&sizes)).unwrap().full_in, None);
    // Grew, then retention holds it: steady again at once, not after the window.
    let mut sizes = Vec::new();
    for (m, b) in [(0, 1), (1, 2), (2, 3), (3, 4), (4, 3), (5, 4)] {
        record_size(&mut sizes, t + min(m), b * 1_000_000);
    }
    assert_eq!(growth(&sizes), Growth::Steady);
    // Growing 1,000 bytes/s: a rate only once three saves grew it (one save is not a
    // trend); then full when the free space runs out.
    let mut sizes = Vec::new();
    record_size(&mut sizes, t, 0);
    record_size(&mut sizes, t + min(10), 1_000 * 600);
    assert_eq!(growth(&sizes), Growth::Unknown, "two scans");
    record_size(&mut sizes, t + min(20), 1_000 * 1200);
    assert_eq!(growth(&sizes), Growth::Unknown, "two increases");
    record_size(&mut sizes, t + min(30), 1_000 * 1800);
    assert_eq!(growth(&sizes), Growth::Rate(1_000.0));
    let p = projection(&snap, &h, growth(&sizes)).unwrap();
    assert_eq!(p.full_in.map(|d| d.as_secs()), Some(h.available / 1_000));
    // Old samples leave the window.
    record_size(&mut sizes, t + min(90), 600_000);
    assert_eq!(sizes.len(), 1);
    h.available = 3_000_000;
    let p = projection(&snap, &h, Growth::Unknown).unwrap();
    assert_eq!(p.fits, 0);
    assert!(p.warn);
}

#[test]
fn color_choice_honours_no_color() {
    use ckpt::tui::ColorChoice;
    assert!(ColorChoice::Auto.enabled(true, None));
    assert!(!ColorChoice::Auto.enabled(true, Some("1")));
    assert!(ColorChoice::Auto.enabled(true, Some("")));
    assert!(!ColorChoice::Auto.enabled(false, None));
    assert!(ColorChoice::Always.enabled(false, Some("1")));
    assert!(!ColorChoice::Never.enabled(true, None));
}

#[test]
fn poll_below_a_tenth_of_a_second_is_refused() {
    use ckpt::tui::{check_poll, run, WatchOptions};
    use std::time::Duration;
    for bad in [Duration::ZERO, Duration::from_millis(99)] {
        let e = check_poll(Some(bad)).unwrap_err();
        assert!(matches!(e, ckpt::Error::BadRequest(_)), "{e:?}");
        assert!(e
            .to_string()
            .contains("--poll must be at least 0.1 seconds"));
    }
    assert!(check_poll(Some(Duration::from_millis(100))).is_ok());
    assert!(check_poll(None).is_ok());
    // run() refuses before touching the terminal.
    let e = run(WatchOptions {
        poll: Some(Duration::ZERO),
        ..WatchOptions::default()
    })
    .unwrap_err();
    assert!(matches!(e, ckpt::Error::BadRequest(_)), "{e:?}");
}

fn names(s: &ckpt::snapshot::RunSnapshot) -> Vec<String> {
    s.checkpoints.iter().map(|c| c.name.clone()).collect()
}

fn report(damaged: &[(&str, &str, &str)], checked: usize) -> ckpt::engine::VerifyReport {
    ckpt::engine::VerifyReport {
        run: PathBuf::from(RUN),
        checked,
        bytes: 1,
        // Everything else of the native run (8 checkpoints, 2 aliases) was intact.
        ok: native_run()
            .checkpoints
            .iter()
            .map(|c| c.name.clone())
            .chain(["last.pth.tar".into(), "model_best.pth.tar".into()])
            .filter(|n| !damaged.iter().any(|d| d.0 == n))
            .take(checked.saturating_sub(damaged.len()))
            .collect(),
        damaged: damaged
            .iter()
            .map(|(n, p, r)| ckpt::engine::VerifyIssue {
                name: n.to_string(),
                path: PathBuf::from(RUN).join(p),
                reason: r.to_string(),
            })
            .collect(),
        notes: vec![],
    }
}

#[test]
fn verify_marks_damaged_rows_until_they_change_or_the_next_verify() {
    use ckpt::snapshot::CheckpointState;
    use ckpt::tui::app::verify_summary;
    let mut app = app_with(native_run(), 120, 40);
    let rep = report(
        &[
            (
                "checkpoint-2.pth.tar",
                "checkpoint-2.pth.tar",
                "content hash a != manifest b",
            ),
            (
                "last.pth.tar",
                "last.pth.tar",
                "alias missing: No such file",
            ),
        ],
        10,
    );
    let summary = verify_summary(&rep, &names(&native_run())).unwrap_err();
    // Counted in checkpoints, the alias apart (10 files were checked).
    assert_eq!(
        summary,
        "verify: 1 checkpoint of 8 and 1 alias/trash file damaged — Enter on a row shows why, ! lists all"
    );
    verified(&mut app, rep, summary);
    let run = app.current().unwrap();
    let snap = run.snapshot.as_ref().unwrap();
    let state = |e: usize| run.state_of(&snap.checkpoints[e]);
    assert_eq!(state(2), CheckpointState::Damaged);
    assert_eq!(
        state(7),
        CheckpointState::Damaged,
        "last's alias is damaged"
    );
    assert_eq!(state(3), CheckpointState::Complete);
    assert!(run
        .damage_of(&snap.checkpoints[2])
        .unwrap()
        .contains("content hash a != manifest b"));
    assert!(run
        .damage_of(&snap.checkpoints[7])
        .unwrap()
        .contains("alias last.pth.tar: alias missing"));
    // The filter finds the verdicts.
    press(&mut app, "/damaged");
    update(&mut app, code(KeyCode::Enter));
    assert_eq!(
        view_names(&app),
        vec!["checkpoint-7.pth.tar", "checkpoint-2.pth.tar"]
    );
    update(&mut app, code(KeyCode::Esc));
    // `!` shows every finding.
    update(&mut app, key('!'));
    assert_eq!(app.overlay, Overlay::Message);
    let full = app.full_message().unwrap();
    assert!(
        full.contains("checkpoint-2.pth.tar") && full.contains("alias missing"),
        "{full}"
    );
    update(&mut app, code(KeyCode::Esc));
    assert_eq!(app.overlay, Overlay::None);

    // A rescan with the same bytes keeps the marks; a rewritten checkpoint loses its mark.
    let mut snap = native_run();
    update(
        &mut app,
        Msg::Scanned {
            run: PathBuf::from(RUN),
            result: Ok(snap.clone()),
            headroom: None,
            at: now(),
        },
    );
    assert_eq!(app.current().unwrap().damaged.len(), 2);
    snap.checkpoints[2].bytes += 1;
    update(
        &mut app,
        Msg::Scanned {
            run: PathBuf::from(RUN),
            result: Ok(snap),
            headroom: None,
            at: now(),
        },
    );
    let run = app.current().unwrap();
    assert!(!run.damaged.contains_key("checkpoint-2.pth.tar"));
    assert!(run.damaged.contains_key("checkpoint-7.pth.tar"));
    // The next verify replaces the verdicts.
    let clean = report(&[], 10);
    assert_eq!(
        verify_summary(&clean, &names(&native_run())).unwrap(),
        "verified 8 checkpoints and 2 alias/trash files, 1 B: all intact"
    );
    update(
        &mut app,
        Msg::Verified {
            run: PathBuf::from(RUN),
            report: clean,
        },
    );
    assert!(app.current().unwrap().damaged.is_empty());
}

#[test]
fn a_deleted_run_goes_stale_and_resumes_when_back() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("deleted-run");
    assert!(matches!(
        ckpt::tui::worker::scan_one(&missing, None),
        Msg::Gone { run, .. } if run == missing
    ));
    let mut app = app_with(native_run(), 120, 40);
    update(
        &mut app,
        Msg::Gone {
            run: PathBuf::from(RUN),
            at: now(),
        },
    );
    let run = app.current().unwrap();
    assert!(run.gone);
    assert_eq!(
        run.error.as_deref(),
        Some("run directory is gone: /data/runs/resnet50-a1")
    );
    assert_eq!(
        run.snapshot.as_ref().unwrap().checkpoints.len(),
        8,
        "last rows kept"
    );
    update(
        &mut app,
        Msg::Scanned {
            run: PathBuf::from(RUN),
            result: Ok(native_run()),
            headroom: None,
            at: now(),
        },
    );
    let run = app.current().unwrap();
    assert!(!run.gone && run.error.is_none(), "back: live again");
}

#[test]
fn esc_clears_marks_before_it_leaves_the_run() {
    let runs = vec![PathBuf::from(RUN), PathBuf::from("/data/runs/other")];
    let mut app = App::new(runs, false, now());
    update(&mut app, Msg::Resize(120, 40));
    update(
        &mut app,
        Msg::Scanned {
            run: PathBuf::from(RUN),
            result: Ok(native_run()),
            headroom: None,
            at: now(),
        },
    );
    update(&mut app, code(KeyCode::Enter));
    press(&mut app, "jd");
    assert_eq!(app.current().unwrap().marked.len(), 1);
    update(&mut app, code(KeyCode::Esc));
    assert!(app.current().is_some(), "still in the run");
    assert!(app.current().unwrap().marked.is_empty());
    assert!(app
        .status
        .as_ref()
        .unwrap()
        .text
        .contains("1 mark(s) cleared"));
    update(&mut app, code(KeyCode::Esc));
    assert_eq!(app.screen, Screen::RunList);
}

#[test]
fn marks_of_rows_that_vanish_or_become_protected_are_dropped() {
    let mut app = app_with(native_run(), 120, 40);
    // Rows (newest first): 7 last, 6, 5 best, 4, 3 pinned, 2, 1, 0.
    press(&mut app, "jd"); // 6
    press(&mut app, "jd"); // 4
    press(&mut app, "jjd"); // 1
    let marked: Vec<String> = app.current().unwrap().marked.iter().cloned().collect();
    assert_eq!(
        marked,
        [
            "checkpoint-1.pth.tar",
            "checkpoint-4.pth.tar",
            "checkpoint-6.pth.tar"
        ]
    );
    let mut snap = native_run();
    snap.checkpoints.retain(|c| c.epoch != Some(1)); // pruned elsewhere
    snap.checkpoints[3].pinned = true; // 4 got pinned
    update(
        &mut app,
        Msg::Scanned {
            run: PathBuf::from(RUN),
            result: Ok(snap),
            headroom: None,
            at: now(),
        },
    );
    let marked: Vec<String> = app.current().unwrap().marked.iter().cloned().collect();
    assert_eq!(marked, ["checkpoint-6.pth.tar"]);
}

#[test]
fn a_refused_mark_is_why_x_applies_the_policy_and_the_dialog_says_so() {
    use ckpt::tui::app::{PruneBasis, PruneProposal};
    let mut app = app_with(native_run(), 120, 40);
    press(&mut app, "jjd"); // epoch 5: best
    assert!(app.current().unwrap().marked.is_empty());
    let cmds = press(&mut app, "x");
    assert_eq!(
        cmds,
        vec![Command::Plan {
            run: PathBuf::from(RUN),
            request: PlanRequest::Prune { marked: vec![] }
        }]
    );
    update(
        &mut app,
        Msg::Planned {
            run: PathBuf::from(RUN),
            result: Ok(Planned::Confirm(PendingAction::Prune(
                prune_plan(&["checkpoint-0.pth.tar"]).into(),
            ))),
        },
    );
    let Overlay::Confirm(c) = &app.overlay else {
        panic!("{:?}", app.overlay)
    };
    let PendingAction::Prune(PruneProposal {
        basis: PruneBasis::Policy { refused_marks, .. },
        ..
    }) = &c.action
    else {
        panic!("{:?}", c.action)
    };
    assert_eq!(refused_marks.len(), 1);
    assert_eq!(refused_marks[0].0, "checkpoint-5.pth.tar");
    assert!(refused_marks[0].1.contains("best"));
}

#[test]
fn capital_s_reverses_the_sort_and_the_header_arrow_turns() {
    let mut app = app_with(native_run(), 120, 40);
    assert_eq!(view_names(&app)[0], "checkpoint-7.pth.tar");
    press(&mut app, "S");
    assert!(app.sort_reverse);
    assert_eq!(view_names(&app)[0], "checkpoint-0.pth.tar");
    assert_eq!(app.sort_arrow(), "▲");
    assert!(app.status.as_ref().unwrap().text.contains("oldest first"));
    press(&mut app, "s"); // a new key starts the right way round
    assert!(!app.sort_reverse);
    press(&mut app, "S");
    assert_eq!(view_names(&app)[0], "checkpoint-0.pth.tar", "worst first");
}

#[test]
fn f1_opens_help_and_an_unknown_key_says_so_in_one_line() {
    let mut app = app_with(native_run(), 120, 40);
    update(&mut app, code(KeyCode::F(1)));
    assert_eq!(app.overlay, Overlay::Help);
    update(&mut app, code(KeyCode::Esc));
    update(&mut app, key('Z'));
    let st = app.status.clone().unwrap();
    assert_eq!(st.text, "Z does nothing here; ? (or F1) lists the keys");
    assert!(!st.text.contains('\n'));
    // The help lists F1 next to ?.
    let lines = ckpt::tui::keymap::help_lines(ckpt::tui::keymap::KeyMode::Run, false);
    assert!(lines.iter().any(|(k, _, _)| k == "?/F1"), "{lines:?}");
    assert!(lines
        .iter()
        .any(|(k, h, _)| k == "d" && h.contains("not best/last/pinned")));
}

#[test]
fn t_opens_the_trash_view_and_its_actions_are_planned_and_confirmed() {
    use ckpt::engine::trash::{TrashEntry, TrashListing, TrashOrigin};
    let mut app = app_with(native_run(), 120, 40);
    let cmds = press(&mut app, "t");
    assert_eq!(cmds, vec![Command::ListTrash(PathBuf::from(RUN))]);
    assert_eq!(app.screen, Screen::Trash(0));
    assert_eq!(app.key_mode(), KeyMode::Trash);
    // `r` on an empty (not yet listed) trash does nothing but say so.
    assert!(press(&mut app, "r").is_empty());
    let entry = |name: &str, epoch: u64| TrashEntry {
        name: name.into(),
        path: PathBuf::from(RUN).join(".ckpt/trash").join(name),
        epoch: Some(epoch),
        step: None,
        metric: Some(50.0),
        origin: TrashOrigin::ArchivedNewer,
        trashed_at: Some(now()),
        bytes: 3_041_705,
        bytes_freed: 3_041_705,
        is_dir: false,
        recorded: true,
        files: vec![],
    };
    update(
        &mut app,
        Msg::TrashListed {
            run: PathBuf::from(RUN),
            result: Ok(TrashListing {
                run: PathBuf::from(RUN),
                dir: PathBuf::from(RUN).join(".ckpt/trash"),
                entries: vec![
                    entry("t1/checkpoint-8.pth.tar", 8),
                    entry("t1/checkpoint-9.pth.tar", 9),
                ],
                bytes: 2 * 3_041_705,
                reclaimable: 2 * 3_041_705,
                missing: vec![],
                warnings: vec![],
            }),
        },
    );
    press(&mut app, "j");
    let cmds = press(&mut app, "r");
    assert_eq!(
        cmds,
        vec![Command::Plan {
            run: PathBuf::from(RUN),
            request: PlanRequest::TrashRestore {
                name: "t1/checkpoint-9.pth.tar".into()
            }
        }]
    );
    update(
        &mut app,
        Msg::Planned {
            run: PathBuf::from(RUN),
            result: Err("busy test".into()),
        },
    );
    let cmds = press(&mut app, "x");
    assert_eq!(
        cmds,
        vec![Command::Plan {
            run: PathBuf::from(RUN),
            request: PlanRequest::TrashEmpty
        }]
    );
    // A finished action relists the trash while its view is open.
    let cmds = update(
        &mut app,
        Msg::Done {
            run: PathBuf::from(RUN),
            result: Ok(Applied {
                action: ActionKind::TrashEmpty,
                text: "emptied the trash".into(),
            }),
        },
    );
    assert_eq!(
        cmds,
        vec![
            Command::Scan(PathBuf::from(RUN)),
            Command::ListTrash(PathBuf::from(RUN))
        ]
    );
    update(&mut app, code(KeyCode::Esc));
    assert_eq!(app.screen, Screen::Run(0));
    // Read-only: the view opens, its actions are refused.
    let mut ro = app_with(native_run(), 120, 40);
    ro.read_only = true;
    press(&mut ro, "t");
    assert!(press(&mut ro, "x").is_empty());
    assert!(ro.status.as_ref().unwrap().text.contains("read-only"));
}
