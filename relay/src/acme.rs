//! Automatic HTTPS (`--acme-domain`): an ACME client (rustls-acme) that obtains the relay's
//! certificate from Let's Encrypt or another CA and renews it a third of its life before it
//! expires, without a restart. The CA validates with TLS-ALPN-01 on the relay's own HTTPS port
//! (`tls.rs` hands it those handshakes), so one port serves everything and no HTTP port is
//! opened. The ACME account key and the certificate with its key live in `<data-dir>/acme`
//! (0700, files 0600), keyed by domains and CA, so a restart serves the stored certificate
//! without asking the CA again.

use crate::config::Config;
use crate::files;
use async_trait::async_trait;
use futures_util::StreamExt;
use rustls_acme::{AccountCache, AcmeConfig, CertCache, EventOk, ResolvesServerCertAcme};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::rustls::{self, ServerConfig};

/// Starts the ACME task; returns the resolver that serves its certificate and the server
/// configuration for the CA's TLS-ALPN-01 validation handshakes.
pub fn start(config: &Config) -> Result<(Arc<ResolvesServerCertAcme>, Arc<ServerConfig>), String> {
    let dir = config.data_dir.join("acme");
    files::private_dir(&dir)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let acme = match &config.acme_ca_file {
        None => AcmeConfig::new_with_provider(&config.acme_domain, provider),
        Some(file) => AcmeConfig::new_with_client_config(&config.acme_domain, ca_client(file, provider)?),
    };
    let mut state = acme
        .contact(config.acme_email.iter().map(|e| format!("mailto:{e}")))
        .directory(&config.acme_directory)
        .cache(Store { dir })
        .state();
    let resolver = state.resolver();
    let challenge = state.challenge_rustls_config();
    let domains = config.acme_domain.join(", ");
    let ca = config.acme_directory.clone();
    tokio::spawn(async move {
        while let Some(event) = state.next().await {
            match event {
                Ok(EventOk::DeployedCachedCert) => {
                    tracing::info!(%domains, "HTTPS certificate loaded from the data directory")
                }
                Ok(EventOk::DeployedNewCert) => tracing::info!(%domains, %ca, "HTTPS certificate obtained from the CA"),
                Ok(other) => tracing::debug!(event = ?other, "ACME"),
                Err(e) => tracing::warn!(
                    %domains, %ca, error = %e,
                    "cannot get an HTTPS certificate yet: the domain must resolve to this machine and the CA \
                     must reach it on port 443 (TLS-ALPN-01), through any firewall or port forward; retrying"
                ),
            }
        }
    });
    Ok((resolver, challenge))
}

/// A client that trusts only the certificates in `file` (a private ACME server's own CA).
fn ca_client(file: &Path, provider: Arc<rustls::crypto::CryptoProvider>) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let bad = |e: String| format!("--acme-ca-file {}: {e}", file.display());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(file).map_err(|e| bad(e.to_string()))? {
        roots.add(cert.map_err(|e| bad(e.to_string()))?).map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(client))
}

/// rustls-acme's cache in `<data-dir>/acme`: like its `DirCache`, but every file is written
/// 0600 through a rename (the certificate file holds its private key).
struct Store {
    dir: PathBuf,
}

impl Store {
    /// `cert-<first domain>-<hash>.pem` / `account-<hash>.der`: the hash covers every domain
    /// (or contact) and the CA, so another CA or domain list never reuses a file.
    fn path(&self, kind: &str, label: &str, keys: &[String], directory: &str, ext: &str) -> PathBuf {
        let mut h = Sha256::new();
        for k in keys {
            h.update(k.as_bytes());
            h.update([0]);
        }
        h.update(directory.as_bytes());
        let hash = hex::encode(&h.finalize()[..8]);
        self.dir.join(format!("{kind}{label}-{hash}.{ext}"))
    }

    async fn read(path: PathBuf) -> Result<Option<Vec<u8>>, String> {
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    async fn write(path: PathBuf, bytes: &[u8]) -> Result<(), String> {
        let bytes = bytes.to_vec();
        tokio::task::spawn_blocking(move || files::write_private(&path, &bytes)).await.map_err(|e| e.to_string())?
    }

    fn cert_path(&self, domains: &[String], directory: &str) -> PathBuf {
        let first = domains.first().map(|d| format!("-{d}")).unwrap_or_default();
        self.path("cert", &first, domains, directory, "pem")
    }
}

#[async_trait]
impl CertCache for Store {
    type EC = String;
    async fn load_cert(&self, domains: &[String], directory: &str) -> Result<Option<Vec<u8>>, String> {
        Store::read(self.cert_path(domains, directory)).await
    }
    async fn store_cert(&self, domains: &[String], directory: &str, cert: &[u8]) -> Result<(), String> {
        Store::write(self.cert_path(domains, directory), cert).await
    }
}

#[async_trait]
impl AccountCache for Store {
    type EA = String;
    async fn load_account(&self, contact: &[String], directory: &str) -> Result<Option<Vec<u8>>, String> {
        Store::read(self.path("account", "", contact, directory, "der")).await
    }
    async fn store_account(&self, contact: &[String], directory: &str, account: &[u8]) -> Result<(), String> {
        Store::write(self.path("account", "", contact, directory, "der"), account).await
    }
}
