// The conflict dialog's model: choices per field into a `ConflictResolution`.

import { describe, expect, it } from "vitest";

import {
  conflictTitle,
  deadLetterAction,
  initialChoices,
  resolutionFromChoices,
  stateTitle,
} from "./conflict";
import type { ConflictView } from "./ipc";

const view: ConflictView = {
  id: 7,
  entityType: "logbook",
  entityId: "e1",
  operation: "update",
  remoteDeleted: false,
  editedAt: 1_795_604_400_000,
  createdAt: 1_795_604_500_000,
  baseKnown: false,
  fields: [
    { field: "notes", base: null, mine: "mine", theirs: "theirs", merged: "mine\n\n---\n\ntheirs" },
    { field: "duration", base: null, mine: 30, theirs: 45, merged: 45 },
  ],
  mine: { timestamp: "2026-11-25T10:00:00.000Z", duration: 30, notes: "mine", tags: ["a"] },
  theirs: { timestamp: "2026-11-25T10:00:00.000Z", duration: 45, notes: "theirs", tags: ["a"] },
  merged: { timestamp: "2026-11-25T10:00:00.000Z", duration: 45, notes: "mine\n\n---\n\ntheirs", tags: ["a"] },
};

describe("resolutions from choices", () => {
  it("starts on mine with the merge in the edit box", () => {
    expect(initialChoices(view)).toEqual({
      notes: { choice: "mine", text: "mine\n\n---\n\ntheirs" },
      duration: { choice: "mine", text: "45" },
    });
  });

  it("sends per-field sides when every field takes mine or theirs", () => {
    const choices = initialChoices(view);
    choices["duration"] = { choice: "theirs", text: "" };
    expect(resolutionFromChoices(view, choices)).toEqual({
      resolution: { kind: "fields", choices: { notes: "mine", duration: "theirs" } },
    });
  });

  it("sends the whole edited state when a value was edited", () => {
    const choices = initialChoices(view);
    choices["notes"] = { choice: "edit", text: "both, merged by hand" };
    choices["duration"] = { choice: "theirs", text: "" };
    expect(resolutionFromChoices(view, choices)).toEqual({
      resolution: {
        kind: "edited",
        state: { timestamp: "2026-11-25T10:00:00.000Z", duration: 45, notes: "both, merged by hand", tags: ["a"] },
      },
    });
  });

  it("refuses an unknown base and a value that does not parse", () => {
    const choices = initialChoices(view);
    choices["notes"] = { choice: "base", text: "" };
    choices["duration"] = { choice: "edit", text: "a while" };
    const result = resolutionFromChoices(view, choices);
    expect(result).toEqual({
      errors: {
        notes: "The base value is not known: choose another.",
        duration: "Enter a whole number.",
      },
    });
  });

  it("takes a known base value", () => {
    const known: ConflictView = {
      ...view,
      baseKnown: true,
      fields: [{ field: "notes", base: "base", mine: "mine", theirs: "theirs", merged: "x" }],
    };
    const result = resolutionFromChoices(known, { notes: { choice: "base", text: "" } });
    expect(result).toMatchObject({ resolution: { kind: "edited", state: { notes: "base", duration: 30 } } });
  });

  it("names the entity by its pieces or its time", () => {
    expect(conflictTitle(view)).toMatch(/^Entry of 2[56] Nov 2026, /);
    expect(conflictTitle({ ...view, mine: { pieces: [{ title: "Etude" }] } })).toBe("Etude");
    expect(conflictTitle({ ...view, mine: {}, theirs: {} })).toBe("e1");
    expect(stateTitle({ tags: ["a"] })).toBeNull();
  });
});

describe("dead letters", () => {
  it("say what kind of change was refused and when it was made", () => {
    const editedAt = new Date(2026, 10, 25, 7, 56).getTime();
    expect(deadLetterAction({ entityType: "logbook", operation: "update", editedAt })).toBe(
      "Logbook entry · edited 25 Nov 2026, 07:56",
    );
    expect(deadLetterAction({ entityType: "goals", operation: "create", editedAt })).toBe(
      "Goal · created 25 Nov 2026, 07:56",
    );
  });
});
