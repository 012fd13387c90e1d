//! [`CappedHead`]: the socket wrapper that caps and times every HTTP/1 request head.
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use super::pacer::Pacer;

/// A connection whose reads fail once a request head (request line and headers, up to the
/// blank line `\r\n\r\n` that ends it) grows past `cap` bytes, however the bytes are split
/// into reads, or takes longer than `timeout` from its first byte. So a client can neither
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
    /// The last bytes (up to 3) of the unfinished head, for a blank line split across reads.
    carried: [u8; 3],
    carried_len: usize,
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

const HEAD_END: &[u8] = b"\r\n\r\n";
/// Built once: building a `memmem` searcher for every read cost about as much as the search.
static HEAD_END_FINDER: LazyLock<memchr::memmem::Finder<'static>> =
    LazyLock::new(|| memchr::memmem::Finder::new(HEAD_END));

/// Where heads end in `bytes` (just past each blank line), found with `memmem`; a blank line
/// begun in the `carried` bytes of earlier reads ends within the first 3.
fn head_ends<'a>(carried: &[u8], bytes: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    let first = bytes.len().min(HEAD_END.len() - 1);
    let mut joined = [0u8; 6];
    joined[..carried.len()].copy_from_slice(carried);
    joined[carried.len()..carried.len() + first].copy_from_slice(&bytes[..first]);
    // At most 3 places to look: no searcher needed.
    let straddling = joined[..carried.len() + first]
        .windows(HEAD_END.len())
        .position(|window| window == HEAD_END)
        .map(|at| at + HEAD_END.len() - carried.len());
    let from = straddling.unwrap_or(0);
    straddling.into_iter().chain(
        HEAD_END_FINDER
            .find_iter(&bytes[from..])
            .map(move |at| from + at + HEAD_END.len()),
    )
}

impl<T> CappedHead<T> {
    /// `cap` and `timeout` as [`CappedHead`] says.
    pub fn new(inner: T, cap: usize, timeout: Duration) -> Self {
        CappedHead {
            inner,
            cap,
            since_head_end: 0,
            carried: [0; 3],
            carried_len: 0,
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

    /// Measures every head in `bytes` against the cap, up to the end of the `allowed`-th.
    fn scan(&mut self, bytes: &[u8], allowed: u64) -> Scan {
        let cap = self.cap;
        let carried = self.carried;
        let mut start = 0;
        let mut ended = 0;
        for end in head_ends(&carried[..self.carried_len], bytes) {
            if self.since_head_end + (end - start) > cap {
                return Scan::TooLong;
            }
            self.since_head_end = 0;
            self.carried_len = 0;
            start = end;
            ended += 1;
            if ended == allowed {
                return Scan::Within { ended, handed: end };
            }
        }
        let rest = &bytes[start..];
        self.since_head_end += rest.len();
        if self.since_head_end > cap {
            return Scan::TooLong;
        }
        self.carry(rest);
        Scan::Within {
            ended,
            handed: bytes.len(),
        }
    }

    /// Keeps the last bytes (up to 3) of the unfinished head.
    fn carry(&mut self, rest: &[u8]) {
        let keep = HEAD_END.len() - 1;
        if rest.len() >= keep {
            self.carried.copy_from_slice(&rest[rest.len() - keep..]);
            self.carried_len = keep;
            return;
        }
        let mut joined = [0u8; 6];
        joined[..self.carried_len].copy_from_slice(&self.carried[..self.carried_len]);
        joined[self.carried_len..self.carried_len + rest.len()].copy_from_slice(rest);
        let total = self.carried_len + rest.len();
        let from = total.saturating_sub(keep);
        self.carried_len = total - from;
        self.carried[..self.carried_len].copy_from_slice(&joined[from..total]);
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
        if allowed == 0 && !read.is_empty() {
            this.held = read.to_vec();
            buf.set_filled(before);
            this.pacer.wake_when_allowed(this.delivered, cx);
            return Poll::Pending;
        }
        let (ended, handed) = match this.scan(read, allowed) {
            Scan::TooLong => {
                let error = io::Error::new(io::ErrorKind::InvalidData, HeadRefused::TooLong);
                return Poll::Ready(Err(error));
            }
            Scan::Within { ended, handed } => (ended, handed),
        };
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
    fn a_paced_read_hands_on_heads_only_up_to_the_end_of_the_last_allowed() {
        let head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut capped = capped(head.len());

        assert_eq!(
            capped.scan(&head.repeat(3), 1),
            Scan::Within {
                ended: 1,
                handed: head.len()
            }
        );
        assert_eq!(capped.since_head_end, 0, "cut where the head ends");
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

    #[tokio::test]
    async fn pipelined_heads_are_handed_on_one_at_a_time_as_the_app_takes_them() {
        let head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
        let three = Parts([head.repeat(3)].into());
        let mut capped = CappedHead::new(three, 2048, Duration::from_secs(5));
        let woken = Arc::new(Woken::default());

        let first = read_once(&mut capped, &woken);
        assert!(
            matches!(&first, Poll::Ready(Ok(read)) if *read == head),
            "{first:?}"
        );
        assert!(
            read_once(&mut capped, &woken).is_pending(),
            "the first not yet taken: the second waits"
        );

        capped.pacer().request_taken();
        assert_eq!(
            woken.0.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "the read is woken"
        );
        let second = read_once(&mut capped, &woken);
        assert!(
            matches!(&second, Poll::Ready(Ok(read)) if *read == head),
            "{second:?}"
        );
        assert!(read_once(&mut capped, &woken).is_pending());

        capped.pacer().request_taken();
        let third = read_once(&mut capped, &woken);
        assert!(
            matches!(&third, Poll::Ready(Ok(read)) if *read == head),
            "{third:?}"
        );
        assert!(
            capped.held.is_empty() && capped.held.capacity() == 0,
            "nothing kept"
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
        head.resize(length - HEAD_END.len(), b'a');
        head.extend_from_slice(HEAD_END);
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
