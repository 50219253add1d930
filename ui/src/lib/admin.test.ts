import { describe, expect, it } from "vitest";
import { accessLines, boardShows, clinicChange, clinicForm, newStaffProblem } from "./admin";
import type { AuditRow, Tenant } from "../types";

const row = (seq: number, access: string, user = "u1"): AuditRow => ({
  seq, at: `2026-12-01T09:0${seq}:00Z`, user_id: user, login_id: "l1", address: "10.0.0.5", access, patient_ids: ["p1"], detail: "GET /api/x",
});
const tenant: Tenant = { id: "demo", name: "Demo", time_zone: "UTC", window_days_back: 7, window_days_ahead: 30, lock_after_seconds: 300 };

describe("admin", () => {
  it("reads an access report newest first, with names and plain words", () => {
    const lines = accessLines([row(1, "snapshot"), row(3, "changed", "u9"), row(2, "on_screen")], [{ id: "u1", name: "Rosa Delgado" }]);
    expect(lines.map((l) => l.seq)).toEqual([3, 2, 1]);
    expect(lines[0]).toMatchObject({ who: "u9", how: "changed", from: "10.0.0.5" });
    expect(lines[1]).toMatchObject({ who: "Rosa Delgado", how: "on screen" });
    expect(lines[2]!.how).toBe("in a desk's download");
  });

  it("checks a new account before sending it", () => {
    const ok = { username: "temp.desk", name: "Tempo Rary", role: "receptionist" as const, password: "long enough pw" };
    expect(newStaffProblem(ok, [])).toBeNull();
    expect(newStaffProblem(ok, [{ username: "temp.desk" }])).toContain("taken");
    expect(newStaffProblem({ ...ok, username: "Has Space" }, [])).toContain("user name");
    expect(newStaffProblem({ ...ok, name: " " }, [])).toContain("name");
    expect(newStaffProblem({ ...ok, password: "short" }, [])).toContain("10 characters");
  });

  it("sends only what changed in the clinic's settings, in seconds", () => {
    const f = clinicForm(tenant);
    expect(f.lockMinutes).toBe(5);
    expect(clinicChange(tenant, f)).toEqual({});
    expect(clinicChange(tenant, { ...f, lockMinutes: 2, daysAhead: 14 })).toEqual({ lock_after_seconds: 120, window_days_ahead: 14 });
    expect(clinicChange(tenant, { ...f, lockMinutes: 0 })).toContain("1 to 60");
    expect(clinicChange(tenant, { ...f, daysAhead: 400 })).toContain("365");
    expect(clinicChange(tenant, { ...f, name: " New name " })).toEqual({ name: "New name" });
  });

  it("says whose tickets a board shows", () => {
    const d = { id: "d", name: "Lobby", provider_ids: [] as string[], created_at: "" };
    expect(boardShows(d, [])).toBe("the whole clinic");
    expect(boardShows({ ...d, provider_ids: ["p1", "p2"] }, [{ id: "p1", name: "Dr. A" }])).toBe("Dr. A, p2");
  });
});
