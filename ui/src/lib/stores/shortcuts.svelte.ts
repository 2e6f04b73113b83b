// The keyboard shortcuts' state: whether the help screen is open, and `run`, which carries
// out a matched action (see `$lib/shortcuts`) with the stores' existing steps. The window's
// keydown handler (components/Shortcuts.svelte) only matches and calls `run`.

import { ariaKeys, match, platformOf, shortcutLabel, shortcutTable, type Action, type KeyInput, type Platform } from "../shortcuts";
import { app, SCREENS, type Screen } from "./app.svelte";
import { logbook } from "./logbook.svelte";
import { metronome } from "./metronome.svelte";
import { sync } from "./sync.svelte";
import { timer } from "./timer.svelte";

function currentPlatform(): Platform {
  const nav = (globalThis as { navigator?: Navigator }).navigator;
  return platformOf(nav?.platform ?? "", nav?.userAgent ?? "");
}

export class ShortcutsStore {
  helpOpen = $state(false);
  readonly platform: Platform;
  readonly table = shortcutTable(SCREENS);

  constructor(platform: Platform = currentPlatform()) {
    this.platform = platform;
  }

  /** The first keys of shortcut `id` as shown in titles ("Ctrl+N", "Cmd+N"). */
  label(id: string): string {
    return shortcutLabel(this.table, id, this.platform) ?? "";
  }

  /** Every combination of shortcut `id` for `aria-keyshortcuts` ("Control+N", "Meta+N"). */
  aria(id: string): string {
    const keys = this.table.find((s) => s.id === id)?.keys ?? [];
    return keys.map((combo) => ariaKeys(combo, this.platform)).join(" ");
  }

  /** The action of a key event, or `null` (typing, another key). */
  match(event: KeyInput): Action | null {
    return match(event, this.platform, this.table);
  }

  run(action: Action): void {
    switch (action.kind) {
      case "new-entry":
        this.helpOpen = false;
        app.go("logbook");
        logbook.startNew();
        break;
      case "search":
        this.helpOpen = false;
        app.go("logbook");
        logbook.requestSearch();
        break;
      case "timer":
        if (timer.active) void timer.stop();
        else if (timer.view?.phase === "stopped") timer.openLog();
        else void timer.start();
        break;
      case "metronome":
        metronome.toggle();
        break;
      case "sync-now":
        void sync.syncNow();
        break;
      case "screen":
        this.helpOpen = false;
        app.go(action.screen as Screen);
        break;
      case "help":
        this.helpOpen = !this.helpOpen;
        break;
      case "close":
        this.helpOpen = false;
        break;
    }
  }
}

export const shortcuts = new ShortcutsStore();
