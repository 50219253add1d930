import { afterEach, describe, expect, it } from "vitest";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { App } from "./app.svelte";

afterEach(() => clearMocks());

describe("App", () => {
  it("follows connection and typing, and re-reads the desk on events", async () => {
    let reads = 0;
    mockIPC((cmd) => {
      if (cmd === "desk_state") {
        reads += 1;
        return { me: null, users: [], providers: [], rooms: [], appointments: [], queue: [], threads: [], messages: [], read_markers: [], presence: [], outbox: [], last_seq: reads, synced_at: null };
      }
      return null;
    });
    const app = new App();
    app.onUpdate({ kind: "connection", state: "live", detail: "live" });
    expect(app.connection).toBe("live");
    app.onUpdate({ kind: "typing", thread: "t", user: "u1", typing: true });
    app.onUpdate({ kind: "typing", thread: "t", user: "u2", typing: true });
    app.onUpdate({ kind: "typing", thread: "t", user: "u1", typing: false });
    expect(app.typing["t"]).toEqual(["u2"]);
    app.onUpdate({ kind: "applied", event: { seq: 1, id: "e", type: "queue.called", tenant: "demo", at: "", actor: "u", data: { ticket: "A-012", room_id: "r3" } } });
    await app.refresh();
    expect(app.desk.last_seq).toBeGreaterThan(0);
  });

  it("knows which threads have been read back to their start", async () => {
    let reads = 0;
    mockIPC((cmd) => {
      if (cmd === "desk_state") {
        reads += 1;
        return { me: null, users: [], providers: [], rooms: [], appointments: [], queue: [], threads: [], messages: [], read_markers: [], presence: [], outbox: [], last_seq: 1, synced_at: null };
      }
      return null;
    });
    const app = new App();
    app.onUpdate({ kind: "older_messages", thread: "t1", count: 50, more: true });
    expect(app.threadStart["t1"]).toBe(false);
    app.onUpdate({ kind: "older_messages", thread: "t1", count: 12, more: false });
    expect(app.threadStart["t1"], "nothing older to load").toBe(true);
    await new Promise((r) => setTimeout(r, 10));
    expect(reads, "the desk re-read its messages").toBeGreaterThan(0);
  });

  it("reports activity to the engine, at most every 30 seconds", () => {
    const seen: number[] = [];
    mockIPC((cmd) => {
      if (cmd === "activity") seen.push(1);
      return null;
    });
    const app = new App();
    app.noteActivity(0);
    expect(seen.length, "nobody signed in yet").toBe(0);
    app.startup = { server: "s", tenant: "t", username: "u", signed_in: true, window: "desk", warnings: [] };
    app.noteActivity(1_000);
    app.noteActivity(20_000);
    app.noteActivity(31_500);
    expect(seen.length).toBe(2);
  });

  it("reports the first painted schedule once, not an empty desk", async () => {
    let appointments: unknown[] = [];
    let painted = 0;
    mockIPC((cmd) => {
      if (cmd === "startup_painted") painted += 1;
      if (cmd === "desk_state")
        return { me: null, users: [], providers: [], rooms: [], appointments, queue: [], threads: [], messages: [], read_markers: [], presence: [], outbox: [], last_seq: 1, synced_at: null };
      return null;
    });
    const app = new App();
    await app.refresh();
    expect(painted).toBe(0);
    appointments = [{ id: "a" }];
    await app.refresh();
    await app.refresh();
    await new Promise((r) => setTimeout(r, 50));
    expect(painted).toBe(1);
  });

  it("goes to sign-in when the session dies", () => {
    const app = new App();
    app.startup = { server: "s", tenant: "t", username: "u", signed_in: true, window: "desk", warnings: [] };
    app.onUpdate({ kind: "connection", state: "signed_out", detail: "signed out" });
    expect(app.startup.signed_in).toBe(false);
  });
});
