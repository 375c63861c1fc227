//! Read-only access to a Python object's bytes through the buffer protocol, without a
//! copy. PyO3's `PyBuffer` is only available to abi3 builds from Python 3.11; the two
//! functions used here are part of CPython's public C API in every version (and of the
//! stable ABI from 3.11), and `Py_buffer`'s layout has not changed since 3.3.

use std::ffi::{c_char, c_int, c_void};

use pyo3::ffi;
use pyo3::prelude::*;

#[repr(C)]
struct RawBuffer {
    buf: *mut c_void,
    obj: *mut ffi::PyObject,
    len: ffi::Py_ssize_t,
    itemsize: ffi::Py_ssize_t,
    readonly: c_int,
    ndim: c_int,
    format: *mut c_char,
    shape: *mut ffi::Py_ssize_t,
    strides: *mut ffi::Py_ssize_t,
    suboffsets: *mut ffi::Py_ssize_t,
    internal: *mut c_void,
}

extern "C" {
    fn PyObject_GetBuffer(obj: *mut ffi::PyObject, view: *mut RawBuffer, flags: c_int) -> c_int;
    fn PyBuffer_Release(view: *mut RawBuffer);
}

/// `PyBUF_SIMPLE`: a contiguous run of bytes.
const PYBUF_SIMPLE: c_int = 0;

/// A held buffer view of a Python object. Release happens on drop, which must run
/// with the GIL held (it is dropped where it was made, on a Python thread).
pub struct Bytes {
    view: Box<RawBuffer>,
}

// SAFETY: the view only points at memory the exporter keeps alive and unchanged while
// the view is held; we read it from one thread at a time.
unsafe impl Send for Bytes {}
unsafe impl Sync for Bytes {}

impl Bytes {
    /// Borrow the bytes of `obj` (bytes, bytearray, memoryview, numpy array, …).
    pub fn get(obj: &Bound<'_, PyAny>) -> PyResult<Bytes> {
        let mut view = Box::new(RawBuffer {
            buf: std::ptr::null_mut(),
            obj: std::ptr::null_mut(),
            len: 0,
            itemsize: 0,
            readonly: 0,
            ndim: 0,
            format: std::ptr::null_mut(),
            shape: std::ptr::null_mut(),
            strides: std::ptr::null_mut(),
            suboffsets: std::ptr::null_mut(),
            internal: std::ptr::null_mut(),
        });
        // SAFETY: obj is a valid object (we hold the GIL); view is writable memory.
        let r = unsafe { PyObject_GetBuffer(obj.as_ptr(), &mut *view, PYBUF_SIMPLE) };
        if r != 0 {
            return Err(PyErr::fetch(obj.py()));
        }
        Ok(Bytes { view })
    }

    pub fn as_slice(&self) -> &[u8] {
        if self.view.len <= 0 || self.view.buf.is_null() {
            return &[];
        }
        // SAFETY: the exporter guarantees `len` readable bytes at `buf` while held.
        unsafe { std::slice::from_raw_parts(self.view.buf as *const u8, self.view.len as usize) }
    }
}

impl Drop for Bytes {
    fn drop(&mut self) {
        // SAFETY: the view was filled by a successful PyObject_GetBuffer. Releasing needs
        // the GIL: take it (a no-op when this thread already holds it).
        Python::attach(|_| unsafe { PyBuffer_Release(&mut *self.view) });
    }
}
