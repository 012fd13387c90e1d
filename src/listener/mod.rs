//! The HTTP(S) server with bounded memory per connection and in total: request heads are capped
//! (`http.max_request_head_bytes`) and timed (`http.client_request_timeout_ms`, every head, not
//! only a connection's first), idle connections closed (`http.keep_alive_s`), concurrent
//! connections capped (`http.max_connections`), and the listen backlog is set explicitly.
//! Connections that end in a protocol error are counted and logged at a bounded rate.
//!
//! actix-web's `HttpServer` buffers up to 128 KiB of an unfinished head per connection and has
//! no setting for it, so this builds the same service stack on `actix-server` with the socket
//! wrapped in [`CappedHead`].
use std::io;
use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::Duration;

use actix_http::body::MessageBody;
use actix_http::error::{DispatchError, ParseError};
use actix_http::{HttpService, Protocol, Request, Response};
use actix_rt::net::TcpStream;
use actix_server::{GracefulShutdownSignal, Server, ServerBuilder};
use actix_service::{
    fn_service, map_config, IntoServiceFactory, ServiceFactory, ServiceFactoryExt,
};
use actix_tls::accept::rustls_0_23::{Acceptor, TlsStream};
use actix_web::dev::AppConfig;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::log_limit::RateLimit;
use crate::metrics::{ProtocolError, ProtocolErrors};

mod capped_head;

pub use capped_head::CappedHead;
use capped_head::HeadRefused;

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
    /// How long every request head may take from its first byte (the first from the
    /// connection's start): a slower one closes the connection.
    pub client_request_timeout: Duration,
    /// How long a connection may stay idle between requests; zero: closed after each answer.
    pub keep_alive: Duration,
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

/// Serves `factory`'s app on `listener`, over TLS when `tls` is given; connections closed by a
/// protocol error are counted in `errors`.
pub fn serve<F, I, S, B>(
    listener: std::net::TcpListener,
    tls: Option<rustls::ServerConfig>,
    limits: Limits,
    errors: ProtocolErrors,
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
    // Each worker gets an equal share of the cap, rounded down so that the total stays within
    // it; no more workers than connections.
    let workers = workers().min(limits.max_connections).max(1);
    // Signals are taken in one place (`platform`); the server stops when it is told to.
    let builder: ServerBuilder = Server::build()
        .disable_signals()
        .workers(workers)
        .backlog(BACKLOG)
        .max_concurrent_connections((limits.max_connections / workers).max(1))
        .shutdown_timeout(limits.shutdown_timeout_s);
    let shutdown = builder.graceful_shutdown_signal();
    let secure = tls.is_some();
    let head = limits.max_request_head;
    let head_timeout = limits.client_request_timeout;
    let builder = match tls {
        None => builder.listen("qoe-http", listener, move || {
            fn_service(move |io: TcpStream| async move {
                let _ = io.set_nodelay(true);
                let peer = io.peer_addr().ok();
                let io = CappedHead::new(io, head, head_timeout);
                Ok::<_, ()>((io, Protocol::Http1, peer))
            })
            .and_then(http_service(
                factory.clone(),
                shutdown.clone(),
                secure,
                address,
                limits,
                errors.clone(),
            ))
        })?,
        Some(mut config) => {
            config.alpn_protocols = alpn_protocols();
            builder.listen("qoe-https", listener, move || {
                Acceptor::new(config.clone())
                    .map_init_err(|_| unreachable!("the TLS acceptor does not fail to start"))
                    .map_err(|error| {
                        tracing::debug!(?error, "TLS handshake failed");
                    })
                    .and_then(move |io: TlsStream<TcpStream>| async move {
                        let _ = io.get_ref().0.set_nodelay(true);
                        let peer = io.get_ref().0.peer_addr().ok();
                        let io = CappedHead::new(io, head, head_timeout);
                        Ok((io, Protocol::Http1, peer))
                    })
                    .and_then(http_service(
                        factory.clone(),
                        shutdown.clone(),
                        secure,
                        address,
                        limits,
                        errors.clone(),
                    ))
            })?
        }
    };
    Ok(builder.run())
}

/// What TLS offers by ALPN: HTTP/1.1 only. actix-http 3's HTTP/2 (h2 0.3) cannot cap streams,
/// a connection's memory or its idle time, so it is not built at all (README, "Hardening").
fn alpn_protocols() -> Vec<Vec<u8>> {
    vec![b"http/1.1".to_vec()]
}

/// actix-web's own HTTP service over any connection type, as `HttpServer` builds it; a
/// connection that ends in a protocol error is counted and logged at a bounded rate.
fn http_service<T, F, I, S, B>(
    factory: F,
    shutdown: GracefulShutdownSignal,
    secure: bool,
    address: SocketAddr,
    limits: Limits,
    errors: ProtocolErrors,
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
        .client_request_timeout(limits.client_request_timeout)
        .keep_alive(limits.keep_alive)
        .graceful_shutdown_signal(move || {
            let shutdown = shutdown.clone();
            async move { shutdown.notified().await }
        })
        .finish(map_config(app, move |_| {
            // actix-web's `HttpServer` passes the same; its constructor is crate-private.
            AppConfig::__priv_test_new(secure, host.clone(), address)
        }))
        .map_err(move |error| note_protocol_error(&errors, error))
}

/// The kind of a connection-ending error.
fn protocol_error_kind(error: &DispatchError) -> ProtocolError {
    match error {
        DispatchError::Parse(ParseError::Io(io)) | DispatchError::Io(io) => {
            match io.get_ref().and_then(|e| e.downcast_ref::<HeadRefused>()) {
                Some(HeadRefused::TooLong) => ProtocolError::HeadTooLong,
                Some(HeadRefused::TooSlow) => ProtocolError::HeadTimeout,
                None => ProtocolError::Io,
            }
        }
        DispatchError::Parse(ParseError::TooLarge) => ProtocolError::HeadTooLong,
        DispatchError::Parse(_) => ProtocolError::Malformed,
        DispatchError::SlowRequestTimeout => ProtocolError::HeadTimeout,
        _ => ProtocolError::Other,
    }
}

/// Counts a connection that ended in an error and logs it, at most one line per kind per
/// [`crate::log_limit::WINDOW`] with the count held back: a client can send malformed requests
/// at will. (actix-http's own line for it is filtered out in `telemetry`.)
fn note_protocol_error(errors: &ProtocolErrors, error: DispatchError) {
    static LOGGED: LazyLock<RateLimit> = LazyLock::new(RateLimit::default);
    let kind = protocol_error_kind(&error);
    errors.count(kind);
    if let Some(held_back) = LOGGED.admit(kind) {
        let kind = kind.label();
        tracing::warn!(
            kind,
            held_back,
            "connection closed by a protocol error: {error} ({held_back} more held back)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_heads_are_counted_by_kind() {
        let too_long = io::Error::new(io::ErrorKind::InvalidData, HeadRefused::TooLong);
        let too_slow = io::Error::new(io::ErrorKind::TimedOut, HeadRefused::TooSlow);
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);

        assert_eq!(
            protocol_error_kind(&DispatchError::Io(too_long)),
            ProtocolError::HeadTooLong
        );
        assert_eq!(
            protocol_error_kind(&DispatchError::Io(too_slow)),
            ProtocolError::HeadTimeout
        );
        assert_eq!(
            protocol_error_kind(&DispatchError::Io(reset)),
            ProtocolError::Io
        );
        assert_eq!(
            protocol_error_kind(&DispatchError::Parse(ParseError::Method)),
            ProtocolError::Malformed
        );
    }
}
