// Pure desk logic: what the views show, computed from the cached state.
// No Svelte, no Tauri: tested directly in desk.test.ts.

import type { Appointment, ConnState, DayView, DeskState, Message, OutboxEntry, PresenceState, QueueEntry, ReadMarker } from "../types";

/**
 * Orders two RFC 3339 instants (as numbers: the server's may differ in
 * precision, and a locale-aware string compare costs a collator per call).
 */
export const byInstant = (a: string, b: string): number => Date.parse(a) - Date.parse(b);

/** Orders two ids (plain code-unit order, no collator). */
export const byId = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Active tickets of a provider in serving order: called/in service first, then by priority and arrival. */
export function queueFor(queue: QueueEntry[], providerId: string): QueueEntry[] {
  const rank = (q: QueueEntry) => (q.status === "in_service" ? 0 : q.status === "called" ? 1 : 2);
  return queue
    .filter((q) => q.provider_id === providerId && ["waiting", "called", "in_service"].includes(q.status))
    .sort((a, b) => rank(a) - rank(b) || b.priority - a.priority || byInstant(a.arrived_at, b.arrived_at));
}

/** Minutes a waiting ticket will likely wait: the tickets ahead of it times the usual visit length. */
export function estimatedWaitMinutes(queue: QueueEntry[], entry: QueueEntry, visitMinutes = 15): number {
  const line = queueFor(queue, entry.provider_id).filter((q) => q.status === "waiting");
  const ahead = line.findIndex((q) => q.id === entry.id);
  const busy = queueFor(queue, entry.provider_id).some((q) => q.status !== "waiting") ? 1 : 0;
  return ahead < 0 ? 0 : (ahead + busy) * visitMinutes;
}

/** A day's appointments grouped by provider, by start time. */
export function scheduleByProvider(appointments: Appointment[]): Map<string, Appointment[]> {
  const out = new Map<string, Appointment[]>();
  for (const a of [...appointments].sort((x, y) => byInstant(x.start, y.start))) {
    const list = out.get(a.provider_id) ?? [];
    list.push(a);
    out.set(a.provider_id, list);
  }
  return out;
}

/** `day` moved by `days` calendar days (local time, across daylight-saving changes). */
export function shiftDay(day: Date, days: number): Date {
  return new Date(day.getFullYear(), day.getMonth(), day.getDate() + days);
}

/** `YYYY-MM-DD` of a local day (the date picker's value). */
export function isoDay(day: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${day.getFullYear()}-${p(day.getMonth() + 1)}-${p(day.getDate())}`;
}

/** The local day a date picker's `YYYY-MM-DD` names, or null. */
export function fromIsoDay(value: string): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!m) return null;
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return d.getMonth() === Number(m[2]) - 1 ? d : null;
}

/** How the date bar names `day` seen from `today`: Today, Tomorrow, Yesterday, or the date. */
export function dayLabel(day: Date, today: Date): string {
  const diff = Math.round((shiftDay(day, 0).getTime() - shiftDay(today, 0).getTime()) / 86_400_000);
  if (diff === 0) return "Today";
  if (diff === 1) return "Tomorrow";
  if (diff === -1) return "Yesterday";
  return day.toLocaleDateString([], { weekday: "short", day: "numeric", month: "short", year: "numeric" });
}

/** Outbox entries about a record (pending, conflicting or refused actions). */
export function outboxFor(outbox: OutboxEntry[], kind: string, id: string): OutboxEntry[] {
  return outbox.filter((e) => e.subject_kind === kind && e.subject_id === id);
}

/** Messages in a thread after the user's read marker, not written by them. */
export function unreadCount(messages: Message[], markers: ReadMarker[], threadId: string, me: string): number {
  const inThread = messages.filter((m) => m.thread_id === threadId).sort((a, b) => byInstant(a.created_at, b.created_at));
  const marker = markers.find((r) => r.thread_id === threadId && r.user_id === me);
  const readUpTo = marker ? inThread.findIndex((m) => m.id === marker.message_id) : -1;
  return inThread.slice(readUpTo + 1).filter((m) => m.author_id !== me).length;
}

/** Who (other than `me`) has the patient open. */
export function alsoViewing(state: Pick<DeskState, "presence" | "users">, patientId: string, me: string): string[] {
  return state.presence
    .filter((p) => p.viewing === patientId && p.user !== me && p.state !== "offline")
    .map((p) => state.users.find((u) => u.id === p.user)?.name ?? p.user);
}

/** "as of 09:42" for the offline banner, in the viewer's local time. */
export function asOf(syncedAt: string | null): string {
  if (!syncedAt) return "never synced";
  const d = new Date(syncedAt);
  const hh = String(d.getHours()).padStart(2, "0");
  const mm = String(d.getMinutes()).padStart(2, "0");
  return `as of ${hh}:${mm}`;
}

/**
 * What the date bar says about how current the day on screen is: nothing for
 * a day of the sync window (always live; the connection badge covers
 * offline) or a fetched day kept live now; "as of 09:42" for a fetched day
 * while it is not; a day never fetched is loading, or not available offline.
 */
export function dayNotice(view: DayView, connection: ConnState, liveDay: string | null): string | null {
  switch (view.held.kind) {
    case "window":
      return null;
    case "fetched":
      return connection === "live" && liveDay === view.day ? null : `Not live: ${asOf(view.held.at)}`;
    case "not_held":
      return connection === "live" ? "Loading this day…" : "This day is not available offline";
    case "asked":
      // Read from the clinic for a view of several days, not kept.
      return connection === "live" ? null : `Not live: ${asOf(view.held.at)}`;
  }
}

/** Number of actions still waiting to be sent. */
export function pendingCount(outbox: OutboxEntry[]): number {
  return outbox.filter((e) => e.state === "pending").length;
}

/** A doctor's patients who have arrived and are not yet seen: newest arrival first. */
export function arrivals(queue: QueueEntry[], providerIds: string[]): QueueEntry[] {
  return queue
    .filter((q) => providerIds.includes(q.provider_id) && q.status === "waiting")
    .sort((a, b) => byInstant(b.arrived_at, a.arrived_at));
}

/** Presence of every other staff member (displays excluded), online first, then by name. */
export function staffPresence(state: Pick<DeskState, "presence" | "users">, me: string): { id: string; name: string; state: PresenceState }[] {
  const rank: Record<PresenceState, number> = { online: 0, dnd: 1, away: 2, offline: 3 };
  return state.users
    .filter((u) => u.id !== me && u.role !== "display")
    .map((u) => ({ id: u.id, name: u.name, state: state.presence.find((p) => p.user === u.id)?.state ?? ("offline" as PresenceState) }))
    .sort((a, b) => rank[a.state] - rank[b.state] || a.name.localeCompare(b.name));
}
