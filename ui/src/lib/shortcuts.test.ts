import { describe, expect, it } from "vitest";

import {
  comboKeys,
  comboLabel,
  isTyping,
  match,
  MAX_SCREEN_SHORTCUTS,
  platformOf,
  shortcutLabel,
  shortcutTable,
  type KeyInput,
  type Platform,
} from "./shortcuts";

const SCREENS = [
  { id: "logbook", label: "Logbook" },
  { id: "practice", label: "Practice" },
  { id: "repertoire", label: "Repertoire" },
  { id: "goals", label: "Goals" },
  { id: "statistics", label: "Statistics" },
  { id: "conflicts", label: "Conflicts" },
  { id: "settings", label: "Settings" },
];
const table = shortcutTable(SCREENS);

function key(k: string, mods: Partial<KeyInput> = {}): KeyInput {
  return { key: k, ctrlKey: false, metaKey: false, altKey: false, shiftKey: false, target: null, ...mods };
}
/** The platform's command modifier. */
const mod = (p: Platform): Partial<KeyInput> => (p === "mac" ? { metaKey: true } : { ctrlKey: true });

describe("each action, on each platform", () => {
  for (const p of ["mac", "other"] as const) {
    it(`${p}: new entry, search, timer, metronome, sync now`, () => {
      expect(match(key("n", mod(p)), p, table)).toEqual({ kind: "new-entry" });
      expect(match(key("f", mod(p)), p, table)).toEqual({ kind: "search" });
      expect(match(key("T", { ...mod(p), shiftKey: true }), p, table)).toEqual({ kind: "timer" });
      expect(match(key("M", { ...mod(p), shiftKey: true }), p, table)).toEqual({ kind: "metronome" });
      expect(match(key("S", { ...mod(p), shiftKey: true }), p, table)).toEqual({ kind: "sync-now" });
    });

    it(`${p}: Mod+1..7 switch to the screens in navigation order`, () => {
      SCREENS.forEach((screen, i) => {
        expect(match(key(String(i + 1), mod(p)), p, table)).toEqual({ kind: "screen", screen: screen.id });
      });
      expect(match(key("8", mod(p)), p, table)).toBeNull();
    });

    it(`${p}: ? and Mod+/ open the help, Escape closes`, () => {
      expect(match(key("?", { shiftKey: true }), p, table)).toEqual({ kind: "help" });
      expect(match(key("/", mod(p)), p, table)).toEqual({ kind: "help" });
      expect(match(key("Escape"), p, table)).toEqual({ kind: "close" });
    });
  }
});

describe("modifiers", () => {
  it("macOS uses Cmd: Ctrl+N does nothing there", () => {
    expect(match(key("n", { ctrlKey: true }), "mac", table)).toBeNull();
    expect(match(key("n", { metaKey: true }), "mac", table)).toEqual({ kind: "new-entry" });
  });

  it("elsewhere Ctrl: the Windows/Super key with N does nothing", () => {
    expect(match(key("n", { metaKey: true }), "other", table)).toBeNull();
    expect(match(key("n", { ctrlKey: true, metaKey: true }), "other", table)).toBeNull();
  });

  it("extra or missing modifiers do not match", () => {
    expect(match(key("n"), "other", table)).toBeNull();
    expect(match(key("N", { ctrlKey: true, shiftKey: true }), "other", table)).toBeNull();
    expect(match(key("n", { ctrlKey: true, altKey: true }), "other", table)).toBeNull();
    expect(match(key("t", { ctrlKey: true }), "other", table)).toBeNull();
    expect(match(key("1"), "other", table)).toBeNull();
  });

  it("digits by their physical key (AZERTY: Ctrl+& is Ctrl+1)", () => {
    expect(match(key("&", { ctrlKey: true, code: "Digit1" }), "other", table)).toEqual({
      kind: "screen",
      screen: "logbook",
    });
  });

  it("letters by their physical key when the layout has no Latin letter (Cyrillic)", () => {
    expect(match(key("т", { ctrlKey: true, code: "KeyN" }), "other", table)).toEqual({ kind: "new-entry" });
    // A Latin layout that moves letters (AZERTY's A/Q) goes by the letter, not the key.
    expect(match(key("a", { ctrlKey: true, code: "KeyQ" }), "other", table)).toBeNull();
  });

  it("auto-repeat and IME composition do not fire", () => {
    expect(match(key("T", { ctrlKey: true, shiftKey: true, repeat: true }), "other", table)).toBeNull();
    expect(match(key("n", { ctrlKey: true, isComposing: true }), "other", table)).toBeNull();
  });
});

describe("typing in a field", () => {
  const fields = [
    { tagName: "INPUT", type: "text" },
    { tagName: "INPUT", type: "search" },
    { tagName: "INPUT", type: "number" },
    { tagName: "INPUT" },
    { tagName: "TEXTAREA" },
    { tagName: "SELECT" },
    { tagName: "DIV", isContentEditable: true },
  ];

  it("no shortcut fires, not even with the modifier", () => {
    for (const target of fields) {
      expect(isTyping(target)).toBe(true);
      expect(match(key("?", { shiftKey: true, target }), "other", table)).toBeNull();
      expect(match(key("n", { ctrlKey: true, target }), "other", table)).toBeNull();
      expect(match(key("1", { metaKey: true, target }), "mac", table)).toBeNull();
      expect(match(key("S", { ctrlKey: true, shiftKey: true, target }), "other", table)).toBeNull();
    }
  });

  it("except Escape", () => {
    for (const target of fields) {
      expect(match(key("Escape", { target }), "other", table)).toEqual({ kind: "close" });
    }
  });

  it("buttons, checkboxes and sliders are not typing", () => {
    for (const target of [
      { tagName: "BUTTON" },
      { tagName: "INPUT", type: "checkbox" },
      { tagName: "INPUT", type: "range" },
      { tagName: "BODY" },
    ]) {
      expect(isTyping(target)).toBe(false);
      expect(match(key("n", { ctrlKey: true, target }), "other", table)).toEqual({ kind: "new-entry" });
    }
  });
});

describe("the table", () => {
  it("has one row per action, unique ids, no combination used twice", () => {
    const ids = table.map((s) => s.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const kind of ["new-entry", "search", "timer", "metronome", "sync-now", "help", "close"]) {
      expect(table.filter((s) => s.action.kind === kind)).toHaveLength(1);
    }
    const combos = table.flatMap((s) => s.keys.map((c) => comboLabel(c, "other")));
    expect(new Set(combos).size).toBe(combos.length);
  });

  it(`gives digits to at most ${MAX_SCREEN_SHORTCUTS} screens`, () => {
    const many = Array.from({ length: 12 }, (_, i) => ({ id: `s${i}`, label: `S${i}` }));
    const screens = shortcutTable(many).filter((s) => s.action.kind === "screen");
    expect(screens).toHaveLength(MAX_SCREEN_SHORTCUTS);
    expect(screens.at(-1)?.keys[0]?.key).toBe("9");
  });

  it("shows keys per platform", () => {
    const timer = table.find((s) => s.id === "timer")!.keys[0]!;
    expect(comboKeys(timer, "mac")).toEqual(["⌘", "⇧", "T"]);
    expect(comboKeys(timer, "other")).toEqual(["Ctrl", "Shift", "T"]);
    expect(comboLabel(timer, "mac")).toBe("Cmd+Shift+T");
    expect(shortcutLabel(table, "new-entry", "other")).toBe("Ctrl+N");
    expect(shortcutLabel(table, "help", "other")).toBe("?");
    expect(shortcutLabel(table, "close", "mac")).toBe("Esc");
    expect(shortcutLabel(table, "nope", "mac")).toBeNull();
  });
});

describe("platform", () => {
  it("macOS and iOS are mac, Linux and Windows are not", () => {
    expect(platformOf("MacIntel")).toBe("mac");
    expect(platformOf("", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit")).toBe("mac");
    expect(platformOf("iPad")).toBe("mac");
    expect(platformOf("Linux x86_64", "Mozilla/5.0 (X11; Linux x86_64)")).toBe("other");
    expect(platformOf("Win32")).toBe("other");
  });
});
