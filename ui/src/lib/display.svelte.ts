// The waiting-room screen's reactive state: its set-up, the connection and
// the last known board. Only this class writes it; the display views read it.

import { backend, type DisplaySettings } from "./backend";
import type { BoardState, BoardUpdate, ConnState } from "../types";

/** One call to announce: the chime plays once per call, recalls included. */
export interface Call { ticket: string; room: string; n: number }

export class DisplayScreen {
  /** Null until the status is known; then whether a board is set up and running. */
  ready = $state(false);
  settings = $state<DisplaySettings | null>(null);
  running = $state(false);
  connection = $state<ConnState>("offline");
  detail = $state("");
  board = $state<BoardState | null>(null);
  lastCall = $state<Call | null>(null);
  private calls = 0;

  async start(): Promise<void> {
    await backend.displaySubscribe((u) => this.onUpdate(u));
    await this.reload();
  }

  async reload(): Promise<void> {
    const s = await backend.displayStatus();
    this.settings = s.settings;
    this.running = s.view !== null;
    if (s.view) {
      this.connection = s.view.state;
      this.detail = s.view.detail;
      this.board = s.view.board;
    }
    this.ready = true;
  }

  /** Whether to show the set-up form: never set up, or removed by the clinic. */
  get needsSetup(): boolean {
    return this.ready && (!this.running || this.connection === "signed_out");
  }

  onUpdate(u: BoardUpdate): void {
    switch (u.kind) {
      case "connection":
        this.connection = u.state;
        this.detail = u.detail;
        this.running = true;
        break;
      case "board":
        this.board = u.board;
        break;
      case "called":
        this.calls += 1;
        this.lastCall = { ticket: u.ticket, room: u.room, n: this.calls };
        break;
    }
  }
}

/** Tickets being served (called first, newest call first) and the next ones waiting. */
export function boardLines(board: BoardState | null, nextCount = 6) {
  const queue = board?.queue ?? [];
  const room = (id: string | null) => board?.rooms.find((r) => r.id === id)?.name ?? "";
  return {
    serving: queue.filter((q) => q.status === "called").map((q) => ({ id: q.id, ticket: q.ticket, room: room(q.room_id) })),
    next: queue.filter((q) => q.status === "waiting").slice(0, nextCount).map((q) => ({ id: q.id, ticket: q.ticket })),
  };
}
