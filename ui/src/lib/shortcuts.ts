// Keyboard shortcuts for the frequent desk actions. Pure: a key event in,
// the action's name out; the desk view decides what the action applies to.

export type Shortcut =
  | "call_next"
  | "check_in"
  | "walk_in"
  | "book"
  | "find_patient"
  | "week"
  | "focus_messages"
  | "next_row"
  | "previous_row"
  | "previous_day"
  | "next_day"
  | "today";

/** Shortcut for a key press, unless the user is typing in a field. */
export function shortcutFor(e: { key: string; altKey: boolean; ctrlKey: boolean; metaKey: boolean; target: EventTarget | null }): Shortcut | null {
  const el = e.target as { tagName?: string; isContentEditable?: boolean } | null;
  const typing = !!el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.isContentEditable === true);
  if (typing || e.ctrlKey || e.metaKey) return null;
  if (e.altKey) {
    switch (e.key.toLowerCase()) {
      case "n": return "call_next";
      case "c": return "check_in";
      case "w": return "walk_in";
      case "b": return "book";
      case "f": return "find_patient";
      case "v": return "week";
      case "m": return "focus_messages";
      case "t": return "today";
      case "arrowleft": return "previous_day";
      case "arrowright": return "next_day";
    }
    return null;
  }
  if (e.key === "j" || e.key === "ArrowDown") return "next_row";
  if (e.key === "k" || e.key === "ArrowUp") return "previous_row";
  return null;
}

/** Alt+L locks the desk, from anywhere (a field with a half-typed name included). */
export function isLockKey(e: { key: string; altKey: boolean; ctrlKey: boolean; metaKey: boolean }): boolean {
  return e.altKey && !e.ctrlKey && !e.metaKey && e.key.toLowerCase() === "l";
}

/** The list shown by the shortcut help. */
export const SHORTCUT_HELP: [string, string][] = [
  ["Alt+N", "call the next patient (selected provider)"],
  ["Alt+C", "check in the selected appointment"],
  ["Alt+W", "register a walk-in"],
  ["Alt+B", "book an appointment"],
  ["Alt+F", "find a patient"],
  ["Alt+V", "switch between the day and one provider's week"],
  ["Alt+M", "go to messages"],
  ["J / K", "move the selection down / up"],
  ["Alt+← / Alt+→", "the previous / next day"],
  ["Alt+T", "back to today"],
  ["Alt+L", "lock the desk (your password opens it)"],
];
