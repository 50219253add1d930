import { afterEach, describe, expect, it } from "vitest";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { backend } from "./backend";

afterEach(() => clearMocks());

describe("backend", () => {
  it("sends typed commands with their arguments", async () => {
    const calls: [string, unknown][] = [];
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      if (cmd === "startup") return { server: "http://127.0.0.1:7420", tenant: "demo", username: "reception", signed_in: true, window: "desk", warnings: [] };
      return null;
    });
    const s = await backend.startup();
    expect(s.tenant).toBe("demo");
    await backend.act({ action: "call_next", provider_id: "p1", room_id: null });
    await backend.typing("t1", true);
    expect(calls.map((c) => c[0])).toEqual(["startup", "act", "typing"]);
    expect(calls[1]![1]).toEqual({ action: { action: "call_next", provider_id: "p1", room_id: null } });
  });

  it("turns failures into {code, message}", async () => {
    mockIPC(() => {
      throw { code: "signed_out", message: "sign in again" };
    });
    await expect(backend.state("2026-12-01")).rejects.toEqual({ code: "signed_out", message: "sign in again" });
    mockIPC(() => {
      throw "boom";
    });
    await expect(backend.logout()).rejects.toEqual({ code: "unknown", message: "boom" });
  });
});
