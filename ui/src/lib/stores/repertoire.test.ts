// The repertoire store against a mocked shell: list and sort, the form with its errors,
// the similar-piece lookup, status changes, log practice, live changes.

import { clearMocks } from "@tauri-apps/api/mocks";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import { failure, installWindow, mockShell, piece, settle } from "./fixtures";
import { NotificationStore } from "./notifications.svelte";
import { RepertoireStore, SIMILAR_DEBOUNCE_MS } from "./repertoire.svelte";

beforeAll(installWindow);
afterEach(() => {
  clearMocks();
  vi.useRealTimers();
});

function store() {
  return new RepertoireStore(new NotificationStore());
}

describe("the list", () => {
  it("loads, searches and sorts", async () => {
    mockShell({
      list_pieces: () => [
        piece({ id: "a", title: "Arabesque", lastPracticed: 1, practiceMinutes: 90 }),
        piece({ id: "b", title: "Berceuse", lastPracticed: 5, practiceMinutes: 10 }),
      ],
    });
    const repertoire = store();
    await repertoire.load();
    expect(repertoire.loaded).toBe(true);
    expect(repertoire.shown.map((p) => p.id)).toEqual(["b", "a"]);
    repertoire.setSort("most-practiced");
    expect(repertoire.shown.map((p) => p.id)).toEqual(["a", "b"]);
    repertoire.search = "berc";
    expect(repertoire.shown.map((p) => p.id)).toEqual(["b"]);
    repertoire.setLayout("grid");
    expect(repertoire.layout).toBe("grid");
  });

  it("re-reads once for a burst of logbook or repertoire changes, not for goals", async () => {
    vi.useFakeTimers();
    const shell = mockShell({ list_pieces: () => [] });
    const repertoire = store();
    repertoire.onEntriesChanged({ entityType: "goals", ids: null, origin: "sync" });
    repertoire.onEntriesChanged({ entityType: "logbook", ids: ["e1"], origin: "sync" });
    repertoire.onEntriesChanged({ entityType: "repertoire", ids: ["p1"], origin: "sync" });
    await vi.advanceTimersByTimeAsync(200);
    expect(shell.names()).toEqual(["list_pieces"]);
  });

  it("closes the page of a piece deleted elsewhere", async () => {
    let gone = false;
    mockShell({
      list_pieces: () => [],
      get_piece: () => {
        if (gone) throw failure("not_found", "no repertoire piece `p1`");
        return { piece: piece(), tempoHistory: [] };
      },
    });
    const repertoire = store();
    await repertoire.open("p1");
    expect(repertoire.detail?.piece.id).toBe("p1");
    gone = true;
    await repertoire.load();
    expect(repertoire.detail).toBeNull();
  });
});

describe("the form", () => {
  it("checks the draft before the shell sees it", async () => {
    const shell = mockShell({});
    const repertoire = store();
    repertoire.startNew();
    expect(await repertoire.save()).toBeNull();
    expect(repertoire.fieldErrors).toEqual({ title: "A piece needs a title." });
    expect(shell.names()).toEqual([]);
  });

  it("creates, then opens the new piece", async () => {
    const created = piece({ id: "new", title: "Nocturne" });
    const shell = mockShell({
      create_piece: () => created,
      list_pieces: () => [created],
      get_piece: () => ({ piece: created, tempoHistory: [] }),
    });
    const repertoire = store();
    repertoire.startNew();
    repertoire.draft!.title = " Nocturne ";
    repertoire.draft!.status = "learning";
    expect(await repertoire.save()).toEqual(created);
    expect(shell.last("create_piece")).toEqual({
      input: { title: "Nocturne", composer: null, status: "learning", difficulty: null, notes: null, links: [], tags: [] },
    });
    expect(repertoire.mode).toBe("view");
    expect(repertoire.detail?.piece.id).toBe("new");
  });

  it("puts the shell's field error next to its field", async () => {
    mockShell({ create_piece: () => { throw failure("invalid", "field `title`: too long", "title"); } });
    const repertoire = store();
    repertoire.startNew();
    repertoire.draft!.title = "x";
    await repertoire.save();
    expect(repertoire.fieldErrors.title).toBe("Field `title`: too long.");
  });

  it("looks up similar pieces after a pause, leaving out the piece being edited", async () => {
    vi.useFakeTimers();
    const shell = mockShell({
      get_piece: () => ({ piece: piece({ id: "p1" }), tempoHistory: [] }),
      similar_pieces: () => [{ id: "p2", title: "Clair de Lune", composer: null }],
    });
    const repertoire = store();
    await repertoire.open("p1");
    repertoire.startEdit();
    repertoire.draft!.title = "Clair de lun";
    repertoire.nameChanged();
    repertoire.draft!.title = "Clair de lune";
    repertoire.nameChanged();
    await vi.advanceTimersByTimeAsync(SIMILAR_DEBOUNCE_MS + 10);
    expect(shell.calls.filter(([c]) => c === "similar_pieces")).toEqual([
      ["similar_pieces", { title: "Clair de lune", composer: "Debussy", except: "p1" }],
    ]);
    expect(repertoire.similar.map((p) => p.id)).toEqual(["p2"]);
    repertoire.cancelEdit();
    expect(repertoire.similar).toEqual([]);
  });
});

describe("from a piece's page", () => {
  it("changes the status through update_piece (the store writes the history)", async () => {
    const shell = mockShell({
      update_piece: (args) => piece({ status: (args.input as { status: "polished" }).status }),
      list_pieces: () => [],
    });
    const repertoire = store();
    await repertoire.setStatus(piece(), "polished");
    expect(shell.last("update_piece")).toMatchObject({ id: "p1", input: { status: "polished", title: "Clair de lune" } });
    await repertoire.setStatus(piece({ status: "polished" }), "polished");
    expect(shell.names().filter((n) => n === "update_piece")).toHaveLength(1);
  });

  it("hands the piece to the logbook's new-entry form", async () => {
    mockShell({});
    const repertoire = store();
    const logged: unknown[] = [];
    repertoire.onLogPractice((p) => logged.push(p));
    repertoire.logPractice(piece());
    await settle();
    expect(logged).toEqual([{ title: "Clair de lune", composer: "Debussy", scoreId: "p1" }]);
  });
});
