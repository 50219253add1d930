// Wire types the shell sends to the UI. They mirror the Rust types in
// crates/protocol (records) and crates/engine (updates); keep them in step.

export type Role = "admin" | "receptionist" | "doctor" | "display";
export type ConnState = "offline" | "connecting" | "live" | "reconnecting" | "signed_out";
export type AppointmentStatus = "booked" | "confirmed" | "arrived" | "in_room" | "completed" | "cancelled" | "no_show";
export type QueueStatus = "waiting" | "called" | "in_service" | "done" | "skipped" | "no_show";
export type PresenceState = "online" | "away" | "dnd" | "offline";
export type Urgency = "low" | "normal" | "critical";

export interface PatientRef { id: string; name: string; initials: string }
export interface User { id: string; username: string; name: string; role: Role }
export interface Provider { id: string; name: string; user_id: string | null; ticket_prefix: string; default_room_id: string | null }
export interface Room { id: string; name: string }
export interface Appointment {
  id: string; patient: PatientRef; provider_id: string; room_id: string | null;
  start: string; end: string; status: AppointmentStatus; reason: string; version: number; updated_at: string;
}
export interface QueueEntry {
  id: string; ticket: string; provider_id: string; room_id: string | null; patient?: PatientRef;
  initials: string; appointment_id: string | null; status: QueueStatus; priority: number;
  arrived_at: string; called_at: string | null; version: number; updated_at: string;
}
export interface Thread { id: string; title: string; members: string[]; created_at: string }
export interface Message { id: string; thread_id: string; client_id: string; author_id: string; body: string; urgent: boolean; created_at: string }
export interface ReadMarker { thread_id: string; user_id: string; message_id: string; at: string }
export interface Presence { user: string; state: PresenceState; viewing: string | null }
export interface Envelope { seq: number; id: string; type: string; tenant: string; at: string; actor: string; data: unknown; redacted?: boolean }

export type OutboxState = "pending" | "conflict" | "refused";
export interface OutboxEntry {
  n: number; key: string; action: Record<string, unknown> & { action: string }; subject_kind: string; subject_id: string;
  state: OutboxState; attempts: number; created_at: string; error: string | null; conflict: { mine: unknown; current: unknown } | null;
}

/** Everything the desk shows, as the shell reads it from the engine's cache. */
export interface DeskState {
  me: { id: string; name: string; role: Role } | null;
  users: User[]; providers: Provider[]; rooms: Room[];
  appointments: Appointment[]; queue: QueueEntry[];
  threads: Thread[]; messages: Message[]; read_markers: ReadMarker[];
  presence: Presence[]; outbox: OutboxEntry[];
  last_seq: number | null; synced_at: string | null;
}

/** What the engine publishes (crates/engine `Update`), tagged by `kind`. */
export type Update =
  | { kind: "connection"; state: ConnState; detail: string }
  | { kind: "applied"; event: Envelope }
  | { kind: "resynced"; seq: number }
  | { kind: "synced"; seq: number }
  | { kind: "presence"; presence: Presence }
  | { kind: "typing"; thread: string; user: string; typing: boolean }
  | { kind: "outbox"; pending: number; problems: number }
  | { kind: "notified"; notification: { title: string; body: string; urgency: Urgency; subject: { kind: string; id: string } } }
  | { kind: "warning"; message: string }
  | { kind: "day_changed"; day: string }
  | { kind: "older_messages"; thread: string; count: number; more: boolean };

/** A waiting-room board's own record (crates/protocol `Display`). */
export interface DisplayInfo { id: string; name: string; provider_ids: string[]; created_at: string }

/** What a board screen shows (crates/engine `BoardState`): tickets, never names. */
export interface BoardState { seq: number; display: DisplayInfo; rooms: Room[]; queue: QueueEntry[]; as_of: string }

/** The board client's connection and last known board (crates/engine `BoardView`). */
export interface BoardView { state: ConnState; detail: string; board: BoardState | null }

/** What the board client publishes (crates/engine `BoardUpdate`), tagged by `kind`. */
export type BoardUpdate =
  | { kind: "connection"; state: ConnState; detail: string }
  | { kind: "board"; board: BoardState }
  | { kind: "called"; ticket: string; room: string };

/** An error from a command, as `{code, message}` (never matched by text). */
export interface CommandError { code: string; message: string }
