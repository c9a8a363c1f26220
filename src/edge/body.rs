//! Reading a request body without ever holding more than the limit.
//!
//! With a `Content-Length` (already checked against the limit by the gate;
//! the runtime guarantees the body matches it) the body is read in one go.
//! Without one (chunked uploads) it is read chunk by chunk and refused with
//! 413 as soon as the running total passes the limit.

use crate::error::{Fault, GatewayError};
use crate::gate::body_too_large;
use futures::StreamExt;
use worker::Request;

/// The whole body of `req`, at most `limit` bytes.
pub async fn read(
    req: &mut Request,
    has_length: bool,
    limit: usize,
) -> Result<Vec<u8>, GatewayError> {
    if has_length {
        let bytes = req.bytes().await.map_err(unreadable)?;
        return if bytes.len() > limit {
            Err(body_too_large(limit))
        } else {
            Ok(bytes)
        };
    }
    let mut stream = match req.stream() {
        Ok(stream) => stream,
        // No body at all.
        Err(_) => return Ok(Vec::new()),
    };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(unreadable)?;
        if body.len() + chunk.len() > limit {
            return Err(body_too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn unreadable(error: worker::Error) -> GatewayError {
    // A client that disconnects or sends a broken body is at fault, not us.
    GatewayError::new(
        Fault::BadRequest,
        format!("The request body could not be read: {error}"),
    )
}
