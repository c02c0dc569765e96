//! `coze-mock`: a local double of the Coze OpenAPI for cozefallback's tests, demo and benches.
//!
//! It is a real HTTP/1.1 server on 127.0.0.1 (or HTTPS with HTTP/2, see [`MockOptions::tls`]) that validates PATs and JWT app credentials, mints OAuth
//! tokens, owns resources either by the personal account or by the enterprise (with a "move" switch),
//! answers in both Coze error shapes, streams SSE in both framings and injects faults on demand.
//! See `mock/README.md` for the full behaviour.

mod auth;
mod body;
pub mod child;
mod control;
mod conversations;
mod ctx;
mod faults;
mod handlers;
pub mod identities;
mod keys;
mod server;
mod shared;
mod sse;
mod state;
mod tls;
mod util;
mod ws;

pub use server::{BlockingMockServer, MockControl, MockOptions, MockServer};
pub use shared::MockInfo;
