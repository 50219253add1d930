//! The tray icon: connection state and unread messages at a glance, and a way
//! back to the window.

use frontdesk_engine::engine::Update;
use tauri::menu::{Menu, MenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager};

const TRAY_ID: &str = "frontdesk";

/// Creates the tray icon with its menu.
/// `desk` is false on a waiting-room screen, which has no desk to open.
pub fn install(app: &AppHandle, desk: bool) -> tauri::Result<()> {
    let open = MenuItem::with_id(app, "open", "Open Frontdesk", desk, None::<&str>)?;
    let lock = MenuItem::with_id(app, "lock", "Lock Frontdesk", desk, None::<&str>)?;
    let board = MenuItem::with_id(
        app,
        "display",
        "Waiting-room display on this screen",
        true,
        None::<&str>,
    )?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&open, &lock, &board, &quit])?;
    let mut tray = TrayIconBuilder::with_id(TRAY_ID)
        .tooltip("Frontdesk — starting")
        .menu(&menu)
        .on_menu_event(|app, event| match event.id.as_ref() {
            "open" => {
                if let Some(w) = app.get_webview_window("main") {
                    let _ = w.show();
                    let _ = w.set_focus();
                }
            }
            "lock" => {
                let app = app.clone();
                tauri::async_runtime::spawn(async move {
                    let shell = app.state::<crate::shell::Shell>();
                    match shell.engine().await {
                        Ok(h) => {
                            if let Err(e) = h.lock() {
                                tracing::warn!("could not lock: {e}");
                            }
                        }
                        Err(e) => tracing::info!("nothing to lock: {}", e.message),
                    }
                });
            }
            "display" => {
                if let Err(e) = crate::open_display_window(app) {
                    tracing::warn!("could not open the waiting-room display: {e}");
                }
            }
            "quit" => app.exit(0),
            _ => {}
        });
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.build(app)?;
    Ok(())
}

/// Keeps the tray's tooltip in step with the connection and the unread count.
pub fn reflect(app: &AppHandle, update: &Update) {
    static UNREAD: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    static STATE: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());
    match update {
        Update::Connection { state, .. } => {
            if let Ok(mut s) = STATE.lock() {
                *s = format!("{state:?}").to_lowercase().replace('_', " ");
            }
        }
        Update::Notified { .. } => {
            UNREAD.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        _ => return,
    }
    let state = STATE.lock().map(|s| s.clone()).unwrap_or_default();
    let unread = UNREAD.load(std::sync::atomic::Ordering::Relaxed);
    if let Some(tray) = app.tray_by_id(TRAY_ID) {
        let _ = tray.set_tooltip(Some(format!("Frontdesk — {state}, {unread} unread")));
    }
}
