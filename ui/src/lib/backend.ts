// The only module that talks to Tauri: typed commands and the update stream.
// Views and logic import from here, never from @tauri-apps/api directly.

import { Channel, invoke } from "@tauri-apps/api/core";
import type {
  AuditRow, BoardUpdate, CommandError, DayView, DeskAction, DeskState, Display, DisplaySetup, DisplayStatus, FreeSlots, Message,
  NewPatient, NewStaff, OutboxEntry, PatientMatches, PatientRecord, Registered, SignIn, StaffAccount, Startup, Tenant,
  UpdateBatch, UpdateClinic,
} from "../types";

export type { DeskAction, DisplaySettings, DisplaySetup, DisplayStatus, SignIn, Startup } from "../types";

function asError(e: unknown): CommandError {
  if (e && typeof e === "object" && "code" in e && "message" in e) return e as CommandError;
  return { code: "unknown", message: String(e) };
}

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (e) {
    throw asError(e);
  }
}

export const backend = {
  startup: () => call<Startup>("startup"),
  signIn: (form: SignIn) => call<void>("sign_in", { form }),
  logout: () => call<void>("logout"),
  /** Locks the desk (nothing of patients on screen or in notifications until unlocked). */
  lock: () => call<void>("lock"),
  /** Unlocks with the signed-in user's password (checked on this PC: works offline). */
  unlock: (password: string) => call<void>("unlock", { password }),
  /** The desk with `day` (`YYYY-MM-DD`, the clinic's) on screen: read once, then kept by updates. */
  state: (day: string) => call<DeskState>("desk_state", { day }),
  /** Another day on screen (one outside the sync window is fetched and kept live: `day_fetched`). */
  dayView: (day: string) => call<DayView>("day_view", { day }),
  /** The outbox, after an `outbox` update. */
  outbox: () => call<OutboxEntry[]>("outbox"),
  /** A thread's cached messages, after `older_messages` read more of it. */
  threadMessages: (thread: string) => call<Message[]>("thread_messages", { thread }),
  act: (action: DeskAction) => call<void>("act", { action }),
  /** Goes on with a conflicted or refused outbox entry by sending `action` instead. */
  resend: (n: number, action: DeskAction) => call<void>("resend", { n, action }),
  /** Seven days from `from` as this desk holds them (the week view). */
  weekView: (from: string) => call<DayView[]>("week_view", { from }),
  /** Patients answering `q`: the clinic's register when live, this desk's patients offline (`source`). */
  searchPatients: (q: string, offset = 0) => call<PatientMatches>("search_patients", { q, offset }),
  /** A patient with their upcoming and past appointments; null if offline and not held here. */
  patient: (id: string) => call<PatientRecord | null>("patient", { id }),
  /** Registers a patient (online only), or the candidates they may already be. */
  registerPatient: (patient: NewPatient) => call<Registered>("register_patient", { patient }),
  /** Free slots of `minutes` on days `from..=to` (`YYYY-MM-DD`), one provider or all. */
  slots: (provider: string | null, from: string, to: string, minutes: number) => call<FreeSlots>("slots", { provider, from, to, minutes }),
  /** The earliest free slots from `after` (RFC 3339), any provider or one. */
  nextSlots: (provider: string | null, after: string, minutes: number, limit = 3) =>
    call<FreeSlots>("next_slots", { provider, after, minutes, limit }),
  typing: (thread: string, typing: boolean) => call<void>("typing", { thread, typing }),
  setDnd: (dnd: boolean) => call<void>("set_dnd", { dnd }),
  viewing: (patient: string | null) => call<void>("viewing", { patient }),
  focus: (windowFocused: boolean, thread: string | null) => call<void>("focus", { windowFocused, thread }),
  activity: () => call<void>("activity"),
  dismiss: (n: number) => call<void>("dismiss", { n }),
  /** Reads a thread further back than the cache holds (an `older_messages` update follows). */
  loadOlder: (thread: string) => call<void>("load_older", { thread }),
  /** Tells the shell the schedule is on screen (it logs the start-up time). */
  startupPainted: (screen: "schedule" | "lock" = "schedule") => call<void>("startup_painted", { screen }),
  /** Changes one's own password with the old one (online only); the lock screen takes the new one. */
  changePassword: (oldPassword: string, newPassword: string) => call<void>("change_password", { oldPassword, newPassword }),
  /** Administration (admins; online only): staff, boards, the clinic's settings, access reports. */
  admin: {
    staff: () => call<StaffAccount[]>("admin_staff"),
    addStaff: (staff: NewStaff) => call<StaffAccount>("admin_add_staff", { staff }),
    setActive: (id: string, active: boolean) => call<StaffAccount>("admin_set_active", { id, active }),
    resetPassword: (id: string, password: string) => call<void>("admin_reset_password", { id, password }),
    boards: () => call<Display[]>("admin_boards"),
    renameBoard: (id: string, name: string) => call<Display>("admin_rename_board", { id, name }),
    revokeBoard: (id: string) => call<void>("admin_revoke_board", { id }),
    clinic: () => call<Tenant>("admin_clinic"),
    changeClinic: (change: UpdateClinic) => call<Tenant>("admin_change_clinic", { change }),
    accessReport: (patient: string) => call<AuditRow[]>("access_report", { patient }),
    /** Saves the report as CSV in the downloads folder; answers where. */
    exportAccessReport: (patient: string) => call<string>("export_access_report", { patient }),
  },
  displayStatus: () => call<DisplayStatus>("display_status"),
  displaySetup: (form: DisplaySetup) => call<void>("display_setup", { form }),
  /** Streams board updates to `onUpdate` until the window closes. */
  displaySubscribe: (onUpdate: (u: BoardUpdate) => void) => {
    const channel = new Channel<BoardUpdate>();
    channel.onmessage = onUpdate;
    return call<void>("display_subscribe", { channel });
  },
  /** Streams engine updates, in batches (a few a second at most), to `onBatch` until the window closes. */
  subscribe: (onBatch: (b: UpdateBatch) => void) => {
    const channel = new Channel<UpdateBatch>();
    channel.onmessage = onBatch;
    return call<void>("subscribe", { channel });
  },
};
