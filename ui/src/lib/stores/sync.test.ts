// The sync store: status, catch-up, dead letters, manual controls.

import { clearMocks } from "@tauri-apps/api/mocks";
import { afterEach, beforeAll, describe, expect, it } from "vitest";

import type { DeadLetterView } from "../ipc";
import { failure, installWindow, mockShell, settle, syncStatus } from "./fixtures";
import { NotificationStore } from "./notifications.svelte";
import { SyncStore } from "./sync.svelte";

beforeAll(installWindow);
afterEach(() => clearMocks());

const letter: DeadLetterView = {
  changeId: "c1",
  title: "Invention no. 8",
  entityType: "logbook",
  entityId: "e1",
  operation: "update",
  data: {},
  attempts: 5,
  errorCode: "invalid",
  errorMessage: "duration out of range",
  failedAt: 1_795_604_400_000,
  editedAt: 1_795_604_300_000,
};

function store() {
  const notify = new NotificationStore();
  return { notify, sync: new SyncStore(notify) };
}

describe("status", () => {
  it("keeps the latest status and its catch-up", () => {
    mockShell({});
    const { sync } = store();
    sync.applyStatus({ ...syncStatus, connection: "paused" });
    expect(sync.paused).toBe(true);
    sync.onCatchUp({ since: 0, received: 500, applied: 400, seq: 500 });
    expect(sync.catchUp?.applied).toBe(400);
    sync.applyStatus(syncStatus);
    expect(sync.catchUp).toBeNull();
  });

  it("reads the dead letters when there are some", async () => {
    const shell = mockShell({ list_dead_letters: () => [letter] });
    const { sync } = store();
    sync.applyStatus({ ...syncStatus, deadLetters: 1, badge: "error" });
    await settle();
    expect(sync.deadLetters).toEqual([letter]);
    sync.applyStatus({ ...syncStatus, deadLetters: 1, badge: "error" });
    await settle();
    expect(shell.names()).toEqual(["list_dead_letters"]);
    sync.deadLettersOpen = true;
    sync.applyStatus(syncStatus);
    expect(sync.deadLetters).toEqual([]);
    expect(sync.deadLettersOpen).toBe(false);
  });

  it("announces a refused change and offers to show it", async () => {
    mockShell({ list_dead_letters: () => [letter] });
    const { sync, notify } = store();
    sync.onDeadLettered({ changeId: "c1", entityType: "logbook", entityId: "e1", code: "invalid", message: "duration out of range" });
    await settle();
    expect(notify.items[0]).toMatchObject({ kind: "error", text: "The server refused a change: duration out of range" });
    notify.items[0]!.action!.run();
    expect(sync.deadLettersOpen).toBe(true);
  });
});

describe("commands", () => {
  it("retries and discards dead letters", async () => {
    let letters = [letter, { ...letter, changeId: "c2" }];
    const shell = mockShell({
      list_dead_letters: () => letters,
      retry_dead_letter: ({ changeId }) => {
        letters = letters.filter((l) => l.changeId !== changeId);
        return null;
      },
      discard_dead_letter: ({ changeId }) => {
        letters = letters.filter((l) => l.changeId !== changeId);
        return null;
      },
    });
    const { sync } = store();
    await sync.loadDeadLetters();
    await sync.retry("c1");
    expect(shell.last("retry_dead_letter")).toEqual({ changeId: "c1" });
    expect(sync.deadLetters.map((l) => l.changeId)).toEqual(["c2"]);
    await sync.discard("c2");
    expect(sync.deadLetters).toEqual([]);
    expect(sync.busy).toBeNull();
  });

  it("reports what sync now did, or why it failed", async () => {
    let fail = false;
    mockShell({
      sync_now: () => {
        if (fail) throw { ...failure("offline", "cannot reach the server"), retryable: true };
        return { pushed: 2, pulled: 3, conflicts: 0, pending: 0, deadLetters: 0, conflictsWaiting: 1 };
      },
    });
    const { sync, notify } = store();
    await sync.syncNow();
    expect(notify.items.at(-1)?.text).toBe("Synced: 2 sent, 3 received, 1 conflicts wait");
    fail = true;
    await sync.syncNow();
    expect(notify.items.at(-1)).toMatchObject({
      kind: "error",
      text: "Sync failed: cannot reach the server",
      detail: "offline · you can try again",
    });
  });

  it("pauses and resumes", async () => {
    mockShell({
      pause_sync: () => ({ ...syncStatus, connection: "paused", badge: "offline" }),
      resume_sync: () => ({ ...syncStatus, connection: "connecting", badge: "syncing" }),
    });
    const { sync } = store();
    await sync.pause();
    expect(sync.paused).toBe(true);
    await sync.resume();
    expect(sync.status?.connection).toBe("connecting");
  });

  it("keeps a status event that arrived while pause or resume ran", async () => {
    const { sync } = store();
    let during: () => void = () => {};
    mockShell({
      resume_sync: () => {
        during();
        return { ...syncStatus, connection: "connecting", badge: "syncing", pending: 1 };
      },
      pause_sync: () => ({ ...syncStatus, connection: "paused", badge: "offline" }),
    });
    await sync.pause();
    expect(sync.paused).toBe(true);
    // The engine connected and sent the pending change before resume_sync answered.
    during = () => sync.applyStatus({ ...syncStatus, connection: "connected", badge: "synced", pending: 0 });
    await sync.resume();
    expect(sync.status).toMatchObject({ connection: "connected", pending: 0 });
    expect(sync.busy).toBeNull();
  });

  it("keeps a status event that arrived while the first status was read", async () => {
    const { sync } = store();
    mockShell({
      get_sync_status: () => {
        sync.applyStatus({ ...syncStatus, connection: "connected" });
        return { ...syncStatus, connection: "connecting" };
      },
    });
    await sync.load();
    expect(sync.status?.connection).toBe("connected");
  });
});
