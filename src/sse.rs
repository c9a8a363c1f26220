//! Server-sent events as relayed to the client: knowing whether an upstream
//! stream really finished, and the terminal error event when it did not.
//!
//! An OpenAI-compatible stream ends with `data: [DONE]`. A stream that stops
//! before that (the upstream reset the connection, or closed it early) must
//! never look complete to the client, so the relay appends one final
//! `data: {"error":{...}}` event, which OpenAI's SDKs raise as an error.

use crate::error::GatewayError;

/// The OpenAI stream terminator, without the `data:` field name.
const DONE: &[u8] = b"[DONE]";
/// How many trailing bytes are kept to find the terminator across chunk
/// boundaries: `data: [DONE]` plus generous whitespace.
const TAIL: usize = 32;

/// Watches the bytes of an SSE stream go by and tells whether it ended with
/// the `[DONE]` event. Keeps only the last few bytes, whatever the length.
#[derive(Debug, Default, Clone)]
pub struct Completion {
    tail: Vec<u8>,
    bytes: u64,
}

impl Completion {
    pub fn new() -> Self {
        Self::default()
    }

    /// Notes a chunk as it passes.
    pub fn observe(&mut self, chunk: &[u8]) {
        self.bytes += chunk.len() as u64;
        if chunk.len() >= TAIL {
            self.tail.clear();
            self.tail.extend_from_slice(&chunk[chunk.len() - TAIL..]);
        } else {
            self.tail.extend_from_slice(chunk);
            let excess = self.tail.len().saturating_sub(TAIL);
            self.tail.drain(..excess);
        }
    }

    /// Bytes seen so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Whether the last event seen is `data: [DONE]`.
    pub fn is_complete(&self) -> bool {
        let tail = trim_ascii_end(&self.tail);
        let Some(before) = tail.strip_suffix(DONE) else {
            return false;
        };
        let before = trim_ascii_end(before);
        let Some(before) = before.strip_suffix(b"data:") else {
            return false;
        };
        // `data:` must start a line (or the kept tail).
        before.is_empty() || before.ends_with(b"\n") || before.ends_with(b"\r")
    }
}

fn trim_ascii_end(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    &bytes[..end]
}

/// A terminal SSE event carrying `error` in OpenAI's shape. It starts with a
/// blank line so it stands as its own event even after a partial one.
pub fn error_event(error: &GatewayError) -> String {
    format!("\n\ndata: {}\n\n", error.openai_body())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Fault;

    fn complete(chunks: &[&str]) -> bool {
        let mut c = Completion::new();
        for chunk in chunks {
            c.observe(chunk.as_bytes());
        }
        c.is_complete()
    }

    #[test]
    fn done_ends_a_stream() {
        assert!(complete(&["data: {\"a\":1}\n\n", "data: [DONE]\n\n"]));
        assert!(complete(&["data:[DONE]"]));
        assert!(complete(&["data: {\"a\":1}\r\n\r\ndata: [DONE]\r\n\r\n"]));
    }

    #[test]
    fn done_split_across_chunks() {
        assert!(complete(&[
            "data: {\"a\":1}\n\nda",
            "ta: [DO",
            "NE]",
            "\n",
            "\n"
        ]));
        let long = format!("data: {}\n\n", "x".repeat(1000));
        assert!(complete(&[&long, "data: [DONE]\n\n"]));
        assert!(complete(&[&format!("{long}data: [DONE]\n\n")]));
    }

    #[test]
    fn anything_else_is_incomplete() {
        assert!(!complete(&[]));
        assert!(!complete(&["data: {\"a\":1}\n\n"]));
        assert!(!complete(&["data: [DONE]\n\ndata: {\"late\":1}\n\n"]));
        assert!(!complete(&["data: {\"text\":\"[DONE]\"}\n\n"]));
        assert!(!complete(&["data: [DON"]));
    }

    #[test]
    fn counts_bytes() {
        let mut c = Completion::new();
        c.observe(b"abc");
        c.observe(&[b'x'; 100]);
        assert_eq!(c.bytes(), 103);
    }

    #[test]
    fn error_event_is_a_standalone_openai_error() {
        let e = GatewayError::new(Fault::UpstreamIncomplete, "cut");
        let event = error_event(&e);
        assert!(event.starts_with("\n\ndata: {\"error\":"));
        assert!(event.ends_with("}\n\n"));
        let json: serde_json::Value =
            serde_json::from_str(event.trim().strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(json["error"]["code"], "upstream_incomplete");
    }
}
