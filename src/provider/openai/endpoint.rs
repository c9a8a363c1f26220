//! URLs and headers of an OpenAI-speaking call, from the kind's preset.

use super::preset::{preset_for, Auth, UrlShape, AZURE_API_VERSION};
use crate::error::{Fault, GatewayError};
use crate::provider::Target;

/// The chat completions URL of `t`.
pub fn chat_url(t: &Target) -> Result<String, GatewayError> {
    url(t, "chat/completions")
}

/// The embeddings URL of `t`.
pub fn embeddings_url(t: &Target) -> Result<String, GatewayError> {
    url(t, "embeddings")
}

/// Whether the body carries the model (Azure's deployment URLs carry it instead).
pub fn model_in_body(t: &Target) -> bool {
    !deployment_url(t)
}

fn deployment_url(t: &Target) -> bool {
    preset_for(t.kind).url == UrlShape::AzureDeployment
        && !t.base.trim_end_matches('/').ends_with("/v1")
}

fn url(t: &Target, endpoint: &str) -> Result<String, GatewayError> {
    let base = t.base.trim_end_matches('/');
    if !deployment_url(t) {
        return Ok(format!("{base}/{endpoint}"));
    }
    if t.model.is_empty() {
        return Err(GatewayError::new(
            Fault::Misconfigured,
            "The gateway is misconfigured: an Azure OpenAI target needs a model (the deployment name).",
        ));
    }
    let resource = base.strip_suffix("/openai").unwrap_or(base);
    let version = t
        .api_version
        .filter(|v| !v.trim().is_empty())
        .unwrap_or(AZURE_API_VERSION);
    Ok(format!(
        "{resource}/openai/deployments/{}/{endpoint}?api-version={}",
        escape(t.model),
        escape(version.trim())
    ))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `content-type` and the provider key in the kind's header (none without a key).
pub fn headers(t: &Target) -> Vec<(String, String)> {
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    if let Some(key) = t.key.filter(|k| !k.is_empty()) {
        headers.push(match preset_for(t.kind).auth {
            Auth::Bearer => ("authorization".to_string(), format!("Bearer {key}")),
            Auth::Header(name) => (name.to_string(), key.to_string()),
        });
    }
    headers
}
