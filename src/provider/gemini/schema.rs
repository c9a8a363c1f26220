//! JSON Schema cleaned to the OpenAPI 3.0 subset Gemini's `Schema` takes
//! (tool `parameters` and `responseSchema`).
//!
//! Gemini rejects a request whose schema has a key its `Schema` message does
//! not know (`Unknown name "additionalProperties"`, `"$schema"`, `"$ref"`,
//! `"const"`, …), a `format` it does not support for the type, or a
//! `required` name that is not a property. So the schema is rebuilt from an
//! allow-list rather than pruned from a deny-list:
//!
//! - kept: `type` (upper-cased: `STRING`, `OBJECT`, …), `title`,
//!   `description`, `nullable`, `enum` (as strings), `default`, `example`,
//!   `properties`, `required` (only names that are properties),
//!   `propertyOrdering`, `items`, `minItems`, `maxItems`, `minProperties`,
//!   `maxProperties`, `minLength`, `maxLength`, `pattern`, `minimum`,
//!   `maximum`, `anyOf`; `format` only where Gemini supports it (`enum` and
//!   `date-time` for strings, `int32`/`int64`, `float`/`double`);
//! - rewritten: `"type": ["string", "null"]` becomes `STRING` + `nullable`;
//!   `const: x` becomes `enum: [x]`; `oneOf` becomes `anyOf`; an
//!   `anyOf` member `{"type":"null"}` becomes `nullable`;
//! - dropped: everything else (`$schema`, `$id`, `$ref`, `$defs`,
//!   `definitions`, `additionalProperties`, `allOf`, `not`, `exclusive*`,
//!   `multipleOf`, `uniqueItems`, `strict`, …).

use serde_json::{Map, Value};

/// The Gemini form of one JSON Schema.
pub fn clean(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => Value::Object(clean_object(map)),
        // `true` / `{}`: anything; Gemini has no such schema, leave it open.
        _ => Value::Object(Map::new()),
    }
}

/// Whether a cleaned schema is an object with no properties (Gemini
/// rejects such a function `parameters`; the function then has none).
pub fn is_empty_object(schema: &Value) -> bool {
    let Some(map) = schema.as_object() else {
        return true;
    };
    let no_properties = map
        .get("properties")
        .and_then(Value::as_object)
        .is_none_or(|p| p.is_empty());
    no_properties && map.get("anyOf").is_none()
}

fn clean_object(map: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    let mut nullable = map.get("nullable").and_then(Value::as_bool).unwrap_or(false);

    match map.get("type") {
        Some(Value::String(t)) => {
            if t == "null" {
                nullable = true;
            } else {
                out.insert("type".into(), Value::String(t.to_ascii_uppercase()));
            }
        }
        Some(Value::Array(types)) => {
            let mut named = types.iter().filter_map(Value::as_str).filter(|t| {
                let null = *t == "null";
                nullable |= null;
                !null
            });
            let first = named.next().map(str::to_ascii_uppercase);
            let more: Vec<String> = crate::seq::keep(named, |t| Some(t.to_ascii_uppercase()));
            match first {
                Some(t) if more.is_empty() => {
                    out.insert("type".into(), Value::String(t));
                }
                Some(t) => {
                    // Several types: a union of one-type schemas.
                    let any: Vec<Value> = std::iter::once(t)
                        .chain(more)
                        .map(|t| {
                            let mut one = Map::new();
                            one.insert("type".into(), Value::String(t));
                            Value::Object(one)
                        })
                        .collect();
                    out.insert("anyOf".into(), Value::Array(any));
                }
                None => {}
            }
        }
        _ => {}
    }

    for key in ["title", "description", "pattern"] {
        if let Some(Value::String(s)) = map.get(key) {
            out.insert(key.into(), Value::String(s.clone()));
        }
    }
    for key in [
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
    ] {
        if let Some(Value::Number(n)) = map.get(key) {
            out.insert(key.into(), Value::Number(n.clone()));
        }
    }
    for key in ["default", "example"] {
        if let Some(v) = map.get(key) {
            out.insert(key.into(), v.clone());
        }
    }

    if let Some(Value::String(format)) = map.get("format") {
        let kind = out.get("type").and_then(Value::as_str).unwrap_or("");
        let supported = match kind {
            "STRING" => matches!(format.as_str(), "enum" | "date-time"),
            "INTEGER" => matches!(format.as_str(), "int32" | "int64"),
            "NUMBER" => matches!(format.as_str(), "float" | "double"),
            _ => false,
        };
        if supported {
            out.insert("format".into(), Value::String(format.clone()));
        }
    }

    let enum_values = match (map.get("enum"), map.get("const")) {
        (Some(Value::Array(values)), _) => Some(values.clone()),
        (None, Some(c)) => Some(vec![c.clone()]),
        _ => None,
    };
    if let Some(values) = enum_values {
        let strings: Vec<Value> = crate::seq::keep(&values, |v| match v {
            Value::String(s) => Some(Value::String(s.clone())),
            Value::Null => {
                nullable = true;
                None
            }
            other => Some(Value::String(crate::json_out::value_text(other))),
        });
        if !strings.is_empty() {
            out.entry("type").or_insert_with(|| Value::String("STRING".into()));
            out.insert("enum".into(), Value::Array(strings));
        }
    }

    if let Some(Value::Object(properties)) = map.get("properties") {
        let mut cleaned = Map::new();
        for (name, s) in properties {
            cleaned.insert(name.clone(), clean(s));
        }
        if let Some(Value::Array(required)) = map.get("required") {
            let required = known_names(required, &cleaned);
            if !required.is_empty() {
                out.insert("required".into(), Value::Array(required));
            }
        }
        if let Some(Value::Array(order)) = map.get("propertyOrdering") {
            let order = known_names(order, &cleaned);
            if !order.is_empty() {
                out.insert("propertyOrdering".into(), Value::Array(order));
            }
        }
        out.insert("properties".into(), Value::Object(cleaned));
    }

    if let Some(items) = map.get("items") {
        match items {
            // A tuple (`items: [..]`, draft 4-7): the first member's schema.
            Value::Array(tuple) => {
                if let Some(first) = tuple.first() {
                    out.insert("items".into(), clean(first));
                }
            }
            other => {
                out.insert("items".into(), clean(other));
            }
        }
    }

    let union = map.get("anyOf").or_else(|| map.get("oneOf"));
    if let Some(Value::Array(members)) = union {
        let mut any = Vec::new();
        for member in members {
            if member.get("type").and_then(Value::as_str) == Some("null") {
                nullable = true;
            } else {
                any.push(clean(member));
            }
        }
        match any.len() {
            0 => {}
            // `anyOf: [X, null]` is X, nullable.
            1 if !out.contains_key("anyOf") => {
                if let Some(Value::Object(only)) = any.pop() {
                    for (k, v) in only {
                        out.entry(k).or_insert(v);
                    }
                }
            }
            _ => {
                out.insert("anyOf".into(), Value::Array(any));
            }
        }
    }

    if nullable {
        out.insert("nullable".into(), Value::Bool(true));
    }
    out
}

/// The entries of a `required` or `propertyOrdering` list that name one of
/// the cleaned properties.
fn known_names(names: &[Value], properties: &Map<String, Value>) -> Vec<Value> {
    crate::seq::keep(names, |r| r.as_str().filter(|name| properties.contains_key(*name)).map(|_| r.clone()))
}
