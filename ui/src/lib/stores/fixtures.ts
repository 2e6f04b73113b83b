// Shared test data and an IPC mock that records calls (for the stores' tests).

import { mockIPC } from "@tauri-apps/api/mocks";

import type { Entry, EntryList, GoalView, RepertoirePiece, SettingsView, SyncStatusView } from "../ipc";

export function installWindow() {
  // The mocks install themselves on `window`; vitest runs in Node.
  (globalThis as { window?: unknown }).window ??= globalThis;
}

export type Handler = (args: Record<string, unknown>) => unknown;

/** Mocks the shell: `handlers[command]` answers (a thrown value is a rejection). */
export function mockShell(handlers: Record<string, Handler>) {
  const calls: Array<[string, Record<string, unknown>]> = [];
  mockIPC((cmd, args) => {
    const payload = (args ?? {}) as Record<string, unknown>;
    calls.push([cmd, payload]);
    const handler = handlers[cmd];
    if (!handler) throw { code: "internal", message: `unmocked ${cmd}`, field: null, retryable: false };
    return handler(payload);
  });
  return {
    calls,
    names: () => calls.map(([cmd]) => cmd),
    last: (cmd: string) => [...calls].reverse().find(([c]) => c === cmd)?.[1],
  };
}

export const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

export function entry(patch: Partial<Entry> = {}): Entry {
  return {
    id: "e1",
    timestamp: "2026-11-25T18:30:00.000Z",
    duration: 45,
    type: "practice",
    instrument: "piano",
    pieces: [{ title: "Clair de lune", composer: "Debussy" }],
    techniques: [],
    mood: null,
    notes: null,
    tags: ["evening"],
    goalIds: [],
    createdAt: null,
    updatedAt: null,
    sync: "synced",
    ...patch,
  };
}

export function listOf(...entries: Entry[]): EntryList {
  const total = entries.reduce((sum, e) => sum + e.duration, 0);
  return {
    days: entries.length ? [{ date: "2026-11-25", totalMinutes: total, entries }] : [],
    totalMinutes: total,
    count: entries.length,
    more: false,
  };
}

export const stats = { todayMinutes: 45, weekMinutes: 90, allMinutes: 300, streakDays: 3 };

export const syncStatus: SyncStatusView = {
  connection: "connected",
  badge: "synced",
  pending: 0,
  deadLetters: 0,
  conflicts: 0,
  lastSyncAt: null,
  lastError: null,
  pendingRefusal: null,
  health: "healthy",
  catchUp: null,
  nextRetryAt: null,
  cursor: 3,
  insecureServer: false,
};

export const settingsView: SettingsView = {
  serverUrl: "http://127.0.0.1:8080",
  serverUrlFromEnv: false,
  insecureServerWarning: null,
  theme: "system",
  closeToTray: true,
  syncPaused: false,
  strategies: { logbook: "merge", repertoire: "merge", goals: "merge" },
  account: null,
  keyring: { persistent: true, problem: null, message: null, detail: null },
  dataDir: "/tmp/legato",
  clientId: "c1",
};

export const failure = (code: string, message: string, field: string | null = null) => ({
  code,
  message,
  field,
  retryable: false,
});

export function piece(patch: Partial<RepertoirePiece> = {}): RepertoirePiece {
  return {
    id: "p1",
    title: "Clair de lune",
    composer: "Debussy",
    status: "learning",
    difficulty: 3,
    notes: null,
    links: [],
    tags: [],
    statusHistory: [{ at: "2026-11-20T10:00:00.000Z", from: null, to: "learning" }],
    practiceMinutes: 0,
    sessions: 0,
    lastPracticed: null,
    createdAt: null,
    updatedAt: null,
    sync: "synced",
    ...patch,
  };
}

export function goal(patch: Partial<GoalView> = {}): GoalView {
  return {
    id: "g1",
    title: "30 minutes a day",
    description: null,
    type: "practice_time",
    targetMinutes: 30,
    period: "day",
    status: "active",
    pieceIds: [],
    milestones: [],
    notes: null,
    tags: [],
    targetDate: null,
    progress: {
      unit: "minutes",
      value: 10,
      target: 30,
      percent: 33,
      reached: false,
      loggedMinutes: 10,
      counted: 0,
      windowStart: null,
      windowEnd: null,
    },
    createdAt: null,
    sync: "synced",
    ...patch,
  };
}
