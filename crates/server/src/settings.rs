//! The server's settings as an IT person sets them: a TOML file
//! (`clinic-server --config clinic.toml`), environment variables
//! (`FRONTDESK_<SETTING>`), command-line flags, each overriding the one
//! before, on top of [`ServerConfig::new`]'s defaults. Every setting is
//! defined once in [`SETTINGS`] (name, meaning, how to read and show it), so
//! the file, the environment and `--help` cannot drift apart, and a key the
//! file misspells is refused by name rather than ignored.

use crate::commands::clinic as commands;
use crate::config::ServerConfig;
use crate::db::DbLocation;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

/// One setting.
pub struct Setting {
    /// The key in the file; the environment variable is `FRONTDESK_` and
    /// this in capitals.
    pub name: &'static str,
    pub help: &'static str,
    show: fn(&ServerConfig) -> String,
    set: fn(&mut ServerConfig, &str) -> Result<(), String>,
}

impl Setting {
    /// The environment variable that overrides the file.
    pub fn env(&self) -> String {
        format!("FRONTDESK_{}", self.name.to_uppercase())
    }
}

fn number<T: std::str::FromStr>(v: &str) -> Result<T, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("{v:?} is not a whole number"))
}

fn positive<T: std::str::FromStr + PartialOrd + Default>(v: &str) -> Result<T, String> {
    let n: T = number(v)?;
    if n > T::default() {
        Ok(n)
    } else {
        Err(format!("{v:?} must be more than 0"))
    }
}

fn in_range(v: &str, range: &std::ops::RangeInclusive<u32>) -> Result<u32, String> {
    let n: u32 = number(v)?;
    if range.contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "{n} is not from {} to {}",
            range.start(),
            range.end()
        ))
    }
}

fn file_path(v: &str) -> Result<std::path::PathBuf, String> {
    match v.trim() {
        "" => Err("give a file name".into()),
        p => Ok(p.into()),
    }
}

fn path_or_none(p: Option<&Path>) -> String {
    p.map_or_else(
        || "none (plain http)".to_owned(),
        |p| p.display().to_string(),
    )
}

fn seconds(v: &str) -> Result<Duration, String> {
    positive::<u64>(v).map(Duration::from_secs)
}

fn days(v: &str) -> Result<Duration, String> {
    positive::<u64>(v).map(|d| Duration::from_secs(d * 24 * 3600))
}

/// Every setting, in the order `--help` lists them.
pub const SETTINGS: &[Setting] = &[
    Setting {
        name: "listen",
        help: "address to listen on (port 0 picks a free one)",
        show: |c| c.listen.to_string(),
        set: |c, v| {
            c.listen = v
                .trim()
                .parse()
                .map_err(|_| format!("{v:?} is not an address:port"))?;
            Ok(())
        },
    },
    Setting {
        name: "db",
        help: "SQLite database file (created if missing); the token secret is kept beside it as <db>.secret",
        show: |c| match &c.db {
            DbLocation::File(p) => p.display().to_string(),
            DbLocation::Memory => ":memory:".into(),
        },
        set: |c, v| {
            if v.trim().is_empty() {
                return Err("give a file name".into());
            }
            c.db = DbLocation::File(v.trim().into());
            Ok(())
        },
    },
    Setting {
        name: "access_token_seconds",
        help: "lifetime of a staff access token",
        show: |c| c.access_ttl.as_secs().to_string(),
        set: |c, v| {
            c.access_ttl = seconds(v)?;
            Ok(())
        },
    },
    Setting {
        name: "refresh_token_days",
        help: "how long a sign-in lasts without use (each refresh renews it)",
        show: |c| (c.refresh_ttl.as_secs() / 86_400).to_string(),
        set: |c, v| {
            c.refresh_ttl = days(v)?;
            Ok(())
        },
    },
    Setting {
        name: "display_token_days",
        help: "lifetime of a waiting-room board's token",
        show: |c| (c.display_ttl.as_secs() / 86_400).to_string(),
        set: |c, v| {
            c.display_ttl = days(v)?;
            Ok(())
        },
    },
    Setting {
        name: "event_retention",
        help: "events kept per clinic for desks catching up (older: a fresh snapshot)",
        show: |c| c.event_retention.to_string(),
        set: |c, v| {
            c.event_retention = positive(v)?;
            Ok(())
        },
    },
    Setting {
        name: "max_payload_bytes",
        help: "largest request body and socket message",
        show: |c| c.max_payload.to_string(),
        set: |c, v| {
            c.max_payload = positive(v)?;
            Ok(())
        },
    },
    Setting {
        name: "presence_grace_seconds",
        help: "how long a user stays online after their last connection closes",
        show: |c| c.presence_grace.as_secs().to_string(),
        set: |c, v| {
            c.presence_grace = seconds(v)?;
            Ok(())
        },
    },
    Setting {
        name: "login_attempts_per_user",
        help: "sign-in attempts per user from one address before they back off",
        show: |c| c.login_failures_per_user.to_string(),
        set: |c, v| {
            c.login_failures_per_user = positive(v)?;
            Ok(())
        },
    },
    Setting {
        name: "login_failures_per_address",
        help: "failed sign-ins one address may make per login window",
        show: |c| c.login_failures_per_address.to_string(),
        set: |c, v| {
            c.login_failures_per_address = positive(v)?;
            Ok(())
        },
    },
    Setting {
        name: "login_window_seconds",
        help: "the longest sign-in back-off, and the window of the per-address count",
        show: |c| c.login_window.as_secs().to_string(),
        set: |c, v| {
            c.login_window = seconds(v)?;
            Ok(())
        },
    },
    Setting {
        name: "mutations_per_second",
        help: "changes one user may make per second (sustained)",
        show: |c| c.mutations_per_second.to_string(),
        set: |c, v| {
            c.mutations_per_second = positive(v)?;
            Ok(())
        },
    },
    Setting {
        name: "mutation_burst",
        help: "changes one user may make at once",
        show: |c| c.mutation_burst.to_string(),
        set: |c, v| {
            c.mutation_burst = positive(v)?;
            Ok(())
        },
    },
    Setting {
        name: "reads_per_second",
        help: "reads (snapshots, pages, searches) one user may make per second (sustained)",
        show: |c| c.reads_per_second.to_string(),
        set: |c, v| {
            c.reads_per_second = positive(v)?;
            Ok(())
        },
    },
    Setting {
        name: "read_burst",
        help: "reads one user may make at once",
        show: |c| c.read_burst.to_string(),
        set: |c, v| {
            c.read_burst = positive(v)?;
            Ok(())
        },
    },
    Setting {
        name: "refreshes_per_second",
        help: "token refreshes one address may make per second (sustained)",
        show: |c| c.refreshes_per_second.to_string(),
        set: |c, v| {
            c.refreshes_per_second = positive(v)?;
            Ok(())
        },
    },
    Setting {
        name: "refresh_burst",
        help: "token refreshes one address may make at once",
        show: |c| c.refresh_burst.to_string(),
        set: |c, v| {
            c.refresh_burst = positive(v)?;
            Ok(())
        },
    },
    Setting {
        name: "socket_events_per_second",
        help: "signals (typing, presence) one connection may send per second (sustained)",
        show: |c| c.socket_events_per_second.to_string(),
        set: |c, v| {
            c.socket_events_per_second = positive(v)?;
            Ok(())
        },
    },
    Setting {
        name: "socket_event_burst",
        help: "signals one connection may send at once",
        show: |c| c.socket_event_burst.to_string(),
        set: |c, v| {
            c.socket_event_burst = positive(v)?;
            Ok(())
        },
    },
    Setting {
        name: "max_connections",
        help: "open connections in all",
        show: |c| c.max_connections.to_string(),
        set: |c, v| {
            c.max_connections = positive(v)?;
            Ok(())
        },
    },
    Setting {
        name: "max_connections_per_address",
        help: "open connections from one address (a clinic behind one NAT is one address)",
        show: |c| c.max_connections_per_address.to_string(),
        set: |c, v| {
            c.max_connections_per_address = positive(v)?;
            Ok(())
        },
    },
    Setting {
        name: "max_sockets_per_user",
        help: "open sockets of one user or waiting-room board",
        show: |c| c.max_sockets_per_user.to_string(),
        set: |c, v| {
            c.max_sockets_per_user = positive(v)?;
            Ok(())
        },
    },
    Setting {
        name: "header_timeout_seconds",
        help: "how long a request's headers may take to arrive",
        show: |c| c.header_timeout.as_secs().to_string(),
        set: |c, v| {
            c.header_timeout = seconds(v)?;
            Ok(())
        },
    },
    Setting {
        name: "body_timeout_seconds",
        help: "how long a request's body may take to arrive",
        show: |c| c.body_timeout.as_secs().to_string(),
        set: |c, v| {
            c.body_timeout = seconds(v)?;
            Ok(())
        },
    },
    Setting {
        name: "tls_certificate",
        help: "serve https and wss with this certificate chain (PEM); with tls_key",
        show: |c| path_or_none(c.tls_certificate.as_deref()),
        set: |c, v| {
            c.tls_certificate = Some(file_path(v)?);
            Ok(())
        },
    },
    Setting {
        name: "tls_key",
        help: "the certificate's private key (PEM), readable by the server's user only",
        show: |c| path_or_none(c.tls_key.as_deref()),
        set: |c, v| {
            c.tls_key = Some(file_path(v)?);
            Ok(())
        },
    },
    Setting {
        name: "default_time_zone",
        help: "IANA time zone of a clinic this server creates (the demo); this machine's if not set",
        show: |c| c.default_time_zone.clone(),
        set: |c, v| {
            v.trim()
                .parse::<chrono_tz::Tz>()
                .map_err(|_| format!("{v:?} is not a time zone (like Europe/Berlin)"))?;
            c.default_time_zone = v.trim().to_owned();
            Ok(())
        },
    },
    Setting {
        name: "default_lock_after_seconds",
        help: "idle seconds before a desk locks, for a clinic this server creates (its admin changes its own)",
        show: |c| c.default_lock_after_seconds.to_string(),
        set: |c, v| {
            c.default_lock_after_seconds = in_range(v, &commands::LOCK_AFTER)?;
            Ok(())
        },
    },
    Setting {
        name: "default_window_days_back",
        help: "days before today a desk keeps, for a clinic this server creates (its admin changes its own)",
        show: |c| c.default_window_days_back.to_string(),
        set: |c, v| {
            c.default_window_days_back = in_range(v, &commands::DAYS_BACK)?;
            Ok(())
        },
    },
    Setting {
        name: "default_window_days_ahead",
        help: "days after today a desk keeps, for a clinic this server creates (its admin changes its own)",
        show: |c| c.default_window_days_ahead.to_string(),
        set: |c, v| {
            c.default_window_days_ahead = in_range(v, &commands::DAYS_AHEAD)?;
            Ok(())
        },
    },
];

/// Why settings could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("reading {path}: {why}")]
    Read { path: String, why: String },
    #[error("{path} is not valid TOML: {why}")]
    Syntax { path: String, why: String },
    #[error("{path}: unknown setting `{key}` (see `clinic-server --help` for the settings)")]
    Unknown { path: String, key: String },
    #[error("{source_name}: setting `{key}`: {why}")]
    Value {
        source_name: String,
        key: String,
        why: String,
    },
}

fn find(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name == key)
}

/// Applies the settings of the TOML file at `path` (a flat table of the
/// keys of [`SETTINGS`]); an unknown key or a bad value is refused by name.
pub fn apply_file(cfg: &mut ServerConfig, path: &Path) -> Result<(), SettingsError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| SettingsError::Read {
        path: shown.clone(),
        why: e.to_string(),
    })?;
    apply_toml(cfg, &text, &shown)
}

/// Applies settings given as TOML text (`source_name` names it in errors).
pub fn apply_toml(
    cfg: &mut ServerConfig,
    text: &str,
    source_name: &str,
) -> Result<(), SettingsError> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| SettingsError::Syntax {
            path: source_name.to_owned(),
            why: e.message().to_owned(),
        })?;
    for (key, value) in &table {
        let setting = find(key).ok_or_else(|| SettingsError::Unknown {
            path: source_name.to_owned(),
            key: key.clone(),
        })?;
        let raw = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            other => {
                return Err(SettingsError::Value {
                    source_name: source_name.to_owned(),
                    key: key.clone(),
                    why: format!("expected a number or a string, not {}", other.type_str()),
                });
            }
        };
        (setting.set)(cfg, &raw).map_err(|why| SettingsError::Value {
            source_name: source_name.to_owned(),
            key: key.clone(),
            why,
        })?;
    }
    Ok(())
}

/// Applies every `FRONTDESK_<SETTING>` found by `lookup` (the process
/// environment in the binary).
pub fn apply_env(
    cfg: &mut ServerConfig,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(), SettingsError> {
    for s in SETTINGS {
        let env = s.env();
        if let Some(value) = lookup(&env) {
            (s.set)(cfg, &value).map_err(|why| SettingsError::Value {
                source_name: env,
                key: s.name.to_owned(),
                why,
            })?;
        }
    }
    Ok(())
}

/// The settings as `--help` lists them: key, environment variable, default.
pub fn help(defaults: &ServerConfig) -> String {
    let mut out = String::from(
        "Settings (in the --config file as `key = value`, overridden by the environment, then by flags):\n",
    );
    for s in SETTINGS {
        let _ = writeln!(
            out,
            "  {:<30} {}\n  {:<30} env {}, default {}",
            s.name,
            s.help,
            "",
            s.env(),
            (s.show)(defaults)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> ServerConfig {
        ServerConfig::new(
            "127.0.0.1:7420".parse().unwrap(),
            DbLocation::File("clinic.db".into()),
            vec![7; 32],
        )
    }

    #[test]
    fn a_file_sets_what_it_names_and_the_environment_overrides_it() {
        let mut c = defaults();
        let file = "listen = \"0.0.0.0:8443\"\naccess_token_seconds = 120\nmax_sockets_per_user = 8\ndefault_time_zone = \"Europe/Berlin\"\n";
        apply_toml(&mut c, file, "clinic.toml").unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:8443");
        assert_eq!(c.access_ttl, Duration::from_secs(120));
        assert_eq!(c.max_sockets_per_user, 8);
        assert_eq!(
            c.mutation_burst, 200,
            "untouched settings keep their defaults"
        );
        let env = |k: &str| (k == "FRONTDESK_ACCESS_TOKEN_SECONDS").then(|| "90".to_owned());
        apply_env(&mut c, env).unwrap();
        assert_eq!(c.access_ttl, Duration::from_secs(90));
        assert_eq!(c.max_sockets_per_user, 8);
    }

    #[test]
    fn unknown_keys_bad_values_and_bad_toml_are_refused_by_name() {
        let mut c = defaults();
        let e = apply_toml(&mut c, "acess_token_seconds = 60", "clinic.toml").unwrap_err();
        assert_eq!(
            e.to_string(),
            "clinic.toml: unknown setting `acess_token_seconds` (see `clinic-server --help` for the settings)"
        );
        for (text, says) in [
            ("access_token_seconds = 0", "must be more than 0"),
            ("access_token_seconds = \"soon\"", "not a whole number"),
            ("listen = \"nowhere\"", "not an address"),
            ("default_time_zone = \"Mars/Olympus\"", "not a time zone"),
            ("max_connections = true", "expected a number or a string"),
            ("default_lock_after_seconds = 10", "not from 60 to 3600"),
            ("default_window_days_ahead = 0", "not from 1 to 365"),
        ] {
            let e = apply_toml(&mut c, text, "clinic.toml")
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
        assert!(matches!(
            apply_toml(&mut c, "listen = ", "x").unwrap_err(),
            SettingsError::Syntax { .. }
        ));
        let env = |k: &str| (k == "FRONTDESK_READ_BURST").then(|| "many".to_owned());
        assert!(
            apply_env(&mut c, env)
                .unwrap_err()
                .to_string()
                .contains("FRONTDESK_READ_BURST")
        );
    }

    #[test]
    fn help_lists_every_setting_with_its_variable_and_default() {
        let text = help(&defaults());
        for s in SETTINGS {
            assert!(
                text.contains(s.name) && text.contains(&s.env()),
                "{}",
                s.name
            );
        }
        assert!(
            text.contains("default 900"),
            "the access token's 15 minutes"
        );
        assert_eq!(
            SETTINGS.len(),
            SETTINGS
                .iter()
                .map(|s| s.name)
                .collect::<std::collections::HashSet<_>>()
                .len()
        );
    }
}
