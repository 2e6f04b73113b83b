import { describe, expect, it } from "vitest";

import { barValue, draftFromGoal, emptyGoalDraft, goalDraftToInput, progressText, windowText } from "./goals";
import { goal } from "./stores/fixtures";

describe("progress", () => {
  it("reads in the goal's unit", () => {
    const p = goal().progress;
    expect(progressText({ ...p, value: 45, target: 60 })).toBe("45 min of 1 h");
    expect(progressText({ ...p, unit: "pieces", value: 1, target: 3 })).toBe("1 of 3 pieces");
    expect(progressText({ ...p, unit: "milestones", value: 2, target: 5 })).toBe("2 of 5 milestones");
    expect(progressText({ ...p, unit: "count", value: 4, target: 10 })).toBe("4 of 10");
    expect(progressText({ ...p, unit: "count", value: 4, target: null })).toBe("4");
    expect(barValue({ ...p, percent: null })).toBe(0);
    expect(barValue({ ...p, percent: 100 })).toBe(100);
  });

  it("names the window of practice goals only", () => {
    expect(windowText({ type: "practice_time", period: "week" })).toBe("this week");
    expect(windowText({ type: "practice_time", period: "total" })).toBe("since it was set");
    expect(windowText({ type: "custom", period: "total" })).toBeNull();
  });
});

describe("the goal form", () => {
  it("sends what each type uses", () => {
    const practice = goalDraftToInput({ ...emptyGoalDraft(), title: " Daily ", pieceIds: ["p1", "p1"] });
    expect(practice.input).toMatchObject({
      title: "Daily",
      type: "practice_time",
      targetMinutes: 30,
      period: "day",
      pieceIds: ["p1"],
    });
    const pieces = goalDraftToInput({ ...emptyGoalDraft(), title: "Recital", type: "repertoire", period: "week", pieceIds: ["p1"] });
    expect(pieces.input).toMatchObject({ targetMinutes: null, period: "total", pieceIds: ["p1"] });
    const custom = goalDraftToInput({
      ...emptyGoalDraft(),
      title: "Exam",
      type: "custom",
      target: "",
      pieceIds: ["p1"],
      milestones: [
        { id: "m1", title: " Scales ", done: true },
        { id: null, title: "  ", done: false },
      ],
    });
    expect(custom.input).toMatchObject({
      targetMinutes: null,
      pieceIds: [],
      milestones: [{ id: "m1", title: "Scales", done: true }],
    });
  });

  it("keeps what the form does not show", () => {
    const saved = goal({ tags: ["x"], targetDate: "2026-12-24T17:00:00.000Z", milestones: [{ id: "m1", title: "A", done: false, doneAt: null }] });
    const draft = draftFromGoal(saved);
    expect(draft.milestones).toEqual([{ id: "m1", title: "A", done: false }]);
    expect(goalDraftToInput(draft, saved).input).toMatchObject({ tags: ["x"], targetDate: "2026-12-24T17:00:00.000Z" });
  });

  it("names the fields in error", () => {
    expect(goalDraftToInput({ ...emptyGoalDraft(), target: "" }).errors).toEqual({
      title: "A goal needs a title.",
      target: "How many minutes?",
    });
    expect(goalDraftToInput({ ...emptyGoalDraft(), title: "x", target: "1.5" }).errors).toEqual({
      target: "The target is a whole number, at least 1.",
    });
    expect(goalDraftToInput({ ...emptyGoalDraft(), title: "x", type: "repertoire" }).errors).toEqual({
      pieceIds: "Choose the pieces to get ready.",
    });
    expect(goalDraftToInput({ ...emptyGoalDraft(), title: "x", type: "custom", target: "" }).errors).toEqual({
      milestones: "Add a milestone, or a target count.",
    });
  });
});
