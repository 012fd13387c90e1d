//! The socket under the driver, bounded: what SQL Server may send in answer to one request.
//!
//! tiberius buffers a whole result (and a whole `nvarchar(max)` value) before it hands out the
//! first row, so a server that streams without end would cost memory until the command timeout.
//! Under the driver the bytes can be counted however they are decoded: past
//! [`ANSWER_BYTE_BUDGET`] since the last request the read fails, and the connection, marked
//! broken, leaves the pool. The same place sees TDS packet headers (when the packets are not
//! inside TLS): a read the driver asks for after the final packet of an answer means that answer
//! ended inside a row or token, and fails at once instead of waiting for bytes that never come.
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The most SQL Server may send in answer to one request. The largest legitimate answer is
/// `IntegrationLog?top=1000`: 1,000 rows at about 2 KB of description each fit; a read that
/// needs more is answered `503` (README, "Hardening").
pub const ANSWER_BYTE_BUDGET: u64 = 4 * 1024 * 1024;

const TDS_HEADER: usize = 8;
const TLS_HEADER: usize = 5;
/// TDS packet types a server sends: a reply, and PRELOGIN (carrying a TLS handshake).
const TDS_REPLY: u8 = 0x04;
const TDS_PRELOGIN: u8 = 0x12;
const TDS_END_OF_MESSAGE: u8 = 0x01;
/// TLS record content types (change cipher spec, alert, handshake, application data).
const TLS_RECORDS: std::ops::RangeInclusive<u8> = 0x14..=0x17;

/// Why the stream refused a read, for the command that saw its error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overrun {
    TooLarge,
    CutShort,
}

/// What the pool keeps of the stream: whether, and why, it refused a read.
#[derive(Debug, Clone, Default)]
pub struct OverrunFlag(Arc<AtomicU8>);

impl OverrunFlag {
    pub fn take(&self) -> Option<Overrun> {
        match self.0.swap(0, Ordering::Relaxed) {
            1 => Some(Overrun::TooLarge),
            2 => Some(Overrun::CutShort),
            _ => None,
        }
    }

    fn raise(&self, overrun: Overrun) -> io::Error {
        let (code, text) = match overrun {
            Overrun::TooLarge => (1, "SQL Server's answer exceeded the byte budget of a read"),
            Overrun::CutShort => (2, "SQL Server's answer ended inside a row or token"),
        };
        self.0.store(code, Ordering::Relaxed);
        io::Error::new(io::ErrorKind::InvalidData, text)
    }
}

/// Where the bytes read so far leave the framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// At the start of a frame, with this many bytes of its header read.
    Header { read: usize },
    /// Inside a frame's body; `ends_answer` when it is the final packet of a TDS reply.
    Body { left: usize, ends_answer: bool },
    /// The final packet of a reply was read whole: the driver should read no more.
    AnswerEnded,
    /// Bytes that are neither TDS packets nor TLS records: the boundaries are not followed.
    Unknown,
}

/// A TCP stream that refuses to read past [`ANSWER_BYTE_BUDGET`] per request, and past the end
/// of an answer.
pub struct BoundedStream {
    inner: TcpStream,
    read_since_request: u64,
    framing: Framing,
    header: [u8; TDS_HEADER],
    overrun: OverrunFlag,
}

impl BoundedStream {
    pub fn new(inner: TcpStream) -> Self {
        BoundedStream {
            inner,
            read_since_request: 0,
            framing: Framing::Header { read: 0 },
            header: [0; TDS_HEADER],
            overrun: OverrunFlag::default(),
        }
    }

    pub fn overrun_flag(&self) -> OverrunFlag {
        self.overrun.clone()
    }

    fn follow(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match self.framing {
                Framing::Header { read } => {
                    // The first byte says which header follows.
                    let wanted = match read {
                        0 => 1,
                        _ if TLS_RECORDS.contains(&self.header[0]) => TLS_HEADER,
                        _ => TDS_HEADER,
                    };
                    let take = (wanted - read).min(bytes.len());
                    self.header[read..read + take].copy_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    self.framing = self.after_header(read + take);
                }
                Framing::Body { left, ends_answer } => {
                    let take = left.min(bytes.len());
                    bytes = &bytes[take..];
                    self.framing = match (left - take, ends_answer) {
                        (0, true) => Framing::AnswerEnded,
                        (0, false) => Framing::Header { read: 0 },
                        (left, _) => Framing::Body { left, ends_answer },
                    };
                }
                // Data past the end of an answer is refused before it is read; unknown
                // bytes are not followed.
                Framing::AnswerEnded | Framing::Unknown => return,
            }
        }
    }

    fn after_header(&self, read: usize) -> Framing {
        let first = self.header[0];
        let body = if TLS_RECORDS.contains(&first) {
            if read < TLS_HEADER {
                return Framing::Header { read };
            }
            usize::from(u16::from_be_bytes([self.header[3], self.header[4]]))
        } else if first == TDS_REPLY || first == TDS_PRELOGIN {
            if read < TDS_HEADER {
                return Framing::Header { read };
            }
            let length = usize::from(u16::from_be_bytes([self.header[2], self.header[3]]));
            match length.checked_sub(TDS_HEADER) {
                Some(body) => body,
                None => return Framing::Unknown,
            }
        } else {
            return Framing::Unknown;
        };
        let ends_answer = first == TDS_REPLY && self.header[1] & TDS_END_OF_MESSAGE != 0;
        match (body, ends_answer) {
            (0, true) => Framing::AnswerEnded,
            (0, false) => Framing::Header { read: 0 },
            (left, _) => Framing::Body { left, ends_answer },
        }
    }
}

impl AsyncRead for BoundedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.framing == Framing::AnswerEnded {
            return Poll::Ready(Err(this.overrun.raise(Overrun::CutShort)));
        }
        let room = ANSWER_BYTE_BUDGET - this.read_since_request;
        if room == 0 {
            return Poll::Ready(Err(this.overrun.raise(Overrun::TooLarge)));
        }
        let room = usize::try_from(room).unwrap_or(usize::MAX);
        let before = buf.filled().len();
        if buf.remaining() <= room {
            ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        } else {
            let mut limited = ReadBuf::new(buf.initialize_unfilled_to(room));
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut limited))?;
            let read = limited.filled().len();
            buf.advance(read);
        }
        let read = buf.filled().len() - before;
        this.read_since_request += read as u64;
        this.follow(&buf.filled()[before..]);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for BoundedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = ready!(Pin::new(&mut this.inner).poll_write(cx, buf))?;
        if written > 0 {
            // A request (or the next part of one): its answer gets a budget of its own.
            this.read_since_request = 0;
            if this.framing == Framing::AnswerEnded {
                this.framing = Framing::Header { read: 0 };
            }
        }
        Poll::Ready(Ok(written))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
