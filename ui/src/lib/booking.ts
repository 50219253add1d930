// Pure booking logic: free time on the schedule, the booking a form makes,
// and what to offer when the server would not book it. No Svelte, no Tauri:
// tested in booking.test.ts.

import { byId, byInstant } from "./desk";
import type {
  Appointment, AppointmentType, CreateAppointment, DeskAction, NewPatient, OutboxEntry, OutboxProblem, Slot, Source,
  UpdateAppointment,
} from "../types";

/** Free time of one provider: back-to-back slots joined. */
export interface FreeStretch {
  provider_id: string;
  start: string;
  end: string;
  /** The slots it holds, earliest first. */
  slots: Slot[];
}

/** Slots joined into stretches per provider, by start (a schedule shows stretches, not every slot). */
export function freeStretches(slots: Slot[]): FreeStretch[] {
  const sorted = [...slots].sort((a, b) => byId(a.provider_id, b.provider_id) || byInstant(a.start, b.start));
  const out: FreeStretch[] = [];
  for (const s of sorted) {
    const last = out[out.length - 1];
    if (last && last.provider_id === s.provider_id && Date.parse(last.end) === Date.parse(s.start)) {
      last.end = s.end;
      last.slots.push(s);
    } else {
      out.push({ provider_id: s.provider_id, start: s.start, end: s.end, slots: [s] });
    }
  }
  return out.sort((a, b) => byInstant(a.start, b.start) || byId(a.provider_id, b.provider_id));
}

/** One row of a provider's day: an appointment or free time, by start. */
export type ScheduleRow = { kind: "appointment"; appointment: Appointment } | { kind: "free"; free: FreeStretch };

/** A provider's appointments with their free stretches between, by start. */
export function scheduleRows(appointments: Appointment[], free: FreeStretch[], providerId: string): ScheduleRow[] {
  const rows: ScheduleRow[] = [
    ...appointments.filter((a) => a.provider_id === providerId).map((a) => ({ kind: "appointment" as const, appointment: a })),
    ...free.filter((f) => f.provider_id === providerId).map((f) => ({ kind: "free" as const, free: f })),
  ];
  const start = (r: ScheduleRow) => (r.kind === "appointment" ? r.appointment.start : r.free.start);
  return rows.sort((a, b) => byInstant(start(a), start(b)) || (a.kind === b.kind ? 0 : a.kind === "appointment" ? -1 : 1));
}

/** Who a booking is for: someone registered, or a new patient to register with it. */
export type BookingPatient = { id: string; name: string } | { new: NewPatient };

/** What the Book form holds once filled in. */
export interface BookingForm {
  patient: BookingPatient;
  provider_id: string;
  type_id: string | null;
  slot: Slot;
  reason: string;
  /** Book on top of another appointment or outside hours, and why. */
  overbook: string | null;
}

/** The booking the form makes (the slot gives provider, start and end). */
export function bookingBody(f: BookingForm): CreateAppointment {
  const who = "id" in f.patient ? { patient_id: f.patient.id, patient: null } : { patient_id: null, patient: f.patient.new };
  return {
    ...who,
    provider_id: f.slot.provider_id,
    room_id: null,
    start: f.slot.start,
    end: f.slot.end,
    reason: f.reason.trim(),
    ...(f.type_id ? { type_id: f.type_id } : {}),
    ...(f.overbook ? { overbook: true, overbook_reason: f.overbook.trim() } : {}),
  };
}

/** Minutes of a type, or of a plain consultation when none is chosen. */
export function lengthOf(types: AppointmentType[], typeId: string | null, fallback = 20): number {
  return types.find((t) => t.id === typeId)?.minutes ?? fallback;
}

/** `hh:mm` (24-hour, local time) on the day `YYYY-MM-DD`; null when either is not one. */
export function timeOnDay(day: string, hhmm: string): Date | null {
  const d = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  const t = /^([01]?\d|2[0-3]):([0-5]\d)$/.exec(hhmm.trim());
  if (!d || !t) return null;
  const at = new Date(Number(d[1]), Number(d[2]) - 1, Number(d[3]), Number(t[1]), Number(t[2]));
  return at.getDate() === Number(d[3]) ? at : null;
}

/** A slot of `minutes` at `start` (a time picked by hand, to overbook or where no slot is offered). */
export function slotAt(providerId: string, start: Date, minutes: number): Slot {
  return { provider_id: providerId, start: start.toISOString(), end: new Date(start.getTime() + minutes * 60_000).toISOString() };
}

/** A booking the server did not make, and what the desk can do about it. */
export interface BookingProblem {
  n: number;
  body: CreateAppointment;
  kind: string;
  why: string;
  /** The appointment in the way (slot taken). */
  inTheWay: Appointment | null;
  /** Free slots to rebook into (slot taken, outside hours). */
  offered: Slot[];
  /** Registered patients it may be (possible duplicate). */
  candidates: OutboxProblem["candidates"];
}

/** The outbox's bookings that met a problem, oldest first (never dropped: they wait for a choice). */
export function bookingProblems(outbox: OutboxEntry[]): BookingProblem[] {
  return outbox.flatMap((e) => {
    if (e.action.action !== "book" || e.state === "pending") return [];
    const p = e.conflict;
    return [{
      n: e.n,
      body: e.action.body,
      kind: p?.kind ?? "",
      why: e.error ?? "not booked",
      inTheWay: p?.appointment ?? null,
      offered: p?.next_slots ?? [],
      candidates: p?.candidates ?? [],
    }];
  });
}

/** The same booking in another slot (with that slot's provider). */
export function rebookInto(p: BookingProblem, slot: Slot): DeskAction {
  return { action: "book", body: { ...p.body, provider_id: slot.provider_id, start: slot.start, end: slot.end } };
}

/** The same booking for a registered patient (a duplicate the desk recognised). */
export function bookForPatient(p: BookingProblem, patientId: string): DeskAction {
  return { action: "book", body: { ...p.body, patient_id: patientId, patient: null } };
}

/** The same booking, registering the new patient anyway (another person of the same name and birth date). */
export function bookAsNewPerson(p: BookingProblem): DeskAction {
  const patient = p.body.patient ? { ...p.body.patient, confirm_new: true } : null;
  return { action: "book", body: { ...p.body, patient } };
}

/** The same booking at the time asked for, on top of what is there, saying why. */
export function overbookAnyway(p: BookingProblem, reason: string): DeskAction {
  return { action: "book", body: { ...p.body, overbook: true, overbook_reason: reason.trim() } };
}

/**
 * A refused move (the slot was taken, or outside hours) sent again into `slot`; null for any other action.
 * The offered slots are the move's own provider's, so a move to another provider stays with it.
 */
export function moveInto(e: OutboxEntry, slot: Slot): DeskAction | null {
  if (e.action.action !== "update_appointment") return null;
  const body: UpdateAppointment = { ...e.action.body, start: slot.start, end: slot.end };
  if (body.provider_id) body.provider_id = slot.provider_id;
  return { action: "update_appointment", id: e.action.id, body };
}

/** A reschedule into `slot`, at the appointment's version: to the slot's provider when it is another one. */
export function rescheduleInto(a: Appointment, slot: Slot): DeskAction {
  const body: UpdateAppointment = { version: a.version, start: slot.start, end: slot.end };
  if (slot.provider_id !== a.provider_id) body.provider_id = slot.provider_id;
  return { action: "update_appointment", id: a.id, body };
}

/** What a lookup's answer covers, for the line under it (nothing when it is the server's). */
export function sourceNotice(source: Source, what: "patients" | "slots"): string | null {
  if (source === "server") return null;
  return what === "patients"
    ? "Offline: searching only the patients this desk holds"
    : "Offline: free times as this desk last saw them; the clinic confirms when it reconnects";
}

/** The Monday of `day`'s week (local time). */
export function weekStart(day: Date): Date {
  const back = (day.getDay() + 6) % 7;
  return new Date(day.getFullYear(), day.getMonth(), day.getDate() - back);
}

/** `HH:MM` of an instant, local time. */
export function hhmm(iso: string): string {
  const d = new Date(iso);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}
