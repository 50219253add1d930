// Types shared with the Rust side, generated from its definitions by ts-rs
// (`cargo test` writes ui/src/generated; CI fails when they differ from what is
// committed). The UI imports them from here, never writes its own copy.

export type { Role } from "./generated/Role";
export type { ConnState } from "./generated/ConnState";
export type { AppointmentStatus } from "./generated/AppointmentStatus";
export type { QueueStatus } from "./generated/QueueStatus";
export type { PresenceState } from "./generated/PresenceState";
export type { Urgency } from "./generated/Urgency";
export type { PatientRef } from "./generated/PatientRef";
export type { User } from "./generated/User";
export type { UserSummary } from "./generated/UserSummary";
export type { Provider } from "./generated/Provider";
export type { Room } from "./generated/Room";
export type { Appointment } from "./generated/Appointment";
export type { QueueEntry } from "./generated/QueueEntry";
export type { Thread } from "./generated/Thread";
export type { Message } from "./generated/Message";
export type { ReadMarker } from "./generated/ReadMarker";
export type { Presence } from "./generated/Presence";
export type { Tenant } from "./generated/Tenant";
export type { OutboxState } from "./generated/OutboxState";
export type { OutboxEntry } from "./generated/OutboxEntry";
export type { DeskAction } from "./generated/DeskAction";
export type { OsNotification } from "./generated/OsNotification";
export type { Change } from "./generated/Change";
export type { Update } from "./generated/Update";
export type { UpdateBatch } from "./generated/UpdateBatch";
export type { DayView } from "./generated/DayView";
export type { DayHeld } from "./generated/DayHeld";
export type { DeskState } from "./generated/DeskState";
export type { Display } from "./generated/Display";
export type { BoardState } from "./generated/BoardState";
export type { BoardView } from "./generated/BoardView";
export type { BoardUpdate } from "./generated/BoardUpdate";
export type { CommandError } from "./generated/CommandError";
export type { Startup } from "./generated/Startup";
export type { SignIn } from "./generated/SignIn";
export type { DisplaySettings } from "./generated/DisplaySettings";
export type { DisplayStatus } from "./generated/DisplayStatus";
export type { DisplaySetup } from "./generated/DisplaySetup";
