//! Serving `https://` and `wss://` directly, from a certificate and key in
//! PEM files (`tls_certificate`, `tls_key` in the settings), for a clinic
//! without a reverse proxy in front. The key must be readable by the
//! server's user only: whoever reads it can pose as the clinic.

use crate::error::ApiError;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// Reads the certificate chain and key and makes the acceptor every
/// connection is handed to. A missing, unreadable or mismatched file is an
/// error naming it.
pub fn acceptor(certificate: &Path, key: &Path) -> Result<TlsAcceptor, ApiError> {
    let shown = |p: &Path| p.display().to_string();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(certificate)
        .map_err(|e| ApiError::internal(format!("reading {}: {e}", shown(certificate))))?
        .collect::<Result<_, _>>()
        .map_err(|e| {
            ApiError::internal(format!(
                "{} is not PEM certificates: {e}",
                shown(certificate)
            ))
        })?;
    if chain.is_empty() {
        return Err(ApiError::internal(format!(
            "{} holds no certificate",
            shown(certificate)
        )));
    }
    crate::config::check_private(key, "pose as the clinic's server")?;
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| ApiError::internal(format!("{} is not a PEM private key: {e}", shown(key))))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ApiError::internal(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| {
            ApiError::internal(format!(
                "{} and {} do not make a certificate and its key: {e}",
                shown(certificate),
                shown(key)
            ))
        })?;
    // WebSockets upgrade HTTP/1.1 connections; REST is fine on it too.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
