//! TLS, like Redis's `tls-port`: `[server.tls]` names a second listener
//! whose connections are encrypted with rustls (on ring), beside the plain
//! one. With `client_ca`, clients must present a certificate it signed
//! (Redis's `tls-auth-clients yes`). The certificate, key and CA are read
//! at start and again at every reload, so a rotated certificate takes
//! effect without a restart; a reload whose files do not load changes
//! nothing.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use tokio_rustls::TlsAcceptor;

/// How long a client has to finish the TLS handshake.
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// `[server.tls]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Where the TLS listener listens (Redis's `tls-port`).
    pub listen: SocketAddr,
    /// The server's certificate chain, PEM (leaf first).
    pub cert: PathBuf,
    /// The certificate's private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// A CA bundle, PEM: when set, clients must present a certificate it
    /// signed.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}

/// Reads the files `config` names and builds the acceptor.
pub fn acceptor(config: &TlsConfig) -> Result<TlsAcceptor> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = match &config.client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates(ca)? {
                roots
                    .add(cert)
                    .with_context(|| format!("server.tls.client_ca {}", ca.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .with_context(|| format!("server.tls.client_ca {}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let key = PrivateKeyDer::from_pem_file(&config.key)
        .with_context(|| format!("server.tls.key: no private key in {}", config.key.display()))?;
    let server = builder
        .with_single_cert(certificates(&config.cert)?, key)
        .with_context(|| {
            format!(
                "server.tls: {} and {} do not make a certificate and its key",
                config.cert.display(),
                config.key.display()
            )
        })?;
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// Every certificate in the PEM file at `path` (at least one).
pub(crate) fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("reading {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not a PEM certificate file", path.display()))?;
    if certs.is_empty() {
        bail!("{} holds no certificate", path.display());
    }
    Ok(certs)
}
