import { describe, expect, it } from "vitest";
import { applyChange, applyUpdate, replaceThread } from "./deltas";
import type { Appointment, DeskState, Message, QueueEntry } from "../types";

const desk = (): DeskState => ({
  me: null, tenant: null, users: [], providers: [], rooms: [], hours: [], appointment_types: [],
  day: { day: "2026-12-01", start: "2026-11-30T23:00:00Z", end: "2026-12-01T23:00:00Z", held: { kind: "window" }, appointments: [] },
  queue: [], threads: [], messages: [], read_markers: [], presence: [], outbox: [], last_seq: 1, synced_at: null,
});
const apt = (id: string, start: string, version = 1): Appointment => ({
  id, patient: { id: `pat_${id}`, name: `Patient ${id}`, initials: "P." }, provider_id: "p1", room_id: null,
  start, end: start, status: "booked", reason: "", version, updated_at: start,
});
const ticket = (id: string, version: number, status: QueueEntry["status"] = "waiting"): QueueEntry => ({
  id, ticket: "A-001", provider_id: "p1", room_id: null, initials: "P.", appointment_id: null, status, priority: 0,
  arrived_at: "2026-12-01T09:00:00Z", called_at: null, version, updated_at: "2026-12-01T09:00:00Z",
});
const msg = (id: string, at: string, thread = "t1"): Message => ({
  id, thread_id: thread, client_id: id, author_id: "u2", body: id, urgent: false, created_at: at,
});
const ids = (list: { id: string }[]) => list.map((x) => x.id);

describe("applying changes", () => {
  it("shows a corrected patient's name wherever they are named, and keeps the newest hours and types", () => {
    const d = desk();
    applyChange(d, { record: "appointment", ...apt("a", "2026-12-01T09:00:00Z") });
    applyChange(d, { record: "ticket", ...ticket("q1", 1), patient: { id: "pat_a", name: "Patient a", initials: "P." } });
    applyChange(d, { record: "patient", id: "pat_a", name: "Ana Souza", initials: "A.S.", birth_date: null, phone: null, version: 2 });
    expect(d.day.appointments[0]!.patient.name).toBe("Ana Souza");
    expect([d.queue[0]!.patient?.name, d.queue[0]!.initials]).toEqual(["Ana Souza", "A.S."]);
    const hours = (version: number) => ({ record: "hours" as const, provider_id: "p1", weekly: [], exceptions: [], version });
    applyChange(d, hours(3));
    applyChange(d, hours(2));
    expect(d.hours.map((h) => h.version)).toEqual([3]);
    applyChange(d, { record: "appointment_type", id: "t2", name: "Vaccination", minutes: 10, active: true, version: 1 });
    applyChange(d, { record: "appointment_type", id: "t1", name: "Consultation", minutes: 20, active: true, version: 1 });
    applyChange(d, { record: "appointment_type", id: "t1", name: "Consultation", minutes: 30, active: true, version: 2 });
    expect(d.appointment_types.map((t) => [t.name, t.minutes])).toEqual([["Consultation", 30], ["Vaccination", 10]]);
  });


  it("puts an appointment on the day it starts, in time order, and takes it off when it moves away", () => {
    const d = desk();
    applyChange(d, { record: "appointment", ...apt("b", "2026-12-01T10:00:00Z") });
    applyChange(d, { record: "appointment", ...apt("a", "2026-12-01T09:00:00Z") });
    // 23:30 UTC on the 1st is the 2nd in the clinic's zone: not this day.
    applyChange(d, { record: "appointment", ...apt("c", "2026-12-01T23:30:00Z") });
    expect(ids(d.day.appointments)).toEqual(["a", "b"]);
    applyChange(d, { record: "appointment", ...apt("a", "2026-12-01T11:00:00Z", 2) });
    expect(ids(d.day.appointments), "moved later the same day").toEqual(["b", "a"]);
    applyChange(d, { record: "appointment", ...apt("b", "2026-12-03T10:00:00Z", 2) });
    expect(ids(d.day.appointments), "moved to another day").toEqual(["a"]);
  });

  it("never lets an older version replace a newer one, and applying twice changes nothing", () => {
    const d = desk();
    applyChange(d, { record: "ticket", ...ticket("q1", 3, "called") });
    applyChange(d, { record: "ticket", ...ticket("q1", 2, "waiting") });
    expect(d.queue[0]!.status).toBe("called");
    applyChange(d, { record: "ticket", ...ticket("q1", 3, "called") });
    expect(d.queue.length).toBe(1);
    applyChange(d, { record: "message", ...msg("m1", "2026-12-01T09:00:00Z") });
    applyChange(d, { record: "message", ...msg("m1", "2026-12-01T09:00:00Z") });
    expect(d.messages.length).toBe(1);
  });

  it("deletes what left the desk's scope", () => {
    const d = desk();
    applyChange(d, { record: "appointment", ...apt("a", "2026-12-01T09:00:00Z") });
    applyChange(d, { record: "ticket", ...ticket("q1", 1) });
    applyChange(d, { record: "evicted", kind: "appointment", id: "a" });
    applyChange(d, { record: "evicted", kind: "queue", id: "q1" });
    expect(d.day.appointments).toEqual([]);
    expect(d.queue).toEqual([]);
  });

  it("keeps messages in time order, read markers one per reader, threads by id", () => {
    const d = desk();
    applyChange(d, { record: "message", ...msg("m2", "2026-12-01T09:02:00Z") });
    applyChange(d, { record: "message", ...msg("m1", "2026-12-01T09:01:00Z") });
    expect(ids(d.messages)).toEqual(["m1", "m2"]);
    const marker = { thread_id: "t1", user_id: "u1", message_id: "m1", at: "" };
    applyChange(d, { record: "read_marker", ...marker });
    applyChange(d, { record: "read_marker", ...marker, message_id: "m2" });
    expect(d.read_markers).toEqual([{ ...marker, message_id: "m2" }]);
    const thread = { id: "t1", title: "Front desk", members: ["u1"], created_at: "" };
    applyChange(d, { record: "thread", ...thread });
    applyChange(d, { record: "thread", ...thread, title: "Desk" });
    expect(d.threads.map((t) => t.title)).toEqual(["Desk"]);
    replaceThread(d, "t1", [msg("m0", "2026-12-01T08:00:00Z"), ...d.messages]);
    expect(ids(d.messages), "read back further").toEqual(["m0", "m1", "m2"]);
  });

  it("touches only the record a change names", () => {
    const d = desk();
    for (let i = 0; i < 500; i += 1) applyChange(d, { record: "message", ...msg(`m${i}`, `2026-12-01T09:00:00.${String(i).padStart(3, "0")}Z`) });
    const before = d.messages[0];
    applyChange(d, { record: "message", ...msg("new", "2026-12-01T10:00:00Z") });
    expect(d.messages[0], "the others are the same objects").toBe(before);
    expect(d.messages.at(-1)!.id).toBe("new");
  });
});

describe("updates", () => {
  it("say what to read again: the desk after a snapshot, the day when its days came in, the outbox, a thread", () => {
    const d = desk();
    expect(applyUpdate(d, { kind: "resynced", seq: 9 })).toEqual({ read: "desk" });
    expect(applyUpdate(d, { kind: "day_changed", day: "2026-12-02" })).toEqual({ read: "desk" });
    expect(applyUpdate(d, { kind: "window_filled", from: "2026-11-24", to: "2026-12-31" })).toEqual({ read: "day" });
    expect(applyUpdate(d, { kind: "window_filled", from: "2026-12-02", to: "2026-12-31" })).toEqual({ read: "nothing" });
    expect(applyUpdate(d, { kind: "day_fetched", day: "2026-12-01", at: "" })).toEqual({ read: "day" });
    expect(applyUpdate(d, { kind: "day_fetched", day: "2027-01-09", at: "" })).toEqual({ read: "nothing" });
    expect(applyUpdate(d, { kind: "outbox", pending: 1, problems: 0 })).toEqual({ read: "outbox" });
    expect(applyUpdate(d, { kind: "older_messages", thread: "t1", count: 3, more: false })).toEqual({ read: "thread", thread: "t1" });
    expect(applyUpdate(d, { kind: "synced", seq: 12, at: "2026-12-01T09:42:00Z" })).toEqual({ read: "nothing" });
    expect(d.synced_at).toBe("2026-12-01T09:42:00Z");
    expect(d.last_seq).toBe(12);
    applyUpdate(d, { kind: "presence", presence: { user: "u2", state: "away", viewing: null } });
    applyUpdate(d, { kind: "presence", presence: { user: "u2", state: "online", viewing: "pat_a" } });
    expect(d.presence).toEqual([{ user: "u2", state: "online", viewing: "pat_a" }]);
  });
});
