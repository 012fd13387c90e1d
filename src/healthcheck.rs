//! `qoe-data-service healthcheck`: asks the server at `http.listen` for `/healthz`, over HTTPS
//! when `http.tls` is set. Needs only the `http.*` settings.
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};

use crate::configuration::HttpSettings;

const DEADLINE: Duration = Duration::from_secs(2);
/// A `/healthz` answer is a few hundred bytes; anything longer is not ours.
const MAX_RESPONSE: u64 = 64 * 1024;

/// Succeeds when the server listening on `http.listen` answers `GET /healthz` with 200.
/// With `http.tls` set it speaks HTTPS and trusts exactly the certificate in
/// `http.tls.cert_path` (pinned: whatever name it carries, no other certificate passes).
pub async fn check(http: &HttpSettings) -> anyhow::Result<()> {
    let http = http.clone();
    tokio::task::spawn_blocking(move || check_blocking(&http))
        .await
        .context("the healthcheck task failed")?
}

fn check_blocking(http: &HttpSettings) -> anyhow::Result<()> {
    let target = reachable(http.listen);
    let started = Instant::now();
    let tcp = TcpStream::connect_timeout(&target, DEADLINE)
        .with_context(|| format!("connecting to {target}"))?;
    let left = DEADLINE
        .saturating_sub(started.elapsed())
        .max(Duration::from_millis(1));
    tcp.set_read_timeout(Some(left))?;
    tcp.set_write_timeout(Some(left))?;
    let response = match &http.tls {
        None => exchange(tcp),
        Some(tls) => {
            let pinned = CertificateDer::pem_file_iter(&tls.cert_path)
                .and_then(|mut certificates| certificates.next().transpose())
                .ok()
                .flatten()
                .with_context(|| {
                    format!(
                        "http.tls.cert_path: {} holds no PEM certificate",
                        tls.cert_path.display()
                    )
                })?;
            let config = client_config(pinned)?;
            // The name is not checked (the certificate is pinned), but SNI needs one.
            let name = ServerName::try_from("localhost")?;
            let connection = ClientConnection::new(Arc::new(config), name)?;
            exchange(StreamOwned::new(connection, tcp))
        }
    }
    .with_context(|| format!("asking {target}/healthz within {DEADLINE:?}"))?;
    let status_line = response.lines().next().unwrap_or_default();
    if status_line.split_whitespace().nth(1) != Some("200") {
        bail!("{target}/healthz answered `{status_line}`");
    }
    Ok(())
}

fn exchange(mut stream: impl Read + Write) -> anyhow::Result<String> {
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    stream.flush()?;
    let mut response = Vec::new();
    match stream.take(MAX_RESPONSE).read_to_end(&mut response) {
        Ok(_) => {}
        // A server closing TLS without close_notify after a complete answer is still an answer.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {}
        Err(e) => return Err(e.into()),
    }
    Ok(String::from_utf8_lossy(&response).into_owned())
}

fn client_config(pinned: CertificateDer<'static>) -> anyhow::Result<ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(Pinned {
        certificate: pinned,
        provider: provider.clone(),
    });
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// Accepts the one certificate the server is configured with, and checks that the server
/// proves it holds its key.
#[derive(Debug)]
struct Pinned {
    certificate: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.certificate.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the server's certificate is not the one in http.tls.cert_path".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A server listening on every address is asked on loopback.
fn reachable(listen: SocketAddr) -> SocketAddr {
    match listen {
        SocketAddr::V4(v4) if v4.ip().is_unspecified() => {
            SocketAddr::from((Ipv4Addr::LOCALHOST, v4.port()))
        }
        SocketAddr::V6(v6) if v6.ip().is_unspecified() => {
            SocketAddr::from((Ipv6Addr::LOCALHOST, v6.port()))
        }
        other => other,
    }
}
