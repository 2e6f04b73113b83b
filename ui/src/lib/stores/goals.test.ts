// The goals store against a mocked shell: order, the form, counters, milestones.

import { clearMocks } from "@tauri-apps/api/mocks";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import { failure, goal, installWindow, mockShell } from "./fixtures";
import { GoalsStore, goalToInput } from "./goals.svelte";
import { NotificationStore } from "./notifications.svelte";

beforeAll(installWindow);
afterEach(() => {
  clearMocks();
  vi.useRealTimers();
});

function store() {
  return new GoalsStore(new NotificationStore());
}

describe("goals", () => {
  it("lists active goals first", async () => {
    mockShell({
      list_goals: () => [goal({ id: "a", status: "paused" }), goal({ id: "b" }), goal({ id: "c", status: "completed" })],
    });
    const goals = store();
    await goals.load();
    expect(goals.shown.map((g) => g.id)).toEqual(["b", "a", "c"]);
  });

  it("re-reads on any change: entries, pieces and goals all move progress", async () => {
    vi.useFakeTimers();
    const shell = mockShell({ list_goals: () => [] });
    const goals = store();
    goals.onEntriesChanged({ entityType: "logbook", ids: ["e1"], origin: "sync" });
    goals.onEntriesChanged({ entityType: "repertoire", ids: ["p1"], origin: "local" });
    await vi.advanceTimersByTimeAsync(200);
    expect(shell.names()).toEqual(["list_goals"]);
  });

  it("adds to a counter with add_goal_progress and shows the answer", async () => {
    const reached = goal({ progress: { ...goal().progress, value: 30, percent: 100, reached: true } });
    const shell = mockShell({ list_goals: () => [goal()], add_goal_progress: () => reached });
    const goals = store();
    await goals.load();
    await goals.addProgress(goals.goals[0]!, 20);
    expect(shell.last("add_goal_progress")).toEqual({ id: "g1", amount: 20 });
    expect(goals.goals[0]!.progress.reached).toBe(true);
    await goals.addProgress(goals.goals[0]!, 0);
    await goals.addProgress(goals.goals[0]!, 1.5);
    expect(shell.names().filter((n) => n === "add_goal_progress")).toHaveLength(1);
  });

  it("ticks a milestone with the goal's other fields unchanged", async () => {
    const withMilestones = goal({
      type: "custom",
      milestones: [
        { id: "m1", title: "Scales", done: false, doneAt: null },
        { id: "m2", title: "Piece", done: false, doneAt: null },
      ],
      tags: ["exam"],
    });
    const shell = mockShell({ list_goals: () => [withMilestones], update_goal: () => withMilestones });
    const goals = store();
    await goals.load();
    await goals.setMilestone(withMilestones, "m2", true);
    expect(shell.last("update_goal")).toEqual({
      id: "g1",
      input: {
        ...goalToInput(withMilestones),
        milestones: [
          { id: "m1", title: "Scales", done: false },
          { id: "m2", title: "Piece", done: true },
        ],
      },
    });
  });

  it("creates from the form, with field errors first", async () => {
    const shell = mockShell({ create_goal: () => goal(), list_goals: () => [goal()] });
    const goals = store();
    goals.startNew();
    expect(await goals.save()).toBeNull();
    expect(goals.fieldErrors.title).toBeDefined();
    goals.draft!.title = "Daily";
    goals.addMilestone();
    goals.draft!.milestones[0]!.title = "Warm up";
    goals.togglePiece("p1");
    goals.togglePiece("p2");
    goals.togglePiece("p1");
    expect(await goals.save()).not.toBeNull();
    expect(shell.last("create_goal")).toMatchObject({
      input: { title: "Daily", pieceIds: ["p2"], milestones: [{ id: null, title: "Warm up", done: false }] },
    });
    expect(goals.mode).toBe("view");
  });

  it("shows the shell's refusal on the form", async () => {
    mockShell({ create_goal: () => { throw failure("storage", "the disk is full"); } });
    const goals = store();
    goals.startNew();
    goals.draft!.title = "Daily";
    await goals.save();
    expect(goals.fieldErrors.form).toBe("The disk is full.");
  });
});
