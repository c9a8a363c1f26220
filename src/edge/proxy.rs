//! Sending a chat request upstream and relaying the answer.
//!
//! This talks to the runtime's `fetch` and streams through `web_sys`
//! directly: the `worker` crate's body helpers read a response chunk by
//! chunk through Rust futures, which costs more per request than everything
//! else the gateway does (measured with `make bench`).
//!
//! - A JSON answer must arrive whole within `UPSTREAM_TIMEOUT_MS` (an
//!   `AbortSignal.timeout` covers headers and body). It is read once, checked
//!   to be one JSON value (a truncated or garbled answer is a 502, never a
//!   broken 200), and the same buffer becomes the client's body.
//! - A stream must *start* (response headers) within the timeout; then it is
//!   relayed by the runtime's own pipe (see [`super::relay`]).
//! - Error answers are read (bounded) and rewritten as OpenAI-format errors
//!   with secrets redacted.

use super::internal_js;
use super::relay;
use crate::call::Call;
use crate::error::{Fault, GatewayError};
use crate::upstream;
use futures::future::{select, Either};
use js_sys::{ArrayBuffer, Uint8Array};
use std::pin::pin;
use std::time::Duration;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, AbortSignal, Headers, RequestInit, ResponseInit};
use worker::{Delay, Response};

/// Sends `call` (a chat completion) and relays the answer.
pub async fn chat_completions(
    call: &Call<'_>,
    timeout_ms: u32,
    stream: bool,
    request_id: &str,
) -> Result<Response, GatewayError> {
    let headers = Headers::new().map_err(internal_js)?;
    for (name, value) in &call.headers {
        headers.set(name, value).map_err(internal_js)?;
    }
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_body(&Uint8Array::from(call.body.as_ref()));
    let url = &call.url;

    // Set when a timer covers the whole answer (JSON), to tell a timeout from a cut.
    let mut deadline = None;
    let answer = if stream {
        // Only the start of a stream is timed; a timer that also covered the
        // body would cut long generations off.
        let controller = AbortController::new().map_err(internal_js)?;
        init.set_signal(Some(&controller.signal()));
        let sent = pin!(send(url, &init));
        let timer = pin!(Delay::from(Duration::from_millis(timeout_ms.into())));
        match select(sent, timer).await {
            Either::Left((answer, _)) => answer.map_err(|e| unreachable_error(call, &e))?,
            Either::Right(((), _)) => {
                controller.abort();
                return Err(timed_out(timeout_ms, "start streaming"));
            }
        }
    } else {
        let signal = AbortSignal::timeout_with_u32(timeout_ms);
        init.set_signal(Some(&signal));
        match send(url, &init).await {
            Ok(answer) => {
                deadline = Some(signal);
                answer
            }
            Err(_) if signal.aborted() => return Err(timed_out(timeout_ms, "answer")),
            Err(e) => return Err(unreachable_error(call, &e)),
        }
    };

    let status = answer.status();
    if !(200..300).contains(&status) {
        return upstream_error(call, &answer, status).await;
    }
    let content_type = answer.headers().get("content-type").ok().flatten();
    let out = Headers::new().map_err(internal_js)?;
    let is_event_stream = content_type
        .as_deref()
        .is_some_and(|t| t.starts_with("text/event-stream"));
    if is_event_stream {
        out.set("content-type", "text/event-stream")
            .map_err(internal_js)?;
        out.set("cache-control", "no-cache").map_err(internal_js)?;
        let Some(upstream_body) = answer.body() else {
            return Err(GatewayError::new(
                Fault::UpstreamIncomplete,
                "The upstream provider's stream has no body.",
            ));
        };
        let relayed = relay::sse(upstream_body, request_id.to_string()).map_err(internal_js)?;
        let response = web_sys::Response::new_with_opt_readable_stream_and_init(
            Some(&relayed),
            &response_init(status, &out),
        )
        .map_err(internal_js)?;
        return Ok(response.into());
    }

    // A JSON answer (also when a stream was asked for and the upstream
    // answered with JSON instead): read whole, checked, passed on as is.
    let buffer = read_all(&answer).await.map_err(|e| {
        if deadline.as_ref().is_some_and(AbortSignal::aborted) {
            timed_out(timeout_ms, "answer")
        } else {
            GatewayError::new(
                Fault::UpstreamIncomplete,
                format!(
                    "The upstream provider's response was cut off: {}",
                    describe(&e)
                ),
            )
        }
    })?;
    upstream::check_json_body(&Uint8Array::new(&buffer).to_vec())?;
    out.set(
        "content-type",
        content_type.as_deref().unwrap_or("application/json"),
    )
    .map_err(internal_js)?;
    let response = web_sys::Response::new_with_opt_buffer_source_and_init(
        Some(&buffer),
        &response_init(status, &out),
    )
    .map_err(internal_js)?;
    Ok(response.into())
}

/// `fetch(url, init)` on the runtime.
async fn send(url: &str, init: &RequestInit) -> Result<web_sys::Response, JsValue> {
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    JsFuture::from(global.fetch_with_str_and_init(url, init))
        .await?
        .dyn_into()
}

/// The whole body as one buffer, in one promise.
async fn read_all(answer: &web_sys::Response) -> Result<ArrayBuffer, JsValue> {
    JsFuture::from(answer.array_buffer()?).await?.dyn_into()
}

fn response_init(status: u16, headers: &Headers) -> ResponseInit {
    let init = ResponseInit::new();
    init.set_status(status);
    init.set_headers(headers);
    init
}

/// The client's answer to an upstream error status: same status, OpenAI
/// body, `Retry-After` relayed.
async fn upstream_error(
    call: &Call<'_>,
    answer: &web_sys::Response,
    status: u16,
) -> Result<Response, GatewayError> {
    let bytes = match read_all(answer).await {
        Ok(buffer) => {
            let view = Uint8Array::new(&buffer);
            let len = view.length().min(upstream::MAX_ERROR_BODY_BYTES as u32);
            view.subarray(0, len).to_vec()
        }
        Err(_) => Vec::new(),
    };
    let (status, body) = upstream::error_response(status, &bytes, &call.secret_refs());
    let response = super::json(status, body)?;
    // A client that is told to slow down should hear for how long.
    for name in upstream::RELAYED_ERROR_HEADERS {
        if let Ok(Some(value)) = answer.headers().get(name) {
            let _ = response.headers().set(name, &value);
        }
    }
    Ok(response)
}

fn unreachable_error(call: &Call<'_>, error: &JsValue) -> GatewayError {
    GatewayError::new(
        Fault::UpstreamUnreachable,
        upstream::redact(
            &format!(
                "The upstream provider could not be reached: {}",
                describe(error)
            ),
            &call.secret_refs(),
        ),
    )
}

fn timed_out(timeout_ms: u32, what: &str) -> GatewayError {
    GatewayError::new(
        Fault::UpstreamTimeout,
        format!("The upstream provider did not {what} within {timeout_ms} ms."),
    )
}

/// A readable description of a JS error value.
pub(crate) fn describe(error: &JsValue) -> String {
    if let Some(e) = error.dyn_ref::<js_sys::Error>() {
        return format!("{}: {}", String::from(e.name()), String::from(e.message()));
    }
    error.as_string().unwrap_or_else(|| format!("{error:?}"))
}
