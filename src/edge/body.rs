//! Reading a request body without ever holding more than the limit.
//!
//! With a `Content-Length` (already checked against the limit by the gate;
//! the runtime guarantees the body matches it) the body is read in one
//! `arrayBuffer()` promise. Without one (chunked uploads) it is read chunk
//! by chunk and refused with 413 as soon as the running total passes the
//! limit.

use super::proxy::describe;
use crate::error::{Fault, GatewayError};
use crate::gate::body_too_large;
use js_sys::Uint8Array;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{ReadableStreamDefaultReader, ReadableStreamReadResult, Request};

/// The whole body of `req`, at most `limit` bytes.
pub async fn read(req: &Request, has_length: bool, limit: usize) -> Result<Vec<u8>, GatewayError> {
    if has_length {
        let buffer = JsFuture::from(req.array_buffer().map_err(unreadable)?).await.map_err(unreadable)?;
        let view = Uint8Array::new(&buffer);
        return if view.length() as usize > limit { Err(body_too_large(limit)) } else { Ok(view.to_vec()) };
    }
    // No body at all.
    let Some(stream) = req.body() else { return Ok(Vec::new()) };
    let reader: ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    let mut body = Vec::new();
    loop {
        let step: ReadableStreamReadResult = JsFuture::from(reader.read()).await.map_err(unreadable)?.unchecked_into();
        if step.get_done().unwrap_or(false) {
            return Ok(body);
        }
        let chunk = Uint8Array::new(&step.get_value());
        let start = body.len();
        if start + chunk.length() as usize > limit {
            let _ = reader.cancel();
            return Err(body_too_large(limit));
        }
        body.resize(start + chunk.length() as usize, 0);
        chunk.copy_to(&mut body[start..]);
    }
}

fn unreadable(error: JsValue) -> GatewayError {
    // A client that disconnects or sends a broken body is at fault, not us.
    GatewayError::new(
        Fault::BadRequest,
        format!("The request body could not be read: {}", describe(&error)),
    )
}
