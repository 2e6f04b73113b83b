// The IPC module against Tauri's IPC mock: commands get their arguments under the names the
// Rust side expects, failures become `IpcFailure`s, listeners deliver payloads and stop.

import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";
import { afterEach, beforeAll, describe, expect, it } from "vitest";

import type { SyncStatusView } from "./bindings";

beforeAll(() => {
  // The mocks install themselves on `window`; vitest runs in Node.
  (globalThis as { window?: unknown }).window ??= globalThis;
});

afterEach(() => clearMocks());

async function ipc() {
  return import("./index");
}

/** Lets promise callbacks (listener registration, event delivery) run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

const status: SyncStatusView = {
  connection: "connected",
  badge: "synced",
  pending: 0,
  deadLetters: 0,
  conflicts: 0,
  lastSyncAt: 1_764_095_400_000,
  lastError: null,
  pendingRefusal: null,
  health: "healthy",
  catchUp: null,
  nextRetryAt: null,
  cursor: 12,
  insecureServer: false,
};

describe("commands", () => {
  it("invokes commands with camelCase argument names", async () => {
    const calls: Array<[string, unknown]> = [];
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      if (cmd === "list_entries") return { days: [], totalMinutes: 0, count: 0 };
      return null;
    });
    const { logbook, settings, sync } = await ipc();
    await expect(logbook.list({ from: "2026-11-25" })).resolves.toEqual({
      days: [],
      totalMinutes: 0,
      count: 0,
    });
    await settings.setConflictStrategy("goals", "manual");
    await sync.retryDeadLetter("c1");
    expect(calls).toEqual([
      ["list_entries", { filter: { from: "2026-11-25" } }],
      ["set_conflict_strategy", { entityType: "goals", strategy: "manual" }],
      ["retry_dead_letter", { changeId: "c1" }],
    ]);
  });

  it("rejects with an IpcFailure carrying the shell's error", async () => {
    mockIPC(() => {
      throw { code: "invalid", message: "field `duration`", field: "duration", retryable: false };
    });
    const { logbook, IpcFailure } = await ipc();
    const failure = await logbook
      .create({
        timestamp: "2026-11-25T18:30:00Z",
        duration: 0,
        type: "practice",
        pieces: [],
        techniques: [],
        tags: [],
      })
      .catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(IpcFailure);
    expect(failure).toMatchObject({ code: "invalid", field: "duration", retryable: false });
  });

  it("turns Tauri's own string errors into internal failures", async () => {
    const { toFailure } = await ipc();
    expect(toFailure("command not found")).toMatchObject({
      code: "internal",
      message: "command not found",
    });
  });
});

describe("events", () => {
  it("delivers payloads until unsubscribed", async () => {
    mockIPC(() => null, { shouldMockEvents: true });
    const { events, EVENTS } = await ipc();
    const seen: SyncStatusView[] = [];
    const stop = events.onSyncStatus((s) => seen.push(s));
    await settle();
    await emit(EVENTS.syncStatus, status);
    await settle();
    expect(seen).toEqual([status]);
    stop();
    stop();
    await emit(EVENTS.syncStatus, { ...status, pending: 3 });
    await settle();
    expect(seen).toHaveLength(1);
  });

  it("can be unsubscribed before the listener is registered", async () => {
    mockIPC(() => null, { shouldMockEvents: true });
    const { events, EVENTS } = await ipc();
    const seen: unknown[] = [];
    const stop = events.onEntriesChanged((e) => seen.push(e));
    stop();
    await settle();
    await emit(EVENTS.entriesChanged, { entityType: "logbook", ids: null, origin: "sync" });
    await settle();
    expect(seen).toEqual([]);
  });
});
