//! Faults: connections cut at random, a CLI killed mid-apply, tokens expiring.

use frontdesk_e2e::*;
use frontdesk_engine::cache::Kind;
use frontdesk_engine::cache::outbox::DeskAction;
use frontdesk_engine::engine::Update;
use frontdesk_engine::supervisor::ConnState;
use frontdesk_protocol::api::PostMessage;
use frontdesk_protocol::records::{Appointment, Message, QueueEntry};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

/// Records of a kind keyed by id, as JSON, from the server's snapshot.
fn server_records(snap: &Value, key: &str) -> BTreeMap<String, Value> {
    snap[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap().to_owned(), r.clone()))
        .collect()
}

fn cache_records<T: serde::de::DeserializeOwned + serde::Serialize>(
    c: &frontdesk_engine::cache::Cache,
    kind: Kind,
) -> BTreeMap<String, Value> {
    c.list::<T>(kind)
        .unwrap()
        .into_iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .map(|v| (v["id"].as_str().unwrap().to_owned(), v))
        .collect()
}

#[tokio::test]
async fn random_connection_cuts_during_1000_events_leave_the_cache_equal_to_the_server() {
    let clinic = Clinic::start(|_| {}).await;
    let proxy = FaultyProxy::start(clinic.addr).await;
    let mut me = Client::sign_in(&proxy.url(), "reception").await;
    me.wait_state(ConnState::Live).await;

    // Another desk makes 1,000 changes directly on the server while the proxy
    // cuts the engine's connections (socket and REST alike) at random moments.
    let desk = Desk::login(&clinic.url(), "admin").await;
    let team = clinic.clinic.threads[1].clone();
    let writer = tokio::spawn(async move {
        let snap = desk.get("/api/snapshot").await;
        let providers: Vec<String> = snap["providers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect();
        let mut events = 0;
        let mut i = 0;
        while events < 1000 {
            i += 1;
            let (s, _) = if i % 10 == 3 {
                // A walk-in: queue.updated + the doctor's notification.
                events += 2;
                desk.post("/api/queue", json!({"provider_id": providers[i % 2], "patient": {"name": format!("Walk In {i}")}})).await
            } else {
                events += 1;
                desk.post(
                    &format!("/api/threads/{team}/messages"),
                    json!({"client_id": format!("m{i}"), "body": format!("event {i}")}),
                )
                .await
            };
            assert_eq!(s, 201);
        }
    });
    let mut cuts = 0;
    let mut rng_state = 0x9e3779b97f4a7c15u64;
    while !writer.is_finished() {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        tokio::time::sleep(Duration::from_millis(20 + rng_state % 180)).await;
        proxy.cut_all();
        cuts += 1;
    }
    writer.await.unwrap();
    assert!(cuts >= 5, "faults were injected ({cuts})");

    // Faults stop; the engine must converge on exactly the server's state.
    let admin = Desk::login(&clinic.url(), "admin").await;
    let latest = admin.get("/api/events?after=0&limit=1").await["latest_seq"]
        .as_u64()
        .unwrap();
    assert!(latest >= 1000);
    me.handle.retry_now().unwrap();
    me.wait_cache("caught up", |c| c.last_seq().unwrap() == Some(latest))
        .await;
    let server = Desk::login(&clinic.url(), "reception")
        .await
        .get("/api/snapshot")
        .await;
    let c = me.handle.reader().unwrap();
    assert_eq!(
        cache_records::<Appointment>(&c, Kind::Appointment),
        server_records(&server, "appointments")
    );
    assert_eq!(
        cache_records::<QueueEntry>(&c, Kind::Queue),
        server_records(&server, "queue")
    );
    // Every message, none twice (the snapshot holds the latest 200 per thread).
    let msgs: Vec<Message> = c.list(Kind::Message).unwrap();
    let ours: std::collections::HashSet<&str> = msgs
        .iter()
        .filter(|m| m.body.starts_with("event "))
        .map(|m| m.client_id.as_str())
        .collect();
    assert_eq!(
        ours.len(),
        msgs.iter().filter(|m| m.body.starts_with("event ")).count(),
        "no duplicates"
    );
    assert!(ours.len() >= 200, "{} messages", ours.len());
    for (id, m) in server_records(&server, "messages") {
        assert!(
            msgs.iter().any(|x| x.id == id),
            "server message {id} ({}) missing from the cache",
            m["body"]
        );
    }
}

#[tokio::test]
async fn killing_the_cli_mid_apply_leaves_a_cache_that_opens_and_resyncs() {
    let clinic = Clinic::start(|_| {}).await;
    let pc = KeyringCli::signed_in(&clinic.url()).await;
    let cli = |args: &[&str]| pc.command(args);

    let mut tail = cli(&["tail", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(tail.stdout.take().unwrap()).lines();
    let desk = Desk::login(&clinic.url(), "admin").await;
    let team = clinic.clinic.threads[1].clone();
    let writer = tokio::spawn(async move {
        for i in 0..1500 {
            let (s, _) = desk
                .post(
                    &format!("/api/threads/{team}/messages"),
                    json!({"client_id": format!("k{i}"), "body": "burst"}),
                )
                .await;
            assert_eq!(s, 201);
        }
    });
    // Kill -9 once it is busy applying.
    let mut applied = 0;
    while let Ok(Some(line)) = lines.next_line().await {
        if line.contains("\"kind\":\"applied\"") {
            applied += 1;
            if applied == 200 {
                break;
            }
        }
    }
    assert_eq!(applied, 200);
    tail.kill().await.unwrap(); // SIGKILL
    writer.await.unwrap();

    // The cache opens (same key from the keyring) and resyncs to the end.
    let status = cli(&["status"]).output().await.unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.status.success(),
        "status failed: {text}{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(text.contains("connection: Live"), "{text}");
    assert!(text.contains("last seq:   1500"), "{text}");
    assert!(text.contains("outbox:     0 entries"), "{text}");
}

#[tokio::test]
async fn an_access_token_expiring_mid_session_is_refreshed_without_a_visible_drop() {
    // Two-second tokens: the engine renews at 1.5 s and shows the socket the
    // new one (`reauth`), so the server, which closes a socket at its
    // token's expiry, keeps it.
    let clinic = Clinic::start(|c| c.access_ttl = Duration::from_secs(2)).await;
    let mut me = Client::sign_in(&clinic.url(), "reception").await;
    me.wait_state(ConnState::Live).await;
    me.wait_cache("snapshot", |c| c.count(Kind::Appointment).unwrap() == 24)
        .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // The socket stays up past the first token; REST work uses the renewed one.
    let thread = clinic.clinic.threads[0].clone();
    me.handle
        .act(DeskAction::SendMessage {
            thread_id: thread,
            body: PostMessage {
                client_id: "late".into(),
                body: "after expiry".into(),
                urgent: false,
            },
        })
        .await
        .unwrap();
    me.wait_cache("sent with a refreshed token", |c| {
        c.outbox_list().unwrap().is_empty()
            && c.list::<Message>(Kind::Message)
                .unwrap()
                .iter()
                .any(|m| m.client_id == "late")
    })
    .await;
    let mut states = Vec::new();
    while let Ok(u) = me.updates.try_recv() {
        if let Update::Connection { state, .. } = u {
            states.push(state);
        }
    }
    assert!(
        states.iter().all(|s| *s == ConnState::Live),
        "no drop while refreshing: {states:?}"
    );
    assert_eq!(me.handle.state(), ConnState::Live);
}

#[tokio::test]
async fn a_wrong_cache_key_or_a_damaged_cache_is_cleared_and_rebuilt() {
    let clinic = Clinic::start(|_| {}).await;
    let mut me = Client::sign_in(&clinic.url(), "reception").await;
    me.wait_state(ConnState::Live).await;
    me.wait_cache("snapshot", |c| c.count(Kind::Appointment).unwrap() == 24)
        .await;
    me.handle.shutdown().await;

    // The key in the keyring no longer matches the file (e.g. restored from another machine).
    let key_name = format!("cache-key:{}", me.config.identity());
    me.secrets
        .set(
            &key_name,
            &frontdesk_engine::cache::CacheKey::generate().to_hex(),
        )
        .unwrap();
    me.restart().await;
    let warning = me.handle.startup_warnings().join("; ");
    assert!(
        warning.contains("cannot be opened with this key"),
        "{warning}"
    );
    me.wait_state(ConnState::Live).await;
    me.wait_cache("rebuilt", |c| c.count(Kind::Appointment).unwrap() == 24)
        .await;
    me.handle.shutdown().await;

    // The file itself is damaged.
    let path = me.config.cache_path();
    let _ = std::fs::remove_file(format!("{}-wal", path.display()));
    let mut bytes = std::fs::read(&path).unwrap();
    let len = bytes.len();
    for b in &mut bytes[len / 3..len / 3 + 2048] {
        *b ^= 0x5a;
    }
    std::fs::write(&path, bytes).unwrap();
    me.restart().await;
    let warning = me.handle.startup_warnings().join("; ");
    assert!(warning.contains("cleared"), "{warning}");
    me.wait_state(ConnState::Live).await;
    me.wait_cache("rebuilt again", |c| {
        c.count(Kind::Appointment).unwrap() == 24
    })
    .await;
}

#[tokio::test]
async fn without_a_keyring_the_cli_says_so_and_keeps_nothing_on_disk() {
    let clinic = Clinic::start(|_| {}).await;
    let data = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| {
        let mut c = cli_command(&clinic.url(), data.path(), args);
        c.env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus");
        c
    };
    let login = cli(&["login"]).output().await.unwrap();
    let err = String::from_utf8_lossy(&login.stderr);
    assert!(login.status.success(), "{err}");
    assert!(err.contains("kept in memory only"), "{err}");
    // Nothing survived the process: the next one is not signed in.
    let status = cli(&["status"]).output().await.unwrap();
    assert!(!status.status.success());
    assert!(String::from_utf8_lossy(&status.stderr).contains("not signed in"));
    // And no token was written anywhere in the data folder.
    for entry in std::fs::read_dir(data.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap_or_default();
        assert!(!bytes.windows(4).any(|w| w == b"eyJ0"), "no JWT on disk");
    }
}

/// A clinic that pings every 300 ms (a dead link shows within a second),
/// reached by reception through a fault proxy.
async fn behind_a_proxy_with_fast_pings() -> (Clinic, FaultyProxy, Client) {
    let clinic = Clinic::start(|c| {
        c.ping_interval = Duration::from_millis(300);
        c.ping_timeout = Duration::from_millis(600);
    })
    .await;
    let proxy = FaultyProxy::start(clinic.addr).await;
    let me = Client::sign_in(&proxy.url(), "reception").await;
    (clinic, proxy, me)
}

#[tokio::test]
async fn a_link_that_goes_silent_is_noticed_by_missed_pings_and_replaced() {
    let (clinic, proxy, mut me) = behind_a_proxy_with_fast_pings().await;
    me.wait_state(ConnState::Live).await;
    me.wait_cache("synced", |c| c.count(Kind::Appointment).unwrap() == 24)
        .await;
    // Nothing gets through, but no connection is closed either.
    proxy.set_stalled(true);
    me.wait_state(ConnState::Reconnecting).await;
    proxy.set_stalled(false);
    proxy.cut_all(); // the stuck connections are gone for good
    me.wait_state(ConnState::Live).await;
    // And it still follows the clinic afterwards.
    let desk = Desk::login(&clinic.url(), "admin").await;
    let team = clinic.clinic.threads[1].clone();
    desk.post(
        &format!("/api/threads/{team}/messages"),
        json!({"client_id": "after-stall", "body": "back"}),
    )
    .await;
    me.wait_cache("event after the stall", |c| {
        c.list::<Message>(Kind::Message)
            .unwrap()
            .iter()
            .any(|m| m.client_id == "after-stall")
    })
    .await;
}

#[tokio::test]
async fn a_stall_in_the_middle_of_a_request_is_noticed_without_waiting_for_the_request_timeout() {
    let (_clinic, proxy, mut me) = behind_a_proxy_with_fast_pings().await;
    // Live is announced before the first sync runs: stall right then, so the
    // replay request hangs. The 20 s request timeout must not be what saves us.
    me.wait_state(ConnState::Live).await;
    proxy.set_stalled(true);
    let noticed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if me.handle.state() == ConnState::Reconnecting {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        noticed.is_ok(),
        "a silent link during a request is noticed within seconds"
    );
    proxy.set_stalled(false);
    proxy.cut_all();
    me.wait_state(ConnState::Live).await;
    me.wait_cache("synced after the stall", |c| {
        c.count(Kind::Appointment).unwrap() == 24
    })
    .await;
}
