//! Test certificates (a generated CA and a server certificate it signs) and the server's TLS identity.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// The ALPN protocol id of TDS 8.0 strict mode.
pub const TDS_ALPN: &[u8] = b"tds/8.0";

/// A generated CA plus a server certificate for the given host names, all PEM.
#[derive(Debug, Clone)]
pub struct TestCertificates {
    /// The CA certificate (write it to a `.pem` file for `TrustServerCertificateCA`).
    pub ca_pem: String,
    /// The server certificate, signed by the CA.
    pub server_cert_pem: String,
    /// The server's private key (PKCS#8).
    pub server_key_pem: String,
}

impl TestCertificates {
    /// Generates a CA and a server certificate whose SANs are `hostnames` (IP literals become IP SANs).
    pub fn generate<S: AsRef<str>>(hostnames: &[S]) -> Result<Self, rcgen::Error> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        // A unique name, so a foreign test CA fails as UnknownIssuer rather than BadSignature.
        static CA_SERIAL: AtomicU64 = AtomicU64::new(0);
        let serial = CA_SERIAL.fetch_add(1, Ordering::Relaxed);
        ca_params.distinguished_name.push(
            DnType::CommonName,
            format!("testkit test CA {}-{serial}", std::process::id()),
        );
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let names: Vec<String> = hostnames.iter().map(|h| h.as_ref().to_owned()).collect();
        let server_key = KeyPair::generate()?;
        let mut params = CertificateParams::new(names.clone())?;
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_else(|| "localhost".into()),
        );
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = params.signed_by(&server_key, &issuer)?;

        Ok(Self {
            ca_pem: ca_cert.pem(),
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
        })
    }

    /// A self-signed server certificate for `hostnames`, as SQL Server's own fallback or an
    /// admin's `New-SelfSignedCertificate` makes: `ca_pem` is the certificate itself (what an
    /// admin pins), and `is_ca` sets CA:TRUE, as some tools do.
    pub fn self_signed<S: AsRef<str>>(hostnames: &[S], is_ca: bool) -> Result<Self, rcgen::Error> {
        let names: Vec<String> = hostnames.iter().map(|h| h.as_ref().to_owned()).collect();
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(names.clone())?;
        static SERIAL: AtomicU64 = AtomicU64::new(0);
        params.distinguished_name.push(
            DnType::CommonName,
            format!(
                "testkit self-signed {}-{}",
                std::process::id(),
                SERIAL.fetch_add(1, Ordering::Relaxed)
            ),
        );
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        if is_ca {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages.push(KeyUsagePurpose::KeyCertSign);
        }
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let certificate = params.self_signed(&key)?;
        Ok(Self {
            ca_pem: certificate.pem(),
            server_cert_pem: certificate.pem(),
            server_key_pem: key.serialize_pem(),
        })
    }

    /// Generates certificates for `localhost` and `127.0.0.1`.
    pub fn generate_localhost() -> Result<Self, rcgen::Error> {
        Self::generate(&["localhost", "127.0.0.1"])
    }

    /// The server identity for [`crate::ServerOptions::tls`], carrying the CA for connection strings.
    pub fn tls_identity(&self) -> TlsIdentity {
        TlsIdentity {
            cert_chain_pem: self.server_cert_pem.clone(),
            key_pem: self.server_key_pem.clone(),
            ca_pem: Some(self.ca_pem.clone()),
        }
    }

    /// Writes the CA certificate to a fresh `.pem` file in `dir` and returns its path.
    pub fn write_ca_pem(&self, dir: &Path) -> io::Result<PathBuf> {
        write_temp_pem(dir, "ca", &self.ca_pem)
    }
}

/// The certificate chain and key the server presents in strict TLS mode.
#[derive(Debug, Clone)]
pub struct TlsIdentity {
    /// Server certificate chain, PEM (leaf first).
    pub cert_chain_pem: String,
    /// Server private key, PEM.
    pub key_pem: String,
    /// CA to name in `TrustServerCertificateCA=` of `ado_connection_string` (written to a temp file).
    pub ca_pem: Option<String>,
}

impl TlsIdentity {
    /// Builds the rustls acceptor (aws-lc-rs provider, ALPN `tds/8.0`).
    pub(crate) fn acceptor(&self) -> io::Result<TlsAcceptor> {
        let certs = CertificateDer::pem_slice_iter(self.cert_chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| io::Error::other(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        config.alpn_protocols = vec![TDS_ALPN.to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

/// Writes `contents` to a new uniquely named `testkit-<stem>-<pid>-<n>.pem` in `dir`.
pub(crate) fn write_temp_pem(dir: &Path, stem: &str, contents: &str) -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!("testkit-{stem}-{}-{n}.pem", std::process::id()));
    std::fs::write(&path, contents)?;
    Ok(path)
}
