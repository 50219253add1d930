import { afterEach, describe, expect, it } from "vitest";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { DisplayScreen, boardLines } from "./display.svelte";
import type { BoardState, QueueEntry } from "../types";

afterEach(() => clearMocks());

const ticket = (id: string, status: QueueEntry["status"], room: string | null = null): QueueEntry => ({
  id, ticket: `A-${id}`, provider_id: "p1", room_id: room, initials: "P.N.", appointment_id: null, status,
  priority: 0, arrived_at: "2026-11-22T09:00:00Z", called_at: null, version: 1, updated_at: "2026-11-22T09:00:00Z",
});

const board: BoardState = {
  seq: 5, as_of: "2026-11-22T09:10:00Z",
  display: { id: "d1", name: "Lobby", provider_ids: ["p1"], created_at: "2026-11-22T07:00:00Z" },
  rooms: [{ id: "r1", name: "Room 1" }],
  queue: [ticket("1", "called", "r1"), ticket("2", "in_service"), ticket("3", "waiting"), ticket("4", "waiting")],
};

describe("DisplayScreen", () => {
  it("asks for set-up until a board runs, and again when the board is removed", async () => {
    mockIPC((cmd) => {
      if (cmd === "display_status") return { settings: null, view: null };
      return null;
    });
    const screen = new DisplayScreen();
    await screen.start();
    expect(screen.needsSetup).toBe(true);
    screen.onUpdate({ kind: "connection", state: "live", detail: "live" });
    expect(screen.needsSetup).toBe(false);
    screen.onUpdate({ kind: "connection", state: "signed_out", detail: "refused" });
    expect(screen.needsSetup).toBe(true);
  });

  it("shows the running board and counts every call, recalls included", async () => {
    mockIPC((cmd) => {
      if (cmd === "display_status") return { settings: { server: "s", tenant: "t", name: "Lobby" }, view: { state: "reconnecting", detail: "", board } };
      return null;
    });
    const screen = new DisplayScreen();
    await screen.start();
    expect(screen.needsSetup).toBe(false);
    expect(screen.board?.display.name).toBe("Lobby");
    expect(screen.connection).toBe("reconnecting");
    screen.onUpdate({ kind: "called", ticket: "A-1", room: "Room 1" });
    screen.onUpdate({ kind: "called", ticket: "A-1", room: "Room 1" });
    expect(screen.lastCall).toEqual({ ticket: "A-1", room: "Room 1", n: 2 });
  });
});

describe("boardLines", () => {
  it("puts called tickets with their room first and lists the waiting ones", () => {
    const lines = boardLines(board, 1);
    expect(lines.serving).toEqual([{ id: "1", ticket: "A-1", room: "Room 1" }]);
    expect(lines.next).toEqual([{ id: "3", ticket: "A-3" }]);
    expect(boardLines(null)).toEqual({ serving: [], next: [] });
  });
});
