//! The thin driver under [`crate::link::Link`]: opens the WebSocket (`ws://`
//! or `wss://` with rustls, trusting the system roots plus an optional clinic
//! CA file), then shuttles frames between the socket and the engine loop.
//! It makes one protocol decision only: Engine.IO pings are answered right
//! here, so the answer never waits behind work in the engine loop. (Liveness
//! is the session's: every frame is reported, pings included.)

use crate::error::{EngineError, Result};
use futures_util::{SinkExt, StreamExt};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::Connector;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// What a link reports to the engine loop, tagged with its generation so
/// reports from an old, replaced link are recognised and ignored.
#[derive(Debug)]
pub enum LinkIo {
    Text(String),
    Binary(Vec<u8>),
    /// The socket closed or failed; nothing more will come from this generation.
    Closed(String),
}

/// An open WebSocket. Dropping it closes the socket.
pub struct LinkHandle {
    out: mpsc::UnboundedSender<Message>,
    tasks: [JoinHandle<()>; 2],
}

impl LinkHandle {
    /// Queues a text frame.
    pub fn send(&self, text: String) {
        let _ = self.out.send(Message::text(text));
    }

    /// Sends a close frame and lets the writer finish.
    pub fn close(&self) {
        let _ = self.out.send(Message::Close(None));
    }

    /// Says goodbye (a close frame) and drops the socket a moment later, so
    /// the frame goes out before its tasks are stopped.
    pub fn close_and_drop(self) {
        self.close();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            drop(self);
        });
    }
}

impl Drop for LinkHandle {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// TLS settings for `wss://`.
#[derive(Clone)]
pub struct Tls(Arc<rustls::ClientConfig>);

impl Tls {
    /// System roots, plus the PEM certificates in `ca_file` if given.
    pub fn new(ca_file: Option<&Path>) -> Result<Tls> {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            let _ = roots.add(cert);
        }
        if let Some(path) = ca_file {
            use rustls_pki_types::pem::PemObject;
            let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
                .map_err(|e| EngineError::Invalid(format!("CA file {}: {e}", path.display())))?;
            for cert in certs {
                let cert = cert.map_err(|e| {
                    EngineError::Invalid(format!("CA file {}: {e}", path.display()))
                })?;
                roots.add(cert).map_err(|e| {
                    EngineError::Invalid(format!("CA file {}: {e}", path.display()))
                })?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| EngineError::Invalid(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Tls(Arc::new(config)))
    }
}

/// The Socket.IO WebSocket URL for a server base URL.
pub fn socket_url(base: &str) -> Result<String> {
    let base = base.trim_end_matches('/');
    let ws = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        return Err(EngineError::Invalid(format!(
            "server URL must start with http:// or https://: {base}"
        )));
    };
    Ok(format!("{ws}/socket.io/?EIO=4&transport=websocket"))
}

/// Opens the WebSocket and starts pumping frames; reports go to `reports`
/// tagged with `generation`.
pub async fn open(
    base: &str,
    tls: &Tls,
    max_frame: usize,
    generation: u64,
    reports: mpsc::UnboundedSender<(u64, LinkIo)>,
) -> Result<LinkHandle> {
    let url = socket_url(base)?;
    let config = WebSocketConfig::default()
        .max_message_size(Some(max_frame))
        .max_frame_size(Some(max_frame));
    let connect = tokio_tungstenite::connect_async_tls_with_config(
        url.as_str(),
        Some(config),
        true,
        Some(Connector::Rustls(tls.0.clone())),
    );
    // A network that swallows packets must not hold the engine for minutes.
    let (ws, _) = tokio::time::timeout(crate::link::HANDSHAKE_TIMEOUT, connect)
        .await
        .map_err(|_| {
            EngineError::Network(format!(
                "{url}: no answer within {:?}",
                crate::link::HANDSHAKE_TIMEOUT
            ))
        })?
        .map_err(|e| EngineError::Network(format!("{url}: {e}")))?;
    let (mut sink, mut stream) = ws.split();
    let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
    let writer_reports = reports.clone();
    let ponger = out.clone();
    let writer = tokio::spawn(async move {
        while let Some(msg) = out_rx.recv().await {
            let closing = matches!(msg, Message::Close(_));
            if let Err(e) = sink.send(msg).await {
                let _ =
                    writer_reports.send((generation, LinkIo::Closed(format!("write failed: {e}"))));
                return;
            }
            if closing {
                return;
            }
        }
    });
    let reader = tokio::spawn(async move {
        let reason = loop {
            let next = stream.next().await;
            match next {
                Some(Ok(Message::Text(t))) => {
                    // Engine.IO pings are answered here, at once, so a busy
                    // engine loop (a long replay) never misses the server's
                    // ping timeout; the frame still goes on, for liveness.
                    if let Some(data) = t.strip_prefix('2') {
                        let _ = ponger.send(Message::text(format!("3{data}")));
                    }
                    let _ = reports.send((generation, LinkIo::Text(t.to_string())));
                }
                Some(Ok(Message::Binary(b))) => {
                    let _ = reports.send((generation, LinkIo::Binary(b.to_vec())));
                }
                Some(Ok(Message::Close(frame))) => {
                    break frame
                        .map(|f| format!("closed by server ({})", f.code))
                        .unwrap_or("closed by server".into());
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => break format!("connection error: {e}"),
                None => break "connection ended".into(),
            }
        };
        let _ = reports.send((generation, LinkIo::Closed(reason)));
    });
    Ok(LinkHandle {
        out,
        tasks: [writer, reader],
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn socket_urls() {
        assert_eq!(
            super::socket_url("http://127.0.0.1:7420/").unwrap(),
            "ws://127.0.0.1:7420/socket.io/?EIO=4&transport=websocket"
        );
        assert_eq!(
            super::socket_url("https://clinic.example").unwrap(),
            "wss://clinic.example/socket.io/?EIO=4&transport=websocket"
        );
        assert!(super::socket_url("ftp://x").is_err());
    }
}
