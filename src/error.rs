//! Typed library errors. Every variant names what failed and on which path, so the
//! binary can print one clear message plus the next step (see DESIGN §3 rule 7).

use std::path::PathBuf;

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the library can fail with. Variants carry the path involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An OS-level I/O failure on a specific path during a named step.
    #[error("{op} failed on {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The manifest (or ckpt's state file) is unreadable or invalid.
    #[error("corrupt manifest {path}: {reason}; run `ckpt doctor {run}` to inspect the run")]
    CorruptManifest {
        path: PathBuf,
        run: PathBuf,
        reason: String,
    },
    /// The run directory does not exist or holds nothing ckpt can read.
    #[error("no run at {path}: {reason}")]
    NoRun { path: PathBuf, reason: String },
    /// A checkpoint named by the user does not exist in the run.
    #[error("no checkpoint {selector} in {run}; `ckpt ls {run}` lists them")]
    UnknownCheckpoint { selector: String, run: PathBuf },
    /// Not enough free space for the write; nothing was touched.
    #[error(
        "not enough space on {mount} ({fs_type}) for {path}: {available} bytes free, {needed} bytes needed; {hint}"
    )]
    NoSpace {
        path: PathBuf,
        mount: PathBuf,
        fs_type: String,
        available: u64,
        needed: u64,
        hint: String,
    },
    /// The run directory is not writable; nothing was touched.
    #[error(
        "cannot write to {path}: {source}; check its permissions or choose another run directory"
    )]
    NotWritable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Another process holds the run lock and did not release it in time.
    #[error("run {run} is locked by pid {pid} ({operation}) since {since}; waited {waited_secs}s. If that process is gone, `ckpt doctor {run}` shows the lock")]
    Locked {
        run: PathBuf,
        pid: u32,
        operation: String,
        since: String,
        waited_secs: u64,
    },
    /// A prune/restore victim changed between plan and apply; it was left alone.
    #[error("{path} changed since the plan ({what}); it was not touched. Re-plan and try again")]
    ChangedSincePlan { path: PathBuf, what: String },
    /// The operation does not apply to this run's layout (e.g. `save` into a timm run).
    #[error("{0}")]
    WrongLayout(String),
    /// Refused to protect data: the file is pinned, the held best, a checkpoint or
    /// alias of the run, outside it, or would be replaced. Nothing was changed.
    #[error("{0}")]
    Protected(String),
    /// The run changed since the plan was made; nothing was changed. Plan again.
    #[error("{0}")]
    PlanOutdated(String),
    /// The checkpoint or file named cannot be used as it is (damaged, not a regular
    /// file, its epoch unknown).
    #[error("{0}")]
    Unusable(String),
    /// The request itself is wrong (an argument, a path, a metric that cannot change).
    #[error("{0}")]
    BadRequest(String),
    /// An internal invariant did not hold (a bug); the message says which.
    #[error("{0}")]
    Internal(String),
    /// Something under `.ckpt/` (or an alias name) is not the regular file or directory
    /// ckpt keeps there: a symlink is never followed, a directory never replaced.
    #[error("{path} is {found}, not the {expected} ckpt keeps there; ckpt does not follow or replace it: move it out of the way (`ckpt doctor` shows the run's state)")]
    NotOurs {
        path: PathBuf,
        expected: &'static str,
        found: &'static str,
    },
    /// The destination exists and `--force` was not given.
    #[error("{path} already exists; pass --force to overwrite it")]
    Exists { path: PathBuf },
    /// The bytes to save are not a complete checkpoint (empty, or a zip cut short);
    /// the run was not changed.
    #[error("refusing to save {source_desc} as {path}: {reason}; the run was not changed. Check that the writer finished (e.g. torch.save returned without error) and save again")]
    IncompletePayload {
        path: PathBuf,
        source_desc: String,
        reason: String,
    },
    /// A fault injected through the test seam (never seen in production).
    #[error("injected fault at step {step} ({label})")]
    Injected { step: usize, label: &'static str },
}

impl Error {
    /// Shorthand for an [`Error::Io`] with a path.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
