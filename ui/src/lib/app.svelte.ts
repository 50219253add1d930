// The app's reactive state: the desk as first read from the engine's cache
// and then kept by its updates (deltas.ts), the day on screen, the
// connection, and who is typing. Views read it; only this class writes it.

import { backend, type Startup } from "./backend";
import { applyUpdate, replaceThread, type FollowUp } from "./deltas";
import { isoDay } from "./desk";
import type { ConnState, DeskState, LockReason, Update, UpdateBatch } from "../types";

const EMPTY: DeskState = {
  me: null, tenant: null, users: [], providers: [], rooms: [], hours: [], appointment_types: [],
  day: { day: "", start: "", end: "", held: { kind: "not_held" }, appointments: [] },
  queue: [], threads: [], messages: [], read_markers: [], presence: [], outbox: [], last_seq: null, synced_at: null,
};

/** Runs `fn` once the frame now being prepared has been painted. */
function afterNextPaint(fn: () => void): void {
  if (typeof requestAnimationFrame !== "function") return fn();
  requestAnimationFrame(() => requestAnimationFrame(fn));
}

/** Whether an update may change the free slots on screen. */
export function changesWhatIsFree(u: Update): boolean {
  switch (u.kind) {
    case "applied":
      return ["appointment", "hours", "appointment_type", "evicted"].includes(u.change.record);
    case "connection":
      return u.state === "live";
    case "resynced":
    case "window_filled":
    case "day_fetched":
    case "day_changed":
      return true;
    default:
      return false;
  }
}

export class App {
  startup = $state<Startup | null>(null);
  desk = $state<DeskState>(structuredClone(EMPTY));
  /** The clinic day on screen, `YYYY-MM-DD`. */
  shownDay = $state(isoDay(new Date()));
  /** The clinic's today. */
  today = $state(isoDay(new Date()));
  /** The day outside the sync window fetched and watched on this link (live). */
  liveDay = $state<string | null>(null);
  connection = $state<ConnState>("offline");
  /**
   * Why the desk is locked, if it is: the window then holds nothing of the
   * desk (it was dropped at the lock) and reads it again at unlock.
   */
  locked = $state<LockReason | null>(null);
  /** Who is signed in, for the lock screen (kept when the desk is dropped). */
  signedInAs = $state("");
  /** The lock screen gave way to the sign-in form (another staff member). */
  switching = $state(false);
  detail = $state("");
  warnings = $state<string[]>([]);
  /** thread id → user ids typing there */
  typing = $state<Record<string, string[]>>({});
  /**
   * Bumped whenever what is free may have changed (an appointment, hours or
   * a type changed, days were read in, the desk came back live): views of
   * free slots read them again.
   */
  scheduleStamp = $state(0);
  /** Threads read back to their first message (nothing older to load). */
  threadStart = $state<Record<string, boolean>>({});
  /** Reads of the cache in flight; updates meanwhile wait for them. */
  private reading = 0;
  private held: Update[] = [];
  private deskRead: Promise<void> | null = null;
  private deskAgain = false;
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
    this.locked = this.startup.locked;
    this.signedInAs = this.startup.name ?? this.startup.username;
    this.switching = false;
    await backend.subscribe((b) => this.onBatch(b));
    if (this.startup.signed_in && !this.locked) await this.refresh();
  }

  /** The lock screen is on screen (the app started locked): reported once, for the start-up time. */
  lockScreenShown(): void {
    afterNextPaint(() => backend.startupPainted("lock").catch(() => undefined));
  }

  /** Locks the desk now (Alt+L, the lock button). */
  lock(): Promise<void> {
    return backend.lock();
  }

  /** Unlocks with `password`; the desk is read again when the engine says it is open. */
  unlock(password: string): Promise<void> {
    return backend.unlock(password);
  }

  /** From the lock screen to the sign-in form, for another staff member; `false` goes back. */
  switchUser(on: boolean): void {
    this.switching = on;
  }

  /**
   * Runs a read of the cache; updates that arrive meanwhile are applied
   * after it lands (applying one twice changes nothing: versions and ids
   * decide), so none is lost to a read that started before it.
   */
  private async read(fn: () => Promise<void>): Promise<void> {
    this.reading += 1;
    try {
      await fn();
    } finally {
      this.reading -= 1;
      if (this.reading === 0) {
        const held = this.held;
        this.held = [];
        for (const u of held) this.apply(u);
      }
    }
  }

  /** Reads the whole desk (first paint, after a snapshot); coalesces bursts. */
  refresh(): Promise<void> {
    if (this.deskRead) {
      this.deskAgain = true;
      return this.deskRead;
    }
    this.deskRead = this.read(async () => {
      do {
        this.deskAgain = false;
        const read = await backend.state(this.shownDay);
        if (!this.locked) this.desk = read; // not one that landed after the lock
      } while (this.deskAgain);
      if (!this.painted && this.desk.day.appointments.length > 0) {
        this.painted = true;
        afterNextPaint(() => backend.startupPainted().catch(() => undefined));
      }
    }).finally(() => (this.deskRead = null));
    return this.deskRead;
  }

  /** Puts `day` (`YYYY-MM-DD`) on screen: only its schedule is read. */
  showDay(day: string): Promise<void> {
    this.shownDay = day;
    return this.readDay();
  }

  private readDay(): Promise<void> {
    const day = this.shownDay;
    return this.read(async () => {
      const view = await backend.dayView(day);
      if (this.shownDay === day && !this.locked) this.desk.day = view; // not a day left meanwhile, nor a lock
    });
  }

  /** A batch from the shell: its updates in order; after updates were lost, the desk read again. */
  onBatch(b: UpdateBatch): void {
    for (const u of b.updates) this.onUpdate(u);
    if (b.missed) void this.refresh();
  }

  onUpdate(u: Update): void {
    if (changesWhatIsFree(u)) this.scheduleStamp += 1;
    switch (u.kind) {
      case "locked":
        this.locked = u.reason;
        if (this.desk.me) this.signedInAs = this.desk.me.name;
        // Nothing of patients stays in the window while it is locked.
        this.desk = structuredClone(EMPTY);
        this.typing = {};
        this.held = [];
        return;
      case "unlocked":
        this.locked = null;
        this.switching = false;
        void this.refresh();
        return;
      case "connection":
        this.connection = u.state;
        this.detail = u.detail;
        if (u.state !== "live") this.liveDay = null;
        if (u.state === "signed_out" && this.startup) this.startup = { ...this.startup, signed_in: false };
        return;
      case "typing": {
        const now = new Set(this.typing[u.thread] ?? []);
        if (u.typing) now.add(u.user);
        else now.delete(u.user);
        this.typing = { ...this.typing, [u.thread]: [...now] };
        return;
      }
      case "warning":
        this.warnings = [...this.warnings, u.message];
        return;
      case "day_changed":
        // "Today" on screen follows the clinic's day.
        if (this.shownDay === this.today) this.shownDay = u.day;
        this.today = u.day;
        break;
      case "day_fetched":
        if (u.day === this.shownDay) this.liveDay = u.day;
        break;
      case "older_messages":
        this.threadStart = { ...this.threadStart, [u.thread]: !u.more };
        break;
      default:
        break;
    }
    if (this.locked) return; // read whole at unlock
    if (this.reading > 0) this.held.push(u);
    else this.apply(u);
  }

  private apply(u: Update): void {
    this.followUp(applyUpdate(this.desk, u));
  }

  private followUp(f: FollowUp): void {
    switch (f.read) {
      case "nothing":
        return;
      case "desk":
        void this.refresh();
        return;
      case "day":
        void this.readDay();
        return;
      case "outbox":
        void this.read(async () => {
          this.desk.outbox = await backend.outbox();
        });
        return;
      case "thread":
        void this.read(async () => {
          replaceThread(this.desk, f.thread, await backend.threadMessages(f.thread));
        });
        return;
    }
  }
}

export const app = new App();
