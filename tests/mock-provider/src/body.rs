//! Response bodies: a whole body in one frame, or a timed sequence of parts.
//!
//! [`MockBody`] is what every handler returns. The common case (a small JSON
//! answer with no timing directive) is a single frame with no allocation
//! beyond its bytes. Streams and delayed or faulty bodies are a list of
//! parts sent one frame at a time:
//!
//! - an optional delay before the first part (`ttfb_ms`): hyper flushes the
//!   response headers while the body is waiting;
//! - an optional delay between parts (`chunk_delay_ms`);
//! - after each part the body returns `Pending` once (waking itself), which
//!   makes hyper flush what it has, so every part leaves in its own write and
//!   a client sees events arrive one by one;
//! - an optional abort at the end: the body yields an error, which makes
//!   hyper drop the connection without finishing the message (no terminating
//!   chunk, or fewer bytes than the declared `content-length`).

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

/// The error a body yields to abort its connection on purpose.
#[derive(Debug)]
pub struct Aborted;

impl fmt::Display for Aborted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("mock-provider aborted the response body on purpose")
    }
}

impl Error for Aborted {}

/// A response body; see the module documentation.
pub struct MockBody(Kind);

enum Kind {
    Full(Option<Bytes>),
    Parts(Box<Parts>),
}

struct Parts {
    parts: Vec<Bytes>,
    next: usize,
    gap: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    yield_before_next: bool,
    abort: bool,
    /// The declared length, for `content-length`; `None` means chunked.
    declared_len: Option<u64>,
}

impl MockBody {
    /// A whole body sent at once.
    pub fn full(bytes: impl Into<Bytes>) -> MockBody {
        MockBody(Kind::Full(Some(bytes.into())))
    }

    /// An empty body.
    pub fn empty() -> MockBody {
        MockBody(Kind::Full(None))
    }

    /// A body sent as `parts`, one write each.
    ///
    /// `declared_len` is sent as `content-length` when set (otherwise the
    /// body is chunked); `abort` ends the body with an error instead of a
    /// clean end.
    pub fn parts(
        parts: Vec<Bytes>,
        first_delay: Duration,
        gap: Duration,
        declared_len: Option<u64>,
        abort: bool,
    ) -> MockBody {
        MockBody(Kind::Parts(Box::new(Parts {
            parts,
            next: 0,
            gap,
            sleep: (!first_delay.is_zero()).then(|| Box::pin(tokio::time::sleep(first_delay))),
            yield_before_next: false,
            abort,
            declared_len,
        })))
    }
}

impl Parts {
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Aborted>>> {
        if let Some(sleep) = self.sleep.as_mut() {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.sleep = None;
        }
        if self.yield_before_next {
            // Let hyper flush the previous part before this one is produced.
            self.yield_before_next = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let Some(part) = self.parts.get(self.next).cloned() else {
            return Poll::Ready(self.abort.then_some(Err(Aborted)));
        };
        self.next += 1;
        let more = self.next < self.parts.len();
        if more && !self.gap.is_zero() {
            self.sleep = Some(Box::pin(tokio::time::sleep(self.gap)));
        } else if more || self.abort {
            self.yield_before_next = true;
        }
        Poll::Ready(Some(Ok(Frame::data(part))))
    }
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = Aborted;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Aborted>>> {
        match &mut self.get_mut().0 {
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Parts(parts) => parts.poll_next(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Kind::Full(bytes) => bytes.is_none(),
            Kind::Parts(p) => {
                !p.abort && p.sleep.is_none() && !p.yield_before_next && p.next >= p.parts.len()
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Parts(p) => match p.declared_len {
                Some(n) => SizeHint::with_exact(n),
                None => SizeHint::new(),
            },
        }
    }
}
