//! [`CappedHead`]: the socket wrapper that caps and times every HTTP/1 request head.
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use super::pacer::Pacer;

/// A connection whose reads fail once a request head (request line and headers, up to the
/// blank line that ends it, `\r\n\r\n` or with bare line feeds) grows past `cap` bytes,
/// however the bytes are split into reads, or takes longer than `timeout` from its first byte. So a client can neither
/// make the server buffer more than `cap` bytes of a head nor hold the connection by sending
/// a head slowly: actix-http times only a connection's first head. (Request bodies count as
/// a head too: this API takes none.)
///
/// Its reads are paced by its [`Pacer`]: a head that may not be handed on yet stays in the
/// socket, or in `held` when it came in one read with the heads before it.
pub struct CappedHead<T> {
    inner: T,
    cap: usize,
    /// Bytes since the last end of a head.
    since_head_end: usize,
    /// How far the unfinished head's last bytes went into a blank line.
    tail: Tail,
    timeout: Duration,
    /// When the unfinished head must be complete; `None` between heads.
    deadline: Option<Pin<Box<Sleep>>>,
    /// Whether `deadline` is running (the timer is kept to be reset, not reallocated).
    deadline_armed: bool,
    pacer: Arc<Pacer>,
    /// Heads handed on so far.
    delivered: u64,
    /// Bytes read past the last head that could be handed on, to be handed on first.
    held: Vec<u8>,
}

/// What one read did to the heads being received.
#[derive(Debug, PartialEq, Eq)]
enum Scan {
    /// A head is longer than the cap.
    TooLong,
    /// Within the cap: `ended` heads ended in the first `handed` bytes, which may be handed on.
    Within { ended: u64, handed: usize },
}

/// How far the bytes so far went into the blank line that ends a head, as actix-http's parser
/// (httparse) reads it: a line feed, then a line feed alone or after a carriage return (`\n\n`,
/// `\n\r\n`), so bare line feeds count as CRLF does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tail {
    Other,
    /// A line feed.
    Lf,
    /// A line feed, then a carriage return.
    LfCr,
}

impl Tail {
    /// The tail after `bytes` (which end no head) follow this one.
    fn after(self, bytes: &[u8]) -> Tail {
        match bytes {
            [] => self,
            [.., b'\n'] => Tail::Lf,
            [.., b'\n', b'\r'] => Tail::LfCr,
            [b'\r'] if self == Tail::Lf => Tail::LfCr,
            _ => Tail::Other,
        }
    }

    /// Where a blank line begun in this tail ends in the `bytes` that follow, if it does.
    fn ends_in(self, bytes: &[u8]) -> Option<usize> {
        match (self, bytes) {
            (Tail::Lf, [b'\n', ..]) | (Tail::LfCr, [b'\n', ..]) => Some(1),
            (Tail::Lf, [b'\r', b'\n', ..]) => Some(2),
            _ => None,
        }
    }
}

/// Just past the blank line that starts at the line feed at `lf`, if `bytes` complete it.
fn blank_line_end(bytes: &[u8], lf: usize) -> Option<usize> {
    Tail::Lf.ends_in(&bytes[lf + 1..]).map(|end| lf + 1 + end)
}

/// Where heads end in `bytes` (just past each blank line), found with `memchr`, the first
/// perhaps in a blank line begun in the `tail` of earlier reads.
fn head_ends(tail: Tail, bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let mut straddling = tail.ends_in(bytes);
    let mut from = straddling.unwrap_or(0);
    std::iter::from_fn(move || {
        if let Some(end) = straddling.take() {
            return Some(end);
        }
        loop {
            let lf = from + memchr::memchr(b'\n', &bytes[from..])?;
            if let Some(end) = blank_line_end(bytes, lf) {
                from = end;
                return Some(end);
            }
            from = lf + 1;
        }
    })
}

impl<T> CappedHead<T> {
    /// `cap` and `timeout` as [`CappedHead`] says.
    pub fn new(inner: T, cap: usize, timeout: Duration) -> Self {
        CappedHead {
            inner,
            cap,
            since_head_end: 0,
            tail: Tail::Other,
            timeout,
            deadline: None,
            deadline_armed: false,
            pacer: Pacer::new(),
            delivered: 0,
            held: Vec::new(),
        }
    }

    /// What the service in front of the app tells when it takes a request.
    pub fn pacer(&self) -> Arc<Pacer> {
        self.pacer.clone()
    }

    /// Measures every head in `bytes` against the cap; at most `allowed` heads may end in what
    /// is handed on: of the next, all but its last byte is, so that actix-http has a request's
    /// body (which comes before the next head) but cannot parse that head yet.
    fn scan(&mut self, bytes: &[u8], allowed: u64) -> Scan {
        let mut start = 0;
        let mut ended = 0;
        let mut handed = bytes.len();
        for end in head_ends(self.tail, bytes) {
            if self.since_head_end + (end - start) > self.cap {
                return Scan::TooLong;
            }
            if ended == allowed {
                handed = end - 1;
                break;
            }
            self.since_head_end = 0;
            self.tail = Tail::Other;
            start = end;
            ended += 1;
        }
        let rest = &bytes[start..handed];
        self.since_head_end += rest.len();
        if self.since_head_end > self.cap {
            return Scan::TooLong;
        }
        self.tail = self.tail.after(rest);
        Scan::Within { ended, handed }
    }

    /// Starts the head's deadline when a head begins (or a new one begins in the same read as
    /// the last one ended); stops it between heads.
    fn time_head(&mut self, ended: bool) {
        if self.since_head_end == 0 {
            self.deadline_armed = false;
        } else if ended || !self.deadline_armed {
            let at = tokio::time::Instant::now() + self.timeout;
            match &mut self.deadline {
                Some(deadline) => deadline.as_mut().reset(at),
                None => self.deadline = Some(Box::pin(tokio::time::sleep_until(at))),
            }
            self.deadline_armed = true;
        }
    }

    /// Whether the unfinished head is past its deadline; otherwise the task is woken at it.
    fn head_overdue(&mut self, cx: &mut Context<'_>) -> bool {
        match &mut self.deadline {
            Some(deadline) if self.deadline_armed => deadline.as_mut().poll(cx).is_ready(),
            _ => false,
        }
    }
}

/// Why [`CappedHead`] failed a read (the error inside the `io::Error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HeadRefused {
    TooLong,
    TooSlow,
}

impl std::fmt::Display for HeadRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HeadRefused::TooLong => "request head longer than http.max_request_head_bytes",
            HeadRefused::TooSlow => {
                "request head not complete within http.client_request_timeout_ms"
            }
        })
    }
}

impl std::error::Error for HeadRefused {}

impl<T: AsyncRead + Unpin> AsyncRead for CappedHead<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.head_overdue(cx) {
            let error = io::Error::new(io::ErrorKind::TimedOut, HeadRefused::TooSlow);
            return Poll::Ready(Err(error));
        }
        let allowed = this.pacer.heads_allowed(this.delivered);
        let before = buf.filled().len();
        let from_held = !this.held.is_empty();
        if from_held {
            if allowed == 0 {
                this.pacer.wake_when_allowed(this.delivered, cx);
                return Poll::Pending;
            }
            let count = this.held.len().min(buf.remaining());
            buf.put_slice(&this.held[..count]);
        } else {
            // Read even when no head may be handed on: most often nothing is there, and the
            // socket, not the pacer, wakes the task (no extra poll per request).
            ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        }
        let read = &buf.filled()[before..];
        let (ended, handed) = match this.scan(read, allowed) {
            Scan::TooLong => {
                let error = io::Error::new(io::ErrorKind::InvalidData, HeadRefused::TooLong);
                return Poll::Ready(Err(error));
            }
            Scan::Within { ended, handed } => (ended, handed),
        };
        if handed == 0 && !read.is_empty() {
            // Not even part of a head may be handed on (no bytes would read as the end).
            if !from_held {
                this.held = read.to_vec();
            }
            buf.set_filled(before);
            this.pacer.wake_when_allowed(this.delivered, cx);
            return Poll::Pending;
        }
        if from_held {
            this.held.drain(..handed);
            if this.held.is_empty() {
                this.held = Vec::new();
            }
        } else if handed < read.len() {
            this.held = read[handed..].to_vec();
        }
        buf.set_filled(before + handed);
        this.delivered += ended;
        this.time_head(ended > 0);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for CappedHead<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capped(cap: usize) -> CappedHead<()> {
        CappedHead::new((), cap, Duration::from_secs(5))
    }

    /// Refused as too long.
    const REFUSED: Option<u64> = None;

    /// How many heads end in `bytes`, read with no pacing (all handed on); [`REFUSED`].
    fn scan(capped: &mut CappedHead<()>, bytes: &[u8]) -> Option<u64> {
        match capped.scan(bytes, u64::MAX) {
            Scan::TooLong => REFUSED,
            Scan::Within { ended, handed } => {
                assert_eq!(handed, bytes.len(), "unpaced, every byte is handed on");
                Some(ended)
            }
        }
    }

    #[test]
    fn a_head_is_counted_until_its_blank_line_even_when_split_across_reads() {
        let mut capped = capped(20);

        assert_eq!(scan(&mut capped, b"GET / HTTP/1.1\r\n\r"), Some(0));
        assert_eq!(
            scan(&mut capped, b"\n"),
            Some(1),
            "the blank line ends the head"
        );
        assert_eq!(scan(&mut capped, b"GET /next HTTP/1.1\r\n"), Some(0));
        assert_eq!(
            scan(&mut capped, b"X"),
            REFUSED,
            "21 bytes without a blank line"
        );
    }

    #[test]
    fn a_blank_line_split_byte_by_byte_ends_the_head() {
        let mut capped = capped(24);

        assert_eq!(scan(&mut capped, b"GET / HTTP/1.1"), Some(0));
        for byte in [b"\r", b"\n", b"\r"] {
            assert_eq!(scan(&mut capped, byte), Some(0));
        }
        assert_eq!(scan(&mut capped, b"\n"), Some(1));
        assert_eq!(capped.since_head_end, 0);
    }

    #[test]
    fn the_blank_line_of_one_head_does_not_end_the_next() {
        let mut capped = capped(100);

        assert_eq!(scan(&mut capped, b"GET / HTTP/1.1\r\n\r\n"), Some(1));
        assert_eq!(
            scan(&mut capped, b"\r\n"),
            Some(0),
            "a lone CRLF after a head"
        );
        assert_eq!(capped.since_head_end, 2);
    }

    #[test]
    fn a_head_over_the_cap_is_refused_even_when_it_ends_in_the_same_read() {
        let long = format!("GET / HTTP/1.1\r\nX-Pad: {}\r\n\r\n", "a".repeat(32_000));

        assert_eq!(scan(&mut capped(16 * 1024), long.as_bytes()), REFUSED);
    }

    #[test]
    fn each_of_several_heads_in_one_read_is_measured_on_its_own() {
        let head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let three = head.repeat(3);

        assert_eq!(scan(&mut capped(head.len()), &three), Some(3));
        let mut longer = three.clone();
        longer.extend_from_slice(&head[..head.len() - 4]);
        longer.extend_from_slice(b"Y: z\r\n\r\n");
        assert_eq!(scan(&mut capped(head.len()), &longer), REFUSED);
    }

    #[test]
    fn a_head_of_exactly_the_cap_is_accepted() {
        let head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

        assert_eq!(scan(&mut capped(head.len()), head), Some(1));
        assert_eq!(scan(&mut capped(head.len() - 1), head), REFUSED);
    }

    #[test]
    fn a_paced_read_hands_on_all_but_the_last_byte_of_the_first_head_past_the_allowance() {
        let head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut capped = capped(head.len());

        assert_eq!(
            capped.scan(&head.repeat(3), 1),
            Scan::Within {
                ended: 1,
                handed: 2 * head.len() - 1
            }
        );
        assert_eq!(
            capped.since_head_end,
            head.len() - 1,
            "the second unfinished"
        );
        assert_eq!(scan(&mut capped, b"\n"), Some(1), "its last byte ends it");
    }

    #[test]
    fn heads_ended_by_bare_line_feeds_count_as_actix_http_parses_them() {
        let mut capped = capped(100);

        assert_eq!(
            scan(
                &mut capped,
                b"GET / HTTP/1.1\n\nGET / HTTP/1.1\nHost: x\n\r\n"
            ),
            Some(2)
        );
        assert_eq!(scan(&mut capped, b"GET / HTTP/1.1\r\nHost: x\n"), Some(0));
        assert_eq!(scan(&mut capped, b"\r"), Some(0));
        assert_eq!(
            scan(&mut capped, b"\n"),
            Some(1),
            "\\n|\\r|\\n across reads"
        );
        assert_eq!(
            scan(&mut capped, b"\r\nGET / HTTP/1.1\r\n"),
            Some(0),
            "a blank line between requests ends no head"
        );
    }

    /// A read of `capped` polled once, with a waker that counts its wakes.
    fn read_once<T: AsyncRead + Unpin>(
        capped: &mut CappedHead<T>,
        woken: &Arc<Woken>,
    ) -> Poll<io::Result<Vec<u8>>> {
        let waker = std::task::Waker::from(woken.clone());
        let mut space = [0u8; 4096];
        let mut buf = ReadBuf::new(&mut space);
        Pin::new(capped)
            .poll_read(&mut Context::from_waker(&waker), &mut buf)
            .map_ok(|()| buf.filled().to_vec())
    }

    #[derive(Default)]
    struct Woken(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Woken {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// Complete request heads in `bytes`.
    fn complete_heads(bytes: &[u8]) -> usize {
        head_ends(Tail::Other, bytes).count()
    }

    #[tokio::test]
    async fn pipelined_heads_are_handed_on_one_at_a_time_as_the_app_takes_them() {
        let head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
        let three = Parts([head.repeat(3)].into());
        let mut capped = CappedHead::new(three, 2048, Duration::from_secs(5));
        let woken = Arc::new(Woken::default());
        let mut handed = Vec::new();
        let mut read = |capped: &mut CappedHead<Parts>| match read_once(capped, &woken) {
            Poll::Ready(Ok(bytes)) => {
                handed.extend_from_slice(&bytes);
                Some(complete_heads(&handed))
            }
            Poll::Ready(Err(error)) => panic!("{error}"),
            Poll::Pending => None,
        };

        assert_eq!(read(&mut capped), Some(1), "the first head");
        assert_eq!(read(&mut capped), None, "the first not yet taken");

        capped.pacer().request_taken();
        assert_eq!(read(&mut capped), Some(2), "one more once it is taken");
        assert_eq!(read(&mut capped), None);

        capped.pacer().request_taken();
        assert_eq!(read(&mut capped), Some(3));
        assert_eq!(handed, head.repeat(3), "every byte, in order");
        assert_eq!(capped.held.capacity(), 0, "nothing kept");
        assert_eq!(
            woken.0.load(std::sync::atomic::Ordering::SeqCst),
            2,
            "woken per take"
        );
    }

    /// A connection that hands out `parts` one per read, then the end.
    struct Parts(std::collections::VecDeque<Vec<u8>>);

    impl AsyncRead for Parts {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            if let Some(part) = self.get_mut().0.pop_front() {
                buf.put_slice(&part);
            }
            Poll::Ready(Ok(()))
        }
    }

    /// Reads `head` through a 2,048-byte cap in two reads split at `at`: whether it was refused.
    async fn refused_when_split(head: &[u8], at: usize) -> bool {
        use tokio::io::AsyncReadExt;
        let parts = [head[..at].to_vec(), head[at..].to_vec()];
        let mut capped = CappedHead::new(Parts(parts.into()), 2048, Duration::from_secs(5));
        let mut buf = vec![0u8; 4096];
        loop {
            match capped.read(&mut buf).await {
                Ok(0) => return false,
                // As the app would take each head handed on.
                Ok(_) => capped.pacer().request_taken(),
                Err(error) => {
                    let cause = error
                        .get_ref()
                        .and_then(|e| e.downcast_ref::<HeadRefused>());
                    assert_eq!(cause, Some(&HeadRefused::TooLong), "{error}");
                    return true;
                }
            }
        }
    }

    /// A complete head of exactly `length` bytes.
    fn head_of(length: usize) -> Vec<u8> {
        let mut head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ".to_vec();
        head.resize(length - 4, b'a');
        head.extend_from_slice(b"\r\n\r\n");
        head
    }

    #[tokio::test]
    async fn a_head_over_the_cap_is_refused_however_it_is_split_into_reads() {
        let over = head_of(3000);
        let exact = head_of(2048);

        for at in [1, 40, 1500, 2047, 2048, 2049, 2996, 2997, 2999] {
            assert!(
                refused_when_split(&over, at).await,
                "3,000 bytes split at {at}"
            );
        }
        for at in [1, 1500, 2044, 2045, 2047] {
            assert!(
                !refused_when_split(&exact, at).await,
                "2,048 bytes split at {at}"
            );
        }
    }
}
