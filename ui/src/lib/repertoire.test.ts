import { describe, expect, it } from "vitest";

import {
  draftFromPiece,
  emptyPieceDraft,
  filterPieces,
  lastPracticedLabel,
  pieceDraftToInput,
  practiceSummary,
  sortPieces,
  tempoBars,
  tempoTrend,
} from "./repertoire";
import { piece } from "./stores/fixtures";

const pieces = [
  piece({ id: "a", title: "Étude Op. 10 No. 3", composer: "Chopin", practiceMinutes: 120, lastPracticed: 3 }),
  piece({ id: "b", title: "Clair de lune", composer: "Debussy", practiceMinutes: 300, lastPracticed: 1 }),
  piece({ id: "c", title: "Arabesque No. 1", composer: null, practiceMinutes: 0, lastPracticed: null }),
  piece({ id: "d", title: "Ballade No. 10", composer: "Chopin", practiceMinutes: 120, lastPracticed: 2, tags: ["recital"] }),
  piece({ id: "e", title: "Ballade No. 2", composer: "chopin", practiceMinutes: 5, lastPracticed: 5 }),
];
const ids = (list: { id: string }[]) => list.map((p) => p.id).join("");

describe("sorting", () => {
  it("by last practised: newest first, never practised last", () => {
    expect(ids(sortPieces(pieces, "last-practiced"))).toBe("eadbc");
  });
  it("by most practised: ties by title", () => {
    expect(ids(sortPieces(pieces, "most-practiced"))).toBe("bdaec");
  });
  it("by title: accents and numbers read naturally", () => {
    expect(ids(sortPieces(pieces, "title"))).toBe("cedba");
  });
  it("by composer: case-insensitive, no composer last, then by title", () => {
    expect(ids(sortPieces(pieces, "composer"))).toBe("edabc");
  });
  it("leaves the input alone", () => {
    const copy = [...pieces];
    sortPieces(pieces, "title");
    expect(pieces).toEqual(copy);
  });
});

describe("search", () => {
  it("matches title, composer and tags, ignoring case and accents", () => {
    expect(ids(filterPieces(pieces, "etude"))).toBe("a");
    expect(ids(filterPieces(pieces, "DEBUSSY"))).toBe("b");
    expect(ids(filterPieces(pieces, "recital"))).toBe("d");
    expect(ids(filterPieces(pieces, "  "))).toBe("abcde");
  });
});

describe("practice figures", () => {
  it("read as time and sessions", () => {
    expect(practiceSummary({ practiceMinutes: 150, sessions: 5 })).toBe("2 h 30 min in 5 sessions");
    expect(practiceSummary({ practiceMinutes: 20, sessions: 1 })).toBe("20 min in 1 session");
    expect(practiceSummary({ practiceMinutes: 0, sessions: 0 })).toBe("Not practised yet");
    expect(lastPracticedLabel(null)).toBe("Never practised");
    expect(lastPracticedLabel(new Date(2026, 10, 25, 18, 30).getTime())).toBe("Last practised 25 Nov 2026, 18:30");
  });

  it("tempo bars are shares of the fastest, and the trend spans first to last", () => {
    const points = [
      { entryId: "e1", at: 1, tempo: 60 },
      { entryId: "e2", at: 2, tempo: 90 },
      { entryId: "e3", at: 3, tempo: 72 },
    ];
    expect(tempoBars(points).map((p) => p.share)).toEqual([60 / 90, 1, 72 / 90]);
    expect(tempoTrend(points)).toEqual({ first: 60, last: 72, change: 12 });
    expect(tempoTrend(points.slice(0, 1))).toBeNull();
    expect(tempoBars([])).toEqual([]);
  });
});

describe("the piece form", () => {
  it("round-trips a piece and normalises the input", () => {
    const draft = draftFromPiece(
      piece({ links: ["https://imslp.org/a", "https://imslp.org/b"], tags: ["a", "b"], difficulty: null }),
    );
    expect(draft).toMatchObject({ links: "https://imslp.org/a\nhttps://imslp.org/b", tags: "a, b", difficulty: "" });
    draft.title = "  Clair de lune ";
    draft.composer = " ";
    draft.links += "\n https://imslp.org/a ";
    expect(pieceDraftToInput(draft)).toEqual({
      input: {
        title: "Clair de lune",
        composer: null,
        status: "learning",
        difficulty: null,
        notes: null,
        links: ["https://imslp.org/a", "https://imslp.org/b"],
        tags: ["a", "b"],
      },
      errors: null,
    });
  });

  it("names the fields in error", () => {
    const draft = { ...emptyPieceDraft(), difficulty: "7", links: "imslp.org/x" };
    expect(pieceDraftToInput(draft).errors).toEqual({
      title: "A piece needs a title.",
      difficulty: "Difficulty is 1 to 5.",
      links: "“imslp.org/x” is not an http(s) link.",
    });
    expect(pieceDraftToInput({ ...emptyPieceDraft(), title: "x".repeat(201) }).errors).toEqual({
      title: "At most 200 characters.",
    });
    expect(pieceDraftToInput({ ...emptyPieceDraft(), title: "x".repeat(200) }).errors).toBeNull();
  });
});
