// The entry form's model: drafts from entries and from now, checks, IPC field names.

import { describe, expect, it } from "vitest";

import {
  draftFromEntry,
  draftToInput,
  emptyPiece,
  fieldKey,
  followMinutes,
  newDraft,
  startEdited,
} from "./entry-form";
import { joinTimestamp } from "./format";
import type { Entry } from "./ipc";

const entry: Entry = {
  id: "e1",
  timestamp: joinTimestamp("2026-11-25", "18:30")!,
  duration: 45,
  type: "lesson",
  instrument: "piano",
  pieces: [{ title: "Clair de lune", composer: "Debussy", measures: "1-32", tempo: 60, scoreId: null }],
  techniques: ["pedalling"],
  mood: "satisfied",
  notes: "slow",
  tags: ["exam", "evening"],
  goalIds: [],
  createdAt: null,
  updatedAt: null,
  sync: "synced",
};

describe("drafts", () => {
  it("round-trips an entry, keeping the piece fields the form does not show", () => {
    const draft = draftFromEntry(entry);
    expect(draft).toMatchObject({
      date: "2026-11-25",
      time: "18:30",
      minutes: "45",
      tags: "exam, evening",
      mood: "satisfied",
    });
    const result = draftToInput(draft);
    expect(result.errors).toBeUndefined();
    expect(result.input).toEqual({
      timestamp: entry.timestamp,
      duration: 45,
      type: "lesson",
      instrument: "piano",
      pieces: entry.pieces,
      techniques: ["pedalling"],
      mood: "satisfied",
      notes: "slow",
      tags: ["exam", "evening"],
    });
  });

  it("starts a new entry that ends now, on the last instrument", () => {
    const draft = newDraft(new Date(2026, 10, 25, 18, 30), { instrument: "cello" });
    expect(draft).toMatchObject({ date: "2026-11-25", time: "18:00", minutes: "30", instrument: "cello" });
    expect(draft.pieces).toEqual([emptyPiece()]);
    expect(draftToInput(draft).input?.pieces).toEqual([]);
  });

  it("starts a new entry minutes before now, following Minutes until Date or Time is set", () => {
    const draft = newDraft(new Date(2026, 10, 25, 7, 0));
    expect(draft).toMatchObject({ date: "2026-11-25", time: "06:30", startFollowsMinutes: true });
    // 25 minutes, saved at 07:17: the session started at 06:52.
    draft.minutes = 25;
    followMinutes(draft, new Date(2026, 10, 25, 7, 17));
    expect(draft).toMatchObject({ date: "2026-11-25", time: "06:52" });
    // Across midnight, and from the text of the field.
    draft.minutes = "90";
    followMinutes(draft, new Date(2026, 10, 26, 0, 30));
    expect(draft).toMatchObject({ date: "2026-11-25", time: "23:00" });
    // An unusable number leaves the start where it was.
    for (const minutes of ["", null, "0", "2.5", "abc", 5000]) {
      draft.minutes = minutes;
      followMinutes(draft, new Date(2026, 10, 25, 12, 0));
      expect(draft).toMatchObject({ date: "2026-11-25", time: "23:00" });
    }
    // The user set the time: it stays.
    draft.time = "05:00";
    startEdited(draft);
    draft.minutes = 10;
    followMinutes(draft, new Date(2026, 10, 25, 12, 0));
    expect(draft).toMatchObject({ date: "2026-11-25", time: "05:00" });
  });

  it("never moves an edited entry's start", () => {
    const draft = draftFromEntry(entry);
    expect(draft.startFollowsMinutes).toBe(false);
    draft.minutes = 20;
    followMinutes(draft, new Date(2026, 10, 26, 9, 0));
    expect(draft).toMatchObject({ date: "2026-11-25", time: "18:30" });
  });

  it("turns blank text into null and accepts a number from a number input", () => {
    const draft = { ...newDraft(new Date(2026, 10, 25, 18, 30)), minutes: 25, notes: "  " };
    const result = draftToInput(draft);
    expect(result.input).toMatchObject({ duration: 25, notes: null, instrument: null, mood: null });
  });

  it("names the fields in error", () => {
    const draft = {
      ...newDraft(new Date(2026, 10, 25, 18, 30)),
      minutes: null,
      time: "",
      pieces: [emptyPiece(), { title: " ", composer: "Bach", kept: {} }],
    };
    expect(draftToInput(draft).errors).toEqual({
      time: "Enter the time.",
      minutes: "Enter the minutes as a whole number.",
      "pieces.1.title": "Enter the piece's title (or remove the piece).",
    });
    expect(draftToInput({ ...draft, time: "10:00", minutes: "1441", pieces: [] }).errors).toEqual({
      minutes: "Enter between 1 and 1440 minutes.",
    });
    expect(draftToInput({ ...draft, date: "", minutes: "2.5", pieces: [] }).errors).toMatchObject({
      date: "Enter the date.",
      minutes: "Enter the minutes as a whole number.",
    });
  });

  it("skips empty piece rows and remembers which rows were sent", () => {
    const draft = {
      ...newDraft(new Date(2026, 10, 25, 18, 30)),
      pieces: [emptyPiece(), { title: "Etude", composer: "", kept: {} }],
    };
    const result = draftToInput(draft);
    expect(result.input?.pieces).toEqual([{ title: "Etude", composer: null }]);
    expect(result.pieceRows).toEqual([1]);
    expect(fieldKey("pieces[0].title", result.pieceRows)).toBe("pieces.1.title");
  });
});

describe("IPC field names", () => {
  it.each([
    ["timestamp", "date"],
    ["duration", "minutes"],
    ["pieces[2].title", "pieces.2.title"],
    ["pieces[2].tempo", "pieces"],
    ["tags[3]", "tags"],
    ["techniques", "techniques"],
    ["goalIds", "form"],
    [null, "form"],
  ])("maps %s to %s", (field, key) => {
    expect(fieldKey(field)).toBe(key);
  });
});
