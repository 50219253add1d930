// The app's reactive state: the desk as last read from the engine's cache,
// the connection, and who is typing. Views read it; only this class writes it.

import { backend, type Startup } from "./backend";
import type { ConnState, DeskState, Update } from "../types";

const EMPTY: DeskState = {
  me: null, users: [], providers: [], rooms: [], appointments: [], queue: [], threads: [], messages: [],
  read_markers: [], presence: [], outbox: [], last_seq: null, synced_at: null,
};

/** Runs `fn` once the frame now being prepared has been painted. */
function afterNextPaint(fn: () => void): void {
  if (typeof requestAnimationFrame !== "function") return fn();
  requestAnimationFrame(() => requestAnimationFrame(fn));
}

export class App {
  startup = $state<Startup | null>(null);
  desk = $state<DeskState>(EMPTY);
  connection = $state<ConnState>("offline");
  detail = $state("");
  warnings = $state<string[]>([]);
  /** thread id → user ids typing there */
  typing = $state<Record<string, string[]>>({});
  /** Threads read back to their first message (nothing older to load). */
  threadStart = $state<Record<string, boolean>>({});
  private inFlight: Promise<void> | null = null;
  private again = false;
  private lastActivity = -Infinity;
  private painted = false;

  /** Tells the engine someone is at the desk (it resets "away"); at most every 30 s. */
  noteActivity(now = Date.now()): void {
    if (!this.startup?.signed_in || this.startup.window !== "desk" || now - this.lastActivity < 30_000) return;
    this.lastActivity = now;
    backend.activity().catch(() => {
      // Signed out or starting: presence is not announced then anyway.
    });
  }

  async start(): Promise<void> {
    this.startup = await backend.startup();
    // The display window follows its own board (DisplayScreen), not the desk.
    if (this.startup.window === "display") return;
    this.warnings = [...this.startup.warnings];
    await backend.subscribe((u) => this.onUpdate(u));
    if (this.startup.signed_in) await this.refresh();
  }

  /** Re-reads the desk from the cache; coalesces bursts of updates. */
  refresh(): Promise<void> {
    if (this.inFlight) {
      this.again = true;
      return this.inFlight;
    }
    this.inFlight = (async () => {
      try {
        do {
          this.again = false;
          this.desk = await backend.state();
        } while (this.again);
        if (!this.painted && this.desk.appointments.length > 0) {
          this.painted = true;
          afterNextPaint(() => backend.startupPainted().catch(() => undefined));
        }
      } finally {
        this.inFlight = null;
      }
    })();
    return this.inFlight;
  }

  onUpdate(u: Update): void {
    switch (u.kind) {
      case "connection":
        this.connection = u.state;
        this.detail = u.detail;
        if (u.state === "signed_out" && this.startup) this.startup = { ...this.startup, signed_in: false };
        break;
      case "typing": {
        const now = new Set(this.typing[u.thread] ?? []);
        if (u.typing) now.add(u.user);
        else now.delete(u.user);
        this.typing = { ...this.typing, [u.thread]: [...now] };
        break;
      }
      case "warning":
        this.warnings = [...this.warnings, u.message];
        break;
      case "applied":
      case "resynced":
      case "synced":
      case "presence":
      case "outbox":
      case "day_changed":
        void this.refresh();
        break;
      case "older_messages":
        this.threadStart = { ...this.threadStart, [u.thread]: !u.more };
        void this.refresh();
        break;
      case "notified":
        break;
    }
  }
}

export const app = new App();
