//! Accepting connections, with the limits a public listener needs: how
//! many connections one address may hold and how many in all, and how long a
//! peer may take to send a request's headers. Without them a single host
//! holding thousands of half-sent requests starves everyone else.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// What one listener allows.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections from one address (a clinic behind one NAT is one
    /// address: every desk's socket and requests count).
    pub per_address: usize,
    /// Open connections in all.
    pub total: usize,
    /// From a connection's first byte of a request to its last header.
    pub header_timeout: Duration,
}

/// Open connections per address; a slot is given back when its connection ends.
#[derive(Debug, Default)]
struct PerAddress(Mutex<HashMap<IpAddr, usize>>);

/// One connection's place in [`PerAddress`].
struct Slot {
    table: Arc<PerAddress>,
    ip: IpAddr,
}

impl PerAddress {
    fn take(table: &Arc<PerAddress>, ip: IpAddr, max: usize) -> Option<Slot> {
        let mut counts = table.0.lock().ok()?;
        let n = counts.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot {
            table: table.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.table.0.lock()
            && let Some(n) = counts.get_mut(&self.ip)
        {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` resolves,
/// then lets open connections finish. A connection over a cap is closed at
/// once, before anything is read from it.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    tls: Option<TlsAcceptor>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let per_address = Arc::new(PerAddress::default());
    let total = Arc::new(Semaphore::new(limits.total));
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!("accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(held) = admit(&per_address, &total, peer.ip(), limits) else {
            tracing::debug!(%peer, "connection over the limits: closed");
            continue; // dropping the stream closes it
        };
        let app = app.clone();
        let service = TowerToHyperService::new(tower::service_fn(
            move |mut req: axum::extract::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                app.clone().oneshot(req.map(axum::body::Body::new))
            },
        ));
        let Some(acceptor) = tls.clone() else {
            let conn = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned();
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(%peer, "connection ended: {e}");
                }
                drop(held);
            });
            continue;
        };
        // The handshake counts against the header time: a peer that
        // never finishes it is cut off like one that never sends headers.
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let handshake_within = limits.header_timeout;
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(handshake_within, acceptor.accept(stream)).await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return tracing::debug!(%peer, "TLS handshake failed: {e}"),
                Err(_) => return tracing::debug!(%peer, "TLS handshake took too long"),
            };
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
            drop(held);
        });
    }
    graceful.shutdown().await;
}

/// A connection's places under both caps, or `None` if either is full.
fn admit(
    per_address: &Arc<PerAddress>,
    total: &Arc<Semaphore>,
    ip: IpAddr,
    limits: Limits,
) -> Option<(OwnedSemaphorePermit, Slot)> {
    let permit = total.clone().try_acquire_owned().ok()?;
    let slot = PerAddress::take(per_address, ip, limits.per_address)?;
    Some((permit, slot))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_slots_back_when_connections_end() {
        let table = Arc::new(PerAddress::default());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = PerAddress::take(&table, a, 2).unwrap();
        let second = PerAddress::take(&table, a, 2).unwrap();
        assert!(
            PerAddress::take(&table, a, 2).is_none(),
            "a third from one address"
        );
        assert!(
            PerAddress::take(&table, b, 2).is_some(),
            "another address is not held back"
        );
        drop(first);
        assert!(PerAddress::take(&table, a, 2).is_some());
        drop(second);
    }

    #[test]
    fn the_total_cap_holds_whatever_the_addresses() {
        let table = Arc::new(PerAddress::default());
        let total = Arc::new(Semaphore::new(2));
        let limits = Limits {
            per_address: 10,
            total: 2,
            header_timeout: Duration::from_secs(1),
        };
        let ips: Vec<IpAddr> = (1..=3)
            .map(|i| format!("10.0.0.{i}").parse().unwrap())
            .collect();
        let one = admit(&table, &total, ips[0], limits).unwrap();
        let _two = admit(&table, &total, ips[1], limits).unwrap();
        assert!(admit(&table, &total, ips[2], limits).is_none());
        drop(one);
        assert!(admit(&table, &total, ips[2], limits).is_some());
    }
}
