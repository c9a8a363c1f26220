//! `POST /v1/embeddings`: the request read into the canonical
//! [`EmbeddingsRequest`], the answer written as OpenAI writes it.

use serde_json::Value;

use super::decode::{bad, kind, object, Field};
use crate::canonical::{EmbeddingsRequest, EmbeddingsResponse};
use crate::error::GatewayError;
use crate::provider::openai::base64;

pub fn decode_embeddings(body: &[u8]) -> Result<EmbeddingsRequest, GatewayError> {
    let object = object(body, "embeddings request")?;
    let mut req = EmbeddingsRequest::default();
    let mut model = None;
    let mut input = None;
    for (key, value) in object {
        match key.as_str() {
            "model" => {
                model = Field {
                    name: "model",
                    value: &value,
                }
                .string()?
            }
            "input" => input = Some(decode_input(&value)?),
            "dimensions" => {
                req.dimensions = Field {
                    name: "dimensions",
                    value: &value,
                }
                .u64()?
            }
            "user" => {
                req.user = Field {
                    name: "user",
                    value: &value,
                }
                .string()?
            }
            "encoding_format" => {
                req.encoding_format = match (Field {
                    name: "encoding_format",
                    value: &value,
                })
                .string()?
                {
                    Some(f) if f == "float" || f == "base64" => Some(f),
                    Some(f) => {
                        return Err(bad(
                            "encoding_format",
                            format!("`encoding_format` must be `float` or `base64`, got `{f}`."),
                        ))
                    }
                    None => None,
                }
            }
            _ => {
                req.extra.insert(key, value);
            }
        }
    }
    req.model = match model {
        Some(m) if !m.trim().is_empty() => m,
        Some(_) => return Err(bad("model", "`model` must not be empty.")),
        None => return Err(bad("model", "`model` is required.")),
    };
    req.inputs = input.ok_or_else(|| bad("input", "`input` is required."))?;
    Ok(req)
}

fn decode_input(value: &Value) -> Result<Vec<String>, GatewayError> {
    let tokens = || {
        bad("input", "`input` as token arrays is not supported by the gateway; send the text (a string or an array of strings).")
    };
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if items.is_empty() => {
            Err(bad("input", "`input` must not be an empty array."))
        }
        Value::Array(items) => crate::seq::try_map(items, |i, item| match item {
            Value::String(s) => Ok(s.clone()),
            Value::Number(_) | Value::Array(_) => Err(tokens()),
            other => Err(bad(
                "input",
                format!("`input[{i}]` must be a string, got {}.", kind(other)),
            )),
        }),
        other => Err(bad(
            "input",
            format!(
                "`input` must be a string or an array of strings, got {}.",
                kind(other)
            ),
        )),
    }
}

/// The answer with float vectors.
pub fn encode_embeddings(response: &EmbeddingsResponse) -> String {
    encode_embeddings_as(response, None)
}

/// The answer in the client's `encoding_format` (`base64`: little-endian
/// `f32`s, base64; anything else: floats).
pub fn encode_embeddings_as(
    response: &EmbeddingsResponse,
    encoding_format: Option<&str>,
) -> String {
    use crate::json_out::{key, quote, uint};
    let (prompt_tokens, total_tokens) = response.usage.map_or((0, 0), |u| (u.input_tokens, u.total()));
    let base64 = encoding_format == Some("base64");
    let mut out = String::with_capacity(256);
    out.push_str("{\"object\":\"list\",\"data\":");
    out.push('[');
    for (index, vector) in response.vectors.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str("{\"object\":\"embedding\"");
        key(&mut out, "index", false);
        uint(&mut out, index as u64);
        key(&mut out, "embedding", false);
        if base64 {
            quote(&mut out, &base64::encode_f32s(vector));
        } else {
            // serde_json's own float text (one small copy of its writer).
            out.push_str(&serde_json::to_string(vector).unwrap_or_default());
        }
        out.push('}');
    }
    out.push(']');
    key(&mut out, "model", false);
    quote(&mut out, &response.model);
    out.push_str(",\"usage\":{");
    key(&mut out, "prompt_tokens", true);
    uint(&mut out, prompt_tokens);
    key(&mut out, "total_tokens", false);
    uint(&mut out, total_tokens);
    out.push_str("}}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::Usage;
    use serde::Serialize;

    #[derive(Serialize)]
    struct List<'a, E: Serialize> {
        object: &'static str,
        data: Vec<Item<E>>,
        model: &'a str,
        usage: UsageOut,
    }

    #[derive(Serialize)]
    struct Item<E: Serialize> {
        object: &'static str,
        index: usize,
        embedding: E,
    }

    #[derive(Serialize)]
    struct UsageOut {
        prompt_tokens: u64,
        total_tokens: u64,
    }

    /// The answer as the derive wrote it before.
    fn derived(r: &EmbeddingsResponse, base64: bool) -> String {
        let usage = r.usage.map_or(UsageOut { prompt_tokens: 0, total_tokens: 0 }, |u| UsageOut {
            prompt_tokens: u.input_tokens,
            total_tokens: u.total(),
        });
        if base64 {
            let data = r.vectors.iter().enumerate().map(|(index, v)| Item { object: "embedding", index, embedding: base64::encode_f32s(v) }).collect();
            serde_json::to_string(&List { object: "list", data, model: &r.model, usage }).unwrap()
        } else {
            let data = r.vectors.iter().enumerate().map(|(index, v)| Item { object: "embedding", index, embedding: v }).collect();
            serde_json::to_string(&List { object: "list", data, model: &r.model, usage }).unwrap()
        }
    }

    #[test]
    fn answers_are_the_derives_text() {
        let usages = [None, Some(Usage { input_tokens: 5, output_tokens: 0, cached_input_tokens: None })];
        let vectors = [vec![], vec![vec![]], vec![vec![0.5f32, -1.25e-8, 3.0e20, 0.1], vec![f32::NAN, 1.0]]];
        for usage in usages {
            for vectors in vectors.clone() {
                let r = EmbeddingsResponse { model: "text-\"embed\"".into(), vectors, usage };
                for format in [None, Some("float"), Some("base64")] {
                    assert_eq!(encode_embeddings_as(&r, format), derived(&r, format == Some("base64")));
                }
            }
        }
    }
}
