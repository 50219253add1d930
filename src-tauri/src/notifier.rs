//! OS notifications through notify-rust (the D-Bus notification server on
//! Linux). Critical ones stay until dismissed; a click focuses the window on
//! what the notification is about. A notification of a group (a thread's
//! messages, arrivals) replaces the group's one on screen instead of stacking
//! another; bodies are escaped, since notification servers read markup.
//!
//! One worker thread shows them, in the order the engine decided them (a
//! replacement shown before the one it replaces would leave the older text on
//! screen); each click is waited for on a thread of its own.

use frontdesk_engine::notify::{Notifier, OsNotification, markup_escaped};
use frontdesk_protocol::records::{Subject, Urgency};
use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use tauri::{AppHandle, Emitter, Manager};

/// Shows engine notifications on the desktop.
pub struct DesktopNotifier {
    queue: Mutex<mpsc::Sender<OsNotification>>,
}

impl DesktopNotifier {
    pub fn new(app: AppHandle) -> Self {
        let (tx, rx) = mpsc::channel::<OsNotification>();
        std::thread::spawn(move || {
            // The server's id of each group's notification, to replace it.
            let shown: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
            while let Ok(n) = rx.recv() {
                show(&app, &shown, n);
            }
        });
        DesktopNotifier {
            queue: Mutex::new(tx),
        }
    }
}

impl Notifier for DesktopNotifier {
    fn notify(&self, n: &OsNotification) {
        let sent = self.queue.lock().map(|q| q.send(n.clone()).is_ok());
        if !matches!(sent, Ok(true)) {
            tracing::warn!("notification not shown: the notification worker stopped");
        }
    }
}

fn show(app: &AppHandle, shown: &Arc<Mutex<HashMap<String, u32>>>, n: OsNotification) {
    let mut note = notify_rust::Notification::new();
    note.appname("Frontdesk")
        .summary(&n.title)
        .body(&markup_escaped(&n.body))
        .action("default", "Open");
    match n.urgency {
        Urgency::Critical => {
            note.urgency(notify_rust::Urgency::Critical)
                .timeout(notify_rust::Timeout::Never);
        }
        Urgency::Normal => {
            note.urgency(notify_rust::Urgency::Normal);
        }
        Urgency::Low => {
            note.urgency(notify_rust::Urgency::Low);
        }
    }
    let replaces = n
        .group
        .as_ref()
        .and_then(|g| shown.lock().ok().and_then(|s| s.get(g).copied()));
    if let Some(id) = replaces {
        note.id(id);
    }
    let handle = match note.show() {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!("notification not shown: {e}");
            return;
        }
    };
    let id = handle.id();
    if let (Some(g), Ok(mut s)) = (&n.group, shown.lock()) {
        s.insert(g.clone(), id);
    }
    if replaces.is_some() {
        return; // the first of the group already waits for its click
    }
    let (app, shown, group, subject) = (app.clone(), shown.clone(), n.group, n.subject);
    std::thread::spawn(move || {
        handle.wait_for_action(|action| {
            if action == "default" {
                open(&app, &subject);
            }
        });
        // Closed (dismissed or clicked): the group's next one is new.
        if let (Some(g), Ok(mut s)) = (group, shown.lock())
            && s.get(&g) == Some(&id)
        {
            s.remove(&g);
        }
    });
}

/// Brings the desk to the front on what a clicked notification is about.
fn open(app: &AppHandle, subject: &Subject) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
    }
    let _ = app.emit("open-subject", subject);
}
