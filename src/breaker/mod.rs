//! Circuit breakers and load counters per target (provider + model).
//!
//! [`state`] is the breaker's state machine (closed → open → half-open →
//! closed), [`stats`] the in-flight and latency counters, [`object`] what
//! one target's Durable Object does with a message, and [`cache`] what an
//! isolate remembers between messages; [`directory`] lists the targets of
//! `provider:{model}` steps, which the plan cannot name; [`stream`] what a
//! streamed try's end counts as. All plain Rust over a clock given
//! by the caller; `crate::objects::breaker` and `crate::edge` do the I/O.

pub mod cache;
pub mod directory;
pub mod object;
pub mod state;
pub mod stats;
pub mod stream;

/// The Worker binding of the target objects (class `CircuitBreaker`).
pub const BINDING: &str = "BREAKER";
