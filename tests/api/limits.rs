//! Memory and slots under abuse: request heads are capped exactly and timed, idle keep-alive
//! connections closed, answers the client does not take closed, concurrent connections capped
//! with a prompt `503` past the cap.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use qoe_data_service::configuration::HttpSettings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

async fn serve(http: impl FnOnce(&mut HttpSettings)) -> u16 {
    let mut settings = test_settings("Server=tcp:127.0.0.1,1;User Id=u;Password=p");
    http(&mut settings.http);
    serve_over_an_empty_store(settings)
}

/// Reads until the server closes; `None` if it is still open after `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return received,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .ok()
}

#[actix_web::test]
async fn a_request_head_longer_than_the_cap_closes_the_connection_at_once() {
    let port = serve(|http| http.max_request_head_bytes = 2048).await;
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");

    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: {}",
        "a".repeat(3000)
    );
    let _ = stream.write_all(head.as_bytes()).await;

    assert!(
        closed_within(&mut stream, Duration::from_secs(1))
            .await
            .is_some(),
        "a 3 KB unfinished head was still buffered after 1 s with a 2 KB cap"
    );
}

#[actix_web::test]
async fn heads_within_the_cap_are_served_one_after_another_on_one_connection() {
    let port = serve(|http| http.max_request_head_bytes = 2048).await;
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(1500)
    );

    for _ in 0..3 {
        stream.write_all(head.as_bytes()).await.expect("send");
    }
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("send");

    let answers = closed_within(&mut stream, Duration::from_secs(5))
        .await
        .expect("answered and closed");
    let text = String::from_utf8_lossy(&answers);
    assert_eq!(text.matches("HTTP/1.1 200").count(), 4, "{text}");
}

/// A connection the server has accepted and is holding: one request answered on it, kept alive.
async fn held_connection(port: u16) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("send");
    let mut received = Vec::new();
    let mut chunk = [0u8; 1024];
    tokio::time::timeout(Duration::from_secs(5), async {
        while !received.ends_with(br#"{"status":"ok"}"#) {
            let n = stream.read(&mut chunk).await.expect("read");
            assert_ne!(n, 0, "closed: {}", String::from_utf8_lossy(&received));
            received.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .expect("answered within 5 s, so accepted");
    stream
}

/// `GET /healthz` answered within 1 s; its status and `Retry-After`.
async fn healthz_within_a_second(port: u16) -> (u16, Option<String>) {
    let answer = tokio::time::timeout(Duration::from_secs(1), http_get(port, "/healthz"))
        .await
        .expect("an answer within 1 s");
    (
        answer.status,
        answer.header("retry-after").map(str::to_owned),
    )
}

#[actix_web::test]
async fn a_connection_past_the_cap_is_answered_503_at_once_and_served_once_a_slot_is_free() {
    let port = serve(|http| http.max_connections = 2).await;
    let mut holders = vec![held_connection(port).await, held_connection(port).await];

    let past_the_cap = healthz_within_a_second(port).await;

    assert_eq!(past_the_cap, (503, Some("1".to_owned())));
    drop(holders.pop());
    served_within(port, Duration::from_secs(3)).await;
}

/// Asks `/healthz` until it is answered `200`; how long that took. Fails after `limit`.
async fn served_within(port: u16, limit: Duration) -> Duration {
    let started = Instant::now();
    while healthz_within_a_second(port).await.0 != 200 {
        assert!(started.elapsed() < limit, "no slot free after {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

#[actix_web::test]
async fn no_more_connections_than_the_cap_are_served_whatever_the_number_of_workers() {
    // 3 does not divide among 2 workers: rounding each share up served 4.
    let port = serve(|http| http.max_connections = 3).await;
    // Answered, so accepted and each in a slot: not still in the backlog behind the fourth.
    let _holders = [
        held_connection(port).await,
        held_connection(port).await,
        held_connection(port).await,
    ];

    let fourth = healthz_within_a_second(port).await;

    assert_eq!(fourth.0, 503, "a fourth connection with a cap of 3");
}

/// A connection whose receive buffer is small, so that answers back up at the server soon.
async fn with_a_small_receive_buffer(port: u16) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket.set_recv_buffer_size(4096).expect("a small buffer");
    socket
        .connect(([127, 0, 0, 1], port).into())
        .await
        .expect("connect")
}

/// A connection that asks for `path` `count` times in one go (pipelined) and never reads,
/// [`with_a_small_receive_buffer`].
async fn never_reading(port: u16, path: &str, count: usize) -> tokio::task::JoinHandle<()> {
    let mut stream = with_a_small_receive_buffer(port).await;
    let requests = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").repeat(count);
    tokio::spawn(async move {
        // The server stops reading while its answers are not taken: this write may never end.
        let _ = stream.write_all(requests.as_bytes()).await;
        std::future::pending::<()>().await;
    })
}

#[test]
fn the_caps_have_sane_defaults_and_bounds() {
    let settings = test_settings("Server=tcp:db,1433;User Id=u;Password=p");
    assert_eq!(settings.http.max_request_head_bytes, 16 * 1024);
    assert_eq!(settings.http.max_connections, 2048);
    assert_eq!(settings.http.client_request_timeout, Duration::from_secs(5));
    assert_eq!(settings.http.keep_alive, Duration::from_secs(5));
    assert_eq!(settings.http.client_write_timeout, Duration::from_secs(5));

    for (variable, value) in [
        ("QOE_HTTP__MAX_REQUEST_HEAD_BYTES", "100"),
        ("QOE_HTTP__MAX_CONNECTIONS", "0"),
        ("QOE_HTTP__CLIENT_REQUEST_TIMEOUT_MS", "0"),
        ("QOE_HTTP__KEEP_ALIVE_S", "3601"),
        ("QOE_HTTP__CLIENT_WRITE_TIMEOUT_MS", "99"),
    ] {
        let env = [
            (variable.to_owned(), value.to_owned()),
            (
                "QOE_DATABASE__CONNECTION_STRING".to_owned(),
                "Server=db;User Id=u;Password=p".to_owned(),
            ),
        ]
        .into();
        let error =
            qoe_data_service::configuration::Settings::load_from(None, env).expect_err("refused");
        assert!(
            error
                .to_string()
                .contains(&variable[5..].to_lowercase().replace("__", ".")),
            "{error}"
        );
    }
}

/// A complete head of exactly `length` bytes.
fn head_of(length: usize) -> Vec<u8> {
    let start = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ";
    let end = b"\r\n\r\n";
    let mut head = start.to_vec();
    head.resize(length - end.len(), b'a');
    head.extend_from_slice(end);
    head
}

/// The server closes `stream` within 5 s without answering `what`.
async fn assert_closed_unanswered(stream: &mut TcpStream, what: &str) {
    let answer = closed_within(stream, Duration::from_secs(5))
        .await
        .unwrap_or_else(|| panic!("{what}: still open after 5 s"));
    let answer = String::from_utf8_lossy(&answer);
    assert!(!answer.contains("200 OK"), "{what} was answered: {answer}");
}

#[actix_web::test]
async fn a_complete_head_over_the_cap_in_one_write_is_not_answered() {
    let port = serve(|_| {}).await;
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");

    let _ = stream.write_all(&head_of(32_062)).await;

    assert_closed_unanswered(&mut stream, "a 32,062-byte head with a 16 KiB cap").await;
}

/// Sends one `/healthz` request on `stream` and reads its whole answer; `None` if the
/// connection closed or no answer came within `limit`.
async fn one_request(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .ok()?;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + limit;
    while !String::from_utf8_lossy(&answer).ends_with(r#"{"status":"ok"}"#) {
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => answer.extend_from_slice(&chunk[..n]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&answer).into_owned())
}

/// Sends `GET /healthz…` one byte every `pause`, up to `bytes` bytes or until the server
/// closes; how long the server let it go on.
async fn trickle_a_head(stream: &mut TcpStream, pause: Duration, bytes: usize) -> Duration {
    let started = Instant::now();
    for &byte in b"GET /healthz HTTP/1.1\r\nX-Slow: "
        .iter()
        .chain([b'a'; 1000].iter())
        .take(bytes)
    {
        if stream.write_all(&[byte]).await.is_err() {
            break;
        }
        let mut probe = [0u8; 512];
        if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(pause, stream.read(&mut probe)).await {
            break;
        }
    }
    started.elapsed()
}

#[actix_web::test]
async fn a_second_head_sent_slowly_on_a_keep_alive_connection_is_cut_at_the_deadline() {
    let port = serve(|http| http.client_request_timeout = Duration::from_millis(800)).await;
    let mut stream = held_connection(port).await;

    let lasted = trickle_a_head(&mut stream, Duration::from_millis(100), 60).await;

    assert!(
        lasted < Duration::from_secs(3),
        "a second head sent over {lasted:?} was not cut at 0.8 s"
    );
}

#[actix_web::test]
async fn an_idle_keep_alive_connection_is_closed_after_keep_alive() {
    let port = serve(|http| http.keep_alive = Duration::from_secs(1)).await;
    let mut stream = held_connection(port).await;
    let idle_since = Instant::now();

    closed_within(&mut stream, Duration::from_secs(4))
        .await
        .expect("an idle connection closed");

    let idle = idle_since.elapsed();
    assert!(
        idle >= Duration::from_millis(800) && idle < Duration::from_secs(3),
        "closed after {idle:?} with keep_alive 1 s"
    );
}

#[actix_web::test]
#[cfg_attr(
    windows,
    ignore = "under Wine, 200 clients at once often leave fewer than 40 served within 30 s"
)]
async fn slow_clients_cannot_hold_the_slots_a_new_client_needs() {
    const SLOW_CLIENTS: usize = 200;
    let port = serve(|http| {
        http.max_connections = 40;
        http.client_request_timeout = Duration::from_millis(500);
    })
    .await;
    let served = Arc::new(AtomicUsize::new(0));
    let mut slow = Vec::new();
    for _ in 0..SLOW_CLIENTS {
        let served = served.clone();
        slow.push(tokio::spawn(async move {
            let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)).await else {
                return;
            };
            if one_request(&mut stream, Duration::from_secs(20))
                .await
                .is_some()
            {
                served.fetch_add(1, Ordering::Relaxed);
                // Each slow client would go on for 20 s (100 bytes, one per 200 ms).
                trickle_a_head(&mut stream, Duration::from_millis(200), 100).await;
            }
        }));
    }
    // A condition, not a timing: under Wine 200 connections take seconds to be answered.
    wait_until(
        "slow clients in every slot",
        Duration::from_secs(30),
        || served.load(Ordering::Relaxed) >= 40,
    )
    .await;

    // Each try is answered within 1 s (`503` while every slot is held); one is served as soon
    // as a slow client is cut at its head deadline.
    let waited = served_within(port, Duration::from_secs(10)).await;

    for client in slow {
        client.abort();
    }
    eprintln!(
        "figure: a new client behind {SLOW_CLIENTS} slow clients and 40 slots served in {waited:?}"
    );
}

#[actix_web::test]
async fn a_client_that_takes_none_of_its_answers_gives_its_slot_back_at_the_write_deadline() {
    let port = serve(|http| {
        http.max_connections = 1;
        http.client_write_timeout = Duration::from_millis(500);
    })
    .await;
    let stuck = never_reading(port, "/openapi.json", 2000).await;
    assert_eq!(
        healthz_within_a_second(port).await.0,
        503,
        "the client that does not read holds the only slot"
    );

    let freed_after = served_within(port, Duration::from_secs(5)).await;

    stuck.abort();
    assert!(
        freed_after < Duration::from_secs(3),
        "slot freed after {freed_after:?} with a 0.5 s write deadline"
    );
}

#[actix_web::test]
async fn a_slow_but_steady_reader_is_served_to_the_end() {
    let port = serve(|http| http.client_write_timeout = Duration::from_secs(1)).await;
    let mut stream = with_a_small_receive_buffer(port).await;
    let requests = "GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n".repeat(100)
        + "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    stream.write_all(requests.as_bytes()).await.expect("send");

    // Up to 16 KB every 5 ms: slower than the server writes (about 1 MB of answers back up
    // past the small receive buffer), never a pause near the 1 s deadline.
    let mut received = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let started = Instant::now();
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .expect("the server goes on sending")
            .unwrap_or(0);
        if n == 0 {
            break;
        }
        received.extend_from_slice(&chunk[..n]);
        assert!(started.elapsed() < Duration::from_secs(60), "still reading");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let text = String::from_utf8_lossy(&received);
    assert_eq!(
        text.matches("HTTP/1.1 200").count(),
        101,
        "{} bytes",
        received.len()
    );
    assert!(
        text.ends_with(r#"{"status":"ok"}"#),
        "cut before the last answer"
    );
}
