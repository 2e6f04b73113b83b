// The conflict store: the list, the offer on conflict-needs-user, resolving.

import { clearMocks } from "@tauri-apps/api/mocks";
import { afterEach, beforeAll, describe, expect, it } from "vitest";

import type { ConflictView } from "../ipc";
import { ConflictStore } from "./conflicts.svelte";
import { failure, installWindow, mockShell } from "./fixtures";
import { NotificationStore } from "./notifications.svelte";

beforeAll(installWindow);
afterEach(() => clearMocks());

const view: ConflictView = {
  id: 7,
  entityType: "logbook",
  entityId: "e1",
  operation: "update",
  remoteDeleted: false,
  editedAt: 1_795_604_400_000,
  createdAt: 1_795_604_500_000,
  baseKnown: false,
  fields: [{ field: "notes", base: null, mine: "mine", theirs: "theirs", merged: "both" }],
  mine: { duration: 30, notes: "mine" },
  theirs: { duration: 30, notes: "theirs" },
  merged: { duration: 30, notes: "both" },
};

function store() {
  const notify = new NotificationStore();
  return { notify, conflicts: new ConflictStore(notify) };
}

describe("conflicts", () => {
  it("offers the dialog when a conflict needs the user", async () => {
    mockShell({ list_conflicts: () => [view] });
    const { conflicts, notify } = store();
    await conflicts.onNeedsUser({ conflictId: 7, entityType: "logbook", entityId: "e1" });
    expect(conflicts.count).toBe(1);
    const offer = notify.items[0]!;
    expect(offer.action?.label).toBe("Review conflict");
    offer.action!.run();
    expect(conflicts.open?.id).toBe(7);
    expect(conflicts.choices).toEqual({ notes: { choice: "mine", text: "both" } });
    expect(notify.items).toEqual([]);
  });

  it("re-reads when the status counts other conflicts", async () => {
    const shell = mockShell({ list_conflicts: () => [view] });
    const { conflicts } = store();
    await conflicts.load();
    conflicts.onCount(1);
    conflicts.onCount(2);
    expect(shell.names()).toEqual(["list_conflicts", "list_conflicts"]);
  });

  it("resolves with the per-field choices", async () => {
    let waiting = [view];
    const shell = mockShell({
      list_conflicts: () => waiting,
      resolve_conflict: () => {
        waiting = [];
        return { outcome: "pushed", entityId: "e1" };
      },
    });
    const { conflicts, notify } = store();
    await conflicts.load();
    conflicts.openDialog(7);
    conflicts.setChoice("notes", "theirs");
    expect(await conflicts.resolve("choices")).toBe(true);
    expect(shell.last("resolve_conflict")).toEqual({
      conflictId: 7,
      resolution: { kind: "fields", choices: { notes: "theirs" } },
    });
    expect(conflicts.open).toBeNull();
    expect(conflicts.count).toBe(0);
    expect(notify.items.map((n) => n.text)).toEqual(["Conflict resolved"]);
  });

  it("resolves the whole entity, with an edited value, and keeps failures in the dialog", async () => {
    let fail = true;
    const shell = mockShell({
      list_conflicts: () => [view],
      resolve_conflict: () => {
        if (fail) throw failure("offline", "cannot reach the server");
        return { outcome: "acceptedRemote", entityId: "e1" };
      },
    });
    const { conflicts } = store();
    await conflicts.load();
    conflicts.openDialog(7);
    conflicts.setChoice("notes", "edit");
    conflicts.setText("notes", "by hand");
    expect(await conflicts.resolve("choices")).toBe(false);
    expect(shell.last("resolve_conflict")).toEqual({
      conflictId: 7,
      resolution: { kind: "edited", state: { duration: 30, notes: "by hand" } },
    });
    expect(conflicts.dialogError).toBe("Cannot reach the server.");
    expect(conflicts.open?.id).toBe(7);
    fail = false;
    expect(await conflicts.resolve("keepTheirs")).toBe(true);
    expect(shell.last("resolve_conflict")).toEqual({ conflictId: 7, resolution: { kind: "keepTheirs" } });
  });

  it("does not send a choice of an unknown base", async () => {
    const shell = mockShell({ list_conflicts: () => [view] });
    const { conflicts } = store();
    await conflicts.load();
    conflicts.openDialog(7);
    conflicts.setChoice("notes", "base");
    expect(await conflicts.resolve("choices")).toBe(false);
    expect(conflicts.errors).toEqual({ notes: "The base value is not known: choose another." });
    expect(shell.names()).toEqual(["list_conflicts"]);
  });

  it("closes the dialog of a conflict resolved elsewhere", async () => {
    let waiting = [view];
    mockShell({ list_conflicts: () => waiting });
    const { conflicts } = store();
    await conflicts.load();
    conflicts.openDialog(7);
    waiting = [];
    await conflicts.load();
    expect(conflicts.open).toBeNull();
  });
});
