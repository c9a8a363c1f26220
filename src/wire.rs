//! Hand-written readers for the gateway's own JSON: the routing plan, the
//! Durable Objects' messages and answers, and the state they store.
//!
//! They read a parsed [`serde_json::Value`] with a handful of non-generic
//! functions instead of `#[derive(Deserialize)]`, because every derived
//! struct or enum is its own copy of serde_json's reading code in the Worker
//! (the plan types alone were most of the Worker's serde code). The types
//! keep their derives for the native tools and as the oracle the tests
//! compare these readers with: a reader accepts what the derived
//! `Deserialize` accepts (a struct as an object, or as an array of its
//! fields in order; an absent or `null` `Option` is `None`; unknown fields
//! are ignored; an externally tagged enum as `"variant"` or
//! `{"variant": …}`). One difference: a key written twice in one object
//! reads as its last value (serde's derive refuses it).

use serde_json::Value;
use std::borrow::Cow;

/// A reading error, in words (`missing field `hash``).
pub type Read<T> = Result<T, String>;

/// `text` parsed as JSON.
pub fn parse(text: &[u8]) -> Read<Value> {
    serde_json::from_slice(text).map_err(|e| e.to_string())
}

#[cold]
fn wrong(what: &str, expected: &str) -> String {
    format!("invalid type at `{what}`, expected {expected}")
}

/// The fields of a struct, by position in `names`: from an object by key,
/// or from an array of the fields in order (what serde's derive accepts).
pub struct Fields<'a> {
    values: Vec<Option<&'a Value>>,
    names: &'static [&'static str],
    /// Read from an array (where a missing `Option` is an error too).
    array: bool,
}

/// `v` read as the struct `what` with the fields `names`.
pub fn fields<'a>(v: &'a Value, what: &str, names: &'static [&'static str]) -> Read<Fields<'a>> {
    let array = v.is_array();
    let values = match v {
        Value::Object(map) => crate::seq::map(names, |_, n| map.get(*n)),
        Value::Array(items) => {
            if items.len() > names.len() {
                return Err(format!("invalid length {}, expected fewer elements in {what}", items.len()));
            }
            let mut values: Vec<Option<&Value>> = crate::seq::map(items, |_, x| Some(x));
            // An array must hold every field without a default; the missing
            // ones are absent and reported by the reads.
            values.resize(names.len(), None);
            values
        }
        _ => return Err(wrong(what, "a struct")),
    };
    Ok(Fields { values, names, array })
}

impl<'a> Fields<'a> {
    /// Field `i` as written (absent: `None`; `null` stays `Some(Null)`).
    pub fn raw(&self, i: usize) -> Option<&'a Value> {
        self.values[i]
    }

    /// A required field.
    pub fn req(&self, i: usize) -> Read<&'a Value> {
        self.values[i].ok_or_else(|| format!("missing field `{}`", self.names[i]))
    }

    /// An `Option` field: absent or `null` is `None`.
    pub fn opt(&self, i: usize) -> Option<&'a Value> {
        self.values[i].filter(|v| !v.is_null())
    }

    /// The field's name, for messages.
    pub fn name(&self, i: usize) -> &'static str {
        self.names[i]
    }

    /// A required field read with `f`.
    pub fn get<T>(&self, i: usize, f: fn(&Value, &str) -> Read<T>) -> Read<T> {
        f(self.req(i)?, self.names[i])
    }

    /// An `Option` field read with `f`.
    pub fn get_opt<T>(&self, i: usize, f: fn(&Value, &str) -> Read<T>) -> Read<Option<T>> {
        if self.array && self.values[i].is_none() {
            return Err(format!("invalid length, expected field `{}`", self.names[i]));
        }
        self.opt(i).map(|v| f(v, self.names[i])).transpose()
    }

    /// A `#[serde(default)]` field read with `f` (absent: `T::default()`).
    pub fn get_or_default<T: Default>(&self, i: usize, f: fn(&Value, &str) -> Read<T>) -> Read<T> {
        self.raw(i).map(|v| f(v, self.names[i])).transpose().map(Option::unwrap_or_default)
    }
}

/// An externally tagged enum value: `"name"` (no content) or `{"name": content}`.
pub fn variant<'a>(v: &'a Value, what: &str) -> Read<(&'a str, Option<&'a Value>)> {
    match v {
        Value::String(s) => Ok((s, None)),
        Value::Object(map) if map.len() == 1 => {
            let (k, v) = map.iter().next().unwrap_or_else(|| unreachable!());
            Ok((k, Some(v)))
        }
        _ => Err(wrong(what, "an enum: a string or an object with one key")),
    }
}

/// A unit variant's content: none, or `null`.
pub fn unit(content: Option<&Value>, what: &str) -> Read<()> {
    match content {
        None | Some(Value::Null) => Ok(()),
        Some(_) => Err(wrong(what, "a unit variant")),
    }
}

/// A newtype or struct variant's content.
pub fn content<'a>(content: Option<&'a Value>, what: &str) -> Read<&'a Value> {
    content.ok_or_else(|| wrong(what, "a variant with content"))
}

/// A unit-only enum written as its name: the index of the name in `names`.
pub fn name_of(v: &Value, what: &str, names: &[&str]) -> Read<usize> {
    let (name, body) = variant(v, what)?;
    let i = names.iter().position(|n| *n == name).ok_or_else(|| unknown(what, name))?;
    unit(body, what)?;
    Ok(i)
}

/// An enum whose every variant holds one string (`{"url": "…"}`): the
/// variant's index in `names` and the string.
pub fn text_variant(v: &Value, what: &str, names: &[&str]) -> Read<(usize, String)> {
    let (name, body) = variant(v, what)?;
    let i = names.iter().position(|n| *n == name).ok_or_else(|| unknown(what, name))?;
    Ok((i, string(content(body, what)?, what)?))
}

/// An unknown variant name.
#[cold]
pub fn unknown(what: &str, name: &str) -> String {
    format!("unknown variant `{name}` at `{what}`")
}

/// A JSON array.
pub fn list<'a>(v: &'a Value, what: &str) -> Read<&'a [Value]> {
    match v {
        Value::Array(items) => Ok(items),
        _ => Err(wrong(what, "a sequence")),
    }
}

/// An internally tagged enum value, `{"<tag>": "variant", …its fields}` (or
/// an array: the tag, then the fields in order): the variant's index in
/// `names` and the value to read its fields from.
pub fn tagged<'a>(v: &'a Value, tag: &str, what: &str, names: &[&str]) -> Read<(usize, Cow<'a, Value>)> {
    let (name, body) = match v {
        Value::Object(map) => (map.get(tag).ok_or_else(|| format!("missing field `{tag}`"))?, Cow::Borrowed(v)),
        Value::Array(items) if !items.is_empty() => (&items[0], Cow::Owned(Value::Array(items[1..].to_vec()))),
        _ => return Err(wrong(what, "an internally tagged enum")),
    };
    let index = match name {
        Value::String(s) => names.iter().position(|n| n == s).ok_or_else(|| unknown(what, s))?,
        _ => return Err(wrong(what, "a variant tag")),
    };
    Ok((index, body))
}

/// An array read element by element with `f`.
/// (A loop, not `map().collect()`: this is instantiated for every element
/// type, and the iterator adapters' copies cost the Worker several KB.)
pub fn vec<T>(v: &Value, what: &str, f: fn(&Value, &str) -> Read<T>) -> Read<Vec<T>> {
    let items = list(v, what)?;
    let mut out = Vec::with_capacity(items.len());
    for x in items {
        out.push(f(x, what)?);
    }
    Ok(out)
}

/// A string, owned.
pub fn string(v: &Value, what: &str) -> Read<String> {
    v.as_str().map(str::to_string).ok_or_else(|| wrong(what, "a string"))
}

/// An array of strings.
pub fn strings(v: &Value, what: &str) -> Read<Vec<String>> {
    vec(v, what, string)
}

/// `true` or `false`.
pub fn boolean(v: &Value, what: &str) -> Read<bool> {
    v.as_bool().ok_or_else(|| wrong(what, "a boolean"))
}

/// A non-negative integer.
pub fn u64(v: &Value, what: &str) -> Read<u64> {
    v.as_u64().ok_or_else(|| wrong(what, "u64"))
}

/// A non-negative integer up to `u32::MAX`.
pub fn u32(v: &Value, what: &str) -> Read<u32> {
    v.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(|| wrong(what, "u32"))
}

/// A non-negative integer up to `u16::MAX`.
pub fn u16(v: &Value, what: &str) -> Read<u16> {
    v.as_u64().and_then(|n| u16::try_from(n).ok()).ok_or_else(|| wrong(what, "u16"))
}

/// An index.
pub fn usize(v: &Value, what: &str) -> Read<usize> {
    v.as_u64().and_then(|n| usize::try_from(n).ok()).ok_or_else(|| wrong(what, "usize"))
}

/// A signed integer.
pub fn i64(v: &Value, what: &str) -> Read<i64> {
    v.as_i64().ok_or_else(|| wrong(what, "i64"))
}

/// A wide signed integer (a bucket's scaled level). [`parse`] keeps
/// integers beyond the 64-bit range only as floats: those are taken when
/// whole (a float in the 64-bit range, `2.0`, is refused as serde refuses it).
pub fn i128(v: &Value, what: &str) -> Read<i128> {
    if let Some(n) = v.as_i64() {
        return Ok(n.into());
    }
    if let Some(n) = v.as_u64() {
        return Ok(n.into());
    }
    match v.as_f64() {
        Some(f) if f.fract() == 0.0 && !(-9_223_372_036_854_775_808.0..18_446_744_073_709_551_616.0).contains(&f) && f.abs() < 1.7e38 => {
            Ok(f as i128)
        }
        _ => Err(wrong(what, "i128")),
    }
}

/// Any number.
pub fn f64(v: &Value, what: &str) -> Read<f64> {
    v.as_f64().ok_or_else(|| wrong(what, "f64"))
}

/// A pair written as a two-element array.
pub fn pair<'a>(v: &'a Value, what: &str) -> Read<(&'a Value, &'a Value)> {
    match list(v, what)? {
        [a, b] => Ok((a, b)),
        items => Err(format!("invalid length {}, expected a tuple of size 2 at `{what}`", items.len())),
    }
}

/// Test support: compares a hand-written reader with the derived
/// `Deserialize` of the same type on a document and on mutations of it.
#[cfg(test)]
pub mod check {
    use super::Read;
    use serde::de::DeserializeOwned;
    use serde_json::Value as Json;
    use std::fmt::Debug;

    /// What the derived reader makes of the text of `v` (from bytes, as the
    /// Worker read it before: `from_value` differs in corners).
    pub fn derived<T: DeserializeOwned>(v: &Json) -> Result<T, String> {
        serde_json::from_slice(v.to_string().as_bytes()).map_err(|e| e.to_string())
    }

    /// Every value of `doc` spoiled in many ways, each field left out and
    /// an unknown one added: the hand-written reader accepts exactly what
    /// the derived one accepts, and reads the same. Returns how many
    /// documents were tried.
    pub fn equivalent<T: DeserializeOwned + PartialEq + Debug>(doc: &Json, name: &str, hand: fn(&Json) -> Read<T>) -> usize {
        let mut tried = 0;
        let mut all = Vec::new();
        paths(doc, &mut Vec::new(), &mut all);
        for path in all {
            let original = at_mut(&mut doc.clone(), &path).clone();
            for spoiled in spoilers(&original) {
                let mut copy = doc.clone();
                *at_mut(&mut copy, &path) = spoiled;
                same(&copy, &format!("{name} at {path:?}"), hand);
                tried += 1;
            }
            if let Json::Object(map) = &original {
                for key in map.keys() {
                    let mut copy = doc.clone();
                    at_mut(&mut copy, &path).as_object_mut().unwrap().remove(key);
                    same(&copy, &format!("{name} at {path:?} without {key}"), hand);
                    tried += 1;
                }
                let mut copy = doc.clone();
                at_mut(&mut copy, &path).as_object_mut().unwrap().insert("zz_unknown".into(), Json::Null);
                same(&copy, &format!("{name} at {path:?} with an unknown field"), hand);
                tried += 1;
            }
        }
        tried
    }

    /// Every way of spoiling one value the mutations below try.
    pub fn spoilers(v: &Json) -> Vec<Json> {
        let mut out = vec![
            Json::Null,
            Json::Bool(true),
            serde_json::json!(-1),
            serde_json::json!(0),
            serde_json::json!(2),
            serde_json::json!(2.0),
            serde_json::json!(1.5),
            serde_json::json!(70000),
            serde_json::json!(5_000_000_000u64),
            serde_json::json!("request"),
            serde_json::json!("nonsense"),
            serde_json::json!([]),
            serde_json::json!({}),
            serde_json::json!({"a": 1, "b": 2}),
            serde_json::json!({"fixed": null}),
            serde_json::json!({"request": null}),
            serde_json::json!({"request": 1}),
        ];
        if let Json::Array(items) = v {
            out.push(Json::Array(items.iter().take(1).cloned().collect()));
            out.push(serde_json::json!([items.first().cloned().unwrap_or(Json::Null), 1]));
        }
        if let Json::Object(map) = v {
            // The struct written as an array of its values, and an enum
            // with its content replaced.
            out.push(Json::Array(map.values().cloned().collect()));
            if map.len() == 1 {
                let (k, _) = map.iter().next().unwrap();
                out.push(serde_json::json!({ k.clone(): null }));
                out.push(serde_json::json!({ k.clone(): "x" }));
                out.push(Json::String(k.clone()));
            }
        }
        out
    }

    /// Visits every value of `v` with its path.
    fn paths(v: &Json, at: &mut Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
        out.push(at.clone());
        match v {
            Json::Object(map) => {
                for (k, x) in map {
                    at.push(PathStep::Key(k.clone()));
                    paths(x, at, out);
                    at.pop();
                }
            }
            Json::Array(items) => {
                for (i, x) in items.iter().enumerate() {
                    at.push(PathStep::Index(i));
                    paths(x, at, out);
                    at.pop();
                }
            }
            _ => {}
        }
    }

    #[derive(Clone, Debug)]
    enum PathStep {
        Key(String),
        Index(usize),
    }

    fn at_mut<'a>(v: &'a mut Json, path: &[PathStep]) -> &'a mut Json {
        path.iter().fold(v, |v, s| match s {
            PathStep::Key(k) => v.get_mut(k.as_str()).unwrap(),
            PathStep::Index(i) => v.get_mut(*i).unwrap(),
        })
    }

    fn same<T: DeserializeOwned + PartialEq + Debug>(doc: &Json, label: &str, hand: fn(&Json) -> Read<T>) {
        let hand = hand(doc);
        let derived = derived::<T>(doc);
        match (&hand, &derived) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{label}"),
            (Err(_), Err(_)) => {}
            _ => panic!("{label}: hand-written {:?}, derived {:?}", hand.map(|_| "a value"), derived.map(|_| "a value")),
        }
    }

}
