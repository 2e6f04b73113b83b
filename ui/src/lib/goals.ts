// Pure helpers of the goals screen: labels, how progress reads, the goal form's draft and
// its checks. No state, no IPC: tested in goals.test.ts. Progress itself is computed by the
// store in Rust (from the logbook and the repertoire, in the user's time zone).

import { formatMinutes } from "./format";
import type { GoalInput, GoalKind, GoalPeriod, GoalProgress, GoalStatus, GoalView } from "./ipc";

export const GOAL_KINDS: ReadonlyArray<{ id: GoalKind; label: string }> = [
  { id: "practice_time", label: "Practice time" },
  { id: "repertoire", label: "Pieces ready" },
  { id: "custom", label: "Milestones" },
];

export const GOAL_PERIODS: ReadonlyArray<{ id: GoalPeriod; label: string }> = [
  { id: "day", label: "Every day" },
  { id: "week", label: "Every week" },
  { id: "month", label: "Every month" },
  { id: "total", label: "In all" },
];

export const GOAL_STATUSES: ReadonlyArray<{ id: GoalStatus; label: string }> = [
  { id: "active", label: "Active" },
  { id: "paused", label: "Paused" },
  { id: "completed", label: "Completed" },
  { id: "abandoned", label: "Abandoned" },
];

const label = <T extends string>(list: ReadonlyArray<{ id: T; label: string }>, id: T) =>
  list.find((item) => item.id === id)?.label ?? id;

export const goalKindLabel = (kind: GoalKind) => label(GOAL_KINDS, kind);
export const goalPeriodLabel = (period: GoalPeriod) => label(GOAL_PERIODS, period);
export const goalStatusLabel = (status: GoalStatus) => label(GOAL_STATUSES, status);

/** `35 min of 1 h`, `1 of 3 pieces`, `2 of 5 milestones`, `4 of 10`; no target: the value. */
export function progressText(progress: GoalProgress): string {
  const { unit, value, target } = progress;
  const amount = (n: number) => (unit === "minutes" ? formatMinutes(n) : String(n));
  const noun = unit === "pieces" ? " pieces" : unit === "milestones" ? " milestones" : "";
  if (target === null) return `${amount(value)}${noun}`;
  return `${amount(value)} of ${amount(target)}${noun}`;
}

/** What the window is, for a periodic practice goal: `today`, `this week`, `this month`. */
export function windowText(goal: Pick<GoalView, "type" | "period">): string | null {
  if (goal.type !== "practice_time") return null;
  return { day: "today", week: "this week", month: "this month", total: "since it was set" }[goal.period];
}

/** The progress bar's value, 0..100 (0 without a target). */
export function barValue(progress: GoalProgress): number {
  return progress.percent ?? 0;
}

export type MilestoneDraft = { id: string | null; title: string; done: boolean };

export type GoalDraft = {
  title: string;
  description: string;
  type: GoalKind;
  /** Minutes (practice time), or the count aimed at (a custom goal without milestones). */
  target: string;
  period: GoalPeriod;
  status: GoalStatus;
  pieceIds: string[];
  milestones: MilestoneDraft[];
  notes: string;
};

export function emptyGoalDraft(): GoalDraft {
  return {
    title: "",
    description: "",
    type: "practice_time",
    target: "30",
    period: "day",
    status: "active",
    pieceIds: [],
    milestones: [],
    notes: "",
  };
}

export function draftFromGoal(goal: GoalView): GoalDraft {
  return {
    title: goal.title,
    description: goal.description ?? "",
    type: goal.type,
    target: goal.targetMinutes === null ? "" : String(goal.targetMinutes),
    period: goal.period,
    status: goal.status,
    pieceIds: [...goal.pieceIds],
    milestones: goal.milestones.map((m) => ({ id: m.id, title: m.title, done: m.done })),
    notes: goal.notes ?? "",
  };
}

export type GoalErrors = Partial<Record<"title" | "target" | "pieceIds" | "milestones" | "form", string>>;

/** The draft as `create_goal` / `update_goal` take it, or the field errors. Tags and the
 * target date, which the form does not show, come from `kept` (the goal being edited). */
export function goalDraftToInput(
  draft: GoalDraft,
  kept?: Pick<GoalView, "tags" | "targetDate">,
): { input: GoalInput; errors: null } | { input: null; errors: GoalErrors } {
  const errors: GoalErrors = {};
  const title = draft.title.trim();
  if (!title) errors.title = "A goal needs a title.";
  else if ([...title].length > 200) errors.title = "At most 200 characters.";
  let target: number | null = null;
  const targetText = String(draft.target ?? "").trim();
  if (targetText !== "") {
    target = Number(targetText);
    if (!Number.isInteger(target) || target < 1) errors.target = "The target is a whole number, at least 1.";
  } else if (draft.type === "practice_time") {
    errors.target = "How many minutes?";
  }
  const milestones = draft.milestones.filter((m) => m.title.trim() !== "");
  if (draft.type === "repertoire" && draft.pieceIds.length === 0) {
    errors.pieceIds = "Choose the pieces to get ready.";
  }
  if (draft.type === "custom" && milestones.length === 0 && target === null) {
    errors.milestones = "Add a milestone, or a target count.";
  }
  if (Object.keys(errors).length > 0) return { input: null, errors };
  return {
    input: {
      title,
      description: draft.description.trim() || null,
      type: draft.type,
      targetMinutes: draft.type === "repertoire" ? null : target,
      period: draft.type === "practice_time" ? draft.period : "total",
      status: draft.status,
      pieceIds: draft.type === "custom" ? [] : [...new Set(draft.pieceIds)],
      milestones: milestones.map((m) => ({ id: m.id, title: m.title.trim(), done: m.done })),
      notes: draft.notes.trim() || null,
      targetDate: kept?.targetDate ?? null,
      tags: kept?.tags ?? [],
    },
    errors: null,
  };
}
