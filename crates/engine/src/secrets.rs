//! Where the refresh token and the cache key live: the OS keyring, behind a
//! small trait so tests and the no-keyring fallback are plain values.
//!
//! Access tokens are never stored: they live in the engine's memory only.

use crate::error::{EngineError, Result};
use std::collections::HashMap;
use std::sync::Mutex;

/// A place to keep secrets by name.
pub trait SecretStore: Send + Sync {
    /// The secret, if one is stored under `name`.
    fn get(&self, name: &str) -> Result<Option<String>>;
    /// Stores (or replaces) a secret.
    fn set(&self, name: &str, value: &str) -> Result<()>;
    /// Forgets a secret; forgetting one that is absent is fine.
    fn delete(&self, name: &str) -> Result<()>;
    /// Whether secrets outlive this process.
    fn is_persistent(&self) -> bool;
}

/// The OS keyring (Secret Service on Linux, Keychain, Credential Manager).
pub struct KeyringStore {
    service: String,
}

impl KeyringStore {
    /// A store whose entries are filed under `service` (e.g. `frontdesk`).
    /// Fails if no keyring is reachable (no Secret Service on the session bus).
    pub fn open(service: &str) -> Result<KeyringStore> {
        if let Err(e) = keyring::Entry::store_status() {
            return Err(EngineError::Keyring(format!(
                "no OS keyring available: {e}"
            )));
        }
        let store = KeyringStore {
            service: service.to_owned(),
        };
        // A round trip proves the keyring is unlocked and writable. The probe
        // is this process's own: processes starting together (the app and a
        // CLI command) must not delete each other's probe mid-check.
        let probe = format!(
            "frontdesk-probe-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        store.set(&probe, "ok")?;
        store.delete(&probe)?;
        Ok(store)
    }

    fn entry(&self, name: &str) -> Result<keyring::Entry> {
        keyring::Entry::new(&self.service, name).map_err(|e| EngineError::Keyring(e.to_string()))
    }
}

impl SecretStore for KeyringStore {
    fn get(&self, name: &str) -> Result<Option<String>> {
        match self.entry(name)?.get_password() {
            Ok(v) => Ok(Some(v)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(EngineError::Keyring(e.to_string())),
        }
    }

    fn set(&self, name: &str, value: &str) -> Result<()> {
        self.entry(name)?
            .set_password(value)
            .map_err(|e| EngineError::Keyring(e.to_string()))
    }

    fn delete(&self, name: &str) -> Result<()> {
        match self.entry(name)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(EngineError::Keyring(e.to_string())),
        }
    }

    fn is_persistent(&self) -> bool {
        true
    }
}

/// Secrets held in memory for the life of the process: the fallback when no
/// keyring is available (the user signs in again after a restart, and the
/// cache cannot be reopened, so it is rebuilt).
#[derive(Default)]
pub struct MemoryStore {
    values: Mutex<HashMap<String, String>>,
}

impl SecretStore for MemoryStore {
    fn get(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .values
            .lock()
            .map_err(|_| EngineError::Keyring("poisoned".into()))?
            .get(name)
            .cloned())
    }

    fn set(&self, name: &str, value: &str) -> Result<()> {
        self.values
            .lock()
            .map_err(|_| EngineError::Keyring("poisoned".into()))?
            .insert(name.to_owned(), value.to_owned());
        Ok(())
    }

    fn delete(&self, name: &str) -> Result<()> {
        self.values
            .lock()
            .map_err(|_| EngineError::Keyring("poisoned".into()))?
            .remove(name);
        Ok(())
    }

    fn is_persistent(&self) -> bool {
        false
    }
}

/// The OS keyring if there is one; otherwise an in-memory store and the
/// warning to show the user (secrets last only until the app quits).
pub fn system_store(service: &str) -> (Box<dyn SecretStore>, Option<String>) {
    match KeyringStore::open(service) {
        Ok(k) => (Box::new(k), None),
        Err(e) => (
            Box::new(MemoryStore::default()),
            Some(format!(
                "{e}. Secrets are kept in memory only: you will have to sign in again after Frontdesk restarts."
            )),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_round_trips() {
        let s = MemoryStore::default();
        assert_eq!(s.get("a").unwrap(), None);
        s.set("a", "1").unwrap();
        s.set("a", "2").unwrap();
        assert_eq!(s.get("a").unwrap().as_deref(), Some("2"));
        s.delete("a").unwrap();
        s.delete("a").unwrap();
        assert_eq!(s.get("a").unwrap(), None);
        assert!(!s.is_persistent());
    }
}
