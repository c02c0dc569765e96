//! Core errors -> the Python exception classes defined in `cozefallback/_errors.py`.
//!
//! The classes live in Python so that they pickle and subclass builtins (`TimeoutError`) naturally; this module
//! only copies the core error's fields into them. The kind decides the class (done by `_errors._from_native`).

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

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

/// The exception instance for a core error (with `previous` converted recursively).
pub fn exception<'py>(py: Python<'py>, err: &cozefallback::Error) -> PyResult<Bound<'py, PyAny>> {
    let previous = match err.previous() {
        Some(p) => Some(exception(py, p)?),
        None => None,
    };
    let attrs = PyDict::new(py);
    attrs.set_item("field", err.field())?;
    attrs.set_item("code", err.code())?;
    attrs.set_item("http_status", err.http_status())?;
    attrs.set_item("logid", err.logid())?;
    attrs.set_item("credential", err.credential().map(|c| c.as_str()))?;
    attrs.set_item("authorize_url", err.authorize_url())?;
    attrs.set_item("oauth_error", err.oauth_error())?;
    attrs.set_item("events_delivered", err.events_delivered())?;
    attrs.set_item("attempts", err.attempts())?;
    attrs.set_item("previous", previous)?;
    attrs.set_item("conversation_id", err.conversation_id())?;
    attrs.set_item("file_id", err.file_id())?;
    attrs.set_item(
        "conversation_owner",
        err.conversation_owner().map(|c| c.as_str()),
    )?;
    attrs.set_item("bot_credential", err.bot_credential().map(|c| c.as_str()))?;
    if let Some(r) = err.response() {
        let headers: Vec<(&str, &str)> = r
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        attrs.set_item(
            "response",
            (r.status, headers, pyo3::types::PyBytes::new(py, &r.body)),
        )?;
    }
    // `msg` is Coze's own message when there is one (the SDKs' meaning), else the core's description.
    let msg = err.coze_message().unwrap_or(err.message());
    factory(py)?.call1((err.kind().as_str(), err.to_string(), msg, attrs))
}

/// The `PyErr` for a core error. Never fails: a failure to build the exception becomes that failure.
pub fn to_pyerr(py: Python<'_>, err: &cozefallback::Error) -> PyErr {
    match exception(py, err) {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

/// A `CozeError` subclass for a binding-level failure of the given kind (`invalid_argument`, `internal`, ...).
pub fn simple(py: Python<'_>, kind: &str, message: &str) -> PyErr {
    let build = || -> PyResult<Bound<'_, PyAny>> {
        factory(py)?.call1((kind, message, message, PyDict::new(py)))
    };
    match build() {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}
