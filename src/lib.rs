//! ckpt: crash-safe ML training checkpoints and a live terminal monitor over them.
//!
//! Dependencies run one way (DESIGN §7; `tests/it/dep_graph.rs` enforces it):
//! `error, units, rank, formats` ← `store` ← `snapshot` ← `layout` ← `engine` ←
//! {`view`, `hint`, `demo`, `tui`} ← the CLI (`src/main.rs`, `src/cli/`) and Python.
//!
//! | module | what it is for |
//! |---|---|
//! | [`error`] | typed errors: what failed, on which path, and the kind of refusal |
//! | [`units`] | byte and number formatting shared by every output |
//! | [`rank`] | ranking and retention, pure: metric order, keep reasons, roles |
//! | [`formats`] | data-only readers: pickle, torch zip, safetensors, Python-style JSON |
//! | [`store`] | the on-disk contract, read-only: paths, names, manifest parse/validate/load |
//! | [`snapshot`] | one read-only picture of a run: checkpoints, aliases, roles, history |
//! | [`disk`] | free space and filesystem type of a run's mount |
//! | [`watch`] | file events or polling turned into "this run changed" |
//! | [`layout`] | ckpt, timm, Lightning and HF runs scanned into a snapshot; alias names |
//! | [`engine`] | every mutation, through one entry (lock, sweep, pending, commit) |
//! | [`view`] | the JSON documents of the CLI (`--json`) and the Python package |
//! | [`hint`] | the next step told to a user after an error |
//! | [`demo`] | a simulated trainer for `ckpt demo` |
//! | [`tui`] | the monitor: app state, pure update, keymap, one widget per pane |

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod demo;
pub mod disk;
pub mod engine;
pub mod error;
pub mod formats;
pub mod hint;
pub mod layout;
pub mod rank;
pub mod snapshot;
pub mod store;
pub mod tui;
pub mod units;
pub mod view;
pub mod watch;

pub use error::{Error, Result};
