//! The monitor's state and its pure update: `update(&mut App, Msg) -> Vec<Command>`.
//! No I/O here: the event loop turns [`Command`]s into work on other threads, and the
//! results come back as [`Msg`]s. Rendering reads `&App` only.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use crossterm::event::KeyEvent;

use crate::engine::VerifyReport;
use crate::snapshot::{Checkpoint, CheckpointState, Role, RunSnapshot};

use super::keymap::{self, Action, KeyMode};
use super::render;

pub use super::trainer::TrainerInfo;

pub use super::msg::*;
pub use super::projection::*;
pub use super::state::*;

/// The whole monitor.
#[derive(Debug, Clone)]
pub struct App {
    pub runs: Vec<RunEntry>,
    pub screen: Screen,
    /// Selected row of the run list.
    pub list_selected: usize,
    pub sort: SortKey,
    /// The sort runs the other way (oldest, worst, smallest first).
    pub sort_reverse: bool,
    pub filter: String,
    pub filter_editing: bool,
    pub overlay: Overlay,
    pub status: Option<Status>,
    pub busy: Option<Busy>,
    pub read_only: bool,
    /// Draw with colours (false = NO_COLOR: attributes only).
    pub color: bool,
    /// "Now" for ages; injected so rendering is deterministic.
    pub now: DateTime<Utc>,
    /// Terminal size, for page sizes and scrolling.
    pub size: (u16, u16),
    /// Offset of local time from UTC in seconds (injected; tests use 0).
    pub utc_offset: i32,
    /// The root the runs were found under (for short names in the run list).
    pub root: Option<PathBuf>,
    pub quit: bool,
}

impl App {
    /// A monitor over `runs`; opens the run directly when there is only one.
    pub fn new(runs: Vec<PathBuf>, read_only: bool, now: DateTime<Utc>) -> App {
        let screen = if runs.len() == 1 {
            Screen::Run(0)
        } else {
            Screen::RunList
        };
        App {
            runs: runs.into_iter().map(RunEntry::new).collect(),
            screen,
            list_selected: 0,
            sort: SortKey::default(),
            sort_reverse: false,
            filter: String::new(),
            filter_editing: false,
            overlay: Overlay::None,
            status: None,
            busy: None,
            read_only,
            color: true,
            now,
            size: (80, 24),
            utc_offset: 0,
            root: None,
            quit: false,
        }
    }

    /// The arrow on the sorted column: ▼ newest/best/largest first, ▲ the reverse.
    pub fn sort_arrow(&self) -> &'static str {
        if self.sort_reverse {
            "▲"
        } else {
            "▼"
        }
    }

    /// "newest first", "worst first", … for the status line.
    pub(crate) fn sort_order_words(&self) -> &'static str {
        match (self.sort, self.sort_reverse) {
            (SortKey::Epoch, false) => "(newest first)",
            (SortKey::Epoch, true) => "(oldest first)",
            (SortKey::Metric, false) => "(best first)",
            (SortKey::Metric, true) => "(worst first)",
            (SortKey::Size, false) => "(largest first)",
            (SortKey::Size, true) => "(smallest first)",
        }
    }

    /// Which keys are live.
    pub fn key_mode(&self) -> KeyMode {
        match (&self.overlay, self.screen) {
            (Overlay::Confirm(_), _) => KeyMode::Confirm,
            (Overlay::Help, _) => KeyMode::Help,
            (Overlay::Details, _) => KeyMode::Details,
            (Overlay::Message, _) => KeyMode::Help,
            _ if self.filter_editing => KeyMode::Filter,
            (_, Screen::RunList) => KeyMode::RunList,
            (_, Screen::Run(_)) => KeyMode::Run,
            (_, Screen::Trash(_)) => KeyMode::Trash,
        }
    }

    /// Whether a key action applies right now (the footer hides those that do not).
    pub fn offers(&self, action: Action) -> bool {
        match action {
            // On hf the newer step folders always move (the Trainer resumes from the
            // highest step): there is nothing to toggle.
            Action::ToggleArchive => match &self.overlay {
                Overlay::Confirm(Confirm {
                    action: PendingAction::Restore(p),
                    run,
                    ..
                }) => {
                    let hf = self
                        .runs
                        .iter()
                        .find(|r| &r.path == run)
                        .and_then(|r| r.snapshot.as_ref())
                        .is_some_and(|s| s.layout == crate::snapshot::LayoutKind::Hf);
                    !p.export && !p.newer.is_empty() && !hf
                }
                _ => false,
            },
            _ => true,
        }
    }

    /// The run being shown, if one is open.
    pub fn current(&self) -> Option<&RunEntry> {
        match self.screen {
            Screen::Run(i) | Screen::Trash(i) => self.runs.get(i),
            Screen::RunList => None,
        }
    }

    fn current_mut(&mut self) -> Option<&mut RunEntry> {
        match self.screen {
            Screen::Run(i) | Screen::Trash(i) => self.runs.get_mut(i),
            Screen::RunList => None,
        }
    }

    fn run_index(&self, path: &Path) -> Option<usize> {
        self.runs.iter().position(|r| r.path == path)
    }

    /// The run-list rows in display order (filtered by name).
    pub(crate) fn list_view(&self) -> Vec<usize> {
        let f = self.filter.to_lowercase();
        (0..self.runs.len())
            .filter(|&i| {
                f.is_empty()
                    || self.runs[i]
                        .path
                        .to_string_lossy()
                        .to_lowercase()
                        .contains(&f)
            })
            .collect()
    }

    /// Everything the status line may cut: the status text, else the run's scan
    /// error or warnings; plus the last verify's findings. `None` = nothing to show.
    pub fn full_message(&self) -> Option<String> {
        let mut out = Vec::new();
        if let Some(s) = &self.status {
            out.push(s.text.clone());
        } else if let Some(run) = self.current() {
            if let Some(e) = &run.error {
                out.push(e.clone());
            }
            if let Some(snap) = &run.snapshot {
                out.extend(snap.warnings.iter().map(|w| format!("warning: {w}")));
            }
        }
        if let Some(rep) = self.current().and_then(|r| r.last_verify.as_ref()) {
            if !rep.damaged.is_empty() {
                out.push(String::new());
                out.push(format!(
                    "last verify: {} damaged of {}",
                    rep.damaged.len(),
                    rep.checked
                ));
                for d in &rep.damaged {
                    out.push(format!("• {} ({}): {}", d.name, d.path.display(), d.reason));
                }
            }
        }
        (!out.is_empty()).then(|| out.join("\n"))
    }

    fn set_status(&mut self, level: Level, text: impl Into<String>) {
        self.status = Some(Status {
            level,
            text: text.into(),
        });
    }

    fn table_height(&self) -> usize {
        render::table_rows(self)
    }
}

/// Apply one message; return the work it asks for. Pure: no I/O, no clock.
pub fn update(app: &mut App, msg: Msg) -> Vec<Command> {
    match msg {
        Msg::Key(ev) => on_key(app, &ev),
        Msg::Resize(w, h) => {
            app.size = (w, h);
            let h = app.table_height();
            for run in &mut app.runs {
                ensure_visible(run, h);
            }
            vec![]
        }
        Msg::RunChanged(run) => vec![Command::Scan(run)],
        Msg::Scanned {
            run,
            result,
            headroom,
            at,
        } => {
            if at > app.now {
                app.now = at;
            }
            let (sort, filter, h) = (
                (app.sort, app.sort_reverse),
                app.filter.clone(),
                app.table_height(),
            );
            if let Some(i) = app.run_index(&run) {
                let entry = &mut app.runs[i];
                entry.last_scan = Some(at);
                if headroom.is_some() {
                    entry.headroom = headroom;
                }
                match result {
                    Ok(snap) => {
                        entry.error = None;
                        entry.gone = false;
                        record_size(&mut entry.sizes, at, snap.total_bytes());
                        set_snapshot(entry, snap, sort, &filter, h);
                    }
                    Err(e) => entry.error = Some(e),
                }
            }
            vec![]
        }
        Msg::WatchMode { run, mode, reason } => {
            if let Some(i) = app.run_index(&run) {
                app.runs[i].watch_mode = Some(mode);
                app.runs[i].watch_reason = reason;
            }
            vec![]
        }
        Msg::Trainer { run, trainer } => {
            if let Some(i) = app.run_index(&run) {
                app.runs[i].trainer = trainer;
                app.runs[i].trainer_checked = true;
                app.runs[i].apply_trainer_stopped();
            }
            vec![]
        }
        Msg::Planned { run, result } => {
            app.busy = None;
            match result {
                Ok(Planned::Confirm(mut action)) => {
                    // A policy plan says why it is not the marks: `d` refused them.
                    if let PendingAction::Prune(PruneProposal {
                        basis: PruneBasis::Policy { refused_marks, .. },
                        ..
                    }) = &mut action
                    {
                        if let Some(i) = app.run_index(&run) {
                            refused_marks.clone_from(&app.runs[i].refused_marks);
                        }
                    }
                    app.overlay = Overlay::Confirm(Confirm {
                        run,
                        action,
                        yes_focused: false,
                    });
                }
                Ok(Planned::NothingToDo(why)) => app.set_status(Level::Warn, why),
                Err(e) => app.set_status(Level::Error, e),
            }
            vec![]
        }
        Msg::Progress(p) => {
            if let Some(b) = &mut app.busy {
                b.progress = Some(p);
            }
            vec![]
        }
        Msg::Done { run, result } => {
            app.busy = None;
            match result {
                Ok(done) => {
                    if done.action == ActionKind::Prune {
                        if let Some(i) = app.run_index(&run) {
                            app.runs[i].marked.clear();
                        }
                    }
                    app.set_status(Level::Ok, done.text)
                }
                Err(e) => app.set_status(Level::Error, e),
            }
            // The trash view shows what the action changed there too.
            let trash_open = matches!(app.screen, Screen::Trash(i) if app.runs.get(i).is_some_and(|r| r.path == run));
            let mut cmds = vec![Command::Scan(run.clone())];
            if trash_open {
                cmds.push(Command::ListTrash(run));
            }
            cmds
        }
        Msg::Gone { run, at } => {
            if at > app.now {
                app.now = at;
            }
            if let Some(i) = app.run_index(&run) {
                let entry = &mut app.runs[i];
                entry.gone = true;
                entry.error = Some(gone_text(&entry.path));
            }
            vec![]
        }
        Msg::Verified { run, report } => {
            if let Some(i) = app.run_index(&run) {
                apply_verify(&mut app.runs[i], report);
            }
            vec![]
        }
        Msg::TrashListed { run, result } => {
            if let Some(i) = app.run_index(&run) {
                let t = &mut app.runs[i].trash;
                match result {
                    Ok(l) => {
                        t.selected = t.selected.min(l.entries.len().saturating_sub(1));
                        t.listing = Some(l);
                        t.error = None;
                    }
                    Err(e) => t.error = Some(e),
                }
            }
            vec![]
        }
        Msg::Tick(now) => {
            app.now = now;
            vec![]
        }
        Msg::Space { run, space } => {
            if let Some(h) = app
                .run_index(&run)
                .and_then(|i| app.runs[i].headroom.as_mut())
            {
                h.update(space);
            }
            vec![]
        }
        Msg::Terminate => {
            app.quit = true;
            vec![Command::Quit]
        }
        Msg::Note(Note::Error(text)) => {
            app.set_status(Level::Error, text);
            vec![]
        }
        Msg::Note(Note::TrainerStopped { run, pid, at, why }) => {
            if let Some(i) = app.run_index(&run) {
                app.runs[i].trainer_stopped = Some((pid, at));
                app.runs[i].apply_trainer_stopped();
            }
            app.set_status(Level::Error, why);
            vec![]
        }
    }
}

fn on_key(app: &mut App, ev: &KeyEvent) -> Vec<Command> {
    let mode = app.key_mode();
    let action = keymap::resolve(mode, ev);
    if mode == KeyMode::Filter && action.is_none() {
        if let crossterm::event::KeyCode::Char(c) = ev.code {
            app.filter.push(c);
            refilter(app);
        }
        return vec![];
    }
    let Some(action) = action else {
        // One line, so a mistyped key is not silently ignored.
        let label = super::keymap::Key {
            code: ev.code,
            mods: ev.modifiers - crossterm::event::KeyModifiers::SHIFT,
        }
        .label();
        let known_char = matches!(
            ev.code,
            crossterm::event::KeyCode::Char(_) | crossterm::event::KeyCode::F(_)
        );
        if known_char
            || ev
                .modifiers
                .contains(crossterm::event::KeyModifiers::CONTROL)
        {
            app.set_status(
                Level::Info,
                format!("{label} does nothing here; ? (or F1) lists the keys"),
            );
        }
        return vec![];
    };
    on_action(app, action)
}

/// Perform a resolved key action.
pub(crate) fn on_action(app: &mut App, action: Action) -> Vec<Command> {
    let page = app.table_height().max(1);
    match action {
        Action::Quit => {
            app.quit = true;
            return vec![Command::Quit];
        }
        Action::Message => {
            if app.full_message().is_some() {
                app.overlay = Overlay::Message;
            }
        }
        Action::Help => {
            app.overlay = if app.overlay == Overlay::Help {
                Overlay::None
            } else {
                Overlay::Help
            };
        }
        Action::Up => move_by(app, -1),
        Action::Down => move_by(app, 1),
        Action::PageUp => move_by(app, -(page as i64)),
        Action::PageDown => move_by(app, page as i64),
        Action::Top => move_by(app, i64::MIN / 2),
        Action::Bottom => move_by(app, i64::MAX / 2),
        Action::Back => back(app),
        Action::Open => match app.screen {
            Screen::RunList => {
                if let Some(&i) = app.list_view().get(app.list_selected) {
                    app.screen = Screen::Run(i);
                    app.filter.clear();
                    refilter(app);
                }
            }
            Screen::Trash(_) => {}
            Screen::Run(_) => {
                if app
                    .current()
                    .and_then(RunEntry::selected_checkpoint)
                    .is_some()
                {
                    app.overlay = Overlay::Details;
                }
            }
        },
        Action::Sort => {
            app.sort = app.sort.next();
            app.sort_reverse = false;
            refilter(app);
            app.set_status(Level::Info, format!("sorted by {}", app.sort.as_str()));
        }
        Action::ReverseSort => {
            app.sort_reverse = !app.sort_reverse;
            refilter(app);
            app.set_status(
                Level::Info,
                format!("sorted by {} {}", app.sort.as_str(), app.sort_order_words()),
            );
        }
        Action::Filter => app.filter_editing = true,
        Action::ApplyFilter => app.filter_editing = false,
        Action::Backspace => {
            app.filter.pop();
            refilter(app);
        }
        Action::Rescan => {
            if let (Screen::Trash(_), Some(r)) = (app.screen, app.current()) {
                return vec![
                    Command::Scan(r.path.clone()),
                    Command::ListTrash(r.path.clone()),
                ];
            }
            return match app.current() {
                Some(r) => vec![Command::Scan(r.path.clone())],
                None => app
                    .runs
                    .iter()
                    .map(|r| Command::Scan(r.path.clone()))
                    .collect(),
            };
        }
        Action::Yes | Action::No | Action::ToggleButton | Action::Press => {
            return on_confirm_key(app, action)
        }
        Action::ToggleArchive => return toggle_archive(app),
        Action::Trash => {
            if let Screen::Run(i) = app.screen {
                app.screen = Screen::Trash(i);
                if let Some(r) = app.runs.get(i) {
                    return vec![Command::ListTrash(r.path.clone())];
                }
            }
        }
        Action::TrashRestore | Action::TrashEmpty => return on_trash_action(app, action),
        Action::Promote
        | Action::Restore
        | Action::Pin
        | Action::Mark
        | Action::PrunePlan
        | Action::Verify => return on_run_action(app, action),
    }
    vec![]
}

fn back(app: &mut App) {
    let marked = app.current().is_some_and(|r| !r.marked.is_empty());
    if app.overlay != Overlay::None {
        app.overlay = Overlay::None;
    } else if let Screen::Trash(i) = app.screen {
        app.screen = Screen::Run(i);
    } else if app.filter_editing || !app.filter.is_empty() {
        app.filter_editing = false;
        app.filter.clear();
        refilter(app);
    } else if marked {
        if let Some(run) = app.current_mut() {
            let n = run.marked.len();
            run.marked.clear();
            app.set_status(Level::Info, format!("{n} mark(s) cleared"));
        }
    } else if matches!(app.screen, Screen::Run(_)) && app.runs.len() > 1 {
        app.screen = Screen::RunList;
    }
}

fn on_confirm_key(app: &mut App, action: Action) -> Vec<Command> {
    let Overlay::Confirm(confirm) = &mut app.overlay else {
        return vec![];
    };
    let yes = match action {
        Action::ToggleButton => {
            confirm.yes_focused = !confirm.yes_focused;
            return vec![];
        }
        Action::Yes => true,
        Action::Press => confirm.yes_focused,
        _ => false,
    };
    let Overlay::Confirm(confirm) = std::mem::replace(&mut app.overlay, Overlay::None) else {
        return vec![];
    };
    if !yes {
        app.set_status(Level::Info, format!("{} cancelled", confirm.action.verb()));
        return vec![];
    }
    app.busy = Some(Busy {
        label: format!("{}…", confirm.action.verb()),
        progress: None,
    });
    vec![Command::Apply {
        run: confirm.run,
        action: confirm.action,
    }]
}

/// Flip "archive newer checkpoints" in a restore dialog: the engine re-plans, so the
/// dialog that comes back shows exactly what will move (and No is focused again).
fn toggle_archive(app: &mut App) -> Vec<Command> {
    if !app.offers(Action::ToggleArchive) {
        app.set_status(
            Level::Info,
            "nothing to archive: only a restore with newer checkpoints can archive them",
        );
        return vec![];
    }
    let Overlay::Confirm(c) = std::mem::replace(&mut app.overlay, Overlay::None) else {
        return vec![];
    };
    let PendingAction::Restore(plan) = c.action else {
        return vec![];
    };
    let archive_newer = plan.archive_dir.is_none();
    app.busy = Some(Busy {
        label: format!(
            "planning restore (archive newer {})…",
            if archive_newer { "on" } else { "off" }
        ),
        progress: None,
    });
    vec![Command::Plan {
        run: c.run,
        request: PlanRequest::Restore {
            // The plan's target is a selector the engine resolves to the same checkpoint.
            name: plan.target,
            archive_newer,
        },
    }]
}

/// `r` (restore the selected entry) and `x` (empty) in the trash view: the engine plans
/// on the worker, the dialog shows the plan, the user confirms (default No).
fn on_trash_action(app: &mut App, action: Action) -> Vec<Command> {
    if refused_now(app, action) {
        return vec![];
    }
    let Some(run) = app.current() else {
        return vec![];
    };
    let path = run.path.clone();
    let entries = run
        .trash
        .listing
        .as_ref()
        .map(|l| l.entries.as_slice())
        .unwrap_or_default();
    if entries.is_empty() {
        app.set_status(Level::Info, "the trash is empty");
        return vec![];
    }
    let request = match action {
        Action::TrashRestore => {
            let Some(e) = entries.get(run.trash.selected) else {
                return vec![];
            };
            PlanRequest::TrashRestore {
                name: e.name.clone(),
            }
        }
        _ => PlanRequest::TrashEmpty,
    };
    app.busy = Some(Busy {
        label: "planning…".into(),
        progress: None,
    });
    vec![Command::Plan { run: path, request }]
}

/// An action that cannot start now (read-only, or another one still running): says
/// why in the status line.
fn refused_now(app: &mut App, action: Action) -> bool {
    if action.mutates() && app.read_only {
        app.set_status(
            Level::Warn,
            "read-only: actions are disabled (started with --read-only)",
        );
        return true;
    }
    if let Some(b) = &app.busy {
        let text = format!("busy: {} still running", b.label);
        app.set_status(Level::Warn, text);
        return true;
    }
    false
}

fn on_run_action(app: &mut App, action: Action) -> Vec<Command> {
    if refused_now(app, action) {
        return vec![];
    }
    let h = app.table_height();
    let Some(run) = app.current() else {
        return vec![];
    };
    let path = run.path.clone();
    let Some(snap) = run.snapshot.as_ref() else {
        app.set_status(Level::Warn, "the run has not been scanned yet");
        return vec![];
    };
    match action {
        Action::PrunePlan => {
            let marked: Vec<String> = run.marked.iter().cloned().collect();
            app.busy = Some(Busy {
                label: "planning prune…".into(),
                progress: None,
            });
            return vec![Command::Plan {
                run: path,
                request: PlanRequest::Prune { marked },
            }];
        }
        Action::Verify => {
            let checkpoints = snap.checkpoints.len();
            let bytes = snap.total_bytes();
            app.overlay = Overlay::Confirm(Confirm {
                run: path,
                action: PendingAction::Verify { checkpoints, bytes },
                yes_focused: false,
            });
            return vec![];
        }
        _ => {}
    }
    let snap_best_last = (
        snap.best.as_ref().map(|a| a.path.clone()),
        snap.last.as_ref().map(|a| a.path.clone()),
    );
    // What a promote of the selected row writes (owned: `app` is mutated below).
    let promote = run.selected_checkpoint().map(|_| {
        let alias = snap.alias_files.best.clone();
        let exists = alias.as_ref().is_some_and(|a| {
            snap.run.join(a).exists()
                || snap
                    .best
                    .as_ref()
                    .is_some_and(|b| &b.path == a && b.how != crate::snapshot::AliasHow::Record)
        });
        (
            alias,
            exists,
            snap.best.as_ref().and_then(|b| b.target.clone()),
        )
    });
    let Some(ckpt) = run.selected_checkpoint().cloned() else {
        app.set_status(Level::Warn, "no checkpoint selected");
        return vec![];
    };
    if ckpt.state == CheckpointState::Writing && action != Action::Mark {
        app.set_status(
            Level::Warn,
            format!(
                "{} is still being written; try again when it is complete",
                ckpt.name
            ),
        );
        return vec![];
    }
    let files: Vec<(PathBuf, u64)> = ckpt
        .paths
        .iter()
        .enumerate()
        .map(|(i, p)| (p.clone(), if i == 0 { ckpt.bytes } else { 0 }))
        .collect();
    let pending = match action {
        Action::Mark => {
            let protected = if ckpt.has_role(Role::Best) {
                Some("it is the best checkpoint (promote another one first)")
            } else if ckpt.has_role(Role::Last) {
                Some("it is the resume point (restore another one first)")
            } else if ckpt.pinned {
                Some("it is pinned (space unpins it)")
            } else {
                None
            };
            let Some(run) = app.current_mut() else {
                return vec![];
            };
            let unmark = run.marked.contains(&ckpt.name);
            if let (Some(why), false) = (protected, unmark) {
                run.refused_marks = vec![(ckpt.name.clone(), why.to_string())];
                app.set_status(Level::Warn, format!("cannot mark {}: {why}", ckpt.name));
                return vec![];
            }
            run.refused_marks.clear();
            if !run.marked.remove(&ckpt.name) {
                run.marked.insert(ckpt.name.clone());
            }
            if run.selected + 1 < run.view.len() {
                run.selected += 1;
                ensure_visible(run, h);
            }
            let n = run.marked.len();
            app.set_status(
                Level::Info,
                format!("{n} marked for prune; x shows the plan"),
            );
            return vec![];
        }
        Action::Restore => {
            app.busy = Some(Busy {
                label: "planning restore…".into(),
                progress: None,
            });
            return vec![Command::Plan {
                run: path,
                request: PlanRequest::Restore {
                    name: ckpt.name,
                    archive_newer: false,
                },
            }];
        }
        Action::Pin => PendingAction::Pin {
            name: ckpt.name.clone(),
            pin: !ckpt.pinned,
            files,
        },
        Action::Promote => {
            let (alias, alias_exists, previous) = promote.unwrap_or_default();
            let keeps_only_copy = alias.as_ref().is_some_and(|a| {
                ckpt.paths.first() != Some(a)
                    && crate::engine::only_copy::listed_alias_only_copy(snap, a)
            });
            // Alias files that merely name it (Lightning's last.ckpt) are not its files.
            let files = files
                .into_iter()
                .filter(|(p, _)| {
                    ckpt.paths.first() == Some(p)
                        || ![snap_best_last.0.as_ref(), snap_best_last.1.as_ref()]
                            .contains(&Some(p))
                })
                .collect();
            PendingAction::Promote {
                name: ckpt.name.clone(),
                epoch: ckpt.epoch,
                step: ckpt.step,
                files,
                alias,
                alias_exists,
                previous,
                keeps_only_copy,
            }
        }
        _ => return vec![],
    };
    app.overlay = Overlay::Confirm(Confirm {
        run: path,
        action: pending,
        yes_focused: false,
    });
    vec![]
}

/// What the header and status say while a run's directory is missing.
pub(crate) fn gone_text(run: &Path) -> String {
    format!("run directory is gone: {}", run.display())
}

/// The status line after a verify: one short sentence in checkpoints (the run's
/// `checkpoints`, by name), not files; alias and trash files are counted apart.
pub fn verify_summary(rep: &VerifyReport, checkpoints: &[String]) -> Result<String, String> {
    let is_ckpt = |n: &String| checkpoints.contains(n);
    let plural = |n: usize, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
    let ckpts = rep.ok.iter().filter(|n| is_ckpt(n)).count()
        + rep.damaged.iter().filter(|d| is_ckpt(&d.name)).count();
    let others = rep.checked.saturating_sub(ckpts);
    if rep.damaged.is_empty() {
        let also = if others > 0 {
            format!(" and {}", plural(others, "alias/trash file"))
        } else {
            String::new()
        };
        Ok(format!(
            "verified {}{also}, {}: all intact",
            plural(ckpts, "checkpoint"),
            render::fmt::bytes(rep.bytes)
        ))
    } else {
        let bad_ckpts = rep.damaged.iter().filter(|d| is_ckpt(&d.name)).count();
        let bad_others = rep.damaged.len() - bad_ckpts;
        let mut what = vec![];
        if bad_ckpts > 0 {
            what.push(format!("{} of {ckpts}", plural(bad_ckpts, "checkpoint")));
        }
        if bad_others > 0 {
            what.push(plural(bad_others, "alias/trash file"));
        }
        Err(format!(
            "verify: {} damaged — Enter on a row shows why, ! lists all",
            what.join(" and ")
        ))
    }
}

/// Mark the checkpoints a verify found damaged (an alias's damage marks the checkpoint
/// it resolves to); replaces the previous verify's marks.
fn apply_verify(run: &mut RunEntry, report: VerifyReport) {
    run.damaged.clear();
    if let Some(snap) = &run.snapshot {
        for d in &report.damaged {
            let direct = snap.checkpoints.iter().find(|c| {
                c.name == d.name || c.paths.iter().any(|p| d.path.ends_with(p) || p == &d.path)
            });
            let (ckpt, reason) = match direct {
                Some(c) => (Some(c), d.reason.clone()),
                None => {
                    let alias = [snap.best.as_ref(), snap.last.as_ref()]
                        .into_iter()
                        .flatten()
                        .find(|a| {
                            d.path.ends_with(&a.path) || a.path.as_os_str() == d.name.as_str()
                        });
                    let c = alias
                        .and_then(|a| a.target.as_ref())
                        .and_then(|t| snap.checkpoints.iter().find(|c| &c.name == t));
                    (c, format!("alias {}: {}", d.name, d.reason))
                }
            };
            if let Some(c) = ckpt {
                let mark = run.damaged.entry(c.name.clone()).or_insert(VerifyMark {
                    reason: String::new(),
                    bytes: c.bytes,
                    mtime: c.mtime,
                });
                if !mark.reason.is_empty() {
                    mark.reason.push_str("; ");
                }
                mark.reason.push_str(&reason);
            }
        }
    }
    run.last_verify = Some(report);
}

fn move_by(app: &mut App, delta: i64) {
    let h = app.table_height();
    let (sel, len) = match app.overlay {
        Overlay::None | Overlay::Details => match app.screen {
            Screen::RunList => {
                let len = app.list_view().len();
                (&mut app.list_selected, len)
            }
            Screen::Trash(i) => {
                let Some(run) = app.runs.get_mut(i) else {
                    return;
                };
                let len = run.trash.listing.as_ref().map_or(0, |l| l.entries.len());
                run.trash.selected = clamp_move(run.trash.selected, delta, len);
                return;
            }
            Screen::Run(i) => {
                let Some(run) = app.runs.get_mut(i) else {
                    return;
                };
                let len = run.view.len();
                let new = clamp_move(run.selected, delta, len);
                run.selected = new;
                ensure_visible(run, h);
                return;
            }
        },
        _ => return,
    };
    *sel = clamp_move(*sel, delta, len);
}

fn clamp_move(cur: usize, delta: i64, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    let v = (cur as i64).saturating_add(delta);
    v.clamp(0, len as i64 - 1) as usize
}

/// Keep the selection inside the visible window of `height` rows.
pub(crate) fn ensure_visible(run: &mut RunEntry, height: usize) {
    let len = run.view.len();
    if len == 0 {
        run.selected = 0;
        run.offset = 0;
        return;
    }
    run.selected = run.selected.min(len - 1);
    let h = height.max(1);
    if run.selected < run.offset {
        run.offset = run.selected;
    } else if run.selected >= run.offset + h {
        run.offset = run.selected + 1 - h;
    }
    run.offset = run.offset.min(len.saturating_sub(h));
}

fn refilter(app: &mut App) {
    let (sort, filter, h) = (
        (app.sort, app.sort_reverse),
        app.filter.clone(),
        app.table_height(),
    );
    match app.screen {
        Screen::RunList => {
            let len = app.list_view().len();
            app.list_selected = app.list_selected.min(len.saturating_sub(1));
        }
        Screen::Run(i) | Screen::Trash(i) => {
            if let Some(run) = app.runs.get_mut(i) {
                let keep = run.selected_checkpoint().map(|c| c.name.clone());
                rebuild_view(run, sort, &filter);
                reselect(run, keep.as_deref(), h);
            }
        }
    }
}

fn set_snapshot(
    run: &mut RunEntry,
    snap: RunSnapshot,
    sort: (SortKey, bool),
    filter: &str,
    h: usize,
) {
    let keep = run.selected_checkpoint().map(|c| c.name.clone());
    run.ranks = compute_ranks(&snap);
    // Marks of rows that vanished, or that became best, last or pinned, go.
    run.marked.retain(|m| {
        snap.checkpoints.iter().any(|c| {
            &c.name == m && !c.pinned && !c.has_role(Role::Best) && !c.has_role(Role::Last)
        })
    });
    // A verify verdict holds only while the checkpoint is unchanged.
    run.damaged.retain(|name, m| {
        snap.checkpoints
            .iter()
            .any(|c| &c.name == name && c.bytes == m.bytes && c.mtime == m.mtime)
    });
    run.series = render::chart::series(&snap);
    run.snapshot = Some(snap);
    rebuild_view(run, sort, filter);
    reselect(run, keep.as_deref(), h);
}

fn reselect(run: &mut RunEntry, name: Option<&str>, h: usize) {
    if let (Some(name), Some(snap)) = (name, run.snapshot.as_ref()) {
        if let Some(pos) = run
            .view
            .iter()
            .position(|&i| snap.checkpoints.get(i).is_some_and(|c| c.name == name))
        {
            run.selected = pos;
        }
    }
    ensure_visible(run, h);
}

/// 1-based rank per checkpoint: finite metrics only, best first, ties keep the earlier.
pub(crate) fn compute_ranks(snap: &RunSnapshot) -> Vec<Option<usize>> {
    snap.ranks()
}

/// Text a filter matches against: name, `e<epoch>`, `s<step>`, roles, pinned, state.
pub(crate) fn row_text(c: &Checkpoint) -> String {
    let mut s = c.name.to_lowercase();
    if let Some(e) = c.epoch {
        s.push_str(&format!(" e{e} epoch={e}"));
    }
    if let Some(st) = c.step {
        s.push_str(&format!(" s{st} step={st}"));
    }
    for r in &c.roles {
        s.push(' ');
        s.push_str(role_name(*r));
    }
    if c.pinned {
        s.push_str(" pinned");
    }
    s.push(' ');
    s.push_str(state_name(&c.state));
    s
}

pub(crate) fn role_name(r: Role) -> &'static str {
    match r {
        Role::Best => "best",
        Role::Last => "last",
        Role::Recovery => "recovery",
        Role::Milestone => "milestone",
    }
}

pub(crate) fn state_name(s: &CheckpointState) -> &'static str {
    match s {
        CheckpointState::Complete => "ok",
        CheckpointState::Writing => "writing",
        CheckpointState::Damaged => "damaged",
    }
}

fn rebuild_view(run: &mut RunEntry, (sort, reverse): (SortKey, bool), filter: &str) {
    let Some(snap) = run.snapshot.as_ref() else {
        run.view.clear();
        return;
    };
    let f = filter.to_lowercase();
    let mut view: Vec<usize> = (0..snap.checkpoints.len())
        .filter(|&i| {
            let c = &snap.checkpoints[i];
            // A verify's verdict is part of the row: `/damaged` finds it too.
            f.is_empty()
                || row_text(c).contains(&f)
                || (run.damaged.contains_key(&c.name) && "damaged".contains(&f))
        })
        .collect();
    let cps = &snap.checkpoints;
    match sort {
        SortKey::Epoch => view.reverse(),
        SortKey::Metric => {
            view.sort_by_key(|&i| (run.ranks[i].unwrap_or(usize::MAX), std::cmp::Reverse(i)))
        }
        SortKey::Size => view.sort_by_key(|&i| (std::cmp::Reverse(cps[i].bytes), i)),
    }
    if reverse {
        view.reverse();
    }
    run.view = view;
}
