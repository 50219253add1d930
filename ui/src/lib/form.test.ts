import { describe, expect, it } from "vitest";
import { FormState } from "./form.svelte";

describe("FormState", () => {
  it("is busy while the action runs, and keeps its error message", async () => {
    const form = new FormState();
    let release = () => {};
    const running = form.run(() => new Promise<void>((r) => (release = r)));
    expect(form.busy).toBe(true);
    expect(await form.run(async () => {}), "a second submit while busy is ignored").toBe(false);
    release();
    expect(await running).toBe(true);
    expect(form.busy).toBe(false);
    expect(await form.run(() => Promise.reject({ code: "invalid", message: "wrong password" }))).toBe(false);
    expect(form.error).toBe("wrong password");
    expect(await form.run(async () => {})).toBe(true);
    expect(form.error, "a new submit clears the old error").toBeNull();
  });
});
