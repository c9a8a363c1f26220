//! Sending a chat request upstream and relaying the answer.
//!
//! The upstream is called with `fetch`, raced against a timer: if no
//! response headers arrive within the timeout the fetch is aborted and the
//! client gets a 504. A 2xx body is handed back as the same `ReadableStream`
//! A streamed (SSE) answer is relayed chunk by chunk as it arrives, watched
//! for its `[DONE]` end marker: a stream that breaks off gets a terminal error
//! event, never a clean end. A JSON answer is read whole and checked, so a
//! truncated one is a 502, not a broken 200. Error bodies are read (bounded)
//! and rewritten as OpenAI-format errors with secrets redacted.

use super::{internal, json};
use crate::config::Settings;
use crate::error::{Fault, GatewayError};
use crate::sse::{self, Completion};
use crate::upstream;
use futures::future::{select, Either};
use futures::{Stream, StreamExt};
use std::pin::pin;
use std::time::Duration;
use wasm_bindgen::JsValue;
use worker::{
    AbortController, ByteStream, Delay, Fetch, Headers, Method, Request, RequestInit, Response,
};

/// Forwards `body` to the upstream's chat completions endpoint.
pub async fn chat_completions(
    settings: &Settings,
    body: Vec<u8>,
    request_id: &str,
) -> Result<Response, GatewayError> {
    let headers = Headers::new();
    for (name, value) in upstream::chat_headers(settings) {
        headers.set(name, &value).map_err(internal)?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(JsValue::from(js_sys::Uint8Array::from(
            body.as_slice(),
        ))));
    drop(body);
    let url = upstream::chat_completions_url(&settings.upstream_base_url);
    let request = Request::new_with_init(&url, &init).map_err(internal)?;

    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(request);
    let sent = pin!(fetch.send_with_signal(&signal));
    let timer = pin!(Delay::from(Duration::from_millis(
        settings.upstream_timeout_ms.into()
    )));
    let mut answer = match select(sent, timer).await {
        Either::Left((Ok(answer), _)) => answer,
        Either::Left((Err(error), _)) => {
            let secrets = secrets(settings);
            return Err(GatewayError::new(
                Fault::UpstreamUnreachable,
                upstream::redact(
                    &format!("The upstream provider could not be reached: {error}"),
                    &secrets,
                ),
            ));
        }
        Either::Right(((), _)) => {
            controller.abort();
            return Err(GatewayError::new(
                Fault::UpstreamTimeout,
                format!(
                    "The upstream provider sent no response within {} ms.",
                    settings.upstream_timeout_ms
                ),
            ));
        }
    };

    let status = answer.status_code();
    if !(200..300).contains(&status) {
        let bytes = read_prefix(&mut answer, upstream::MAX_ERROR_BODY_BYTES).await;
        let (status, body) = upstream::error_response(status, &bytes, &secrets(settings));
        let response = json(status, body)?;
        // A client that is told to slow down should hear for how long.
        for name in upstream::RELAYED_ERROR_HEADERS {
            if let Ok(Some(value)) = answer.headers().get(name) {
                let _ = response.headers().set(name, &value);
            }
        }
        return Ok(response);
    }

    let content_type = answer.headers().get("content-type").ok().flatten();
    let event_stream = content_type
        .as_deref()
        .is_some_and(|t| t.starts_with("text/event-stream"));
    let out = Headers::new();
    if event_stream {
        out.set("content-type", "text/event-stream")
            .map_err(internal)?;
        out.set("cache-control", "no-cache").map_err(internal)?;
        let upstream_body = answer.stream().map_err(internal)?;
        let body = relay(upstream_body, request_id.to_string());
        return Ok(Response::from_stream(body)
            .map_err(internal)?
            .with_status(status)
            .with_headers(out));
    }
    // A JSON answer is small next to the work that produced it: read it whole
    // so a truncated or garbled one becomes a clear 502, never a broken 200.
    let bytes = answer.bytes().await.map_err(|e| {
        GatewayError::new(
            Fault::UpstreamIncomplete,
            format!("The upstream provider's response was cut off: {e}"),
        )
    })?;
    upstream::check_json_body(&bytes)?;
    out.set(
        "content-type",
        content_type.as_deref().unwrap_or("application/json"),
    )
    .map_err(internal)?;
    Ok(Response::from_bytes(bytes)
        .map_err(internal)?
        .with_status(status)
        .with_headers(out))
}

/// Relays an upstream SSE body chunk by chunk. If it fails or ends before
/// `data: [DONE]`, one terminal error event is appended instead of a clean
/// end, so no client mistakes a cut stream for a complete answer.
fn relay(upstream: ByteStream, request_id: String) -> impl Stream<Item = worker::Result<Vec<u8>>> {
    futures::stream::unfold(Some((upstream, Completion::new())), move |state| {
        let request_id = request_id.clone();
        async move {
            let (mut upstream, mut completion) = state?;
            let problem = match upstream.next().await {
                Some(Ok(chunk)) => {
                    completion.observe(&chunk);
                    return Some((Ok(chunk), Some((upstream, completion))));
                }
                None if completion.is_complete() => return None,
                None => "ended before `data: [DONE]`".to_string(),
                Some(Err(error)) => format!("failed: {error}"),
            };
            let error = GatewayError::new(
                Fault::UpstreamIncomplete,
                format!(
                    "The upstream provider's stream {problem} after {} bytes; the response is incomplete.",
                    completion.bytes()
                ),
            );
            worker::console_warn!(
                "{{\"request_id\":\"{request_id}\",\"kind\":\"{}\",\"message\":{:?}}}",
                error.kind(),
                error.message
            );
            Some((Ok(sse::error_event(&error).into_bytes()), None))
        }
    })
}

fn secrets(settings: &Settings) -> Vec<&str> {
    settings.provider_api_key.as_deref().into_iter().collect()
}

/// Up to `limit` bytes of the body; the rest is left unread and dropped.
async fn read_prefix(answer: &mut Response, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let Ok(mut stream) = answer.stream() else {
        return out;
    };
    while let Some(Ok(chunk)) = stream.next().await {
        let room = limit - out.len();
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= limit {
            break;
        }
    }
    out
}
