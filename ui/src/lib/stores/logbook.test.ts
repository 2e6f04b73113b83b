// The logbook store against a mocked shell: filters, the form, delete and undo, live changes.

import { clearMocks } from "@tauri-apps/api/mocks";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import { entry, failure, installWindow, listOf, mockShell, settle, stats } from "./fixtures";
import { emptyFilter, filterQuery, LogbookStore } from "./logbook.svelte";
import { NotificationStore } from "./notifications.svelte";

beforeAll(installWindow);
afterEach(() => {
  clearMocks();
  vi.useRealTimers();
});

function store() {
  const notify = new NotificationStore();
  return { notify, logbook: new LogbookStore(notify) };
}

describe("filters", () => {
  it("sends only the filled-in fields", () => {
    expect(filterQuery(emptyFilter())).toEqual({});
    expect(
      filterQuery({ ...emptyFilter(), search: "  bach ", type: "lesson", from: "2026-11-01", tag: " " }),
    ).toEqual({ search: "bach", type: "lesson", from: "2026-11-01" });
  });

  it("re-reads the list once typing pauses, and at once for the others", async () => {
    vi.useFakeTimers();
    const shell = mockShell({ list_entries: () => listOf(), get_stats: () => stats });
    const { logbook } = store();
    logbook.setFilter({ piece: "C" }, true);
    logbook.setFilter({ piece: "Cl" }, true);
    logbook.setFilter({ piece: "Clair" }, true);
    expect(shell.names()).toEqual([]);
    await vi.advanceTimersByTimeAsync(300);
    expect(shell.calls.filter(([c]) => c === "list_entries")).toEqual([
      ["list_entries", { filter: { piece: "Clair", days: 60 } }],
    ]);
    logbook.setFilter({ type: "lesson" });
    await vi.advanceTimersByTimeAsync(0);
    expect(shell.last("list_entries")).toEqual({ filter: { piece: "Clair", type: "lesson", days: 60 } });
    expect(logbook.filtered).toBe(true);
    logbook.clearFilters();
    await vi.advanceTimersByTimeAsync(0);
    expect(shell.last("list_entries")).toEqual({ filter: { days: 60 } });
    expect(logbook.filtered).toBe(false);
  });

  it("keeps the list's error, with its field", async () => {
    mockShell({
      list_entries: () => {
        throw failure("invalid", "`from` is after `to`", "from");
      },
      get_stats: () => stats,
    });
    const { logbook } = store();
    await logbook.load();
    expect(logbook.listError).toMatchObject({ code: "invalid", field: "from" });
  });
});

describe("the entry form", () => {
  it("checks the draft before asking the shell", async () => {
    const shell = mockShell({});
    const { logbook } = store();
    logbook.startNew(new Date(2026, 10, 25, 18, 30));
    logbook.draft!.minutes = "0";
    expect(await logbook.save()).toBeNull();
    expect(logbook.fieldErrors).toEqual({ minutes: "Enter between 1 and 1440 minutes." });
    expect(shell.names()).toEqual([]);
  });

  it("puts the shell's field error next to the field", async () => {
    mockShell({
      create_entry: () => {
        throw failure("invalid", "title too long", "pieces[0].title");
      },
    });
    const { logbook } = store();
    logbook.startNew(new Date(2026, 10, 25, 18, 30));
    logbook.addPiece();
    logbook.addPiece();
    logbook.draft!.pieces[1]!.title = "x";
    expect(await logbook.save()).toBeNull();
    // The first row was empty and not sent: the error belongs to the second row.
    expect(logbook.fieldErrors).toEqual({ "pieces.1.title": "Title too long." });
    expect(logbook.mode).toBe("new");
  });

  it("creates an entry, shows it and says so", async () => {
    const saved = entry({ id: "new" });
    const shell = mockShell({
      create_entry: () => saved,
      list_entries: () => listOf(saved),
      get_stats: () => stats,
    });
    const { logbook, notify } = store();
    logbook.startNew(new Date(2026, 10, 25, 18, 30));
    logbook.draft!.tags = "evening, exam";
    await logbook.save();
    expect(shell.last("create_entry")).toMatchObject({
      input: { duration: 30, type: "practice", tags: ["evening", "exam"], pieces: [] },
    });
    expect(logbook.selected).toEqual(saved);
    expect(logbook.mode).toBe("view");
    expect(logbook.draft).toBeNull();
    expect(notify.items.map((n) => n.text)).toEqual(["Entry added"]);
  });

  it("logs a new entry as ending when it is saved, unless its time was set", async () => {
    const shell = mockShell({
      create_entry: ({ input }) => entry({ id: "new", ...(input as object) }),
      list_entries: () => listOf(),
      get_stats: () => stats,
    });
    const { logbook } = store();
    logbook.startNew(new Date(2026, 10, 25, 7, 0));
    logbook.draft!.minutes = 25;
    logbook.minutesChanged(new Date(2026, 10, 25, 7, 1));
    expect(logbook.draft).toMatchObject({ date: "2026-11-25", time: "06:36" });
    await logbook.save(new Date(2026, 10, 25, 7, 17));
    const sent = shell.last("create_entry") as { input: { timestamp: string } };
    expect(new Date(sent.input.timestamp).getTime()).toBe(new Date(2026, 10, 25, 6, 52).getTime());

    logbook.startNew(new Date(2026, 10, 25, 7, 0));
    logbook.draft!.time = "05:15";
    logbook.startChanged();
    logbook.draft!.minutes = 25;
    logbook.minutesChanged(new Date(2026, 10, 25, 7, 1));
    await logbook.save(new Date(2026, 10, 25, 7, 17));
    const kept = shell.last("create_entry") as { input: { timestamp: string } };
    expect(new Date(kept.input.timestamp).getTime()).toBe(new Date(2026, 10, 25, 5, 15).getTime());
  });

  it("edits the selected entry", async () => {
    const before = entry();
    const shell = mockShell({
      update_entry: ({ input }) => ({ ...before, duration: (input as { duration: number }).duration }),
      list_entries: () => listOf(before),
      get_stats: () => stats,
    });
    const { logbook } = store();
    logbook.select(before);
    logbook.startEdit();
    expect(logbook.draft?.minutes).toBe("45");
    logbook.draft!.minutes = 50;
    await logbook.save();
    expect(shell.last("update_entry")).toMatchObject({ id: "e1", input: { duration: 50 } });
    expect(logbook.selected?.duration).toBe(50);
  });

  it("shows other failures above the form", async () => {
    mockShell({
      create_entry: () => {
        throw failure("disk_full", "the disk is full");
      },
    });
    const { logbook } = store();
    logbook.startNew();
    await logbook.save();
    expect(logbook.fieldErrors).toEqual({ form: "The disk is full." });
  });
});

describe("delete and undo", () => {
  it("deletes, then brings the entry back from the notification", async () => {
    const gone = entry();
    const back = entry({ id: "e2" });
    const shell = mockShell({
      delete_entry: ({ id }) => ({ id }),
      undo_delete: () => ({ entry: back, sameId: false }),
      list_entries: () => listOf(),
      get_stats: () => stats,
    });
    const { logbook, notify } = store();
    logbook.select(gone);
    expect(await logbook.remove(gone)).toBe(true);
    expect(logbook.selected).toBeNull();
    const notice = notify.items.find((n) => n.text === "Entry deleted");
    expect(notice?.action?.label).toBe("Undo");
    notice!.action!.run();
    await settle();
    expect(shell.last("undo_delete")).toEqual({ id: "e1" });
    expect(logbook.selected).toEqual(back);
    expect(notify.items.map((n) => n.text)).toEqual(["Entry restored"]);
  });

  it("reports a failed delete", async () => {
    mockShell({
      delete_entry: () => {
        throw failure("not_found", "no entry e1");
      },
    });
    const { logbook, notify } = store();
    expect(await logbook.remove(entry())).toBe(false);
    expect(notify.items[0]).toMatchObject({ kind: "error", text: "Cannot delete the entry: no entry e1" });
  });
});

describe("long histories", () => {
  it("reads days in pages", async () => {
    const days = Array.from({ length: 130 }, (_, i) => ({
      date: `2026-01-${String(i).padStart(3, "0")}`,
      totalMinutes: 30,
      entries: [entry({ id: `e${i}` })],
    }));
    const shell = mockShell({
      list_entries: ({ filter }) => {
        const wanted = (filter as { days: number }).days;
        const page = days.slice(0, wanted);
        return { days: page, totalMinutes: 30 * page.length, count: page.length, more: wanted < days.length };
      },
      get_stats: () => stats,
    });
    const { logbook } = store();
    await logbook.load();
    expect(shell.last("list_entries")).toEqual({ filter: { days: 60 } });
    expect(logbook.shownDays).toHaveLength(60);
    expect(logbook.moreDays).toBe(true);
    await logbook.showMoreDays();
    await logbook.showMoreDays();
    expect(shell.last("list_entries")).toEqual({ filter: { days: 180 } });
    expect(logbook.shownDays).toHaveLength(130);
    expect(logbook.moreDays).toBe(false);
    logbook.setFilter({ type: "lesson" });
    await settle();
    expect(shell.last("list_entries")).toEqual({ filter: { type: "lesson", days: 60 } });
    expect(logbook.moreDays).toBe(true);
  });
});

describe("live changes", () => {
  it("re-reads on entries-changed and follows the selected entry", async () => {
    vi.useFakeTimers();
    let current = entry();
    const shell = mockShell({ list_entries: () => listOf(current), get_stats: () => stats });
    const { logbook } = store();
    await logbook.load();
    logbook.select(current);
    current = entry({ notes: "changed on the phone" });
    // A burst of events (a catch-up) makes one re-read.
    for (let i = 0; i < 5; i++) {
      logbook.onEntriesChanged({ entityType: "logbook", ids: ["e1"], origin: "sync" });
    }
    await vi.advanceTimersByTimeAsync(200);
    expect(shell.names().filter((c) => c === "list_entries")).toHaveLength(2);
    expect(logbook.selected?.notes).toBe("changed on the phone");
    expect(logbook.stats).toEqual(stats);

    logbook.onEntriesChanged({ entityType: "goals", ids: null, origin: "sync" });
    await vi.advanceTimersByTimeAsync(200);
    expect(shell.names().filter((c) => c === "list_entries")).toHaveLength(2);
  });

  it("closes the details of an entry deleted elsewhere", async () => {
    mockShell({
      list_entries: () => listOf(),
      get_stats: () => stats,
      get_entry: () => {
        throw failure("not_found", "no such entry");
      },
    });
    const { logbook } = store();
    logbook.select(entry());
    await logbook.load();
    await settle();
    expect(logbook.selected).toBeNull();
  });

  it("drops a stale answer", async () => {
    let release: (v: unknown) => void = () => {};
    let calls = 0;
    mockShell({
      list_entries: () => {
        calls += 1;
        return calls === 1 ? new Promise((r) => (release = r)) : listOf(entry({ id: "fresh" }));
      },
      get_stats: () => stats,
    });
    const { logbook } = store();
    const first = logbook.load();
    await logbook.load();
    release(listOf(entry({ id: "stale" })));
    await first;
    expect(logbook.list?.days[0]?.entries[0]?.id).toBe("fresh");
  });
});

describe("editing while the entry changes elsewhere", () => {
  it("keeps the draft and says the entry moved", async () => {
    let current = entry({ updatedAt: "2026-11-25T18:00:00.000Z" });
    mockShell({ list_entries: () => listOf(current), get_stats: () => stats });
    const { logbook } = store();
    logbook.select(current);
    logbook.startEdit();
    logbook.draft!.notes = "my notes";
    current = entry({ updatedAt: "2026-11-25T18:05:00.000Z", notes: "from the phone" });
    await logbook.load();
    expect(logbook.changedElsewhere).toBe(true);
    expect(logbook.draft?.notes).toBe("my notes");
    logbook.cancelEdit();
    expect(logbook.changedElsewhere).toBe(false);
    await settle();
    expect(logbook.selected?.notes).toBe("from the phone");
  });
});

describe("log practice from a piece", () => {
  it("opens the new-entry form with the piece and its repertoire id", () => {
    mockShell({});
    const { logbook } = store();
    logbook.startNewFor({ title: "Clair de lune", composer: null, scoreId: "p1" }, new Date(2026, 10, 25, 18, 30));
    expect(logbook.mode).toBe("new");
    expect(logbook.draft?.pieces).toEqual([{ title: "Clair de lune", composer: "", kept: { scoreId: "p1" } }]);
    expect(logbook.draft?.time).toBe("18:00");
  });
});
