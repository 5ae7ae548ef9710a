//! TLS on the relay's one port: a certificate given as files (`--tls-cert`/`--tls-key`) or one
//! kept current by ACME (`--acme-domain`, `acme.rs`). Each connection's ClientHello is read
//! first: an ACME CA's TLS-ALPN-01 validation (ALPN `acme-tls/1`) gets the challenge
//! certificate and is closed; everyone else gets the relay's certificate and HTTP/1.1.

use crate::config::Config;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::rustls::{self, ServerConfig, server::Acceptor};
use tokio_rustls::{LazyConfigAcceptor, server::TlsStream};

/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Tls {
    serve: Arc<ServerConfig>,
    /// Set with ACME: the configuration answering TLS-ALPN-01 validations.
    challenge: Option<Arc<ServerConfig>>,
}

impl Tls {
    /// The relay's TLS, or `None` when it serves plain HTTP (behind a TLS proxy, or local).
    pub fn from_config(config: &Config) -> Result<Option<Tls>, String> {
        let builder = || {
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())
                .map(|b| b.with_no_client_auth())
        };
        let (mut serve, challenge) = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => {
                let (certs, key) = read_pem(cert, key)?;
                let serve = builder()?
                    .with_single_cert(certs, key)
                    .map_err(|e| format!("the TLS certificate and key do not work together: {e}"))?;
                (serve, None)
            }
            _ if !config.acme_domain.is_empty() => {
                let (resolver, challenge) = crate::acme::start(config)?;
                (builder()?.with_cert_resolver(resolver), Some(challenge))
            }
            _ => return Ok(None),
        };
        serve.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Some(Tls { serve: Arc::new(serve), challenge }))
    }

    /// The TLS stream to serve HTTP on, or `None` for a failed or timed-out handshake and for
    /// an ACME validation (answered here).
    pub async fn accept(&self, tcp: TcpStream) -> Option<TlsStream<TcpStream>> {
        let handshake = async {
            let start = LazyConfigAcceptor::new(Acceptor::default(), tcp).await.ok()?;
            if let Some(challenge) = &self.challenge
                && rustls_acme::is_tls_alpn_challenge(&start.client_hello())
            {
                tracing::info!("answering the ACME CA's TLS-ALPN-01 validation");
                let mut tls = start.into_stream(challenge.clone()).await.ok()?;
                let _ = tls.shutdown().await;
                return None;
            }
            start.into_stream(self.serve.clone()).await.ok()
        };
        tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await.ok().flatten()
    }
}

fn read_pem(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<rustls::pki_types::CertificateDer<'static>>, rustls::pki_types::PrivateKeyDer<'static>), String> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<_, _>>())
        .map_err(|e| format!("cannot read the certificate chain {}: {e}", cert.display()))?;
    let key =
        PrivateKeyDer::from_pem_file(key).map_err(|e| format!("cannot read the private key {}: {e}", key.display()))?;
    Ok((certs, key))
}
