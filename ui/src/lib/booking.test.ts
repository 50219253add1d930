import { describe, expect, it } from "vitest";
import {
  bookAsNewPerson, bookForPatient, bookingBody, bookingProblems, freeStretches, lengthOf, overbookAnyway, rebookInto,
  moveInto, rescheduleInto,
  scheduleRows, slotAt, sourceNotice, timeOnDay, weekStart,
} from "./booking";
import type { Appointment, OutboxEntry, Slot } from "../types";

const slot = (provider: string, start: string, minutes = 20): Slot => ({
  provider_id: provider,
  start,
  end: new Date(Date.parse(start) + minutes * 60_000).toISOString(),
});
const apt = (id: string, provider: string, start: string): Appointment => ({
  id, patient: { id: `p-${id}`, name: `Patient ${id}`, initials: "P." }, provider_id: provider, room_id: null,
  start, end: new Date(Date.parse(start) + 20 * 60_000).toISOString(), status: "booked", reason: "", version: 3,
  updated_at: start,
});

describe("free time on the schedule", () => {
  it("joins back-to-back slots per provider and keeps gaps apart", () => {
    const free = freeStretches([
      slot("b", "2026-12-02T09:00:00.000Z"),
      slot("a", "2026-12-02T09:20:00.000Z"),
      slot("a", "2026-12-02T09:00:00.000Z"),
      slot("a", "2026-12-02T10:00:00.000Z"),
    ]);
    expect(free.map((f) => [f.provider_id, f.start, f.end, f.slots.length])).toEqual([
      ["a", "2026-12-02T09:00:00.000Z", "2026-12-02T09:40:00.000Z", 2],
      ["b", "2026-12-02T09:00:00.000Z", "2026-12-02T09:20:00.000Z", 1],
      ["a", "2026-12-02T10:00:00.000Z", "2026-12-02T10:20:00.000Z", 1],
    ]);
  });

  it("puts a provider's free stretches between their appointments", () => {
    const free = freeStretches([slot("a", "2026-12-02T09:40:00.000Z"), slot("b", "2026-12-02T08:00:00.000Z")]);
    const rows = scheduleRows([apt("1", "a", "2026-12-02T10:00:00.000Z"), apt("2", "a", "2026-12-02T09:00:00.000Z"), apt("3", "b", "2026-12-02T09:00:00.000Z")], free, "a");
    expect(rows.map((r) => (r.kind === "appointment" ? r.appointment.id : `free ${r.free.start}`))).toEqual([
      "2", "free 2026-12-02T09:40:00.000Z", "1",
    ]);
  });
});

describe("the booking a form makes", () => {
  const s = slot("a", "2026-12-02T09:00:00.000Z", 40);
  it("books a registered patient into the slot, with the type and nothing else unasked", () => {
    expect(bookingBody({ patient: { id: "p1", name: "Ann" }, provider_id: "x", type_id: "t1", slot: s, reason: " Check ", overbook: null })).toEqual({
      patient_id: "p1", patient: null, provider_id: "a", room_id: null, start: s.start, end: s.end, reason: "Check", type_id: "t1",
    });
  });
  it("registers a new patient with it, and overbooks only with a reason", () => {
    const body = bookingBody({ patient: { new: { name: "Bo Lee" } }, provider_id: "a", type_id: null, slot: s, reason: "", overbook: " Urgent " });
    expect(body.patient_id).toBeNull();
    expect(body.patient).toEqual({ name: "Bo Lee" });
    expect([body.overbook, body.overbook_reason, body.type_id]).toEqual([true, "Urgent", undefined]);
  });
  it("takes a type's length, a plain consultation otherwise", () => {
    const types = [{ id: "t1", name: "Long", minutes: 40, active: true, version: 1 }];
    expect(lengthOf(types, "t1")).toBe(40);
    expect(lengthOf(types, null)).toBe(20);
    expect(slotAt("a", new Date("2026-12-02T09:00:00.000Z"), 15).end).toBe("2026-12-02T09:15:00.000Z");
  });
});

describe("a booking the server would not make", () => {
  const body = bookingBody({ patient: { new: { name: "Bo Lee", birth_date: "1980-03-12" } }, provider_id: "a", type_id: null, slot: slot("a", "2026-12-02T10:00:00.000Z"), reason: "Cough", overbook: null });
  const entry = (n: number, state: OutboxEntry["state"], conflict: OutboxEntry["conflict"]): OutboxEntry => ({
    n, key: `k${n}`, action: { action: "book", body }, subject_kind: "provider", subject_id: "a", state, attempts: 1,
    created_at: "", error: "slot taken", conflict,
  });
  const taken = entry(2, "conflict", {
    kind: "slot-taken", mine: body, appointment: apt("9", "a", "2026-12-02T10:10:00.000Z"),
    next_slots: [slot("a", "2026-12-02T10:30:00.000Z"), slot("a", "2026-12-02T10:50:00.000Z"), slot("a", "2026-12-02T11:10:00.000Z")],
    candidates: [],
  });

  it("is kept with what was in the way and the slots offered; pending ones are not problems", () => {
    const problems = bookingProblems([entry(1, "pending", null), taken]);
    expect(problems).toHaveLength(1);
    expect(problems[0]!.n).toBe(2);
    expect(problems[0]!.inTheWay?.id).toBe("9");
    expect(problems[0]!.offered.map((s) => s.start)).toEqual(["2026-12-02T10:30:00.000Z", "2026-12-02T10:50:00.000Z", "2026-12-02T11:10:00.000Z"]);
  });

  it("can be rebooked into an offered slot, keeping everything else", () => {
    const p = bookingProblems([taken])[0]!;
    const again = rebookInto(p, p.offered[1]!);
    expect(again).toEqual({ action: "book", body: { ...body, start: "2026-12-02T10:50:00.000Z", end: "2026-12-02T11:10:00.000Z" } });
  });

  it("can be overbooked at the time asked for, with a reason", () => {
    const p = bookingProblems([taken])[0]!;
    const over = overbookAnyway(p, " Same family ");
    expect(over).toEqual({ action: "book", body: { ...body, overbook: true, overbook_reason: "Same family" } });
  });

  it("resolves a possible duplicate either way", () => {
    const dup = entry(3, "conflict", { kind: "possible-duplicate", mine: body, next_slots: [], candidates: [{ id: "p7", name: "Bo Lee", initials: "B.L.", birth_date: "1980-03-12", phone: null, version: 1 }] });
    const p = bookingProblems([dup])[0]!;
    expect(p.candidates[0]!.id).toBe("p7");
    const same = bookForPatient(p, "p7");
    expect(same.action === "book" && [same.body.patient_id, same.body.patient]).toEqual(["p7", null]);
    const other = bookAsNewPerson(p);
    expect(other.action === "book" && other.body.patient?.confirm_new).toBe(true);
  });

  it("sends a refused move again into an offered slot, and nothing else", () => {
    const move: OutboxEntry = {
      ...taken, action: { action: "update_appointment", id: "a1", body: { version: 4, start: "2026-12-02T10:00:00.000Z", end: "2026-12-02T10:20:00.000Z" } },
    };
    expect(moveInto(move, taken.conflict!.next_slots[0]!)).toEqual({
      action: "update_appointment", id: "a1", body: { version: 4, start: "2026-12-02T10:30:00.000Z", end: "2026-12-02T10:50:00.000Z" },
    });
    expect(moveInto(taken, taken.conflict!.next_slots[0]!)).toBeNull();
  });

  it("reschedules into a slot at the appointment's version", () => {
    expect(rescheduleInto(apt("1", "a", "2026-12-02T09:00:00.000Z"), slot("a", "2026-12-03T09:00:00.000Z"))).toEqual({
      action: "update_appointment", id: "1", body: { version: 3, start: "2026-12-03T09:00:00.000Z", end: "2026-12-03T09:20:00.000Z" },
    });
  });

  it("moves it to the provider of a slot picked from another provider", () => {
    const a = apt("1", "a", "2026-12-02T09:00:00.000Z");
    const other = slot("b", "2026-12-03T11:00:00.000Z");
    const action = rescheduleInto(a, other);
    expect(action).toEqual({
      action: "update_appointment", id: "1",
      body: { version: 3, provider_id: "b", start: "2026-12-03T11:00:00.000Z", end: "2026-12-03T11:20:00.000Z" },
    });
    // Refused there, it is resent into one of that provider's offered slots, still to that provider.
    const refused: OutboxEntry = { ...taken, action };
    const offered = slot("b", "2026-12-03T11:40:00.000Z");
    expect(moveInto(refused, offered)).toEqual({
      action: "update_appointment", id: "1",
      body: { version: 3, provider_id: "b", start: "2026-12-03T11:40:00.000Z", end: "2026-12-03T12:00:00.000Z" },
    });
  });
});

describe("a time picked by hand", () => {
  it("is a local time of day on the day", () => {
    expect(timeOnDay("2026-11-22", "14:05")!.toISOString()).toBe(new Date(2026, 10, 22, 14, 5).toISOString());
    expect(timeOnDay("2026-11-22", " 7:30")!.getHours()).toBe(7);
  });
  it("refuses what is not a time of day or not a day", () => {
    for (const bad of ["", "24:00", "9", "12:60", "noon", "12:5"]) expect(timeOnDay("2026-11-22", bad)).toBeNull();
    expect(timeOnDay("2026-02-30", "10:00")).toBeNull();
    expect(timeOnDay("soon", "10:00")).toBeNull();
  });
});

describe("around the booking", () => {
  it("says when an answer covers only this desk", () => {
    expect(sourceNotice("server", "patients")).toBeNull();
    expect(sourceNotice("cache", "patients")).toMatch(/only the patients this desk holds/);
    expect(sourceNotice("cache", "slots")).toMatch(/Offline/);
  });
  it("finds the Monday of a week", () => {
    expect(weekStart(new Date(2026, 11, 6)).getDate()).toBe(30); // Sunday 6 Dec → Monday 30 Nov
    expect(weekStart(new Date(2026, 11, 1)).getDate()).toBe(30);
    expect(weekStart(new Date(2026, 10, 30)).getDate()).toBe(30);
  });
});
