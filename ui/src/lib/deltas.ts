// The desk's copy of the cache, kept by the engine's updates: each applied
// event names the one record it changed, and only that record is touched
// here. Nothing re-reads the cache per event; the few updates that change
// more than one record say what to read again (`followUp`).
// Pure (no Svelte, no Tauri): tested in deltas.test.ts.

import { byId, byInstant } from "./desk";
import type { Appointment, AppointmentType, Change, DeskState, Patient, Presence, ProviderHours, QueueEntry, Tenant, Update } from "../types";

/** What to read again after an update, besides applying it. */
export type FollowUp =
  | { read: "nothing" }
  /** The whole desk (a snapshot replaced the cache; the clinic's day turned). */
  | { read: "desk" }
  /** The day on screen (its days were fetched). */
  | { read: "day" }
  | { read: "outbox" }
  | { read: "thread"; thread: string };

/** The record of a change, without its tag. */
function record<T>(change: { record: string } & T): T {
  const { record: _tag, ...rest } = change;
  return rest as T;
}

/** Puts `next` in `list` by id unless the list holds a newer version; keeps `order`. */
function upsert<T extends { id: string; version: number }>(list: T[], next: T, order: (a: T, b: T) => number): void {
  const i = list.findIndex((x) => x.id === next.id);
  if (i >= 0) {
    if (list[i]!.version > next.version) return;
    list.splice(i, 1);
  }
  let at = list.length;
  while (at > 0 && order(list[at - 1]!, next) > 0) at -= 1;
  list.splice(at, 0, next);
}

function remove<T extends { id: string }>(list: T[], id: string): void {
  const i = list.findIndex((x) => x.id === id);
  if (i >= 0) list.splice(i, 1);
}

const byStart = (a: Appointment, b: Appointment) => byInstant(a.start, b.start) || byId(a.id, b.id);
const byArrival = (a: QueueEntry, b: QueueEntry) => byInstant(a.arrived_at, b.arrived_at) || byId(a.id, b.id);

/** Whether an appointment belongs to the day on screen (the day its start falls in). */
function onScreen(desk: DeskState, a: Appointment): boolean {
  const t = Date.parse(a.start);
  return t >= Date.parse(desk.day.start) && t < Date.parse(desk.day.end);
}

/** Applies one changed record to `desk`, in place. */
export function applyChange(desk: DeskState, change: Change): void {
  switch (change.record) {
    case "appointment": {
      const a = record<Appointment>(change);
      if (onScreen(desk, a)) upsert(desk.day.appointments, a, byStart);
      else remove(desk.day.appointments, a.id); // moved to another day
      break;
    }
    case "ticket":
      upsert(desk.queue, record<QueueEntry>(change), byArrival);
      break;
    case "thread": {
      const t = record<DeskState["threads"][number]>(change);
      const i = desk.threads.findIndex((x) => x.id === t.id);
      if (i >= 0) desk.threads[i] = t;
      else desk.threads.push(t);
      break;
    }
    case "message": {
      const m = record<DeskState["messages"][number]>(change);
      if (desk.messages.some((x) => x.id === m.id)) break;
      let at = desk.messages.length;
      while (at > 0 && byInstant(desk.messages[at - 1]!.created_at, m.created_at) > 0) at -= 1;
      desk.messages.splice(at, 0, m);
      break;
    }
    case "read_marker": {
      const r = record<DeskState["read_markers"][number]>(change);
      const i = desk.read_markers.findIndex((x) => x.thread_id === r.thread_id && x.user_id === r.user_id);
      if (i >= 0) desk.read_markers[i] = r;
      else desk.read_markers.push(r);
      break;
    }
    case "evicted":
      if (change.kind === "appointment") remove(desk.day.appointments, change.id);
      else if (change.kind === "queue") remove(desk.queue, change.id);
      break;
    case "patient": {
      // A corrected name shows wherever the patient is named.
      const p = record<Patient>(change);
      for (const a of desk.day.appointments) {
        if (a.patient.id === p.id) a.patient = { id: p.id, name: p.name, initials: p.initials };
      }
      for (const q of desk.queue) {
        if (q.patient?.id === p.id) {
          q.patient = { id: p.id, name: p.name, initials: p.initials };
          q.initials = p.initials;
        }
      }
      break;
    }
    case "hours": {
      const h = record<ProviderHours>(change);
      const i = desk.hours.findIndex((x) => x.provider_id === h.provider_id);
      if (i < 0) desk.hours.push(h);
      else if (desk.hours[i]!.version <= h.version) desk.hours[i] = h;
      break;
    }
    case "appointment_type":
      upsert(desk.appointment_types, record<AppointmentType>(change), (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      break;
    case "clinic":
      desk.tenant = record<Tenant>(change);
      break;
    case "notification":
    case "nothing":
      break;
  }
}

function putPresence(desk: DeskState, p: Presence): void {
  const i = desk.presence.findIndex((x) => x.user === p.user);
  if (i >= 0) desk.presence[i] = p;
  else desk.presence.push(p);
}

/** Applies an update to `desk` in place and says what, if anything, to read again. */
export function applyUpdate(desk: DeskState, u: Update): FollowUp {
  switch (u.kind) {
    case "applied":
      applyChange(desk, u.change);
      desk.last_seq = u.seq;
      return { read: "nothing" };
    case "presence":
      putPresence(desk, u.presence);
      return { read: "nothing" };
    case "synced":
      desk.synced_at = u.at;
      desk.last_seq = u.seq;
      return { read: "nothing" };
    case "resynced":
    case "day_changed":
      return { read: "desk" };
    case "window_filled":
      return desk.day.day >= u.from && desk.day.day <= u.to ? { read: "day" } : { read: "nothing" };
    case "day_fetched":
      return desk.day.day === u.day ? { read: "day" } : { read: "nothing" };
    case "outbox":
      return { read: "outbox" };
    case "older_messages":
      return { read: "thread", thread: u.thread };
    case "connection":
    case "typing":
    case "notified":
    case "warning":
    case "locked":
    case "unlocked":
      return { read: "nothing" };
  }
}

/** `desk` with one thread's messages replaced by `messages` (read back further). */
export function replaceThread(desk: DeskState, thread: string, messages: DeskState["messages"]): void {
  const others = desk.messages.filter((m) => m.thread_id !== thread);
  desk.messages = [...others, ...messages].sort((a, b) => byInstant(a.created_at, b.created_at));
}
