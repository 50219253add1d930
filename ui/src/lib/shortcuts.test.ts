import { describe, expect, it } from "vitest";
import { isLockKey, shortcutFor } from "./shortcuts";

const key = (k: string, mods: Partial<{ altKey: boolean; ctrlKey: boolean; metaKey: boolean }> = {}, target: EventTarget | null = null) =>
  ({ key: k, altKey: false, ctrlKey: false, metaKey: false, target, ...mods });

describe("shortcuts", () => {
  it("maps Alt+letter to desk actions and J/K to the selection", () => {
    expect(shortcutFor(key("n", { altKey: true }))).toBe("call_next");
    expect(shortcutFor(key("C", { altKey: true }))).toBe("check_in");
    expect(shortcutFor(key("w", { altKey: true }))).toBe("walk_in");
    expect(shortcutFor(key("j"))).toBe("next_row");
    expect(shortcutFor(key("ArrowUp"))).toBe("previous_row");
    expect(shortcutFor(key("x", { altKey: true }))).toBeNull();
    expect(shortcutFor(key("ArrowLeft", { altKey: true }))).toBe("previous_day");
    expect(shortcutFor(key("ArrowRight", { altKey: true }))).toBe("next_day");
    expect(shortcutFor(key("t", { altKey: true }))).toBe("today");
    expect(shortcutFor(key("b", { altKey: true }))).toBe("book");
    expect(shortcutFor(key("F", { altKey: true }))).toBe("find_patient");
    expect(shortcutFor(key("v", { altKey: true }))).toBe("week");
  });

  it("locks with Alt+L wherever the focus is", () => {
    expect(isLockKey(key("l", { altKey: true }))).toBe(true);
    expect(isLockKey(key("L", { altKey: true }))).toBe(true);
    expect(isLockKey(key("l"))).toBe(false);
    expect(isLockKey(key("l", { altKey: true, ctrlKey: true }))).toBe(false);
  });

  it("stays out of the way while typing or with Ctrl/Cmd", () => {
    const input = { tagName: "INPUT" } as unknown as EventTarget;
    expect(shortcutFor(key("n", { altKey: true }, input))).toBeNull();
    expect(shortcutFor(key("j", {}, input))).toBeNull();
    expect(shortcutFor(key("n", { altKey: true, ctrlKey: true }))).toBeNull();
  });
});
