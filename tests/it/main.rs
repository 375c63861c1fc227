//! The integration tests: one binary (like ripgrep's `tests/`), so the dependency tree
//! is linked once. One module per area; the shared helpers are in [`util`].
//!
//! Run one area with `cargo test --test it engine_core::`, one test with
//! `cargo test --test it -- --exact cli::ls_timm_fixture_json`.

mod util;

// The CLI, on fixture runs and native runs.
mod cli;
mod cli_trash;
mod doctor_states;
mod hardening;
mod hf_resume;
mod python_runs;
mod special_names;
mod trainer_metadata;

// The save engine: real files, faults, kills, concurrency, ENOSPC, properties.
mod engine_concurrency;
mod engine_core;
mod engine_enospc;
mod engine_faults;
mod engine_kill;
mod engine_ops;
mod engine_props;
mod engine_trash;
mod foreign_actions;
mod outside_canary;

// Reading runs: layouts, formats, integrity.
mod bounded_parsers;
mod fuzz_readers;
mod integrity;
mod layout_garbage;
mod layouts;

// The monitor: pure state, rendering, a real pty, speed numbers (ignored).
mod tui_bench;
mod tui_demo_pty;
mod tui_pty;
mod tui_render;
mod tui_state;

// The tree itself: dependency direction, test hygiene.
mod dep_graph;
mod test_hygiene;
