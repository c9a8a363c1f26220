//! Server-sent events as the gateway writes them to a client.
//!
//! A stream that breaks off after the client got its 200 cannot change its
//! status any more, so the gateway ends it with one final
//! `data: {"error":{...}}` event instead of a clean end; OpenAI's SDKs raise
//! such an event as an error.

use crate::error::GatewayError;

/// A terminal SSE event carrying `error` in OpenAI's shape. It starts with a
/// blank line so it stands as its own event even after a partial one.
pub fn error_event(error: &GatewayError) -> String {
    format!("\n\ndata: {}\n\n", error.openai_body())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Fault;

    #[test]
    fn error_event_is_a_standalone_openai_error() {
        let e = GatewayError::new(Fault::UpstreamIncomplete, "cut");
        let event = error_event(&e);
        assert!(event.starts_with("\n\ndata: {\"error\":"));
        assert!(event.ends_with("}\n\n"));
        let json: serde_json::Value =
            serde_json::from_str(event.trim().strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(json["error"]["code"], "upstream_incomplete");
        assert_eq!(json["error"]["message"], "cut");
    }
}
