//! Several Frontdesk processes of one user on one PC (the app and
//! `frontdesk-cli` commands), started together, against the real server and
//! a real gnome-keyring: they must not break each other's keyring check nor
//! spend the same refresh token twice (which revokes the login).

use frontdesk_e2e::{Clinic, KeyringCli};

#[tokio::test]
async fn processes_started_together_share_the_keyring_and_one_login() {
    let clinic = Clinic::start(|_| {}).await;
    let pc = KeyringCli::signed_in(&clinic.url()).await;
    let cli = |args: &[&str]| pc.command(args);

    // Sixteen commands at once: each probes the keyring and, holding no
    // access token, refreshes the one stored login.
    let mut running = Vec::new();
    for _ in 0..16 {
        running.push(cli(&["status", "--timeout", "20"]).output());
    }
    let mut failed = Vec::new();
    for run in running {
        let out = run.await.unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        if !out.status.success() || err.contains("memory only") {
            failed.push(format!(
                "exit {:?}: {err}\n{}",
                out.status.code(),
                String::from_utf8_lossy(&out.stdout)
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of 16 failed:\n{}",
        failed.len(),
        failed.join("\n---\n")
    );

    // The login survived: no refresh token was presented twice.
    let after = cli(&["status"]).output().await.unwrap();
    assert!(
        after.status.success(),
        "{}",
        String::from_utf8_lossy(&after.stderr)
    );
}

#[tokio::test]
async fn the_cli_at_its_most_verbose_logs_no_token_or_password() {
    let clinic = Clinic::start(|_| {}).await;
    let pc = KeyringCli::signed_in(&clinic.url()).await;
    let mut command = pc.command(&["status", "--timeout", "20"]);
    command.env("FRONTDESK_LOG", "trace");
    let out = command.output().await.unwrap();
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "the log was written"
    );
    // Every access token is a JWT, whose header begins `eyJ`.
    assert!(!log.contains("eyJ"), "a token is in the log");
    assert!(
        !log.contains("refresh_token"),
        "a refresh token is in the log"
    );
    assert!(!log.contains("\"password\""), "a password is in the log");
}
