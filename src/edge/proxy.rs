//! Sending a chat request upstream and relaying the answer.
//!
//! This talks to the runtime's `fetch` and streams through `web_sys`
//! directly: the `worker` crate's body helpers read a response chunk by
//! chunk through Rust futures, which costs more per request than everything
//! else the gateway does (measured with `make bench`).
//!
//! [`attempt`] is one try of the execution engine ([`crate::engine`]):
//! - A JSON answer must arrive whole within the try's timeout (an
//!   `AbortSignal.timeout` covers headers and body). It is read once, checked
//!   to be one JSON value (a truncated or garbled answer is a failed try,
//!   never a broken 200), and the same buffer becomes the client's body.
//! - A stream must *start* within the timeout: headers, then its first
//!   chunk (within the policy's first-byte timeout when it has one), both
//!   timed in one JS promise ([`stream_start`]). Only then is the client
//!   answered; the rest is relayed chunk by chunk (see
//!   [`super::relay`]), and a failure after that point is a terminal error
//!   event, never a retry.
//! - Error answers are read (bounded, secrets redacted) for the engine to
//!   classify; it builds the client's error.

use super::internal_js;
use super::relay;
use super::spend::Spend;
use crate::usage::meter::Meter;
use futures::channel::oneshot;
use crate::breaker::stream::StreamEnd;
use crate::call::{Call, Inbound, Operation};
use crate::canonical::{DecodeError, ErrorClass, ProviderError};
use crate::dialect;
use crate::engine::{backoff, Sent, Transport};
use crate::error::{Fault, GatewayError};
use crate::provider::{normalized_error, Framing};
use crate::translate::{self, StreamTranslator};
use crate::upstream;
use futures::future::{select, Either};
use std::cell::{Cell, RefCell};
use js_sys::{ArrayBuffer, Uint8Array};
use std::pin::pin;
use std::time::Duration;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, ReadableStreamDefaultReader, ResponseInit};
use worker::Delay;

/// The client's response, as the runtime's own object: handed back as it
/// is, never re-wrapped (a `worker::Response` made from it would turn even a
/// JSON buffer into a stream the runtime then pumps through the isolate).
type Response = web_sys::Response;

/// How long one try may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A JSON answer whole; a stream's headers and first chunk.
    pub timeout_ms: u64,
    /// May shorten the wait for a stream's first chunk.
    pub first_byte_ms: Option<u64>,
    /// Longest silence inside a stream once it has started.
    pub idle_ms: u64,
}

/// One try: sends `call` and turns the upstream's answer into either the
/// client's response (a success) or what the engine needs to decide on a
/// failure.
///
/// `usage`, when given, receives the tokens a JSON answer says it used;
/// `spend` the answer's usage and cost (a stream's when it ends);
/// `stream_end`, for a stream, how its relay ended (for the breaker).
pub async fn attempt(
    call: &Call,
    limits: Limits,
    inbound: &Inbound<'_>,
    request_id: &str,
    usage: Option<&Cell<Option<u64>>>,
    spend: &Spend,
    stream_end: &RefCell<Option<oneshot::Receiver<StreamEnd>>>,
) -> Sent<Response> {
    match try_once(call, limits, inbound, request_id, usage, spend, stream_end).await {
        Ok(sent) => sent,
        Err(error) => Sent::Broken(error),
    }
}

async fn try_once(
    call: &Call,
    limits: Limits,
    inbound: &Inbound<'_>,
    request_id: &str,
    usage: Option<&Cell<Option<u64>>>,
    spend: &Spend,
    stream_end: &RefCell<Option<oneshot::Receiver<StreamEnd>>>,
) -> Result<Sent<Response>, GatewayError> {
    let stream = inbound.stream && inbound.operation == Operation::Chat;
    let timeout_ms = limits.timeout_ms.clamp(1, u32::MAX as u64) as u32;
    let first_byte_ms = limits.first_byte_ms;
    let url = &call.url;

    // Set when a timer covers the whole answer (JSON), to tell a timeout from a cut.
    let mut deadline = None;
    // The body, when it was read with the headers (a JSON request's answer).
    let mut whole: Option<Result<ArrayBuffer, JsValue>> = None;
    // A stream's first chunk, when the stream was started in JavaScript.
    let mut started = None;
    let mut content_type = None;
    let answer = if stream {
        // Only the start of a stream is timed (headers, then the first
        // chunk); a timer over the body would cut long generations.
        let wait = first_byte_ms.map_or(timeout_ms as u64, |fb| fb.min(timeout_ms as u64));
        let lines = request_lines(call)?;
        let parts: js_sys::Array = JsFuture::from(stream_start(url, &lines, &call.body, timeout_ms as f64, wait as f64, stream_type(call)))
            .await
            .map_err(internal_js)?
            .unchecked_into();
        let transport = match parts.get(0).as_string().as_deref() {
            Some("chunk") => {
                started = Some((parts.get(2).unchecked_into::<ReadableStreamDefaultReader>(), parts.get(3), parts.get(4)));
                None
            }
            Some("answer") => None,
            Some("unbuildable") => return Err(internal_js(parts.get(1))),
            Some("connect") => Some(Transport::Connect),
            Some("timeout") => Some(Transport::Timeout),
            Some("first_timeout") if first_byte_ms.is_some() => Some(Transport::FirstByteTimeout),
            Some("first_timeout") => Some(Transport::Timeout),
            Some("reset") => Some(Transport::Reset),
            _ => Some(Transport::Truncated),
        };
        if let Some(transport) = transport {
            return Ok(Sent::Failed(transport));
        }
        parts.get(1).dyn_into::<web_sys::Response>().map_err(internal_js)?
    } else {
        match send_whole(call, timeout_ms, stream_type(call)).await? {
            Whole::Answer { answer, body, content_type: kind, timed_out } => {
                deadline = Some(timed_out);
                whole = body;
                content_type = Some(kind);
                answer
            }
            Whole::Failed { timed_out: true } => return Ok(Sent::Failed(Transport::Timeout)),
            Whole::Failed { timed_out: false } => return Ok(Sent::Failed(Transport::Connect)),
        }
    };

    let status = answer.status();
    if !(200..300).contains(&status) {
        return Ok(upstream_error(call, &answer, status, whole).await);
    }
    let content_type = match content_type {
        Some(known) => known.filter(|t| !t.is_empty()),
        None => answer.headers().get("content-type").ok().flatten(),
    };
    let is_event_stream = content_type.as_deref().is_some_and(|t| t.starts_with(stream_type(call)));
    if let Some((reader, first, timer)) = started {
        return relayed(call, inbound, request_id, limits, status, reader, (first, timer), spend, stream_end);
    }
    if is_event_stream {
        // A stream answer to a JSON request.
        let Some(upstream_body) = answer.body() else {
            return Ok(Sent::Failed(Transport::Truncated));
        };
        let reader: ReadableStreamDefaultReader = upstream_body.get_reader().unchecked_into();
        // The first chunk is part of the try: a stream that fails or stalls
        // before its first byte can still go to another target.
        let wait = first_byte_ms.map_or(timeout_ms as u64, |fb| fb.min(timeout_ms as u64));
        let first = {
            let read = pin!(relay::first(&reader));
            let timer = pin!(Delay::from(Duration::from_millis(wait)));
            match select(read, timer).await {
                Either::Left((first, _)) => Some(first),
                Either::Right(((), _)) => None,
            }
        };
        let first = match first {
            Some(relay::First::Chunk(chunk)) => chunk,
            Some(relay::First::Empty) => return Ok(Sent::Failed(Transport::Truncated)),
            Some(relay::First::Failed) => return Ok(Sent::Failed(Transport::Reset)),
            None => {
                let _ = reader.cancel();
                let transport = if first_byte_ms.is_some() { Transport::FirstByteTimeout } else { Transport::Timeout };
                return Ok(Sent::Failed(transport));
            }
        };
        return relayed(call, inbound, request_id, limits, status, reader, (first, JsValue::UNDEFINED), spend, stream_end);
    }

    // A JSON answer (also when a stream was asked for and the upstream
    // answered with JSON instead): read whole, checked, passed on as is.
    let read = match whole {
        Some(read) => read,
        None => read_all(&answer).await,
    };
    let buffer = match read {
        Ok(buffer) => buffer,
        Err(_) if deadline.is_some_and(|timed_out| timed_out) => return Ok(Sent::Failed(Transport::Timeout)),
        Err(_) => return Ok(Sent::Failed(Transport::Truncated)),
    };
    if call.translate {
        let bytes = Uint8Array::new(&buffer).to_vec();
        let translated = match inbound.operation {
            Operation::Chat => translate::json_answer(call.adapter, inbound.dialect, &bytes, defaults(call, request_id)),
            Operation::Embeddings => call
                .adapter
                .embeddings_response(&bytes)
                .map(|r| {
                    let format = inbound.embeddings().ok().and_then(|e| e.encoding_format.as_deref());
                    dialect::openai::encode_embeddings_as(&r, format)
                }),
        };
        let text = match translated {
            Ok(text) => text,
            Err(DecodeError::Malformed(_)) => return Ok(Sent::Failed(Transport::Malformed)),
            Err(DecodeError::Refused(message)) => return Ok(refused(call, &message)),
        };
        let stated = crate::usage::from_json(text.as_bytes());
        if let Some(usage) = usage {
            usage.set(stated.map(|u| u.total()));
        }
        spend.answered(stated, text.len());
        let out = Headers::new().map_err(internal_js)?;
        out.set("content-type", "application/json").map_err(internal_js)?;
        let response = web_sys::Response::new_with_opt_str_and_init(Some(&text), &response_init(status, &out))
            .map_err(internal_js)?;
        return Ok(success(status, response));
    }
    let bytes = Uint8Array::new(&buffer).to_vec();
    // An answer whose usage could be read is whole JSON (read to its end):
    // only one without is checked again.
    let stated = crate::usage::from_json(&bytes);
    if stated.is_none() {
        if let Err(error) = upstream::check_json_body(&bytes) {
            let transport = if error.fault == Fault::UpstreamIncomplete { Transport::Truncated } else { Transport::Malformed };
            return Ok(Sent::Failed(transport));
        }
    }
    if let Some(usage) = usage {
        usage.set(stated.map(|u| u.total()));
    }
    spend.answered(stated, bytes.len());
    let response = json_response(&buffer, status, content_type.as_deref().unwrap_or("application/json")).map_err(internal_js)?;
    Ok(success(status, response))
}

#[wasm_bindgen::prelude::wasm_bindgen(inline_js = "
export function json_response(buffer, status, contentType) {
  const headers = new Headers();
  headers.set('content-type', contentType);
  return new Response(buffer, { status, headers });
}")]
extern "C" {
    /// The client's response for a checked JSON answer, the upstream's
    /// buffer as its body, in one call (instead of a `Headers`, a
    /// `ResponseInit` and their setters).
    #[wasm_bindgen(catch)]
    fn json_response(buffer: &ArrayBuffer, status: u16, content_type: &str) -> Result<Response, JsValue>;
}

/// The client's response for an upstream stream whose first chunk was read
/// from `reader` (`first`: it, and the start's timer for the relay's
/// watchdog, or `undefined`): the relay's native stream.
#[allow(clippy::too_many_arguments)] // one try's context, named
fn relayed(
    call: &Call,
    inbound: &Inbound<'_>,
    request_id: &str,
    limits: Limits,
    status: u16,
    reader: ReadableStreamDefaultReader,
    first: (JsValue, JsValue),
    spend: &Spend,
    stream_end: &RefCell<Option<oneshot::Receiver<StreamEnd>>>,
) -> Result<Sent<Response>, GatewayError> {
    let translator = call
        .translate
        .then(|| StreamTranslator::new(call.adapter, inbound.dialect, inbound.include_usage, defaults(call, request_id)));
    let (done, receiver) = oneshot::channel();
    let (ended, end_receiver) = oneshot::channel();
    let metering = relay::Metering {
        meter: (!call.translate).then(|| Meter::new(call.adapter, call.strip_usage)),
        rates: spend.rates.get(),
        prompt_tokens: spend.estimate.input_tokens,
        done,
    };
    let relay = relay::Relay {
        request_id: request_id.to_string(),
        idle_ms: limits.idle_ms.max(1),
        dialect: inbound.dialect,
        translator,
        metering,
        ended,
    };
    let response = relay::sse(first, reader, relay, status).map_err(internal_js)?;
    spend.stream.replace(Some(receiver));
    stream_end.replace(Some(end_receiver));
    Ok(success(status, response))
}

#[wasm_bindgen::prelude::wasm_bindgen(inline_js = "
const MAX_TIMER_MS = 2147483647;
function request(lines, body, signal) {
  const headers = new Headers();
  const parts = lines === '' ? [] : lines.split('\\n');
  for (let i = 0; i + 1 < parts.length; i += 2) headers.set(parts[i], parts[i + 1]);
  return { method: 'POST', headers, body: body.slice(), signal };
}
export function send_whole(url, lines, body, timeoutMs, streamType) {
  let signal;
  try {
    signal = AbortSignal.timeout(timeoutMs);
    return fetch(url, request(lines, body, signal)).then((answer) => {
      const type = answer.headers.get('content-type') || '';
      if (type.startsWith(streamType)) return [answer, null, 0, type];
      return answer.arrayBuffer().then(
        (buffer) => [answer, buffer, 1, type],
        (error) => [answer, error, signal.aborted ? 3 : 2, type],
      );
    }, (error) => [null, error, signal.aborted ? 3 : 2, '']);
  } catch (error) {
    return Promise.resolve([null, error, 4, '']);
  }
}
export function stream_start(url, lines, body, timeoutMs, firstMs, streamType) {
  let controller, init;
  try {
    controller = new AbortController();
    init = request(lines, body, controller.signal);
  } catch (error) {
    return Promise.resolve(['unbuildable', error]);
  }
  return new Promise((resolve) => {
    // One timer for both waits (the headers within timeoutMs, then the
    // first chunk within firstMs): when it fires early for the current
    // deadline it waits the rest; it is set again only for a shorter wait.
    // Once the first chunk is in, the timer still set is handed to the
    // relay (`hand`: its watchdog adopts it rather than setting its own).
    let settled = false, reader = null, deadline = Date.now() + timeoutMs, timer, adopted = null;
    const hand = () => ({
      due: () => deadline,
      adopt: (check) => { adopted = check; },
      clear: () => clearTimeout(timer),
    });
    const settle = (parts, keep) => {
      if (settled) return false;
      settled = true;
      if (!keep) clearTimeout(timer);
      resolve(parts);
      return true;
    };
    const arm = (ms) => { timer = setTimeout(fire, Math.min(Math.max(1, ms), MAX_TIMER_MS)); };
    const fire = () => {
      if (settled) return adopted === null ? undefined : adopted();
      const left = deadline - Date.now();
      if (left > 0) return arm(left);
      controller.abort();
      if (reader === null) return settle(['timeout']);
      reader.cancel().catch(() => {});
      settle(['first_timeout']);
    };
    arm(timeoutMs);
    fetch(url, init).then((answer) => {
      if (settled) return;
      const type = answer.headers.get('content-type') || '';
      if (answer.status < 200 || answer.status >= 300 || !type.startsWith(streamType)) return settle(['answer', answer]);
      if (!answer.body) return settle(['truncated']);
      reader = answer.body.getReader();
      const first = Date.now() + firstMs;
      if (first < deadline) {
        clearTimeout(timer);
        arm(firstMs);
      }
      deadline = first;
      reader.read().then(
        ({ done, value }) => {
          if (!settle(done ? ['truncated'] : ['chunk', answer, reader, value, hand()], !done)) reader.cancel().catch(() => {});
        },
        () => settle(['reset']),
      );
    }, () => settle(['connect']));
  });
}")]
extern "C" {
    /// Starts a stream in one promise: the request built from `lines`
    /// (`name\nvalue\n…`) and `body`, `fetch`ed within `timeout_ms`, then,
    /// for a 2xx answer of `stream_type`, its first chunk within `first_ms`
    /// (an `AbortController` aborts a slow start). Resolves to `['chunk',
    /// answer, reader, first, timer]` (`timer`: the start's timer, still
    /// set, for the relay's watchdog to adopt or clear: `{ due(), adopt(check),
    /// clear() }`), `['answer', answer]` (an error status or
    /// not a stream: read as usual), the failure: `connect`, `timeout`,
    /// `first_timeout`, `reset`, `truncated`, or `['unbuildable', error]`.
    fn stream_start(
        url: &str,
        lines: &str,
        body: &[u8],
        timeout_ms: f64,
        first_ms: f64,
        stream_type: &str,
    ) -> js_sys::Promise;

    /// One JSON try in one promise (one wake of the isolate): the request
    /// built from `lines` (`name\nvalue\n…`) and `body`, `fetch`ed under
    /// an `AbortSignal.timeout`, and, unless the answer is a stream of
    /// `stream_type`, its whole body: `[answer, body or error, state,
    /// content type]`, state 0 (a stream, body not read), 1 (read), 2
    /// (failed), 3 (failed: timed out), 4 (the request could not be built).
    #[wasm_bindgen(js_name = send_whole)]
    fn send_whole_js(url: &str, lines: &str, body: &[u8], timeout_ms: u32, stream_type: &str) -> js_sys::Promise;
}

/// What a translated answer says about itself when the provider's does not.
fn defaults<'a>(call: &'a Call, request_id: &'a str) -> translate::Defaults<'a> {
    translate::Defaults { id: request_id, model: &call.model, created: (js_sys::Date::now() / 1000.0) as u64 }
}

/// A 2xx answer that is a refusal on content grounds (e.g. Gemini's
/// blocked prompt): a content-policy error for the engine, as a 400.
fn refused(call: &Call, message: &str) -> Sent<Response> {
    let message = upstream::redact(message, &call.secret_refs());
    let error = normalized_error(&ProviderError { class: ErrorClass::ContentPolicy, message });
    match Response::new() {
        Ok(placeholder) => Sent::Answer { status: 400, retry_after_ms: None, error: Some(error), body: placeholder },
        Err(e) => Sent::Broken(internal_js(e)),
    }
}

fn success(status: u16, body: Response) -> Sent<Response> {
    Sent::Answer { status, retry_after_ms: None, error: None, body }
}

/// The content type of a stream in `call`'s provider's framing.
fn stream_type(call: &Call) -> &'static str {
    match call.adapter.framing() {
        Framing::Sse => "text/event-stream",
        Framing::EventStream => "application/vnd.amazon.eventstream",
    }
}

/// What [`send_whole`] got.
enum Whole {
    /// An answer: its body when it was read (not for a stream), its content
    /// type (empty when none), and whether the try's timer ran out.
    Answer { answer: web_sys::Response, body: Option<Result<ArrayBuffer, JsValue>>, content_type: Option<String>, timed_out: bool },
    /// No answer (connection failed, or the timer ran out).
    Failed { timed_out: bool },
}

/// [`send_whole_js`] for Rust.
async fn send_whole(call: &Call, timeout_ms: u32, stream_type: &str) -> Result<Whole, GatewayError> {
    let lines = request_lines(call)?;
    let parts: js_sys::Array = JsFuture::from(send_whole_js(&call.url, &lines, &call.body, timeout_ms, stream_type))
        .await
        .map_err(internal_js)?
        .unchecked_into();
    let state = parts.get(2).as_f64().unwrap_or(4.0) as u8;
    let Ok(answer) = parts.get(0).dyn_into::<web_sys::Response>() else {
        return match state {
            4 => Err(internal_js(parts.get(1))),
            _ => Ok(Whole::Failed { timed_out: state == 3 }),
        };
    };
    let body = match state {
        0 => None,
        1 => Some(parts.get(1).dyn_into::<ArrayBuffer>()),
        _ => Some(Err(parts.get(1))),
    };
    Ok(Whole::Answer { answer, body, content_type: parts.get(3).as_string(), timed_out: state == 3 })
}

/// A try's request headers as `name\nvalue\n…` lines (for one JS call).
fn request_lines(call: &Call) -> Result<String, GatewayError> {
    let (lines, refused) = super::join_lines(call.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    match refused.first() {
        None => Ok(lines),
        Some((name, _)) => Err(GatewayError::new(Fault::Internal, format!("Internal error: the header `{}` holds a line break.", name.replace('\n', " ")))),
    }
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

/// An upstream error status as the engine sees it: the status, the start
/// of the body (secrets redacted) and the `Retry-After` it asked for.
/// `whole`: the body, when it was read with the headers.
async fn upstream_error(
    call: &Call,
    answer: &web_sys::Response,
    status: u16,
    whole: Option<Result<ArrayBuffer, JsValue>>,
) -> Sent<Response> {
    let read = match whole {
        Some(read) => read,
        None => read_all(answer).await,
    };
    let bytes = match read {
        Ok(buffer) => {
            let view = Uint8Array::new(&buffer);
            let len = view.length().min(upstream::MAX_ERROR_BODY_BYTES as u32);
            view.subarray(0, len).to_vec()
        }
        Err(_) => Vec::new(),
    };
    let text = call.adapter.error_text(status, &String::from_utf8_lossy(&bytes));
    let text = upstream::redact(&text, &call.secret_refs());
    let header = |name: &str| answer.headers().get(name).ok().flatten();
    let retry_after_ms = backoff::retry_after_ms(header("retry-after").as_deref(), header("retry-after-ms").as_deref());
    // The body is never relayed for an error: the engine builds the client's.
    match Response::new() {
        Ok(placeholder) => Sent::Answer { status, retry_after_ms, error: Some(text), body: placeholder },
        Err(e) => Sent::Broken(internal_js(e)),
    }
}

/// A readable description of a JS error value.
pub(crate) fn describe(error: &JsValue) -> String {
    if let Some(e) = error.dyn_ref::<js_sys::Error>() {
        return format!("{}: {}", String::from(e.name()), String::from(e.message()));
    }
    error.as_string().unwrap_or_else(|| format!("{error:?}"))
}
