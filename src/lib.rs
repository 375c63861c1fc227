//! ckpt: crash-safe ML training checkpoints and a live terminal monitor over them.
//!
//! The library is organised as in DESIGN.md §7: `engine` mutates runs safely,
//! `layout` reads the run directories of ckpt, timm, Lightning and the HF Trainer
//! into one [`snapshot::RunSnapshot`], `rank` is the pure ranking/retention logic,
//! `disk` measures headroom, `watch` turns file events into "run changed", and `tui`
//! is the monitor. The CLI (`src/main.rs`) and the TUI are thin callers of the engine.

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
