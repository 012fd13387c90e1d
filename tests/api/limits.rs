//! Memory under abuse: request heads and concurrent connections are capped.
use std::time::Duration;

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

#[actix_web::test]
async fn connections_past_the_cap_wait_until_one_closes() {
    let port = serve(|http| http.max_connections = 2).await;
    let mut holders = vec![held_connection(port).await, held_connection(port).await];

    let mut third = tokio::spawn(async move { http_get(port, "/healthz").await.status });
    // That something does not happen can only be watched for a while: a /healthz served
    // takes a few milliseconds, so half a second unanswered means it waits.
    let unanswered = tokio::time::timeout(Duration::from_millis(500), &mut third).await;
    assert!(
        unanswered.is_err(),
        "a third connection was served with a cap of 2: {unanswered:?}"
    );

    drop(holders.pop());
    let status = tokio::time::timeout(Duration::from_secs(3), third)
        .await
        .expect("served once a slot is free")
        .expect("task");
    assert_eq!(status, 200);
}

#[test]
fn the_caps_have_sane_defaults_and_bounds() {
    let settings = test_settings("Server=tcp:db,1433;User Id=u;Password=p");
    assert_eq!(settings.http.max_request_head_bytes, 16 * 1024);
    assert_eq!(settings.http.max_connections, 1024);

    for (variable, value) in [
        ("QOE_HTTP__MAX_REQUEST_HEAD_BYTES", "100"),
        ("QOE_HTTP__MAX_CONNECTIONS", "0"),
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
