//! Frontdesk, the desktop app: a thin Tauri 2 shell around the engine.
//!
//! - [`commands`]: what the UI may invoke (per-window capabilities in
//!   `src-tauri/capabilities`).
//! - [`shell`]: settings, secrets and the running engine.
//! - [`notifier`]: OS notifications via notify-rust.
//! - [`tray`]: the tray icon.
//! - [`graphics`]: no GL driver in the app's own process.
//! - [`demo`]: `--demo`, the clinic server in-process with a simulator.
//!
//! Flags: `--demo` (embedded demo clinic, signed in as reception),
//! `--display` (this screen is a waiting-room board: only the fullscreen
//! board window, no desk; with `--demo`, set up on the demo clinic).
//! The tray menu opens a board window beside the desk too.

mod admin;
mod commands;
mod demo;
mod display;
mod error;
mod forward;
mod graphics;
mod notifier;
mod shell;
mod tray;

use frontdesk_engine::engine;
use frontdesk_engine::secrets;
use shell::{Remembered, Shell};
use std::sync::Arc;
use tauri::{Manager, WebviewUrl, WebviewWindowBuilder};

/// When this process started, for the start-up time it reports.
pub static LAUNCHED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// Logs a start-up step with the time since launch (`FRONTDESK_LOG=info`),
/// so slow starts on a clinic PC can be told apart.
pub fn since_launch(step: &str) {
    let ms = LAUNCHED.get().map_or(0, |t| t.elapsed().as_millis());
    tracing::info!(ms, "{step}");
}

fn main() {
    LAUNCHED.get_or_init(std::time::Instant::now);
    // Before GTK starts and before any other thread exists.
    graphics::configure();
    tracing_subscriber::fmt()
        .with_env_filter(frontdesk_engine::log_filter())
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().collect();
    let demo_mode = args.iter().any(|a| a == "--demo");
    let display = args.iter().any(|a| a == "--display");

    tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            // A second launch brings the running window forward instead.
            if let Some(w) = app.get_webview_window("main") {
                let _ = w.unminimize();
                let _ = w.show();
                let _ = w.set_focus();
            }
        }))
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .setup(move |app| {
            let handle = app.handle().clone();
            let data_dir = app.path().app_data_dir()?;
            let (store, warning) = secrets::system_store("frontdesk");
            let shell = Shell {
                app: handle.clone(),
                data_dir: data_dir.clone(),
                secrets: Arc::from(store),
                warnings: warning.into_iter().collect(),
                engine: tokio::sync::Mutex::new(None),
                channels: tokio::sync::Mutex::new(Vec::new()),
            };
            app.manage(shell);
            app.manage(display::DisplayShell {
                data_dir: data_dir.join("display"),
                secrets: app.state::<Shell>().secrets.clone(),
                board: tokio::sync::Mutex::new(None),
                channels: Arc::new(tokio::sync::Mutex::new(Vec::new())),
            });
            since_launch("shell ready");
            tray::install(&handle, !display)?;
            if display {
                open_display_window(&handle)?;
            } else if let Some(main) = app.config().app.windows.iter().find(|w| w.label == "main") {
                WebviewWindowBuilder::from_config(app, main)?.build()?;
            }
            since_launch("window created");
            tauri::async_runtime::block_on(async move {
                if display {
                    resume_display(&handle, demo_mode, &data_dir).await
                } else {
                    resume(&handle, demo_mode, &data_dir).await
                }
            })
            .map_err(|e| -> Box<dyn std::error::Error> { e.into() })?;
            since_launch("session resumed");
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::startup,
            commands::sign_in,
            commands::logout,
            commands::lock,
            commands::change_password,
            admin::admin_staff,
            admin::admin_add_staff,
            admin::admin_set_active,
            admin::admin_reset_password,
            admin::admin_boards,
            admin::admin_rename_board,
            admin::admin_revoke_board,
            admin::admin_clinic,
            admin::admin_change_clinic,
            admin::access_report,
            admin::export_access_report,
            commands::unlock,
            commands::desk_state,
            commands::display_status,
            commands::display_setup,
            commands::display_subscribe,
            commands::act,
            commands::typing,
            commands::set_dnd,
            commands::viewing,
            commands::focus,
            commands::activity,
            commands::dismiss,
            commands::load_older,
            commands::day_view,
            commands::outbox,
            commands::thread_messages,
            commands::week_view,
            commands::search_patients,
            commands::patient,
            commands::register_patient,
            commands::slots,
            commands::next_slots,
            commands::resend,
            commands::startup_painted,
            commands::subscribe,
        ])
        .run(tauri::generate_context!("../tauri.conf.json"))
        .unwrap_or_else(|e| {
            eprintln!("Frontdesk could not start: {e}");
            std::process::exit(1);
        });
}

/// Opens the fullscreen waiting-room board window (or brings it forward).
pub fn open_display_window(app: &tauri::AppHandle) -> tauri::Result<()> {
    if let Some(w) = app.get_webview_window("display") {
        return w.set_focus();
    }
    WebviewWindowBuilder::new(app, "display", WebviewUrl::App("index.html".into()))
        .title("Frontdesk — waiting room")
        .fullscreen(true)
        .build()?;
    Ok(())
}

/// Starts the embedded demo clinic, kept in the app's state so the server
/// lives as long as the app; returns its address.
async fn start_demo_clinic(
    app: &tauri::AppHandle,
    data_dir: &std::path::Path,
) -> anyhow::Result<String> {
    app.manage(demo::DemoClinic(
        demo::start_server(&data_dir.join("demo")).await?,
    ));
    let base = app.state::<demo::DemoClinic>().url();
    println!("demo clinic listening on {base}");
    Ok(base)
}

/// At launch of a board screen: resume its set-up; with `--demo`, start the
/// demo clinic and set the board up on it the first time.
async fn resume_display(
    app: &tauri::AppHandle,
    demo_mode: bool,
    data_dir: &std::path::Path,
) -> anyhow::Result<()> {
    let board = app.state::<display::DisplayShell>();
    let fail = |e: error::CommandError| anyhow::anyhow!(e.message);
    if !demo_mode {
        board.resume().await.map_err(fail)?;
        return Ok(());
    }
    let base = start_demo_clinic(app, data_dir).await?;
    // The demo clinic picks a new port each run: set the board up afresh.
    let settings = display::DisplaySettings {
        server: base.clone(),
        tenant: "demo".into(),
        name: "Waiting room".into(),
    };
    board
        .set_up(settings, "admin", "demo")
        .await
        .map_err(fail)?;
    tauri::async_runtime::spawn(demo::simulate(base));
    Ok(())
}

/// At launch: start the demo clinic if asked, then resume a stored session
/// (no password needed) or leave the sign-in form up.
async fn resume(
    app: &tauri::AppHandle,
    demo_mode: bool,
    data_dir: &std::path::Path,
) -> anyhow::Result<()> {
    let shell = app.state::<Shell>();
    if demo_mode {
        let base = start_demo_clinic(app, data_dir).await?;
        let r = Remembered {
            server: base.clone(),
            tenant: "demo".into(),
            username: "reception".into(),
        };
        shell.remember(&r).map_err(|e| anyhow::anyhow!(e.message))?;
        let tokens = engine::sign_in(&shell.config(&r), "demo", shell.secrets.as_ref()).await?;
        shell
            .start_engine(&r, Some(tokens))
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        tauri::async_runtime::spawn(demo::simulate(base));
        return Ok(());
    }
    let r = shell.remembered();
    if engine::has_session(&shell.config(&r), shell.secrets.as_ref())? {
        shell
            .start_engine(&r, None)
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
    }
    Ok(())
}
