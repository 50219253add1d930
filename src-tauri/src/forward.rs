//! Forwarding the engine's updates to the desk windows, in batches: an
//! update on its own goes at once; during a burst the window gets what came
//! in the last [`FORWARD_PACE`] as one message. A window then repaints twice
//! a second however fast events come (its repaint, and the script call per
//! message, are what an event costs the app; applying it is cheap). Halving
//! the repaints from four a second took the app's CPU per event in a burst
//! from about 5.5 ms to 4 (docs/benchmarks.md); nobody reads faster.

use frontdesk_engine::engine::Update;
use serde::Serialize;
use std::time::Duration;
use tokio::sync::broadcast::{Receiver, error::RecvError, error::TryRecvError};

/// The least time between two batches (an update on its own is not held).
pub const FORWARD_PACE: Duration = Duration::from_millis(500);

/// What a desk window receives: the engine's updates since the last batch,
/// in order. `missed`: some were lost on the way (the window fell thousands
/// behind), so the window reads the desk again.
#[derive(Debug, Clone, Default, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct UpdateBatch {
    pub updates: Vec<Update>,
    pub missed: bool,
}

/// What reaches the windows. OS notifications are shown by the OS (the
/// window gets no copy); while the desk is locked, nothing that carries a
/// record (a patient's name, a message) reaches them at all: the lock
/// screen needs only the connection, and on unlock the window reads the
/// desk again.
#[derive(Debug, Default)]
struct Screen {
    locked: bool,
}

impl Screen {
    fn admits(&mut self, u: &Update) -> bool {
        match u {
            Update::Notified { .. } => false,
            Update::Locked { .. } => {
                self.locked = true;
                true
            }
            Update::Unlocked => {
                self.locked = false;
                true
            }
            Update::Connection { .. }
            | Update::Outbox { .. }
            | Update::Synced { .. }
            | Update::Resynced { .. }
            | Update::Warning { .. }
            | Update::DayChanged { .. } => true,
            Update::Applied { .. }
            | Update::Presence { .. }
            | Update::Typing { .. }
            | Update::WindowFilled { .. }
            | Update::DayFetched { .. }
            | Update::OlderMessages { .. } => !self.locked,
        }
    }
}

/// Forwards `updates` to `send` (with `seen` called on each one, for the
/// tray) until the engine stops or `send` says nobody listens any more.
pub async fn forward(
    mut updates: Receiver<Update>,
    pace: Duration,
    mut seen: impl FnMut(&Update),
    mut send: impl AsyncFnMut(UpdateBatch) -> bool,
) {
    let mut screen = Screen::default();
    loop {
        let mut batch = UpdateBatch::default();
        match updates.recv().await {
            Ok(u) => {
                seen(&u);
                if screen.admits(&u) {
                    batch.updates.push(u);
                }
            }
            Err(RecvError::Lagged(_)) => batch.missed = true,
            Err(RecvError::Closed) => return,
        }
        // Whatever else is already waiting goes along.
        loop {
            match updates.try_recv() {
                Ok(u) => {
                    seen(&u);
                    if screen.admits(&u) {
                        batch.updates.push(u);
                    }
                }
                Err(TryRecvError::Lagged(_)) => batch.missed = true,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => {
                    send(batch).await;
                    return;
                }
            }
        }
        if (!batch.updates.is_empty() || batch.missed) && !send(batch).await {
            return;
        }
        tokio::time::sleep(pace).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::sync::broadcast;

    fn warning(n: usize) -> Update {
        Update::Warning {
            message: format!("w{n}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_lone_update_goes_at_once_and_a_burst_in_a_few_batches() {
        let (tx, rx) = broadcast::channel(64);
        let got: Arc<Mutex<Vec<(tokio::time::Instant, UpdateBatch)>>> = Arc::default();
        let sink = got.clone();
        let seen = Arc::new(Mutex::new(0));
        let counted = seen.clone();
        let task = tokio::spawn(forward(
            rx,
            FORWARD_PACE,
            move |_| *counted.lock().unwrap() += 1,
            async move |b| {
                sink.lock().unwrap().push((tokio::time::Instant::now(), b));
                true
            },
        ));
        let t0 = tokio::time::Instant::now();
        tx.send(warning(0)).unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(got.lock().unwrap().len(), 1, "at once");
        // Ten a second for a second: a batch at most every FORWARD_PACE.
        for i in 1..=10 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            tx.send(warning(i)).unwrap();
        }
        tx.send(Update::Notified {
            notification: frontdesk_engine::notify::OsNotification {
                title: "t".into(),
                body: "b".into(),
                urgency: frontdesk_protocol::records::Urgency::Normal,
                persistent: false,
                subject: frontdesk_protocol::records::Subject {
                    kind: "thread".into(),
                    id: "t1".into(),
                },
                group: None,
                sender: None,
            },
        })
        .unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(tx);
        task.await.unwrap();
        let got = got.lock().unwrap();
        let updates: Vec<String> = got
            .iter()
            .flat_map(|(_, b)| b.updates.iter())
            .map(|u| match u {
                Update::Warning { message } => message.clone(),
                other => format!("{other:?}"),
            })
            .collect();
        let want: Vec<String> = (0..=10).map(|i| format!("w{i}")).collect();
        assert_eq!(updates, want, "all, in order, and no notification copy");
        assert_eq!(*seen.lock().unwrap(), 12, "the tray sees every one");
        assert!(got.len() <= 4, "{} batches", got.len());
        for pair in got.windows(2) {
            assert!(pair[1].0 - pair[0].0 >= FORWARD_PACE);
        }
        // The last one at most a pace after the last update.
        assert!(got.last().unwrap().0 - t0 <= Duration::from_millis(1_050) + FORWARD_PACE);
    }

    #[test]
    fn while_locked_no_record_reaches_the_window() {
        let applied = || Update::Applied {
            seq: 1,
            event_type: "queue.updated".into(),
            actor: "u".into(),
            at: chrono::Utc::now(),
            change: frontdesk_engine::desk::Change::Nothing,
        };
        let mut screen = Screen::default();
        assert!(screen.admits(&applied()));
        assert!(screen.admits(&Update::Locked {
            reason: frontdesk_engine::screen_lock::LockReason::Asked
        }));
        assert!(!screen.admits(&applied()));
        assert!(!screen.admits(&Update::Typing {
            thread: "t".into(),
            user: "u".into(),
            typing: true
        }));
        assert!(screen.admits(&Update::Connection {
            state: frontdesk_engine::supervisor::ConnState::Live,
            detail: String::new()
        }));
        assert!(screen.admits(&Update::Unlocked));
        assert!(screen.admits(&applied()));
    }

    #[tokio::test(start_paused = true)]
    async fn updates_lost_on_the_way_tell_the_window_to_read_again() {
        let (tx, rx) = broadcast::channel(4);
        for i in 0..10 {
            tx.send(warning(i)).unwrap();
        }
        drop(tx);
        let got: Arc<Mutex<Vec<UpdateBatch>>> = Arc::default();
        let sink = got.clone();
        forward(
            rx,
            FORWARD_PACE,
            |_| {},
            async move |b| {
                sink.lock().unwrap().push(b);
                true
            },
        )
        .await;
        let got = got.lock().unwrap();
        assert!(got[0].missed);
        assert_eq!(
            got.iter().map(|b| b.updates.len()).sum::<usize>(),
            4,
            "the newest kept"
        );
    }
}
