//! Login, refresh rotation, rate limits, and tokens refused at CONNECT.

use crate::support::*;
use clinic_server::auth::tokens::{Claims, ISSUER, TokenKeys};
use frontdesk_protocol::records::Role;
use serde_json::json;

#[tokio::test]
async fn login_gives_tokens_and_refuses_bad_credentials_alike() {
    let d = demo_server(|_| {}).await;
    let t = d.login("reception").await;
    assert_eq!(t.user.role, Role::Receptionist);
    assert_eq!(t.expires_in, 900);
    for (tenant, user, pw) in [
        ("demo", "reception", "wrong"),
        ("demo", "nobody", "demo"),
        ("nowhere", "reception", "demo"),
    ] {
        let (s, p) = d
            .post(
                "",
                "/api/auth/login",
                json!({"tenant": tenant, "username": user, "password": pw}),
            )
            .await;
        assert_eq!(
            (s, p["type"].as_str()),
            (401, Some("invalid-credentials")),
            "{tenant}/{user}"
        );
    }
    let (s, p) = d
        .post("", "/api/auth/login", json!({"tenant": "demo"}))
        .await;
    assert_eq!((s, p["type"].as_str()), (400, Some("invalid-input")));
    assert!(p["detail"].as_str().unwrap().contains("username"), "{p}");
}

/// Logs in as `user` with `password` from the loopback address `ip`
/// (127.0.0.0/8 is all loopback: each address is another PC to the server).
async fn login_from(d: &Demo, ip: &str, user: &str, password: &str) -> (u16, serde_json::Value) {
    let client = reqwest::Client::builder()
        .local_address(ip.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let r = client
        .post(d.url("/api/auth/login"))
        .json(&json!({"tenant": "demo", "username": user, "password": password}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

#[tokio::test]
async fn login_attempts_back_off_per_user_and_address_and_are_capped_per_address() {
    let d = demo_server(|c| {
        c.login_failures_per_user = 3;
        c.login_failures_per_address = 5;
    })
    .await;
    let (here, there) = ("127.0.0.1", "127.0.0.2");
    for _ in 0..3 {
        assert_eq!(login_from(&d, here, "doctor", "bad").await.0, 401);
    }
    // From this PC the doctor's account now backs off, right password or not…
    let (s, p) = login_from(&d, here, "doctor", "demo").await;
    assert_eq!((s, p["type"].as_str()), (429, Some("rate-limited")), "{p}");
    assert!(p["retry_after"].as_u64().unwrap() > 0);
    // …but a guesser elsewhere cannot lock the doctor out.
    assert_eq!(login_from(&d, there, "doctor", "demo").await.0, 200);
    // Other users still sign in from here until the address has failed five times.
    assert_eq!(login_from(&d, here, "reception", "demo").await.0, 200);
    assert_eq!(login_from(&d, here, "admin", "bad").await.0, 401);
    assert_eq!(login_from(&d, here, "admin", "bad").await.0, 401);
    assert_eq!(login_from(&d, here, "reception", "demo").await.0, 429);
    assert_eq!(login_from(&d, there, "reception", "demo").await.0, 200);
}

#[tokio::test]
async fn fifty_concurrent_wrong_passwords_get_five_answers_and_the_rest_wait() {
    let d = demo_server(|_| {}).await;
    let attempts = (0..50).map(|_| login_from(&d, "127.0.0.3", "doctor", "wrong"));
    let answers = futures_util::future::join_all(attempts).await;
    let count = |status| answers.iter().filter(|(s, _)| *s == status).count();
    assert_eq!(
        (count(401), count(429)),
        (5, 45),
        "each attempt is counted before the password is checked"
    );
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_login() {
    let d = demo_server(|_| {}).await;
    let first = d.login("reception").await;
    let (s, second) = d
        .post(
            "",
            "/api/auth/refresh",
            json!({"refresh_token": first.refresh_token}),
        )
        .await;
    assert_eq!(s, 200, "{second}");
    let second_refresh = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, first.refresh_token);
    assert_eq!(
        d.get(second["access_token"].as_str().unwrap(), "/api/snapshot")
            .await
            .0,
        200
    );

    // Replaying the spent token revokes the whole login...
    let (s, p) = d
        .post(
            "",
            "/api/auth/refresh",
            json!({"refresh_token": first.refresh_token}),
        )
        .await;
    assert_eq!((s, p["type"].as_str()), (401, Some("refresh-token-reused")));
    // ...so the token issued after it no longer works either.
    let (s, p) = d
        .post(
            "",
            "/api/auth/refresh",
            json!({"refresh_token": second_refresh}),
        )
        .await;
    assert_eq!(s, 401, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("revoked"));

    // Another login of the same user is unaffected.
    let other = d.login("reception").await;
    assert_eq!(
        d.post(
            "",
            "/api/auth/refresh",
            json!({"refresh_token": other.refresh_token})
        )
        .await
        .0,
        200
    );
    let (s, _) = d
        .post("", "/api/auth/refresh", json!({"refresh_token": "made-up"}))
        .await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn logout_revokes_the_refresh_token() {
    let d = demo_server(|_| {}).await;
    let t = d.login("doctor").await;
    assert_eq!(
        d.post(
            "",
            "/api/auth/logout",
            json!({"refresh_token": t.refresh_token})
        )
        .await
        .0,
        204
    );
    assert_eq!(
        d.post(
            "",
            "/api/auth/refresh",
            json!({"refresh_token": t.refresh_token})
        )
        .await
        .0,
        401
    );
}

fn claims(tenant: &str, sub: &str, exp_offset: i64) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        iss: ISSUER.into(),
        sub: sub.into(),
        tenant: tenant.into(),
        role: Role::Receptionist,
        name: "X".into(),
        iat: now - 10,
        exp: now + exp_offset,
        jti: "t".into(),
        login: None,
    }
}

#[tokio::test]
async fn bad_tokens_are_refused_at_connect_with_a_reason() {
    let d = demo_server(|_| {}).await;
    let keys = TokenKeys::new(&d.server.state.config.secret);
    let forger = TokenKeys::new(&[9u8; 32]);
    let me = d.clinic.reception.clone();
    let url = d.server.url();

    let expired = keys.sign(&claims("demo", &me, -5)).unwrap();
    let forged = forger.sign(&claims("demo", &me, 600)).unwrap();
    // Validly signed, but claims a tenant the user is not in.
    let other_tenant = keys.sign(&claims("other", &me, 600)).unwrap();
    let good = d.login("reception").await.access_token;

    let cases = [
        (json!({"token": expired}), "expired"),
        (json!({"token": forged}), "signature"),
        (json!({"token": other_tenant}), "no such user"),
        (json!({"token": good, "tenant": "other"}), "another tenant"),
        (json!({"token": "not.a.jwt"}), "invalid"),
        (json!({}), "missing auth token"),
    ];
    for (auth, reason) in cases {
        let err = SioClient::connect(&url, auth.clone())
            .await
            .err()
            .unwrap_or_else(|| panic!("{auth} accepted"));
        assert!(err.contains(reason), "{auth}: {err}");
    }
    // REST refuses them the same way.
    let (s, p) = d.get(&expired, "/api/snapshot").await;
    assert_eq!((s, p["type"].as_str()), (401, Some("unauthorized")));
    assert!(p["detail"].as_str().unwrap().contains("expired"));
    assert_eq!(d.get(&forged, "/api/snapshot").await.0, 401);
    assert_eq!(d.get("", "/api/snapshot").await.0, 401);
    // And the good token connects.
    SioClient::connect(&url, json!({"token": good, "tenant": "demo"}))
        .await
        .unwrap();
}

#[tokio::test]
async fn short_lived_access_token_expires_and_refresh_restores_access() {
    // The server's clock is the test's: the token's 15 minutes pass at once.
    let clock = std::sync::Arc::new(clinic_server::clock::ManualClock::new(chrono::Utc::now()));
    let server_clock = clock.clone();
    let d = demo_server(|c| c.clock = server_clock).await;
    let t = d.login("reception").await;
    assert_eq!(d.get(&t.access_token, "/api/snapshot").await.0, 200);
    clock.advance(std::time::Duration::from_secs(14 * 60 + 59));
    assert_eq!(d.get(&t.access_token, "/api/snapshot").await.0, 200);
    clock.advance(std::time::Duration::from_secs(1));
    let (s, p) = d.get(&t.access_token, "/api/snapshot").await;
    assert_eq!(s, 401, "{p}");
    let (s, fresh) = d
        .post(
            "",
            "/api/auth/refresh",
            json!({"refresh_token": t.refresh_token}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        d.get(fresh["access_token"].as_str().unwrap(), "/api/snapshot")
            .await
            .0,
        200
    );
}

/// Whether `socket` still gets the clinic's events: another desk's walk-in
/// must reach it.
async fn still_receives(d: &Demo, socket: &mut SioClient, name: &str) {
    let by = d.login("admin").await.access_token;
    let (s, _) = d
        .post(
            &by,
            "/api/queue",
            json!({"provider_id": d.clinic.providers[0], "patient": {"name": name}}),
        )
        .await;
    assert_eq!(s, 201);
    let ev = socket
        .expect_where("queue.updated", |e| e["data"]["patient"]["name"] == name)
        .await;
    assert_eq!(ev["data"]["patient"]["name"], name);
}

#[tokio::test]
async fn a_socket_closes_with_its_login_signed_out_or_revoked_and_its_token_expired() {
    let d = demo_server(|c| c.access_ttl = std::time::Duration::from_secs(3)).await;
    // Sign-out closes that login's sockets at once, and only that login's.
    let (a, b) = (d.login("reception").await, d.login("reception").await);
    let mut on_a = d.socket(&a.access_token).await;
    let mut on_b = d.socket(&b.access_token).await;
    let s = d
        .http
        .post(d.url("/api/auth/logout"))
        .json(&json!({"refresh_token": a.refresh_token}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(s, 204);
    assert!(on_a.closed_by_server().await, "signed out: closed");
    still_receives(&d, &mut on_b, "Other Login").await;
    // Its access token, not yet expired, no longer opens a socket.
    let refused = SioClient::connect(&d.server.url(), json!({"token": a.access_token})).await;
    assert!(
        refused.is_err_and(|e| e.contains("revoked")),
        "a revoked login cannot reconnect"
    );

    // A reused refresh token revokes the login, and its sockets close.
    let first = d
        .http
        .post(d.url("/api/auth/refresh"))
        .json(&json!({"refresh_token": b.refresh_token}))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let reuse = d
        .http
        .post(d.url("/api/auth/refresh"))
        .json(&json!({"refresh_token": b.refresh_token}))
        .send()
        .await
        .unwrap();
    assert_eq!(reuse.status(), 401);
    assert!(on_b.closed_by_server().await, "revoked by reuse: closed");

    // A token that expires closes its socket, unless a fresher one is shown.
    let c = d.login("reception").await;
    let mut quiet = d.socket(&c.access_token).await;
    let e = d.login("reception").await;
    let mut renewing = d.socket(&e.access_token).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let fresh: serde_json::Value = d
        .http
        .post(d.url("/api/auth/refresh"))
        .json(&json!({"refresh_token": e.refresh_token}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ack = renewing
        .emit_ack("reauth", json!({"token": fresh["access_token"]}))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    // Someone else's token, or garbage, is refused and changes nothing.
    let someone_else = d.login("admin").await.access_token;
    let wrong = renewing
        .emit_ack("reauth", json!({"token": someone_else}))
        .await;
    assert_eq!(wrong["ok"], false, "{wrong}");
    assert_eq!(
        renewing.emit_ack("reauth", json!({"token": "x"})).await["ok"],
        false
    );
    assert!(
        quiet.closed_by_server().await,
        "expired without reauth: closed"
    );
    still_receives(&d, &mut renewing, "Renewed Socket").await;
    assert!(
        renewing.closed_by_server().await,
        "and closed when the renewed token runs out"
    );
}

#[tokio::test]
async fn refreshes_are_rate_limited_per_address() {
    let d = demo_server(|c| {
        c.refresh_burst = 10;
        c.refreshes_per_second = 1;
    })
    .await;
    let refresh_from = |ip: &'static str| {
        let d = &d;
        async move {
            let client = reqwest::Client::builder()
                .local_address(ip.parse::<std::net::IpAddr>().unwrap())
                .build()
                .unwrap();
            client
                .post(d.url("/api/auth/refresh"))
                .json(&json!({"refresh_token": "not-a-token"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let mut answers = Vec::new();
    for _ in 0..15 {
        answers.push(refresh_from("127.0.0.4").await);
    }
    let count = |status| answers.iter().filter(|s| **s == status).count();
    assert_eq!((count(401), count(429)), (10, 5), "{answers:?}");
    assert_eq!(
        refresh_from("127.0.0.5").await,
        401,
        "another address is not held back"
    );
}

/// Signs `username` in with `password`; the status and body.
async fn sign_in(d: &Demo, username: &str, password: &str) -> (u16, serde_json::Value) {
    d.post(
        "",
        "/api/auth/login",
        json!({"tenant": "demo", "username": username, "password": password}),
    )
    .await
}

#[tokio::test]
async fn an_admin_adds_and_deactivates_staff_and_a_deactivated_account_is_out_at_once() {
    let d = demo_server(|_| {}).await;
    let admin = d.login("admin").await;
    let reception = d.login("reception").await.access_token;
    // Only an admin manages accounts.
    let new = json!({"username": "temp.desk", "name": "Tempo Rary", "role": "receptionist", "password": "long enough pw"});
    assert_eq!(
        d.post(&reception, "/api/admin/users", new.clone()).await.0,
        403
    );
    let (s, made) = d
        .post(&admin.access_token, "/api/admin/users", new.clone())
        .await;
    assert_eq!((s, made["active"].as_bool()), (201, Some(true)), "{made}");
    assert_eq!(
        d.post(&admin.access_token, "/api/admin/users", new.clone())
            .await
            .0,
        400,
        "taken"
    );
    let mut weak = new.clone();
    weak["username"] = json!("weak");
    weak["password"] = json!("short");
    assert_eq!(
        d.post(&admin.access_token, "/api/admin/users", weak)
            .await
            .0,
        400
    );
    // The new account works: signs in, opens a socket.
    let (s, temp) = sign_in(&d, "temp.desk", "long enough pw").await;
    assert_eq!(s, 200, "{temp}");
    let mut socket = d.socket(temp["access_token"].as_str().unwrap()).await;
    let (_, list) = d.get(&admin.access_token, "/api/admin/users").await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|a| a["username"] == "temp.desk")
    );
    // Deactivated: the socket closes at once, nothing signs in or refreshes.
    let id = made["id"].as_str().unwrap();
    let (s, off) = d
        .patch(
            &admin.access_token,
            &format!("/api/admin/users/{id}"),
            json!({"active": false}),
        )
        .await;
    assert_eq!((s, off["active"].as_bool()), (200, Some(false)), "{off}");
    assert!(
        socket.closed_by_server().await,
        "the deactivated account's socket stays open"
    );
    assert_eq!(sign_in(&d, "temp.desk", "long enough pw").await.0, 401);
    let refresh = d
        .http
        .post(d.url("/api/auth/refresh"))
        .json(&json!({"refresh_token": temp["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(refresh.status(), 401);
    assert!(
        SioClient::connect(&d.server.url(), json!({"token": temp["access_token"]}))
            .await
            .is_err()
    );
    // Not the admin's own account; and gone from the staff the desks see.
    let me = admin.user.id.clone();
    assert_eq!(
        d.patch(
            &admin.access_token,
            &format!("/api/admin/users/{me}"),
            json!({"active": false})
        )
        .await
        .0,
        400
    );
    let snap = d.snapshot(&reception).await;
    assert!(
        !snap["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["username"] == "temp.desk")
    );
}

#[tokio::test]
async fn passwords_are_reset_by_an_admin_or_changed_with_the_old_one_and_old_sessions_end() {
    let d = demo_server(|_| {}).await;
    let admin = d.login("admin").await.access_token;
    let doctor = d.login("doctor").await;
    let mut doctor_socket = d.socket(&doctor.access_token).await;
    let id = doctor.user.id.clone();
    let (s, _) = d
        .send(
            "PUT",
            &admin,
            &format!("/api/admin/users/{id}/password"),
            json!({"password": "a brand new one"}),
            None,
        )
        .await;
    assert_eq!(s, 204);
    assert!(
        doctor_socket.closed_by_server().await,
        "a reset ends the old sessions"
    );
    assert_eq!(sign_in(&d, "doctor", "demo").await.0, 401);
    let (s, fresh) = sign_in(&d, "doctor", "a brand new one").await;
    assert_eq!(s, 200);
    let token = fresh["access_token"].as_str().unwrap().to_owned();
    // The doctor changes it, giving the old one; another session of theirs ends, this one goes on.
    let (_, elsewhere) = sign_in(&d, "doctor", "a brand new one").await;
    let mut other_socket = d.socket(elsewhere["access_token"].as_str().unwrap()).await;
    let mut this_socket = d.socket(&token).await;
    let wrong = json!({"old_password": "not it at all", "new_password": "mine and only mine"});
    assert_eq!(d.post(&token, "/api/auth/password", wrong).await.0, 401);
    let right = json!({"old_password": "a brand new one", "new_password": "mine and only mine"});
    assert_eq!(d.post(&token, "/api/auth/password", right).await.0, 204);
    assert!(
        other_socket.closed_by_server().await,
        "the other session ended"
    );
    let ack = this_socket
        .emit_ack("presence", json!({"state": "online"}))
        .await;
    assert_eq!(ack["ok"], true, "this session goes on");
    assert_eq!(sign_in(&d, "doctor", "mine and only mine").await.0, 200);
}

#[tokio::test]
async fn an_admin_changes_the_clinics_lock_time_and_window_and_desks_are_told() {
    let d = demo_server(|_| {}).await;
    let admin = d.login("admin").await.access_token;
    let reception = d.login("reception").await.access_token;
    let (s, now) = d.get(&admin, "/api/admin/clinic").await;
    assert_eq!(
        (s, now["lock_after_seconds"].as_u64()),
        (200, Some(300)),
        "{now}"
    );
    assert_eq!(d.get(&reception, "/api/admin/clinic").await.0, 403);
    assert_eq!(
        d.patch(
            &reception,
            "/api/admin/clinic",
            json!({"lock_after_seconds": 120})
        )
        .await
        .0,
        403
    );
    for bad in [
        json!({"lock_after_seconds": 5}),
        json!({"lock_after_seconds": 86_400}),
        json!({"window_days_ahead": 0}),
        json!({"window_days_back": 400}),
        json!({"name": "  "}),
        json!({"name": "Clinic\u{202e}"}),
    ] {
        let (s, body) = d.patch(&admin, "/api/admin/clinic", bad.clone()).await;
        assert_eq!(s, 400, "{bad} → {body}");
    }
    let mut socket = d.socket(&reception).await;
    let (s, changed) = d
        .patch(
            &admin,
            "/api/admin/clinic",
            json!({"lock_after_seconds": 120, "window_days_ahead": 14}),
        )
        .await;
    assert_eq!(s, 200, "{changed}");
    assert_eq!(
        (
            changed["lock_after_seconds"].as_u64(),
            changed["window_days_ahead"].as_u64(),
            changed["window_days_back"].as_u64()
        ),
        (Some(120), Some(14), Some(7)),
        "what is left out stays"
    );
    let ev = socket.expect("clinic.updated").await;
    assert_eq!(ev["data"]["lock_after_seconds"], 120, "{ev}");
    let (_, snap) = d.get(&reception, "/api/snapshot").await;
    assert_eq!(snap["tenant"]["window_days_ahead"], 14);
    // Asking for what already holds changes nothing and announces nothing.
    let (s, _) = d
        .patch(
            &admin,
            "/api/admin/clinic",
            json!({"lock_after_seconds": 120}),
        )
        .await;
    assert_eq!(s, 200);
    assert!(
        socket
            .next_within(std::time::Duration::from_millis(300))
            .await
            .is_none(),
        "no event for a change that changes nothing"
    );
}

#[tokio::test]
async fn a_new_doctor_account_is_linked_to_the_provider_they_work_as() {
    let d = demo_server(|_| {}).await;
    let admin = d.login("admin").await.access_token;
    let (_, snap) = d.get(&admin, "/api/snapshot").await;
    let taken = snap["providers"][0]["id"].as_str().unwrap().to_owned();
    // A provider no account works as yet (a locum's diary).
    let free = d
        .server
        .state
        .db
        .write_now(|c| {
            clinic_server::store::directory::create_provider(
                c,
                "demo",
                &clinic_server::store::directory::NewProvider {
                    name: "Dr. Locum",
                    user_id: None,
                    ticket_prefix: "L",
                    default_room_id: None,
                    weekly: &[],
                },
            )
        })
        .unwrap()
        .id;
    let free = free.as_str();
    let new = |provider: &str, username: &str| json!({"username": username, "name": "Dr. Locum", "role": "doctor", "password": "long enough pw", "provider_id": provider});
    let (s, body) = d
        .post(&admin, "/api/admin/users", new(&taken, "locum1"))
        .await;
    assert_eq!(s, 400, "a provider another account works as: {body}");
    let (s, _) = d
        .post(&admin, "/api/admin/users", new("prov_nowhere", "locum1"))
        .await;
    assert_eq!(s, 404);
    let (_, list) = d.get(&admin, "/api/admin/users").await;
    assert!(
        !list
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["username"] == "locum1"),
        "a refused link adds no account"
    );
    let (s, made) = d
        .post(&admin, "/api/admin/users", new(free, "locum1"))
        .await;
    assert_eq!(
        (s, made["provider_id"].as_str()),
        (201, Some(free)),
        "{made}"
    );
    let (_, list) = d.get(&admin, "/api/admin/users").await;
    let doctor = list
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["username"] == "doctor")
        .unwrap();
    assert_eq!(doctor["provider_id"], taken, "existing links are listed");
    // The new doctor's desk knows which provider is theirs.
    let (s, t) = sign_in(&d, "locum1", "long enough pw").await;
    assert_eq!(s, 200);
    let (st, snap) = d
        .get(t["access_token"].as_str().unwrap(), "/api/snapshot")
        .await;
    assert_eq!(st, 200, "{snap}");
    let mine = snap["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == free)
        .unwrap();
    assert_eq!(mine["user_id"], made["id"]);
}
