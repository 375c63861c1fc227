//! Readers of the file formats checkpoints come in, data-only and bounded: Python
//! pickles (never executed), the zip container `torch.save` writes,, safetensors, and JSON as Python writes it (trainer files).
//! Layouts use them to read metrics a trainer stored inside a checkpoint and to tell
//! a complete file from one cut short.

pub mod pickle;
pub(crate) mod pyjson;
pub mod safetensors;
pub mod torchzip;
