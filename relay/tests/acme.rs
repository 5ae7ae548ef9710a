//! Automatic HTTPS (`--acme-domain`) against a real ACME server: Debian's `pebble`, with
//! `pebble-challtestsrv` as its DNS (every name → 127.0.0.1), on loopback. Pebble really
//! validates with TLS-ALPN-01 on the relay's port, issues 45-second certificates so renewal
//! happens within the test, and a restarted relay must serve the stored certificate without a
//! new order.

use crate::common::*;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::rustls::{self, pki_types::CertificateDer, pki_types::ServerName};

const DOMAIN: &str = "relay.pebble.test";
/// Issued certificates' life: rustls-acme renews at two thirds, 30 s after issuance, which
/// leaves a restart far more time than it needs.
const VALIDITY_SECS: u64 = 45;

fn fixture(name: &str) -> String {
    format!("{}/../agent/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Kills the ACME server and its DNS when the test ends, however it ends.
struct Pebble {
    children: Vec<Child>,
    directory: String,
    management: String,
    _dir: tempfile::TempDir,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn spawn(cmd: &mut Command, what: &str) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what} ({e}): install Debian's pebble package (scripts/test does)"))
}

/// Waits until `child` prints a line containing `needle`, then drains the rest.
fn wait_for_line(child: &mut Child, needle: &str) {
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (tx, rx) = std::sync::mpsc::channel();
    let needle = needle.to_string();
    std::thread::spawn(move || {
        for line in lines.by_ref().map_while(Result::ok) {
            if line.contains(&needle) {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(WAIT).expect("pebble started");
}

fn start_pebble(tls_port: u16) -> Pebble {
    let dir = tempfile::tempdir().unwrap();
    let (dns, dns_mgmt, listen, management) = (free_port(), free_port(), free_port(), free_port());
    let mut challtestsrv = spawn(
        Command::new("pebble-challtestsrv").args([
            "-defaultIPv4",
            "127.0.0.1",
            "-defaultIPv6",
            "",
            "-dns01",
            &format!("127.0.0.1:{dns}"),
            "-http01",
            "",
            "-https01",
            "",
            "-tlsalpn01",
            "",
            "-management",
            &format!("127.0.0.1:{dns_mgmt}"),
        ]),
        "pebble-challtestsrv",
    );
    wait_for_line(&mut challtestsrv, "Starting management server");
    let config = serde_json::json!({"pebble": {
        "listenAddress": format!("127.0.0.1:{listen}"),
        "managementListenAddress": format!("127.0.0.1:{management}"),
        "certificate": fixture("relay.pem"),
        "privateKey": fixture("relay.key"),
        "httpPort": free_port(),
        "tlsPort": tls_port,
        "ocspResponderURL": "",
        "externalAccountBindingRequired": false,
        "certificateValidityPeriod": VALIDITY_SECS,
    }});
    let path = dir.path().join("pebble.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let mut pebble = spawn(
        Command::new("pebble")
            .arg("-config")
            .arg(&path)
            .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0"),
        "pebble",
    );
    wait_for_line(&mut pebble, "ACME directory available at");
    Pebble {
        children: vec![challtestsrv, pebble],
        directory: format!("https://127.0.0.1:{listen}/dir"),
        management: format!("https://127.0.0.1:{management}"),
        _dir: dir,
    }
}

/// Pebble's root for the certificates it issues (a new one each time pebble starts).
async fn pebble_root(pebble: &Pebble) -> Vec<u8> {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(fixture("ca.pem")).unwrap()).unwrap();
    let client = reqwest::Client::builder().add_root_certificate(ca).build().unwrap();
    let res = client.get(format!("{}/roots/0", pebble.management)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.bytes().await.unwrap().to_vec()
}

/// The leaf certificate the relay serves for `DOMAIN`, verified against `root`; `None` while
/// it has none (the handshake fails).
async fn served_cert(port: u16, root: &[u8]) -> Option<Vec<u8>> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(root).unwrap()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(DOMAIN).unwrap(), tcp)
        .await
        .ok()?;
    Some(tls.get_ref().1.peer_certificates()?.first()?.to_vec())
}

/// Waits (bounded) until the relay serves a certificate other than `old`.
async fn next_cert(port: u16, root: &[u8], old: Option<&[u8]>, within: Duration) -> Vec<u8> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(cert) = served_cert(port, root).await
            && Some(cert.as_slice()) != old
        {
            return cert;
        }
        assert!(tokio::time::Instant::now() < deadline, "no new certificate within {within:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The files in `<data-dir>/acme` with their modes (a `.partial` is a write in progress).
fn acme_files(relay: &Relay) -> Vec<(String, u32)> {
    let dir = relay.data_dir().join("acme");
    assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().into_string().unwrap(), e.metadata().unwrap().permissions().mode() & 0o777)
        })
        .collect();
    files.sort();
    files
}

/// Waits (bounded) until the stored certificate file holds `served`: the relay serves a new
/// certificate a moment before it has written it.
async fn wait_stored(relay: &Relay, served: &[u8]) {
    use rustls::pki_types::pem::PemObject;
    let holds = || {
        let dir = relay.data_dir().join("acme");
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).any(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with(&format!("cert-{DOMAIN}-"))
                && name.ends_with(".pem")
                && CertificateDer::pem_file_iter(&p)
                    .map(|mut certs| certs.any(|c| c.is_ok_and(|c| c.as_ref() == served)))
                    .unwrap_or(false)
        })
    };
    wait_until("the served certificate is stored", || std::future::ready(holds())).await;
}

#[tokio::test]
async fn obtains_serves_keeps_and_renews_a_certificate() {
    let port = free_port();
    let pebble = start_pebble(port);
    let mut relay = Relay::start_with(
        Opts::default()
            .listen(&format!("127.0.0.1:{port}"))
            .arg("--acme-domain")
            .arg(DOMAIN)
            .arg("--acme-email")
            .arg("ops@example.com")
            .arg("--acme-directory")
            .arg(&pebble.directory)
            .arg("--acme-ca-file")
            .arg(&fixture("ca.pem")),
    )
    .await;
    assert_eq!(relay.base, format!("https://127.0.0.1:{port}"));
    let root = pebble_root(&pebble).await;

    // Issued through a real TLS-ALPN-01 validation on the relay's one port, then served.
    let first = next_cert(port, &root, None, Duration::from_secs(60)).await;
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&root).unwrap())
        .resolve(DOMAIN, ([127, 0, 0, 1], port).into())
        .build()
        .unwrap();
    let res = client.get(format!("https://{DOMAIN}:{port}/install.sh")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    // With no --public-url, the public URL is the ACME domain.
    assert!(res.text().await.unwrap().contains(&format!("https://{DOMAIN}:{port}")));
    assert!(relay.log().contains("answering the ACME CA's TLS-ALPN-01 validation"), "{}", relay.log());

    // The account key and the certificate (with its key) are kept, owner-only.
    wait_stored(&relay, &first).await;
    let files = acme_files(&relay);
    let names: Vec<_> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[0].starts_with("account-") && names[0].ends_with(".der"), "{names:?}");
    assert!(names[1].starts_with(&format!("cert-{DOMAIN}-")) && names[1].ends_with(".pem"), "{names:?}");
    assert!(files.iter().all(|(_, mode)| *mode == 0o600), "{files:?}");

    // A restart serves the stored certificate at once, without asking the CA.
    relay.restart();
    let after_restart = next_cert(port, &root, None, WAIT).await;
    assert_eq!(after_restart, first, "the restarted relay got a new certificate");
    let log = relay.log();
    assert!(log.contains("HTTPS certificate loaded from the data directory"), "{log}");
    assert_eq!(log.matches("HTTPS certificate obtained from the CA").count(), 1, "{log}");

    // Renewal: pebble's short-lived certificate is replaced without a restart.
    let renewed = next_cert(port, &root, Some(&first), Duration::from_secs(VALIDITY_SECS * 2)).await;
    assert_ne!(renewed, first);
    assert_eq!(relay.log().matches("HTTPS certificate obtained from the CA").count(), 2);
    wait_stored(&relay, &renewed).await;
}

#[tokio::test]
async fn refuses_what_cannot_work() {
    let said = Relay::refuses(Opts::default().arg("--acme-domain").arg("https://relay.example.com")).await;
    assert!(said.contains("bare domain name such as relay.example.com"), "{said}");
    let said = Relay::refuses(Opts::default().arg("--acme-domain").arg("*.example.com")).await;
    assert!(said.contains("wildcard"), "{said}");
    let said = Relay::refuses(
        Opts::default()
            .arg("--acme-domain")
            .arg("relay.example.com")
            .arg("--tls-cert")
            .arg(&fixture("relay.pem"))
            .arg("--tls-key")
            .arg(&fixture("relay.key")),
    )
    .await;
    assert!(said.contains("--acme-domain") && said.contains("--tls-cert"), "{said}");
    let said = Relay::refuses(
        Opts::default().arg("--acme-domain").arg("relay.example.com").arg("--acme-ca-file").arg("/nonexistent/ca.pem"),
    )
    .await;
    assert!(said.contains("--acme-ca-file /nonexistent/ca.pem"), "{said}");
}
