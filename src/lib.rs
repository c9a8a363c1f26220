//! Switchyard: an LLM gateway that runs at the edge as a Cloudflare Worker.
//!
//! Everything in this crate except [`edge`] is plain Rust with no Workers
//! dependency, built and unit-tested on the host with `cargo test`. The
//! `edge` module (compiled for `wasm32` only) is the glue that turns a
//! Workers `Request` into calls on these modules and their answers into a
//! `Response`. See ARCHITECTURE.md for the code map and invariants.

pub mod auth;
pub mod budget;
pub mod breaker;
pub mod cache;
pub mod calendar;
pub mod call;
pub mod canonical;
pub mod chat;
pub mod config;
pub mod decimal;
pub mod dialect;
pub mod endpoint;
pub mod engine;
pub mod error;
pub mod gate;
pub mod keyed;
pub mod json_out;
pub mod keys;
pub mod limits;
pub mod metrics;
pub mod plan;
pub mod relay_tap;
pub mod provider;
pub mod seq;
pub mod sse;
pub mod status_doc;
pub mod translate;
pub mod upstream;
pub mod usage;
pub mod wire;

#[cfg(not(target_arch = "wasm32"))]
pub mod routes;

#[cfg(target_arch = "wasm32")]
mod edge;
#[cfg(target_arch = "wasm32")]
mod objects;
