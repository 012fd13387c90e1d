//! The in-process TDS server: listener, connection state machine, faults and bookkeeping.

use crate::login::{Exchange, LoginOptions, LoginRecord, Step};
use crate::tls::{write_temp_pem, TlsIdentity};
use crate::types::{
    Column, ColumnType, Fault, Handler, Request, Response, ResultSet, Stats, Value,
};
use crate::wire::{self, Message};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

/// Database named in connection strings and reported by ENVCHANGE when the login names none.
pub const DEFAULT_DATABASE: &str = "QoEArchive";
/// User in `ado_connection_string` (any user/password is accepted).
pub const DEFAULT_USER: &str = "qoe_service";
/// Password in `ado_connection_string` (not checked).
pub const DEFAULT_PASSWORD: &str = "test-password";

/// Packet size used before LOGIN7 negotiates one.
const INITIAL_PACKET_SIZE: usize = 4096;

/// How to start a [`TdsTestServer`].
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// `Some`: TDS 8.0 strict mode (TLS first, then PRELOGIN). `None`: plaintext.
    pub tls: Option<TlsIdentity>,
    /// Port on 127.0.0.1; `None` or `Some(0)` picks a free one.
    pub port: Option<u16>,
}

/// Locks a std mutex, ignoring poisoning (the data is plain bookkeeping).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    open: AtomicU64,
    logins_ok: AtomicU64,
    login_attempts: AtomicU64,
    requests: AtomicU64,
    read_only_logins: AtomicU64,
}

struct Shared {
    handler: RwLock<Arc<dyn Handler>>,
    fault: watch::Sender<Fault>,
    requests: Mutex<Vec<Request>>,
    counters: Counters,
    tls: Option<TlsAcceptor>,
    login: LoginOptions,
    logins: Mutex<Vec<LoginRecord>>,
}

impl Shared {
    fn fault(&self) -> Fault {
        self.fault.borrow().clone()
    }

    fn handler(&self) -> Arc<dyn Handler> {
        self.handler
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

struct Running {
    accept: JoinHandle<()>,
    connections: Arc<Mutex<JoinSet<()>>>,
}

/// An MS-TDS 7.4 server on 127.0.0.1 that tiberius can log in to and query; dropping it stops it
/// (the port is freed once the runtime runs again; `stop().await` frees it before returning).
pub struct TdsTestServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    running: Mutex<Option<Running>>,
    ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for TdsTestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TdsTestServer")
            .field("addr", &self.addr)
            .field("tls", &self.shared.tls.is_some())
            .finish()
    }
}

impl TdsTestServer {
    /// Starts a plaintext server on 127.0.0.1 with a free port.
    pub async fn start(handler: impl Handler) -> io::Result<Self> {
        Self::start_with(ServerOptions::default(), handler).await
    }

    /// Starts a server with explicit options (strict TLS, fixed port).
    pub async fn start_with(options: ServerOptions, handler: impl Handler) -> io::Result<Self> {
        Self::start_with_login(options, LoginOptions::default(), handler).await
    }

    /// Starts a server that checks Windows logins, redirects logins, or listens on another
    /// loopback address, as `login` says.
    pub async fn start_with_login(
        options: ServerOptions,
        login: LoginOptions,
        handler: impl Handler,
    ) -> io::Result<Self> {
        Self::start_listening(None, options, login, handler).await
    }

    /// As [`TdsTestServer::start_with_login`], on a listener the caller bound already (to learn
    /// the port first, e.g. for an SPN, without dropping it for another process to take).
    /// `options.port` and `login.bind` are not used for the first bind; `restart` rebinds the
    /// listener's address.
    pub async fn start_on(
        listener: std::net::TcpListener,
        options: ServerOptions,
        login: LoginOptions,
        handler: impl Handler,
    ) -> io::Result<Self> {
        Self::start_listening(Some(listener), options, login, handler).await
    }

    async fn start_listening(
        listener: Option<std::net::TcpListener>,
        options: ServerOptions,
        login: LoginOptions,
        handler: impl Handler,
    ) -> io::Result<Self> {
        let tls = options
            .tls
            .as_ref()
            .map(TlsIdentity::acceptor)
            .transpose()?;
        let ca_file = match options.tls.as_ref().and_then(|t| t.ca_pem.as_ref()) {
            Some(pem) => Some(write_temp_pem(&std::env::temp_dir(), "server-ca", pem)?),
            None => None,
        };
        let (fault, _) = watch::channel(Fault::None);
        let shared = Arc::new(Shared {
            handler: RwLock::new(Arc::new(handler)),
            fault,
            requests: Mutex::new(Vec::new()),
            counters: Counters::default(),
            tls,
            logins: Mutex::new(Vec::new()),
            login,
        });
        let listener = match listener {
            Some(listener) => {
                listener.set_nonblocking(true)?;
                tokio::net::TcpListener::from_std(listener)?
            }
            None => {
                let wanted = SocketAddr::from((shared.login.bind, options.port.unwrap_or(0)));
                bind_retrying(wanted).await?
            }
        };
        let addr = listener.local_addr()?;
        let server = Self {
            shared,
            addr,
            running: Mutex::new(None),
            ca_file,
        };
        server.run(listener);
        Ok(server)
    }

    /// The address the server listens on (stable across `stop`/`restart`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// An ADO.NET connection string tiberius accepts for this server (plaintext or strict TLS + CA file).
    pub fn ado_connection_string(&self) -> String {
        let base = format!(
            "Server=tcp:127.0.0.1,{};Database={DEFAULT_DATABASE};User Id={DEFAULT_USER};Password={DEFAULT_PASSWORD}",
            self.addr.port()
        );
        match (&self.shared.tls, &self.ca_file) {
            (None, _) => format!("{base};Encrypt=DANGER_PLAINTEXT"),
            (Some(_), Some(ca)) => format!(
                "{base};Encrypt=strict;TrustServerCertificateCA={}",
                ca.display()
            ),
            (Some(_), None) => format!("{base};Encrypt=strict"),
        }
    }

    /// Path of the CA file written for a TLS identity that carried `ca_pem`.
    pub fn ca_file(&self) -> Option<&std::path::Path> {
        self.ca_file.as_deref()
    }

    /// Replaces the request handler; takes effect for the next request on every connection.
    pub fn set_handler(&self, handler: impl Handler) {
        *self
            .shared
            .handler
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(handler);
    }

    /// Sets the fault to simulate (new connections, next login or next request; releases stalls).
    pub fn set_fault(&self, fault: Fault) {
        self.shared.fault.send_replace(fault);
    }

    /// The fault currently simulated.
    pub fn fault(&self) -> Fault {
        self.shared.fault()
    }

    /// Every LOGIN7 received so far, in order, with the account it authenticated.
    pub fn logins(&self) -> Vec<LoginRecord> {
        lock(&self.shared.logins).clone()
    }

    /// Every batch and RPC received so far, in order (not PRELOGIN/LOGIN7).
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.shared.requests).clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
    }

    /// Connection, login and request counters.
    pub fn stats(&self) -> Stats {
        let c = &self.shared.counters;
        Stats {
            connections_accepted: c.accepted.load(Ordering::SeqCst),
            connections_open: c.open.load(Ordering::SeqCst),
            logins_ok: c.logins_ok.load(Ordering::SeqCst),
            login_attempts: c.login_attempts.load(Ordering::SeqCst),
            requests: c.requests.load(Ordering::SeqCst),
            read_only_logins: c.read_only_logins.load(Ordering::SeqCst),
        }
    }

    /// Whether the server is currently listening.
    pub fn is_running(&self) -> bool {
        lock(&self.running).is_some()
    }

    /// Stops listening and drops every open connection; returns once they are closed.
    pub async fn stop(&self) {
        let running = lock(&self.running).take();
        if let Some(running) = running {
            running.accept.abort();
            let _ = running.accept.await;
            let mut connections = std::mem::take(&mut *lock(&running.connections));
            connections.shutdown().await;
        }
    }

    /// Listens again on the same address (stopping first if still running).
    pub async fn restart(&self) -> io::Result<()> {
        self.stop().await;
        let listener = bind_retrying(self.addr).await?;
        self.run(listener);
        Ok(())
    }

    fn run(&self, listener: tokio::net::TcpListener) {
        let connections = Arc::new(Mutex::new(JoinSet::new()));
        let accept = tokio::spawn(accept_loop(
            listener,
            self.shared.clone(),
            connections.clone(),
        ));
        *lock(&self.running) = Some(Running {
            accept,
            connections,
        });
    }
}

impl Drop for TdsTestServer {
    fn drop(&mut self) {
        if let Some(running) = lock(&self.running).take() {
            running.accept.abort();
            lock(&running.connections).abort_all();
        }
        if let Some(ca) = &self.ca_file {
            let _ = std::fs::remove_file(ca);
        }
    }
}

/// Binds `addr`; a fixed port still held by a just-dropped server is retried for up to 2 s.
async fn bind_retrying(addr: SocketAddr) -> io::Result<tokio::net::TcpListener> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match bind(addr) {
            Err(e)
                if still_held(&e) && addr.port() != 0 && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            other => return other,
        }
    }
}

/// Windows (and Wine) refuse a port another socket still listens on as "access denied".
fn still_held(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::AddrInUse
        || (cfg!(windows) && e.kind() == io::ErrorKind::PermissionDenied)
}

fn bind(addr: SocketAddr) -> io::Result<tokio::net::TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(128)
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    connections: Arc<Mutex<JoinSet<()>>>,
) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                continue;
            }
        };
        shared.counters.accepted.fetch_add(1, Ordering::SeqCst);
        if matches!(shared.fault(), Fault::RefuseConnections) {
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let open = OpenGuard::new(shared.clone());
        let mut set = lock(&connections);
        while set.try_join_next().is_some() {}
        set.spawn(async move {
            let _ = serve_socket(stream, &open.0).await;
        });
    }
}

/// Counts a connection as open for as long as it lives (also when its task is aborted).
struct OpenGuard(Arc<Shared>);

impl OpenGuard {
    fn new(shared: Arc<Shared>) -> Self {
        shared.counters.open.fetch_add(1, Ordering::SeqCst);
        Self(shared)
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.counters.open.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn serve_socket(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    match &shared.tls {
        Some(acceptor) => {
            let tls = acceptor.accept(stream).await?;
            serve(tls, shared).await
        }
        None => serve(stream, shared).await,
    }
}

/// The per-connection state machine: PRELOGIN, LOGIN7, then requests until EOF.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, shared: &Shared) -> io::Result<()> {
    // PRELOGIN
    let Some(msg) = wire::read_message(&mut s).await? else {
        return Ok(());
    };
    if msg.ty != wire::PKT_PRELOGIN {
        return Ok(());
    }
    // Plaintext: ENCRYPT_NOT_SUP. Strict: TLS is already up; the value is ignored by the client.
    let fault = shared.fault();
    let ends_tls = matches!(fault, Fault::EndTlsHandshake | Fault::RefuseTlsHandshake);
    let encryption = if shared.tls.is_some() {
        wire::prelogin_encryption(&msg.payload).unwrap_or(0)
    } else if ends_tls {
        0x01 // ENCRYPT_ON: the client starts a TLS handshake inside PRELOGIN packets
    } else {
        0x02
    };
    let reply = wire::prelogin_response(encryption);
    wire::write_message(&mut s, wire::PKT_REPLY, &reply, INITIAL_PACKET_SIZE, true).await?;
    if ends_tls {
        // The client's hello arrives in a PRELOGIN packet; the answer goes back in one.
        wire::read_message(&mut s).await?;
        if fault == Fault::RefuseTlsHandshake {
            // A TLS 1.0 record: alert, fatal (2), protocol_version (70).
            let alert = [0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46];
            wire::write_message(
                &mut s,
                wire::PKT_PRELOGIN,
                &alert,
                INITIAL_PACKET_SIZE,
                true,
            )
            .await?;
        }
        return close(s).await;
    }

    // LOGIN7
    let Some(msg) = wire::read_message(&mut s).await? else {
        return Ok(());
    };
    if msg.ty != wire::PKT_LOGIN7 {
        return Ok(());
    }
    let login = wire::parse_login7(&msg.payload)?;
    shared
        .counters
        .login_attempts
        .fetch_add(1, Ordering::SeqCst);
    let refusal = match shared.fault() {
        Fault::CloseDuringLogin => return close(s).await,
        Fault::LoginFailed => Some((18456, format!("Login failed for user '{}'.", login.user))),
        Fault::LoginError { number, message } => Some((number, message)),
        _ => None,
    };
    if let Some((number, message)) = refusal {
        let mut out = Vec::new();
        wire::error(&mut out, number, 1, 14, &message);
        wire::done(&mut out, wire::TOKEN_DONE, wire::DONE_ERROR, 0);
        wire::write_message(&mut s, wire::PKT_REPLY, &out, INITIAL_PACKET_SIZE, true).await?;
        return close(s).await;
    }
    let mut record = LoginRecord {
        user: login.user.clone(),
        password: login.password.clone(),
        integrated: !login.sspi.is_empty(),
        read_only_intent: login.read_only_intent,
        accepted: false,
    };
    let mut out = Vec::new();
    if let Some(windows) = &shared.login.windows {
        match windows_login(&mut s, windows, &login.sspi).await {
            Ok((account, last)) => {
                record.user = account;
                if let Some(last) = last {
                    // The last token (a Kerberos AP-REP) is a message of its own: the client
                    // reads it, has nothing more to send, and then reads LOGINACK.
                    let mut token = Vec::new();
                    wire::sspi(&mut token, &last);
                    wire::write_message(&mut s, wire::PKT_REPLY, &token, INITIAL_PACKET_SIZE, true)
                        .await?;
                }
            }
            Err(e) => {
                lock(&shared.logins).push(record);
                let mut out = Vec::new();
                // What SQL Server says: 18456 for a refused Windows account, 18452 for a SQL
                // login at a server that takes Windows logins only.
                let (number, message) = if login.sspi.is_empty() {
                    (18452, format!("Login failed. The login is from an untrusted domain and cannot be used with Integrated authentication. ({e})"))
                } else {
                    (18456, format!("Login failed for a Windows account. ({e})"))
                };
                wire::error(&mut out, number, 1, 14, &message);
                wire::done(&mut out, wire::TOKEN_DONE, wire::DONE_ERROR, 0);
                wire::write_message(&mut s, wire::PKT_REPLY, &out, INITIAL_PACKET_SIZE, true)
                    .await?;
                return close(s).await;
            }
        }
    }
    if let Some((host, port)) = &shared.login.route_to {
        lock(&shared.logins).push(record);
        wire::login_ack(&mut out);
        wire::routing(&mut out, host, *port);
        wire::done(&mut out, wire::TOKEN_DONE, wire::DONE_FINAL, 0);
        wire::write_message(&mut s, wire::PKT_REPLY, &out, INITIAL_PACKET_SIZE, true).await?;
        return close(s).await;
    }
    record.accepted = true;
    lock(&shared.logins).push(record);
    let packet_size = (login.packet_size as usize).clamp(512, 32767);
    let database = if login.database.is_empty() {
        DEFAULT_DATABASE.to_owned()
    } else {
        login.database.clone()
    };
    wire::env_change(&mut out, 1, &database, "master");
    wire::info(
        &mut out,
        5701,
        &format!("Changed database context to '{database}'."),
    );
    wire::login_ack(&mut out);
    wire::env_change(
        &mut out,
        4,
        &packet_size.to_string(),
        &INITIAL_PACKET_SIZE.to_string(),
    );
    wire::done(&mut out, wire::TOKEN_DONE, wire::DONE_FINAL, 0);
    wire::write_message(&mut s, wire::PKT_REPLY, &out, INITIAL_PACKET_SIZE, true).await?;
    shared.counters.logins_ok.fetch_add(1, Ordering::SeqCst);
    if login.read_only_intent {
        shared
            .counters
            .read_only_logins
            .fetch_add(1, Ordering::SeqCst);
    }

    // Requests
    while let Some(msg) = wire::read_message(&mut s).await? {
        if !answer(&mut s, shared, msg, packet_size).await? {
            return close(s).await;
        }
    }
    Ok(())
}

/// Runs the SSPI exchange that LOGIN7 started; returns the authenticated account and the
/// last token for the client, if any.
async fn windows_login<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    kind: &crate::login::WindowsLogin,
    first: &[u8],
) -> io::Result<(String, Option<Vec<u8>>)> {
    if first.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "a SQL login, but this server takes Windows logins only",
        ));
    }
    let mut exchange = Exchange::new(kind)?;
    let mut token = first.to_vec();
    for _ in 0..4 {
        let reply = match exchange.step(&token)? {
            Step::Done(account, last) => return Ok((account, last)),
            Step::Continue(reply) => reply,
        };
        let mut out = Vec::new();
        wire::sspi(&mut out, &reply);
        wire::write_message(s, wire::PKT_REPLY, &out, INITIAL_PACKET_SIZE, true).await?;
        let Some(next) = wire::read_message(s).await? else {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the client left during authentication",
            ));
        };
        token = next.payload;
    }
    Err(io::Error::new(
        io::ErrorKind::PermissionDenied,
        "too many SSPI legs",
    ))
}

async fn close<S: AsyncWrite + Unpin>(mut s: S) -> io::Result<()> {
    let _ = s.shutdown().await;
    Ok(())
}

/// Answers one message; `Ok(false)` means close the connection.
async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    shared: &Shared,
    msg: Message,
    packet_size: usize,
) -> io::Result<bool> {
    let is_rpc = msg.ty == wire::PKT_RPC;
    let parsed = match msg.ty {
        wire::PKT_BATCH => wire::parse_batch(&msg.payload),
        wire::PKT_RPC => wire::parse_rpc(&msg.payload),
        wire::PKT_ATTENTION => {
            let mut out = Vec::new();
            wire::done(&mut out, wire::TOKEN_DONE, wire::DONE_ATTN, 0);
            wire::write_message(s, wire::PKT_REPLY, &out, packet_size, true).await?;
            return Ok(true);
        }
        wire::PKT_TRANSACTION_MANAGER => {
            let mut out = Vec::new();
            wire::done(&mut out, wire::TOKEN_DONE, wire::DONE_FINAL, 0);
            wire::write_message(s, wire::PKT_REPLY, &out, packet_size, true).await?;
            return Ok(true);
        }
        _ => return Ok(false),
    };
    let request = match parsed {
        Ok(request) => request,
        Err(e) => {
            let response = Response::error(50000, format!("testkit: {e}"));
            let out = encode_response(&response, is_rpc);
            wire::write_message(s, wire::PKT_REPLY, &out, packet_size, true).await?;
            return Ok(true);
        }
    };
    lock(&shared.requests).push(request.clone());
    shared.counters.requests.fetch_add(1, Ordering::SeqCst);

    let mut fault = shared.fault();
    if fault == Fault::Stall {
        let mut rx = shared.fault.subscribe();
        let released = rx.wait_for(|f| *f != Fault::Stall).await.map(|f| f.clone());
        fault = match released {
            Ok(f) => f,
            Err(_) => return Ok(false),
        };
    }
    match fault {
        Fault::CloseMidResult => {
            let head = first_row_cut_in_half(shared, &request);
            wire::write_message(s, wire::PKT_REPLY, &head, packet_size, false).await?;
            Ok(false)
        }
        Fault::EndMidRow => {
            let head = first_row_cut_in_half(shared, &request);
            wire::write_message(s, wire::PKT_REPLY, &head, packet_size, true).await?;
            Ok(true)
        }
        Fault::EndlessRows => {
            let set = first_result_set(shared, &request);
            let (mut head, mut row) = (Vec::new(), Vec::new());
            if wire::col_metadata(&mut head, &set.columns).is_err()
                || wire::row(&mut row, &set.columns, &set.rows[0]).is_err()
            {
                return Ok(false);
            }
            send_without_end(s, &head, &row, packet_size).await
        }
        Fault::EndlessValue => {
            let mut head = Vec::new();
            let column = Column::nullable("LogDescription", ColumnType::NVarCharMax);
            if wire::col_metadata(&mut head, &[column]).is_err() {
                return Ok(false);
            }
            wire::row_of_unending_plp(&mut head);
            let mut chunk = Vec::new();
            wire::plp_chunk(&mut chunk, 4000);
            send_without_end(s, &head, &chunk, packet_size).await
        }
        Fault::Error { number, message } => {
            let out = encode_response(&Response::Error { number, message }, is_rpc);
            wire::write_message(s, wire::PKT_REPLY, &out, packet_size, true).await?;
            Ok(true)
        }
        _ => {
            let response = shared.handler().handle(&request);
            let out = encode_response(&response, is_rpc);
            wire::write_message(s, wire::PKT_REPLY, &out, packet_size, true).await?;
            Ok(true)
        }
    }
}

/// The handler's first result set when it has a row, else `SELECT 1`'s.
fn first_result_set(shared: &Shared, request: &Request) -> ResultSet {
    match shared.handler().handle(request) {
        Response::Results(sets) if !sets.is_empty() && !sets[0].rows.is_empty() => sets[0].clone(),
        _ => ResultSet::new(
            vec![Column::new("", ColumnType::Int)],
            vec![vec![Value::Int(1)]],
        ),
    }
}

/// COLMETADATA and the first half of the first row.
fn first_row_cut_in_half(shared: &Shared, request: &Request) -> Vec<u8> {
    let set = first_result_set(shared, request);
    let mut head = Vec::new();
    if wire::col_metadata(&mut head, &set.columns).is_ok() {
        let mut row = Vec::new();
        if wire::row(&mut row, &set.columns, &set.rows[0]).is_ok() {
            head.extend_from_slice(&row[..row.len().div_ceil(2)]);
        }
    }
    head
}

/// Sends `head`, then `repeated` over and over, in packets that never end the message, until
/// the client goes away (the write fails).
async fn send_without_end<S: AsyncWrite + Unpin>(
    s: &mut S,
    head: &[u8],
    repeated: &[u8],
    packet_size: usize,
) -> io::Result<bool> {
    wire::write_message(s, wire::PKT_REPLY, head, packet_size, false).await?;
    let batch = repeated.repeat((64 * 1024 / repeated.len().max(1)).max(1));
    loop {
        if wire::write_message(s, wire::PKT_REPLY, &batch, packet_size, false)
            .await
            .is_err()
        {
            return Ok(false);
        }
    }
}

/// Encodes a handler response the way SQL Server frames it for a batch or an RPC.
pub(crate) fn encode_response(response: &Response, is_rpc: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let set_done = if is_rpc {
        wire::TOKEN_DONEINPROC
    } else {
        wire::TOKEN_DONE
    };
    let result = match response {
        Response::Results(sets) => (|| {
            for (i, set) in sets.iter().enumerate() {
                wire::result_set(&mut out, set)?;
                let more = if is_rpc || i + 1 < sets.len() {
                    wire::DONE_MORE
                } else {
                    0
                };
                wire::done(
                    &mut out,
                    set_done,
                    wire::DONE_COUNT | more,
                    set.rows.len() as u64,
                );
            }
            if is_rpc {
                wire::return_status(&mut out, 0);
                wire::done(&mut out, wire::TOKEN_DONEPROC, wire::DONE_FINAL, 0);
            } else if sets.is_empty() {
                wire::done(&mut out, wire::TOKEN_DONE, wire::DONE_FINAL, 0);
            }
            Ok::<(), String>(())
        })(),
        Response::Error { number, message } => {
            wire::error(&mut out, *number, 1, 16, message);
            if is_rpc {
                wire::done(&mut out, wire::TOKEN_DONEPROC, wire::DONE_ERROR, 0);
            } else {
                wire::done(&mut out, wire::TOKEN_DONE, wire::DONE_ERROR, 0);
            }
            Ok(())
        }
        Response::Done => {
            if is_rpc {
                wire::return_status(&mut out, 0);
                wire::done(&mut out, wire::TOKEN_DONEPROC, wire::DONE_FINAL, 0);
            } else {
                wire::done(&mut out, wire::TOKEN_DONE, wire::DONE_FINAL, 0);
            }
            Ok(())
        }
    };
    match result {
        Ok(()) => out,
        Err(problem) => encode_response(
            &Response::error(
                50000,
                format!("testkit handler returned an invalid result: {problem}"),
            ),
            is_rpc,
        ),
    }
}
