//! Relaying an upstream SSE stream to the client without losing a cut.
//!
//! workerd turns an upstream body that aborts mid-way into a *clean* end of
//! a response that passes that body on (checked with plain workerd as well
//! as Miniflare: `curl` sees a normal end, no error). Handing the upstream
//! stream straight to the client, as a trivial proxy does, would therefore
//! pass a cut stream off as a complete answer.
//!
//! So the relay reads the upstream chunk by chunk and writes each chunk,
//! untouched and uncopied, into a native `IdentityTransformStream` whose
//! readable side is the client's body:
//! - upstream ends: close;
//! - upstream fails (reset, cut mid-body) or sends nothing for the try's
//!   timeout (a watchdog with one timer per idle period, not per chunk):
//!   one terminal `data: {"error":...}` event, then close;
//! - the client goes away (a write fails): cancel the upstream read, so the
//!   provider stops generating.
//!
//! Its usage is read on the way ([`Metering`], [`crate::relay_tap`]): from
//! the translator's events, or for a stream forwarded as it came from a
//! copy of each chunk (the chunk itself still goes out when it is whole
//! events; otherwise, or when the gateway's own usage chunk must be taken
//! out, the meter's whole events do). The tally goes into the stream as SSE
//! comment lines just before the dialect's end event (`data: [DONE]`,
//! `event: message_stop`), and to whoever settles the budget.
//!
//! The loop and the idle watchdog are a few lines of JavaScript
//! ([`relay_start`]) that call the tap, plain Rust, synchronously once per
//! chunk: no Rust future, closure or microtask per chunk (nor for the
//! relay as a whole). When the pump is over it calls Rust once more, to
//! report the end (breaker, budget, metrics) and write the error event. Each write is awaited, so a slow client slows the
//! upstream read instead of filling memory. The price left is the runtime's
//! own per chunk (a read, a write, a wake of the isolate); see
//! bench/README.md.

use crate::breaker::stream::StreamEnd;
use crate::dialect::Dialect;
use crate::error::{Fault, GatewayError};
use crate::relay_tap::{Step, Tap};
use crate::translate::StreamTranslator;
use crate::usage::meter::Meter;
use crate::usage::{Rates, Tally};
use futures::channel::oneshot;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use js_sys::Uint8Array;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{ReadableStreamDefaultReader, ReadableStreamReadResult, Response, WritableStreamDefaultWriter};

/// The first chunk of a stream, read before the client is answered (so a
/// stream that fails before its first byte can still be retried).
pub enum First {
    Chunk(JsValue),
    /// The stream ended without a byte.
    Empty,
    /// Reading it failed (the connection broke).
    Failed,
}

/// Reads the first chunk of `reader`.
pub async fn first(reader: &ReadableStreamDefaultReader) -> First {
    match JsFuture::from(reader.read()).await {
        Err(_) => First::Failed,
        Ok(step) => {
            let step: ReadableStreamReadResult = step.unchecked_into();
            if step.get_done().unwrap_or(false) {
                First::Empty
            } else {
                First::Chunk(step.get_value())
            }
        }
    }
}

/// How a relay ended.
enum End {
    /// The upstream finished its stream.
    Finished,
    /// Reading the upstream failed part-way.
    UpstreamFailed(JsValue),
    /// Writing to the client failed: it is gone.
    ClientGone,
    /// The translated stream failed (a provider error event, an
    /// undecodable chunk, or no end marker), with what was translated
    /// before the failure.
    Broken(String, GatewayError),
}

impl End {
    fn plain(&self) -> StreamEnd {
        match self {
            End::Finished => StreamEnd::Finished,
            End::UpstreamFailed(_) => StreamEnd::UpstreamFailed,
            End::ClientGone => StreamEnd::ClientGone,
            End::Broken(..) => StreamEnd::Broken,
        }
    }
}

/// How one stream is relayed.
pub struct Relay {
    pub request_id: String,
    /// Longest silence allowed once the stream has started.
    pub idle_ms: u64,
    /// The client's wire format (for the terminal error event).
    pub dialect: Dialect,
    /// Set when the provider speaks another format than the client.
    pub translator: Option<StreamTranslator>,
    pub metering: Metering,
    /// Told how the stream ended (for the try's breaker report).
    pub ended: oneshot::Sender<StreamEnd>,
}

/// How a stream's usage is read and reported: from the translator's
/// events, or (forwarded as it came) from a [`Meter`]; the tally goes into
/// the stream as SSE comment lines before its end event (a complete stream
/// only) and to `done` (for the budget and whoever waits for it).
pub struct Metering {
    pub meter: Option<Meter>,
    pub rates: Option<Rates>,
    /// The prompt's estimate, for a count when the provider reports no usage.
    pub prompt_tokens: u64,
    pub done: oneshot::Sender<Tally>,
}

/// The client's response (`status`, an event stream) for an upstream
/// stream whose first chunk was already read from `reader` (`first`: it,
/// and the timer of the stream's start, which the watchdog adopts, or
/// `undefined`; see `stream_start` in [`super::proxy`]): the
/// same bytes (or their translation), plus a terminal error event if the
/// upstream fails part-way or sends nothing for `idle_ms`.
///
/// The chunks are moved by [`relay_start`] (JavaScript), which calls the
/// tap ([`Tap::push`], Rust, synchronous) once per chunk, and once more a
/// closure that reports the end (breaker, budget, metrics) and writes the
/// error event if there must be one: no Rust future for the relay.
pub fn sse((first, timer): (JsValue, JsValue), reader: ReadableStreamDefaultReader, relay: Relay, status: u16) -> Result<Response, JsValue> {
    let Relay { request_id, idle_ms, dialect, translator, metering, ended: breaker_end } = relay;
    let Metering { meter, rates, prompt_tokens, done } = metering;
    let tap = Rc::new(RefCell::new(Tap::new(dialect, translator, meter, rates, prompt_tokens)));
    // What the pump writes for a chunk: `undefined` the chunk itself, bytes
    // instead, `false` nothing, `null` stop (the translated stream broke).
    // Called with `undefined` on a clean end: what is left to write.
    let essential = Rc::new(Cell::new(false));
    let on_chunk = {
        let (tap, essential) = (tap.clone(), essential.clone());
        // The chunk's bytes, copied out of the runtime (one buffer for the stream).
        let mut bytes = Vec::new();
        Closure::<dyn FnMut(JsValue) -> JsValue>::new(move |chunk: JsValue| {
            let mut tap = tap.borrow_mut();
            if chunk.is_undefined() {
                return match tap.finish() {
                    Some(closing) => {
                        essential.set(closing.essential);
                        bytes_for_js(closing.bytes)
                    }
                    None => JsValue::NULL,
                };
            }
            let chunk = chunk.unchecked_ref::<Uint8Array>();
            bytes.resize(chunk.length() as usize, 0);
            chunk.copy_to(&mut bytes);
            match tap.push(&bytes) {
                Step::Forward => JsValue::UNDEFINED,
                Step::Send(out) => bytes_for_js(out),
                Step::Broken => JsValue::NULL,
            }
        })
    };
    let tap_js: js_sys::Function = on_chunk.as_ref().clone().unchecked_into();
    let upstream = reader.clone();
    // Called once by the pump when it is over (it calls the tap no more).
    let on_end = Closure::once_into_js(move |how: u32, failure: JsValue, stalled: bool, wrote: bool, writer: WritableStreamDefaultWriter| {
        drop(on_chunk);
        let mut tap = tap.borrow_mut();
        let end = match how {
            FINISHED => End::Finished,
            GONE => End::ClientGone,
            BROKEN => match tap.broken() {
                Some((pending, error)) => End::Broken(pending, error),
                None => End::UpstreamFailed(JsValue::from_str("the stream broke")),
            },
            _ => End::UpstreamFailed(failure),
        };
        // The watchdog's cancel ends the read one way or the other (done, or
        // rejected): either way the cause is the silence.
        let end = match end {
            End::Finished | End::UpstreamFailed(_) if stalled => End::UpstreamFailed(
                JsValue::from_str(&format!("no data for {idle_ms} ms")),
            ),
            // The rest of the answer could not be written: the client is gone.
            End::Finished if !wrote && essential.get() => End::ClientGone,
            other => other,
        };
        let tally = tap.tally();
        if let Some(tally) = tally {
            let _ = done.send(tally);
        }
        let _ = breaker_end.send(end.plain());
        // The metrics count the stream (and write its log line) with this tally.
        let ended = |how: &str| super::metrics::stream_ended(&request_id, how, tally);
        let (pending, error) = match end {
            End::Finished => {
                ended("ok");
                close_quietly(&writer);
                return;
            }
            End::ClientGone => {
                let _ = upstream.cancel();
                ended("client_gone");
                return;
            }
            End::UpstreamFailed(failure) => (
                String::new(),
                GatewayError::new(
                    Fault::UpstreamIncomplete,
                    format!(
                        "The upstream provider's stream failed part-way ({}); the response is incomplete.",
                        super::proxy::describe(&failure)
                    ),
                ),
            ),
            End::Broken(pending, error) => {
                let _ = upstream.cancel();
                (pending, error)
            }
        };
        ended(error.kind());
        worker::console_warn!(
            "{{\"request_id\":\"{request_id}\",\"kind\":\"{}\",\"message\":{:?}}}",
            error.kind(),
            error.message
        );
        // What was translated before a failure, then the error event.
        let last = pending + &dialect.error_event(&error);
        write_and_close(&writer, &Uint8Array::from(last.as_bytes()));
    });
    relay_start(&reader, &first, &timer, idle_ms as f64, &tap_js, &on_end, status)
}

/// How the pump ended (its `end` call's first argument).
const FINISHED: u32 = 0;
const GONE: u32 = 2;
const BROKEN: u32 = 3;

/// Bytes for the pump to write (`false`: none).
fn bytes_for_js(bytes: &[u8]) -> JsValue {
    if bytes.is_empty() {
        JsValue::FALSE
    } else {
        Uint8Array::from(bytes).into()
    }
}

#[wasm_bindgen(inline_js = "
const ENDS = { finished: 0, failed: 1, gone: 2, broken: 3 };
export function relay_start(reader, first, start, idleMs, tap, end, status) {
  const pipe = new IdentityTransformStream();
  const writer = pipe.writable.getWriter();
  const headers = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' };
  const response = new Response(pipe.readable, { status, headers });
  pump(reader, writer, first, start, idleMs, tap, end);
  return response;
}
function pump(reader, writer, first, start, idleMs, tap, end) {
  let last = Date.now(), over = false, stalled = false, cancel;
  const check = () => {
    if (over) return;
    const silent = Date.now() - last;
    if (silent >= idleMs) {
      stalled = true;
      reader.cancel().catch(() => {});
    } else {
      watch(idleMs - silent);
    }
  };
  const watch = (wait) => {
    const timer = setTimeout(check, Math.min(2147483647, Math.max(1, wait)));
    cancel = () => clearTimeout(timer);
  };
  const finish = (how, error, wrote) => {
    over = true;
    cancel();
    end(ENDS[how], error, stalled, !!wrote, writer);
  };
  const gone = () => finish('gone');
  const step = () =>
    reader.read().then(({ done, value }) => {
      if (over) return;
      if (done) {
        if (stalled) return finish('finished');
        const rest = tap(undefined);
        if (rest === null) return finish('broken');
        if (rest === false) return finish('finished', undefined, true);
        return writer.write(rest).then(() => finish('finished', undefined, true), () => finish('finished', undefined, false));
      }
      last = Date.now();
      return send(value);
    }, (error) => finish('failed', error));
  const send = (chunk) => {
    const out = tap(chunk);
    if (out === null) return finish('broken');
    if (out === false) return step();
    return writer.write(out === undefined ? chunk : out).then(step, gone);
  };
  // The stream's start timer, when it is due within one idle period, is
  // the watchdog's first (one timer less per stream); else a new one.
  if (start !== undefined && start.due() - last <= idleMs) {
    start.adopt(check);
    cancel = start.clear;
  } else {
    if (start !== undefined) start.clear();
    watch(idleMs);
  }
  send(first);
}
export function write_and_close(writer, bytes) {
  if (!writer) return;
  writer.write(bytes).catch(() => {});
  writer.close().catch(() => {});
}
export function close_quietly(writer) {
  if (writer) writer.close().catch(() => {});
}")]
extern "C" {
    /// The client's response (`status`, an event stream: a native
    /// `IdentityTransformStream`'s readable side), and the pump that writes
    /// `first`, then every chunk of `reader`, into it, each as `tap` says
    /// (see [`sse`]), with the idle watchdog (one timer per idle period;
    /// the first may be `start`'s, the stream's start timer).
    /// When it is over the pump calls `end(how, error, stalled, wrote,
    /// writer)` once: `how` 0 finished (`wrote`: whether the tap's last
    /// bytes were written), 1 failed (`error`: why), 2 gone (the client),
    /// 3 broken (the tap said stop); `writer` the client's.
    #[wasm_bindgen(catch)]
    fn relay_start(
        reader: &ReadableStreamDefaultReader,
        first: &JsValue,
        start: &JsValue,
        idle_ms: f64,
        tap: &js_sys::Function,
        end: &JsValue,
        status: u16,
    ) -> Result<Response, JsValue>;

    /// Writes `bytes`, then closes `writer`, without waiting (a failure
    /// means the client is gone: nothing to do).
    fn write_and_close(writer: &WritableStreamDefaultWriter, bytes: &Uint8Array);

    /// Closes `writer` without waiting.
    fn close_quietly(writer: &WritableStreamDefaultWriter);
}
