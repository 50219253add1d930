import { describe, expect, it } from "vitest";
import type { Appointment, DayView, Message, OutboxEntry, QueueEntry } from "../types";
import {
  alsoViewing,
  arrivals,
  asOf,
  dayLabel,
  dayNotice,
  estimatedWaitMinutes,
  fromIsoDay,
  isoDay,
  outboxFor,
  pendingCount,
  queueFor,
  scheduleByProvider,
  shiftDay,
  staffPresence,
  unreadCount,
} from "./desk";

const q = (id: string, status: QueueEntry["status"], priority = 0, arrived = "09:00", provider = "p1"): QueueEntry => ({
  id, ticket: id.toUpperCase(), provider_id: provider, room_id: null, initials: "M.K.", appointment_id: null,
  status, priority, arrived_at: `2026-11-22T${arrived}:00.000Z`, called_at: null, version: 1, updated_at: "2026-11-22T09:00:00.000Z",
});

describe("queue", () => {
  it("orders by service, then priority, then arrival, and drops finished tickets", () => {
    const queue = [q("a", "waiting", 0, "09:00"), q("b", "waiting", 5, "09:10"), q("c", "called"), q("d", "done"), q("e", "waiting", 0, "08:50"), q("x", "waiting", 9, "08:00", "p2")];
    expect(queueFor(queue, "p1").map((e) => e.id)).toEqual(["c", "b", "e", "a"]);
  });

  it("estimates waits from the tickets ahead", () => {
    const queue = [q("c", "in_service"), q("a", "waiting", 0, "09:00"), q("b", "waiting", 0, "09:05")];
    expect(estimatedWaitMinutes(queue, queue[1]!)).toBe(15);
    expect(estimatedWaitMinutes(queue, queue[2]!)).toBe(30);
    expect(estimatedWaitMinutes([q("z", "waiting")], q("z", "waiting"))).toBe(0);
  });
});

describe("schedule", () => {
  it("groups the day's appointments by provider in time order", () => {
    const a = (id: string, start: string, provider: string): Appointment => ({
      id, patient: { id: "p", name: "P", initials: "P." }, provider_id: provider, room_id: null,
      start, end: start, status: "booked", reason: "", version: 1, updated_at: start,
    });
    const s = scheduleByProvider([a("2", "2026-11-22T10:00:00Z", "p1"), a("1", "2026-11-22T09:00:00.5Z", "p1"), a("4", "2026-11-22T09:30:00Z", "p2")]);
    expect(s.get("p1")!.map((x) => x.id), "by time, whatever the precision").toEqual(["1", "2"]);
    expect(s.get("p2")!.map((x) => x.id)).toEqual(["4"]);
  });
});

describe("messages", () => {
  const m = (id: string, author: string, at: string): Message => ({ id, thread_id: "t", client_id: id, author_id: author, body: "", urgent: false, created_at: at });
  const msgs = [m("1", "other", "2026-11-22T09:00:00Z"), m("2", "me", "2026-11-22T09:01:00Z"), m("3", "other", "2026-11-22T09:02:00Z")];
  it("counts unread messages from others after my marker", () => {
    expect(unreadCount(msgs, [], "t", "me")).toBe(2);
    expect(unreadCount(msgs, [{ thread_id: "t", user_id: "me", message_id: "1", at: "" }], "t", "me")).toBe(1);
    expect(unreadCount(msgs, [{ thread_id: "t", user_id: "me", message_id: "3", at: "" }], "t", "me")).toBe(0);
  });
});

describe("presence and outbox", () => {
  it("warns about others viewing the same patient", () => {
    const state = {
      users: [{ id: "u2", username: "doctor", name: "Dr. Elena Morales", role: "doctor" as const }],
      presence: [
        { user: "u2", state: "online" as const, viewing: "pat1" },
        { user: "me", state: "online" as const, viewing: "pat1" },
        { user: "u3", state: "offline" as const, viewing: "pat1" },
      ],
    };
    expect(alsoViewing(state, "pat1", "me")).toEqual(["Dr. Elena Morales"]);
    expect(alsoViewing(state, "pat2", "me")).toEqual([]);
  });

  it("finds pending and conflicting actions by record", () => {
    const e = (n: number, state: OutboxEntry["state"], id: string): OutboxEntry => ({
      n, key: `k${n}`, action: { action: "check_in", appointment_id: id, priority: 0 }, subject_kind: "appointment", subject_id: id, state, attempts: 0, created_at: "", error: null, conflict: null,
    });
    const outbox = [e(1, "pending", "a1"), e(2, "conflict", "a1"), e(3, "pending", "a2")];
    expect(outboxFor(outbox, "appointment", "a1").map((x) => x.n)).toEqual([1, 2]);
    expect(pendingCount(outbox)).toBe(2);
  });

  it("says how old the cached day is", () => {
    expect(asOf(null)).toBe("never synced");
    const d = new Date(2026, 10, 22, 9, 42);
    expect(asOf(d.toISOString())).toBe("as of 09:42");
  });
});

describe("doctor view", () => {
  it("lists my waiting patients, newest arrival first, and nobody else's", () => {
    const queue = [q("a", "waiting", 0, "09:00"), q("b", "waiting", 0, "09:10"), q("c", "called"), q("x", "waiting", 0, "09:20", "p2")];
    expect(arrivals(queue, ["p1"]).map((e) => e.id)).toEqual(["b", "a"]);
    expect(arrivals(queue, [])).toEqual([]);
  });
});


describe("presence", () => {
  it("lists other staff, online first, then by name; the unknown are offline; displays are not staff", () => {
    const users = [
      { id: "me", username: "me", name: "Me", role: "receptionist" as const },
      { id: "d1", username: "d1", name: "Dr. Zed", role: "doctor" as const },
      { id: "d2", username: "d2", name: "Dr. Amy", role: "doctor" as const },
      { id: "r", username: "r", name: "Bea", role: "receptionist" as const },
      { id: "s", username: "s", name: "Lobby", role: "display" as const },
    ];
    const presence = [
      { user: "d1", state: "online" as const, viewing: null },
      { user: "r", state: "dnd" as const, viewing: null },
      { user: "me", state: "online" as const, viewing: null },
    ];
    expect(staffPresence({ users, presence }, "me")).toEqual([
      { id: "d1", name: "Dr. Zed", state: "online" },
      { id: "r", name: "Bea", state: "dnd" },
      { id: "d2", name: "Dr. Amy", state: "offline" },
    ]);
  });
});

describe("date bar", () => {
  it("moves by calendar days and names them from today", () => {
    const today = new Date(2026, 10, 22, 15, 30);
    expect(isoDay(shiftDay(today, 1))).toBe("2026-11-23");
    expect(isoDay(shiftDay(today, -22))).toBe("2026-10-31");
    expect(isoDay(shiftDay(new Date(2026, 11, 31), 1))).toBe("2027-01-01");
    expect(dayLabel(today, today)).toBe("Today");
    expect(dayLabel(shiftDay(today, 1), today)).toBe("Tomorrow");
    expect(dayLabel(shiftDay(today, -1), today)).toBe("Yesterday");
    expect(dayLabel(shiftDay(today, 3), today)).toContain("2026");
  });

  it("reads the picker's day and refuses what is not one", () => {
    expect(isoDay(fromIsoDay("2026-03-29")!)).toBe("2026-03-29");
    expect(fromIsoDay("2026-02-30")).toBeNull();
    expect(fromIsoDay("yesterday")).toBeNull();
  });

  it("says how current the day on screen is", () => {
    const view = (held: DayView["held"]): DayView => ({ day: "2027-03-01", start: "", end: "", held, appointments: [] });
    expect(dayNotice(view({ kind: "window" }), "offline", null), "the window: the badge says it").toBeNull();
    const fetched = view({ kind: "fetched", at: new Date(2026, 11, 1, 9, 42).toISOString() });
    expect(dayNotice(fetched, "live", "2027-03-01"), "kept live").toBeNull();
    expect(dayNotice(fetched, "reconnecting", null)).toBe("Not live: as of 09:42");
    expect(dayNotice(fetched, "live", null), "live, but not yet fetched again").toBe("Not live: as of 09:42");
    expect(dayNotice(view({ kind: "not_held" }), "offline", null)).toBe("This day is not available offline");
    expect(dayNotice(view({ kind: "not_held" }), "live", null)).toBe("Loading this day…");
    const asked = view({ kind: "asked", at: new Date(2026, 11, 1, 9, 42).toISOString() });
    expect(dayNotice(asked, "live", null), "just read from the clinic").toBeNull();
    expect(dayNotice(asked, "offline", null)).toBe("Not live: as of 09:42");
  });
});
