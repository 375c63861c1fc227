//! The live monitor, `ckpt watch` (issue 4).
