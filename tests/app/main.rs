//! The real desktop app, end to end: the `frontdesk` binary under Xvfb, on
//! its own D-Bus session with dunst and an unlocked gnome-keyring, driven
//! through tauri-driver and WebKitWebDriver against the real clinic server on
//! loopback. Each test saves screenshots to `target/e2e-screenshots`.

use fantoccini::Locator;
use frontdesk_e2e::desktop::Desktop;
use frontdesk_e2e::{Client, Clinic, Desk};
use frontdesk_engine::supervisor::ConnState;
use serde_json::{Value, json};

/// Ids of the appointments the server holds for today (UTC; the app runs with TZ=UTC).
async fn todays_appointments(desk: &Desk) -> Vec<Value> {
    let today = chrono::Utc::now().date_naive().to_string();
    let snap = desk.get("/api/snapshot").await;
    snap["appointments"]
        .as_array()
        .expect("the snapshot lists appointments")
        .iter()
        .filter(|a| a["start"].as_str().is_some_and(|s| s.starts_with(&today)))
        .cloned()
        .collect()
}

#[tokio::test]
async fn signs_in_shows_the_schedule_and_follows_other_desks() {
    let clinic = Clinic::start(|_| {}).await;
    let admin = Desk::login(&clinic.url(), "admin").await;
    let want = todays_appointments(&admin).await.len();
    assert!(want > 0, "the demo clinic has appointments today");

    let app = Desktop::start(&[]).await;
    app.sign_in(&clinic.url(), "reception").await;
    app.wait_texts("[data-testid=appointment]", "today's schedule", |rows| {
        rows.len() == want
    })
    .await;
    app.wait_texts("[data-testid=provider] h2", "both providers", |h| {
        h.len() == 2
    })
    .await;
    app.screenshot("desk").await;

    // Another desk adds a walk-in; it shows up in this app's queue.
    let (status, _) = admin
        .post(
            "/api/queue",
            json!({"provider_id": clinic.clinic.providers[0], "patient": {"name": "Zora Otherdesk"}}),
        )
        .await;
    assert_eq!(status, 201);
    app.wait_texts("[data-testid=ticket]", "the other desk's walk-in", |t| {
        t.iter().any(|s| s.contains("Zora Otherdesk"))
    })
    .await;
    app.close().await;
}

#[tokio::test]
async fn a_check_in_made_while_the_server_is_down_lands_when_it_returns() {
    let mut clinic = Clinic::start(|_| {}).await;
    let app = Desktop::start(&[]).await;
    app.sign_in(&clinic.url(), "reception").await;
    let button = app
        .find("[data-testid=appointment] [data-testid=check-in]")
        .await;
    let row = app
        .web
        .find(Locator::Css(
            "[data-testid=appointment]:has([data-testid=check-in])",
        ))
        .await
        .expect("a row with a check-in button");
    let id = row
        .attr("data-id")
        .await
        .unwrap()
        .expect("rows carry their appointment id");

    clinic.stop().await;
    app.wait_texts("[data-testid=connection]", "the offline badge", |t| {
        t.iter().any(|s| s.contains("Offline"))
    })
    .await;
    button.click().await.unwrap();
    let pending = format!("[data-testid=appointment][data-id=\"{id}\"].pending");
    app.find(&pending).await;
    app.wait_texts("[data-testid=connection]", "one pending action", |t| {
        t.iter().any(|s| s.contains("1 pending"))
    })
    .await;
    app.screenshot("offline").await;

    clinic.restart().await;
    app.wait_texts("[data-testid=connection]", "Live again", |t| {
        t.iter().any(|s| s.contains("Live"))
    })
    .await;
    app.wait_texts(&pending, "the pending mark gone", |t| t.is_empty())
        .await;
    let admin = Desk::login(&clinic.url(), "admin").await;
    let after = todays_appointments(&admin).await;
    let ours = after
        .iter()
        .find(|a| a["id"] == id.as_str())
        .expect("the appointment is still there");
    assert_eq!(ours["status"], "arrived", "the server applied the check-in");
    app.close().await;
}

#[tokio::test]
async fn a_new_message_raises_an_os_notification() {
    let clinic = Clinic::start(|_| {}).await;
    let app = Desktop::start(&[]).await;
    app.sign_in(&clinic.url(), "reception").await;

    let doctor = Desk::login(&clinic.url(), "doctor").await;
    let thread = &clinic.clinic.threads[0];
    let body = "Room 2 is free, send the next one in";
    let (status, _) = doctor
        .post(
            &format!("/api/threads/{thread}/messages"),
            json!({"client_id": "e2e-note-1", "body": body}),
        )
        .await;
    assert_eq!(status, 201);
    let shown = app.wait_notification(body).await;
    assert_eq!(shown["appname"]["data"], "Frontdesk", "{shown}");
    app.wait_texts(
        "[data-testid=messages] [data-testid=unread]",
        "an unread badge",
        |t| !t.is_empty(),
    )
    .await;
    // Opening the thread shows the message.
    app.open_thread("Dr. Morales").await;
    app.wait_texts(
        "[data-testid=messages] li",
        "the message in its thread",
        |t| t.iter().any(|s| s.contains(body)),
    )
    .await;
    app.screenshot("messages").await;
    app.close().await;
}

#[tokio::test]
async fn a_burst_of_messages_in_one_thread_is_one_notification_on_screen() {
    let clinic = Clinic::start(|_| {}).await;
    let app = Desktop::start(&[]).await;
    app.sign_in(&clinic.url(), "reception").await;
    let doctor = Desk::login(&clinic.url(), "doctor").await;
    let thread = &clinic.clinic.threads[0];
    doctor
        .post_messages(thread, 8, |i| format!("Burst message {i}"))
        .await;
    // All eight reached the desk (before anything on screen is touched):
    // the demo's one unread message in this thread and these…
    app.wait_texts(
        "[data-testid=messages] [data-testid=unread]",
        "nine unread",
        |t| t.iter().any(|s| s.trim() == "9"),
    )
    .await;
    // …and the last one replaced the others on screen: dunst shows (or
    // queues) exactly one notification. Its latest count may wait up to a
    // second for its turn (a burst replaces it at most once a second).
    tokio::time::sleep(
        frontdesk_engine::notify::GROUP_PACE + std::time::Duration::from_millis(700),
    )
    .await;
    let on_screen: u32 = ["displayed", "waiting"]
        .iter()
        .map(|k| {
            app.dunstctl(&["count", k])
                .trim()
                .parse::<u32>()
                .unwrap_or(0)
        })
        .sum();
    assert!(on_screen <= 1, "{on_screen} notifications on screen");
    // Every notification of the burst was that one, replaced in place (one
    // id in dunst's history once it is closed), ending on the whole count.
    let latest = app.wait_notification("Burst message 7").await;
    assert!(
        latest["summary"]["data"]
            .as_str()
            .is_some_and(|t| t.ends_with(": 8 new messages")),
        "{latest}"
    );
    let history: serde_json::Value = serde_json::from_str(&app.dunstctl(&["history"])).unwrap();
    let mut ids: Vec<i64> = history["data"][0]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| {
            n["body"]["data"]
                .as_str()
                .is_some_and(|b| b.contains("Burst message"))
        })
        .filter_map(|n| n["id"]["data"].as_i64())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len(),
        1,
        "one notification, replaced in place: {history}"
    );
    app.close().await;
}

#[tokio::test]
async fn a_thread_is_read_back_beyond_what_the_desk_was_given() {
    let clinic = Clinic::start(|_| {}).await;
    let doctor = Desk::login(&clinic.url(), "doctor").await;
    let thread = &clinic.clinic.threads[0];
    doctor
        .post_messages(thread, 60, |i| format!("Back note {i:02}"))
        .await;
    let app = Desktop::start(&[]).await;
    app.sign_in(&clinic.url(), "reception").await;
    app.open_thread("Dr. Morales").await;
    app.wait_texts("[data-testid=messages] li", "the newest messages", |t| {
        t.iter().any(|s| s.contains("Back note 59"))
    })
    .await;
    let has = |texts: &[String], what: &str| texts.iter().any(|s| s.contains(what));
    // The desk was given the 50 newest: the first notes are not there yet…
    let shown = app.texts("[data-testid=messages] li").await;
    assert!(!has(&shown, "Back note 00"));
    // …until the user asks for earlier messages.
    app.find("[data-testid=earlier]")
        .await
        .click()
        .await
        .unwrap();
    app.wait_texts("[data-testid=messages] li", "the earlier messages", |t| {
        t.iter().any(|s| s.contains("Back note 00"))
    })
    .await;
    app.screenshot("earlier-messages").await;
    app.close().await;
}

#[tokio::test]
async fn the_date_bar_shows_another_day_of_the_window() {
    let clinic = Clinic::start(|_| {}).await;
    // Another desk books tomorrow at 10:00 (the app runs in UTC).
    let desk = Desk::login(&clinic.url(), "admin").await;
    let tomorrow = chrono::Utc::now().date_naive() + chrono::Duration::days(1);
    let start = tomorrow.and_hms_opt(10, 0, 0).unwrap().and_utc();
    let (s, b) = desk
        .post(
            "/api/appointments",
            json!({"patient": {"name": "Tomas Morrow"}, "provider_id": clinic.clinic.providers[0],
                   "start": start, "end": start + chrono::Duration::minutes(20), "reason": ""}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let app = Desktop::start(&[]).await;
    app.sign_in(&clinic.url(), "reception").await;
    app.wait_texts("[data-testid=day-label]", "today", |t| {
        t.iter().any(|s| s == "Today")
    })
    .await;
    app.find("[data-testid=next-day]")
        .await
        .click()
        .await
        .unwrap();
    app.wait_texts("[data-testid=day-label]", "tomorrow", |t| {
        t.iter().any(|s| s == "Tomorrow")
    })
    .await;
    app.wait_texts("[data-testid=appointment]", "tomorrow's booking", |t| {
        t.len() == 1 && t[0].contains("Tomas Morrow")
    })
    .await;
    app.screenshot("tomorrow").await;
    app.find("[data-testid=today]").await.click().await.unwrap();
    app.wait_texts("[data-testid=appointment]", "today's schedule again", |t| {
        t.len() == 24
    })
    .await;
    app.close().await;
}

#[tokio::test]
async fn the_display_shows_a_called_ticket_without_the_patients_name() {
    let mut clinic = Clinic::start(|_| {}).await;
    let app = Desktop::start(&["--display"]).await;

    // Set up once by an admin, on the screen itself.
    app.switch_to_view("display-setup").await;
    app.fill("server", &clinic.url()).await;
    app.fill("tenant", "demo").await;
    app.fill("name", "Lobby").await;
    app.fill("username", "admin").await;
    app.fill("password", "demo").await;
    app.screenshot("display-setup").await;
    app.find("[data-testid=display-setup] button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    app.find("[data-testid=display]").await;

    let admin = Desk::login(&clinic.url(), "admin").await;
    let name = "Quentin Privatename";
    let (status, _) = admin
        .post(
            "/api/queue",
            json!({"provider_id": clinic.clinic.providers[1], "patient": {"name": name}, "priority": 9}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, called) = admin
        .post(
            "/api/queue/call-next",
            json!({"provider_id": clinic.clinic.providers[1], "room_id": clinic.clinic.rooms[1]}),
        )
        .await;
    assert_eq!(status, 200, "{called}");
    assert_eq!(
        called["patient"]["name"], name,
        "the emergency is called first"
    );
    let ticket = called["ticket"].as_str().unwrap().to_owned();
    app.wait_texts("[data-testid=now-serving]", "the called ticket", |t| {
        t.iter().any(|s| s.contains(&ticket))
    })
    .await;
    let html = app.web.source().await.unwrap();
    assert!(
        !html.contains("Quentin") && !html.contains("Privatename"),
        "the display must not show the patient's name"
    );
    app.screenshot("display").await;

    // The server goes away: the board stays up, marked stale; it recovers alone.
    clinic.stop().await;
    app.find("[data-testid=stale]").await;
    app.wait_texts("[data-testid=now-serving]", "the board kept up", |t| {
        t.iter().any(|s| s.contains(&ticket))
    })
    .await;
    app.screenshot("display-stale").await;
    clinic.restart().await;
    app.wait_texts("[data-testid=stale]", "the stale badge gone", |t| {
        t.is_empty()
    })
    .await;
    app.close().await;
}

#[tokio::test]
async fn reschedules_an_appointment_and_sends_a_walk_in_to_a_room() {
    let clinic = Clinic::start(|_| {}).await;
    let admin = Desk::login(&clinic.url(), "admin").await;
    let app = Desktop::start(&[]).await;
    app.sign_in(&clinic.url(), "reception").await;

    // Select a bookable appointment; its record offers "Reschedule".
    let row = app
        .find("[data-testid=appointment]:has([data-testid=check-in])")
        .await;
    let id = row.attr("data-id").await.unwrap().expect("row id");
    row.find(Locator::Css("time"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    app.find("[data-testid=record] [data-testid=reschedule]")
        .await
        .click()
        .await
        .unwrap();
    // Moving needs a slot chosen; then the slot picker moves it to another day.
    app.find("[data-testid=reschedule-form] [data-testid=move]")
        .await
        .click()
        .await
        .unwrap();
    app.wait_texts(".error", "a move without a slot refused", |t| {
        t.iter().any(|s| s.contains("Choose the new slot"))
    })
    .await;
    // To tomorrow, with the other provider, through the same slot picker.
    let today = chrono::Utc::now().date_naive();
    let was = appointment_on(&admin, today, &id)
        .await
        .expect("the appointment is today")["provider_id"]
        .clone();
    let other = clinic
        .clinic
        .providers
        .iter()
        .find(|p| json!(p) != was)
        .unwrap()
        .clone();
    let tomorrow = today + chrono::Duration::days(1);
    set_input(
        &app,
        "[data-testid=reschedule-form] [data-testid=picker-day]",
        &tomorrow.to_string(),
    )
    .await;
    set_input(
        &app,
        "[data-testid=reschedule-form] [data-testid=picker-provider]",
        &other,
    )
    .await;
    let slot = format!(
        "[data-testid=reschedule-form] [data-testid=free-slot][data-provider=\"{other}\"][data-start^=\"{tomorrow}T\"]"
    );
    let start = choose_slot(&app, &slot).await;
    app.wait_texts(
        "[data-testid=move-provider]",
        "the move names the new provider",
        |t| t.iter().any(|s| s.starts_with("With ")),
    )
    .await;
    app.screenshot("reschedule").await;
    app.find("[data-testid=reschedule-form] [data-testid=move]")
        .await
        .click()
        .await
        .unwrap();
    // It leaves today's schedule, and the server has it tomorrow, with them.
    let gone = format!("[data-testid=appointment][data-id=\"{id}\"]");
    app.wait_texts(&gone, "the appointment moved off today", |t| t.is_empty())
        .await;
    let ours = appointment_on(&admin, tomorrow, &id)
        .await
        .expect("the appointment is tomorrow now");
    let moved_to: chrono::DateTime<chrono::Utc> = ours["start"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        moved_to,
        start.parse::<chrono::DateTime<chrono::Utc>>().unwrap(),
        "{ours}"
    );
    assert_eq!(
        ours["provider_id"],
        json!(other),
        "the server moved it to them: {ours}"
    );

    // A walk-in is sent to Room 3 from its ticket: called there.
    let (status, walk_in) = admin
        .post(
            "/api/queue",
            json!({"provider_id": clinic.clinic.providers[0], "patient": {"name": "Wanda Roomward"}}),
        )
        .await;
    assert_eq!(status, 201);
    let ticket = walk_in["entry"]["id"].as_str().unwrap().to_owned();
    let select = app
        .find(&format!(
            "[data-testid=ticket][data-id=\"{ticket}\"] [data-testid=send-to-room]"
        ))
        .await;
    select
        .select_by_value(&clinic.clinic.rooms[2])
        .await
        .unwrap();
    let row = format!("[data-testid=ticket][data-id=\"{ticket}\"] .chip");
    app.wait_texts(&row, "the ticket called", |t| {
        t.iter().any(|s| s.contains("called"))
    })
    .await;
    let snap = admin.get("/api/snapshot").await;
    let entry = snap["queue"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["id"] == ticket.as_str())
        .expect("the ticket");
    assert_eq!(entry["status"], "called");
    assert_eq!(entry["room_id"], clinic.clinic.rooms[2].as_str());
    app.close().await;
}

#[tokio::test]
async fn a_doctor_sees_their_own_queue_their_patients_and_who_is_around() {
    let clinic = Clinic::start(|_| {}).await;
    let mut reception = Client::sign_in(&clinic.url(), "reception").await;
    reception.wait_state(ConnState::Live).await;
    let app = Desktop::start(&[]).await;
    app.sign_in(&clinic.url(), "doctor").await;

    // Only Dr. Morales's own column, under "My queue".
    app.wait_texts(
        "[data-testid=provider] h2",
        "the doctor's own column",
        |h| h == ["Dr. Elena Morales"],
    )
    .await;
    app.wait_texts(
        "[data-testid=staff][data-state=online]",
        "the receptionist online",
        |t| t.iter().any(|s| s.contains("Rosa Delgado")),
    )
    .await;
    reception.handle.set_dnd(true).unwrap();
    app.wait_texts(
        "[data-testid=staff][data-state=dnd]",
        "the receptionist on do-not-disturb",
        |t| t.iter().any(|s| s.contains("Rosa Delgado")),
    )
    .await;

    // The desk adds a walk-in for this doctor: it shows among "my patients waiting".
    let desk = Desk::login(&clinic.url(), "reception").await;
    let (status, _) = desk
        .post(
            "/api/queue",
            json!({"provider_id": clinic.clinic.providers[0], "patient": {"name": "Walter Firstcome"}, "priority": 9}),
        )
        .await;
    assert_eq!(status, 201);
    app.wait_texts("[data-testid=arrivals] p", "the new arrival", |t| {
        t.first().is_some_and(|s| s.contains("Walter Firstcome"))
    })
    .await;
    app.screenshot("doctor").await;

    app.find("[data-testid=call-next]")
        .await
        .click()
        .await
        .unwrap();
    app.wait_texts("[data-testid=ticket]", "the emergency called", |t| {
        t.iter()
            .any(|s| s.contains("Walter Firstcome") && s.contains("called"))
    })
    .await;

    // "My week": seven days of their own appointments, no one else's to pick.
    let toggle = app.find("[data-testid=week-toggle]").await;
    assert_eq!(toggle.text().await.unwrap(), "My week");
    toggle.click().await.unwrap();
    app.wait_texts("[data-testid=week-day] h3", "seven days of the week", |t| {
        t.len() == 7
    })
    .await;
    app.wait_texts(
        "[data-testid=week-provider] option",
        "only the doctor's own provider",
        |t| t == ["Dr. Elena Morales"],
    )
    .await;
    app.wait_texts(
        "[data-testid=week-appointment]",
        "their appointments",
        |t| !t.is_empty(),
    )
    .await;
    app.close().await;
}

/// Clicks the free slot `css` finds in a slot picker; its start.
async fn choose_slot(app: &Desktop, css: &str) -> String {
    let button = app.find(css).await;
    let start = button
        .attr("data-start")
        .await
        .unwrap()
        .expect("a slot start");
    button.click().await.unwrap();
    start
}

/// Appointment `id` as the server has it on `day`, if it is on that day.
async fn appointment_on(desk: &Desk, day: chrono::NaiveDate, id: &str) -> Option<Value> {
    let page = desk
        .get(&format!("/api/appointments?from={day}&to={day}"))
        .await;
    page["appointments"]
        .as_array()?
        .iter()
        .find(|a| a["id"] == id)
        .cloned()
}

/// Opens the patient search (its button), types `query` and opens the first
/// result once `name` is among them.
async fn open_patient(app: &Desktop, query: &str, name: &str) {
    app.find("[data-testid=find-patient]")
        .await
        .click()
        .await
        .unwrap();
    app.fill("patient-query", query).await;
    app.wait_texts("[data-testid=patient-result]", "the patient found", |t| {
        t.iter().any(|s| s.contains(name))
    })
    .await;
    app.find("[data-testid=patient-result]")
        .await
        .click()
        .await
        .unwrap();
}

/// Puts `day` (`YYYY-MM-DD`) in the date bar's picker, as a user choosing it.
async fn pick_day(app: &Desktop, day: chrono::NaiveDate) {
    set_input(app, "[data-testid=day-picker]", &day.to_string()).await;
}

/// Sets an input (a date picker: WebDriver cannot type into one) as a
/// person choosing a value would, firing `input` and `change`.
async fn set_input(app: &Desktop, css: &str, value: &str) {
    app.find(css).await;
    app.web
        .execute(
            "const i = document.querySelector(arguments[0]);
             i.value = arguments[1];
             i.dispatchEvent(new Event('input', { bubbles: true }));
             i.dispatchEvent(new Event('change', { bubbles: true }));",
            vec![json!(css), json!(value)],
        )
        .await
        .expect("the input takes the value");
}

#[tokio::test]
async fn a_day_outside_the_window_follows_another_desk_and_says_as_of_offline() {
    let mut clinic = Clinic::start(|_| {}).await;
    let other = Desk::login(&clinic.url(), "admin").await;
    // Sixty days ahead: outside the sync window (30 days), so not in the snapshot
    // or the background fill; the app runs in UTC.
    let far = chrono::Utc::now().date_naive() + chrono::Duration::days(60);
    let at = |h: u32| far.and_hms_opt(h, 0, 0).unwrap().and_utc();
    let book = |name: &str, h: u32| {
        json!({"patient": {"name": name}, "provider_id": clinic.clinic.providers[0],
               "start": at(h), "end": at(h) + chrono::Duration::minutes(20), "reason": ""})
    };
    let (s, a) = other.post("/api/appointments", book("Fara Away", 10)).await;
    assert_eq!(s, 201, "{a}");

    let app = Desktop::start(&[]).await;
    app.sign_in(&clinic.url(), "reception").await;
    app.wait_texts("[data-testid=day-label]", "today", |t| {
        t.iter().any(|s| s == "Today")
    })
    .await;
    pick_day(&app, far).await;
    app.wait_texts("[data-testid=appointment]", "the far day, fetched", |t| {
        t.len() == 1 && t[0].contains("Fara Away")
    })
    .await;

    // Another desk moves it and books another on that day: shown live.
    let id = a["id"].as_str().unwrap();
    let (s, b) = other
        .patch(
            &format!("/api/appointments/{id}"),
            json!({"version": a["version"], "start": at(15), "end": at(15) + chrono::Duration::minutes(20)}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = other.post("/api/appointments", book("Gus Later", 16)).await;
    assert_eq!(s, 201, "{b}");
    app.wait_texts(
        "[data-testid=appointment]",
        "the other desk's changes",
        |t| {
            // 15:00, in whichever clock the locale uses.
            t.len() == 2
                && t[0].contains("Fara Away")
                && (t[0].contains("15:00") || t[0].contains("03:00"))
                && t[1].contains("Gus Later")
        },
    )
    .await;
    assert!(
        app.texts("[data-testid=day-notice]").await.is_empty(),
        "live: nothing to warn about"
    );
    app.screenshot("far-day-live").await;

    // Offline the day stays, as of its fetch; a day never fetched is not there.
    clinic.stop().await;
    app.wait_texts("[data-testid=day-notice]", "as of its fetch", |t| {
        t.iter().any(|s| s.contains("as of"))
    })
    .await;
    assert_eq!(app.texts("[data-testid=appointment]").await.len(), 2);
    app.screenshot("far-day-offline").await;
    pick_day(&app, far + chrono::Duration::days(1)).await;
    app.wait_texts("[data-testid=day-notice]", "not available offline", |t| {
        t.iter().any(|s| s.contains("not available offline"))
    })
    .await;
    assert!(app.texts("[data-testid=appointment]").await.is_empty());
    clinic.restart().await;
    app.close().await;
}

#[tokio::test]
async fn finds_a_patient_and_books_a_free_slot_on_another_day_that_another_desk_sees() {
    let clinic = Clinic::start(|_| {}).await;
    // Another desk: the real engine, signed in as the admin.
    let mut other = Client::sign_in(&clinic.url(), "admin").await;
    other.wait_state(ConnState::Live).await;
    let app = Desktop::start(&[]).await;
    app.sign_in(&clinic.url(), "reception").await;
    app.find("[data-testid=appointment]").await;

    // Find the patient by part of their name, accents aside, and open their record.
    open_patient(&app, "fernan", "Luis Fernández").await;
    app.wait_texts(
        "[data-testid=patient-card] h2",
        "the patient's record",
        |t| t.iter().any(|s| s.contains("Luis Fernández")),
    )
    .await;
    app.screenshot("patient-record").await;
    app.find("[data-testid=book-for-patient]")
        .await
        .click()
        .await
        .unwrap();

    // Book three days ahead, into a free slot the picker offers.
    let day = chrono::Utc::now().date_naive() + chrono::Duration::days(3);
    set_input(
        &app,
        "[data-testid=book-form] [data-testid=picker-day]",
        &day.to_string(),
    )
    .await;
    let slot =
        format!("[data-testid=book-form] [data-testid=free-slot][data-start^=\"{day}T10:00\"]");
    let start = choose_slot(&app, &slot).await;
    app.fill("book-reason", "Knee pain").await;
    app.screenshot("book").await;
    app.find("[data-testid=book-submit]")
        .await
        .click()
        .await
        .unwrap();
    app.wait_texts("[data-testid=book-form]", "the booking form closed", |t| {
        t.is_empty()
    })
    .await;

    // The other desk's cache has it, for that patient at that time.
    let start: chrono::DateTime<chrono::Utc> = start.parse().unwrap();
    other
        .wait_cache("the booking reached the other desk", |c| {
            c.list::<frontdesk_protocol::records::Appointment>(
                frontdesk_engine::cache::Kind::Appointment,
            )
            .unwrap()
            .iter()
            .any(|a| {
                a.start == start && a.patient.name == "Luis Fernández" && a.reason == "Knee pain"
            })
        })
        .await;
    // And the date bar shows it on that day, with the slot no longer free.
    pick_day(&app, day).await;
    app.wait_texts(
        "[data-testid=appointment] .name",
        "the booking on its day",
        |t| t.iter().any(|s| s.contains("Luis Fernández")),
    )
    .await;
    app.wait_texts(
        "[data-testid=free-time] time",
        "the free time resuming after the booking",
        |t| t.iter().any(|s| s.starts_with("10:20")),
    )
    .await;
    app.screenshot("booked-day").await;
    // The provider's week around that day shows it too.
    app.find("[data-testid=week-toggle]")
        .await
        .click()
        .await
        .unwrap();
    app.wait_texts("[data-testid=week-day] h3", "seven days of the week", |t| {
        t.len() == 7
    })
    .await;
    app.wait_texts(
        "[data-testid=week-appointment]",
        "the booking in the week",
        |t| t.iter().any(|s| s.contains("Luis Fernández")),
    )
    .await;
    app.screenshot("week").await;
    // Their record lists it among the upcoming appointments.
    open_patient(&app, "fernan", "Luis Fernández").await;
    app.wait_texts(
        "[data-testid=upcoming] li",
        "the booking among the upcoming",
        |t| t.iter().any(|s| s.contains("Knee pain")),
    )
    .await;
    app.close().await;
}

/// Surnames of the patients booked today (what a passer-by could read).
async fn todays_surnames(desk: &Desk) -> Vec<String> {
    let mut names: Vec<String> = todays_appointments(desk)
        .await
        .iter()
        .filter_map(|a| a["patient"]["name"].as_str())
        .filter_map(|n| n.split_whitespace().last().map(str::to_owned))
        .collect();
    names.sort();
    names.dedup();
    names
}

#[tokio::test]
async fn a_locked_desk_shows_no_patient_and_opens_with_the_password_while_the_server_is_down() {
    let mut clinic = Clinic::start(|_| {}).await;
    let admin = Desk::login(&clinic.url(), "admin").await;
    let surnames = todays_surnames(&admin).await;
    assert!(!surnames.is_empty());
    let app = Desktop::start(&[]).await;
    app.sign_in(&clinic.url(), "reception").await;
    app.wait_texts("[data-testid=appointment]", "today's schedule", |r| {
        !r.is_empty()
    })
    .await;
    // What the screen shows can be read back: today's patients are on it.
    let unlocked = app.screen_text("before-lock").await;
    let read: Vec<&String> = surnames
        .iter()
        .filter(|n| unlocked.contains(n.as_str()))
        .collect();
    assert!(
        !read.is_empty(),
        "OCR reads the desk's patients ({surnames:?}) in:\n{unlocked}"
    );

    // Alt+L, typed on the keyboard, locks it.
    let mut xdotool = app.command(std::path::Path::new("xdotool"));
    let pressed = xdotool.args(["key", "alt+l"]).status();
    if !pressed.is_ok_and(|s| s.success()) {
        app.find("[data-testid=lock]").await.click().await.unwrap();
    }
    app.find("[data-testid=lock-screen]").await;
    app.wait_texts("[data-testid=lock-who]", "who is signed in", |t| {
        t.iter()
            .any(|s| s.contains("Rosa") && s.contains("reception"))
    })
    .await;
    let locked = app.screen_text("locked").await;
    let source = app.web.source().await.unwrap();
    for name in &surnames {
        assert!(
            !locked.contains(name.as_str()),
            "{name} on the locked screen:\n{locked}"
        );
        assert!(
            !source.contains(name.as_str()),
            "{name} in the locked page's source"
        );
    }
    assert!(
        locked.contains("locked"),
        "the lock screen is what OCR read:\n{locked}"
    );

    // Another desk checks a patient in: nothing of it reaches the locked window.
    let (s, _) = admin
        .post(
            "/api/queue",
            json!({"provider_id": clinic.clinic.providers[0], "patient": {"name": "Quentin Lockwatch"}}),
        )
        .await;
    assert_eq!(s, 201);
    // A colleague's message naming a patient: the notification says only
    // that a message came.
    let doctor = Desk::login(&clinic.url(), "doctor").await;
    let thread = &clinic.clinic.threads[0];
    let (s, _) = doctor
        .post(
            &format!("/api/threads/{thread}/messages"),
            json!({"client_id": "e2e-locked-1", "body": "Quentin Lockwatch is here for his results"}),
        )
        .await;
    assert_eq!(s, 201);
    let shown = app.wait_notification("Frontdesk is locked").await;
    assert!(!shown.to_string().contains("Lockwatch"), "{shown}");
    let history = app.dunstctl(&["history"]);
    assert!(!history.contains("Lockwatch"), "{history}");
    assert!(!app.web.source().await.unwrap().contains("Lockwatch"));

    // The server goes down; a wrong password is refused, the right one opens it.
    clinic.stop().await;
    app.wait_texts("[data-testid=lock-connection]", "offline", |t| {
        t.iter().any(|s| s.contains("Offline"))
    })
    .await;
    app.fill("unlock-password", "not the password").await;
    app.find("[data-testid=lock-screen] button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    app.wait_texts("[data-testid=lock-screen] [role=alert]", "a refusal", |t| {
        t.iter().any(|s| s.contains("not the password"))
    })
    .await;
    app.fill("unlock-password", "demo").await;
    let started = std::time::Instant::now();
    app.find("[data-testid=lock-screen] button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    app.wait_texts("[data-testid=appointment]", "the desk again", |r| {
        r.iter()
            .any(|row| read.iter().any(|n| row.contains(n.as_str())))
    })
    .await;
    eprintln!("unlocked offline in {:?}", started.elapsed());
    app.wait_texts("[data-testid=connection]", "the offline badge", |t| {
        t.iter().any(|s| s.contains("Offline"))
    })
    .await;
    app.screenshot("unlocked-offline").await;

    // Back online, another staff member signs in from the lock screen.
    clinic.restart().await;
    app.wait_texts("[data-testid=connection]", "Live", |t| {
        t.iter().any(|s| s.contains("Live"))
    })
    .await;
    app.find("[data-testid=lock]").await.click().await.unwrap();
    app.find("[data-testid=switch-user]")
        .await
        .click()
        .await
        .unwrap();
    app.fill("server", &clinic.url()).await;
    app.fill("username", "doctor").await;
    app.fill("password", "demo").await;
    app.find("[data-testid=signin] button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    app.wait_texts("header", "the doctor signed in", |t| {
        t.iter().any(|s| s.contains("Dr."))
    })
    .await;
    app.screenshot("switched-user").await;
    app.close().await;
}

/// The status of a password sign-in as `username`.
async fn sign_in_status(base: &str, username: &str, password: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"tenant": "demo", "username": username, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn an_admin_manages_staff_boards_and_the_clinic_and_reads_a_patients_access_report() {
    let clinic = Clinic::start(|_| {}).await;
    let admin = Desk::login(&clinic.url(), "admin").await;
    let (s, _) = admin
        .post(
            "/api/displays",
            json!({"name": "Lobby", "provider_ids": []}),
        )
        .await;
    assert_eq!(s, 201);
    // Reception opens a patient's record: the access report will say so.
    let reception = Desk::login(&clinic.url(), "reception").await;
    let apt = todays_appointments(&reception).await[0].clone();
    let (pid, pname) = (
        apt["patient"]["id"].as_str().unwrap().to_owned(),
        apt["patient"]["name"].as_str().unwrap().to_owned(),
    );
    reception.get(&format!("/api/patients/{pid}")).await;

    let app = Desktop::start(&[]).await;
    app.sign_in(&clinic.url(), "admin").await;
    app.find("[data-testid=open-admin]")
        .await
        .click()
        .await
        .unwrap();
    app.wait_texts("[data-testid=staff-row]", "the staff", |rows| {
        rows.iter().any(|r| r.contains("Rosa Delgado"))
    })
    .await;

    // A new account, which can sign in; deactivated, it cannot.
    app.fill("staff-username", "temp.desk").await;
    app.fill("staff-name", "Tempo Rary").await;
    app.fill("staff-password", "long enough pw").await;
    app.find("[data-testid=add-staff] button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    let row = "[data-testid=staff-row][data-username=\"temp.desk\"]";
    app.find(row).await;
    assert_eq!(
        sign_in_status(&clinic.url(), "temp.desk", "long enough pw").await,
        200
    );
    app.find(&format!("{row} [data-testid=deactivate]"))
        .await
        .click()
        .await
        .unwrap();
    app.wait_texts(row, "deactivated", |t| {
        t.iter().any(|s| s.contains("deactivated"))
    })
    .await;
    assert_ne!(
        sign_in_status(&clinic.url(), "temp.desk", "long enough pw").await,
        200
    );
    app.screenshot("admin-staff").await;

    // The board, renamed.
    app.find("[data-testid=admin-tab-boards]")
        .await
        .click()
        .await
        .unwrap();
    app.wait_texts("[data-testid=board-row]", "the board", |r| {
        r.iter().any(|s| s.contains("the whole clinic"))
    })
    .await;
    app.fill("board-name", "Front lobby").await;
    app.find("[data-testid=rename-board]")
        .await
        .click()
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while admin.get("/api/displays").await[0]["name"] != "Front lobby" {
        assert!(
            std::time::Instant::now() < deadline,
            "the board was not renamed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // Desks lock after two minutes from now on.
    app.find("[data-testid=admin-tab-clinic]")
        .await
        .click()
        .await
        .unwrap();
    app.fill("lock-minutes", "2").await;
    app.find("[data-testid=clinic-settings] button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    app.find("[data-testid=clinic-saved]").await;
    assert_eq!(
        admin.get("/api/admin/clinic").await["lock_after_seconds"],
        120
    );

    // Who reached the patient: reception's download and opening the record.
    app.find("[data-testid=admin-tab-access]")
        .await
        .click()
        .await
        .unwrap();
    let surname = pname.split_whitespace().last().unwrap().to_owned();
    app.fill("access-patient", &surname).await;
    app.wait_texts(
        "[data-testid=access-patient]",
        "the patient in the search",
        |t| t.iter().any(|s| s.contains(&pname)),
    )
    .await;
    for button in app
        .web
        .find_all(Locator::Css("[data-testid=access-patient]"))
        .await
        .unwrap()
    {
        if button.text().await.unwrap().contains(&pname) {
            button.click().await.unwrap();
            break;
        }
    }
    app.wait_texts("[data-testid=access-row]", "reception's accesses", |rows| {
        rows.iter()
            .any(|r| r.contains("Rosa Delgado") && r.contains("record opened"))
            && rows.iter().any(|r| r.contains("in a desk's download"))
    })
    .await;
    app.screenshot("admin-access-report").await;
    app.find("[data-testid=export-csv]")
        .await
        .click()
        .await
        .unwrap();
    app.wait_texts("[data-testid=exported]", "the saved file", |t| {
        t.iter().any(|s| s.contains(".csv"))
    })
    .await;
    let said = app.texts("[data-testid=exported]").await.join("");
    let path = said.trim().trim_start_matches("Saved to ").trim();
    let csv = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(csv.contains(&pid) && csv.contains("record_opened"), "{csv}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the export is the user's only");

    // The admin changes their own password; the lock screen takes the new one.
    app.find("[data-testid=open-password]")
        .await
        .click()
        .await
        .unwrap();
    let submit = "[data-testid=change-password] button[type=submit]";
    app.fill("old-password", "not it").await;
    app.fill("new-password", "a much longer pw").await;
    app.fill("new-password-again", "a much longer pw").await;
    app.find(submit).await.click().await.unwrap();
    app.wait_texts(
        "[data-testid=change-password] [role=alert]",
        "a refusal",
        |t| !t.is_empty(),
    )
    .await;
    app.fill("old-password", "demo").await;
    app.fill("new-password", "a much longer pw").await;
    app.fill("new-password-again", "a much longer pw").await;
    app.find(submit).await.click().await.unwrap();
    app.find("[data-testid=password-changed]").await;
    assert_ne!(sign_in_status(&clinic.url(), "admin", "demo").await, 200);
    assert_eq!(
        sign_in_status(&clinic.url(), "admin", "a much longer pw").await,
        200
    );
    app.find("[data-testid=lock]").await.click().await.unwrap();
    app.fill("unlock-password", "demo").await;
    app.find("[data-testid=lock-screen] button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    app.wait_texts(
        "[data-testid=lock-screen] [role=alert]",
        "the old password refused",
        |t| t.iter().any(|s| s.contains("not the password")),
    )
    .await;
    app.fill("unlock-password", "a much longer pw").await;
    app.find("[data-testid=lock-screen] button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    app.find("[data-testid=open-admin]").await;
    app.close().await;
}
