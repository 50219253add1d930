//! `--demo`: the clinic server in-process with the demo clinic, signed in as
//! reception, and a small simulator so the first run looks like a working
//! morning (arrivals, calls, messages, typing).

use clinic_server::{Db, DbLocation, RunningServer, ServerConfig, demo};
use rand::Rng;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

/// The running demo clinic, held for the life of the app.
pub struct DemoClinic(pub RunningServer);

impl DemoClinic {
    /// Where the demo clinic listens.
    pub fn url(&self) -> String {
        self.0.url()
    }
}

/// Starts the demo clinic on a free loopback port, its data kept in `dir`.
pub async fn start_server(dir: &Path) -> anyhow::Result<RunningServer> {
    std::fs::create_dir_all(dir)?;
    let db_path = dir.join("demo-clinic.db");
    let secret = clinic_server::config::load_or_create_secret(&dir.join("demo-clinic.db.secret"))?;
    let cfg = ServerConfig::new(
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        DbLocation::File(db_path),
        secret,
    );
    let db = Db::open(&cfg.db)?;
    // Half a year back and a month ahead, as a clinic's desk meets it.
    let (zone, now) = (demo::machine_zone(), chrono::Utc::now());
    db.write_now(|c| demo::seed_with_history(c, "demo", "Demo Family Clinic", &zone, now))?;
    Ok(clinic_server::start_with_db(cfg, db).await?)
}

const WALK_INS: [&str; 8] = [
    "Ana Ruiz",
    "Ben Okoro",
    "Chen Wei",
    "Dana Levi",
    "Emil Novak",
    "Farah Aziz",
    "Gus Berg",
    "Hana Sato",
];
const LINES: [&str; 5] = [
    "Room 2 is free now.",
    "Can you pull up last week's lab results for the next patient?",
    "Running five minutes behind, sorry.",
    "Pharmacy called back about the prescription.",
    "Next patient needs an interpreter.",
];

/// Plays the other desks of the clinic: the doctors and the admin act every
/// few seconds through the real API, so every change reaches the app as it
/// would in a clinic.
pub async fn simulate(base: String) {
    let http = reqwest::Client::new();
    let mut n = 0usize;
    loop {
        let pause = rand::rng().random_range(6..14);
        tokio::time::sleep(Duration::from_secs(pause)).await;
        n += 1;
        // Fresh sessions each round: the simulator outlives any access token.
        let (Some(doctor), Some(admin)) = (
            login(&http, &base, "doctor").await,
            login(&http, &base, "admin").await,
        ) else {
            continue;
        };
        let Some(snap) = send(http.get(format!("{base}/api/snapshot")).bearer_auth(&admin)).await
        else {
            continue;
        };
        let providers: Vec<String> = snap["providers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["id"].as_str().map(str::to_owned))
            .collect();
        let Some(provider) = providers.get(n % providers.len().max(1)).cloned() else {
            continue;
        };
        match n % 4 {
            0 | 2 => {
                let name = WALK_INS[n % WALK_INS.len()];
                let body = json!({"provider_id": provider, "patient": {"name": name}});
                send(
                    http.post(format!("{base}/api/queue"))
                        .bearer_auth(&admin)
                        .json(&body),
                )
                .await;
            }
            1 => {
                let body = json!({"provider_id": snap["providers"][0]["id"]});
                send(
                    http.post(format!("{base}/api/queue/call-next"))
                        .bearer_auth(&doctor)
                        .json(&body),
                )
                .await;
            }
            _ => {
                let team = snap["threads"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|t| t["title"] == "Clinic team");
                if let Some(t) = team.and_then(|t| t["id"].as_str()) {
                    let body = json!({"client_id": format!("sim-{}", uuid::Uuid::new_v4().simple()), "body": LINES[n % LINES.len()]});
                    send(
                        http.post(format!("{base}/api/threads/{t}/messages"))
                            .bearer_auth(&doctor)
                            .json(&body),
                    )
                    .await;
                }
            }
        }
    }
}

async fn send(req: reqwest::RequestBuilder) -> Option<Value> {
    req.send().await.ok()?.json().await.ok()
}

async fn login(http: &reqwest::Client, base: &str, user: &str) -> Option<String> {
    let body = json!({"tenant": "demo", "username": user, "password": "demo"});
    let v = send(http.post(format!("{base}/api/auth/login")).json(&body)).await?;
    v["access_token"].as_str().map(str::to_owned)
}
