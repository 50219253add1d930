//! The `clinic-server` binary: `--demo` seeds the clinic and the first line of
//! output says where it listens; the generated secret is kept across restarts.

use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary and returns it with the base URL from its first line.
fn start(db: &std::path::Path) -> (Killed, String) {
    spawn(db, Stdio::null(), None)
}

/// Starts the binary with `RUST_LOG` set to `filter`, its log going to `log`.
fn start_logging(db: &std::path::Path, log: &std::path::Path, filter: &str) -> (Killed, String) {
    spawn(db, std::fs::File::create(log).unwrap().into(), Some(filter))
}

fn spawn(db: &std::path::Path, stderr: Stdio, log_filter: Option<&str>) -> (Killed, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_clinic-server"));
    command
        .args(["--demo", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .env_remove("FRONTDESK_JWT_SECRET")
        .stdout(Stdio::piped())
        .stderr(stderr);
    if let Some(filter) = log_filter {
        command.env("RUST_LOG", filter);
    }
    let mut child = command.spawn().expect("binary runs");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .trim()
        .strip_prefix("clinic-server listening on ")
        .unwrap_or_else(|| panic!("first line says where it listens: {first:?}"))
        .to_owned();
    (Killed(child), url)
}

#[tokio::test]
async fn demo_binary_announces_its_address_and_keeps_its_secret() {
    let dir = std::env::temp_dir().join(format!("clinic-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("clinic.db");
    let http = reqwest::Client::new();
    let login = json!({"tenant": "demo", "username": "reception", "password": "demo"});

    let (proc1, url) = start(&db);
    let r = http
        .post(format!("{url}/api/auth/login"))
        .json(&login)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let token = r.json::<serde_json::Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret = dir.join("clinic.db.secret");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "secret readable by its owner only");
    }
    drop(proc1);

    // Restart on the same files: same secret (the token still verifies), demo not seeded twice.
    let (_proc2, url) = start(&db);
    let snap: serde_json::Value = http
        .get(format!("{url}/api/snapshot"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(snap["appointments"].as_array().unwrap().len(), 24);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_most_verbose_log_holds_no_token_or_password() {
    for filter in [
        "trace",
        "socketioxide=trace,engineioxide=trace,clinic_server=trace",
    ] {
        let dir =
            std::env::temp_dir().join(format!("clinic-log-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("stderr.log");
        let (proc, url) = start_logging(&dir.join("clinic.db"), &log, filter);
        let http = reqwest::Client::new();
        let password = "demo";
        let tokens: serde_json::Value = http
            .post(format!("{url}/api/auth/login"))
            .json(&json!({"tenant": "demo", "username": "admin", "password": password}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let access = tokens["access_token"].as_str().unwrap().to_owned();
        let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
        // A socket authenticates with the token and shows it again.
        let mut socket = crate::support::SioClient::connect(&url, json!({"token": access}))
            .await
            .unwrap();
        let ack = socket.emit_ack("reauth", json!({"token": access})).await;
        assert_eq!(ack["ok"], true, "{ack}");
        let renewed = http
            .post(format!("{url}/api/auth/refresh"))
            .json(&json!({"refresh_token": refresh}))
            .send()
            .await
            .unwrap();
        assert_eq!(renewed.status(), 200);
        socket.close();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        drop(proc);
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(
            text.contains("INFO"),
            "{filter}: the log was written: {text}"
        );
        let signature = access.rsplit('.').next().unwrap();
        assert!(
            !text.contains(signature),
            "{filter}: the access token is in the log"
        );
        assert!(
            !text.contains(&refresh),
            "{filter}: the refresh token is in the log"
        );
        assert!(
            !text.contains(&format!("\"password\":\"{password}\"")),
            "{filter}: the password is in the log"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[tokio::test]
async fn a_settings_file_and_the_environment_configure_the_binary_and_a_typo_is_refused() {
    let dir = std::env::temp_dir().join(format!("clinic-conf-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("clinic.toml");
    let run = |extra_env: &[(&str, &str)]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_clinic-server"));
        c.arg("--config").arg(&conf).arg("--demo");
        c.env_remove("FRONTDESK_JWT_SECRET");
        for (k, v) in extra_env {
            c.env(k, v);
        }
        c
    };
    // A misspelt key: refused by name, the server does not start.
    std::fs::write(
        &conf,
        "listen = \"127.0.0.1:0\"\nacess_token_seconds = 60\n",
    )
    .unwrap();
    let out = run(&[]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("unknown setting `acess_token_seconds`"),
        "{err}"
    );
    // A good file; the environment overrides one of its settings.
    std::fs::write(
        &conf,
        format!(
            "listen = \"127.0.0.1:0\"\ndb = \"{}\"\naccess_token_seconds = 120\n",
            dir.join("clinic.db").display()
        ),
    )
    .unwrap();
    for (env, want) in [
        (vec![], 120),
        (vec![("FRONTDESK_ACCESS_TOKEN_SECONDS", "90")], 90),
    ] {
        let mut child = run(&env)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let proc = Killed(child);
        let url = first
            .trim()
            .strip_prefix("clinic-server listening on ")
            .unwrap()
            .to_owned();
        let tokens: serde_json::Value = reqwest::Client::new()
            .post(format!("{url}/api/auth/login"))
            .json(&json!({"tenant": "demo", "username": "reception", "password": "demo"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(tokens["expires_in"], want, "{env:?}");
        drop(proc);
    }
    assert!(
        dir.join("clinic.db").exists(),
        "the database named in the file"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn access_to_patients_is_audited_and_audit_verify_catches_a_tampered_row() {
    let dir = std::env::temp_dir().join(format!("clinic-audit-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("clinic.db");
    let (proc, url) = start(&db);
    let http = reqwest::Client::new();
    let login = |user: &str| {
        let http = http.clone();
        let url = url.clone();
        let user = user.to_owned();
        async move {
            let t: serde_json::Value = http
                .post(format!("{url}/api/auth/login"))
                .json(&json!({"tenant": "demo", "username": user, "password": "demo"}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            t["access_token"].as_str().unwrap().to_owned()
        }
    };
    let reception = login("reception").await;
    let get = |token: String, path: String| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let r = http
                .get(format!("{url}{path}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (_, snap) = get(reception.clone(), "/api/snapshot".into()).await;
    let snap: serde_json::Value = serde_json::from_str(&snap).unwrap();
    let patient = snap["patients"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        get(reception.clone(), format!("/api/patients/{patient}"))
            .await
            .0,
        200
    );
    let mut socket = crate::support::SioClient::connect(&url, json!({"token": reception}))
        .await
        .unwrap();
    assert_eq!(
        socket
            .emit_ack("viewing", json!({"patient": patient}))
            .await["ok"],
        true
    );
    let fixed = http
        .patch(format!("{url}/api/patients/{patient}"))
        .bearer_auth(&reception)
        .json(&json!({"version": snap["patients"][0]["version"], "phone": "+1 555 0999"}))
        .send()
        .await
        .unwrap();
    assert_eq!(fixed.status(), 200);
    // The admin's report for that patient: the snapshot, the record opened,
    // on screen, the change.
    let admin = login("admin").await;
    assert_eq!(get(reception.clone(), "/api/audit".into()).await.0, 403);
    let (s, report) = get(admin.clone(), format!("/api/audit?patient_id={patient}")).await;
    assert_eq!(s, 200, "{report}");
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let how: Vec<&str> = report
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["access"].as_str().unwrap())
        .collect();
    assert_eq!(
        how,
        ["snapshot", "record_opened", "on_screen", "changed"],
        "{report}"
    );
    assert!(
        report
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["address"].as_str().is_some_and(|a| a.starts_with("127."))),
        "every access says where from: {report}"
    );
    assert!(
        report[0]["address"]
            .as_str()
            .is_some_and(|a| a.starts_with("127."))
    );
    let (_, csv) = get(admin, format!("/api/audit?patient_id={patient}&format=csv")).await;
    assert!(
        csv.starts_with("seq,at,user_id,login_id,address,access,patient_ids,detail\n"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 5);
    socket.close();
    drop(proc);
    let verify = || {
        Command::new(env!("CARGO_BIN_EXE_clinic-server"))
            .args(["--db"])
            .arg(&db)
            .args(["audit", "verify"])
            .env_remove("FRONTDESK_JWT_SECRET")
            .output()
            .unwrap()
    };
    let ok = verify();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("intact"));
    // Someone with the file hides who opened the record.
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute(
        "UPDATE audit SET user_id = 'nobody' WHERE access = 'record_opened'",
        [],
    )
    .unwrap();
    drop(c);
    let broken = verify();
    let said = String::from_utf8_lossy(&broken.stdout).to_string();
    assert_eq!(broken.status.code(), Some(1), "{said}");
    assert!(said.contains("BROKEN at row"), "{said}");
    std::fs::remove_dir_all(&dir).unwrap();
}
