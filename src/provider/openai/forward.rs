//! The fast path: an OpenAI client's body sent to an OpenAI-speaking
//! provider without going through the canonical types.
//!
//! The body leaves byte for byte as it came unless something must change:
//! the model (when the route fixes another one), and what the preset and
//! the model's rules require (e.g. `max_tokens` renamed for a reasoning
//! model). Those edits touch only their own members; unknown fields,
//! spacing and order survive.

use super::endpoint;
use super::preset::preset_for;
use super::raw::RawObject;
use crate::error::{Fault, GatewayError};
use crate::provider::rules;
use crate::provider::{HttpRequest, Target};

/// The upstream request for a client's chat completions `body`; with
/// `rewrite_model` its `model` becomes `t.model`.
pub fn forward_chat(
    body: &[u8],
    t: &Target,
    rewrite_model: bool,
) -> Result<HttpRequest, GatewayError> {
    let (preset, per_model) = (preset_for(t.kind).actions, rules::actions_for(t.model));
    // Nothing can change (the common case): the body is not even scanned
    // (the gateway already checked it is a chat request).
    let body = if preset.is_empty() && per_model.is_empty() && !(rewrite_model && endpoint::model_in_body(t)) {
        body.to_vec()
    } else {
        let mut object = parse(body, "chat completion request")?;
        model(&mut object, t, rewrite_model);
        rules::apply(preset, &mut object);
        rules::apply(per_model, &mut object);
        object.into_bytes().into_owned()
    };
    Ok(HttpRequest { url: endpoint::chat_url(t)?, headers: endpoint::headers(t), body })
}

/// A streamed chat `body` (a JSON object) that has no `stream_options`
/// (the caller knows from its check of the body), asking for usage:
/// `"stream_options":{"include_usage":true}` as its first member, the rest
/// byte for byte (no parse). `None` when it is left as it is: the kind
/// does not take the option, or `body` is not an object.
pub fn ask_for_usage(body: &[u8], t: &Target) -> Option<Vec<u8>> {
    const MEMBER: &[u8] = br#""stream_options":{"include_usage":true}"#;
    if !preset_for(t.kind).stream_usage {
        return None;
    }
    let open = body.iter().position(|b| !b.is_ascii_whitespace())?;
    if body[open] != b'{' {
        return None;
    }
    let rest = &body[open + 1..];
    let empty = rest.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'}');
    let mut out = Vec::with_capacity(body.len() + MEMBER.len() + 1);
    out.extend_from_slice(&body[..=open]);
    out.extend_from_slice(MEMBER);
    if !empty {
        out.push(b',');
    }
    out.extend_from_slice(rest);
    Some(out)
}

/// The same for an embeddings `body` (no per-model rules apply).
pub fn forward_embeddings(
    body: &[u8],
    t: &Target,
    rewrite_model: bool,
) -> Result<HttpRequest, GatewayError> {
    let mut object = parse(body, "embeddings request")?;
    model(&mut object, t, rewrite_model);
    Ok(HttpRequest {
        url: endpoint::embeddings_url(t)?,
        headers: endpoint::headers(t),
        body: object.into_bytes().into_owned(),
    })
}

fn parse<'a>(body: &'a [u8], what: &str) -> Result<RawObject<'a>, GatewayError> {
    RawObject::parse(body).map_err(|problem| {
        GatewayError::new(
            Fault::BadRequest,
            format!("Request body is not a {what}: {problem}."),
        )
    })
}

/// The model rewritten when asked (not for Azure, whose URL carries the deployment).
fn model(object: &mut RawObject, t: &Target, rewrite_model: bool) {
    if !rewrite_model || !endpoint::model_in_body(t) {
        return;
    }
    let mut wanted = String::new();
    crate::json_out::quote(&mut wanted, t.model);
    if object.value("model").as_deref() != Some(wanted.as_str()) {
        object.set("model", wanted);
    }
}
