// The pure helpers: durations, days, times, lists, the status line, conflict values.

import { describe, expect, it } from "vitest";

import {
  editText,
  entryTitle,
  fieldLabel,
  formatDayHeading,
  formatInstrument,
  formatLastSync,
  formatMinutes,
  formatTime,
  formatValue,
  joinTimestamp,
  parseDay,
  parseEditText,
  sentence,
  splitList,
  splitTimestamp,
  syncStateLabel,
  syncStatusLine,
  syncStatusParts,
  INSECURE_PART,
} from "./format";
import type { SyncStatusView } from "./ipc";

const status: SyncStatusView = {
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
  cursor: 0,
  insecureServer: false,
};

describe("durations and days", () => {
  it.each([
    [0, "0 min"],
    [45, "45 min"],
    [60, "1 h"],
    [75, "1 h 15 min"],
    [1440, "24 h"],
  ])("formats %i minutes as %s", (minutes, text) => {
    expect(formatMinutes(minutes)).toBe(text);
  });

  it("names a day in full", () => {
    expect(formatDayHeading("2026-11-25")).toBe("Wednesday, 25 November 2026");
    expect(formatDayHeading("not a day")).toBe("not a day");
    expect(parseDay("2026-02-30")).toBeNull();
  });

  it("splits and joins local date and time", () => {
    const timestamp = joinTimestamp("2026-11-25", "18:30");
    expect(timestamp).toMatch(/^2026-11-25T18:30:00([+-]\d{2}:\d{2}|Z)$/);
    expect(splitTimestamp(timestamp!)).toEqual({ date: "2026-11-25", time: "18:30" });
    expect(formatTime(timestamp!)).toBe("18:30");
    expect(joinTimestamp("2026-11-25", "")).toBeNull();
    expect(joinTimestamp("", "18:30")).toBeNull();
    expect(joinTimestamp("2026-13-01", "18:30")).toBeNull();
    expect(splitTimestamp("garbage")).toEqual({ date: "", time: "" });
  });
});

describe("lists", () => {
  it("splits comma-separated text, dropping empties and repeats", () => {
    expect(splitList(" scales, arpeggios,, Scales ,")).toEqual(["scales", "arpeggios"]);
    expect(splitList("")).toEqual([]);
  });

  it("titles an entry by its pieces, else its type", () => {
    expect(entryTitle({ type: "lesson", pieces: [] })).toBe("Lesson");
    expect(
      entryTitle({ type: "practice", pieces: [{ title: "Clair de lune" }, { title: "Gymnopédie" }] }),
    ).toBe("Clair de lune, Gymnopédie");
    expect(formatInstrument("piano")).toBe("Piano");
  });
});

describe("the sync status line", () => {
  const now = new Date(2026, 10, 25, 18, 0);
  const today = new Date(2026, 10, 25, 14, 5).getTime();

  it("starts with the state, then pending, last sync and health", () => {
    expect(syncStatusLine({ ...status, pending: 2, lastSyncAt: today }, now)).toBe(
      "Synced · 2 pending · Last sync 14:05 · Healthy",
    );
    expect(syncStatusLine(status, now)).toBe("Synced · Never synced · Healthy");
  });

  it("shows an older last sync with its day, and the last error", () => {
    const yesterday = new Date(2026, 10, 24, 9, 30).getTime();
    expect(formatLastSync(yesterday, now)).toBe("Last sync 24 Nov, 09:30");
    expect(
      syncStatusLine(
        {
          ...status,
          connection: "offline",
          badge: "offline",
          lastError: {
            code: "unreachable",
            retryable: true,
            message: "Can't reach the sync server — changes are kept and will sync when it's back",
            detail: "network: IO error: Connection refused (os error 111)",
          },
          health: "degraded",
        },
        now,
      ),
    ).toBe(
      "Offline · Never synced · Can't reach the sync server — changes are kept and will sync when it's back · Degraded",
    );
  });

  it("marks the error part by its kind, with the detail as its tooltip, whatever its words", () => {
    // The sentence is the same words as another part: the bar must not tell them apart by text.
    const parts = syncStatusParts(
      {
        ...status,
        pending: 1,
        insecureServer: true,
        lastError: { code: "other", retryable: true, message: "1 pending", detail: "engine words" },
      },
      now,
    );
    expect(parts.filter((part) => part.text === "1 pending").map((part) => part.kind)).toEqual([
      "info",
      "error",
    ]);
    expect(parts.find((part) => part.kind === "error")?.title).toBe("engine words");
    expect(parts.find((part) => part.kind === "insecure")?.text).toBe(INSECURE_PART);
    expect(parts.filter((part) => part.kind === "info").every((part) => part.title === undefined)).toBe(
      true,
    );
  });

  it.each<[Partial<SyncStatusView>, string]>([
    [{ connection: "connected", badge: "syncing" }, "Syncing"],
    [{ connection: "connecting", badge: "syncing" }, "Connecting"],
    [{ connection: "offline", badge: "offline" }, "Offline"],
    [{ connection: "paused", badge: "offline" }, "Paused"],
    [{ connection: "signedOut", badge: "offline" }, "Offline"],
    [{ connection: "connected", badge: "conflict" }, "Conflict needs you"],
    [{ connection: "paused", badge: "error" }, "Some changes failed"],
  ])("names the state of %o %s", (patch, label) => {
    expect(syncStateLabel({ ...status, ...patch })).toBe(label);
  });

  it("says why pending changes wait, while they do", () => {
    const pendingRefusal = {
      code: "quota_exceeded" as const,
      retryable: true,
      message: "Your account's storage on the server is full — new changes wait on this device",
      detail: "quota_exceeded: the account's storage quota is used up",
    };
    expect(syncStatusLine({ ...status, pending: 2, pendingRefusal }, now)).toBe(
      "Synced · 2 pending · Never synced · Your account's storage on the server is full — new changes wait on this device · Healthy",
    );
    expect(syncStatusLine({ ...status, pending: 0, pendingRefusal }, now)).toBe(
      "Synced · Never synced · Healthy",
    );
  });

  it("warns when the server is not encrypted", () => {
    expect(syncStatusLine({ ...status, insecureServer: true }, now)).toBe(
      "Synced · Never synced · Not encrypted · Healthy",
    );
  });

  it("says when the device is signed out", () => {
    expect(
      syncStatusLine({ ...status, connection: "signedOut", badge: "offline", health: "unhealthy" }, now),
    ).toBe("Offline · Never synced · Signed out · Unhealthy");
  });
});

describe("conflict values", () => {
  it("labels fields for people", () => {
    expect(fieldLabel("duration")).toBe("Minutes");
    expect(fieldLabel("targetMinutes")).toBe("Target minutes");
  });

  it("formats values by field", () => {
    expect(formatValue("notes", null)).toBe("(empty)");
    expect(formatValue("duration", 75)).toBe("1 h 15 min");
    expect(formatValue("tags", ["a", "b"])).toBe("a, b");
    expect(formatValue("tags", [])).toBe("(none)");
    expect(formatValue("type", "status_change")).toBe("Status change");
    expect(formatValue("pieces", [{ title: "Etude", composer: "Chopin" }, { title: "Scale" }])).toBe(
      "Etude (Chopin); Scale",
    );
    expect(formatValue("metadata", { a: 1 })).toBe('{"a":1}');
  });

  it("edits values as text and parses them back like the sides", () => {
    expect(editText(["a", "b"])).toBe("a, b");
    expect(parseEditText("a, b ,", ["x"])).toEqual({ value: ["a", "b"] });
    expect(parseEditText("50", 30)).toEqual({ value: 50 });
    expect(parseEditText("fifty", 30)).toHaveProperty("error");
    expect(parseEditText("  mine and theirs ", "mine")).toEqual({ value: "mine and theirs" });
    expect(parseEditText("", "mine")).toEqual({ value: null });
    expect(parseEditText("", ["a"])).toEqual({ value: [] });
    const pieces = [{ title: "Etude" }];
    expect(parseEditText(editText(pieces), pieces)).toEqual({ value: pieces });
    expect(parseEditText("[{", pieces)).toHaveProperty("error");
  });
});

describe("messages", () => {
  it("turns shell messages into sentences", () => {
    expect(sentence("wrong email or password")).toBe("Wrong email or password.");
    expect(sentence("Done!")).toBe("Done!");
    expect(sentence("  ")).toBe("");
  });
});

describe("times in conflicts", () => {
  it("shows the practice time to the minute and bookkeeping times to the second", () => {
    const at = joinTimestamp("2026-11-25", "18:30")!;
    expect(formatValue("timestamp", at)).toBe("25 Nov 2026, 18:30");
    expect(formatValue("updatedAt", at)).toBe("25 Nov 2026, 18:30:00");
  });
});
