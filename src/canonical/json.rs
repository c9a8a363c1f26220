//! Typed reads of a provider's JSON answer parsed as a [`serde_json::Value`],
//! and the few builders request encoders write with ([`object`], [`text`],
//! [`text_part`]).
//!
//! Decoders walk the `Value` with these few non-generic functions rather
//! than deriving `Deserialize` for wire structs: every derived struct is its
//! own copy of serde_json's struct-reading code in the Worker, while these
//! share one. A field that is absent or `null` reads as `None` (as an
//! `Option` field would); a field of the wrong type is
//! [`DecodeError::Malformed`] naming the key. `what` names the body in the
//! message (`"Gemini response"`).

use serde_json::Value;

use super::DecodeError;

#[cold]
fn wrong(what: &str, key: &str, expected: &str) -> DecodeError {
    DecodeError::Malformed(format!("{what} is not valid: `{key}` is not {expected}"))
}

/// `body` parsed as a JSON object.
pub fn parse_object(body: &[u8], what: &str) -> Result<Value, DecodeError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| DecodeError::Malformed(format!("{what} is not valid: {e}")))?;
    is_object(&value, what, "the body")?;
    Ok(value)
}

/// `Ok(value)` when it is an object.
pub fn is_object<'a>(value: &'a Value, what: &str, key: &str) -> Result<&'a Value, DecodeError> {
    match value {
        Value::Object(_) => Ok(value),
        _ => Err(wrong(what, key, "an object")),
    }
}

/// `key` of an object, `None` when absent or `null`.
pub fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|v| !v.is_null())
}

/// An object field.
pub fn obj<'a>(v: &'a Value, key: &str, what: &str) -> Result<Option<&'a Value>, DecodeError> {
    get(v, key).map(|f| is_object(f, what, key)).transpose()
}

/// An array field; absent is empty.
pub fn array<'a>(v: &'a Value, key: &str, what: &str) -> Result<&'a [Value], DecodeError> {
    match get(v, key) {
        None => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(wrong(what, key, "an array")),
    }
}

/// A string field.
pub fn str<'a>(v: &'a Value, key: &str, what: &str) -> Result<Option<&'a str>, DecodeError> {
    match get(v, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(wrong(what, key, "a string")),
    }
}

/// A count: a non-negative integer field.
pub fn count(v: &Value, key: &str, what: &str) -> Result<Option<u64>, DecodeError> {
    get(v, key).map(|n| n.as_u64().ok_or_else(|| wrong(what, key, "a count"))).transpose()
}

/// A boolean field.
pub fn bool(v: &Value, key: &str, what: &str) -> Result<Option<bool>, DecodeError> {
    get(v, key).map(|b| b.as_bool().ok_or_else(|| wrong(what, key, "true or false"))).transpose()
}

/// An array field of numbers read as `f32` (an embedding vector).
pub fn floats(v: &Value, key: &str, what: &str) -> Result<Vec<f32>, DecodeError> {
    match get(v, key) {
        Some(Value::Array(items)) => crate::seq::try_map(items, |_, x| number(x, what, key)),
        _ => Err(wrong(what, key, "an array of numbers")),
    }
}

/// One number as `f32`.
pub fn number(x: &Value, what: &str, key: &str) -> Result<f32, DecodeError> {
    x.as_f64().map(|f| f as f32).ok_or_else(|| wrong(what, key, "an array of numbers"))
}

/// A JSON object of `pairs`: what `json!({...})` writes, without its
/// per-field serialization and `unwrap` at every use.
pub fn object<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    object_of(&mut pairs.into_iter())
}

fn object_of(pairs: &mut dyn Iterator<Item = (&str, Value)>) -> Value {
    let mut map = serde_json::Map::new();
    for (key, value) in pairs {
        map.insert(key.to_string(), value);
    }
    Value::Object(map)
}

/// A JSON string.
pub fn text(s: &str) -> Value {
    Value::String(s.to_string())
}

/// `{"type": "text", "text": …}`: a text part (OpenAI, Cohere) or block (Anthropic).
pub fn text_part(text: &str) -> Value {
    object([("type", self::text("text")), ("text", self::text(text))])
}
