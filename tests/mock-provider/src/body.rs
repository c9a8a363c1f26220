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
//! - how it ends ([`End`]): cleanly; with an abort (the body yields an
//!   error, which makes hyper drop the connection without finishing the
//!   message: no terminating chunk, or fewer bytes than the declared
//!   `content-length`); or with a stall (the body never yields again and
//!   never ends, the connection stays open until the client gives up).
//!
//! [`shaped_json`] and [`shaped_stream`] apply the timing directives and the
//! `malformed`/`cut`/`stall` faults to any wire format's answer.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

use crate::faults::{Directives, Fault};

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

/// How a body of parts ends after its last part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// A clean end of the message.
    Clean,
    /// An error: hyper drops the connection mid-message.
    Abort,
    /// Silence: no more bytes and no end, until the client goes away.
    Stall,
}

struct Parts {
    parts: Vec<Bytes>,
    next: usize,
    gap: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    yield_before_next: bool,
    end: End,
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
    /// body is chunked); `end` says what follows the last part.
    pub fn parts(
        parts: Vec<Bytes>,
        first_delay: Duration,
        gap: Duration,
        declared_len: Option<u64>,
        end: End,
    ) -> MockBody {
        MockBody(Kind::Parts(Box::new(Parts {
            parts,
            next: 0,
            gap,
            sleep: (!first_delay.is_zero()).then(|| Box::pin(tokio::time::sleep(first_delay))),
            yield_before_next: false,
            end,
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
            return match self.end {
                End::Clean => Poll::Ready(None),
                End::Abort => Poll::Ready(Some(Err(Aborted))),
                // Never woken: hyper polls again only when the client goes
                // away (and then drops the body).
                End::Stall => Poll::Pending,
            };
        };
        self.next += 1;
        let more = self.next < self.parts.len();
        if more && !self.gap.is_zero() {
            self.sleep = Some(Box::pin(tokio::time::sleep(self.gap)));
        } else if more || self.end != End::Clean {
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
                p.end == End::Clean
                    && p.sleep.is_none()
                    && !p.yield_before_next
                    && p.next >= p.parts.len()
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

/// A JSON answer shaped by `ttfb_ms` and the body faults: `malformed` sends
/// half of it with a matching `content-length`; `cut` sends half with the
/// full `content-length` and aborts; `stall` sends half with the full
/// `content-length` and then nothing.
pub fn shaped_json(bytes: Bytes, d: &Directives) -> MockBody {
    let ttfb = d.ttfb();
    let len = bytes.len() as u64;
    let half = || bytes.slice(..bytes.len() / 2);
    let (part, declared, end) = match d.fault() {
        Fault::None | Fault::Reset if ttfb.is_zero() => return MockBody::full(bytes),
        Fault::None | Fault::Reset => (bytes.clone(), len, End::Clean),
        Fault::Malformed => {
            let half = half();
            let half_len = half.len() as u64;
            (half, half_len, End::Clean)
        }
        Fault::Cut => (half(), len, End::Abort),
        Fault::Stall => (half(), len, End::Stall),
    };
    MockBody::parts(vec![part], ttfb, Duration::ZERO, Some(declared), end)
}

/// A stream of events (the last one its terminator) shaped by `ttfb_ms`,
/// `chunk_delay_ms` and the body faults: `malformed` inserts the format's
/// invalid event after the first one; `cut` and `stall` keep the first
/// event and `cut_after` more (never the terminator), then abort or fall
/// silent.
pub fn shaped_stream(
    mut events: Vec<Bytes>,
    d: &Directives,
    malformed: impl FnOnce() -> Bytes,
) -> MockBody {
    let mut end = End::Clean;
    match d.fault() {
        Fault::Malformed => events.insert(1.min(events.len()), malformed()),
        Fault::Cut | Fault::Stall => {
            let keep = (1 + d.cut_after() as usize).min(events.len().saturating_sub(1));
            events.truncate(keep);
            end = if d.fault() == Fault::Cut {
                End::Abort
            } else {
                End::Stall
            };
        }
        Fault::None | Fault::Reset => {}
    }
    MockBody::parts(events, d.ttfb(), d.chunk_delay(), None, end)
}
