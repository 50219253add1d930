// The only module that talks to Tauri: typed commands and the update stream.
// Views and logic import from here, never from @tauri-apps/api directly.

import { Channel, invoke } from "@tauri-apps/api/core";
import type { BoardUpdate, BoardView, CommandError, DeskState, Update } from "../types";

/** Sign-in form values; the server and user are remembered by the shell. */
export interface SignIn { server: string; tenant: string; username: string; password: string }

/** What the shell knows before anyone signs in. */
export interface Startup {
  /** Remembered server, clinic and user for the sign-in form. */
  server: string; tenant: string; username: string;
  /** Whether a session is stored (the desk opens without a password). */
  signed_in: boolean;
  /** Which view this window shows. */
  window: "desk" | "display";
  /** Problems the user should know about (no keyring, a cleared cache). */
  warnings: string[];
}

/** Where a waiting-room board lives (its token is in the keyring). */
export interface DisplaySettings { server: string; tenant: string; name: string }

/** The display window's state: its set-up, and what it shows while running. */
export interface DisplayStatus { settings: DisplaySettings | null; view: BoardView | null }

/** The display set-up form: the clinic, an admin to issue the token, the screen's name. */
export interface DisplaySetup { server: string; tenant: string; username: string; password: string; name: string }

/** A desk action, as the engine's outbox takes it (tagged by `action`). */
export type DeskAction =
  | { action: "check_in"; appointment_id: string; priority: number }
  | { action: "walk_in"; provider_id: string; patient: { name: string }; priority: number }
  | { action: "call_next"; provider_id: string; room_id: string | null }
  | { action: "update_ticket"; id: string; body: { version: number; status?: string; priority?: number; room_id?: string } }
  | { action: "update_appointment"; id: string; body: { version: number; status?: string; start?: string; end?: string; room_id?: string } }
  | { action: "send_message"; thread_id: string; body: { client_id: string; body: string; urgent: boolean } }
  | { action: "mark_read"; thread_id: string; message_id: string };

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
  state: () => call<DeskState>("desk_state"),
  act: (action: DeskAction) => call<void>("act", { action }),
  typing: (thread: string, typing: boolean) => call<void>("typing", { thread, typing }),
  setDnd: (dnd: boolean) => call<void>("set_dnd", { dnd }),
  viewing: (patient: string | null) => call<void>("viewing", { patient }),
  focus: (windowFocused: boolean, thread: string | null) => call<void>("focus", { windowFocused, thread }),
  activity: () => call<void>("activity"),
  dismiss: (n: number) => call<void>("dismiss", { n }),
  /** Reads a thread further back than the cache holds (an `older_messages` update follows). */
  loadOlder: (thread: string) => call<void>("load_older", { thread }),
  /** Tells the shell the schedule is on screen (it logs the start-up time). */
  startupPainted: () => call<void>("startup_painted"),
  displayStatus: () => call<DisplayStatus>("display_status"),
  displaySetup: (form: DisplaySetup) => call<void>("display_setup", { form }),
  /** Streams board updates to `onUpdate` until the window closes. */
  displaySubscribe: (onUpdate: (u: BoardUpdate) => void) => {
    const channel = new Channel<BoardUpdate>();
    channel.onmessage = onUpdate;
    return call<void>("display_subscribe", { channel });
  },
  /** Streams engine updates to `onUpdate` until the window closes. */
  subscribe: (onUpdate: (u: Update) => void) => {
    const channel = new Channel<Update>();
    channel.onmessage = onUpdate;
    return call<void>("subscribe", { channel });
  },
};
