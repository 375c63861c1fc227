//! Engine calls the trainer adapters need (`ckpt/timm/`, `ckpt/lightning.py`,
//! `ckpt/transformers.py`): write a file the trainer names atomically and durably inside
//! a run, remove one through the engine, and make a checkpoint directory durable with
//! its file hashes recorded. Results are JSON documents, errors the package's
//! exceptions (see `errors.rs`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use ckpt_lib::engine::atomic::Source;
use ckpt_lib::engine::dir_record::record_dir;
use ckpt_lib::engine::run_files::{owning_run, remove_run_file, RunFileWriter};
use ckpt_lib::engine::EngineOptions;

use crate::errors;
use crate::writer::PyFill;

fn options(lock_timeout: f64) -> PyResult<EngineOptions> {
    if !(lock_timeout.is_finite() && lock_timeout >= 0.0) {
        return Err(PyValueError::new_err(format!(
            "lock_timeout must be a number of seconds >= 0, not {lock_timeout}"
        )));
    }
    Ok(EngineOptions {
        lock_timeout: Duration::from_secs_f64(lock_timeout),
        ..EngineOptions::default()
    })
}

fn run_of(run: Option<PathBuf>, path: &Path) -> PathBuf {
    run.unwrap_or_else(|| owning_run(path))
}

fn json<T: serde::Serialize>(v: &T) -> PyResult<String> {
    serde_json::to_string(v).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// The run a trainer-named file belongs to (Lightning: the dir holding `checkpoints/`).
#[pyfunction]
#[pyo3(name = "owning_run")]
fn py_owning_run(path: PathBuf) -> PathBuf {
    owning_run(&path)
}

/// Write what `fill(writer)` writes (e.g. `torch.save(obj, writer)`) atomically and
/// durably at `dest` inside `run` (default: [`owning_run`]): unique temp in the same
/// directory, fsync, rename under the run lock, directory fsync. An exception raised by
/// `fill` is re-raised as is and the temp is removed; `dest` is never touched then.
#[pyfunction]
#[pyo3(signature = (dest, fill, run=None, lock_timeout=60.0, expected_bytes=None))]
fn write_run_file(
    py: Python<'_>,
    dest: PathBuf,
    fill: Py<PyAny>,
    run: Option<PathBuf>,
    lock_timeout: f64,
    expected_bytes: Option<u64>,
) -> PyResult<String> {
    let opts = options(lock_timeout)?;
    let run = run_of(run, &dest);
    let fill = PyFill::new(py, fill)?;
    let res = py.detach(|| -> ckpt_lib::Result<_> {
        let mut w = RunFileWriter::create(&run, &dest, expected_bytes, opts)?;
        let mut cb = |out: &mut dyn std::io::Write| fill.call(out);
        w.fill(Source::Writer(&mut cb))?;
        w.commit()
    });
    if let Some(pe) = fill.take_raised() {
        return Err(pe);
    }
    match res {
        Ok(w) => json(&serde_json::json!({
            "path": w.path, "bytes": w.bytes, "hash": w.hash,
        })),
        Err(e) => Err(errors::to_py(py, e)),
    }
}

/// Remove a checkpoint file (or directory) a trainer names inside `run` through the
/// engine. Returns `{"outcome": "removed", "bytes_freed": N}`, `{"outcome": "missing"}`
/// or `{"outcome": "kept", "reason": …}` (pinned or held best).
#[pyfunction]
#[pyo3(name = "remove_run_file", signature = (path, run=None, lock_timeout=60.0))]
fn remove_run_file_py(
    py: Python<'_>,
    path: PathBuf,
    run: Option<PathBuf>,
    lock_timeout: f64,
) -> PyResult<String> {
    let opts = options(lock_timeout)?;
    let run = run_of(run, &path);
    match py.detach(|| remove_run_file(&run, &path, opts)) {
        Ok(r) => json(&r),
        Err(e) => Err(errors::to_py(py, e)),
    }
}

/// Make checkpoint directory `dir` of `run` durable (fsync every file and directory)
/// and record its files' sizes and hashes in `run/.ckpt/state.json`.
#[pyfunction]
#[pyo3(signature = (run, dir, lock_timeout=60.0))]
fn record_checkpoint_dir(
    py: Python<'_>,
    run: PathBuf,
    dir: PathBuf,
    lock_timeout: f64,
) -> PyResult<String> {
    let opts = options(lock_timeout)?;
    match py.detach(|| record_dir(&run, &dir, &opts)) {
        Ok(r) => json(&r),
        Err(e) => Err(errors::to_py(py, e)),
    }
}

/// Create the native run at `path` (its `.ckpt/` and an empty manifest) when missing, so
/// files a trainer writes there before its first checkpoint (timm's recovery saves) do
/// not make it look like a foreign run. Refuses a directory holding a foreign run.
#[pyfunction]
#[pyo3(signature = (path, lock_timeout=60.0))]
fn create_run(py: Python<'_>, path: PathBuf, lock_timeout: f64) -> PyResult<()> {
    let opts = options(lock_timeout)?;
    py.detach(|| ckpt_lib::engine::Run::open_or_create(&path, opts).map(|_| ()))
        .map_err(|e| errors::to_py(py, e))
}

/// Add the adapter functions to `ckpt._ckpt`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(py_owning_run, m)?)?;
    m.add_function(wrap_pyfunction!(write_run_file, m)?)?;
    m.add_function(wrap_pyfunction!(record_checkpoint_dir, m)?)?;
    m.add_function(wrap_pyfunction!(create_run, m)?)?;
    m.add_function(wrap_pyfunction!(remove_run_file_py, m)?)?;
    Ok(())
}
