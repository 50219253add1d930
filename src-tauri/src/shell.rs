//! The shell's state: where settings live, the secret store, and the running
//! engine (if someone is signed in).

use crate::error::{CmdResult, CommandError};
use crate::forward::{self, UpdateBatch};
use crate::notifier::DesktopNotifier;
use frontdesk_engine::engine::{self, EngineConfig, EngineHandle};
use frontdesk_engine::secrets::SecretStore;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use tauri::AppHandle;
use tauri::ipc::Channel;
use tokio::sync::Mutex;

/// The remembered (non-secret) sign-in values.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Remembered {
    pub server: String,
    pub tenant: String,
    pub username: String,
}

/// Shared by every command.
pub struct Shell {
    pub app: AppHandle,
    pub data_dir: PathBuf,
    pub secrets: Arc<dyn SecretStore>,
    pub warnings: Vec<String>,
    pub engine: Mutex<Option<EngineHandle>>,
    pub channels: Mutex<Vec<Channel<UpdateBatch>>>,
}

impl Shell {
    fn settings_path(&self) -> PathBuf {
        self.data_dir.join("settings.json")
    }

    /// The remembered server and user (defaults for the demo clinic).
    pub fn remembered(&self) -> Remembered {
        std::fs::read(self.settings_path())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Remembered {
                server: "http://127.0.0.1:7420".into(),
                tenant: "demo".into(),
                username: "reception".into(),
            })
    }

    /// Remembers the server and user (never the password) for next time.
    pub fn remember(&self, r: &Remembered) -> CmdResult<()> {
        std::fs::create_dir_all(&self.data_dir)
            .map_err(|e| CommandError::new("io", e.to_string()))?;
        let bytes = serde_json::to_vec_pretty(r)
            .map_err(|e| CommandError::new("internal", e.to_string()))?;
        std::fs::write(self.settings_path(), bytes)
            .map_err(|e| CommandError::new("io", e.to_string()))
    }

    /// The engine configuration for the remembered identity.
    pub fn config(&self, r: &Remembered) -> EngineConfig {
        let mut config = EngineConfig::new(
            &r.server,
            &r.tenant,
            &r.username,
            self.data_dir.join("cache"),
        );
        // A shared PC: opening on a stored sign-in asks for the password.
        config.locked_at_start = true;
        config
    }

    /// Starts the engine for `r` (with fresh tokens after a password sign-in)
    /// and forwards its updates to every subscribed window.
    pub async fn start_engine(
        &self,
        r: &Remembered,
        tokens: Option<frontdesk_protocol::api::TokenResponse>,
    ) -> CmdResult<EngineHandle> {
        let notifier = Arc::new(DesktopNotifier::new(self.app.clone()));
        let handle = engine::start(self.config(r), self.secrets.clone(), notifier, tokens).await?;
        let updates = handle.subscribe();
        let app = self.app.clone();
        let tray = self.app.clone();
        tauri::async_runtime::spawn(forward::forward(
            updates,
            forward::FORWARD_PACE,
            move |u| crate::tray::reflect(&tray, u),
            async move |batch| {
                use tauri::Manager;
                let shell = app.state::<Shell>();
                let mut channels = shell.channels.lock().await;
                channels.retain(|c| c.send(batch.clone()).is_ok());
                true // windows may subscribe later
            },
        ));
        *self.engine.lock().await = Some(handle.clone());
        Ok(handle)
    }

    /// The running engine if the desk is not locked: every command that
    /// reads or changes patient data goes through here, so a locked desk
    /// hands nothing to the window whatever it asks.
    pub async fn unlocked_engine(&self) -> CmdResult<EngineHandle> {
        let h = self.engine().await?;
        if h.locked().await?.is_some() {
            return Err(CommandError::new(
                "locked",
                "Frontdesk is locked: unlock it with your password",
            ));
        }
        Ok(h)
    }

    /// The running engine, or `signed_out`.
    pub async fn engine(&self) -> CmdResult<EngineHandle> {
        self.engine
            .lock()
            .await
            .clone()
            .ok_or_else(|| CommandError::new("signed_out", "not signed in"))
    }
}
