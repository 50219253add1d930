//! Delivers committed events to sockets, in commit order.
//!
//! One task drains the channel the mutation path fills while holding the writer
//! lock, so every socket receives a tenant's events in `seq` order. Content meant
//! for some users reaches the others redacted; queue events also reach the
//! boards that show that provider, with the patient removed.

use super::rooms;
use crate::store::events::Outgoing;
use crate::store::queue;
use frontdesk_protocol::envelope::Envelope;
use frontdesk_protocol::records::QueueEntry;
use socketioxide::SocketIo;
use tokio::sync::mpsc::UnboundedReceiver;

/// What the broadcaster is asked to do, in order.
#[derive(Debug)]
pub enum Broadcast {
    /// Events of one committed transaction, in `seq` order.
    Events(Vec<Outgoing>),
    /// Disconnect every socket in a room (a revoked display board).
    DisconnectRoom(String),
}

/// Runs until the sending side is dropped (server shutdown).
pub async fn run(io: SocketIo, mut committed: UnboundedReceiver<Broadcast>) {
    while let Some(job) = committed.recv().await {
        match job {
            Broadcast::Events(batch) => {
                for out in batch {
                    deliver(&io, &out).await;
                }
            }
            Broadcast::DisconnectRoom(room) => {
                if let Err(e) = io.to(room).disconnect().await {
                    tracing::debug!("disconnecting a room: {e}");
                }
            }
        }
    }
}

async fn deliver(io: &SocketIo, out: &Outgoing) {
    let env = &out.envelope;
    let tenant_room = rooms::tenant(&env.tenant);
    let result = match &out.audience {
        None if !out.watched_days.is_empty() => {
            // Outside the window: whole to the desks watching its days,
            // as scoped to the others.
            let day_rooms: Vec<String> = out
                .watched_days
                .iter()
                .map(|d| rooms::day(&env.tenant, *d))
                .collect();
            let full = io.to(day_rooms.clone()).emit(&env.kind, env).await;
            let scoped = io
                .to(tenant_room)
                .except(day_rooms)
                .emit(&env.kind, &out.for_staff())
                .await;
            full.and(scoped)
        }
        None => io.to(tenant_room).emit(&env.kind, &out.for_staff()).await,
        Some(users) => {
            let user_rooms: Vec<String> =
                users.iter().map(|u| rooms::user(&env.tenant, u)).collect();
            let full = io
                .to(user_rooms.clone())
                .emit(&env.kind, &out.for_staff())
                .await;
            let redacted = io
                .to(tenant_room)
                .except(user_rooms)
                .emit(&env.kind, &env.redact())
                .await;
            full.and(redacted)
        }
    };
    if let Err(e) = result {
        // A socket whose buffer is full misses this event; it will see a seq gap
        // on the next one and replay, so nothing is lost.
        tracing::debug!(seq = env.seq, "broadcast incomplete: {e}");
    }
    if env.kind.starts_with("queue.")
        && let Some(board_env) = for_board(env)
    {
        let rooms = [
            rooms::board(&env.tenant, &board_provider(&board_env)),
            rooms::clinic_board(&env.tenant),
        ];
        if let Err(e) = io.to(rooms).emit(&env.kind, &board_env).await {
            tracing::debug!(seq = env.seq, "board broadcast incomplete: {e}");
        }
    }
}

fn board_provider(env: &Envelope) -> String {
    env.data
        .get("provider_id")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned()
}

/// The envelope a waiting-room board may see: the ticket without the patient.
fn for_board(env: &Envelope) -> Option<Envelope> {
    let entry: QueueEntry = serde_json::from_value(env.data.clone()).ok()?;
    let data = serde_json::to_value(queue::redact(&entry)).ok()?;
    Some(Envelope {
        data,
        actor: "system".into(),
        // A board shows no patient: not the ticket's, not the event's.
        patient: None,
        ..env.clone()
    })
}
