import { afterEach, describe, expect, it } from "vitest";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { App } from "./app.svelte";
import type { Appointment, DayView, DeskState } from "../types";

afterEach(() => clearMocks());

const day = (d: string, appointments: Appointment[] = []): DayView => ({
  day: d, start: `${d}T00:00:00Z`, end: `${d}T23:59:59.999Z`, held: { kind: "window" }, appointments,
});
const desk = (d = "2026-12-01", appointments: Appointment[] = []): DeskState => ({
  me: null, tenant: null, users: [], providers: [], rooms: [], hours: [], appointment_types: [], day: day(d, appointments), queue: [], threads: [],
  messages: [], read_markers: [], presence: [], outbox: [], last_seq: 1, synced_at: null,
});
const apt = (id: string, start: string, version = 1): Appointment => ({
  id, patient: { id: `pat_${id}`, name: `Patient ${id}`, initials: "P." }, provider_id: "p1", room_id: null,
  start, end: start, status: "booked", reason: "", version, updated_at: start,
});
const settle = () => new Promise((r) => setTimeout(r, 10));

describe("App", () => {
  it("follows connection and typing, and applies events without reading the cache again", async () => {
    const calls: string[] = [];
    mockIPC((cmd) => {
      calls.push(cmd);
      return cmd === "desk_state" ? desk() : null;
    });
    const app = new App();
    app.shownDay = "2026-12-01";
    await app.refresh();
    app.onUpdate({ kind: "connection", state: "live", detail: "live" });
    expect(app.connection).toBe("live");
    app.onUpdate({ kind: "typing", thread: "t", user: "u1", typing: true });
    app.onUpdate({ kind: "typing", thread: "t", user: "u2", typing: true });
    app.onUpdate({ kind: "typing", thread: "t", user: "u1", typing: false });
    expect(app.typing["t"]).toEqual(["u2"]);
    for (let seq = 2; seq < 200; seq += 1) {
      const change = { record: "appointment" as const, ...apt(`a${seq}`, "2026-12-01T09:00:00Z") };
      app.onUpdate({ kind: "applied", seq, event_type: "appointment.created", actor: "u", at: "", change });
    }
    await settle();
    expect(app.desk.day.appointments.length).toBe(198);
    expect(app.desk.last_seq).toBe(199);
    expect(calls, "one read at first paint, none per event").toEqual(["desk_state"]);
  });

  it("keeps events that arrive during a read and applies them after it", async () => {
    let answer: (d: DeskState) => void = () => undefined;
    mockIPC((cmd) => (cmd === "desk_state" ? new Promise<DeskState>((r) => (answer = r)) : null));
    const app = new App();
    app.shownDay = "2026-12-01";
    const reading = app.refresh();
    // Applied by the engine after the shell read the cache, before the answer.
    const change = { record: "appointment" as const, ...apt("late", "2026-12-01T10:00:00Z") };
    app.onUpdate({ kind: "applied", seq: 2, event_type: "appointment.created", actor: "u", at: "", change });
    await settle();
    answer(desk("2026-12-01", [apt("early", "2026-12-01T09:00:00Z")]));
    await reading;
    expect(app.desk.day.appointments.map((a) => a.id)).toEqual(["early", "late"]);
    await new Promise((r) => setTimeout(r, 50)); // its first-paint report, before the next test's mocks
  });

  it("reads only the day it moves to, and follows a day fetched on demand", async () => {
    const calls: [string, unknown][] = [];
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      if (cmd === "day_view") return { ...day("2027-03-01"), held: { kind: "not_held" } };
      return null;
    });
    const app = new App();
    app.desk = desk();
    await app.showDay("2027-03-01");
    expect(calls).toEqual([["day_view", { day: "2027-03-01" }]]);
    expect(app.desk.day.held.kind).toBe("not_held");
    app.onUpdate({ kind: "connection", state: "live", detail: "live" });
    app.onUpdate({ kind: "day_fetched", day: "2027-03-01", at: "2026-12-01T09:42:00Z" });
    expect(app.liveDay).toBe("2027-03-01");
    await settle();
    expect(calls.length, "the fetched day read again").toBe(2);
    app.onUpdate({ kind: "connection", state: "reconnecting", detail: "lost" });
    expect(app.liveDay, "offline it is as of its fetch").toBeNull();
  });

  it("knows which threads have been read back to their start, and reads only that thread", async () => {
    const calls: string[] = [];
    mockIPC((cmd) => {
      calls.push(cmd);
      return cmd === "thread_messages" ? [] : null;
    });
    const app = new App();
    app.desk = desk();
    app.onUpdate({ kind: "older_messages", thread: "t1", count: 50, more: true });
    expect(app.threadStart["t1"]).toBe(false);
    app.onUpdate({ kind: "older_messages", thread: "t1", count: 12, more: false });
    expect(app.threadStart["t1"], "nothing older to load").toBe(true);
    await settle();
    expect(calls).toEqual(["thread_messages", "thread_messages"]);
  });

  it("reports activity to the engine, at most every 30 seconds", () => {
    const seen: number[] = [];
    mockIPC((cmd) => {
      if (cmd === "activity") seen.push(1);
      return null;
    });
    const app = new App();
    app.noteActivity(0);
    expect(seen.length, "nobody signed in yet").toBe(0);
    app.startup = { server: "s", tenant: "t", username: "u", signed_in: true, window: "desk", warnings: [], locked: null, name: null };
    app.noteActivity(1_000);
    app.noteActivity(20_000);
    app.noteActivity(31_500);
    expect(seen.length).toBe(2);
  });

  it("reports the first painted schedule once, not an empty desk", async () => {
    let appointments: Appointment[] = [];
    let painted = 0;
    mockIPC((cmd) => {
      if (cmd === "startup_painted") painted += 1;
      if (cmd === "desk_state") return desk("2026-12-01", appointments);
      return null;
    });
    const app = new App();
    await app.refresh();
    expect(painted).toBe(0);
    appointments = [apt("a", "2026-12-01T09:00:00Z")];
    await app.refresh();
    await app.refresh();
    await new Promise((r) => setTimeout(r, 50));
    expect(painted).toBe(1);
  });

  it("applies a batch in order, and reads the desk again when updates were lost", async () => {
    let reads = 0;
    mockIPC((cmd) => {
      if (cmd === "desk_state") reads += 1;
      return cmd === "desk_state" ? desk() : null;
    });
    const app = new App();
    app.desk = desk();
    const change = (id: string, version: number) => ({ record: "appointment" as const, ...apt(id, "2026-12-01T09:00:00Z", version) });
    app.onBatch({
      updates: [
        { kind: "applied", seq: 2, event_type: "appointment.created", actor: "u", at: "", change: change("a", 1) },
        { kind: "applied", seq: 3, event_type: "appointment.updated", actor: "u", at: "", change: change("a", 2) },
      ],
      missed: false,
    });
    expect(app.desk.day.appointments.map((a) => a.version)).toEqual([2]);
    expect(reads).toBe(0);
    app.onBatch({ updates: [], missed: true });
    await settle();
    expect(reads, "read again after a loss").toBe(1);
  });

  it("goes to sign-in when the session dies", () => {
    const app = new App();
    app.startup = { server: "s", tenant: "t", username: "u", signed_in: true, window: "desk", warnings: [], locked: null, name: null };
    app.onUpdate({ kind: "connection", state: "signed_out", detail: "signed out" });
    expect(app.startup.signed_in).toBe(false);
  });
  it("drops the desk when locked, reads nothing while locked, and reads it again at unlock", async () => {
    const calls: string[] = [];
    mockIPC((cmd) => {
      calls.push(cmd);
      return cmd === "desk_state" ? desk("2026-12-01", [apt("a1", "2026-12-01T09:00:00Z")]) : null;
    });
    const app = new App();
    app.shownDay = "2026-12-01";
    await app.refresh();
    expect(app.desk.day.appointments.length).toBe(1);
    app.onUpdate({ kind: "locked", reason: "idle" });
    expect(app.locked).toBe("idle");
    expect(app.desk.day.appointments, "nothing of patients stays in the window").toEqual([]);
    const change = { record: "appointment" as const, ...apt("a2", "2026-12-01T10:00:00Z") };
    app.onUpdate({ kind: "applied", seq: 2, event_type: "appointment.created", actor: "u", at: "", change });
    app.onUpdate({ kind: "connection", state: "offline", detail: "" });
    expect(app.connection, "the lock screen still shows the connection").toBe("offline");
    expect(app.desk.day.appointments).toEqual([]);
    await settle();
    expect(calls).toEqual(["desk_state"]);
    app.onUpdate({ kind: "unlocked" });
    await settle();
    expect(app.locked).toBeNull();
    expect(calls).toEqual(["desk_state", "desk_state"]);
    expect(app.desk.day.appointments.length).toBe(1);
    await new Promise((r) => setTimeout(r, 50));
  });

  it("keeps a read that lands after the lock out of the window", async () => {
    let answer: (d: DeskState) => void = () => undefined;
    mockIPC((cmd) => (cmd === "desk_state" ? new Promise<DeskState>((r) => (answer = r)) : null));
    const app = new App();
    app.shownDay = "2026-12-01";
    const reading = app.refresh();
    app.onUpdate({ kind: "locked", reason: "asked" });
    answer(desk("2026-12-01", [apt("a1", "2026-12-01T09:00:00Z")]));
    await reading;
    expect(app.desk.day.appointments).toEqual([]);
  });
});
