//! Staff messages: threads, posts, read markers.

use super::{Command, Ctx, STAFF};
use crate::error::ApiError;
use crate::store::events::Outgoing;
use crate::store::{directory, messages};
use axum::http::StatusCode;
use frontdesk_protocol::api::{MarkRead, PostMessage};
use frontdesk_protocol::envelope::EventData;
use frontdesk_protocol::records::{Message, ReadMarker, Role, Subject, Thread, Urgency};
use rusqlite::Connection;
use serde::Deserialize;

/// `POST /api/threads/{id}/messages`. A resend with the same `client_id`
/// returns the stored message and appends nothing.
pub struct Post {
    pub thread: String,
    pub message: PostMessage,
}

impl Command for Post {
    type Answer = Message;
    const ROLES: &'static [Role] = STAFF;
    const WHAT: &'static str = "send messages";
    const STATUS: StatusCode = StatusCode::CREATED;

    fn run(self, conn: &Connection, ctx: &Ctx<'_>) -> Result<(Message, Vec<Outgoing>), ApiError> {
        let (tenant, me) = (&ctx.caller.tenant, &ctx.caller.id);
        let members = messages::members_for(conn, tenant, &self.thread, me)?;
        let (msg, new) = messages::post(conn, tenant, &self.thread, me, &self.message, ctx.now)?;
        let mut evs = Vec::new();
        if new {
            evs.push(ctx.event_for(
                conn,
                EventData::MessageCreated(msg.clone()),
                members.clone(),
            )?);
            if msg.urgent {
                evs.extend(urgent_notifications(conn, ctx, &msg, &members)?);
            }
        }
        Ok((msg, evs))
    }
}

/// An urgent message is also a critical notification for every other member
/// of its thread (it stays on screen until dismissed).
pub fn urgent_notifications(
    conn: &Connection,
    ctx: &Ctx<'_>,
    msg: &Message,
    members: &[String],
) -> Result<Vec<Outgoing>, ApiError> {
    members
        .iter()
        .filter(|u| **u != ctx.caller.id)
        .map(|other| {
            let n = messages::draft(
                other,
                "message.urgent",
                &format!("Urgent from {}", ctx.caller.name),
                &msg.body,
                Urgency::Critical,
                Subject {
                    kind: "thread".into(),
                    id: msg.thread_id.clone(),
                },
                ctx.now,
            );
            ctx.notify(conn, n)
        })
        .collect()
}

/// `POST /api/threads/{id}/read`.
pub struct MarkThreadRead {
    pub thread: String,
    pub read: MarkRead,
}

impl Command for MarkThreadRead {
    type Answer = ReadMarker;
    const ROLES: &'static [Role] = STAFF;
    const WHAT: &'static str = "read messages";

    fn run(
        self,
        conn: &Connection,
        ctx: &Ctx<'_>,
    ) -> Result<(ReadMarker, Vec<Outgoing>), ApiError> {
        let (tenant, me) = (&ctx.caller.tenant, &ctx.caller.id);
        let members = messages::members_for(conn, tenant, &self.thread, me)?;
        let (marker, moved) = messages::mark_read(
            conn,
            tenant,
            &self.thread,
            me,
            &self.read.message_id,
            ctx.now,
        )?;
        if !moved {
            return Ok((marker, Vec::new()));
        }
        let ev = ctx.event_for(conn, EventData::ThreadRead(marker.clone()), members)?;
        Ok((marker, vec![ev]))
    }
}

/// Body of `POST /api/threads`.
#[derive(Debug, Deserialize)]
pub struct NewThread {
    pub title: String,
    /// Other members; the caller is always added.
    pub members: Vec<String>,
}

/// New conversations one user may start in 24 hours.
pub const THREADS_PER_DAY: u32 = 50;

/// `POST /api/threads`: a new conversation, announced to its members.
pub struct StartThread(pub NewThread);

impl Command for StartThread {
    type Answer = Thread;
    const ROLES: &'static [Role] = STAFF;
    const WHAT: &'static str = "start conversations";
    const STATUS: StatusCode = StatusCode::CREATED;

    fn check(&self, _: &crate::auth::Caller) -> Result<(), ApiError> {
        let title = self.0.title.trim();
        if title.is_empty() || title.chars().count() > 200 {
            return Err(ApiError::invalid("title must be 1 to 200 characters"));
        }
        frontdesk_protocol::text::check("title", title, frontdesk_protocol::text::Lines::One)?;
        Ok(())
    }

    fn run(self, conn: &Connection, ctx: &Ctx<'_>) -> Result<(Thread, Vec<Outgoing>), ApiError> {
        let tenant = &ctx.caller.tenant;
        let mut members = self.0.members;
        members.push(ctx.caller.id.clone());
        members.sort();
        members.dedup();
        for u in &members {
            directory::user(conn, tenant, u)?
                .ok_or_else(|| ApiError::NotFound(format!("user {u}")))?;
        }
        // A flood of conversations would grow every member's snapshot.
        let day = chrono::Duration::hours(24);
        let (started, oldest) =
            messages::started_since(conn, tenant, &ctx.caller.id, ctx.now - day)?;
        if started >= THREADS_PER_DAY {
            let free_at = oldest.map_or(ctx.now + day, |t| t + day);
            return Err(ApiError::RateLimited {
                retry_after: (free_at - ctx.now).num_seconds().max(1) as u64,
            });
        }
        let who = ctx.caller.id.as_str();
        let t =
            messages::create_thread(conn, tenant, (self.0.title.trim(), who), &members, ctx.now)?;
        let ev = ctx.event_for(conn, EventData::ThreadCreated(t.clone()), members)?;
        Ok((t, vec![ev]))
    }
}
