// The shell's state: which screen is shown, and `start()`, which loads every store and
// feeds them the shell's events (the only place events are subscribed to).

import { events, type Unsubscribe } from "../ipc";
import { conflicts } from "./conflicts.svelte";
import { goals } from "./goals.svelte";
import { logbook } from "./logbook.svelte";
import { repertoire } from "./repertoire.svelte";
import { settings } from "./settings.svelte";
import { statistics } from "./statistics.svelte";
import { sync } from "./sync.svelte";
import { timer } from "./timer.svelte";

export type Screen = "logbook" | "practice" | "repertoire" | "goals" | "statistics" | "conflicts" | "settings";

export const SCREENS: ReadonlyArray<{ id: Screen; label: string }> = [
  { id: "logbook", label: "Logbook" },
  { id: "practice", label: "Practice" },
  { id: "repertoire", label: "Repertoire" },
  { id: "goals", label: "Goals" },
  { id: "statistics", label: "Statistics" },
  { id: "conflicts", label: "Conflicts" },
  { id: "settings", label: "Settings" },
];

class AppStore {
  screen = $state<Screen>("logbook");

  go(screen: Screen): void {
    this.screen = screen;
  }
}

export const app = new AppStore();

/** Loads everything and listens to the shell; returns the teardown. */
export function start(): Unsubscribe {
  const stops = [
    events.onEntriesChanged((change) => {
      logbook.onEntriesChanged(change);
      repertoire.onEntriesChanged(change);
      goals.onEntriesChanged(change);
      statistics.onEntriesChanged();
    }),
    events.onSyncStatus((status) => {
      sync.applyStatus(status);
      conflicts.onCount(status.conflicts);
    }),
    events.onCatchUpProgress((progress) => sync.onCatchUp(progress)),
    events.onDeadLettered((event) => sync.onDeadLettered(event)),
    events.onConflictNeedsUser((event) => void conflicts.onNeedsUser(event)),
    events.onSettingsChanged((view) => settings.apply(view)),
    events.onTimerChanged((status) => timer.apply(status, false)),
    events.onEntriesChanged((change) => timer.onEntriesChanged(change)),
  ];
  void settings.load();
  void logbook.load();
  void repertoire.load();
  void goals.load();
  repertoire.onLogPractice((piece) => {
    logbook.startNewFor(piece);
    app.go("logbook");
  });
  void sync.load();
  void conflicts.load();
  void timer.load();
  return () => stops.forEach((stop) => stop());
}
