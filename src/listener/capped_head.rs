//! [`CappedHead`]: the socket wrapper that caps and times every HTTP/1 request head.
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// A connection whose reads fail once a request head (request line and headers, up to the
/// blank line `\r\n\r\n` that ends it) grows past `cap` bytes, however the bytes are split
/// into reads, or takes longer than `timeout` from its first byte. So a client can neither
/// make the server buffer more than `cap` bytes of a head nor hold the connection by sending
/// a head slowly: actix-http times only a connection's first head. (Request bodies count as
/// a head too: this API takes none.)
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
}

/// What one read did to the head being received.
#[derive(Debug, PartialEq, Eq)]
enum Scan {
    /// A head is longer than the cap.
    TooLong,
    /// Within the cap; `ended` if a head ended in these bytes.
    Within { ended: bool },
}

const HEAD_END: &[u8] = b"\r\n\r\n";
/// Built once: building a `memmem` searcher for every read cost about as much as the search.
static HEAD_END_FINDER: LazyLock<memchr::memmem::Finder<'static>> =
    LazyLock::new(|| memchr::memmem::Finder::new(HEAD_END));

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
        }
    }

    /// Finds the ends of heads in `bytes` with `memmem` (a blank line split across reads is
    /// found through the carried bytes), and measures every head against the cap.
    fn scan(&mut self, bytes: &[u8]) -> Scan {
        let cap = self.cap;
        let mut start = 0;
        let mut ended = false;
        // A blank line that began in an earlier read ends within the first 3 new bytes.
        let first = bytes.len().min(HEAD_END.len() - 1);
        let mut joined = [0u8; 6];
        joined[..self.carried_len].copy_from_slice(&self.carried[..self.carried_len]);
        joined[self.carried_len..self.carried_len + first].copy_from_slice(&bytes[..first]);
        // At most 3 places to look: no searcher needed.
        let straddling = joined[..self.carried_len + first]
            .windows(HEAD_END.len())
            .position(|window| window == HEAD_END)
            .map(|at| at + HEAD_END.len() - self.carried_len);
        let ends = straddling.into_iter().chain(
            HEAD_END_FINDER
                .find_iter(&bytes[straddling.unwrap_or(0)..])
                .map(|at| straddling.unwrap_or(0) + at + HEAD_END.len()),
        );
        for end in ends {
            if self.since_head_end + (end - start) > cap {
                return Scan::TooLong;
            }
            self.since_head_end = 0;
            self.carried_len = 0;
            start = end;
            ended = true;
        }
        let rest = &bytes[start..];
        self.since_head_end += rest.len();
        if self.since_head_end > cap {
            return Scan::TooLong;
        }
        self.carry(rest);
        Scan::Within { ended }
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
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &polled {
            match this.scan(&buf.filled()[before..]) {
                Scan::TooLong => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        HeadRefused::TooLong,
                    )));
                }
                Scan::Within { ended } => this.time_head(ended),
            }
        }
        polled
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

    fn within(ended: bool) -> Scan {
        Scan::Within { ended }
    }

    #[test]
    fn a_head_is_counted_until_its_blank_line_even_when_split_across_reads() {
        let mut capped = capped(20);

        assert_eq!(capped.scan(b"GET / HTTP/1.1\r\n\r"), within(false));
        assert_eq!(
            capped.scan(b"\n"),
            within(true),
            "the blank line ends the head"
        );
        assert_eq!(capped.scan(b"GET /next HTTP/1.1\r\n"), within(false));
        assert_eq!(
            capped.scan(b"X"),
            Scan::TooLong,
            "21 bytes without a blank line"
        );
    }

    #[test]
    fn a_blank_line_split_byte_by_byte_ends_the_head() {
        let mut capped = capped(24);

        assert_eq!(capped.scan(b"GET / HTTP/1.1"), within(false));
        for byte in [b"\r", b"\n", b"\r"] {
            assert_eq!(capped.scan(byte), within(false));
        }
        assert_eq!(capped.scan(b"\n"), within(true));
        assert_eq!(capped.since_head_end, 0);
    }

    #[test]
    fn the_blank_line_of_one_head_does_not_end_the_next() {
        let mut capped = capped(100);

        assert_eq!(capped.scan(b"GET / HTTP/1.1\r\n\r\n"), within(true));
        assert_eq!(
            capped.scan(b"\r\n"),
            within(false),
            "a lone CRLF after a head"
        );
        assert_eq!(capped.since_head_end, 2);
    }

    #[test]
    fn a_head_over_the_cap_is_refused_even_when_it_ends_in_the_same_read() {
        let long = format!("GET / HTTP/1.1\r\nX-Pad: {}\r\n\r\n", "a".repeat(32_000));

        assert_eq!(capped(16 * 1024).scan(long.as_bytes()), Scan::TooLong);
    }

    #[test]
    fn each_of_several_heads_in_one_read_is_measured_on_its_own() {
        let head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let three = head.repeat(3);

        assert_eq!(capped(head.len()).scan(&three), within(true));
        let mut longer = three.clone();
        longer.extend_from_slice(&head[..head.len() - 4]);
        longer.extend_from_slice(b"Y: z\r\n\r\n");
        assert_eq!(capped(head.len()).scan(&longer), Scan::TooLong);
    }

    #[test]
    fn a_head_of_exactly_the_cap_is_accepted() {
        let head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

        assert_eq!(capped(head.len()).scan(head), within(true));
        assert_eq!(capped(head.len() - 1).scan(head), Scan::TooLong);
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
                Ok(_) => {}
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
