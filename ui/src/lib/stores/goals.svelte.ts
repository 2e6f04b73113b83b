// The goals screen's state: the goals with their progress (computed by the store), the goal
// form (new or edit) with its field errors, delete, adding to a counter (`$inc`, adds up
// across devices), ticking milestones. A cache re-read on `entries-changed` (a logbook entry
// or a piece's status changes progress too).

import { goalDraftToInput, draftFromGoal, emptyGoalDraft, type GoalDraft, type GoalErrors } from "../goals";
import { sentence } from "../format";
import { goals as api, toFailure, type EntriesChanged, type GoalInput, type GoalView, type IpcFailure } from "../ipc";
import { notifications, type NotificationStore } from "./notifications.svelte";

export type GoalMode = "view" | "new" | "edit";

export const CHANGE_COALESCE_MS = 150;

/** The fields of a saved goal as `update_goal` takes them. */
export function goalToInput(goal: GoalView): GoalInput {
  return {
    title: goal.title,
    description: goal.description,
    type: goal.type,
    targetMinutes: goal.targetMinutes,
    period: goal.period,
    status: goal.status,
    pieceIds: goal.pieceIds,
    milestones: goal.milestones.map((m) => ({ id: m.id, title: m.title, done: m.done })),
    notes: goal.notes,
    targetDate: goal.targetDate,
    tags: goal.tags,
  };
}

export class GoalsStore {
  goals = $state<GoalView[]>([]);
  loaded = $state(false);
  listError = $state<IpcFailure | null>(null);

  mode = $state<GoalMode>("view");
  /** The goal being edited. */
  editing = $state<GoalView | null>(null);
  draft = $state<GoalDraft | null>(null);
  fieldErrors = $state<GoalErrors>({});
  saving = $state(false);

  #notify: NotificationStore;
  #loadSeq = 0;
  #changeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(notify: NotificationStore = notifications) {
    this.#notify = notify;
  }

  /** Active goals first, then the rest; each group oldest first. */
  get shown(): GoalView[] {
    const active = this.goals.filter((g) => g.status === "active");
    return [...active, ...this.goals.filter((g) => g.status !== "active")];
  }

  async load(): Promise<void> {
    const seq = ++this.#loadSeq;
    try {
      const goals = await api.list();
      if (seq !== this.#loadSeq) return;
      this.goals = goals;
      this.listError = null;
      this.loaded = true;
    } catch (err) {
      if (seq === this.#loadSeq) this.listError = toFailure(err);
    }
  }

  startNew(): void {
    this.editing = null;
    this.draft = emptyGoalDraft();
    this.mode = "new";
    this.fieldErrors = {};
  }

  startEdit(goal: GoalView): void {
    this.editing = goal;
    this.draft = draftFromGoal(goal);
    this.mode = "edit";
    this.fieldErrors = {};
  }

  cancelEdit(): void {
    this.editing = null;
    this.draft = null;
    this.mode = "view";
    this.fieldErrors = {};
  }

  addMilestone(): void {
    if (!this.draft) return;
    this.draft.milestones = [...this.draft.milestones, { id: null, title: "", done: false }];
  }

  removeMilestone(index: number): void {
    if (!this.draft) return;
    this.draft.milestones = this.draft.milestones.filter((_, i) => i !== index);
  }

  togglePiece(id: string): void {
    if (!this.draft) return;
    const ids = this.draft.pieceIds;
    this.draft.pieceIds = ids.includes(id) ? ids.filter((p) => p !== id) : [...ids, id];
  }

  async save(): Promise<GoalView | null> {
    if (!this.draft || this.saving) return null;
    const editing = this.mode === "edit" ? this.editing : null;
    const checked = goalDraftToInput(this.draft, editing ?? undefined);
    if (checked.errors) {
      this.fieldErrors = checked.errors;
      return null;
    }
    this.fieldErrors = {};
    this.saving = true;
    try {
      const saved = editing ? await api.update(editing.id, checked.input) : await api.create(checked.input);
      this.cancelEdit();
      this.#notify.success(editing ? "Goal saved" : "Goal added", { key: "goal-saved" });
      await this.load();
      return saved;
    } catch (err) {
      const failure = toFailure(err);
      const field = failure.field === "title" ? "title" : failure.field === "targetMinutes" ? "target" : "form";
      this.fieldErrors = { [field]: sentence(failure.message) };
      return null;
    } finally {
      this.saving = false;
    }
  }

  async remove(goal: GoalView): Promise<boolean> {
    try {
      await api.remove(goal.id);
      if (this.editing?.id === goal.id) this.cancelEdit();
      this.#notify.info("Goal deleted", { key: "goal-deleted" });
      await this.load();
      return true;
    } catch (err) {
      this.#notify.failure("Cannot delete the goal", toFailure(err));
      return false;
    }
  }

  /** Adds to the goal's counter (minutes done away from the logbook, or a custom count). */
  async addProgress(goal: GoalView, amount: number): Promise<void> {
    if (!Number.isInteger(amount) || amount === 0) return;
    try {
      const fresh = await api.addProgress(goal.id, amount);
      this.#replace(fresh);
    } catch (err) {
      this.#notify.failure("Cannot add progress", toFailure(err));
    }
  }

  /** Ticks or unticks a milestone (its `doneAt` is set by the shell). */
  async setMilestone(goal: GoalView, milestoneId: string, done: boolean): Promise<void> {
    const input = goalToInput(goal);
    input.milestones = input.milestones.map((m) => (m.id === milestoneId ? { ...m, done } : m));
    try {
      this.#replace(await api.update(goal.id, input));
    } catch (err) {
      this.#notify.failure("Cannot save the milestone", toFailure(err));
    }
  }

  onEntriesChanged(_change: EntriesChanged): void {
    if (this.#changeTimer !== undefined) return;
    this.#changeTimer = setTimeout(() => {
      this.#changeTimer = undefined;
      void this.load();
    }, CHANGE_COALESCE_MS);
  }

  #replace(fresh: GoalView): void {
    this.goals = this.goals.map((g) => (g.id === fresh.id ? fresh : g));
  }
}

export const goals = new GoalsStore();
