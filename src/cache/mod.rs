//! The response cache and single-flight, as plain data: no I/O here (the
//! Worker glue is `crate::edge::cache`, the flight object
//! `crate::edge::cache::flight`), so all of it is tested on the host.
//!
//! - [`key`]: the cache key, a SHA-256 over a canonical serialization of
//!   the normalized canonical request, the route's resolved targets, the
//!   plan hash and the client's namespace; and which requests may be cached
//!   at all ([`key::cacheable`]: the determinism rule);
//! - [`entry`]: what is stored in KV (versioned JSON: the canonical answer,
//!   when it was stored, its lifetime), freshness and size checks;
//! - [`record`]: a streamed answer, as the client received it, folded back
//!   into one canonical answer (only a complete stream gives one);
//! - [`replay`]: an entry as the client's dialect writes it, JSON or SSE,
//!   whichever the client asked for;
//! - [`flight`]: the single-flight state one Durable Object keeps per key
//!   (leader lease, waiting followers, the last answer), and the messages;
//! - [`control`]: the client's `Cache-Control` and namespace headers.

pub mod control;
pub mod entry;
pub mod flight;
pub mod key;
pub mod record;
pub mod replay;

pub use control::{Control, Status, NAMESPACE_HEADER, STATUS_HEADER};
pub use entry::{Entry, ENTRY_FORMAT, MAX_ENTRY_BYTES};
pub use key::{cacheable, cache_key, KeyInput, Uncacheable};
