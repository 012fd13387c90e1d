//! HTTPS through rustls: HTTP/2 and HTTP/1.1 offered by ALPN, wrong files named at start.
use std::path::PathBuf;
use std::sync::Arc;

use qoe_data_service::configuration::Settings;
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
        let cert = self.dir.join("cert.pem");
        let key = self.dir.join("key.pem");
        settings_with(
            CONNECTION_STRING,
            &[
                ("QOE_HTTP__LISTEN", "127.0.0.1:0"),
                (
                    "QOE_HTTP__TLS__CERT_PATH",
                    cert.to_str().expect("utf-8 path"),
                ),
                ("QOE_HTTP__TLS__KEY_PATH", key.to_str().expect("utf-8 path")),
            ],
        )
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
async fn https_serves_http_1_1_and_offers_http_2() {
    let certificates = certificates();
    let files = TlsFiles::write("serves", &certificates, &certificates.server_key_pem);
    let application =
        Application::build_with_store(files.settings(), FakeStore::with_entries(vec![]))
            .expect("starts with TLS");
    let port = application.port();
    actix_web::rt::spawn(application.run_until_stopped());

    let h2 = connect(port, &files.ca_pem, &[b"h2", b"http/1.1"]).await;
    assert_eq!(h2.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));

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
