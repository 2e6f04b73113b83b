// The shortcuts store runs each matched action with the stores' own steps.

import { clearMocks } from "@tauri-apps/api/mocks";
import { afterEach, beforeAll, describe, expect, it } from "vitest";

import type { TimerStatus, TimerView } from "../ipc";
import { app } from "./app.svelte";
import { installWindow, mockShell, settle, syncStatus } from "./fixtures";
import { logbook } from "./logbook.svelte";
import { metronome } from "./metronome.svelte";
import { shortcuts, ShortcutsStore } from "./shortcuts.svelte";
import { timer } from "./timer.svelte";

beforeAll(installWindow);
afterEach(() => {
  clearMocks();
  metronome.stop();
  shortcuts.helpOpen = false;
});

function status(phase: TimerView["phase"] | null): TimerStatus {
  const view: TimerView | null = phase && {
    phase,
    startedAt: 0,
    stoppedAt: phase === "stopped" ? 60_000 : null,
    elapsedMs: 60_000,
    asOf: 60_000,
    segments: [{ piece: null, tempo: null, activeMs: 60_000 }],
    current: 0,
    minutes: 1,
    pieces: [],
    long: false,
  };
  return { timer: view, choices: [], reminderMinutes: 120 };
}

describe("shortcuts store", () => {
  it("matches with the platform's modifier", () => {
    const mac = new ShortcutsStore("mac");
    const key = { key: "n", ctrlKey: false, metaKey: true, altKey: false, shiftKey: false };
    expect(mac.match(key)).toEqual({ kind: "new-entry" });
    expect(new ShortcutsStore("other").match(key)).toBeNull();
    expect(mac.label("new-entry")).toBe("Cmd+N");
    expect(mac.aria("help")).toBe("? Meta+/");
    expect(new ShortcutsStore("other").aria("timer")).toBe("Control+Shift+T");
  });

  it("new entry opens the form on the logbook, from any screen", () => {
    app.go("settings");
    shortcuts.run({ kind: "new-entry" });
    expect(app.screen).toBe("logbook");
    expect(logbook.mode).toBe("new");
    expect(logbook.draft).not.toBeNull();
    logbook.cancelEdit();
  });

  it("search goes to the logbook and asks its search field for the focus", () => {
    app.go("goals");
    shortcuts.run({ kind: "search" });
    expect(app.screen).toBe("logbook");
    expect(logbook.searchRequested).toBe(true);
    logbook.searchRequested = false;
  });

  it("a screen shortcut switches the screen and closes the help", () => {
    shortcuts.run({ kind: "help" });
    expect(shortcuts.helpOpen).toBe(true);
    shortcuts.run({ kind: "screen", screen: "statistics" });
    expect(app.screen).toBe("statistics");
    expect(shortcuts.helpOpen).toBe(false);
  });

  it("help toggles, close closes", () => {
    shortcuts.run({ kind: "help" });
    expect(shortcuts.helpOpen).toBe(true);
    shortcuts.run({ kind: "help" });
    expect(shortcuts.helpOpen).toBe(false);
    shortcuts.run({ kind: "help" });
    shortcuts.run({ kind: "close" });
    expect(shortcuts.helpOpen).toBe(false);
  });

  it("the timer starts when idle and stops when running or paused", async () => {
    const shell = mockShell({ start_timer: () => status("running"), stop_timer: () => status("stopped") });
    timer.apply(status(null));
    shortcuts.run({ kind: "timer" });
    await settle();
    expect(timer.view?.phase).toBe("running");
    shortcuts.run({ kind: "timer" });
    await settle();
    expect(shell.names()).toEqual(["start_timer", "stop_timer"]);
    // The stop goes on to the pre-filled entry.
    expect(app.screen).toBe("logbook");
    expect(logbook.fromTimer).toBe(true);
    logbook.cancelEdit();
    timer.apply(status("paused"));
    shortcuts.run({ kind: "timer" });
    await settle();
    expect(shell.names().at(-1)).toBe("stop_timer");
    logbook.cancelEdit();
    timer.apply(status(null));
  });

  it("the metronome toggles on and off", () => {
    expect(metronome.playing).toBe(false);
    shortcuts.run({ kind: "metronome" });
    expect(metronome.playing).toBe(true);
    shortcuts.run({ kind: "metronome" });
    expect(metronome.playing).toBe(false);
  });

  it("sync now asks the shell to sync", async () => {
    const shell = mockShell({ sync_now: () => syncStatus });
    shortcuts.run({ kind: "sync-now" });
    await settle();
    expect(shell.names()).toContain("sync_now");
  });
});
