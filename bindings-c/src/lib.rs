//! libcozefallback: the C ABI over the `cozefallback` core.
//!
//! This crate only converts types and maps errors: every decision (fallback, retries, tokens, routing) is the
//! core's. Each exported function is wrapped in `catch_unwind`, checks every pointer and string it is given,
//! and reports failures as a [`cozefallback_status`] plus an optional [`cozefallback_error`].
//!
//! One module per handle, in the order the header lists their functions:
//! - [`ffi`] holds the shared helpers (C strings, argument checks, handle boxing), the version, string freeing;
//! - [`client`] holds `cozefallback_client` (new, close, free, mode, metrics, `send`, uploads, `send_any`,
//!   `fetch_token`);
//! - [`request`] holds `cozefallback_request`, the request being built;
//! - [`response`] holds `cozefallback_response`, a whole answer;
//! - [`stream`] holds `cozefallback_stream` and `cozefallback_event`, server-sent events;
//! - [`cancel`] holds `cozefallback_cancel_token`;
//! - [`error`] holds `cozefallback_status`, `cozefallback_error` and the `guard` every fallible export runs in;
//! - [`conversations`] holds the carry-over of conversations started before the move;
//! - [`ws`] holds `cozefallback_websocket`, the realtime sessions;
//! - [`oauth`] holds `cozefallback_oauth_app` (OBO user tokens: authorize URL with PKCE, code exchange, refresh,
//!   device flow), the token, authorize URL and device code it hands out, and the client's refresh hook.
//!
//! Shared conventions, followed by every module: a fallible export runs its body in `error::guard` and
//! returns its status; an accessor runs in `ffi::access` and returns 0, false or NULL for a NULL handle; every
//! handle has a NULL-safe `_free` (`ffi::free_box`); strings an accessor returns are borrowed from the handle.
//! Modules refer to each other through `super::`, so the fuzz target can include this file as a module; the
//! root re-exports every public item so that includer sees one flat namespace.
//! cbindgen reads every module listed here (bindings-c/build.rs); the header lists functions module by module.
#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

pub mod ffi;

pub mod client;
pub mod request;
pub mod response;
pub mod stream;

pub mod cancel;
pub mod error;

pub mod conversations;
pub mod ws;

pub mod oauth;

pub use cancel::*;
pub use client::*;
pub use conversations::*;
pub use error::*;
pub use ffi::*;
pub use oauth::*;
pub use request::*;
pub use response::*;
pub use stream::*;
pub use ws::*;
