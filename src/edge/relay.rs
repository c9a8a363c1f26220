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
//! - upstream fails (reset, cut mid-body): one terminal
//!   `data: {"error":...}` event, then close;
//! - the client goes away (a write fails): cancel the upstream read, so the
//!   provider stops generating.
//!
//! Each write is awaited, so a slow client slows the upstream read instead
//! of filling memory. The price is one wake of the isolate per chunk; see
//! bench/README.md for what it costs.

use crate::error::{Fault, GatewayError};
use crate::sse;
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
}

/// The client's body for an upstream stream whose first chunk `first` was
/// already read from `reader`: the same bytes, plus a terminal error event
/// if the upstream fails part-way.
pub fn sse(
    first: JsValue,
    reader: ReadableStreamDefaultReader,
    request_id: String,
) -> Result<ReadableStream, JsValue> {
    let pipe: TransformStream = IdentityTransformStream::new()?.into();
    let writer = pipe.writable().get_writer()?;

    spawn_local(async move {
        let end = if JsFuture::from(writer.write_with_chunk(&first)).await.is_err() {
            End::ClientGone
        } else {
            pump(&reader, &writer).await
        };
        match end {
            End::Finished => {}
            End::ClientGone => {
                let _ = reader.cancel();
                return;
            }
            End::UpstreamFailed(failure) => {
                let error = GatewayError::new(
                    Fault::UpstreamIncomplete,
                    format!(
                        "The upstream provider's stream failed part-way ({}); the response is incomplete.",
                        super::proxy::describe(&failure)
                    ),
                );
                worker::console_warn!(
                    "{{\"request_id\":\"{request_id}\",\"kind\":\"{}\",\"message\":{:?}}}",
                    error.kind(),
                    error.message
                );
                let event = Uint8Array::from(sse::error_event(&error).as_bytes());
                let _ = JsFuture::from(writer.write_with_chunk(&event)).await;
            }
        }
        let _ = JsFuture::from(writer.close()).await;
    });
    Ok(pipe.readable())
}

/// Moves chunks from `reader` to `writer` until one side stops.
async fn pump(reader: &ReadableStreamDefaultReader, writer: &WritableStreamDefaultWriter) -> End {
    loop {
        let step: ReadableStreamReadResult = match JsFuture::from(reader.read()).await {
            Ok(step) => step.unchecked_into(),
            Err(failure) => return End::UpstreamFailed(failure),
        };
        if step.get_done().unwrap_or(false) {
            return End::Finished;
        }
        if JsFuture::from(writer.write_with_chunk(&step.get_value()))
            .await
            .is_err()
        {
            return End::ClientGone;
        }
    }
}
