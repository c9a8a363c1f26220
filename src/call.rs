//! From a plan step to an upstream call, as plain data: the URL, the headers
//! (provider key and extra headers, never the client's), the body (the
//! client's, with `model` rewritten when the step fixes another model) and
//! the secret values that must be redacted from anything the upstream says.
//!
//! Vars and secrets are read through lookup functions, so this is tested on
//! the host. Every deployment mistake is a 500 `misconfigured` naming the
//! var or secret at fault, never its value.

use crate::error::{Fault, GatewayError};
use crate::plan::{Base, HeaderValue, ModelRef, Provider, ProviderKind, RoutingPlan, Step};
use crate::upstream;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// Reads a Worker var or secret by name; `None` when it is not set.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Everything needed to send one request to a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call<'b> {
    /// The provider's name in the plan, for logs.
    pub provider: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Cow<'b, [u8]>,
    /// Secret values sent with this call: redacted from every upstream text.
    pub secrets: Vec<String>,
}

impl Call<'_> {
    /// [`Call::secrets`] as the slice [`upstream::redact`] takes.
    pub fn secret_refs(&self) -> Vec<&str> {
        self.secrets.iter().map(String::as_str).collect()
    }
}

/// Builds the chat completions call for `step` with the provider's first
/// key. `model` is the model the client asked for, `body` the client's JSON body.
pub fn prepare<'b>(
    plan: &RoutingPlan,
    step: &Step,
    model: &str,
    body: &'b [u8],
    var: Lookup<'_>,
    secret: Lookup<'_>,
) -> Result<Call<'b>, GatewayError> {
    prepare_with_key(plan, step, Some(0), model, body, var, secret)
}

/// [`prepare`] with the provider's key number `key` (`None`: no key).
pub fn prepare_with_key<'b>(
    plan: &RoutingPlan,
    step: &Step,
    key: Option<usize>,
    model: &str,
    body: &'b [u8],
    var: Lookup<'_>,
    secret: Lookup<'_>,
) -> Result<Call<'b>, GatewayError> {
    let provider = plan.providers.get(step.provider).ok_or_else(|| {
        GatewayError::new(
            Fault::Internal,
            format!(
                "The routing plan names provider #{}, which it does not define.",
                step.provider
            ),
        )
    })?;
    if !provider.kind.speaks_openai() || provider.kind == ProviderKind::Azure {
        return Err(misconfigured(format!(
            "provider kind `{}` is not supported yet (provider `{}`)",
            provider.kind.name(),
            provider.name
        )));
    }
    let base = base_url(provider, var)?;
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    let mut secrets = Vec::new();
    if let Some(name) = key.and_then(|k| provider.keys.get(k)) {
        let key = read_secret(provider, name, "key", secret)?;
        headers.push(("authorization".into(), format!("Bearer {key}")));
        secrets.push(key);
    }
    for extra in &provider.headers {
        let value = match &extra.value {
            HeaderValue::Text(text) => text.clone(),
            HeaderValue::Secret(name) => {
                let value = read_secret(provider, name, "header", secret)?;
                secrets.push(value.clone());
                value
            }
        };
        headers.push((extra.name.to_ascii_lowercase(), value));
    }
    let body = match &step.model {
        ModelRef::Fixed(fixed) if fixed != model => Cow::Owned(with_model(body, fixed)?),
        _ => Cow::Borrowed(body),
    };
    Ok(Call {
        provider: provider.name.clone(),
        url: upstream::chat_completions_url(&base),
        headers,
        body,
        secrets,
    })
}

fn misconfigured(problem: String) -> GatewayError {
    GatewayError::new(
        Fault::Misconfigured,
        format!("The gateway is misconfigured: {problem}."),
    )
}

/// The provider's base URL without a trailing slash.
fn base_url(provider: &Provider, var: Lookup<'_>) -> Result<String, GatewayError> {
    let (url, origin) = match &provider.base {
        Base::Url(url) => (url.clone(), None),
        Base::Env(name) => match var(name).map(|v| v.trim().to_string()) {
            Some(url) if !url.is_empty() => (url, Some(name)),
            _ => {
                return Err(misconfigured(format!(
                    "{name} (the base URL of provider `{}`) is not set",
                    provider.name
                )))
            }
        },
    };
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(url.trim_end_matches('/').to_string());
    }
    let source = origin.map_or_else(
        || format!("the base URL of provider `{}`", provider.name),
        |name| format!("{name} (the base URL of provider `{}`)", provider.name),
    );
    Err(misconfigured(format!(
        "{source} must start with http:// or https:// (got `{url}`)"
    )))
}

fn read_secret(
    provider: &Provider,
    name: &str,
    what: &str,
    secret: Lookup<'_>,
) -> Result<String, GatewayError> {
    secret(name)
        .filter(|value| !value.trim().is_empty())
        .ok_or_else(|| {
            misconfigured(format!(
                "the secret {name} ({what} of provider `{}`) is not set (set it with `wrangler secret put {name}`)",
                provider.name
            ))
        })
}

/// `body` with its `model` field set to `model`.
fn with_model(body: &[u8], model: &str) -> Result<Vec<u8>, GatewayError> {
    let mut object: Map<String, Value> = serde_json::from_slice(body).map_err(|e| {
        GatewayError::new(
            Fault::BadRequest,
            format!("Request body is not a JSON object: {e}."),
        )
    })?;
    object.insert("model".into(), Value::String(model.into()));
    Ok(serde_json::to_vec(&object).expect("a JSON object serializes"))
}

#[cfg(test)]
mod tests;
