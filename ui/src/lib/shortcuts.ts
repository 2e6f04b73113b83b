// The keyboard shortcuts: one table (what the help screen lists) and a pure matcher from a
// key event to the action it asks for. `Mod` is the platform's command key: Cmd on macOS,
// Ctrl elsewhere. Nothing fires while the user types in a text field, except Escape.

/** What a shortcut asks for; the shortcuts store runs it with the existing stores. */
export type Action =
  | { kind: "new-entry" }
  | { kind: "search" }
  | { kind: "timer" }
  | { kind: "metronome" }
  | { kind: "sync-now" }
  | { kind: "help" }
  | { kind: "close" }
  | { kind: "screen"; screen: string };

/** One key combination: a key and its modifiers (`mod`: Cmd on macOS, Ctrl elsewhere). */
export type Combo = {
  /** `KeyboardEvent.key`, lower case for letters ("n", "1", "?", "/", "escape"). */
  key: string;
  mod?: boolean;
  shift?: boolean;
};

export type Shortcut = {
  id: string;
  action: Action;
  /** Any of these triggers it; the first is the one shown first. */
  keys: ReadonlyArray<Combo>;
  description: string;
};

export type Platform = "mac" | "other";

/** The screens, in the order of the navigation (Mod+1 is the first). */
export type ScreenInfo = { id: string; label: string };

/** At most nine screens get a digit. */
export const MAX_SCREEN_SHORTCUTS = 9;

export function shortcutTable(screens: ReadonlyArray<ScreenInfo>): Shortcut[] {
  const fixed: Shortcut[] = [
    { id: "new-entry", action: { kind: "new-entry" }, keys: [{ key: "n", mod: true }], description: "New logbook entry" },
    { id: "search", action: { kind: "search" }, keys: [{ key: "f", mod: true }], description: "Search the logbook" },
    {
      id: "timer",
      action: { kind: "timer" },
      keys: [{ key: "t", mod: true, shift: true }],
      description: "Start or stop the practice timer",
    },
    {
      id: "metronome",
      action: { kind: "metronome" },
      keys: [{ key: "m", mod: true, shift: true }],
      description: "Metronome on or off",
    },
    {
      id: "sync-now",
      action: { kind: "sync-now" },
      keys: [{ key: "s", mod: true, shift: true }],
      description: "Sync now",
    },
  ];
  const switching: Shortcut[] = screens.slice(0, MAX_SCREEN_SHORTCUTS).map((screen, i) => ({
    id: `screen-${screen.id}`,
    action: { kind: "screen", screen: screen.id },
    keys: [{ key: String(i + 1), mod: true }],
    description: `Go to ${screen.label}`,
  }));
  const help: Shortcut[] = [
    {
      id: "help",
      action: { kind: "help" },
      keys: [{ key: "?" }, { key: "/", mod: true }],
      description: "Show these keyboard shortcuts",
    },
    { id: "close", action: { kind: "close" }, keys: [{ key: "escape" }], description: "Close the shortcuts help" },
  ];
  return [...fixed, ...switching, ...help];
}

/** From `navigator.platform` / `navigator.userAgent`: macOS (and iOS) use Cmd. */
export function platformOf(platform: string, userAgent = ""): Platform {
  return /mac|iphone|ipad|ipod/i.test(platform) || /mac os x/i.test(userAgent) ? "mac" : "other";
}

/** The element a key event went to, as far as the matcher needs it. */
export type TargetInfo = {
  tagName?: string;
  type?: string;
  isContentEditable?: boolean;
} | null;

/** Input types in which keys are not typed (a Ctrl+N on a checkbox still means New entry). */
const NOT_TYPING = new Set(["button", "checkbox", "radio", "range", "color", "file", "submit", "reset", "image"]);

/** Whether keys sent to `target` are the user's typing. */
export function isTyping(target: TargetInfo): boolean {
  if (!target) return false;
  if (target.isContentEditable) return true;
  const tag = (target.tagName ?? "").toUpperCase();
  if (tag === "TEXTAREA" || tag === "SELECT") return true;
  if (tag === "INPUT") return !NOT_TYPING.has((target.type ?? "text").toLowerCase());
  return false;
}

/** The parts of a `KeyboardEvent` the matcher reads. */
export type KeyInput = {
  key: string;
  code?: string;
  ctrlKey: boolean;
  metaKey: boolean;
  altKey: boolean;
  shiftKey: boolean;
  repeat?: boolean;
  isComposing?: boolean;
  target?: TargetInfo;
};

function keyMatches(combo: Combo, event: KeyInput): boolean {
  const key = event.key.toLowerCase();
  if (key === combo.key) return true;
  // Digits by their physical key, so Ctrl+1 works on layouts where 1 needs Shift (AZERTY).
  if (/^[0-9]$/.test(combo.key) && event.code === `Digit${combo.key}`) return true;
  // Letters by their physical key when the layout gives another character with the modifier.
  if (/^[a-z]$/.test(combo.key) && combo.mod && event.code === `Key${combo.key.toUpperCase()}` && !/^[a-z]$/.test(key)) {
    return true;
  }
  return false;
}

function comboMatches(combo: Combo, event: KeyInput, platform: Platform): boolean {
  if (event.altKey) return false;
  const mod = platform === "mac" ? event.metaKey : event.ctrlKey;
  const other = platform === "mac" ? event.ctrlKey : event.metaKey;
  if (other || mod !== Boolean(combo.mod)) return false;
  // "?" is typed with Shift on most layouts: Shift is part of the character, not a modifier.
  if (combo.key !== "?" && event.shiftKey !== Boolean(combo.shift)) return false;
  return keyMatches(combo, event);
}

/** The action `event` asks for, or `null` (also while typing, on auto-repeat, in an IME). */
export function match(event: KeyInput, platform: Platform, table: ReadonlyArray<Shortcut>): Action | null {
  if (event.isComposing || event.repeat) return null;
  const escape = event.key === "Escape";
  if (!escape && isTyping(event.target ?? null)) return null;
  for (const shortcut of table) {
    if (shortcut.keys.some((combo) => comboMatches(combo, event, platform))) return shortcut.action;
  }
  return null;
}

const KEY_NAMES: Record<string, string> = { escape: "Esc", "/": "/", "?": "?" };

/** The keys of one combination as shown, e.g. ["Ctrl", "Shift", "T"] or ["⌘", "⇧", "T"]. */
export function comboKeys(combo: Combo, platform: Platform): string[] {
  const parts: string[] = [];
  if (combo.mod) parts.push(platform === "mac" ? "⌘" : "Ctrl");
  if (combo.shift) parts.push(platform === "mac" ? "⇧" : "Shift");
  parts.push(KEY_NAMES[combo.key] ?? combo.key.toUpperCase());
  return parts;
}

/** A combination as read out and in titles, e.g. "Ctrl+Shift+T" or "Cmd+Shift+T". */
export function comboLabel(combo: Combo, platform: Platform): string {
  const parts: string[] = [];
  if (combo.mod) parts.push(platform === "mac" ? "Cmd" : "Ctrl");
  if (combo.shift) parts.push("Shift");
  parts.push(KEY_NAMES[combo.key] ?? combo.key.toUpperCase());
  return parts.join("+");
}

/** The first combination of shortcut `id` as a label ("Ctrl+N"), for buttons' titles. */
export function shortcutLabel(table: ReadonlyArray<Shortcut>, id: string, platform: Platform): string | null {
  const combo = table.find((s) => s.id === id)?.keys[0];
  return combo ? comboLabel(combo, platform) : null;
}

/** A combination in `aria-keyshortcuts` syntax, e.g. "Control+Shift+T" or "Meta+N". */
export function ariaKeys(combo: Combo, platform: Platform): string {
  const parts: string[] = [];
  if (combo.mod) parts.push(platform === "mac" ? "Meta" : "Control");
  if (combo.shift) parts.push("Shift");
  parts.push(combo.key === "escape" ? "Escape" : combo.key.length === 1 ? combo.key.toUpperCase() : combo.key);
  return parts.join("+");
}
