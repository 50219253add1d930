//! Threads, messages, read markers and notifications.

use super::{fmt_ts, new_id, parse_enum, parse_ts};
use crate::error::ApiError;
use chrono::{DateTime, Utc};
use frontdesk_protocol::api::PostMessage;
use frontdesk_protocol::records::{Message, Notification, ReadMarker, Subject, Thread, Urgency};
use frontdesk_protocol::text::{self, Lines};
use rusqlite::{Connection, OptionalExtension, Row, params};

/// Longest message body accepted, in characters.
pub const MAX_BODY_CHARS: usize = 4000;

/// Creates a thread with its members.
pub fn create_thread(
    conn: &Connection,
    tenant: &str,
    (title, created_by): (&str, &str),
    members: &[String],
    now: DateTime<Utc>,
) -> Result<Thread, ApiError> {
    let t = Thread {
        id: new_id("th"),
        title: title.to_owned(),
        members: members.to_vec(),
        created_at: now,
    };
    super::exec(
        conn,
        "INSERT INTO threads (id, tenant, title, created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![t.id, tenant, t.title, fmt_ts(&t.created_at), created_by],
    )?;
    for m in members {
        super::exec(
            conn,
            "INSERT INTO thread_members (thread_id, user_id) VALUES (?1, ?2)",
            params![t.id, m],
        )?;
    }
    Ok(t)
}

/// When the oldest of `user`'s conversations started since `since` began,
/// and how many there are.
pub fn started_since(
    conn: &Connection,
    tenant: &str,
    user: &str,
    since: DateTime<Utc>,
) -> Result<(u32, Option<DateTime<Utc>>), ApiError> {
    let (n, oldest): (u32, Option<String>) = super::one(
        conn,
        "SELECT count(*), min(created_at) FROM threads WHERE tenant = ?1 AND created_by = ?2 AND created_at > ?3",
        params![tenant, user, fmt_ts(&since)],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok((n, oldest.map(|t| parse_ts(&t)).transpose()?))
}

/// The members of a tenant's thread, or `NotFound`.
pub fn members(conn: &Connection, tenant: &str, thread_id: &str) -> Result<Vec<String>, ApiError> {
    let exists: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM threads WHERE tenant = ?1 AND id = ?2",
            params![tenant, thread_id],
            |r| r.get(0),
        )
        .optional()?;
    if exists.is_none() {
        return Err(ApiError::NotFound(format!("thread {thread_id}")));
    }
    let mut stmt = conn.prepare_cached(
        "SELECT user_id FROM thread_members WHERE thread_id = ?1 ORDER BY user_id",
    )?;
    let rows = stmt.query_map([thread_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The members, refusing (as not found, to reveal nothing) a caller who is not one.
pub fn members_for(
    conn: &Connection,
    tenant: &str,
    thread_id: &str,
    user: &str,
) -> Result<Vec<String>, ApiError> {
    let m = members(conn, tenant, thread_id)?;
    if m.iter().any(|u| u == user) {
        Ok(m)
    } else {
        Err(ApiError::NotFound(format!("thread {thread_id}")))
    }
}

/// Threads `user` belongs to.
pub fn threads_of(conn: &Connection, tenant: &str, user: &str) -> Result<Vec<Thread>, ApiError> {
    let mut stmt = conn.prepare_cached(
        "SELECT t.id, t.title, t.created_at FROM threads t JOIN thread_members m ON m.thread_id = t.id
         WHERE t.tenant = ?1 AND m.user_id = ?2 ORDER BY t.created_at, t.id",
    )?;
    let rows = stmt.query_map(params![tenant, user], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            parse_ts(&r.get::<_, String>(2)?)?,
        ))
    })?;
    let mut out = Vec::new();
    for r in rows {
        let (id, title, created_at) = r?;
        let members = members(conn, tenant, &id)?;
        out.push(Thread {
            id,
            title,
            members,
            created_at,
        });
    }
    Ok(out)
}

fn message_row(r: &Row<'_>) -> rusqlite::Result<Message> {
    Ok(Message {
        id: r.get(0)?,
        thread_id: r.get(1)?,
        client_id: r.get(2)?,
        author_id: r.get(3)?,
        body: r.get(4)?,
        urgent: r.get(5)?,
        created_at: parse_ts(&r.get::<_, String>(6)?)?,
    })
}

const SELECT_MESSAGE: &str =
    "SELECT id, thread_id, client_id, author_id, body, urgent, created_at FROM messages";

/// Stores a message. Returns `(message, true)` if new, or the message stored
/// earlier under the same `client_id` and `false`, so a resend is applied once.
pub fn post(
    conn: &Connection,
    tenant: &str,
    thread_id: &str,
    author: &str,
    message: &PostMessage,
    now: DateTime<Utc>,
) -> Result<(Message, bool), ApiError> {
    let PostMessage {
        client_id,
        body,
        urgent,
    } = message;
    let (client_id, urgent) = (client_id.as_str(), *urgent);
    if client_id.is_empty() || client_id.len() > 100 {
        return Err(ApiError::invalid("client_id must be 1 to 100 bytes"));
    }
    let body = body.trim();
    if body.is_empty() {
        return Err(ApiError::invalid("message body is empty"));
    }
    text::check("message body", body, Lines::Many)?;
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(ApiError::PayloadTooLarge(format!(
            "message body exceeds {MAX_BODY_CHARS} characters"
        )));
    }
    if let Some(existing) = conn
        .query_row(
            &format!("{SELECT_MESSAGE} WHERE thread_id = ?1 AND author_id = ?2 AND client_id = ?3"),
            params![thread_id, author, client_id],
            message_row,
        )
        .optional()?
    {
        return Ok((existing, false));
    }
    let m = Message {
        id: new_id("msg"),
        thread_id: thread_id.to_owned(),
        client_id: client_id.to_owned(),
        author_id: author.to_owned(),
        body: body.to_owned(),
        urgent,
        created_at: now,
    };
    super::exec(
        conn,
        "INSERT INTO messages (id, tenant, thread_id, client_id, author_id, body, urgent, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            m.id,
            tenant,
            m.thread_id,
            m.client_id,
            m.author_id,
            m.body,
            m.urgent,
            fmt_ts(&m.created_at)
        ],
    )?;
    Ok((m, true))
}

/// The `per_thread` most recent messages of each thread `user` is in,
/// ordered by thread, then time. One indexed read per thread, so the cost
/// does not grow with a thread's history.
pub fn recent_for(
    conn: &Connection,
    tenant: &str,
    user: &str,
    per_thread: u32,
) -> Result<Vec<Message>, ApiError> {
    let mut threads = threads_of(conn, tenant, user)?;
    threads.sort_by(|a, b| a.id.cmp(&b.id));
    let mut out = Vec::new();
    for t in &threads {
        let mut page = before(conn, tenant, &t.id, None, per_thread)?.0;
        out.append(&mut page);
    }
    Ok(out)
}

/// Up to `limit` messages of `thread` before `cursor` (the `created_at` and
/// `id` of the oldest one a client holds; none: the newest), oldest first,
/// and whether older ones remain.
pub fn before(
    conn: &Connection,
    tenant: &str,
    thread: &str,
    cursor: Option<(&str, &str)>,
    limit: u32,
) -> Result<(Vec<Message>, bool), ApiError> {
    let (at, id) = cursor.unwrap_or(("9999", ""));
    let mut stmt = conn.prepare_cached(
        "SELECT id, thread_id, client_id, author_id, body, urgent, created_at FROM messages
         WHERE tenant = ?1 AND thread_id = ?2 AND (created_at < ?3 OR (created_at = ?3 AND id < ?4))
         ORDER BY created_at DESC, id DESC LIMIT ?5",
    )?;
    let rows = stmt.query_map(params![tenant, thread, at, id, limit + 1], message_row)?;
    let mut page: Vec<Message> = rows.collect::<Result<_, _>>()?;
    let more = page.len() > limit as usize;
    page.truncate(limit as usize);
    page.reverse();
    Ok((page, more))
}

/// The stored time of message `id` in `thread`, for paging before it.
pub fn created_at_of(
    conn: &Connection,
    tenant: &str,
    thread: &str,
    id: &str,
) -> Result<String, ApiError> {
    super::one(
        conn,
        "SELECT created_at FROM messages WHERE tenant = ?1 AND thread_id = ?2 AND id = ?3",
        params![tenant, thread, id],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| ApiError::NotFound(format!("message {id}")))
}

/// Moves `user`'s read marker in a thread forward to `message_id`; returns the
/// marker as it now stands and whether it moved.
pub fn mark_read(
    conn: &Connection,
    tenant: &str,
    thread_id: &str,
    user: &str,
    message_id: &str,
    now: DateTime<Utc>,
) -> Result<(ReadMarker, bool), ApiError> {
    let found: Option<String> = conn
        .query_row(
            "SELECT created_at FROM messages WHERE tenant = ?1 AND thread_id = ?2 AND id = ?3",
            params![tenant, thread_id, message_id],
            |r| r.get(0),
        )
        .optional()?;
    let Some(created_at) = found else {
        return Err(ApiError::NotFound(format!(
            "message {message_id} in thread {thread_id}"
        )));
    };
    // A marker only moves forward: reading an older message again changes nothing.
    let current: Option<(String, String, String, String)> = conn
        .query_row(
            "SELECT r.message_id, r.at, m.created_at, m.id FROM read_markers r JOIN messages m ON m.id = r.message_id
             WHERE r.thread_id = ?1 AND r.user_id = ?2",
            params![thread_id, user],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    if let Some((current_id, at, current_created, current_msg)) = current
        && (current_created.as_str(), current_msg.as_str()) >= (created_at.as_str(), message_id)
    {
        let marker = ReadMarker {
            thread_id: thread_id.to_owned(),
            user_id: user.to_owned(),
            message_id: current_id,
            at: parse_ts(&at).map_err(|e| ApiError::internal(e.to_string()))?,
        };
        return Ok((marker, false));
    }
    let marker = ReadMarker {
        thread_id: thread_id.to_owned(),
        user_id: user.to_owned(),
        message_id: message_id.to_owned(),
        at: now,
    };
    super::exec(conn,
        "INSERT INTO read_markers (thread_id, user_id, message_id, at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (thread_id, user_id) DO UPDATE SET message_id = excluded.message_id, at = excluded.at",
        params![thread_id, user, message_id, fmt_ts(&marker.at)],
    )?;
    Ok((marker, true))
}

/// Read markers of every member of `user`'s threads.
pub fn read_markers_for(
    conn: &Connection,
    tenant: &str,
    user: &str,
) -> Result<Vec<ReadMarker>, ApiError> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.thread_id, r.user_id, r.message_id, r.at FROM read_markers r
         JOIN threads t ON t.id = r.thread_id AND t.tenant = ?1
         JOIN thread_members m ON m.thread_id = r.thread_id AND m.user_id = ?2
         ORDER BY r.thread_id, r.user_id",
    )?;
    let rows = stmt.query_map(params![tenant, user], |r| {
        Ok(ReadMarker {
            thread_id: r.get(0)?,
            user_id: r.get(1)?,
            message_id: r.get(2)?,
            at: parse_ts(&r.get::<_, String>(3)?)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A new notification for one user, not yet stored.
pub fn draft(
    user: &str,
    kind: &str,
    title: &str,
    body: &str,
    urgency: Urgency,
    subject: Subject,
    now: DateTime<Utc>,
) -> Notification {
    Notification {
        id: new_id("ntf"),
        user_id: user.to_owned(),
        kind: kind.to_owned(),
        title: title.to_owned(),
        body: body.to_owned(),
        urgency,
        subject,
        created_at: now,
    }
}

/// Stores a notification.
pub fn notify(conn: &Connection, tenant: &str, n: Notification) -> Result<Notification, ApiError> {
    let urgency_name = serde_json::to_value(n.urgency)?;
    super::exec(conn,
        "INSERT INTO notifications (id, tenant, user_id, kind, title, body, urgency, subject_kind, subject_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            n.id,
            tenant,
            n.user_id,
            n.kind,
            n.title,
            n.body,
            urgency_name.as_str().unwrap_or("normal"),
            n.subject.kind,
            n.subject.id,
            fmt_ts(&n.created_at)
        ],
    )?;
    Ok(n)
}

/// `user`'s unread notifications since `since` (the sync window's start),
/// the most recent `limit`, oldest first. Unread: about a thread the user
/// has not read since it was raised, or a ticket still waiting; older ones
/// are out of the desk's scope however they stand.
pub fn unread_notifications_for(
    conn: &Connection,
    tenant: &str,
    user: &str,
    since: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<Notification>, ApiError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, user_id, kind, title, body, urgency, subject_kind, subject_id, created_at FROM (
             SELECT * FROM notifications n
             WHERE n.tenant = ?1 AND n.user_id = ?2 AND n.created_at >= ?3
             AND CASE n.subject_kind
                 WHEN 'thread' THEN NOT EXISTS (
                     SELECT 1 FROM read_markers r
                     WHERE r.thread_id = n.subject_id AND r.user_id = n.user_id AND r.at >= n.created_at)
                 WHEN 'queue' THEN EXISTS (
                     SELECT 1 FROM queue_entries q
                     WHERE q.id = n.subject_id AND q.tenant = n.tenant AND q.status = 'waiting')
                 ELSE 1 END
             ORDER BY n.created_at DESC, n.id DESC LIMIT ?4)
         ORDER BY created_at, id",
    )?;
    let rows = stmt.query_map(params![tenant, user, fmt_ts(&since), limit], |r| {
        Ok(Notification {
            id: r.get(0)?,
            user_id: r.get(1)?,
            kind: r.get(2)?,
            title: r.get(3)?,
            body: r.get(4)?,
            urgency: parse_enum(&r.get::<_, String>(5)?)?,
            subject: Subject {
                kind: r.get(6)?,
                id: r.get(7)?,
            },
            created_at: parse_ts(&r.get::<_, String>(8)?)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
