//! The Worker entry point: the only place (with `edge::*` below it) that
//! touches the Workers runtime.
//!
//! A request flows: settings (read once per isolate) → [`gate::admit`]
//! (endpoint, header bound, gateway key, declared length) → bounded body
//! read → [`chat::inspect`] → the routing plan ([`plan::current`]) picks a
//! route and its chain of steps → [`call::prepare`] → upstream `fetch` with
//! a timeout → the answer relayed (SSE chunk by chunk, never buffered; JSON
//! checked whole), or its error turned into an OpenAI-format error. Every
//! response carries `x-request-id`; every failure is a [`GatewayError`],
//! never a runtime 500.

mod body;
mod plan;
mod proxy;
mod relay;

use crate::config::Settings;
use crate::endpoint::Endpoint;
use crate::error::{Fault, GatewayError};
use crate::gate::{self, Head};
use crate::plan::select::{parse_metadata, METADATA_HEADER};
use crate::plan::{pick_chain, Facts, KeyFacts, Step};
use crate::{call, chat, upstream};
use std::cell::OnceCell;
use std::rc::Rc;
use worker::{event, Context, Env, Headers, Request, Response};

/// Settings as read from the first request's environment in this isolate.
type Loaded = Result<Rc<Settings>, Rc<Vec<String>>>;

thread_local! {
    // Immutable once set: vars and secrets are fixed for a deployment's lifetime.
    static SETTINGS: OnceCell<Loaded> = const { OnceCell::new() };
}

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let request_id = request_id();
    let response = match handle(req, &env, &request_id).await {
        Ok(response) => response,
        Err(error) => {
            if error.status() >= 500 {
                worker::console_error!(
                    "{{\"request_id\":\"{request_id}\",\"kind\":\"{}\",\"status\":{},\"message\":{:?}}}",
                    error.kind(),
                    error.status(),
                    error.message
                );
            }
            error_response(&error)
        }
    };
    // A streamed body cannot be re-created, so headers are added in place.
    let mut response = response;
    let _ = response.headers_mut().set("x-request-id", &request_id);
    Ok(response)
}

async fn handle(mut req: Request, env: &Env, request_id: &str) -> Result<Response, GatewayError> {
    let settings = settings(env)?;
    let headers = req.headers();
    let (authorization, x_api_key, content_length) = (
        header(headers, "authorization"),
        header(headers, "x-api-key"),
        header(headers, "content-length"),
    );
    let method = req.inner().method();
    let path = req.path();
    let head = Head {
        method: &method,
        path: &path,
        header_bytes: header_bytes(headers),
        authorization: authorization.as_deref(),
        x_api_key: x_api_key.as_deref(),
        content_length: content_length.as_deref(),
    };
    let admitted = gate::admit(&head, &settings)?;
    match admitted.endpoint {
        Endpoint::Health => json(200, r#"{"status":"ok"}"#.to_string()),
        Endpoint::Models => {
            let router = plan::current(env, settings.plan_refresh_ms).await?;
            json(200, upstream::models_body(&router.plan().models))
        }
        Endpoint::ChatCompletions => {
            let body =
                body::read(&mut req, content_length.is_some(), settings.max_body_bytes).await?;
            let summary = chat::inspect(&body)?;
            let router = plan::current(env, settings.plan_refresh_ms).await?;
            let headers = req.headers();
            let metadata = if router.uses_metadata() {
                parse_metadata(header(headers, METADATA_HEADER).as_deref())
            } else {
                None
            };
            let params = if router.uses_params() {
                serde_json::from_slice(&body).ok()
            } else {
                None
            };
            let lookup = |name: &str| header(headers, name);
            let facts = Facts {
                model: &summary.model,
                endpoint: "chat",
                key: KeyFacts {
                    name: admitted.key.map_or("", |key| key.name.as_str()),
                    tags: &[],
                },
                header: &lookup,
                metadata: metadata.as_ref(),
                params: params.as_ref(),
            };
            let route = router.select(&facts).ok_or_else(|| {
                GatewayError::new(
                    Fault::ModelNotFound,
                    format!(
                        "The model `{}` does not exist on this gateway.",
                        summary.model
                    ),
                )
                .with_param("model")
            })?;
            let chain = pick_chain(&route.targets, &mut js_sys::Math::random);
            run_chain(env, &router, &chain, &summary, &body, &settings, request_id).await
        }
    }
}

/// Serves a chat request from a route's chain of steps.
///
/// Only the first step is called for now: retries, key rotation and
/// fallback along the rest of `chain` come with the execution engine.
async fn run_chain(
    env: &Env,
    router: &crate::plan::Router,
    chain: &[&Step],
    summary: &chat::ChatSummary,
    body: &[u8],
    settings: &Settings,
    request_id: &str,
) -> Result<Response, GatewayError> {
    let Some(step) = chain.first() else {
        return Err(GatewayError::new(
            Fault::Internal,
            "The selected route has no target to send the request to.",
        ));
    };
    let var = |name: &str| env.var(name).ok().map(|v| v.to_string());
    let secret = |name: &str| env.secret(name).ok().map(|v| v.to_string());
    let call = call::prepare(router.plan(), step, &summary.model, body, &var, &secret)?;
    proxy::chat_completions(
        &call,
        settings.upstream_timeout_ms,
        summary.stream,
        request_id,
    )
    .await
}

fn settings(env: &Env) -> Result<Rc<Settings>, GatewayError> {
    let loaded = SETTINGS.with(|cell| {
        cell.get_or_init(|| {
            Settings::from_lookup(|name| env.var(name).ok().map(|v| v.to_string()))
                .map(Rc::new)
                .map_err(Rc::new)
        })
        .clone()
    });
    loaded.map_err(|problems| {
        GatewayError::new(
            Fault::Misconfigured,
            format!("The gateway is misconfigured: {}.", problems.join("; ")),
        )
    })
}

fn header(headers: &Headers, name: &str) -> Option<String> {
    headers.get(name).ok().flatten()
}

fn header_bytes(headers: &Headers) -> usize {
    headers
        .entries()
        .map(|(name, value)| name.len() + value.len())
        .sum()
}

/// A JSON response with the given status.
pub(crate) fn json(status: u16, body: String) -> Result<Response, GatewayError> {
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/json");
    Ok(Response::from_bytes(body.into_bytes())
        .map_err(internal)?
        .with_status(status)
        .with_headers(headers))
}

fn error_response(error: &GatewayError) -> Response {
    let response = json(error.status(), error.openai_body()).unwrap_or_else(|_| {
        Response::error("internal error", 500).expect("a plain response can always be built")
    });
    for (name, value) in error.response_headers() {
        let _ = response.headers().set(name, &value);
    }
    response
}

/// A runtime failure that is nobody's fault but ours.
pub(crate) fn internal(error: worker::Error) -> GatewayError {
    GatewayError::new(Fault::Internal, format!("Internal error: {error}"))
}

/// The same, from a JS exception.
pub(crate) fn internal_js(error: wasm_bindgen::JsValue) -> GatewayError {
    GatewayError::new(
        Fault::Internal,
        format!("Internal error: {}", proxy::describe(&error)),
    )
}

/// 128 random bits as hex, from the runtime's CSPRNG.
fn request_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::getrandom(&mut bytes).is_err() {
        return "req_unavailable".into();
    }
    let mut id = String::with_capacity(36);
    id.push_str("req_");
    for b in bytes {
        id.push_str(&format!("{b:02x}"));
    }
    id
}
