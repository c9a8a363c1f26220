//! Checks that a body is an OpenAI chat completion request and reads the
//! few fields the gateway routes on (`model`, `stream`).
//!
//! The body itself is forwarded unchanged, so fields this module does not
//! know survive the trip. Checking is one pass of serde over the bytes with
//! every other field skipped, and every error names the field and position
//! at fault (`expected \`model\` to be a string at line 1 column 11`).

use crate::error::{Fault, GatewayError};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;

/// What the gateway needs to know about a chat request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatSummary {
    pub model: String,
    pub stream: bool,
    /// `stream_options.include_usage`: the client wants usage on its stream.
    pub include_usage: bool,
    /// The body has a `stream_options` member (`null` included).
    pub stream_options: bool,
    pub message_count: usize,
}

/// Validates `body` as a chat completion request.
pub fn inspect(body: &[u8]) -> Result<ChatSummary, GatewayError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => {
            return Err(GatewayError::new(
                Fault::BadRequest,
                "Request body is empty; expected a JSON chat completion request.",
            ))
        }
        // serde would read a JSON array positionally as the struct; refuse it here.
        Some(b'[') => {
            return Err(GatewayError::new(
                Fault::BadRequest,
                "Request body is not a chat completion request: expected a JSON object, found an array.",
            ))
        }
        Some(_) => {}
    }
    // JSON text is UTF-8 (RFC 8259 §8.1). serde checks the strings it reads,
    // not the ones it skips, and the body is forwarded as it came: check it
    // whole here, so no provider is sent bytes that are not text.
    let text = std::str::from_utf8(body).map_err(|e| {
        GatewayError::new(
            Fault::BadRequest,
            format!(
                "Request body is not valid JSON: invalid UTF-8 at byte {}.",
                e.valid_up_to()
            ),
        )
    })?;
    // from_slice, not from_str: the Worker links one copy of serde_json's
    // reader (the text is checked above, so both read it alike).
    let probe: Probe = serde_json::from_slice(text.as_bytes()).map_err(|e| {
        let what = if e.is_syntax() || e.is_eof() {
            "Request body is not valid JSON"
        } else {
            "Request body is not a chat completion request"
        };
        GatewayError::new(Fault::BadRequest, format!("{what}: {e}."))
    })?;

    let model = match probe.model {
        None => {
            return Err(
                GatewayError::new(Fault::BadRequest, "`model` is required.").with_param("model")
            )
        }
        Some(ModelField(m)) if m.trim().is_empty() => {
            return Err(
                GatewayError::new(Fault::BadRequest, "`model` must not be empty.")
                    .with_param("model"),
            )
        }
        Some(ModelField(m)) => m,
    };
    let message_count = match probe.messages {
        None => {
            return Err(
                GatewayError::new(Fault::BadRequest, "`messages` is required.")
                    .with_param("messages"),
            )
        }
        Some(MessagesField(0)) => {
            return Err(GatewayError::new(
                Fault::BadRequest,
                "`messages` must contain at least one message.",
            )
            .with_param("messages"))
        }
        Some(MessagesField(n)) => n,
    };
    Ok(ChatSummary {
        model,
        stream: probe.stream.unwrap_or(false),
        include_usage: probe
            .stream_options
            .as_ref()
            .and_then(|o| o.as_ref()?.include_usage)
            .unwrap_or(false),
        stream_options: probe.stream_options.is_some(),
        message_count,
    })
}

#[derive(Deserialize)]
#[serde(expecting = "a JSON object (a chat completion request)")]
struct Probe {
    model: Option<ModelField>,
    messages: Option<MessagesField>,
    #[serde(default, deserialize_with = "stream_flag")]
    stream: Option<bool>,
    /// `Some` when the member is there, `Some(None)` when it is `null`.
    #[serde(default, deserialize_with = "present")]
    stream_options: Option<Option<StreamOptions>>,
}

/// A member that is there, even as `null`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<StreamOptions>>, D::Error> {
    Option::<StreamOptions>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(expecting = "`stream_options` to be an object")]
struct StreamOptions {
    include_usage: Option<bool>,
}

/// `model`: a string.
struct ModelField(String);

impl<'de> Deserialize<'de> for ModelField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ModelField;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`model` to be a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ModelField, E> {
                Ok(ModelField(v.to_string()))
            }
        }
        d.deserialize_str(V)
    }
}

/// `messages`: an array of objects that each have a string `role`; holds the count.
struct MessagesField(usize);

impl<'de> Deserialize<'de> for MessagesField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MessagesField;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`messages` to be an array of message objects")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MessagesField, A::Error> {
                let mut count = 0;
                while seq.next_element::<Message>()?.is_some() {
                    count += 1;
                }
                Ok(MessagesField(count))
            }
        }
        d.deserialize_seq(V)
    }
}

#[derive(Deserialize)]
#[serde(expecting = "each message to be an object with a `role`")]
struct Message {
    #[allow(dead_code)] // read only to check its type
    role: Role,
}

struct Role;

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Role;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a message `role` to be a string")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Role, E> {
                Ok(Role)
            }
        }
        d.deserialize_str(V)
    }
}

fn stream_flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = Option<bool>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("`stream` to be true or false")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Option<bool>, E> {
            Ok(Some(v))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Option<bool>, E> {
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> GatewayError {
        inspect(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn reads_model_and_stream() {
        let s = inspect(br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":true,"x":{"y":[1]}}"#)
            .unwrap();
        assert_eq!(
            s,
            ChatSummary {
                model: "gpt-4o".into(),
                stream: true,
                include_usage: false,
                stream_options: false,
                message_count: 1
            }
        );
        let s = inspect(br#"{"messages":[{"role":"system","content":"a"},{"role":"user","content":[{"type":"text","text":"b"}]}],"model":"m","stream":null}"#).unwrap();
        assert!(!s.stream);
        assert_eq!(s.message_count, 2);
        let s = inspect(br#"{"model":"m","messages":[{"role":"user"}],"stream":true,"stream_options":{"include_usage":true}}"#).unwrap();
        assert!(s.include_usage && s.stream_options);
        let s = inspect(br#"{"model":"m","messages":[{"role":"user"}],"stream":true,"stream_options":null}"#).unwrap();
        assert!(!s.include_usage && s.stream_options);
        let s = inspect(br#"{"model":"m","messages":[{"role":"user"}],"stream":true,"stream_options":{}}"#).unwrap();
        assert!(!s.include_usage && s.stream_options);
    }

    #[test]
    fn malformed_json_is_named() {
        let e = err(r#"{"model": "gpt-4o", "messages": [}"#);
        assert_eq!(e.status(), 400);
        assert!(
            e.message.starts_with("Request body is not valid JSON"),
            "{}",
            e.message
        );
        assert!(e.message.contains("line 1 column"), "{}", e.message);
        assert!(err("").message.contains("empty"));
        assert!(err("{\"model\":\"m\",").message.contains("not valid JSON"));
    }

    #[test]
    fn invalid_utf8_anywhere_is_refused() {
        // Inside a field the check skips (content), in an unknown key, and an
        // overlong encoding: none of it may be forwarded.
        for bad in [
            &b"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"h\xffi\"}]}"[..],
            b"{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}],\"x\xc3\":1}",
            b"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\xc0\xaf\"}]}",
        ] {
            let e = inspect(bad).unwrap_err();
            assert_eq!(e.status(), 400);
            assert!(e.message.contains("invalid UTF-8"), "{}", e.message);
        }
        // Escapes and real multi-byte text are fine.
        let ok = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"h\\u00e9 \u{e9}\u{1f600}\"}]}";
        assert!(inspect(ok.as_bytes()).is_ok());
    }

    #[test]
    fn not_a_chat_request_is_named() {
        assert!(err("[1,2]").message.contains("a JSON object"));
        assert_eq!(
            err(r#"{"messages":[{"role":"user"}]}"#).param,
            Some("model")
        );
        assert_eq!(err(r#"{"model":"m"}"#).param, Some("messages"));
        assert_eq!(
            err(r#"{"model":"m","messages":[]}"#).param,
            Some("messages")
        );
        assert_eq!(
            err(r#"{"model":" ","messages":[{"role":"user"}]}"#).param,
            Some("model")
        );
        assert!(err(r#"{"model":5,"messages":[]}"#)
            .message
            .contains("`model` to be a string"));
        assert!(err(r#"{"model":"m","messages":"hi"}"#)
            .message
            .contains("`messages` to be an array"));
        assert!(err(r#"{"model":"m","messages":[1]}"#)
            .message
            .contains("each message to be an object"));
        assert!(err(r#"{"model":"m","messages":[{"content":"x"}]}"#)
            .message
            .contains("`role`"));
        assert!(err(r#"{"model":"m","messages":[{"role":1}]}"#)
            .message
            .contains("`role` to be a string"));
        assert!(
            err(r#"{"model":"m","messages":[{"role":"user"}],"stream":"yes"}"#)
                .message
                .contains("`stream` to be true or false")
        );
    }
}
