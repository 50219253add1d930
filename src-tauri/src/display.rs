//! The waiting-room display: its settings, its token in the keyring, and the
//! running board client whose updates go to the display window.
//!
//! A display never holds a staff session. It is set up once by an admin
//! (who signs in on the screen only to issue the board's token; that session
//! is ended at once), and from then on it starts by itself.

use crate::error::{CmdResult, CommandError};
use frontdesk_engine::board_client::{self, BoardConfig, BoardHandle, BoardUpdate, BoardView};
use frontdesk_engine::secrets::SecretStore;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use tauri::ipc::Channel;
use tokio::sync::Mutex;

/// Where the board lives (not secret; the token is in the keyring).
#[derive(Debug, Clone, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct DisplaySettings {
    pub server: String,
    pub tenant: String,
    pub name: String,
}

/// The display's state in the app: set up or not, and its running client.
pub struct DisplayShell {
    pub data_dir: PathBuf,
    pub secrets: Arc<dyn SecretStore>,
    pub board: Mutex<Option<BoardHandle>>,
    pub channels: Arc<Mutex<Vec<Channel<BoardUpdate>>>>,
}

/// What the display window needs to draw itself.
#[derive(Serialize, ts_rs::TS)]
#[ts(export)]
pub struct DisplayStatus {
    /// Settings of the configured board, if any (for the set-up form too).
    pub settings: Option<DisplaySettings>,
    /// The connection and last known board, while a client runs.
    pub view: Option<BoardView>,
}

fn token_secret(s: &DisplaySettings) -> String {
    format!("display-token:{}|{}", s.server, s.tenant)
}

impl DisplayShell {
    fn settings_path(&self) -> PathBuf {
        self.data_dir.join("display.json")
    }

    /// The configured board's settings, if set up.
    pub fn settings(&self) -> Option<DisplaySettings> {
        std::fs::read(self.settings_path())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    }

    /// Starts the board client for the stored set-up, if there is one.
    pub async fn resume(&self) -> CmdResult<bool> {
        let Some(settings) = self.settings() else {
            return Ok(false);
        };
        let Some(token) = self.secrets.get(&token_secret(&settings))? else {
            return Ok(false);
        };
        self.run(&settings, token).await?;
        Ok(true)
    }

    /// Sets this screen up as a board: issues a token as `admin`, keeps it in
    /// the keyring, and starts showing the board.
    pub async fn set_up(
        &self,
        settings: DisplaySettings,
        admin: &str,
        password: &str,
    ) -> CmdResult<()> {
        if settings.name.trim().is_empty() {
            return Err(CommandError::new(
                "invalid",
                "give the screen a name, like \"Lobby\"",
            ));
        }
        let issued = board_client::register(
            &settings.server,
            &settings.tenant,
            admin,
            password,
            &settings.name,
            None,
        )
        .await?;
        self.secrets.set(&token_secret(&settings), &issued.token)?;
        std::fs::create_dir_all(&self.data_dir)
            .and_then(|()| {
                std::fs::write(
                    self.settings_path(),
                    serde_json::to_vec_pretty(&settings).unwrap_or_default(),
                )
            })
            .map_err(|e| CommandError::new("io", e.to_string()))?;
        // A board set up again starts clean: the old one showed another board.
        let _ = std::fs::remove_file(self.saved_board());
        self.run(&settings, issued.token).await
    }

    fn saved_board(&self) -> PathBuf {
        self.data_dir.join("board.json")
    }

    async fn run(&self, settings: &DisplaySettings, token: String) -> CmdResult<()> {
        if let Some(old) = self.board.lock().await.take() {
            old.shutdown().await;
        }
        let config = BoardConfig::new(&settings.server, &settings.tenant, Some(self.saved_board()));
        let handle = board_client::start(config, token)?;
        let mut updates = handle.subscribe();
        let channels = self.channels.clone();
        tauri::async_runtime::spawn(async move {
            loop {
                match updates.recv().await {
                    Ok(u) => channels.lock().await.retain(|c| c.send(u.clone()).is_ok()),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => break,
                }
            }
        });
        *self.board.lock().await = Some(handle);
        Ok(())
    }

    /// What the display window shows now.
    pub async fn status(&self) -> DisplayStatus {
        DisplayStatus {
            settings: self.settings(),
            view: self.board.lock().await.as_ref().map(BoardHandle::view),
        }
    }
}
