//! From a plan step to an upstream call, as plain data: the URL, the headers
//! (provider key and extra headers, never the client's), the body, how the
//! answer must be read, and the secret values that must be redacted from
//! anything the upstream says.
//!
//! A client speaking the provider's own wire format (OpenAI to an
//! OpenAI-compatible provider, Anthropic to Anthropic) is forwarded as it
//! came: the body byte for byte unless the step fixes another model or a
//! per-model rule applies, unknown fields kept. Any other pair goes through
//! the canonical request ([`crate::canonical`]): the client's dialect
//! decodes it (once per request, whatever the number of tries), the
//! provider's adapter encodes it, and [`Call::translate`] tells the edge to
//! translate the answer back.
//!
//! Vars and secrets are read through lookup functions, so this is tested on
//! the host. Every deployment mistake is a 500 `misconfigured` naming the
//! var or secret at fault, never its value.

use crate::canonical::{ChatRequest, EmbeddingsRequest};
use crate::dialect::{self, Dialect};
use crate::error::{Fault, GatewayError};
use crate::plan::{Base, HeaderValue, ModelRef, Provider, RoutingPlan, Step};
use crate::provider::{anthropic, openai, Adapter, HttpRequest, Target};
use std::cell::OnceCell;

/// Reads a Worker var or secret by name; `None` when it is not set.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// What the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Chat,
    Embeddings,
}

/// The client's request, as every try of a run sees it.
#[derive(Debug)]
pub struct Inbound<'a> {
    pub dialect: Dialect,
    pub operation: Operation,
    /// The model the client asked for.
    pub model: &'a str,
    /// The client's body, as it came.
    pub body: &'a [u8],
    pub stream: bool,
    /// The client wants usage on its stream.
    pub include_usage: bool,
    /// The client's body sets `stream_options` (an OpenAI chat request).
    pub stream_options: bool,
    chat: OnceCell<Result<ChatRequest, GatewayError>>,
    embeddings: OnceCell<Result<EmbeddingsRequest, GatewayError>>,
}

impl<'a> Inbound<'a> {
    /// A request whose canonical form is decoded only if a try needs it.
    pub fn new(dialect: Dialect, operation: Operation, model: &'a str, body: &'a [u8], stream: bool) -> Self {
        Inbound {
            dialect,
            operation,
            model,
            body,
            stream,
            include_usage: false,
            stream_options: false,
            chat: OnceCell::new(),
            embeddings: OnceCell::new(),
        }
    }

    /// The canonical chat request (decoded at the first call).
    pub fn chat(&self) -> Result<&ChatRequest, GatewayError> {
        self.chat
            .get_or_init(|| self.dialect.decode_chat(self.body))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The canonical embeddings request (decoded at the first call).
    pub fn embeddings(&self) -> Result<&EmbeddingsRequest, GatewayError> {
        self.embeddings
            .get_or_init(|| dialect::openai::decode_embeddings(self.body))
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// Everything needed to send one request to a provider and read its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The provider's name in the plan, for logs.
    pub provider: String,
    /// The provider's wire format.
    pub adapter: Adapter,
    /// The answer is in another format than the client's: translate it.
    pub translate: bool,
    /// The provider's model id this call asks for.
    pub model: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Secret values sent with this call: redacted from every upstream text.
    pub secrets: Vec<String>,
    /// The gateway asked for stream usage the client did not ask for: the
    /// usage chunk is taken out of the client's stream.
    pub strip_usage: bool,
}

impl Call {
    /// [`Call::secrets`] as the slice [`crate::upstream::redact`] takes.
    pub fn secret_refs(&self) -> Vec<&str> {
        crate::seq::map(&self.secrets, |_, x| String::as_str(x))
    }
}

/// Builds the call for `step` with the provider's key number `key`
/// (`None`: no key). `now_ms` is the clock (request signing).
pub fn prepare(
    plan: &RoutingPlan,
    step: &Step,
    key: Option<usize>,
    inbound: &Inbound<'_>,
    now_ms: u64,
    var: Lookup<'_>,
    secret: Lookup<'_>,
) -> Result<Call, GatewayError> {
    let provider = plan.providers.get(step.provider).ok_or_else(|| {
        GatewayError::new(
            Fault::Internal,
            format!("The routing plan names provider #{}, which it does not define.", step.provider),
        )
    })?;
    let adapter = Adapter::for_kind(provider.kind);
    let base = base_url(provider, var)?;
    let mut secrets = Vec::new();
    let key_value = match key.and_then(|k| provider.keys.get(k)) {
        Some(name) => {
            let value = read_secret(provider, name, "key", secret)?;
            secrets.extend(key_parts(&value));
            Some(value)
        }
        None => None,
    };
    let (model, rewrite) = match &step.model {
        ModelRef::Fixed(fixed) => (fixed.as_str(), fixed != inbound.model),
        ModelRef::Request => (inbound.model, false),
    };
    let target = Target {
        kind: provider.kind,
        base: &base,
        model,
        key: key_value.as_deref(),
        api_version: provider.api_version.as_deref(),
        region: provider.region.as_deref(),
        now_ms,
    };
    let native = adapter == inbound.dialect.native();
    let mut strip_usage = false;
    let request: HttpRequest = match (inbound.operation, native) {
        (Operation::Chat, true) => match adapter {
            Adapter::Anthropic => anthropic::forward_messages(inbound.body, &target, rewrite)?,
            _ => {
                let mut request = openai::forward_chat(inbound.body, &target, rewrite)?;
                // The stream's usage is read for its cost; the client gets
                // the stream it asked for (see `usage::meter`).
                if inbound.stream && !inbound.include_usage && !inbound.stream_options {
                    if let Some(body) = openai::ask_for_usage(&request.body, &target) {
                        request.body = body;
                        strip_usage = true;
                    }
                }
                request
            }
        },
        (Operation::Chat, false) => {
            let mut request = inbound.chat()?.clone();
            request.model = model.to_string();
            // `extra` holds fields of an OpenAI body; another dialect's own
            // fields mean nothing to the providers it is translated for.
            if inbound.dialect != Dialect::OpenAi {
                request.extra.clear();
            }
            adapter.chat_request(&request, &target)?
        }
        (Operation::Embeddings, true) => openai::forward_embeddings(inbound.body, &target, rewrite)?,
        (Operation::Embeddings, false) => {
            let mut request = inbound.embeddings()?.clone();
            request.model = model.to_string();
            adapter.embeddings_request(&request, &target)?
        }
    };
    let mut headers = request.headers;
    for extra in &provider.headers {
        let value = match &extra.value {
            HeaderValue::Text(text) => text.clone(),
            HeaderValue::Secret(name) => {
                let value = read_secret(provider, name, "header", secret)?;
                secrets.push(value.clone());
                value
            }
        };
        let name = extra.name.to_ascii_lowercase();
        headers.retain(|(n, _)| *n != name);
        headers.push((name, value));
    }
    Ok(Call {
        provider: provider.name.clone(),
        adapter,
        translate: !native,
        model: model.to_string(),
        url: request.url,
        headers,
        body: request.body,
        secrets,
        strip_usage,
    })
}

/// The values to redact for a key: the whole value and, for a composite
/// key (`ID:SECRET[:TOKEN]`, Bedrock), each part long enough to matter.
fn key_parts(value: &str) -> Vec<String> {
    let mut parts = vec![value.to_string()];
    if value.contains(':') {
        parts.append(&mut crate::seq::keep(value.split(':'), |p| (p.len() >= 8).then(|| p.to_string())));
    }
    parts
}

fn misconfigured(problem: String) -> GatewayError {
    GatewayError::new(Fault::Misconfigured, format!("The gateway is misconfigured: {problem}."))
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
    Err(misconfigured(format!("{source} must start with http:// or https:// (got `{url}`)")))
}

fn read_secret(provider: &Provider, name: &str, what: &str, secret: Lookup<'_>) -> Result<String, GatewayError> {
    secret(name).filter(|value| !value.trim().is_empty()).ok_or_else(|| {
        misconfigured(format!(
            "the secret {name} ({what} of provider `{}`) is not set (set it with `wrangler secret put {name}`)",
            provider.name
        ))
    })
}

#[cfg(test)]
mod tests;
