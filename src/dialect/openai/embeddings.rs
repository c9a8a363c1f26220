//! `POST /v1/embeddings`: the request read into the canonical
//! [`EmbeddingsRequest`], the answer written as OpenAI writes it.

use serde::Serialize;
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
    let usage = response.usage.map_or(
        UsageOut {
            prompt_tokens: 0,
            total_tokens: 0,
        },
        |u| UsageOut {
            prompt_tokens: u.input_tokens,
            total_tokens: u.total(),
        },
    );
    fn list<E: Serialize>(model: &str, data: Vec<Item<E>>, usage: UsageOut) -> String {
        serde_json::to_string(&List {
            object: "list",
            data,
            model,
            usage,
        })
        .unwrap_or_default()
    }
    let item = |index, embedding| Item {
        object: "embedding",
        index,
        embedding,
    };
    if encoding_format == Some("base64") {
        let data = crate::seq::map(&response.vectors, |i, v| item(i, base64::encode_f32s(v)));
        list(&response.model, data, usage)
    } else {
        let data = crate::seq::map(&response.vectors, |i, v| Item {
            object: "embedding",
            index: i,
            embedding: v,
        });
        list(&response.model, data, usage)
    }
}
