// Notifications: timeouts, errors that stay, one notice per key.

import { afterEach, describe, expect, it, vi } from "vitest";

import { IpcFailure } from "../ipc";
import { DEFAULT_TIMEOUT_MS, NotificationStore } from "./notifications.svelte";

afterEach(() => vi.useRealTimers());

describe("notifications", () => {
  it("lets messages go by themselves and keeps errors", () => {
    vi.useFakeTimers();
    const notify = new NotificationStore();
    notify.success("Entry saved");
    notify.failure(
      "Cannot save",
      new IpcFailure({ code: "disk_full", message: "the disk is full", field: null, retryable: false }),
    );
    vi.advanceTimersByTime(DEFAULT_TIMEOUT_MS + 1);
    expect(notify.items.map((n) => [n.kind, n.text, n.detail])).toEqual([
      ["error", "Cannot save: the disk is full", "disk_full"],
    ]);
  });

  it("replaces a notice with the same key and dismisses by key", () => {
    const notify = new NotificationStore();
    notify.info("Entry deleted", { key: "deleted", timeout: 0 });
    notify.info("Entry deleted", { key: "deleted", timeout: 0 });
    expect(notify.items).toHaveLength(1);
    notify.dismissKey("deleted");
    notify.dismissKey("deleted");
    expect(notify.items).toEqual([]);
  });
});
