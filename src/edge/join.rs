//! [`all`]: awaits a list of futures together, their outputs in list order.
//!
//! `futures::future::join_all` would do the same, but it switches to
//! `FuturesOrdered` (with `FuturesUnordered` and a `BinaryHeap`) above 30
//! futures, and that code, copied for each caller's future type, was ~10 KB
//! of the Worker for lists that hold a few futures (the request's limit
//! checks, the balanced split's loads, the status page's and the metrics'
//! object peeks). Every pending future is polled on each wake, as
//! `join_all` does for short lists.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;

/// Every future of `futures`, run together; their outputs in order.
pub async fn all<I>(futures: I) -> Vec<<I::Item as Future>::Output>
where
    I: IntoIterator,
    I::Item: Future,
{
    let mut pending: Vec<Pin<Box<I::Item>>> = Vec::new();
    for future in futures {
        pending.push(Box::pin(future));
    }
    let mut done: Vec<Option<<I::Item as Future>::Output>> = Vec::with_capacity(pending.len());
    done.resize_with(pending.len(), || None);
    poll_fn(|cx| {
        let mut ready = true;
        for (future, slot) in pending.iter_mut().zip(done.iter_mut()) {
            if slot.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(output) => *slot = Some(output),
                    Poll::Pending => ready = false,
                }
            }
        }
        if ready {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    let mut outputs = Vec::with_capacity(done.len());
    for output in done.into_iter().flatten() {
        outputs.push(output);
    }
    outputs
}
