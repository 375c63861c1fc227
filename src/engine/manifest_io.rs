//! Read, validate and atomically replace `.ckpt/manifest.json` and `.ckpt/state.json`.
