// Pure logic of the admin view: what an access-report row says, the forms'
// checks before anything is sent (the server checks again), and the
// clinic's settings in the units people think in. No Svelte, no Tauri:
// tested in admin.test.ts.

import type { AuditRow, Display, NewStaff, Provider, StaffAccount, Tenant, UpdateClinic, User } from "../types";

/** Shortest password the server accepts for an account. */
export const PASSWORD_MIN_CHARS = 10;

const HOW: Record<string, string> = {
  snapshot: "in a desk's download",
  day_fetch: "in a day's schedule",
  replay: "in a desk's catching up",
  record_opened: "record opened",
  on_screen: "on screen",
  changed: "changed",
};

/** One access-report row as a privacy officer reads it. */
export interface AccessLine {
  seq: number;
  at: string;
  who: string;
  how: string;
  from: string;
  detail: string;
}

/** The rows of a patient's access report, newest first, with names for ids. */
export function accessLines(rows: AuditRow[], users: Pick<User, "id" | "name">[]): AccessLine[] {
  const names = new Map(users.map((u) => [u.id, u.name]));
  return [...rows]
    .sort((a, b) => b.seq - a.seq)
    .map((r) => ({
      seq: r.seq,
      at: r.at,
      who: names.get(r.user_id) ?? r.user_id,
      how: HOW[r.access] ?? r.access,
      from: r.address ?? "unknown address",
      detail: r.detail,
    }));
}

/** Why a new account cannot be sent yet, or null. */
export function newStaffProblem(s: NewStaff, existing: Pick<StaffAccount, "username">[]): string | null {
  if (!/^[a-z0-9._-]{2,32}$/.test(s.username)) return "A user name is 2 to 32 lower-case letters, digits, dots, dashes or underscores.";
  if (existing.some((a) => a.username === s.username)) return `${s.username} is taken.`;
  if (s.name.trim() === "") return "Give the person's name.";
  if (s.password.length < PASSWORD_MIN_CHARS) return `A password has at least ${PASSWORD_MIN_CHARS} characters.`;
  return null;
}

/** The clinic's settings as the form edits them (the lock in minutes). */
export interface ClinicForm {
  name: string;
  lockMinutes: number;
  daysBack: number;
  daysAhead: number;
}

export function clinicForm(t: Tenant): ClinicForm {
  return { name: t.name, lockMinutes: Math.round(t.lock_after_seconds / 60), daysBack: t.window_days_back, daysAhead: t.window_days_ahead };
}

/** What changed in the form, as the PATCH body (empty: nothing to send), or a problem. */
export function clinicChange(t: Tenant, f: ClinicForm): UpdateClinic | string {
  if (!Number.isInteger(f.lockMinutes) || f.lockMinutes < 1 || f.lockMinutes > 60) return "Lock after 1 to 60 minutes.";
  if (!Number.isInteger(f.daysBack) || f.daysBack < 0 || f.daysBack > 90) return "Keep 0 to 90 days before today.";
  if (!Number.isInteger(f.daysAhead) || f.daysAhead < 1 || f.daysAhead > 365) return "Keep 1 to 365 days after today.";
  const change: UpdateClinic = {};
  if (f.name.trim() !== t.name) change.name = f.name.trim();
  if (f.lockMinutes * 60 !== t.lock_after_seconds) change.lock_after_seconds = f.lockMinutes * 60;
  if (f.daysBack !== t.window_days_back) change.window_days_back = f.daysBack;
  if (f.daysAhead !== t.window_days_ahead) change.window_days_ahead = f.daysAhead;
  return change;
}

/** Whose tickets a board shows, in words. */
export function boardShows(d: Display, providers: Pick<Provider, "id" | "name">[]): string {
  if (d.provider_ids.length === 0) return "the whole clinic";
  const names = new Map(providers.map((p) => [p.id, p.name]));
  return d.provider_ids.map((id) => names.get(id) ?? id).join(", ");
}
