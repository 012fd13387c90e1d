//! HTTPS through rustls: HTTP/1.1 only (HTTP/2 is not built)
//! offered by ALPN, wrong files named at start, slow heads cut as over HTTP.
use std::path::PathBuf;
use std::sync::Arc;

use qoe_data_service::configuration::{Settings, TlsSettings};
use qoe_data_service::startup::Application;
use testkit::TestCertificates;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use crate::helpers::*;

const CONNECTION_STRING: &str = "Server=tcp:127.0.0.1,1;User Id=u;Password=p";

struct TlsFiles {
    dir: PathBuf,
    ca_pem: String,
}

impl TlsFiles {
    fn write(name: &str, certificates: &TestCertificates, key_pem: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("qoe-https-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("cert.pem"), &certificates.server_cert_pem).expect("cert");
        std::fs::write(dir.join("key.pem"), key_pem).expect("key");
        TlsFiles {
            dir,
            ca_pem: certificates.ca_pem.clone(),
        }
    }

    fn settings(&self) -> Settings {
        let mut settings = test_settings(CONNECTION_STRING);
        settings.http.tls = Some(TlsSettings {
            cert_path: self.dir.join("cert.pem"),
            key_path: self.dir.join("key.pem"),
        });
        settings
    }
}

impl Drop for TlsFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn certificates() -> TestCertificates {
    TestCertificates::generate(&["localhost"]).expect("test certificates")
}

async fn connect(
    port: u16,
    ca_pem: &str,
    alpn: &[&[u8]],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).expect("CA PEM"))
        .expect("CA accepted");
    let mut config = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.expect("TCP");
    TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("TLS handshake with a trusted certificate")
}

#[actix_web::test]
async fn https_serves_http_1_1_and_never_offers_http_2() {
    let certificates = certificates();
    let files = TlsFiles::write("serves", &certificates, &certificates.server_key_pem);
    let port = serve_over_an_empty_store(files.settings());

    let h2 = connect(port, &files.ca_pem, &[b"h2", b"http/1.1"]).await;
    assert_eq!(h2.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));

    let mut http1 = connect(port, &files.ca_pem, &[b"http/1.1"]).await;
    http1
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("request");
    let mut answer = String::new();
    http1.read_to_string(&mut answer).await.expect("response");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with(r#"{"status":"ok"}"#), "{answer}");
}

#[actix_web::test]
async fn requests_pipelined_over_https_are_all_answered_in_order() {
    let certificates = certificates();
    let files = TlsFiles::write("pipelined", &certificates, &certificates.server_key_pem);
    let port = serve_over_an_empty_store(files.settings());
    let mut stream = connect(port, &files.ca_pem, &[b"http/1.1"]).await;

    // In one write: the server hands them to actix-http one at a time (listener::pacer).
    let requests = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n".repeat(20)
        + "GET /openapi.json HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    stream
        .write_all(requests.as_bytes())
        .await
        .expect("requests");
    let mut answers = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answers),
    )
    .await
    .expect("all answered within 10 s")
    .expect("read");

    let text = String::from_utf8_lossy(&answers);
    assert_eq!(text.matches("HTTP/1.1 200").count(), 21, "{text}");
    assert!(
        text.trim_end().ends_with('}'),
        "the last answer, openapi.json, is whole"
    );
    assert!(
        text.rfind(r#"{"status":"ok"}"#) < text.find("openapi"),
        "in order"
    );
}

#[actix_web::test]
async fn a_file_that_is_not_a_certificate_stops_the_start_naming_the_setting() {
    let certificates = TestCertificates {
        server_cert_pem: "not a certificate".into(),
        ..certificates()
    };
    let files = TlsFiles::write("bad-cert", &certificates, &certificates.server_key_pem);

    let error = Application::build_with_store(files.settings(), FakeStore::with_entries(vec![]))
        .err()
        .expect("refused");

    assert!(error.to_string().contains("http.tls.cert_path"), "{error}");
}

#[actix_web::test]
async fn a_key_of_another_certificate_stops_the_start_naming_the_setting() {
    let certificates = certificates();
    let other_key = self::certificates().server_key_pem;
    let files = TlsFiles::write("wrong-key", &certificates, &other_key);

    let error = Application::build_with_store(files.settings(), FakeStore::with_entries(vec![]))
        .err()
        .expect("refused");

    assert!(error.to_string().contains("http.tls.key_path"), "{error}");
}

#[actix_web::test]
// Device files at these paths exist on Unix only.
#[cfg(unix)]
async fn a_device_as_certificate_or_key_is_refused_at_once_naming_the_setting() {
    let certificates = certificates();
    let files = TlsFiles::write("devices", &certificates, &certificates.server_key_pem);
    let started = std::time::Instant::now();

    for (cert_path, key_path, setting) in [
        ("/dev/zero", files.dir.join("key.pem"), "http.tls.cert_path"),
        (
            "/dev/urandom",
            files.dir.join("key.pem"),
            "http.tls.cert_path",
        ),
        ("/dev/null", files.dir.join("key.pem"), "http.tls.cert_path"),
        (
            files.dir.join("cert.pem").to_str().expect("utf-8"),
            PathBuf::from("/dev/urandom"),
            "http.tls.key_path",
        ),
    ] {
        let mut settings = files.settings();
        settings.http.tls = Some(TlsSettings {
            cert_path: PathBuf::from(cert_path),
            key_path,
        });
        let error = Application::build_with_store(settings, FakeStore::with_entries(vec![]))
            .err()
            .expect("refused");

        let message = error.to_string();
        assert!(message.contains(setting), "{message}");
        assert!(message.contains("not a regular file"), "{message}");
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

#[actix_web::test]
async fn a_second_head_sent_slowly_over_https_is_cut_at_the_deadline() {
    let certificates = certificates();
    let files = TlsFiles::write("slow-head", &certificates, &certificates.server_key_pem);
    let mut settings = files.settings();
    settings.http.client_request_timeout = std::time::Duration::from_millis(800);
    let port = serve_over_an_empty_store(settings);
    let mut stream = connect(port, &files.ca_pem, &[b"http/1.1"]).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("request");
    let mut first = Vec::new();
    let mut chunk = [0u8; 1024];
    while !String::from_utf8_lossy(&first).ends_with(r#"{"status":"ok"}"#) {
        let n = stream.read(&mut chunk).await.expect("answer");
        assert!(n > 0, "closed before the first answer");
        first.extend_from_slice(&chunk[..n]);
    }
    let started = std::time::Instant::now();

    let mut closed = false;
    for &byte in b"GET /healthz HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
        if stream.write_all(&[byte]).await.is_err() {
            closed = true;
            break;
        }
        let pause = std::time::Duration::from_millis(100);
        if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(pause, stream.read(&mut chunk)).await {
            closed = true;
            break;
        }
    }

    assert!(
        closed,
        "a head sent over {:?} was not cut",
        started.elapsed()
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
}

mod healthcheck {
    use qoe_data_service::healthcheck;

    use super::*;

    /// Only `http.*` settings, as `qoe-data-service healthcheck` reads them: no connection string.
    fn http_only(pairs: &[(&str, &str)]) -> qoe_data_service::configuration::HttpSettings {
        let env = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_http_from(None, env).expect("http settings without a connection string")
    }

    #[actix_web::test]
    async fn the_healthcheck_speaks_https_trusting_the_configured_certificate() {
        let certificates = certificates();
        let files = TlsFiles::write("health-tls", &certificates, &certificates.server_key_pem);
        let port = serve_over_an_empty_store(files.settings());
        let cert = files.dir.join("cert.pem");
        let key = files.dir.join("key.pem");
        let listen = format!("127.0.0.1:{port}");

        let http = http_only(&[
            ("QOE_HTTP__LISTEN", &listen),
            ("QOE_HTTP__TLS__CERT_PATH", cert.to_str().expect("utf-8")),
            ("QOE_HTTP__TLS__KEY_PATH", key.to_str().expect("utf-8")),
        ]);
        healthcheck::check(&http).await.expect("healthy over HTTPS");

        let plain = http_only(&[("QOE_HTTP__LISTEN", &listen)]);
        let error = healthcheck::check(&plain)
            .await
            .expect_err("plain HTTP to an HTTPS port must not pass");
        let said = format!("{error:#}");
        assert!(
            said.starts_with(&format!("{listen}/healthz answered")),
            "connected and answered, but not with 200: {said:?}"
        );
        assert!(
            said.contains('\u{15}') && !said.contains("HTTP/"),
            "the answer is a TLS alert record (type 21), not HTTP: {said:?}"
        );
    }

    #[actix_web::test]
    async fn the_healthcheck_refuses_a_server_with_another_certificate() {
        let served = certificates();
        let files = TlsFiles::write("health-served", &served, &served.server_key_pem);
        let port = serve_over_an_empty_store(files.settings());
        let other = certificates();
        let other_files = TlsFiles::write("health-other", &other, &other.server_key_pem);
        let cert = other_files.dir.join("cert.pem");
        let key = other_files.dir.join("key.pem");

        let http = http_only(&[
            ("QOE_HTTP__LISTEN", &format!("127.0.0.1:{port}")),
            ("QOE_HTTP__TLS__CERT_PATH", cert.to_str().expect("utf-8")),
            ("QOE_HTTP__TLS__KEY_PATH", key.to_str().expect("utf-8")),
        ]);

        let error = healthcheck::check(&http)
            .await
            .expect_err("not our certificate");
        assert!(
            format!("{error:#}").contains("http.tls.cert_path"),
            "{error:#}"
        );
    }

    #[actix_web::test]
    async fn the_healthcheck_speaks_plain_http_without_tls_and_fails_when_nothing_listens() {
        let port = serve_over_an_empty_store(test_settings(CONNECTION_STRING));

        let listen = format!("127.0.0.1:{port}");
        healthcheck::check(&http_only(&[("QOE_HTTP__LISTEN", &listen)]))
            .await
            .expect("healthy over HTTP");

        let (_reserved, closed) = a_port_nothing_listens_on();
        let error = healthcheck::check(&http_only(&[("QOE_HTTP__LISTEN", &closed)]))
            .await
            .expect_err("nothing listens");
        let refused = error
            .chain()
            .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
            .any(|io| io.kind() == std::io::ErrorKind::ConnectionRefused);
        assert!(refused, "not a refused connection: {error:#}");
        assert!(
            format!("{error:#}").starts_with(&format!("connecting to {closed}")),
            "{error:#}"
        );
    }

    #[test]
    fn the_binary_healthcheck_needs_no_connection_string() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let listen = listener.local_addr().expect("addr").to_string();
        let server = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut stream, _) = listener.accept().expect("accept");
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-length: 15\r\nconnection: close\r\n\r\n{\"status\":\"ok\"}",
            );
        });

        let status = std::process::Command::new(env!("CARGO_BIN_EXE_qoe-data-service"))
            .arg("healthcheck")
            .env_clear()
            .env("QOE_HTTP__LISTEN", &listen)
            .status()
            .expect("the binary runs");

        assert!(status.success());
        server.join().expect("server thread");
    }
}

/// A loopback address whose port is bound but not listening, so connecting to it is refused;
/// the port stays ours (no other process can take it) while the socket lives.
fn a_port_nothing_listens_on() -> (socket2::Socket, String) {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind");
    let address = socket
        .local_addr()
        .expect("addr")
        .as_socket()
        .expect("an IP address");
    (socket, address.to_string())
}
