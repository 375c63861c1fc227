//! `ckpt demo`: a simulated trainer saving through the engine (issue 3).
