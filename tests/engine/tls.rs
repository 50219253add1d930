//! `https://` and `wss://` to a clinic server with its own certificate
//! authority: refused without the clinic's CA file, live with it.

use frontdesk_e2e::*;
use frontdesk_engine::cache::Kind;
use frontdesk_engine::engine::{self, EngineConfig};
use frontdesk_engine::notify::Silent;
use frontdesk_engine::secrets::{MemoryStore, SecretStore};
use frontdesk_engine::supervisor::ConnState;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::SocketAddr;
use std::sync::Arc;

/// A clinic CA and a server certificate for 127.0.0.1 signed by it.
fn clinic_pki() -> (String, CertificateDer<'static>, PrivateKeyDer<'static>) {
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
    (
        ca.pem(),
        cert.der().clone(),
        PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
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
    let data = tempfile::tempdir().unwrap();
    let secrets: Arc<dyn SecretStore> = Arc::new(MemoryStore::default());

    // Without the clinic's CA the certificate is not trusted.
    let mut config = EngineConfig::new(&base, "demo", "reception", data.path().to_path_buf());
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
    let desk = Desk::login(&clinic.url(), "admin").await;
    let team = clinic.clinic.threads[1].clone();
    let (s, _) = desk
        .post(
            &format!("/api/threads/{team}/messages"),
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
