//! Conversations stranded by the move, for Python: the core's `ConversationMoved` as the Python class
//! `cozefallback.ConversationMoved` (defined in `cozefallback/_conversations.py` so that it is a real `Mapping`
//! and pickles), and the `on_conversation_moved` hook bridged onto the core's library threads.

use std::sync::Arc;

use cozefallback::{ConversationHook, ConversationMoved};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use crate::bridge;

static CLASS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn class(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    CLASS
        .get_or_try_init(py, || -> PyResult<Py<PyAny>> {
            Ok(py
                .import("cozefallback._conversations")?
                .getattr("ConversationMoved")?
                .unbind())
        })
        .map(|c| c.bind(py))
}

/// `cozefallback.ConversationMoved(from_, to, messages_copied)`, or None when nothing moved.
pub fn moved_to_py(py: Python<'_>, moved: Option<&ConversationMoved>) -> PyResult<Py<PyAny>> {
    match moved {
        Some(m) => Ok(class(py)?
            .call1((m.from.as_str(), m.to.as_str(), m.messages_copied))?
            .unbind()),
        None => Ok(py.None()),
    }
}

/// The core hook calling `callback(from, to, messages_copied)` with the GIL held. The callback runs on a library
/// thread inside the call: an exception it raises goes to `sys.unraisablehook` (printed by default) and the
/// call goes on, the mapping being kept already. A non-callable raises TypeError here, not at the move.
pub fn hook(py: Python<'_>, callback: Py<PyAny>) -> PyResult<ConversationHook> {
    let bound = callback.bind(py);
    if !bound.is_callable() {
        let type_name = bound.get_type().name()?;
        return Err(PyTypeError::new_err(format!(
            "the conversation hook must be a callable taking (from, to, messages_copied) or None, not {type_name}"
        )));
    }
    let callback = Arc::new(callback);
    Ok(Arc::new(move |m: &ConversationMoved| {
        let callback = callback.clone();
        blocking(|| {
            // None when the interpreter is exiting: nobody is left to tell.
            let _ = bridge::with_python(|py| {
                let called =
                    callback.call1(py, (m.from.as_str(), m.to.as_str(), m.messages_copied));
                if let Err(e) = called {
                    e.write_unraisable(py, Some(callback.bind(py)));
                }
            });
        });
    }))
}

/// Runs `f`, which may wait for the GIL and then for the app's code (even a blocking call on the client), telling
/// the runtime first so that the worker's other tasks move to another thread meanwhile.
fn blocking(f: impl FnOnce()) {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_thread {
        tokio::task::block_in_place(f);
    } else {
        f();
    }
}
