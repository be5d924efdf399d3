//! [`Duplex`]: a session's two ends in one object. The session reads and writes one socket from
//! one task, so it takes a single `Sink + Stream` (the WebSocket itself), not halves split behind
//! a lock: `split()`'s lock was taken twice per frame written (docs/benchmarks.md, "Issue #10,
//! round 5"). Callers whose ends are separate anyway (the gRPC bridge's channels, tests) join
//! them here.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use futures_util::{Sink, Stream};

/// A sink and a stream as one `Sink + Stream`.
#[derive(Debug)]
pub struct Duplex<S, R> {
    pub sink: S,
    pub stream: R,
}

impl<S: Sink<M> + Unpin, R: Unpin, M> Sink<M> for Duplex<S, R> {
    type Error = S::Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        Pin::new(&mut self.get_mut().sink).poll_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: M) -> Result<(), S::Error> {
        Pin::new(&mut self.get_mut().sink).start_send(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        Pin::new(&mut self.get_mut().sink).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        Pin::new(&mut self.get_mut().sink).poll_close(cx)
    }
}

impl<S: Unpin, R: Stream + Unpin> Stream for Duplex<S, R> {
    type Item = R::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<R::Item>> {
        Pin::new(&mut self.get_mut().stream).poll_next(cx)
    }
}
