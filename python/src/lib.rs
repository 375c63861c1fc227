//! `ckpt._ckpt`: the Rust half of the `ckpt` Python package. It calls the same engine
//! as the CLI (same rules, same messages) and returns the CLI's JSON documents, which
//! `ckpt/_run.py` turns into dicts and dataclasses. The Python half adds validation,
//! `torch.save` streaming, async saves and the exception classes.

mod adapters;
mod buffer;
mod errors;
mod writer;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use ckpt_lib::engine::metric_choice::choose_metric;
use ckpt_lib::engine::{EngineOptions, RestoreOptions, Run, SaveRequest, SaveSource};
use ckpt_lib::rank::{Mode, RetentionPolicy};
use ckpt_lib::view;

use buffer::Bytes;
use writer::{PyFill, Writer};

/// What a save records, as `ckpt/_run.py` passes it (a dict).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct Req {
    epoch: u64,
    step: Option<u64>,
    metric: Option<f64>,
    metrics: BTreeMap<String, f64>,
    /// Expected bytes (a torch object's tensor data), for the free-space preflight.
    size_hint: Option<u64>,
}

fn parse_mode(mode: Option<&str>) -> PyResult<Option<Mode>> {
    match mode {
        None => Ok(None),
        Some("max") => Ok(Some(Mode::Max)),
        Some("min") => Ok(Some(Mode::Min)),
        Some(other) => Err(PyValueError::new_err(format!(
            "mode must be \"max\" or \"min\", not {other:?}"
        ))),
    }
}

fn json<T: serde::Serialize>(v: &T) -> PyResult<String> {
    serde_json::to_string(v).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// One run directory, as the engine sees it.
#[pyclass(module = "ckpt._ckpt", frozen)]
struct RunCore {
    dir: PathBuf,
    options: EngineOptions,
    metric_name: Option<String>,
    mode: Option<Mode>,
    policy: Option<RetentionPolicy>,
}

impl RunCore {
    fn open(&self) -> ckpt_lib::Result<Run> {
        Run::open(&self.dir, None, self.options.clone())
    }

    fn request(&self, run: &Run, r: Req) -> SaveRequest {
        let existing = run.snapshot().ok().and_then(|s| s.metric);
        let choice = choose_metric(
            self.metric_name.as_deref(),
            self.mode,
            existing.as_ref(),
            r.metric.is_some(),
        );
        SaveRequest {
            epoch: r.epoch,
            step: r.step,
            metric: r.metric,
            metric_spec: choice.spec(),
            metrics: r.metrics,
            policy: self.policy,
            size_hint: r.size_hint,
        }
    }

    /// Open (creating) the run and save from `source`, with the GIL released.
    fn save_from(
        &self,
        py: Python<'_>,
        r: Req,
        source: impl FnOnce(&Run, &SaveRequest) -> ckpt_lib::Result<ckpt_lib::engine::SaveReport> + Send,
    ) -> PyResult<String> {
        let res = py.detach(|| {
            let run = Run::open_or_create(&self.dir, self.options.clone())?;
            let req = self.request(&run, r);
            source(&run, &req)
        });
        match res {
            Ok(rep) => json(&view::save_view(&rep)),
            Err(e) => Err(errors::to_py(py, e)),
        }
    }
}

#[pymethods]
impl RunCore {
    #[new]
    #[pyo3(signature = (path, lock_timeout, metric_name=None, mode=None, keep_top=None, keep_last=None, keep_every=None))]
    fn new(
        path: PathBuf,
        lock_timeout: f64,
        metric_name: Option<String>,
        mode: Option<&str>,
        keep_top: Option<usize>,
        keep_last: Option<usize>,
        keep_every: Option<u64>,
    ) -> PyResult<Self> {
        if !(lock_timeout.is_finite() && lock_timeout >= 0.0) {
            return Err(PyValueError::new_err(format!(
                "lock_timeout must be a number of seconds >= 0, not {lock_timeout}"
            )));
        }
        let policy = (keep_top.is_some() || keep_last.is_some() || keep_every.is_some()).then_some(
            RetentionPolicy {
                keep_top_k: keep_top,
                keep_last,
                keep_every,
            },
        );
        Ok(RunCore {
            dir: path,
            options: EngineOptions {
                lock_timeout: Duration::from_secs_f64(lock_timeout),
                ..EngineOptions::default()
            },
            metric_name,
            mode: parse_mode(mode)?,
            policy,
        })
    }

    #[getter]
    fn path(&self) -> PathBuf {
        self.dir.clone()
    }

    /// Save the bytes of a bytes-like object. Returns the `ckpt save --json` document.
    fn save_bytes(
        &self,
        py: Python<'_>,
        mut req: Req,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<String> {
        let bytes = Bytes::get(data)?;
        req.size_hint = Some(bytes.as_slice().len() as u64);
        let out = self.save_from(py, req, |run, req| {
            let mut fill = |w: &mut dyn std::io::Write| w.write_all(bytes.as_slice());
            run.save(req, SaveSource::Writer(&mut fill), None)
        });
        drop(bytes);
        out
    }

    /// Save a file: copied, or renamed into the run with `move_file` (same filesystem).
    fn save_file(
        &self,
        py: Python<'_>,
        req: Req,
        path: PathBuf,
        move_file: bool,
    ) -> PyResult<String> {
        self.save_from(py, req, |run, req| {
            run.save(
                req,
                SaveSource::File {
                    path: &path,
                    move_file,
                },
                None,
            )
        })
    }

    /// Save what `fill(writer)` writes into a [`Writer`] (e.g. `torch.save(obj, writer)`).
    /// An exception raised by `fill` is re-raised as is; the temp file is removed.
    fn save_stream(&self, py: Python<'_>, req: Req, fill: Py<PyAny>) -> PyResult<String> {
        let fill = PyFill::new(py, fill)?;
        let out = self.save_from(py, req, |run, req| {
            let mut cb = |w: &mut dyn std::io::Write| fill.call(w);
            run.save(req, SaveSource::Writer(&mut cb), None)
        });
        if let Some(pe) = fill.take_raised() {
            return Err(pe);
        }
        out
    }

    /// The `ckpt ls --json` document.
    fn ls(&self, py: Python<'_>) -> PyResult<String> {
        let res = py.detach(|| -> ckpt_lib::Result<_> {
            let run = self.open()?;
            let snap = run.snapshot()?;
            let disk = ckpt_lib::disk::headroom(&snap.run).ok();
            Ok(view::ls_view(&snap, disk.as_ref()))
        });
        match res {
            Ok(v) => json(&v),
            Err(e) => Err(errors::to_py(py, e)),
        }
    }

    /// Promote a checkpoint (epoch or name) to best, held; returns the engine's report.
    fn promote(&self, py: Python<'_>, selector: String) -> PyResult<String> {
        let res = py.detach(|| -> ckpt_lib::Result<_> {
            let run = self.open()?;
            run.check_promote(&selector)?;
            run.promote(&selector)
        });
        match res {
            Ok(v) => json(&v),
            Err(e) => Err(errors::to_py(py, e)),
        }
    }

    /// Release a held best; true when one was held.
    fn release(&self, py: Python<'_>) -> PyResult<bool> {
        py.detach(|| self.open()?.release_best_held())
            .map_err(|e| errors::to_py(py, e))
    }

    /// Restore (make the resume point) or export (`to`); returns the applied plan.
    #[pyo3(signature = (selector, archive_newer=false, to=None, force=false))]
    fn restore(
        &self,
        py: Python<'_>,
        selector: String,
        archive_newer: bool,
        to: Option<PathBuf>,
        force: bool,
    ) -> PyResult<String> {
        let res = py.detach(|| -> ckpt_lib::Result<_> {
            let run = self.open()?;
            let opts = RestoreOptions {
                archive_newer,
                to,
                force,
            };
            let plan = run.plan_restore(&selector, &opts)?;
            run.restore(&plan, None)?;
            Ok(plan)
        });
        match res {
            Ok(v) => json(&v),
            Err(e) => Err(errors::to_py(py, e)),
        }
    }

    /// Prune by a policy (None: the run's own); returns the `ckpt prune --json` document.
    #[pyo3(signature = (keep_top=None, keep_last=None, keep_every=None, dry_run=false))]
    fn prune(
        &self,
        py: Python<'_>,
        keep_top: Option<usize>,
        keep_last: Option<usize>,
        keep_every: Option<u64>,
        dry_run: bool,
    ) -> PyResult<String> {
        let policy = (keep_top.is_some() || keep_last.is_some() || keep_every.is_some()).then_some(
            RetentionPolicy {
                keep_top_k: keep_top,
                keep_last,
                keep_every,
            },
        );
        let res = py.detach(|| -> ckpt_lib::Result<_> {
            let run = self.open()?;
            let plan = run.plan_prune(policy, &[])?;
            let result = if dry_run || plan.victims.is_empty() {
                None
            } else {
                Some(run.prune(&plan)?)
            };
            Ok(view::prune_view(&plan, dry_run, result.as_ref()))
        });
        match res {
            Ok(v) => json(&v),
            Err(e) => Err(errors::to_py(py, e)),
        }
    }

    /// Pin (`pinned=True`) or unpin; true when something changed.
    fn set_pinned(&self, py: Python<'_>, selector: String, pinned: bool) -> PyResult<bool> {
        py.detach(|| self.open()?.change_pinned(&selector, pinned))
            .map_err(|e| errors::to_py(py, e))
    }

    /// Re-hash every checkpoint; the `ckpt verify --json` document.
    fn verify(&self, py: Python<'_>) -> PyResult<String> {
        let res = py.detach(|| -> ckpt_lib::Result<_> { self.open()?.verify(None) });
        match res {
            Ok(v) => json(&view::verify_view(&v)),
            Err(e) => Err(errors::to_py(py, e)),
        }
    }

    /// The `ckpt doctor --json` document.
    fn doctor(&self, py: Python<'_>) -> PyResult<String> {
        let res = py.detach(|| -> ckpt_lib::Result<_> { self.open()?.doctor() });
        match res {
            Ok(v) => json(&view::doctor_view(&v)),
            Err(e) => Err(errors::to_py(py, e)),
        }
    }
}

/// The user-facing text of a message-less case, for tests of the binding itself.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[pymodule]
fn _ckpt(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<RunCore>()?;
    m.add_class::<Writer>()?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    adapters::register(m)?;
    Ok(())
}
