//! The HTTP(S) server with bounded memory per connection and in total: request heads are capped
//! (`http.max_request_head_bytes`), concurrent connections are capped
//! (`http.max_connections`), and the listen backlog is set explicitly.
//!
//! actix-web's `HttpServer` buffers up to 128 KiB of an unfinished head per connection and has
//! no setting for it, so this builds the same service stack on `actix-server` with the socket
//! wrapped in [`CappedHead`].
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_http::body::MessageBody;
use actix_http::{HttpService, Protocol, Request, Response};
use actix_rt::net::TcpStream;
use actix_server::{GracefulShutdownSignal, Server, ServerBuilder};
use actix_service::{
    fn_service, map_config, IntoServiceFactory, ServiceFactory, ServiceFactoryExt,
};
use actix_tls::accept::rustls_0_23::{Acceptor, TlsStream};
use actix_web::dev::AppConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Pending connections the kernel keeps before `accept`.
pub const BACKLOG: u32 = 1024;

/// What the server is allowed to hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes of one request head (request line and headers); a longer one closes the connection.
    pub max_request_head: usize,
    /// Connections served at once over all workers; more wait in the backlog.
    pub max_connections: usize,
    /// Seconds in-flight requests may take to finish when the server stops.
    pub shutdown_timeout_s: u64,
}

/// How many workers the server runs: one per core, as actix-web does.
fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A listening TCP socket with [`BACKLOG`].
pub fn bind(address: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol as IpProtocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(IpProtocol::TCP),
    )?;
    crate::platform::prepare_listener(&socket)?;
    socket.bind(&address.into())?;
    socket.listen(BACKLOG as i32)?;
    Ok(socket.into())
}

/// Serves `factory`'s app on `listener`, over TLS when `tls` is given.
pub fn serve<F, I, S, B>(
    listener: std::net::TcpListener,
    tls: Option<rustls::ServerConfig>,
    limits: Limits,
    factory: F,
) -> io::Result<Server>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: std::fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as actix_service::Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    let address = listener.local_addr()?;
    // Each worker gets an equal share of the cap; no more workers than connections.
    let workers = workers().min(limits.max_connections).max(1);
    // Signals are taken in one place (`platform`); the server stops when it is told to.
    let builder: ServerBuilder = Server::build()
        .disable_signals()
        .workers(workers)
        .backlog(BACKLOG)
        .max_concurrent_connections(limits.max_connections.div_ceil(workers).max(1))
        .shutdown_timeout(limits.shutdown_timeout_s);
    let shutdown = builder.graceful_shutdown_signal();
    let secure = tls.is_some();
    let head = limits.max_request_head;
    let builder = match tls {
        None => builder.listen("qoe-http", listener, move || {
            fn_service(move |io: TcpStream| async move {
                let _ = io.set_nodelay(true);
                let peer = io.peer_addr().ok();
                Ok::<_, ()>((CappedHead::new(io, Some(head)), Protocol::Http1, peer))
            })
            .and_then(http_service(
                factory.clone(),
                shutdown.clone(),
                secure,
                address,
            ))
        })?,
        Some(mut config) => {
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            builder.listen("qoe-https", listener, move || {
                Acceptor::new(config.clone())
                    .map_init_err(|_| unreachable!("the TLS acceptor does not fail to start"))
                    .map_err(|error| {
                        tracing::debug!(?error, "TLS handshake failed");
                    })
                    .and_then(move |io: TlsStream<TcpStream>| async move {
                        let _ = io.get_ref().0.set_nodelay(true);
                        let h2 = io
                            .get_ref()
                            .1
                            .alpn_protocol()
                            .is_some_and(|protocol| protocol == b"h2");
                        let peer = io.get_ref().0.peer_addr().ok();
                        // HTTP/2 frames its headers itself: the cap is for HTTP/1 heads.
                        let (protocol, cap) = if h2 {
                            (Protocol::Http2, None)
                        } else {
                            (Protocol::Http1, Some(head))
                        };
                        Ok((CappedHead::new(io, cap), protocol, peer))
                    })
                    .and_then(http_service(
                        factory.clone(),
                        shutdown.clone(),
                        secure,
                        address,
                    ))
            })?
        }
    };
    Ok(builder.run())
}

/// actix-web's own HTTP service over any connection type, as `HttpServer` builds it.
fn http_service<T, F, I, S, B>(
    factory: F,
    shutdown: GracefulShutdownSignal,
    secure: bool,
    address: SocketAddr,
) -> impl ServiceFactory<
    (T, Protocol, Option<SocketAddr>),
    Config = (),
    Response = (),
    Error = (),
    InitError = (),
>
where
    T: AsyncRead + AsyncWrite + Unpin + 'static,
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: std::fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as actix_service::Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    let app = factory()
        .into_factory()
        .map_err(|error| error.into().error_response());
    let host = address.to_string();
    HttpService::build()
        .graceful_shutdown_signal(move || {
            let shutdown = shutdown.clone();
            async move { shutdown.notified().await }
        })
        .finish(map_config(app, move |_| {
            // actix-web's `HttpServer` passes the same; its constructor is crate-private.
            AppConfig::__priv_test_new(secure, host.clone(), address)
        }))
        .map_err(|_| ())
}

/// A connection whose reads fail once more than `cap` bytes arrive without the blank line
/// (`\r\n\r\n`) that ends an HTTP/1 head, so a client cannot make the server buffer more
/// than `cap` bytes of an unfinished head. (Request bodies count too: this API takes none.)
pub struct CappedHead<T> {
    inner: T,
    cap: Option<usize>,
    /// Bytes since the last end of a head.
    since_head_end: usize,
    /// How much of `\r\n\r\n` the bytes read so far end with.
    matched: usize,
}

impl<T> CappedHead<T> {
    pub fn new(inner: T, cap: Option<usize>) -> Self {
        CappedHead {
            inner,
            cap,
            since_head_end: 0,
            matched: 0,
        }
    }

    fn scan(&mut self, bytes: &[u8]) -> bool {
        const END: &[u8] = b"\r\n\r\n";
        for &byte in bytes {
            self.since_head_end += 1;
            self.matched = if byte == END[self.matched] {
                self.matched + 1
            } else if byte == b'\r' {
                1
            } else {
                0
            };
            if self.matched == END.len() {
                self.matched = 0;
                self.since_head_end = 0;
            }
        }
        self.cap.is_none_or(|cap| self.since_head_end <= cap)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for CappedHead<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &polled {
            if this.cap.is_some() && !this.scan(&buf.filled()[before..]) {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "request head longer than http.max_request_head_bytes",
                )));
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

    #[test]
    fn a_head_is_counted_until_its_blank_line_even_when_split_across_reads() {
        let mut capped = CappedHead::new((), Some(20));

        assert!(capped.scan(b"GET / HTTP/1.1\r\n\r"));
        assert!(capped.scan(b"\n"), "the blank line ends the head");
        assert!(capped.scan(b"GET /next HTTP/1.1\r\n"));
        assert!(!capped.scan(b"X"), "21 bytes without a blank line");
    }

    #[test]
    fn without_a_cap_nothing_is_refused() {
        let mut uncapped = CappedHead::new((), None);

        assert!(uncapped.scan(&[b'a'; 100_000]));
    }
}
