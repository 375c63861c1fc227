//! `ckpt._ckpt.Writer`: the file-like object `torch.save` writes into. Its bytes go
//! straight into the engine's temp file (hashed, written, writeback started), with the
//! GIL released for large writes. Not seekable: torch then streams its zip.

use std::io::Write;
use std::sync::Mutex;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::buffer::Bytes;

/// Writes at least this large release the GIL while they are hashed and written.
const DETACH_AT: usize = 64 << 10;

/// The engine's writer for the duration of one save, lifetime erased: set before
/// `torch.save` runs and cleared before the borrow it came from ends.
struct Target(*mut (dyn Write + 'static));
// SAFETY: the pointer is only used while the engine's writer is alive (between `set`
// and `clear`, which the save brackets) and under the `state` mutex.
unsafe impl Send for Target {}

#[derive(Default)]
struct State {
    target: Option<Target>,
    pos: u64,
    /// The first OS error of a write: the engine reports it with the temp's path.
    error: Option<std::io::Error>,
    closed: bool,
}

#[pyclass(module = "ckpt._ckpt")]
#[derive(Default)]
pub struct Writer {
    state: Mutex<State>,
}

struct SendPtr(*mut (dyn Write + 'static));
// SAFETY: see `Target`.
unsafe impl Send for SendPtr {}

impl Writer {
    /// Point at the engine's writer `w`. The caller must call [`Writer::clear`] before
    /// `w`'s borrow ends.
    pub(crate) fn set(&self, w: &mut dyn Write) {
        // SAFETY: lifetime erasure only; `clear` runs before the borrow ends.
        let raw: *mut (dyn Write + 'static) =
            unsafe { std::mem::transmute::<*mut (dyn Write + '_), *mut (dyn Write + 'static)>(w) };
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.target = Some(Target(raw));
        st.closed = false;
    }

    /// Forget the engine's writer; return the first write error, if any.
    pub(crate) fn clear(&self) -> Option<std::io::Error> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.target = None;
        st.closed = true;
        st.error.take()
    }

    fn closed_error() -> PyErr {
        PyValueError::new_err(
            "I/O operation on closed ckpt writer (the save it belonged to has ended)",
        )
    }
}

#[pymethods]
impl Writer {
    /// Write all of `data` (any bytes-like object); returns its length.
    fn write(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<usize> {
        let bytes = Bytes::get(data)?;
        let mut st = self
            .state
            .try_lock()
            .map_err(|_| PyRuntimeError::new_err("ckpt writer used from two threads at once"))?;
        if st.error.is_some() {
            return Err(PyRuntimeError::new_err(
                "an earlier write of this save failed; the save is abandoned",
            ));
        }
        let target = match st.target.as_ref() {
            Some(t) if !st.closed => t,
            _ => return Err(Writer::closed_error()),
        };
        let ptr = SendPtr(target.0);
        let slice = bytes.as_slice();
        let n = slice.len();
        let res = if n >= DETACH_AT {
            py.detach(move || {
                let p = ptr;
                // SAFETY: see `Target`; we hold the state mutex for the whole write.
                unsafe { (*p.0).write_all(slice) }
            })
        } else {
            // SAFETY: as above.
            unsafe { (*ptr.0).write_all(slice) }
        };
        match res {
            Ok(()) => {
                st.pos += n as u64;
                Ok(n)
            }
            Err(e) => {
                let copy = match e.raw_os_error() {
                    Some(code) => std::io::Error::from_raw_os_error(code),
                    None => std::io::Error::new(e.kind(), e.to_string()),
                };
                let err = PyErr::from(copy);
                st.error = Some(e);
                Err(err)
            }
        }
    }

    /// Bytes written so far.
    fn tell(&self) -> u64 {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).pos
    }

    fn flush(&self) -> PyResult<()> {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.closed {
            return Err(Writer::closed_error());
        }
        Ok(())
    }

    fn seekable(&self) -> bool {
        false
    }

    fn writable(&self) -> bool {
        true
    }

    fn readable(&self) -> bool {
        false
    }

    fn isatty(&self) -> bool {
        false
    }

    /// Ends writing from Python's side; the save itself commits after `torch.save` returns.
    fn close(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).closed = true;
    }

    #[getter]
    fn closed(&self) -> bool {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).closed
    }

    #[getter]
    fn mode(&self) -> &'static str {
        "wb"
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(&self, _a: &Bound<'_, PyAny>, _b: &Bound<'_, PyAny>, _c: &Bound<'_, PyAny>) {
        self.close();
    }
}

/// Python's `fill(writer)` as the engine's in-process writer callback: each call hands
/// the engine's temp file to a fresh [`Writer`] and runs `fill` on it (`torch.save(obj,
/// writer)`). An exception raised by `fill` is kept for [`PyFill::take_raised`], so the
/// caller re-raises it as is once the engine has removed the temp.
pub(crate) struct PyFill {
    writer: Py<Writer>,
    fill: Py<PyAny>,
    raised: Mutex<Option<PyErr>>,
}

impl PyFill {
    pub(crate) fn new(py: Python<'_>, fill: Py<PyAny>) -> PyResult<PyFill> {
        Ok(PyFill {
            writer: Py::new(py, Writer::default())?,
            fill,
            raised: Mutex::new(None),
        })
    }

    /// The callback body: run `fill` with the writer pointed at `w`.
    pub(crate) fn call(&self, w: &mut dyn Write) -> std::io::Result<()> {
        Python::attach(|py| {
            let wr = self.writer.borrow(py);
            wr.set(w);
            let r = self.fill.call1(py, (self.writer.clone_ref(py),));
            let write_error = wr.clear();
            match (r, write_error) {
                (_, Some(e)) => Err(e),
                (Ok(_), None) => Ok(()),
                (Err(pe), None) => {
                    *self.raised.lock().unwrap_or_else(|e| e.into_inner()) = Some(pe);
                    Err(std::io::Error::other("the Python writer raised"))
                }
            }
        })
    }

    /// The exception `fill` raised, if it did.
    pub(crate) fn take_raised(&self) -> Option<PyErr> {
        self.raised.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}
