//! `https://` and `wss://` to a clinic server with its own certificate
//! authority: refused without the clinic's CA file, live with it; behind a
//! TLS front, and served by the clinic server itself from its settings.

use frontdesk_e2e::*;
use frontdesk_engine::cache::Kind;
use frontdesk_engine::engine::{self, EngineConfig};
use frontdesk_engine::notify::Silent;
use frontdesk_engine::secrets::{MemoryStore, SecretStore};
use frontdesk_engine::supervisor::ConnState;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::sync::Arc;

/// A clinic CA and a server certificate for 127.0.0.1 signed by it, all PEM:
/// (CA, certificate, key).
fn clinic_pki_pem() -> (String, String, String) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Demo Family Clinic CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let mut server = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    server
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let key = KeyPair::generate().unwrap();
    let cert = server.signed_by(&key, &ca).unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// The same as DER, for a TLS front: (CA PEM, certificate, key).
fn clinic_pki() -> (String, CertificateDer<'static>, PrivateKeyDer<'static>) {
    use rustls::pki_types::pem::PemObject;
    let (ca, cert, key) = clinic_pki_pem();
    (
        ca,
        CertificateDer::from_pem_slice(cert.as_bytes()).unwrap(),
        PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
    )
}

/// Terminates TLS on loopback and forwards plain TCP to `target`, as a
/// clinic's reverse proxy would.
async fn tls_front(
    target: SocketAddr,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(target).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn wss_with_the_clinics_own_ca_file() {
    let clinic = Clinic::start(|_| {}).await;
    let (ca_pem, cert, key) = clinic_pki();
    let front = tls_front(clinic.addr, cert, key).await;
    let base = format!("https://{front}");
    let admin = Desk::login(&clinic.url(), "admin").await;
    live_over_tls(&base, &clinic.clinic.threads[1], ca_pem, &admin).await;
}

/// Signs a desk in at `base` (TLS): refused without `ca_pem`, live and
/// synced with it, and a message `admin` posts arrives over the encrypted
/// socket.
async fn live_over_tls(base: &str, thread: &str, ca_pem: String, admin: &Desk) {
    let data = tempfile::tempdir().unwrap();
    let secrets: Arc<dyn SecretStore> = Arc::new(MemoryStore::default());

    // Without the clinic's CA the certificate is not trusted.
    let mut config = EngineConfig::new(base, "demo", "reception", data.path().to_path_buf());
    let err = engine::sign_in(&config, "demo", secrets.as_ref())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("network"), "{err}");

    // With it: signed in over https, live over wss.
    let ca_file = data.path().join("clinic-ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    config.ca_file = Some(ca_file);
    let tokens = engine::sign_in(&config, "demo", secrets.as_ref())
        .await
        .unwrap();
    let handle = engine::start(config, secrets, Arc::new(Silent), Some(tokens))
        .await
        .unwrap();
    let mut updates = handle.subscribe();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !(handle.state() == ConnState::Live && handle.is_synced()) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        assert!(
            tokio::time::timeout(left, updates.recv()).await.is_ok(),
            "never live over wss ({:?})",
            handle.state()
        );
    }
    assert_eq!(
        handle.reader().unwrap().count(Kind::Appointment).unwrap(),
        24
    );
    // A change made elsewhere arrives over the encrypted socket.
    let (s, _) = admin
        .post(
            &format!("/api/threads/{thread}/messages"),
            serde_json::json!({"client_id": "tls", "body": "over wss"}),
        )
        .await;
    assert_eq!(s, 201);
    let deadline = tokio::time::Instant::now() + WAIT;
    while handle.reader().unwrap().last_seq().unwrap() != Some(1) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "live event over wss"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_clinic_server_serves_https_and_wss_itself() {
    use clinic_server::config::ServerConfig;
    use clinic_server::db::{Db, DbLocation};
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, cert_pem, key_pem) = clinic_pki_pem();
    let (cert, key) = (dir.path().join("clinic.crt"), dir.path().join("clinic.key"));
    std::fs::write(&cert, cert_pem).unwrap();
    std::fs::write(&key, key_pem).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut cfg = ServerConfig::for_tests();
    cfg.db = DbLocation::File(dir.path().join("clinic.db"));
    cfg.mutations_per_second = 100_000;
    cfg.mutation_burst = 100_000;
    let db = Db::open(&cfg.db).unwrap();
    let seeded = db
        .write_now(|c| clinic_server::demo::seed(c, "demo", "Demo Family Clinic"))
        .unwrap()
        .unwrap();

    // A certificate without its key, or a key others can read, is refused.
    cfg.tls_certificate = Some(cert.clone());
    let half = clinic_server::start_with_db(cfg.clone(), Db::open(&cfg.db).unwrap()).await;
    assert!(half.err().unwrap().to_string().contains("both"));
    cfg.tls_key = Some(key.clone());
    let loose = clinic_server::start_with_db(cfg.clone(), Db::open(&cfg.db).unwrap()).await;
    let why = loose.err().unwrap().to_string();
    assert!(why.contains("readable by others"), "{why}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();

    let server = clinic_server::start_with_db(cfg, db).await.unwrap();
    let base = server.url();
    assert!(base.starts_with("https://"), "{base}");
    // Plain http to it gets no answer.
    let plain = format!("http://{}/api/health", server.addr);
    assert!(
        reqwest::get(&plain).await.is_err(),
        "plain http is not served"
    );
    // An engine that trusts the clinic's CA is live over wss; the admin
    // posts over https too (the test's client trusts the CA as well).
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap();
    let http = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let health = http.get(format!("{base}/api/health")).send().await.unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");
    let admin = Desk::login_with(http, &base, "admin").await;
    live_over_tls(&base, &seeded.threads[1], ca_pem, &admin).await;
    server.shutdown().await;
}
