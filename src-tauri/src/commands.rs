//! The commands the UI may invoke (each window only those its capability grants).

use crate::display::{DisplaySettings, DisplayShell, DisplayStatus};
use crate::error::{CmdResult, CommandError};
use crate::forward::UpdateBatch;
use crate::shell::{Remembered, Shell};
use chrono::NaiveDate;
use frontdesk_engine::board_client::BoardUpdate;
use frontdesk_engine::cache::outbox::{DeskAction, OutboxEntry};
use frontdesk_engine::cache::{Cache, DayView, Kind, META_SYNCED_AT};
use frontdesk_engine::engine::{self, Update};
use frontdesk_engine::lookup::{FreeSlots, PatientMatches, PatientRecord, Registered};
use frontdesk_engine::notify::Focus;
use frontdesk_engine::screen_lock::LockReason;
use frontdesk_protocol::api::NewPatient;
use frontdesk_protocol::records::{
    Message, Presence, Provider, QueueEntry, ReadMarker, Room, Tenant, Thread, User, UserSummary,
};
use frontdesk_protocol::schedule::{AppointmentType, ProviderHours};
use serde::{Deserialize, Serialize};
use tauri::ipc::Channel;
use tauri::{State, WebviewWindow};

/// What the UI needs before anything else.
#[derive(Serialize, ts_rs::TS)]
#[ts(export)]
pub struct Startup {
    /// Remembered server, clinic and user for the sign-in form.
    server: String,
    tenant: String,
    username: String,
    /// Whether a session is stored (the desk opens without a password).
    signed_in: bool,
    /// Which view this window shows.
    #[ts(type = "\"desk\" | \"display\"")]
    window: &'static str,
    /// Problems the user should know about (no keyring, a cleared cache).
    warnings: Vec<String>,
    /// Why the desk is locked, if it is (a window opened while locked
    /// shows the lock screen, not the desk).
    locked: Option<LockReason>,
    /// The signed-in user's name, for the lock screen.
    name: Option<String>,
}

#[tauri::command]
pub async fn startup(window: WebviewWindow, shell: State<'_, Shell>) -> CmdResult<Startup> {
    crate::since_launch("window asked for its start-up state");
    let r = shell.remembered();
    let signed_in = shell.engine.lock().await.is_some();
    let mut warnings = shell.warnings.clone();
    let (mut locked, mut name) = (None, None);
    let engine = shell.engine.lock().await.clone();
    if let Some(h) = engine {
        warnings.extend(h.startup_warnings().iter().cloned());
        locked = h.locked().await?;
        name = h.reader()?.signed_in_as()?.map(|me| me.name);
    }
    Ok(Startup {
        server: r.server,
        tenant: r.tenant,
        username: r.username,
        signed_in,
        window: if window.label() == "display" {
            "display"
        } else {
            "desk"
        },
        warnings,
        locked,
        name,
    })
}

/// Locks the desk now (the shortcut, the lock button).
#[tauri::command]
pub async fn lock(shell: State<'_, Shell>) -> CmdResult<()> {
    Ok(shell.engine().await?.lock()?)
}

/// Changes the signed-in user's password with the old one (online only).
#[tauri::command]
pub async fn change_password(
    old_password: String,
    new_password: String,
    shell: State<'_, Shell>,
) -> CmdResult<()> {
    Ok(shell
        .unlocked_engine()
        .await?
        .change_password(&old_password, &new_password)
        .await?)
}

/// Unlocks the desk with the signed-in user's password (offline too).
#[tauri::command]
pub async fn unlock(password: String, shell: State<'_, Shell>) -> CmdResult<()> {
    Ok(shell.engine().await?.unlock(&password).await?)
}

/// The sign-in form.
#[derive(Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct SignIn {
    server: String,
    tenant: String,
    username: String,
    password: String,
}

#[tauri::command]
pub async fn sign_in(form: SignIn, shell: State<'_, Shell>) -> CmdResult<()> {
    let r = Remembered {
        server: form.server.trim().trim_end_matches('/').to_owned(),
        tenant: form.tenant.trim().to_owned(),
        username: form.username.trim().to_owned(),
    };
    if let Some(old) = shell.engine.lock().await.take() {
        old.shutdown().await;
    }
    let tokens = engine::sign_in(&shell.config(&r), &form.password, shell.secrets.as_ref()).await?;
    shell.remember(&r)?;
    shell.start_engine(&r, Some(tokens)).await?;
    Ok(())
}

#[tauri::command]
pub async fn logout(shell: State<'_, Shell>) -> CmdResult<()> {
    let handle = shell.engine.lock().await.take();
    if let Some(h) = handle {
        h.logout().await?;
        h.shutdown().await;
    }
    Ok(())
}

/// What the desk shows at first paint: the bounded sets (staff, rooms,
/// today's queue, the threads with their cached messages, the outbox) and
/// one day's schedule. After it the UI applies [`Update`]s to its copy.
#[derive(Serialize, ts_rs::TS)]
#[ts(export)]
pub struct DeskState {
    me: Option<UserSummary>,
    tenant: Option<Tenant>,
    users: Vec<User>,
    providers: Vec<Provider>,
    rooms: Vec<Room>,
    /// When each provider works (for free slots and the week view).
    hours: Vec<ProviderHours>,
    appointment_types: Vec<AppointmentType>,
    /// The day on screen.
    day: DayView,
    queue: Vec<QueueEntry>,
    threads: Vec<Thread>,
    messages: Vec<Message>,
    read_markers: Vec<ReadMarker>,
    presence: Vec<Presence>,
    outbox: Vec<OutboxEntry>,
    #[ts(type = "number | null")]
    last_seq: Option<u64>,
    synced_at: Option<String>,
}

fn read_desk(c: &Cache, day: NaiveDate) -> frontdesk_engine::Result<DeskState> {
    Ok(DeskState {
        me: c.signed_in_as()?,
        tenant: c.tenant()?,
        users: c.list(Kind::User)?,
        providers: c.list(Kind::Provider)?,
        rooms: c.list(Kind::Room)?,
        hours: c.list(Kind::Hours)?,
        appointment_types: c.list(Kind::AppointmentType)?,
        day: c.day(day)?,
        queue: c.list(Kind::Queue)?,
        threads: c.list(Kind::Thread)?,
        messages: c.list(Kind::Message)?,
        read_markers: c.list(Kind::ReadMarker)?,
        presence: c.list(Kind::Presence)?,
        outbox: c.outbox_list()?,
        last_seq: c.last_seq()?,
        synced_at: c.meta(META_SYNCED_AT)?,
    })
}

/// The desk with `day` on screen (the engine keeps that day live).
#[tauri::command]
pub async fn desk_state(day: NaiveDate, shell: State<'_, Shell>) -> CmdResult<DeskState> {
    let h = shell.unlocked_engine().await?;
    h.show_day(Some(day))?;
    Ok(read_desk(&h.reader()?, day)?)
}

/// Another day on screen: its schedule as the cache holds it (a day outside
/// the sync window is fetched and kept live; `day_fetched` says when).
#[tauri::command]
pub async fn day_view(day: NaiveDate, shell: State<'_, Shell>) -> CmdResult<DayView> {
    let h = shell.unlocked_engine().await?;
    h.show_day(Some(day))?;
    Ok(h.reader()?.day(day)?)
}

/// Most days the week view reads at once.
/// Seven days from `from` for the week view: as the cache holds them, and
/// the days it does not hold as the clinic has them while live.
#[tauri::command]
pub async fn week_view(from: NaiveDate, shell: State<'_, Shell>) -> CmdResult<Vec<DayView>> {
    Ok(shell.unlocked_engine().await?.week(from).await?)
}

/// Patients answering what was typed (the server's register when live,
/// the cached patients otherwise: `source` says which).
#[tauri::command]
pub async fn search_patients(
    q: String,
    offset: u32,
    shell: State<'_, Shell>,
) -> CmdResult<PatientMatches> {
    Ok(shell
        .unlocked_engine()
        .await?
        .search_patients(&q, offset)
        .await?)
}

/// A patient with their upcoming and past appointments.
#[tauri::command]
pub async fn patient(id: String, shell: State<'_, Shell>) -> CmdResult<Option<PatientRecord>> {
    Ok(shell.unlocked_engine().await?.patient(&id).await?)
}

/// Registers a patient now (online only), or the candidates they may be.
#[tauri::command]
pub async fn register_patient(
    patient: NewPatient,
    shell: State<'_, Shell>,
) -> CmdResult<Registered> {
    Ok(shell
        .unlocked_engine()
        .await?
        .register_patient(patient)
        .await?)
}

/// Free slots of `minutes` on days `from..=to`, for one provider or all.
#[tauri::command]
pub async fn slots(
    provider: Option<String>,
    from: NaiveDate,
    to: NaiveDate,
    minutes: u32,
    shell: State<'_, Shell>,
) -> CmdResult<FreeSlots> {
    let h = shell.unlocked_engine().await?;
    Ok(h.slots(provider.as_deref(), (from, to), minutes).await?)
}

/// The earliest free slots of `minutes` from `after`, any provider or one.
#[tauri::command]
pub async fn next_slots(
    provider: Option<String>,
    after: chrono::DateTime<chrono::Utc>,
    minutes: u32,
    limit: u32,
    shell: State<'_, Shell>,
) -> CmdResult<FreeSlots> {
    let h = shell.unlocked_engine().await?;
    Ok(h.next_slots(provider.as_deref(), after, minutes, limit)
        .await?)
}

/// Goes on with a conflicted or refused action by sending `action` instead.
#[tauri::command]
pub async fn resend(n: i64, action: DeskAction, shell: State<'_, Shell>) -> CmdResult<()> {
    Ok(shell.unlocked_engine().await?.resend(n, action).await?)
}

/// The outbox (after an `outbox` update).
#[tauri::command]
pub async fn outbox(shell: State<'_, Shell>) -> CmdResult<Vec<OutboxEntry>> {
    Ok(shell.unlocked_engine().await?.reader()?.outbox_list()?)
}

/// A thread's cached messages (after `older_messages` read more of it).
#[tauri::command]
pub async fn thread_messages(thread: String, shell: State<'_, Shell>) -> CmdResult<Vec<Message>> {
    Ok(shell
        .unlocked_engine()
        .await?
        .reader()?
        .messages_in(&thread)?)
}

/// The display window's state: its set-up and what it shows.
#[tauri::command]
pub async fn display_status(display: State<'_, DisplayShell>) -> CmdResult<DisplayStatus> {
    Ok(display.status().await)
}

/// The display set-up form: where the clinic is, an admin to issue the
/// board's token, and the screen's name.
#[derive(Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct DisplaySetup {
    server: String,
    tenant: String,
    username: String,
    password: String,
    name: String,
}

#[tauri::command]
pub async fn display_setup(form: DisplaySetup, display: State<'_, DisplayShell>) -> CmdResult<()> {
    let settings = DisplaySettings {
        server: form.server.trim().trim_end_matches('/').to_owned(),
        tenant: form.tenant.trim().to_owned(),
        name: form.name.trim().to_owned(),
    };
    display
        .set_up(settings, form.username.trim(), &form.password)
        .await
}

/// Streams board updates to the display window.
#[tauri::command]
pub async fn display_subscribe(
    channel: Channel<BoardUpdate>,
    display: State<'_, DisplayShell>,
) -> CmdResult<()> {
    if let Some(view) = display.status().await.view {
        let _ = channel.send(BoardUpdate::Connection {
            state: view.state,
            detail: view.detail,
        });
    }
    display.channels.lock().await.push(channel);
    Ok(())
}

#[tauri::command]
pub async fn act(action: DeskAction, shell: State<'_, Shell>) -> CmdResult<()> {
    shell.unlocked_engine().await?.act(action).await?;
    Ok(())
}

#[tauri::command]
pub async fn typing(thread: String, typing: bool, shell: State<'_, Shell>) -> CmdResult<()> {
    Ok(shell.engine().await?.typing(&thread, typing)?)
}

/// The user scrolled back in a thread: read earlier messages (an
/// `older_messages` update says when they are in).
#[tauri::command]
pub async fn load_older(thread: String, shell: State<'_, Shell>) -> CmdResult<()> {
    Ok(shell.unlocked_engine().await?.load_older(&thread)?)
}

#[tauri::command]
pub async fn set_dnd(dnd: bool, shell: State<'_, Shell>) -> CmdResult<()> {
    Ok(shell.engine().await?.set_dnd(dnd)?)
}

#[tauri::command]
pub async fn viewing(patient: Option<String>, shell: State<'_, Shell>) -> CmdResult<()> {
    Ok(shell.engine().await?.viewing(patient)?)
}

#[tauri::command]
pub async fn focus(
    window_focused: bool,
    thread: Option<String>,
    shell: State<'_, Shell>,
) -> CmdResult<()> {
    Ok(shell.engine().await?.focus(Focus {
        window_focused,
        thread,
    })?)
}

#[tauri::command]
pub async fn activity(shell: State<'_, Shell>) -> CmdResult<()> {
    Ok(shell.engine().await?.activity()?)
}

#[tauri::command]
pub async fn dismiss(n: i64, shell: State<'_, Shell>) -> CmdResult<()> {
    let h = shell.unlocked_engine().await?;
    if h.reader()?.outbox_dismiss(n)? {
        Ok(())
    } else {
        Err(CommandError::new(
            "not_found",
            "that action is no longer in the outbox",
        ))
    }
}

#[tauri::command]
pub async fn subscribe(channel: Channel<UpdateBatch>, shell: State<'_, Shell>) -> CmdResult<()> {
    if let Some(h) = shell.engine.lock().await.as_ref() {
        let now = UpdateBatch {
            updates: vec![Update::Connection {
                state: h.state(),
                detail: "current".into(),
            }],
            missed: false,
        };
        if channel.send(now).is_err() {
            return Err(CommandError::new("closed", "the window closed"));
        }
    }
    shell.channels.lock().await.push(channel);
    Ok(())
}

/// The desk window has painted its schedule for the first time since launch.
/// Logged with the time since launch (what a receptionist waits for at
/// start-up), and printed once for `bench/run-app-bench.sh`.
#[tauri::command]
pub fn startup_painted(screen: Option<String>) {
    if screen.as_deref() == Some("lock") {
        static LOCK_ONCE: std::sync::Once = std::sync::Once::new();
        LOCK_ONCE.call_once(|| {
            let ms = crate::LAUNCHED.get().map_or(0, |t| t.elapsed().as_millis());
            crate::since_launch("lock screen painted");
            println!("lock screen painted {ms} ms after launch");
        });
        return;
    }
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let ms = crate::LAUNCHED.get().map_or(0, |t| t.elapsed().as_millis());
        crate::since_launch("schedule painted");
        println!("schedule painted {ms} ms after launch");
    });
}
