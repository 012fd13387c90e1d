//! The HTTP(S) server with bounded memory per connection and in total: request heads are capped
//! (`http.max_request_head_bytes`) and timed (`http.client_request_timeout_ms`, every head, not
//! only a connection's first), idle connections closed (`http.keep_alive_s`), answers the client
//! does not take closed (`http.client_write_timeout_ms`), concurrent connections capped
//! (`http.max_connections`, past it a prompt `503`), and the listen backlog is set explicitly.
//! Connections that end in a protocol error are counted and logged at a bounded rate.
//!
//! actix-web's `HttpServer` buffers up to 128 KiB of an unfinished head per connection and has
//! no setting for it, so this builds the same service stack on `actix-server` with the socket
//! wrapped in [`CappedHead`] and [`Served`].
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock, Weak};
use std::time::Duration;

use actix_http::body::MessageBody;
use actix_http::error::{DispatchError, ParseError};
use actix_http::{HttpService, Protocol, Request, Response};
use actix_rt::net::TcpStream;
use actix_server::{GracefulShutdownSignal, Server, ServerBuilder};
use actix_service::{
    apply_fn_factory, fn_service, map_config, IntoServiceFactory, ServiceFactory, ServiceFactoryExt,
};
use actix_tls::accept::rustls_0_23::{Acceptor, TlsStream};
use actix_web::dev::AppConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::log_limit::RateLimit;
use crate::metrics::{ProtocolError, ProtocolErrors};

mod capped_head;
mod pacer;
mod served;

pub use capped_head::CappedHead;
use capped_head::HeadRefused;
use pacer::Pacer;
pub use served::Served;
use served::{AnswerNotTaken, Slots};

/// Pending connections the kernel keeps before `accept`.
pub const BACKLOG: u32 = 1024;

/// What the server is allowed to hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes of one request head (request line and headers); a longer one closes the connection.
    pub max_request_head: usize,
    /// Connections served at once over all workers; more are answered `503` and closed.
    pub max_connections: usize,
    /// Seconds in-flight requests may take to finish when the server stops.
    pub shutdown_timeout_s: u64,
    /// How long every request head may take from its first byte (the first from the
    /// connection's start): a slower one closes the connection.
    pub client_request_timeout: Duration,
    /// How long a connection may stay idle between requests; zero: closed after each answer.
    pub keep_alive: Duration,
    /// How long a client may take none of an answer's bytes before its connection is closed.
    pub client_write_timeout: Duration,
}

/// Connections past the cap that each worker may hold at once while it answers them `503`;
/// more wait in the backlog. Each is held for at most [`REFUSAL_TIME`].
const REFUSING_PER_WORKER: usize = 64;
/// The longest a refused connection is held: to write the `503` and to read what the client
/// sent, so that closing does not reset the connection before the client reads the answer.
const REFUSAL_TIME: Duration = Duration::from_millis(500);
/// The answer past the cap: the client may retry in a second.
const AT_CAPACITY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\n\
content-length: 0\r\nconnection: close\r\n\r\n";

/// How often the server looks whether connections closed.
const RELEASE_CHECK: Duration = Duration::from_secs(1);
/// Connections that must have closed since the last look for the allocator to be asked to give
/// their freed memory back: a slow reader's connection held about 50 KB (BENCHMARKS.md).
const RELEASE_AFTER_CLOSED: usize = 128;

/// Once a second, if at least [`RELEASE_AFTER_CLOSED`] connections closed since the last look,
/// gives the memory they freed back to the system ([`crate::platform::release_freed_memory`]);
/// ends when the server's slots are gone.
fn release_memory_of_closed_connections(slots: Weak<Slots>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(RELEASE_CHECK);
        loop {
            tick.tick().await;
            let Some(slots) = slots.upgrade() else { return };
            if slots.fall_from_peak() >= RELEASE_AFTER_CLOSED {
                crate::platform::release_freed_memory();
            }
        }
    });
}

/// Answers a connection past the cap `503` with `Retry-After` and closes it, within
/// [`REFUSAL_TIME`].
async fn refuse<T: AsyncRead + AsyncWrite + Unpin>(mut io: T) {
    let _ = tokio::time::timeout(REFUSAL_TIME, async {
        io.write_all(AT_CAPACITY).await?;
        io.shutdown().await?;
        let mut sink = [0u8; 1024];
        while io.read(&mut sink).await? > 0 {}
        io::Result::Ok(())
    })
    .await;
    static LOGGED: LazyLock<RateLimit> = LazyLock::new(RateLimit::default);
    if let Some(held_back) = LOGGED.admit(0) {
        tracing::warn!(
            held_back,
            "connection refused at http.max_connections with 503 ({held_back} more held back)"
        );
    }
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
    // The cap is counted over all workers (`slots`); each worker may hold its share of it plus
    // the connections it is refusing. No more workers than connections.
    let workers = workers().min(limits.max_connections).max(1);
    let slots = Slots::new(limits.max_connections);
    release_memory_of_closed_connections(Arc::downgrade(&slots));
    // Signals are taken in one place (`platform`); the server stops when it is told to.
    let builder: ServerBuilder = Server::build()
        .disable_signals()
        .workers(workers)
        .backlog(BACKLOG)
        .max_concurrent_connections(limits.max_connections.div_ceil(workers) + REFUSING_PER_WORKER)
        .shutdown_timeout(limits.shutdown_timeout_s);
    let shutdown = builder.graceful_shutdown_signal();
    let head = limits.max_request_head;
    let head_timeout = limits.client_request_timeout;
    let write_timeout = limits.client_write_timeout;
    let builder = match tls {
        None => builder.listen("qoe-http", listener, move || {
            let slots = slots.clone();
            fn_service(move |io: TcpStream| {
                let slots = slots.clone();
                async move {
                    let _ = io.set_nodelay(true);
                    let peer = io.peer_addr().ok();
                    let Some(slot) = slots.take() else {
                        refuse(io).await;
                        return Err(());
                    };
                    let io =
                        Served::new(CappedHead::new(io, head, head_timeout), slot, write_timeout);
                    Ok((io, Protocol::Http1, peer))
                }
            })
            .and_then(http_service(
                factory.clone(),
                shutdown.clone(),
                limits,
                errors.clone(),
            ))
        })?,
        Some(mut config) => {
            config.alpn_protocols = alpn_protocols();
            builder.listen("qoe-https", listener, move || {
                let slots = slots.clone();
                Acceptor::new(config.clone())
                    .map_init_err(|_| unreachable!("the TLS acceptor does not fail to start"))
                    .map_err(|error| {
                        tracing::debug!(?error, "TLS handshake failed");
                    })
                    .and_then(move |io: TlsStream<TcpStream>| {
                        let slots = slots.clone();
                        async move {
                            let _ = io.get_ref().0.set_nodelay(true);
                            let peer = io.get_ref().0.peer_addr().ok();
                            let Some(slot) = slots.take() else {
                                refuse(io).await;
                                return Err(());
                            };
                            let io = CappedHead::new(io, head, head_timeout);
                            Ok((Served::new(io, slot, write_timeout), Protocol::Http1, peer))
                        }
                    })
                    .and_then(http_service(
                        factory.clone(),
                        shutdown.clone(),
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
    limits: Limits,
    errors: ProtocolErrors,
) -> impl ServiceFactory<
    (Served<CappedHead<T>>, Protocol, Option<SocketAddr>),
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
    // Each request the app takes lets the connection's next pipelined head in (`Pacer`).
    let app = apply_fn_factory(app, |request: Request, app| {
        if let Some(pacer) = request.conn_data::<Arc<Pacer>>() {
            pacer.request_taken();
        }
        actix_service::Service::call(app, request)
    });
    HttpService::build()
        .on_connect_ext(|io: &Served<CappedHead<T>>, data| {
            data.insert(io.get_ref().pacer());
        })
        .client_request_timeout(limits.client_request_timeout)
        .keep_alive(limits.keep_alive)
        // What a connection copies of an answer before it waits for the client to take it;
        // with cached bodies handed out in slices, this bounds a slow reader's memory.
        .h1_write_buffer_size(16 * 1024)
        .graceful_shutdown_signal(move || {
            let shutdown = shutdown.clone();
            async move { shutdown.notified().await }
        })
        // `HttpServer` would pass the scheme, host and local address, but only through a
        // constructor that is crate-private; the app reads none of them (no URL generation, no
        // `ConnectionInfo`), so actix-web's default stands in.
        .finish(map_config(app, |()| AppConfig::default()))
        .map_err(move |error| note_protocol_error(&errors, error))
}

/// The kind of a connection-ending error.
fn protocol_error_kind(error: &DispatchError) -> ProtocolError {
    match error {
        DispatchError::Parse(ParseError::Io(io)) | DispatchError::Io(io) => {
            let cause = io.get_ref();
            match cause.and_then(|e| e.downcast_ref::<HeadRefused>()) {
                Some(HeadRefused::TooLong) => ProtocolError::HeadTooLong,
                Some(HeadRefused::TooSlow) => ProtocolError::HeadTimeout,
                None if cause.is_some_and(|e| e.is::<AnswerNotTaken>()) => {
                    ProtocolError::WriteTimeout
                }
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

    fn count_of(errors: &ProtocolErrors, kind: ProtocolError) -> u64 {
        errors
            .by_kind()
            .into_iter()
            .find_map(|(each, count)| (each == kind).then_some(count))
            .expect("every kind is listed")
    }

    #[test]
    fn connections_closed_by_an_error_are_counted_by_kind() {
        let io = |kind, cause: Box<dyn std::error::Error + Send + Sync>| {
            DispatchError::Io(io::Error::new(kind, cause))
        };
        let cases = [
            (
                io(io::ErrorKind::InvalidData, HeadRefused::TooLong.into()),
                ProtocolError::HeadTooLong,
            ),
            (
                io(io::ErrorKind::TimedOut, HeadRefused::TooSlow.into()),
                ProtocolError::HeadTimeout,
            ),
            (
                io(io::ErrorKind::TimedOut, AnswerNotTaken.into()),
                ProtocolError::WriteTimeout,
            ),
            (
                DispatchError::Io(io::Error::from(io::ErrorKind::ConnectionReset)),
                ProtocolError::Io,
            ),
            (
                DispatchError::Parse(ParseError::Method),
                ProtocolError::Malformed,
            ),
            (
                DispatchError::Parse(ParseError::TooLarge),
                ProtocolError::HeadTooLong,
            ),
            (
                DispatchError::SlowRequestTimeout,
                ProtocolError::HeadTimeout,
            ),
        ];
        let errors = ProtocolErrors::default();

        for (error, kind) in cases {
            let text = error.to_string();
            let before = count_of(&errors, kind);
            note_protocol_error(&errors, error);
            assert_eq!(
                count_of(&errors, kind),
                before + 1,
                "{text} counted as {kind:?}"
            );
        }
        let total: u64 = errors.by_kind().iter().map(|(_, count)| count).sum();
        assert_eq!(total, 7, "each error counted once");
    }
}
