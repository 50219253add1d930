//! Errors as the UI sees them: `{code, message}`, so it never matches text.

use frontdesk_engine::EngineError;
use serde::Serialize;

/// A command's failure.
#[derive(Debug, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct CommandError {
    pub code: &'static str,
    pub message: String,
}

impl CommandError {
    /// An error with a code of our own.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        CommandError {
            code,
            message: message.into(),
        }
    }
}

impl From<EngineError> for CommandError {
    fn from(e: EngineError) -> Self {
        let code = match &e {
            EngineError::SignedOut(_) => "signed_out",
            EngineError::Network(_) => "network",
            EngineError::Server(p) if p.kind == "invalid-credentials" => "invalid_credentials",
            EngineError::Server(p) if p.kind == "rate-limited" => "rate_limited",
            EngineError::Server(_) => "server",
            EngineError::Keyring(_) => "keyring",
            EngineError::WrongPassword(_) => "wrong_password",
            EngineError::UnlockWait(_) => "wait",
            EngineError::CacheKey
            | EngineError::CacheCorrupt(_)
            | EngineError::CacheTooNew { .. } => "cache",
            _ => "internal",
        };
        CommandError {
            code,
            message: e.to_string(),
        }
    }
}

/// The result type of every command.
pub type CmdResult<T> = Result<T, CommandError>;
