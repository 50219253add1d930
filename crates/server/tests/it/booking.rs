//! Booking over HTTP: the rules (no double booking, the provider's hours,
//! overbooking with a reason), concurrent booking of one slot, free slots,
//! an admin's hours and types, and finding and registering patients.

use crate::support::*;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

fn zone() -> Tz {
    clinic_server::demo::machine_zone().parse().unwrap()
}

/// `hh:mm` clinic time, `days` from today.
fn at(days: i64, hh: u32, mm: u32) -> DateTime<Utc> {
    let day = Utc::now().with_timezone(&zone()).date_naive() + Duration::days(days);
    day.and_hms_opt(hh, mm, 0)
        .unwrap()
        .and_local_timezone(zone())
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

fn booking(d: &Demo, start: DateTime<Utc>, minutes: i64) -> Value {
    json!({
        "patient": {"name": "Nora Quinn"},
        "provider_id": d.clinic.providers[0],
        "start": start,
        "end": start + Duration::minutes(minutes),
        "reason": "Check-up",
    })
}

fn instant(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_double_booking_names_the_appointment_in_the_way_and_offers_the_next_free_slots() {
    let d = demo_server(|_| {}).await;
    let r = d.login("reception").await.access_token;
    let (s, first) = d
        .post(&r, "/api/appointments", booking(&d, at(2, 10, 0), 20))
        .await;
    assert_eq!(s, 201, "{first}");
    assert!(first.get("overbook_reason").is_none());
    // Any overlap is refused, whoever's patient it is.
    for (start, minutes) in [(at(2, 10, 0), 20), (at(2, 9, 50), 15), (at(2, 10, 19), 30)] {
        let (s, p) = d
            .post(&r, "/api/appointments", booking(&d, start, minutes))
            .await;
        assert_eq!((s, p["type"].as_str()), (409, Some("slot-taken")), "{p}");
        assert_eq!(p["appointment"]["id"], first["id"]);
        let next = p["next_slots"].as_array().unwrap();
        assert_eq!(next.len(), 3, "{p}");
        assert!(next.iter().all(|s| instant(&s["start"]) >= start));
        assert!(
            next.iter()
                .all(|s| instant(&s["end"]) - instant(&s["start"]) == Duration::minutes(minutes))
        );
    }
    // Back to back is fine, and the offered slot can be booked.
    let (s, _) = d
        .post(&r, "/api/appointments", booking(&d, at(2, 10, 20), 20))
        .await;
    assert_eq!(s, 201);
    let (_, p) = d
        .post(&r, "/api/appointments", booking(&d, at(2, 10, 0), 20))
        .await;
    let offered = &p["next_slots"][0];
    assert_eq!(instant(&offered["start"]), at(2, 10, 40));
    let mut take = booking(&d, instant(&offered["start"]), 20);
    take["end"] = offered["end"].clone();
    assert_eq!(d.post(&r, "/api/appointments", take).await.0, 201);
    // Another provider's time is not in the way.
    let mut other = booking(&d, at(2, 10, 0), 20);
    other["provider_id"] = json!(d.clinic.providers[1]);
    assert_eq!(d.post(&r, "/api/appointments", other).await.0, 201);
    // Overbooking needs a reason, and the schedule shows it.
    let mut over = booking(&d, at(2, 10, 0), 20);
    over["overbook"] = json!(true);
    let (s, p) = d.post(&r, "/api/appointments", over.clone()).await;
    assert_eq!((s, p["type"].as_str()), (400, Some("invalid-input")), "{p}");
    over["overbook_reason"] = json!("Urgent: chest pain");
    let (s, extra) = d.post(&r, "/api/appointments", over).await;
    assert_eq!(s, 201, "{extra}");
    assert_eq!(extra["overbook_reason"], "Urgent: chest pain");
    // A cancelled appointment frees its time.
    let path = format!("/api/appointments/{}", first["id"].as_str().unwrap());
    let (s, _) = d
        .patch(&r, &path, json!({"version": 1, "status": "cancelled"}))
        .await;
    assert_eq!(s, 200);
    let (s, _) = d
        .post(&r, "/api/appointments", booking(&d, at(2, 9, 40), 20))
        .await;
    assert_eq!(s, 201);
}

#[tokio::test]
async fn outside_the_providers_hours_is_refused_and_reschedules_obey_the_same_rules() {
    let d = demo_server(|_| {}).await;
    let r = d.login("reception").await.access_token;
    // The demo providers work 08:00–18:00; Dr. Haddad breaks 16:00–16:30.
    for (provider, start, minutes) in [
        (0, at(3, 3, 0), 20),
        (0, at(3, 17, 50), 20),
        (1, at(3, 16, 10), 10),
        (0, at(3, 7, 55), 10),
    ] {
        let mut b = booking(&d, start, minutes);
        b["provider_id"] = json!(d.clinic.providers[provider]);
        let (s, p) = d.post(&r, "/api/appointments", b).await;
        assert_eq!((s, p["type"].as_str()), (422, Some("outside-hours")), "{p}");
        assert!(
            p["detail"].as_str().unwrap().contains("does not work"),
            "{p}"
        );
        assert_eq!(p["next_slots"].as_array().unwrap().len(), 3, "{p}");
    }
    let (_, a) = d
        .post(&r, "/api/appointments", booking(&d, at(3, 9, 0), 20))
        .await;
    let (_, b) = d
        .post(&r, "/api/appointments", booking(&d, at(3, 9, 20), 20))
        .await;
    let path = format!("/api/appointments/{}", b["id"].as_str().unwrap());
    let (s, p) = d
        .patch(
            &r,
            &path,
            json!({"version": 1, "start": at(3, 9, 10), "end": at(3, 9, 30)}),
        )
        .await;
    assert_eq!((s, p["type"].as_str()), (409, Some("slot-taken")), "{p}");
    assert_eq!(p["appointment"]["id"], a["id"]);
    let (s, p) = d
        .patch(
            &r,
            &path,
            json!({"version": 1, "start": at(4, 19, 0), "end": at(4, 19, 20)}),
        )
        .await;
    assert_eq!((s, p["type"].as_str()), (422, Some("outside-hours")), "{p}");
    // Moving it within its own time is no conflict with itself.
    let (s, moved) = d
        .patch(
            &r,
            &path,
            json!({"version": 1, "start": at(3, 9, 25), "end": at(3, 9, 45)}),
        )
        .await;
    assert_eq!(s, 200, "{moved}");
    // An overbooked move records why; moving it back into a free slot clears it.
    let (s, over) = d
        .patch(&r, &path, json!({"version": 2, "start": at(3, 9, 0), "end": at(3, 9, 20), "overbook": true, "overbook_reason": "Family together"}))
        .await;
    assert_eq!(
        (s, over["overbook_reason"].as_str()),
        (200, Some("Family together")),
        "{over}"
    );
    let (s, free) = d
        .patch(
            &r,
            &path,
            json!({"version": 3, "start": at(3, 11, 0), "end": at(3, 11, 20)}),
        )
        .await;
    assert_eq!(s, 200);
    assert!(free.get("overbook_reason").is_none(), "{free}");
    // Status changes do not re-check the time (the day's hours may have changed since).
    let (s, _) = d
        .patch(&r, &path, json!({"version": 4, "status": "confirmed"}))
        .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn a_reschedule_to_another_provider_obeys_that_providers_hours_and_bookings() {
    let d = demo_server(|_| {}).await;
    let r = d.login("reception").await.access_token;
    let (haddad, other) = (&d.clinic.providers[1], &d.clinic.providers[0]);
    let mut at_haddad = booking(&d, at(3, 10, 0), 20);
    at_haddad["provider_id"] = json!(haddad);
    let (s, in_the_way) = d.post(&r, "/api/appointments", at_haddad).await;
    assert_eq!(s, 201, "{in_the_way}");
    let (_, a) = d
        .post(&r, "/api/appointments", booking(&d, at(3, 10, 0), 20))
        .await;
    assert_eq!(a["provider_id"].as_str(), Some(other.as_str()), "{a}");
    let path = format!("/api/appointments/{}", a["id"].as_str().unwrap());
    // The same time with Dr. Haddad is taken there.
    let (s, p) = d
        .patch(&r, &path, json!({"version": 1, "provider_id": haddad}))
        .await;
    assert_eq!((s, p["type"].as_str()), (409, Some("slot-taken")), "{p}");
    assert_eq!(p["appointment"]["id"], in_the_way["id"]);
    assert!(
        p["next_slots"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["provider_id"].as_str() == Some(haddad.as_str())),
        "{p}"
    );
    // Inside Dr. Haddad's break (16:00–16:30) is outside their hours.
    let (s, p) = d
        .patch(&r, &path, json!({"version": 1, "provider_id": haddad, "start": at(3, 16, 0), "end": at(3, 16, 20)}))
        .await;
    assert_eq!((s, p["type"].as_str()), (422, Some("outside-hours")), "{p}");
    // A provider of no clinic is refused; a doctor may not move it.
    let (s, _) = d
        .patch(&r, &path, json!({"version": 1, "provider_id": "nobody"}))
        .await;
    assert_eq!(s, 404);
    let doc = d.login("doctor").await.access_token;
    let (s, p) = d
        .patch(&doc, &path, json!({"version": 1, "provider_id": haddad}))
        .await;
    assert_eq!(s, 403, "{p}");
    // Into Dr. Haddad's free time: moved, announced, and the old time is free.
    let mut events = d.socket(&r).await;
    let (s, moved) = d
        .patch(&r, &path, json!({"version": 1, "provider_id": haddad, "start": at(3, 11, 0), "end": at(3, 11, 20)}))
        .await;
    assert_eq!(s, 200, "{moved}");
    assert_eq!(moved["provider_id"].as_str(), Some(haddad.as_str()));
    assert_eq!(moved["version"], 2);
    assert_eq!(moved["room_id"], d.clinic.rooms[1], "in Dr. Haddad's room");
    let ev = events.expect("appointment.updated").await;
    assert_eq!(
        ev["data"]["provider_id"].as_str(),
        Some(haddad.as_str()),
        "{ev}"
    );
    let (s, _) = d
        .post(&r, "/api/appointments", booking(&d, at(3, 10, 0), 20))
        .await;
    assert_eq!(s, 201, "the old time with the first provider is free again");
}

#[tokio::test]
async fn a_patient_registered_with_a_booking_or_a_walk_in_follows_it_whole_to_the_desks() {
    let d = demo_server(|_| {}).await;
    let r = d.login("reception").await.access_token;
    let mut desk = d.socket(&r).await;
    let mut b = booking(&d, at(2, 10, 0), 20);
    b["patient"] =
        json!({"name": "Oona Field", "phone": "+353 1 555 0101", "birth_date": "1975-06-01"});
    let (s, a) = d.post(&r, "/api/appointments", b).await;
    assert_eq!(s, 201, "{a}");
    let booked = desk.expect("appointment.created").await;
    let registered = desk.expect("patient.created").await;
    assert_eq!(
        registered["seq"].as_u64(),
        booked["seq"].as_u64().map(|n| n + 1),
        "right after the booking"
    );
    assert_ne!(registered["redacted"].as_bool(), Some(true), "{registered}");
    assert_eq!(registered["data"]["id"], a["patient"]["id"]);
    assert_eq!(registered["data"]["phone"], "+353 1 555 0101");
    assert_eq!(registered["data"]["birth_date"], "1975-06-01");
    // A walk-in registered at the desk: after their ticket.
    let (s, w) = d
        .post(
            &r,
            "/api/queue",
            json!({"provider_id": d.clinic.providers[0], "patient": {"name": "Pia Walker", "phone": "+353 1 555 0202"}}),
        )
        .await;
    assert_eq!(s, 201, "{w}");
    let ticket = desk.expect("queue.updated").await;
    let registered = desk.expect("patient.created").await;
    assert!(registered["seq"].as_u64() > ticket["seq"].as_u64());
    assert_eq!(
        registered["data"]["phone"], "+353 1 555 0202",
        "{registered}"
    );
    // Then her arrival notice (for the doctor; this desk sees it redacted).
    desk.expect("notification.created").await;
    // Booking or seating someone already registered announces no patient.
    let mut again = booking(&d, at(2, 11, 0), 20);
    again.as_object_mut().unwrap().remove("patient");
    again["patient_id"] = a["patient"]["id"].clone();
    assert_eq!(d.post(&r, "/api/appointments", again).await.0, 201);
    let (s, _) = d
        .post(
            &r,
            "/api/queue",
            json!({"provider_id": d.clinic.providers[0], "patient_id": a["patient"]["id"]}),
        )
        .await;
    assert_eq!(s, 201);
    // Up to the walk-in's arrival notice, which comes after any patient event.
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("notification.created") {
        let (name, _) = desk.next_within(WAIT).await.expect("the walk-in's events");
        seen.push(name);
    }
    assert!(seen.iter().any(|n| n == "queue.updated"), "{seen:?}");
    assert!(!seen.iter().any(|n| n == "patient.created"), "{seen:?}");
}

#[tokio::test]
async fn an_appointment_event_brings_the_whole_patient_to_the_desks_it_reaches_whole() {
    let d = demo_server(|_| {}).await;
    let r = d.login("reception").await.access_token;
    let mut desk = d.socket(&r).await;
    // A returning patient, registered long ago: no desk holds them.
    let (s, p) = d
        .post(
            &r,
            "/api/patients",
            json!({"name": "Ruth Returning", "phone": "+1 555 0199", "birth_date": "1950-02-03"}),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    let before = desk.expect("patient.created").await["seq"]
        .as_u64()
        .unwrap();
    let book = |start| {
        let mut b = booking(&d, start, 20);
        b.as_object_mut().unwrap().remove("patient");
        b["patient_id"] = p["id"].clone();
        b
    };
    assert_eq!(
        d.post(&r, "/api/appointments", book(at(2, 10, 0))).await.0,
        201
    );
    let near = desk.expect("appointment.created").await;
    assert_eq!(near["patient"]["id"], p["id"]);
    assert_eq!(near["patient"]["phone"], "+1 555 0199");
    assert_eq!(near["patient"]["birth_date"], "1950-02-03");
    // Outside the window the event is redacted, and carries no patient.
    assert_eq!(
        d.post(&r, "/api/appointments", book(at(60, 10, 0))).await.0,
        201
    );
    let far = desk.expect("appointment.created").await;
    assert_eq!(far["redacted"], true);
    assert!(far.get("patient").is_none(), "{far}");
    // A replay brings the record as it is when replayed.
    let path = format!("/api/patients/{}", p["id"].as_str().unwrap());
    let (s, _) = d
        .patch(&r, &path, json!({"version": 1, "phone": "+1 555 0200"}))
        .await;
    assert_eq!(s, 200);
    let (_, page) = d
        .get(&r, &format!("/api/events?after={before}&limit=10"))
        .await;
    let events = page["events"].as_array().unwrap();
    assert_eq!(events[0]["patient"]["phone"], "+1 555 0200", "{page}");
    assert_eq!(events[0]["patient"]["version"], 2);
    assert!(events[1].get("patient").is_none(), "{page}");
    // The privacy officer sees that the replay reached her record.
    let admin = d.login("admin").await.access_token;
    let (s, report) = d
        .get(
            &admin,
            &format!("/api/audit?patient_id={}", p["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(s, 200, "{report}");
    let replays: Vec<&Value> = report
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["access"] == "replay")
        .collect();
    assert_eq!(replays.len(), 1, "{report}");
    assert_eq!(
        replays[0]["detail"],
        format!("GET /api/events (after {before})")
    );
}

#[tokio::test]
async fn a_replayed_ticket_of_an_earlier_day_brings_no_patient() {
    let at: DateTime<Utc> = "2026-11-22T10:00:00Z".parse().unwrap();
    let clock = std::sync::Arc::new(clinic_server::clock::ManualClock::new(at));
    let server_clock = clock.clone();
    let d = demo_server(|c| c.clock = server_clock).await;
    let r = d.login("reception").await.access_token;
    let (s, w) = d
        .post(
            &r,
            "/api/queue",
            json!({"provider_id": d.clinic.providers[0], "patient": {"name": "Pia Yesterday", "phone": "+1 555 0303"}}),
        )
        .await;
    assert_eq!(s, 201, "{w}");
    let tickets = |page: &Value| -> Vec<Value> {
        page["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "queue.updated")
            .cloned()
            .collect()
    };
    // Today every desk holds her by her ticket.
    let (_, page) = d.get(&r, "/api/events?after=0&limit=50").await;
    assert_eq!(
        tickets(&page)[0]["patient"]["phone"],
        "+1 555 0303",
        "{page}"
    );
    // She does not come; two days later a desk catching up gets her ticket,
    // but not her record.
    let path = format!("/api/queue/{}", w["entry"]["id"].as_str().unwrap());
    let (s, p) = d
        .patch(&r, &path, json!({"version": 1, "status": "no_show"}))
        .await;
    assert_eq!(s, 200, "{p}");
    clock.advance(std::time::Duration::from_secs(2 * 24 * 3600));
    let r = d.login("reception").await.access_token;
    let (_, page) = d.get(&r, "/api/events?after=0&limit=50").await;
    let replayed = tickets(&page);
    assert_eq!(replayed.len(), 2, "{page}");
    assert!(
        replayed.iter().all(|e| e.get("patient").is_none()),
        "{page}"
    );
    assert!(!page.to_string().contains("0303"), "{page}");
}

#[tokio::test]
async fn two_desks_booking_one_slot_at_the_same_moment_exactly_one_wins_a_thousand_times() {
    let d = demo_server(|_| {}).await;
    let reception = d.login("reception").await.access_token;
    let admin = d.login("admin").await.access_token;
    let mut wins = [0usize; 2];
    for round in 0..1000i64 {
        // Ten-minute slots 08:00–18:00 (60 a day), from tomorrow on.
        let start = at(1 + round / 60, 8, 0) + Duration::minutes(10 * (round % 60));
        let body = booking(&d, start, 10);
        let (a, b) = tokio::join!(
            d.post(&reception, "/api/appointments", body.clone()),
            d.post(&admin, "/api/appointments", body.clone()),
        );
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(statuses, [201, 409], "round {round}: {a:?} {b:?}");
        let loser = if a.0 == 409 { &a.1 } else { &b.1 };
        let winner = if a.0 == 201 { &a.1 } else { &b.1 };
        assert_eq!(loser["type"], "slot-taken");
        assert_eq!(loser["appointment"]["id"], winner["id"]);
        wins[usize::from(a.0 != 201)] += 1;
    }
    assert_eq!(wins[0] + wins[1], 1000);
}

#[tokio::test]
async fn free_slots_follow_bookings_hours_exceptions_and_types() {
    let d = demo_server(|_| {}).await;
    let r = d.login("reception").await.access_token;
    let admin = d.login("admin").await.access_token;
    let p0 = d.clinic.providers[0].clone();
    let day = (Utc::now().with_timezone(&zone()).date_naive() + Duration::days(5)).to_string();
    let slots =
        |length: u32| format!("/api/slots?provider_id={p0}&from={day}&to={day}&length={length}");
    let (s, all) = d.get(&r, &slots(60)).await;
    assert_eq!(s, 200, "{all}");
    let starts: Vec<DateTime<Utc>> = all["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| instant(&s["start"]))
        .collect();
    assert_eq!(starts.len(), 10);
    assert_eq!(starts[0], at(5, 8, 0));
    // A booking at 09:10–09:30 takes 09:00's hour; the stretch after it starts at 09:30.
    d.post(&r, "/api/appointments", booking(&d, at(5, 9, 10), 20))
        .await;
    let (_, after) = d.get(&r, &slots(60)).await;
    let starts: Vec<DateTime<Utc>> = after["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| instant(&s["start"]))
        .collect();
    assert_eq!(&starts[..3], &[at(5, 8, 0), at(5, 9, 30), at(5, 10, 30)]);

    // The admin reads and changes the hours; others may read but not change them.
    let hours_path = format!("/api/providers/{p0}/hours");
    let (s, hours) = d.get(&r, &hours_path).await;
    assert_eq!(s, 200);
    let version = hours["version"].as_u64().unwrap();
    let weekly: Vec<Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|w| json!({"weekday": w, "open": "09:00", "close": "13:00", "breaks": [{"start": "11:00", "end": "11:30"}]}))
        .collect();
    let set = json!({"version": version, "weekly": weekly});
    let (s, p) = d.send("PUT", &r, &hours_path, set.clone(), None).await;
    assert_eq!((s, p["type"].as_str()), (403, Some("forbidden")));
    let mut stale = set.clone();
    stale["version"] = json!(version + 7);
    assert_eq!(d.send("PUT", &admin, &hours_path, stale, None).await.0, 409);
    let mut bad = set.clone();
    bad["weekly"][0]["breaks"][0]["end"] = json!("14:00");
    let (s, p) = d.send("PUT", &admin, &hours_path, bad, None).await;
    assert_eq!((s, p["type"].as_str()), (400, Some("invalid-input")), "{p}");
    let (s, changed) = d.send("PUT", &admin, &hours_path, set, None).await;
    assert_eq!(s, 200, "{changed}");
    assert_eq!(changed["version"].as_u64(), Some(version + 1));
    let (_, thirty) = d.get(&r, &slots(30)).await;
    let starts: Vec<DateTime<Utc>> = thirty["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| instant(&s["start"]))
        .collect();
    assert_eq!(
        starts,
        [
            at(5, 9, 30),
            at(5, 10, 0),
            at(5, 10, 30),
            at(5, 11, 30),
            at(5, 12, 0),
            at(5, 12, 30)
        ]
    );
    // Leave that day empties it; removing the leave brings it back.
    let (s, with_leave) = d
        .post(
            &admin,
            &format!("/api/providers/{p0}/exceptions"),
            json!({"day": day, "kind": "leave", "note": "Away"}),
        )
        .await;
    assert_eq!(s, 201, "{with_leave}");
    let (_, none) = d.get(&r, &slots(30)).await;
    assert_eq!(none["slots"].as_array().unwrap().len(), 0);
    let leave_id = with_leave["exceptions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["day"] == json!(day))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, _) = d
        .send(
            "DELETE",
            &admin,
            &format!("/api/providers/{p0}/exceptions/{leave_id}"),
            json!({}),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (_, back) = d.get(&r, &slots(30)).await;
    assert_eq!(back["slots"].as_array().unwrap().len(), 6);
    // An extra clinic in the evening adds slots.
    d.post(
        &admin,
        &format!("/api/providers/{p0}/exceptions"),
        json!({"day": day, "kind": "extra", "start": "18:00", "end": "19:00"}),
    )
    .await;
    let (_, extra) = d.get(&r, &slots(30)).await;
    assert_eq!(extra["slots"].as_array().unwrap().len(), 8);

    // Types: the admin adds one; slots and the next free slot take its length.
    let (s, t) = d
        .post(
            &admin,
            "/api/appointment-types",
            json!({"name": "Minor procedure", "minutes": 45}),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    assert_eq!(
        d.post(
            &r,
            "/api/appointment-types",
            json!({"name": "X", "minutes": 45})
        )
        .await
        .0,
        403
    );
    assert_eq!(
        d.post(
            &admin,
            "/api/appointment-types",
            json!({"name": "Odd", "minutes": 7})
        )
        .await
        .0,
        400
    );
    let tid = t["id"].as_str().unwrap();
    let (_, typed) = d
        .get(
            &r,
            &format!("/api/slots?provider_id={p0}&from={day}&to={day}&type_id={tid}"),
        )
        .await;
    let first = &typed["slots"][0];
    assert_eq!(
        instant(&first["end"]) - instant(&first["start"]),
        Duration::minutes(45)
    );
    let (s, next) = d
        .get(&r, &format!("/api/slots/next?type_id={tid}&limit=4"))
        .await;
    assert_eq!(s, 200, "{next}");
    let next = next["slots"].as_array().unwrap();
    assert_eq!(next.len(), 4);
    assert!(
        next.windows(2)
            .all(|w| instant(&w[0]["start"]) <= instant(&w[1]["start"]))
    );
    assert!(instant(&next[0]["start"]) >= Utc::now() - Duration::minutes(1));
    // Across all providers: both demo providers' free time is offered.
    let (_, more) = d
        .get(&r, &format!("/api/slots/next?type_id={tid}&limit=20"))
        .await;
    let providers: std::collections::BTreeSet<&str> = more["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["provider_id"].as_str().unwrap())
        .collect();
    assert_eq!(providers.len(), 2, "{more}");
    let (s, retired) = d
        .patch(
            &admin,
            &format!("/api/appointment-types/{tid}"),
            json!({"version": 1, "active": false}),
        )
        .await;
    assert_eq!((s, retired["active"].as_bool()), (200, Some(false)));
    // A retired type is no longer booked.
    let mut with_type = booking(&d, instant(&next[0]["start"]), 45);
    with_type["provider_id"] = next[0]["provider_id"].clone();
    with_type["type_id"] = json!(tid);
    let (s, p) = d.post(&r, "/api/appointments", with_type).await;
    assert_eq!(s, 400, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("retired"), "{p}");
    let (_, types) = d.get(&r, "/api/appointment-types").await;
    assert!(
        types
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "Consultation")
    );
    // Changes reach desks as events; the snapshot carries hours and types.
    let kinds: Vec<String> = d.get(&r, "/api/events?after=0&limit=1000").await.1["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        kinds.iter().filter(|k| *k == "hours.updated").count() >= 4,
        "{kinds:?}"
    );
    assert!(
        kinds
            .iter()
            .filter(|k| *k == "appointment_type.updated")
            .count()
            == 2,
        "{kinds:?}"
    );
    let snap = d.snapshot(&r).await;
    assert_eq!(snap["hours"].as_array().unwrap().len(), 2);
    assert_eq!(snap["appointment_types"].as_array().unwrap().len(), 5);
    // Bad queries are clear errors.
    for bad in [
        format!("/api/slots?provider_id={p0}&from={day}&to={day}"),
        format!("/api/slots?provider_id={p0}&from={day}&to=2020-01-01&length=30"),
        format!("/api/slots?provider_id=nope&from={day}&to={day}&length=30"),
        "/api/slots/next?length=3".to_owned(),
    ] {
        let (s, p) = d.get(&r, &bad).await;
        assert!(s == 400 || s == 404, "{bad}: {s} {p}");
    }
}

#[tokio::test]
async fn patients_are_found_registered_once_and_corrected_at_their_version() {
    let d = demo_server(|_| {}).await;
    let r = d.login("reception").await.access_token;
    let doctor = d.login("doctor").await.access_token;
    let new =
        json!({"name": "Zoë Núñez", "birth_date": "1980-03-12", "phone": "+1 (555) 777-0123"});
    let (s, zoe) = d.post(&r, "/api/patients", new.clone()).await;
    assert_eq!(s, 201, "{zoe}");
    assert_eq!(d.post(&doctor, "/api/patients", new.clone()).await.0, 403);
    // The same person again: the candidates, unless the desk says it is someone else.
    let again = json!({"name": "nunez zoe", "birth_date": "1980-03-12"});
    let (s, p) = d.post(&r, "/api/patients", again.clone()).await;
    assert_eq!(
        (s, p["type"].as_str()),
        (409, Some("possible-duplicate")),
        "{p}"
    );
    assert_eq!(p["candidates"][0]["id"], zoe["id"]);
    let mut confirmed = again.clone();
    confirmed["confirm_new"] = json!(true);
    assert_eq!(d.post(&r, "/api/patients", confirmed).await.0, 201);
    // Found by name words, phone digits and birth date, doctors included.
    for q in [
        "zoe",
        "NUÑ zo",
        "7770123",
        "0123",
        "12.03.1980",
        "12%20March%201980",
    ] {
        let (s, page) = d.get(&doctor, &format!("/api/patients?q={q}")).await;
        assert_eq!(s, 200, "{q}: {page}");
        assert!(
            page["patients"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["id"] == zoe["id"]),
            "{q}: {page}"
        );
    }
    let (s, p) = d.get(&r, "/api/patients?q=%20").await;
    assert_eq!((s, p["type"].as_str()), (400, Some("invalid-input")));
    // Corrected at its version, announced; a stale version shows the current record.
    let path = format!("/api/patients/{}", zoe["id"].as_str().unwrap());
    let (s, fixed) = d
        .patch(&r, &path, json!({"version": 1, "name": "Zoë Núñez-Ortiz"}))
        .await;
    assert_eq!((s, fixed["version"].as_u64()), (200, Some(2)), "{fixed}");
    let (s, p) = d
        .patch(&r, &path, json!({"version": 1, "phone": "555"}))
        .await;
    assert_eq!(
        (s, p["current"]["name"].as_str()),
        (409, Some("Zoë Núñez-Ortiz"))
    );
    let events = d.get(&r, "/api/events?after=0&limit=100").await.1;
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["patient.created", "patient.created", "patient.updated"]
    );
    // Their appointments, upcoming and past, under their record.
    let mut b = booking(&d, at(6, 9, 0), 20);
    b.as_object_mut().unwrap().remove("patient");
    b["patient_id"] = zoe["id"].clone();
    assert_eq!(d.post(&r, "/api/appointments", b).await.0, 201);
    let (s, details) = d.get(&r, &path).await;
    assert_eq!(s, 200);
    assert_eq!(details["upcoming"].as_array().unwrap().len(), 1);
    assert_eq!(details["upcoming"][0]["patient"]["name"], "Zoë Núñez-Ortiz");
    assert_eq!(details["past"].as_array().unwrap().len(), 0);
    // Other tenants see none of it.
    let other = d.login_to("other", "reception").await.access_token;
    assert_eq!(d.get(&other, &path).await.0, 404);
    let (_, theirs) = d.get(&other, "/api/patients?q=zoe").await;
    assert_eq!(theirs["patients"].as_array().unwrap().len(), 0);
    // At most 50 a page, whatever the desk asks for.
    for i in 0..55 {
        let (s, _) = d
            .post(
                &r,
                "/api/patients",
                json!({"name": format!("Quillon Vey{i}")}),
            )
            .await;
        assert_eq!(s, 201);
    }
    let (s, page) = d.get(&r, "/api/patients?q=quillon&limit=100").await;
    assert_eq!(s, 200);
    assert_eq!(page["patients"].as_array().unwrap().len(), 50, "{page}");
    assert_eq!(page["next_offset"], 50);
    let (_, rest) = d
        .get(&r, "/api/patients?q=quillon&limit=100&offset=50")
        .await;
    assert_eq!(rest["patients"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn a_patients_record_reaches_whole_only_the_desks_that_hold_them() {
    let d = demo_server(|_| {}).await;
    let r = d.login("reception").await.access_token;
    let mut desk = d.socket(&r).await;
    let mut watcher = d.socket(&d.login("admin").await.access_token).await;
    // A new patient, booked nowhere yet: no desk holds them.
    let (s, p) = d
        .post(
            &r,
            "/api/patients",
            json!({"name": "Ingrid Held", "phone": "+47 555 1234"}),
        )
        .await;
    assert_eq!(s, 201);
    let seen = desk.expect("patient.created").await;
    assert_eq!(
        (seen["redacted"].as_bool(), seen["data"].is_null()),
        (Some(true), true),
        "{seen}"
    );
    // Booked two months ahead, outside the window: only a desk watching that day holds them.
    let far = at(60, 10, 0);
    let far_day = far.with_timezone(&zone()).date_naive().to_string();
    assert_eq!(
        watcher.emit_ack("watch", json!({"days": [far_day]})).await["ok"],
        true
    );
    let mut b = booking(&d, far, 20);
    b.as_object_mut().unwrap().remove("patient");
    b["patient_id"] = p["id"].clone();
    assert_eq!(d.post(&r, "/api/appointments", b).await.0, 201);
    desk.expect("appointment.created").await;
    watcher.expect("appointment.created").await;
    let path = format!("/api/patients/{}", p["id"].as_str().unwrap());
    assert_eq!(
        d.patch(&r, &path, json!({"version": 1, "name": "Ingrid Heldt"}))
            .await
            .0,
        200
    );
    let scoped = desk.expect("patient.updated").await;
    let whole = watcher.expect("patient.updated").await;
    assert_eq!(scoped["redacted"], true, "{scoped}");
    assert_eq!(whole["data"]["name"], "Ingrid Heldt", "{whole}");
    assert_eq!(scoped["seq"], whole["seq"]);
    // Booked tomorrow too: in every desk's window now, so every desk gets it whole.
    let mut b = booking(&d, at(1, 11, 0), 20);
    b.as_object_mut().unwrap().remove("patient");
    b["patient_id"] = p["id"].clone();
    assert_eq!(d.post(&r, "/api/appointments", b).await.0, 201);
    desk.expect("appointment.created").await;
    assert_eq!(
        d.patch(&r, &path, json!({"version": 2, "phone": "+47 555 9999"}))
            .await
            .0,
        200
    );
    let now_held = desk.expect("patient.updated").await;
    assert_eq!(now_held["data"]["phone"], "+47 555 9999", "{now_held}");
    // Replay decides with the window of now: they are held, so all are whole.
    let events = d.get(&r, "/api/events?after=0&limit=100").await.1;
    let patients: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"].as_str().unwrap().starts_with("patient."))
        .collect();
    assert_eq!(patients.len(), 3);
    assert!(
        patients
            .iter()
            .all(|e| e["redacted"] != true && e["data"]["id"] == p["id"]),
        "all held by now: {patients:?}"
    );
}
