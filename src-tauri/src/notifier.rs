//! OS notifications through notify-rust (the D-Bus notification server on
//! Linux). Critical ones stay until dismissed; a click focuses the window on
//! what the notification is about. A notification of a group (a thread's
//! messages, arrivals) replaces the group's one on screen instead of stacking
//! another; bodies are escaped, since notification servers read markup.

use frontdesk_engine::notify::{Notifier, OsNotification, markup_escaped};
use frontdesk_protocol::records::Urgency;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tauri::{AppHandle, Emitter, Manager};

/// Shows engine notifications on the desktop.
pub struct DesktopNotifier {
    app: AppHandle,
    /// The server's id of each group's notification, to replace it.
    shown: Arc<Mutex<HashMap<String, u32>>>,
}

impl DesktopNotifier {
    pub fn new(app: AppHandle) -> Self {
        DesktopNotifier {
            app,
            shown: Arc::default(),
        }
    }
}

impl Notifier for DesktopNotifier {
    fn notify(&self, n: &OsNotification) {
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
            .and_then(|g| self.shown.lock().ok().and_then(|s| s.get(g).copied()));
        if let Some(id) = replaces {
            note.id(id);
        }
        let app = self.app.clone();
        let subject = n.subject.clone();
        let group = n.group.clone();
        let shown = self.shown.clone();
        // Showing and waiting for a click block on D-Bus: keep them off the engine.
        std::thread::spawn(move || match note.show() {
            Ok(handle) => {
                let id = handle.id();
                if let (Some(g), Ok(mut s)) = (&group, shown.lock()) {
                    s.insert(g.clone(), id);
                }
                if replaces.is_some() {
                    // The first of the group already waits for its click.
                    return;
                }
                handle.wait_for_action(|action| {
                    if action == "default" {
                        if let Some(w) = app.get_webview_window("main") {
                            let _ = w.unminimize();
                            let _ = w.show();
                            let _ = w.set_focus();
                        }
                        let _ = app.emit("open-subject", &subject);
                    }
                });
                // Closed (dismissed or clicked): the group's next one is new.
                if let (Some(g), Ok(mut s)) = (group, shown.lock())
                    && s.get(&g) == Some(&id)
                {
                    s.remove(&g);
                }
            }
            Err(e) => tracing::warn!("notification not shown: {e}"),
        });
    }
}
