//! Core errors -> the Python exception classes defined in `cozefallback/_errors.py`.
//!
//! The classes live in Python so that they pickle and subclass builtins (`TimeoutError`) naturally. Their
//! attributes come from the core's JSON form of the error (`Error::to_json`, docs/FORMS.md): every key becomes
//! the attribute of the same name. Only what JSON cannot hold the Python way is set here: `previous` (an
//! exception, built the same way), `response` (a `(status, [(name, value)], body bytes)` tuple, the body as
//! received) and `msg` (the Python alias: Coze's own message, else the core's description). The kind decides
//! the class (done by `_errors._from_native`).

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict};

static FROM_NATIVE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn factory(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    FROM_NATIVE
        .get_or_try_init(py, || -> PyResult<Py<PyAny>> {
            Ok(py
                .import("cozefallback._errors")?
                .getattr("_from_native")?
                .unbind())
        })
        .map(|f| f.bind(py))
}

/// The attributes of the exception for a core error: its JSON form as a dict, with `previous`, `response`
/// and `msg` in their Python shapes.
fn attributes<'py>(py: Python<'py>, err: &cozefallback::Error) -> PyResult<Bound<'py, PyDict>> {
    let attrs = crate::convert::from_json(py, &err.to_json())?.cast_into::<PyDict>()?;
    let previous = err.previous().map(|p| exception(py, p)).transpose()?;
    attrs.set_item("previous", previous)?;
    let response = err.response().map(|r| {
        let headers: Vec<(&str, &str)> = r
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        (r.status, headers, PyBytes::new(py, &r.body))
    });
    attrs.set_item("response", response)?;
    attrs.set_item("msg", err.coze_message().unwrap_or(err.message()))?;
    Ok(attrs)
}

/// The exception instance for a core error (with `previous` converted recursively).
///
/// ```text
/// let exc = errors::exception(py, &cozefallback::Error::invalid_argument("bad"))?; // InvalidArgumentError
/// ```
pub fn exception<'py>(py: Python<'py>, err: &cozefallback::Error) -> PyResult<Bound<'py, PyAny>> {
    factory(py)?.call1((attributes(py, err)?,))
}

/// The `PyErr` for a core error. Never fails: a failure to build the exception becomes that failure.
///
/// ```text
/// client.set_mode(mode).map_err(|e| errors::to_pyerr(py, &e))?;
/// ```
pub fn to_pyerr(py: Python<'_>, err: &cozefallback::Error) -> PyErr {
    match exception(py, err) {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

/// A `CozeError` subclass for a binding-level failure of the given kind (`invalid_argument`, `internal`,
/// `cancelled`): only `kind` and `message` are known, the other attributes keep their defaults.
///
/// ```text
/// return Err(errors::simple(py, "invalid_argument", "the client is closed"));
/// ```
pub fn simple(py: Python<'_>, kind: &str, message: &str) -> PyErr {
    let build = || -> PyResult<Bound<'_, PyAny>> {
        let attrs = PyDict::new(py);
        attrs.set_item("kind", kind)?;
        attrs.set_item("message", message)?;
        factory(py)?.call1((attrs,))
    };
    match build() {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}
