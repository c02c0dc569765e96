//! One request as the handlers see it ([`Ctx`]), and reading its bearer token.
//!
//! Per request, below the handlers and the server; it holds nothing of the per-server
//! [`Shared`](crate::shared::Shared), which the handlers get alongside it.

use std::collections::HashMap;

use bytes::Bytes;
use hyper::Method;
use hyper::header::{AUTHORIZATION, HeaderMap};

use crate::faults::FaultAction;

/// One request as the handlers see it.
pub(crate) struct Ctx {
    pub method: Method,
    pub path: String,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub bearer: Option<String>,
    pub logid: String,
    /// A streaming fault (`stream_error_event`, `truncate_stream`, `slow_stream`) for the stream to apply.
    pub fault: Option<FaultAction>,
}

/// The token of an `Authorization: Bearer <token>` header, if the request has one.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = v.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_string())
}
