//! The one key table: dispatch, footer hints and the help overlay are all generated
//! from [`BINDINGS`], so they can never disagree (atuin-style: keymap is data).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Which set of keys is live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMode {
    /// The list of runs (`ckpt watch DIR` with several runs).
    RunList,
    /// One run's history table.
    Run,
    /// Typing a filter after `/`.
    Filter,
    /// A confirm dialog (default No).
    Confirm,
    /// The help overlay.
    Help,
    /// The details overlay of one checkpoint.
    Details,
    /// The run's trash (`.ckpt/trash/`): what is there, restore from it, empty it.
    Trash,
}

/// What a key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// Enter: open the selected run, or show the selected checkpoint's details.
    Open,
    Sort,
    /// Reverse the sort order.
    ReverseSort,
    Filter,
    Promote,
    Restore,
    Pin,
    Mark,
    PrunePlan,
    Verify,
    Rescan,
    Help,
    Quit,
    Back,
    /// Confirm dialog: yes.
    Yes,
    /// Confirm dialog: no / cancel.
    No,
    /// Confirm dialog: move the focus between the buttons.
    ToggleButton,
    /// Confirm dialog: press the focused button (No unless moved).
    Press,
    /// Restore dialog: archive the newer checkpoints to `.ckpt/trash/` (re-plans).
    ToggleArchive,
    /// Show the full status text (and the last verify's findings).
    Message,
    /// Filter input: apply and leave the input.
    ApplyFilter,
    /// Filter input: delete one character.
    Backspace,
    /// Open the trash view of the run.
    Trash,
    /// Trash view: bring the selected entry back into the run.
    TrashRestore,
    /// Trash view: delete everything in the trash.
    TrashEmpty,
}

impl Action {
    /// Actions that change the run; refused in `--read-only`.
    pub(crate) fn mutates(self) -> bool {
        matches!(
            self,
            Action::Promote
                | Action::Restore
                | Action::Pin
                | Action::Mark
                | Action::PrunePlan
                | Action::TrashRestore
                | Action::TrashEmpty
        )
    }
}

/// One key as written in hints and help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

const fn k(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        mods: KeyModifiers::NONE,
    }
}

const fn code(code: KeyCode) -> Key {
    Key {
        code,
        mods: KeyModifiers::NONE,
    }
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        mods: KeyModifiers::CONTROL,
    }
}

impl Key {
    /// How the key is written for people: `j`, `↑`, `Enter`, `Ctrl-C`, `space`.
    pub(crate) fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::Backspace => "Bksp".into(),
            KeyCode::F(n) => format!("F{n}"),
            other => format!("{other:?}"),
        };
        if self.mods.contains(KeyModifiers::CONTROL) {
            format!("Ctrl-{}", base.to_uppercase())
        } else {
            base
        }
    }

    fn matches(&self, ev: &KeyEvent) -> bool {
        if self.code != ev.code {
            return false;
        }
        // Shift is implied by the character itself (`G`, `R`, `?`); ignore it.
        let mods = ev.modifiers - KeyModifiers::SHIFT;
        mods == self.mods
    }
}

/// One row of the key table.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub keys: &'static [Key],
    pub action: Action,
    pub modes: &'static [KeyMode],
    /// Short label for the footer; `None` = help only.
    pub hint: Option<&'static str>,
    /// One line for the help overlay.
    pub help: &'static str,
}

use KeyMode as M;

const NAV: &[KeyMode] = &[M::RunList, M::Run];
const RUN: &[KeyMode] = &[M::Run];

/// The key table. Order = order in footer and help.
pub const BINDINGS: &[Binding] = &[
    Binding {
        keys: &[k('j'), code(KeyCode::Down)],
        action: Action::Down,
        modes: &[M::RunList, M::Run, M::Details, M::Trash],
        hint: None,
        help: "move down",
    },
    Binding {
        keys: &[k('k'), code(KeyCode::Up)],
        action: Action::Up,
        modes: &[M::RunList, M::Run, M::Details, M::Trash],
        hint: None,
        help: "move up",
    },
    Binding {
        keys: &[code(KeyCode::PageDown), ctrl('d')],
        action: Action::PageDown,
        modes: NAV,
        hint: None,
        help: "page down",
    },
    Binding {
        keys: &[code(KeyCode::PageUp), ctrl('u')],
        action: Action::PageUp,
        modes: NAV,
        hint: None,
        help: "page up",
    },
    Binding {
        keys: &[k('g'), code(KeyCode::Home)],
        action: Action::Top,
        modes: NAV,
        hint: None,
        help: "first row",
    },
    Binding {
        keys: &[k('G'), code(KeyCode::End)],
        action: Action::Bottom,
        modes: NAV,
        hint: None,
        help: "last row",
    },
    Binding {
        keys: &[code(KeyCode::Enter)],
        action: Action::Open,
        modes: &[M::RunList],
        hint: Some("open"),
        help: "open the selected run",
    },
    Binding {
        keys: &[code(KeyCode::Enter)],
        action: Action::Open,
        modes: RUN,
        hint: Some("details"),
        help: "checkpoint details",
    },
    Binding {
        keys: &[k('s')],
        action: Action::Sort,
        modes: RUN,
        hint: Some("sort"),
        help: "sort: epoch/metric/size",
    },
    Binding {
        keys: &[k('S')],
        action: Action::ReverseSort,
        modes: RUN,
        hint: None,
        help: "reverse the sort order",
    },
    Binding {
        keys: &[k('/')],
        action: Action::Filter,
        modes: NAV,
        hint: Some("filter"),
        help: "filter (name, e5, best…)",
    },
    Binding {
        keys: &[k('p')],
        action: Action::Promote,
        modes: RUN,
        hint: Some("promote"),
        help: "promote to best (held)",
    },
    Binding {
        keys: &[k('r')],
        action: Action::Restore,
        modes: RUN,
        hint: Some("restore"),
        help: "restore: resume from it",
    },
    Binding {
        keys: &[k(' ')],
        action: Action::Pin,
        modes: RUN,
        hint: Some("pin"),
        help: "pin / unpin",
    },
    Binding {
        keys: &[k('d')],
        action: Action::Mark,
        modes: RUN,
        hint: Some("mark"),
        help: "mark / unmark for prune, next row (not best/last/pinned)",
    },
    Binding {
        keys: &[k('x')],
        action: Action::PrunePlan,
        modes: RUN,
        hint: Some("prune"),
        help: "prune marked (or policy)",
    },
    Binding {
        keys: &[k('v')],
        action: Action::Verify,
        modes: RUN,
        hint: Some("verify"),
        help: "verify all checkpoints",
    },
    Binding {
        keys: &[k('t')],
        action: Action::Trash,
        modes: RUN,
        hint: Some("trash"),
        help: "the run's trash: restore from it, empty it",
    },
    Binding {
        keys: &[k('r')],
        action: Action::TrashRestore,
        modes: &[M::Trash],
        hint: Some("restore"),
        help: "bring it back into the run",
    },
    Binding {
        keys: &[k('x')],
        action: Action::TrashEmpty,
        modes: &[M::Trash],
        hint: Some("empty"),
        help: "empty the trash (delete all)",
    },
    Binding {
        keys: &[k('R')],
        action: Action::Rescan,
        modes: &[M::RunList, M::Run, M::Trash],
        hint: None,
        help: "rescan now",
    },
    Binding {
        keys: &[k('!')],
        action: Action::Message,
        modes: NAV,
        hint: None,
        help: "full status message",
    },
    Binding {
        keys: &[k('y')],
        action: Action::Yes,
        modes: &[M::Confirm],
        hint: Some("yes"),
        help: "confirm",
    },
    Binding {
        keys: &[k('n'), code(KeyCode::Esc)],
        action: Action::No,
        modes: &[M::Confirm],
        hint: Some("no"),
        help: "cancel",
    },
    Binding {
        keys: &[
            code(KeyCode::Tab),
            code(KeyCode::Left),
            code(KeyCode::Right),
        ],
        action: Action::ToggleButton,
        modes: &[M::Confirm],
        hint: None,
        help: "switch button",
    },
    Binding {
        keys: &[k('a')],
        action: Action::ToggleArchive,
        modes: &[M::Confirm],
        hint: Some("archive newer"),
        help: "restore: archive newer",
    },
    Binding {
        keys: &[code(KeyCode::Enter)],
        action: Action::Press,
        modes: &[M::Confirm],
        hint: None,
        help: "press focused (No)",
    },
    Binding {
        keys: &[code(KeyCode::Enter)],
        action: Action::ApplyFilter,
        modes: &[M::Filter],
        hint: Some("apply"),
        help: "keep the filter",
    },
    Binding {
        keys: &[code(KeyCode::Backspace)],
        action: Action::Backspace,
        modes: &[M::Filter],
        hint: None,
        help: "delete a character",
    },
    Binding {
        keys: &[code(KeyCode::Esc)],
        action: Action::Back,
        modes: &[M::Run, M::Filter, M::Help, M::Details, M::RunList, M::Trash],
        hint: Some("back"),
        help: "back / clear / close",
    },
    Binding {
        keys: &[k('?'), code(KeyCode::F(1))],
        action: Action::Help,
        modes: &[M::RunList, M::Run, M::Help, M::Details, M::Trash],
        hint: Some("help"),
        help: "this help",
    },
    Binding {
        keys: &[k('q'), ctrl('c')],
        action: Action::Quit,
        modes: &[M::RunList, M::Run, M::Help, M::Details, M::Trash],
        hint: Some("quit"),
        help: "quit",
    },
    Binding {
        keys: &[ctrl('c')],
        action: Action::Quit,
        modes: &[M::Filter, M::Confirm],
        hint: None,
        help: "quit",
    },
];

/// Resolve a key in a mode: pure, the first matching binding wins.
pub fn resolve(mode: KeyMode, ev: &KeyEvent) -> Option<Action> {
    BINDINGS
        .iter()
        .filter(|b| b.modes.contains(&mode))
        .find(|b| b.keys.iter().any(|key| key.matches(ev)))
        .map(|b| b.action)
}

/// Footer hints for a mode: (key label, hint), mutating ones dropped when read-only.
pub fn hints(mode: KeyMode, read_only: bool) -> Vec<(String, &'static str)> {
    hints_where(mode, read_only, |_| true)
}

/// Footer hints for a mode, keeping only actions `offered` says apply right now
/// (e.g. the archive toggle only in a restore dialog with newer checkpoints).
pub fn hints_where(
    mode: KeyMode,
    read_only: bool,
    offered: impl Fn(Action) -> bool,
) -> Vec<(String, &'static str)> {
    BINDINGS
        .iter()
        .filter(|b| b.modes.contains(&mode))
        .filter(|b| !(read_only && b.action.mutates()))
        .filter(|b| offered(b.action))
        .filter_map(|b| b.hint.map(|h| (b.keys[0].label(), h)))
        .collect()
}

/// Help lines for a mode: (all key labels joined, description, disabled by read-only).
pub fn help_lines(mode: KeyMode, read_only: bool) -> Vec<(String, &'static str, bool)> {
    BINDINGS
        .iter()
        .filter(|b| b.modes.contains(&mode))
        .map(|b| {
            let keys: Vec<String> = b.keys.iter().map(Key::label).collect();
            (keys.join("/"), b.help, read_only && b.action.mutates())
        })
        .collect()
}
