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
//! Each write is awaited, so a slow client slows the upstream read instead
//! of filling memory. The price is one wake of the isolate per chunk; see
//! bench/README.md for what it costs. When the client speaks the provider's
//! format (no translation) the loop and the watchdog run in a few lines of
//! JavaScript ([`js_pump`]): no Rust future, closure or microtask per chunk,
//! one call back into Rust when the stream is over. A translated stream is
//! pumped by Rust, chunk by chunk.

use crate::dialect::Dialect;
use crate::error::{Fault, GatewayError};
use crate::translate::StreamTranslator;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use worker::Delay;
use js_sys::Uint8Array;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{
    ReadableStream, ReadableStreamDefaultReader, ReadableStreamReadResult, TransformStream,
    WritableStreamDefaultWriter,
};

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

#[wasm_bindgen]
extern "C" {
    /// workerd's native pass-through byte stream.
    #[wasm_bindgen(extends = TransformStream)]
    type IdentityTransformStream;

    #[wasm_bindgen(constructor, catch)]
    fn new() -> Result<IdentityTransformStream, JsValue>;
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
    /// undecodable chunk, or no end marker).
    Broken(GatewayError),
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
}

/// The client's body for an upstream stream whose first chunk `first` was
/// already read from `reader`: the same bytes (or their translation), plus
/// a terminal error event if the upstream fails part-way or sends nothing
/// for `idle_ms`.
pub fn sse(first: JsValue, reader: ReadableStreamDefaultReader, relay: Relay) -> Result<ReadableStream, JsValue> {
    let pipe: TransformStream = IdentityTransformStream::new()?.into();
    let writer = pipe.writable().get_writer()?;
    let Relay { request_id, idle_ms, dialect, mut translator } = relay;
    // Untranslated bytes are moved by a loop in JavaScript (no Rust future,
    // closure or microtask per chunk); a translated stream needs Rust per chunk.
    let native = translator.is_none().then(|| js_pump(&reader, &writer, &first, idle_ms as f64));
    let activity = Activity::new();
    if native.is_none() {
        watch(activity.clone(), reader.clone(), idle_ms);
    }

    spawn_local(async move {
        let (end, stalled) = match native {
            Some(pumped) => pumped_end(JsFuture::from(pumped).await),
            None => {
                let end = match write(&writer, &mut translator, &first).await {
                    Err(end) => end,
                    Ok(()) => pump(&reader, &writer, &activity, &mut translator).await,
                };
                activity.finished.set(true);
                (end, activity.stalled.get())
            }
        };
        // The watchdog's cancel ends the read one way or the other (done, or
        // rejected): either way the cause is the silence.
        let end = match end {
            End::Finished | End::UpstreamFailed(_) if stalled => End::UpstreamFailed(
                JsValue::from_str(&format!("no data for {idle_ms} ms")),
            ),
            other => other,
        };
        // A translated stream is complete only if its provider's end marker came.
        let end = match (end, translator.as_mut()) {
            (End::Finished, Some(t)) => match t.finish() {
                Ok(rest) => match send_text(&writer, rest).await {
                    Ok(()) => End::Finished,
                    Err(()) => End::ClientGone,
                },
                Err(error) => End::Broken(error),
            },
            (end, _) => end,
        };
        let error = match end {
            End::Finished => None,
            End::ClientGone => {
                let _ = reader.cancel();
                return;
            }
            End::UpstreamFailed(failure) => Some(GatewayError::new(
                Fault::UpstreamIncomplete,
                format!(
                    "The upstream provider's stream failed part-way ({}); the response is incomplete.",
                    super::proxy::describe(&failure)
                ),
            )),
            End::Broken(error) => {
                let _ = reader.cancel();
                Some(error)
            }
        };
        if let Some(error) = error {
            worker::console_warn!(
                "{{\"request_id\":\"{request_id}\",\"kind\":\"{}\",\"message\":{:?}}}",
                error.kind(),
                error.message
            );
            let _ = send_text(&writer, &dialect.error_event(&error)).await;
        }
        let _ = JsFuture::from(writer.close()).await;
    });
    Ok(pipe.readable())
}

#[wasm_bindgen(inline_js = "
export function js_pump(reader, writer, first, idleMs) {
  return new Promise((resolve) => {
    let last = Date.now(), over = false, stalled = false, timer;
    const watch = (wait) => {
      timer = setTimeout(() => {
        if (over) return;
        const silent = Date.now() - last;
        if (silent >= idleMs) {
          stalled = true;
          reader.cancel().catch(() => {});
        } else {
          watch(idleMs - silent);
        }
      }, Math.min(2147483647, Math.max(1, wait)));
    };
    const finish = (end, error) => {
      over = true;
      clearTimeout(timer);
      resolve([end, error, stalled]);
    };
    const gone = () => finish('gone');
    const step = () =>
      reader.read().then(({ done, value }) => {
        if (done) return finish('finished');
        last = Date.now();
        return writer.write(value).then(step, gone);
      }, (error) => finish('failed', error));
    watch(idleMs);
    writer.write(first).then(step, gone);
  });
}")]
extern "C" {
    /// Writes `first`, then every chunk of `reader`, to `writer`, with the
    /// idle watchdog (one timer per idle period); resolves to
    /// `[end, error, stalled]` with `end` one of `finished`, `failed`
    /// (`error`: why), `gone` (the client).
    fn js_pump(reader: &ReadableStreamDefaultReader, writer: &WritableStreamDefaultWriter, first: &JsValue, idle_ms: f64) -> js_sys::Promise;
}

/// How [`js_pump`] ended, and whether the watchdog gave up on the upstream.
fn pumped_end(outcome: Result<JsValue, JsValue>) -> (End, bool) {
    let parts: js_sys::Array = match outcome {
        Ok(parts) => parts.unchecked_into(),
        Err(error) => return (End::UpstreamFailed(error), false),
    };
    let end = match parts.get(0).as_string().as_deref() {
        Some("finished") => End::Finished,
        Some("gone") => End::ClientGone,
        _ => End::UpstreamFailed(parts.get(1)),
    };
    (end, parts.get(2).is_truthy())
}

/// Writes one upstream chunk to the client: as it is, or translated (a
/// chunk may translate to nothing).
async fn write(
    writer: &WritableStreamDefaultWriter,
    translator: &mut Option<StreamTranslator>,
    chunk: &JsValue,
) -> Result<(), End> {
    let Some(t) = translator else {
        return JsFuture::from(writer.write_with_chunk(chunk)).await.map(drop).map_err(|_| End::ClientGone);
    };
    let bytes = Uint8Array::new(chunk).to_vec();
    match t.push(&bytes) {
        Ok(text) => send_text(writer, text).await.map_err(|()| End::ClientGone),
        Err(error) => {
            // What was translated before the failure still goes out first.
            let pending = t.pending().to_string();
            let _ = send_text(writer, &pending).await;
            Err(End::Broken(error))
        }
    }
}

async fn send_text(writer: &WritableStreamDefaultWriter, text: &str) -> Result<(), ()> {
    if text.is_empty() {
        return Ok(());
    }
    let chunk = Uint8Array::from(text.as_bytes());
    JsFuture::from(writer.write_with_chunk(&chunk)).await.map(drop).map_err(drop)
}

/// What the watchdog and the pump share about one relay.
#[derive(Clone)]
struct Activity {
    /// `Date.now()` of the last chunk.
    last: Rc<Cell<f64>>,
    /// Set by the watchdog when it gave up on a silent upstream.
    stalled: Rc<Cell<bool>>,
    /// Set by the pump when the relay is over.
    finished: Rc<Cell<bool>>,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            last: Rc::new(Cell::new(js_sys::Date::now())),
            stalled: Rc::new(Cell::new(false)),
            finished: Rc::new(Cell::new(false)),
        }
    }
}

/// One timer per idle period (not one per chunk): when the upstream has
/// sent nothing for `idle_ms`, the read is cancelled, which ends the pump,
/// and the relay reports the stall as an error event.
fn watch(activity: Activity, reader: ReadableStreamDefaultReader, idle_ms: u64) {
    spawn_local(async move {
        let mut wait = idle_ms;
        loop {
            Delay::from(Duration::from_millis(wait.max(1))).await;
            if activity.finished.get() {
                return;
            }
            let silent = (js_sys::Date::now() - activity.last.get()).max(0.0) as u64;
            if silent >= idle_ms {
                activity.stalled.set(true);
                let _ = reader.cancel();
                return;
            }
            wait = idle_ms - silent;
        }
    });
}

/// Moves chunks from `reader` to `writer` until one side stops.
async fn pump(
    reader: &ReadableStreamDefaultReader,
    writer: &WritableStreamDefaultWriter,
    activity: &Activity,
    translator: &mut Option<StreamTranslator>,
) -> End {
    loop {
        let step: ReadableStreamReadResult = match JsFuture::from(reader.read()).await {
            Ok(step) => step.unchecked_into(),
            Err(failure) => return End::UpstreamFailed(failure),
        };
        if step.get_done().unwrap_or(false) {
            return End::Finished;
        }
        activity.last.set(js_sys::Date::now());
        if let Err(end) = write(writer, translator, &step.get_value()).await {
            return end;
        }
    }
}
