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
//! Its usage is read on the way ([`Metering`]): from the translator's
//! events, or for a stream forwarded as it came from a copy of each chunk
//! (the chunk itself still goes out when it is whole events; otherwise, or
//! when the gateway's own usage chunk must be taken out, the meter's whole
//! events do). The tally goes into the stream as SSE comment lines just
//! before the dialect's end event (`data: [DONE]`, `event: message_stop`),
//! and to whoever settles the budget.
//!
//! Each write is awaited, so a slow client slows the upstream read instead
//! of filling memory. The price is one wake of the isolate per chunk; see
//! bench/README.md for what it costs.

use crate::breaker::stream::StreamEnd;
use crate::dialect::Dialect;
use crate::error::{Fault, GatewayError};
use crate::translate::StreamTranslator;
use crate::usage::meter::{end_event_at, end_marker, Meter};
use crate::usage::{Rates, Tally};
use futures::channel::oneshot;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use worker::Delay;
use js_sys::Uint8Array;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
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

impl End {
    fn plain(&self) -> StreamEnd {
        match self {
            End::Finished => StreamEnd::Finished,
            End::UpstreamFailed(_) => StreamEnd::UpstreamFailed,
            End::ClientGone => StreamEnd::ClientGone,
            End::Broken(_) => StreamEnd::Broken,
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

/// The client's body for an upstream stream whose first chunk `first` was
/// already read from `reader`: the same bytes (or their translation), plus
/// a terminal error event if the upstream fails part-way or sends nothing
/// for `idle_ms`.
pub fn sse(first: JsValue, reader: ReadableStreamDefaultReader, relay: Relay) -> Result<ReadableStream, JsValue> {
    let pipe: TransformStream = IdentityTransformStream::new()?.into();
    let writer = pipe.writable().get_writer()?;
    let activity = Activity::new();
    let Relay { request_id, idle_ms, dialect, mut translator, metering, ended: breaker_end } = relay;
    let Metering { meter, rates, prompt_tokens, done } = metering;
    let mut tap = Tap { meter, rates, prompt_tokens, marker: end_marker(dialect), commented: false };
    watch(activity.clone(), reader.clone(), idle_ms);

    super::spawn(Box::pin(async move {
        let end = match write(&writer, &mut translator, &mut tap, &first).await {
            Err(end) => end,
            Ok(()) => pump(&reader, &writer, &activity, &mut translator, &mut tap).await,
        };
        activity.finished.set(true);
        // The watchdog's cancel ends the read one way or the other (done, or
        // rejected): either way the cause is the silence.
        let end = match end {
            End::Finished | End::UpstreamFailed(_) if activity.stalled.get() => End::UpstreamFailed(
                JsValue::from_str(&format!("no data for {idle_ms} ms")),
            ),
            other => other,
        };
        // A translated stream is complete only if its provider's end marker came.
        let rest = match (&end, translator.as_mut(), tap.meter.as_mut()) {
            (End::Finished, Some(t), _) => match t.finish() {
                Ok(rest) => Ok(rest.as_bytes().to_vec()),
                Err(error) => Err(error),
            },
            (End::Finished, None, Some(m)) => Ok(m.finish().unwrap_or_default()),
            _ => Ok(Vec::new()),
        };
        let end = match rest {
            Ok(rest) => {
                let tally = tap.tally(translator.as_ref());
                match send_events(&writer, &rest, tally, &mut tap).await {
                    Ok(()) => end,
                    Err(()) => End::ClientGone,
                }
            }
            Err(error) => End::Broken(error),
        };
        let tally = tap.tally(translator.as_ref());
        // A complete stream whose end event never showed: the comment goes last.
        if let (Some(tally), End::Finished, false) = (&tally, &end, tap.commented) {
            let _ = send_text(&writer, &tally.sse_comment()).await;
        }
        if let Some(tally) = tally {
            let _ = done.send(tally);
        }
        let _ = breaker_end.send(end.plain());
        // The metrics count the stream (and write its log line) with this tally.
        let ended = |how: &str| super::metrics::stream_ended(&request_id, how, tally);
        let error = match end {
            End::Finished => None,
            End::ClientGone => {
                let _ = reader.cancel();
                ended("client_gone");
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
        ended(error.as_ref().map_or("ok", GatewayError::kind));
        if let Some(error) = error {
            worker::console_warn!(
                "{{\"request_id\":\"{request_id}\",\"kind\":\"{}\",\"message\":{:?}}}",
                error.kind(),
                error.message
            );
            let _ = send_text(&writer, &dialect.error_event(&error)).await;
        }
        let _ = JsFuture::from(writer.close()).await;
    }));
    Ok(pipe.readable())
}

/// A stream's usage on the way: the meter of a forwarded stream (a
/// translated one counts in its translator), and whether the usage comment
/// went out (just before the dialect's end event, `marker`).
struct Tap {
    meter: Option<Meter>,
    rates: Option<Rates>,
    prompt_tokens: u64,
    marker: &'static [u8],
    commented: bool,
}

impl Tap {
    /// The usage so far.
    fn tally(&self, translator: Option<&StreamTranslator>) -> Option<Tally> {
        let counter = translator.map(|t| &t.counter).or(self.meter.as_ref().map(|m| &m.counter))?;
        Some(counter.tally(self.prompt_tokens, self.rates.as_ref()))
    }
}

/// Sends whole events; the first time the end event is among them, the
/// usage comment goes just before it.
async fn send_events(writer: &WritableStreamDefaultWriter, events: &[u8], tally: Option<Tally>, tap: &mut Tap) -> Result<(), ()> {
    let at = if tap.commented { None } else { end_event_at(events, tap.marker) };
    match (at, tally) {
        (Some(at), Some(tally)) => {
            tap.commented = true;
            send_bytes(writer, &events[..at]).await?;
            send_text(writer, &tally.sse_comment()).await?;
            send_bytes(writer, &events[at..]).await
        }
        _ => send_bytes(writer, events).await,
    }
}

/// Writes one upstream chunk to the client: as it is, or translated (a
/// chunk may translate to nothing), metered either way.
async fn write(
    writer: &WritableStreamDefaultWriter,
    translator: &mut Option<StreamTranslator>,
    tap: &mut Tap,
    chunk: &JsValue,
) -> Result<(), End> {
    let bytes = Uint8Array::new(chunk).to_vec();
    let Some(t) = translator else {
        let Some(meter) = tap.meter.as_mut() else {
            return JsFuture::from(writer.write_with_chunk(chunk)).await.map(drop).map_err(|_| End::ClientGone);
        };
        meter.observe(&bytes);
        let tally = Some(meter.counter.tally(tap.prompt_tokens, tap.rates.as_ref()));
        let events = match meter.frame(&bytes) {
            Some(events) => events.to_vec(),
            // Whole events as they came: the chunk itself, unless the comment goes into it.
            None if tap.commented || end_event_at(&bytes, tap.marker).is_none() => {
                return JsFuture::from(writer.write_with_chunk(chunk)).await.map(drop).map_err(|_| End::ClientGone);
            }
            None => bytes,
        };
        return send_events(writer, &events, tally, tap).await.map_err(|()| End::ClientGone);
    };
    match t.push(&bytes) {
        Ok(text) => {
            if tap.commented || end_event_at(text.as_bytes(), tap.marker).is_none() {
                return send_text(writer, text).await.map_err(|()| End::ClientGone);
            }
            let text = text.as_bytes().to_vec();
            let tally = tap.tally(Some(t));
            send_events(writer, &text, tally, tap).await.map_err(|()| End::ClientGone)
        }
        Err(error) => {
            // What was translated before the failure still goes out first.
            let pending = t.pending().to_string();
            let _ = send_text(writer, &pending).await;
            Err(End::Broken(error))
        }
    }
}

async fn send_text(writer: &WritableStreamDefaultWriter, text: &str) -> Result<(), ()> {
    send_bytes(writer, text.as_bytes()).await
}

async fn send_bytes(writer: &WritableStreamDefaultWriter, bytes: &[u8]) -> Result<(), ()> {
    if bytes.is_empty() {
        return Ok(());
    }
    let chunk = Uint8Array::from(bytes);
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
    super::spawn(Box::pin(async move {
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
    }));
}

/// Moves chunks from `reader` to `writer` until one side stops.
async fn pump(
    reader: &ReadableStreamDefaultReader,
    writer: &WritableStreamDefaultWriter,
    activity: &Activity,
    translator: &mut Option<StreamTranslator>,
    tap: &mut Tap,
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
        if let Err(end) = write(writer, translator, tap, &step.get_value()).await {
            return end;
        }
    }
}
