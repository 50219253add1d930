//! OS notifications through notify-rust (the D-Bus notification server on
//! Linux). Critical ones stay until dismissed; a click focuses the window on
//! what the notification is about.

use frontdesk_engine::notify::{Notifier, OsNotification};
use frontdesk_protocol::records::Urgency;
use tauri::{AppHandle, Emitter, Manager};

/// Shows engine notifications on the desktop.
pub struct DesktopNotifier {
    app: AppHandle,
}

impl DesktopNotifier {
    pub fn new(app: AppHandle) -> Self {
        DesktopNotifier { app }
    }
}

impl Notifier for DesktopNotifier {
    fn notify(&self, n: &OsNotification) {
        let mut note = notify_rust::Notification::new();
        note.appname("Frontdesk")
            .summary(&n.title)
            .body(&n.body)
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
        let app = self.app.clone();
        let subject = n.subject.clone();
        // Showing and waiting for a click block on D-Bus: keep them off the engine.
        std::thread::spawn(move || match note.show() {
            Ok(handle) => handle.wait_for_action(|action| {
                if action == "default" {
                    if let Some(w) = app.get_webview_window("main") {
                        let _ = w.unminimize();
                        let _ = w.show();
                        let _ = w.set_focus();
                    }
                    let _ = app.emit("open-subject", &subject);
                }
            }),
            Err(e) => tracing::warn!("notification not shown: {e}"),
        });
    }
}
