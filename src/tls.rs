use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

use crate::configuration::{invalid, SettingsError, TlsSettings};
use crate::files::{read_bounded, MAX_PEM_BYTES};

/// The rustls configuration for `http.tls.cert_path` and `http.tls.key_path`, each a regular
/// file of at most [`MAX_PEM_BYTES`]. Errors name the setting whose file is wrong. The crypto provider is given explicitly (aws-lc-rs, the one
/// tiberius already links), so rustls never has to guess one at run time.
pub fn server_config(settings: &TlsSettings) -> Result<ServerConfig, SettingsError> {
    let certificates = read_certificates(settings)?;
    let key = read_key(settings)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("http.tls.cert_path", format!("no usable TLS version: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certificates, key)
        .map_err(|e| {
            invalid(
                "http.tls.key_path",
                format!("does not match the certificate in http.tls.cert_path: {e}"),
            )
        })
}

fn read_certificates(
    settings: &TlsSettings,
) -> Result<Vec<CertificateDer<'static>>, SettingsError> {
    let setting = "http.tls.cert_path";
    let path = &settings.cert_path;
    let pem = read_bounded(path, MAX_PEM_BYTES).map_err(|e| invalid(setting, e.at(path)))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(setting, pem_problem(path, &e, "certificate")))?;
    if certificates.is_empty() {
        return Err(invalid(
            setting,
            format!("{} holds no PEM certificate", path.display()),
        ));
    }
    Ok(certificates)
}

fn read_key(settings: &TlsSettings) -> Result<PrivateKeyDer<'static>, SettingsError> {
    let setting = "http.tls.key_path";
    let path = &settings.key_path;
    let pem = read_bounded(path, MAX_PEM_BYTES).map_err(|e| invalid(setting, e.at(path)))?;
    PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| invalid(setting, pem_problem(path, &e, "private key")))
}

/// What is wrong with a PEM file, without quoting it: some PEM errors carry a line of the
/// file, and this one may be a private key.
pub(crate) fn pem_problem(path: &Path, error: &pem::Error, what: &str) -> String {
    match error {
        pem::Error::Io(e) => format!("cannot read {}: {e}", path.display()),
        pem::Error::NoItemsFound => format!("{} holds no PEM {what}", path.display()),
        _ => format!("{} is not valid PEM", path.display()),
    }
}
