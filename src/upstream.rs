//! What the gateway says to and hears from an OpenAI-compatible upstream,
//! as plain data: URLs, and how upstream errors are turned into
//! OpenAI-format errors for the client. (Which upstream, with which headers,
//! is decided per request by [`crate::call`].)
//!
//! Nothing here performs I/O; the edge module sends what this module builds.
//! Any upstream text that reaches a client passes through [`redact`] first, so
//! a provider that echoes its key back cannot leak it.

use crate::error::{Fault, GatewayError};
use serde_json::Value;

/// How much of an upstream error body the gateway reads.
pub const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// Upstream headers relayed to the client with an error response.
pub const RELAYED_ERROR_HEADERS: [&str; 2] = ["retry-after", "retry-after-ms"];

/// Replacement for a secret found in upstream text.
pub const REDACTED: &str = "[redacted]";

/// The URL for chat completions under `base` (which has no trailing slash).
pub fn chat_completions_url(base: &str) -> String {
    format!("{base}/chat/completions")
}

/// Replaces every occurrence of each non-empty secret in `text`.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        if out.contains(secret) {
            out = out.replace(secret, REDACTED);
        }
    }
    out
}

/// The response to give the client when the upstream answered `status`
/// (not 2xx) with `body`: the same status and an OpenAI-format error body.
/// A body that already is one (`{"error":{...}}`) is kept, with secrets
/// redacted; anything else is wrapped and quoted.
pub fn error_response(status: u16, body: &[u8], secrets: &[&str]) -> (u16, String) {
    let status = if (400..=599).contains(&status) {
        status
    } else {
        502
    };
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX_ERROR_BODY_BYTES)]);
    let text = redact(&text, secrets);
    if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(text.as_bytes()) {
        if let Some(Value::Object(_)) = map.get("error") {
            return (status, text);
        }
    }
    let snippet: String = text.trim().chars().take(500).collect();
    let message = if snippet.is_empty() {
        format!("Upstream provider returned HTTP {status} with an empty body.")
    } else {
        format!("Upstream provider returned HTTP {status}: {snippet}")
    };
    (
        status,
        GatewayError::new(Fault::UpstreamStatus(status), message).openai_body(),
    )
}

/// Checks that a 2xx non-streamed body is one complete JSON value, so a
/// truncated or garbled answer is never handed to a client as a success.
pub fn check_json_body(body: &[u8]) -> Result<(), GatewayError> {
    serde_json::from_slice::<serde::de::IgnoredAny>(body)
        .map(|_| ())
        .map_err(|e| {
            GatewayError::new(
                Fault::UpstreamMalformed,
                format!(
                    "The upstream provider's response is not valid JSON ({} bytes): {e}.",
                    body.len()
                ),
            )
        })
}

/// The `GET /v1/models` body: every model of the plan in OpenAI's list
/// shape (written by hand; the tests compare it with a derive's text).
pub fn models_body(models: &[String]) -> String {
    use crate::json_out::{array, quote};
    let mut out = String::with_capacity(32 + models.len() * 80);
    out.push_str("{\"object\":\"list\",\"data\":");
    array(&mut out, models, |out, id| {
        out.push_str("{\"id\":");
        quote(out, id);
        out.push_str(",\"object\":\"model\",\"created\":0,\"owned_by\":\"switchyard\"}");
    });
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_list_is_the_derives_text() {
        #[derive(serde::Serialize)]
        struct List<'a> {
            object: &'static str,
            data: Vec<Model<'a>>,
        }
        #[derive(serde::Serialize)]
        struct Model<'a> {
            id: &'a str,
            object: &'static str,
            created: u64,
            owned_by: &'static str,
        }
        for models in [vec![], vec!["gpt-4o".to_string()], vec!["a\"b".into(), "c\\d\n".into(), "é".into()]] {
            let data = models.iter().map(|id| Model { id, object: "model", created: 0, owned_by: "switchyard" }).collect();
            assert_eq!(models_body(&models), serde_json::to_string(&List { object: "list", data }).unwrap());
        }
    }

    #[test]
    fn chat_url() {
        assert_eq!(
            chat_completions_url("http://h/v1"),
            "http://h/v1/chat/completions"
        );
    }

    #[test]
    fn openai_error_bodies_pass_through_redacted() {
        let body = br#"{"error":{"message":"Incorrect API key provided: sk-secret","type":"invalid_request_error","code":"invalid_api_key"}}"#;
        let (status, out) = error_response(401, body, &["sk-secret"]);
        assert_eq!(status, 401);
        assert!(!out.contains("sk-secret"));
        assert!(out.contains(REDACTED));
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["error"]["code"], "invalid_api_key");
    }

    #[test]
    fn other_bodies_are_wrapped() {
        let (status, out) = error_response(
            503,
            b"<html>Service Unavailable sk-secret</html>",
            &["sk-secret"],
        );
        assert_eq!(status, 503);
        let v: Value = serde_json::from_str(&out).unwrap();
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains("HTTP 503") && msg.contains("Service Unavailable"),
            "{msg}"
        );
        assert!(!out.contains("sk-secret"));
        assert_eq!(v["error"]["type"], "upstream_error");
        let (_, out) = error_response(500, b"", &[]);
        assert!(out.contains("empty body"));
        let (status, _) = error_response(302, b"", &[]);
        assert_eq!(status, 502, "a non-error status is not passed off as one");
    }

    #[test]
    fn truncated_or_garbled_json_is_malformed() {
        assert!(check_json_body(br#"{"id":"x","choices":[]}"#).is_ok());
        let e = check_json_body(br#"{"id":"x","choi"#).unwrap_err();
        assert_eq!((e.status(), e.kind()), (502, "upstream_malformed"));
        assert!(check_json_body(b"").is_err());
        assert!(check_json_body(b"{} trailing").is_err());
    }

    #[test]
    fn redact_ignores_empty_secrets() {
        assert_eq!(redact("abc", &["", "b"]), format!("a{REDACTED}c"));
    }

    #[test]
    fn model_list_shape() {
        let v: Value = serde_json::from_str(&models_body(&["a".into(), "b".into()])).unwrap();
        assert_eq!(v["object"], "list");
        assert_eq!(v["data"][1]["id"], "b");
        assert_eq!(v["data"][0]["object"], "model");
    }
}
