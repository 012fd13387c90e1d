//! [`Served`]: a connection under the cap, with a deadline on every answer's progress.
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// The places under `http.max_connections`, shared by all workers.
#[derive(Debug)]
pub struct Slots {
    taken: AtomicUsize,
    cap: usize,
    /// The most taken at once since the last [`Slots::fall_from_peak`].
    peak: AtomicUsize,
}

/// One place under the cap, given back when dropped (when its connection ends).
#[derive(Debug)]
pub struct Slot(Arc<Slots>);

impl Slots {
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(Slots {
            taken: AtomicUsize::new(0),
            cap,
            peak: AtomicUsize::new(0),
        })
    }

    /// A place, unless all `cap` are taken.
    pub fn take(self: &Arc<Self>) -> Option<Slot> {
        let taken = self
            .taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |taken| {
                (taken < self.cap).then_some(taken + 1)
            })
            .ok()?;
        self.peak.fetch_max(taken + 1, Ordering::AcqRel);
        Some(Slot(self.clone()))
    }

    /// How far the places taken fell since the last call: the most taken at once since then,
    /// less those taken now (from which the next peak is counted).
    pub fn fall_from_peak(&self) -> usize {
        let now = self.taken.load(Ordering::Acquire);
        self.peak.swap(now, Ordering::AcqRel).saturating_sub(now)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.taken.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection that holds its [`Slot`] while it lives, and whose writes fail once the client
/// has taken none of the answer's bytes for `write_timeout`: each write that goes through
/// restarts the clock, so a slow but steady reader is served and one that stopped reading
/// (or reads a byte now and then, which never frees socket buffer) gives its place back.
pub struct Served<T> {
    inner: T,
    write_timeout: Duration,
    /// When a blocked write gives up; kept to be reset, not reallocated.
    deadline: Option<Pin<Box<Sleep>>>,
    /// Whether a write is blocked and `deadline` running.
    blocked: bool,
    _slot: Slot,
}

/// Why [`Served`] failed a write (the error inside the `io::Error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct AnswerNotTaken;

impl std::fmt::Display for AnswerNotTaken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the client took none of the answer within http.client_write_timeout_ms")
    }
}

impl std::error::Error for AnswerNotTaken {}

impl<T> Served<T> {
    pub fn new(inner: T, slot: Slot, write_timeout: Duration) -> Self {
        Served {
            inner,
            write_timeout,
            deadline: None,
            blocked: false,
            _slot: slot,
        }
    }

    /// The connection inside.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// After a write or flush: progress (or an error) stops the clock, a blocked one starts it
    /// if it is not running; an error once it ran out, else the task is woken when it does.
    fn progress<R>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        if polled.is_ready() {
            self.blocked = false;
            return polled;
        }
        if !self.blocked {
            let at = tokio::time::Instant::now() + self.write_timeout;
            match &mut self.deadline {
                Some(deadline) => deadline.as_mut().reset(at),
                None => self.deadline = Some(Box::pin(tokio::time::sleep_until(at))),
            }
            self.blocked = true;
        }
        let deadline = self.deadline.as_mut().expect("set when blocked");
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, AnswerNotTaken)))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Served<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Served<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.progress(cx, polled)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.progress(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.progress(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_more_slots_than_the_cap_are_taken_and_a_dropped_one_is_given_back() {
        let slots = Slots::new(2);
        let first = slots.take().expect("a first slot");
        let _second = slots.take().expect("a second slot");

        assert!(slots.take().is_none(), "a third slot with a cap of 2");
        drop(first);
        assert!(slots.take().is_some(), "the dropped slot is free again");
    }

    #[test]
    fn the_fall_from_peak_counts_the_places_given_back_since_the_last_look() {
        let slots = Slots::new(10);
        let mut held: Vec<Slot> = (0..5).filter_map(|_| slots.take()).collect();
        held.truncate(2);

        assert_eq!(slots.fall_from_peak(), 3, "5 at once, 2 now");
        assert_eq!(slots.fall_from_peak(), 0, "counted from 2 again");
        held.clear();
        assert_eq!(slots.fall_from_peak(), 2);
    }
}
