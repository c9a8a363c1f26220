//! What the end of a streamed try says about its target's health.
//!
//! A stream's try is a success for the engine as soon as its first chunk
//! arrived (the client is answered then, no other target can take over),
//! but its breaker hears about it only when the relay ends: a provider
//! that cuts or stalls every stream after the first chunk must trip its
//! breaker like one that answers 500. Plain Rust; `crate::edge::relay`
//! says how the stream ended, `crate::edge::guard` reports the verdict.

use super::state::Verdict;

/// How a relayed stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// The upstream finished its stream (a translated one with its end marker).
    Finished,
    /// Reading the upstream failed part-way, or it fell silent for the idle timeout.
    UpstreamFailed,
    /// The provider's events broke the stream: an error event, an
    /// undecodable chunk, no end marker.
    Broken,
    /// The client went away: says nothing against the provider.
    ClientGone,
}

/// The breaker's verdict on a stream that ended as `end` (`None`: the
/// relay never said, e.g. it was dropped).
pub fn verdict(end: Option<StreamEnd>) -> Verdict {
    match end {
        // The provider was sending until the client left: it is up.
        Some(StreamEnd::Finished | StreamEnd::ClientGone) => Verdict::Success,
        Some(StreamEnd::UpstreamFailed | StreamEnd::Broken) => Verdict::Failure,
        None => Verdict::Neutral,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_stream_is_the_providers_failure_a_client_leaving_is_not() {
        assert_eq!(verdict(Some(StreamEnd::Finished)), Verdict::Success);
        assert_eq!(verdict(Some(StreamEnd::UpstreamFailed)), Verdict::Failure);
        assert_eq!(verdict(Some(StreamEnd::Broken)), Verdict::Failure);
        assert_eq!(verdict(Some(StreamEnd::ClientGone)), Verdict::Success);
        assert_eq!(verdict(None), Verdict::Neutral);
    }
}
