//! Metrics, the dashboard and the structured request log, as plain data.
//!
//! Every request to a model endpoint becomes a [`record::Record`] built
//! from its final response (status, the `x-switchyard-*` headers: route,
//! target, attempts, cache, tokens, cost) and what the edge knew (the
//! gateway key's *name*, the error's kind, the attempt trail, the latency).
//! An isolate adds records to its batch ([`counters::Counters`]) and sends
//! the batch to the one `Metrics` Durable Object now and then (see
//! `src/edge/metrics.rs`); the object merges batches into its totals.
//! [`render`] turns totals into JSON or Prometheus text, [`log`] writes the
//! one JSON log line per request, [`dashboard`] is the page.

pub mod counters;
pub mod dashboard;
pub mod histogram;
pub mod log;
pub mod record;
pub mod render;

/// The Durable Object binding holding the totals.
pub const BINDING: &str = "METRICS";
/// Optional: a Workers Analytics Engine dataset every counted request is
/// also written to (blobs: route, target, key name, outcome, error; doubles:
/// latency ms, status, tokens in, tokens out, cost USD; index: route).
pub const AE_BINDING: &str = "METRICS_AE";
/// The one object's name: the whole gateway counts in one object (a batch
/// per isolate at most every [`FLUSH_MS`] or [`FLUSH_EVERY`] requests).
pub const OBJECT_NAME: &str = "gateway";
/// An isolate sends its batch once it holds this many requests…
pub const FLUSH_EVERY: u64 = 100;
/// …or this long after the batch's first request, whichever comes first.
pub const FLUSH_MS: u64 = 1_000;
