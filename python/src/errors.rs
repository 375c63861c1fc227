//! Engine errors as Python exceptions, chosen by the error's type (never its text).
//! The classes live in `ckpt/_errors.py`; the message is the CLI's (`ckpt::hint::message`).

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use ckpt_lib::Error;

/// The Python exception for an engine error.
pub fn to_py(py: Python<'_>, err: Error) -> PyErr {
    match build(py, &err) {
        Ok(e) => e,
        Err(e) => PyRuntimeError::new_err(format!(
            "{} (and building its ckpt exception failed: {e})",
            ckpt_lib::hint::message(&err)
        )),
    }
}

fn path_str(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}

fn build(py: Python<'_>, err: &Error) -> PyResult<PyErr> {
    let f = PyDict::new(py);
    let class = match err {
        Error::Io { op, path, source } => {
            f.set_item("op", *op)?;
            f.set_item("path", path_str(path))?;
            f.set_item("errno", source.raw_os_error())?;
            match source.raw_os_error() {
                Some(libc::ENOSPC) | Some(libc::EDQUOT) => {
                    // A write that hit a full disk after the preflight passed.
                    f.set_item("available", py.None())?;
                    f.set_item("needed", py.None())?;
                    "NoSpaceError"
                }
                _ => "IoError",
            }
        }
        Error::CorruptManifest { path, run, reason } => {
            f.set_item("path", path_str(path))?;
            f.set_item("run", path_str(run))?;
            f.set_item("reason", reason)?;
            "CorruptRunError"
        }
        Error::NoRun { path, reason } => {
            f.set_item("path", path_str(path))?;
            f.set_item("reason", reason)?;
            "NoRunError"
        }
        Error::UnknownCheckpoint { selector, run } => {
            f.set_item("selector", selector)?;
            f.set_item("run", path_str(run))?;
            "UnknownCheckpointError"
        }
        Error::NoSpace {
            path,
            mount,
            fs_type,
            available,
            needed,
            hint,
        } => {
            f.set_item("path", path_str(path))?;
            f.set_item("mount", path_str(mount))?;
            f.set_item("fs_type", fs_type)?;
            f.set_item("available", *available)?;
            f.set_item("needed", *needed)?;
            f.set_item("hint", hint)?;
            "NoSpaceError"
        }
        Error::NotWritable { path, source } => {
            f.set_item("path", path_str(path))?;
            f.set_item("errno", source.raw_os_error())?;
            "NotWritableError"
        }
        Error::Locked {
            run,
            pid,
            operation,
            since,
            waited_secs,
        } => {
            f.set_item("run", path_str(run))?;
            f.set_item("pid", *pid)?;
            f.set_item("operation", operation)?;
            f.set_item("since", since)?;
            f.set_item("waited_secs", *waited_secs)?;
            "LockTimeoutError"
        }
        Error::ChangedSincePlan { path, what } => {
            f.set_item("path", path_str(path))?;
            f.set_item("what", what)?;
            "ChangedSincePlanError"
        }
        Error::WrongLayout(_)
        | Error::Protected(_)
        | Error::PlanOutdated(_)
        | Error::Unusable(_)
        | Error::BadRequest(_)
        | Error::Internal(_) => "InvalidOperationError",
        Error::NotOurs {
            path,
            expected,
            found,
        } => {
            // Run state that is not what ckpt keeps there (a symlinked manifest, …).
            f.set_item("path", path_str(path))?;
            f.set_item("expected", *expected)?;
            f.set_item("found", *found)?;
            "CorruptRunError"
        }
        Error::Exists { path } => {
            f.set_item("path", path_str(path))?;
            "ExistsError"
        }
        Error::IncompletePayload {
            path,
            source_desc,
            reason,
        } => {
            f.set_item("path", path_str(path))?;
            f.set_item("source_desc", source_desc)?;
            f.set_item("reason", reason)?;
            "IncompletePayloadError"
        }
        Error::Injected { step, label } => {
            f.set_item("step", *step)?;
            f.set_item("label", *label)?;
            "Error"
        }
    };
    let module = py.import("ckpt._errors")?;
    let cls = module.getattr(class)?;
    let exc = cls.call((ckpt_lib::hint::message(err),), Some(&f))?;
    Ok(PyErr::from_value(exc))
}
