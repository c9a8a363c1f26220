//! `POST /embeddings` outbound: a canonical [`EmbeddingsRequest`] as an
//! OpenAI body, and the answer read back.

use serde_json::{Map, Value};

use super::{base64, endpoint};
use crate::canonical::{DecodeError, EmbeddingsRequest, EmbeddingsResponse, Usage};
use crate::error::GatewayError;
use crate::provider::{HttpRequest, Target};

pub fn embeddings_request(
    req: &EmbeddingsRequest,
    t: &Target,
) -> Result<HttpRequest, GatewayError> {
    let mut body = Map::new();
    if endpoint::model_in_body(t) {
        body.insert("model".into(), Value::from(t.model));
    }
    body.insert("input".into(), Value::from(req.inputs.clone()));
    // Floats always: the gateway decodes them, the client's dialect encodes
    // base64 again if the client asked for it.
    body.insert("encoding_format".into(), Value::from("float"));
    if let Some(dimensions) = req.dimensions {
        body.insert("dimensions".into(), Value::from(dimensions));
    }
    if let Some(user) = &req.user {
        body.insert("user".into(), Value::from(user.as_str()));
    }
    for (key, value) in &req.extra {
        if !body.contains_key(key) {
            body.insert(key.clone(), value.clone());
        }
    }
    Ok(HttpRequest {
        url: endpoint::embeddings_url(t)?,
        headers: endpoint::headers(t),
        body: serde_json::to_vec(&Value::Object(body)).unwrap_or_default(),
    })
}

pub fn embeddings_response(body: &[u8]) -> Result<EmbeddingsResponse, DecodeError> {
    let bad = |what: String| DecodeError::Malformed(format!("the embeddings answer {what}"));
    let value: Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("is not JSON: {e}")))?;
    let Some(Value::Array(data)) = value.get("data") else {
        return Err(bad("has no `data` array".into()));
    };
    let mut rows = Vec::with_capacity(data.len());
    for (position, item) in data.iter().enumerate() {
        let index = item
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(position as u64);
        let vector = match item.get("embedding") {
            Some(Value::Array(numbers)) => crate::seq::try_map(numbers, |_, n| n.as_f64().map(|f| f as f32).ok_or(()))
                .map_err(|()| bad(format!("has a non-number in `data[{position}].embedding`")))?,
            Some(Value::String(text)) => base64::decode_f32s(text)
                .ok_or_else(|| bad(format!("has bad base64 in `data[{position}].embedding`")))?,
            _ => return Err(bad(format!("has no `data[{position}].embedding`"))),
        };
        rows.push((index, vector));
    }
    // By index, stably: an insertion sort, linear for the usual answer (in
    // order already) and without a sort routine's code in the Worker.
    for i in 1..rows.len() {
        let mut j = i;
        while j > 0 && rows[j - 1].0 > rows[j].0 {
            rows.swap(j - 1, j);
            j -= 1;
        }
    }
    let usage = value.get("usage").and_then(|u| {
        let prompt = u.get("prompt_tokens").and_then(Value::as_u64)?;
        let total = u
            .get("total_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(prompt);
        Some(Usage {
            input_tokens: prompt,
            output_tokens: total.saturating_sub(prompt),
            cached_input_tokens: None,
        })
    });
    Ok(EmbeddingsResponse {
        model: value
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        vectors: crate::seq::keep(rows, |(_, v)| Some(v)),
        usage,
    })
}
