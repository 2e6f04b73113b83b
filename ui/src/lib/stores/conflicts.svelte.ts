// Conflicts waiting for the user: the list (badge in the navigation), the dialog's open
// conflict with a choice per field, and resolving it (whole entity or per field).

import { sentence } from "../format";
import { initialChoices, resolutionFromChoices, type Choice, type Choices } from "../conflict";
import {
  conflicts as api,
  toFailure,
  type ConflictId,
  type ConflictNeedsUser,
  type ConflictResolution,
  type ConflictView,
  type IpcFailure,
} from "../ipc";
import { notifications, type NotificationStore } from "./notifications.svelte";

export type WholeResolution = "keepMine" | "keepTheirs" | "merge";

export class ConflictStore {
  items = $state<ConflictView[]>([]);
  loaded = $state(false);
  loadError = $state<IpcFailure | null>(null);

  /** The conflict the dialog shows. */
  open = $state<ConflictView | null>(null);
  choices = $state<Choices>({});
  /** Per field, why its choice cannot be applied. */
  errors = $state<Record<string, string>>({});
  /** The dialog's error that is not about one field. */
  dialogError = $state<string | null>(null);
  resolving = $state(false);

  #notify: NotificationStore;

  constructor(notify: NotificationStore = notifications) {
    this.#notify = notify;
  }

  get count(): number {
    return this.items.length;
  }

  async load(): Promise<void> {
    try {
      this.items = await api.list();
      this.loadError = null;
      // The open conflict may have been resolved elsewhere, or refreshed.
      if (this.open) {
        const fresh = this.items.find((c) => c.id === this.open?.id);
        if (!fresh) this.close();
        else this.open = fresh;
      }
    } catch (err) {
      this.loadError = toFailure(err);
    } finally {
      this.loaded = true;
    }
  }

  /** A number of conflicts from the sync status: re-reads the list when it differs. */
  onCount(count: number): void {
    if (count !== this.items.length || !this.loaded) void this.load();
  }

  /** `conflict-needs-user`: re-read, and offer the dialog prominently. */
  async onNeedsUser(event: ConflictNeedsUser): Promise<void> {
    await this.load();
    if (this.open) return;
    this.#notify.warning("A sync conflict needs your decision", {
      key: "conflict-needs-user",
      timeout: 0,
      detail: "Both this device and another one changed the same entry.",
      action: { label: "Review conflict", run: () => this.openDialog(event.conflictId) },
    });
  }

  openDialog(id: ConflictId): void {
    const view = this.items.find((c) => c.id === id);
    if (!view) return;
    this.#notify.dismissKey("conflict-needs-user");
    this.open = view;
    this.choices = initialChoices(view);
    this.errors = {};
    this.dialogError = null;
  }

  close(): void {
    this.open = null;
    this.choices = {};
    this.errors = {};
    this.dialogError = null;
  }

  setChoice(field: string, choice: Choice): void {
    const current = this.choices[field] ?? { choice, text: "" };
    this.choices = { ...this.choices, [field]: { ...current, choice } };
    delete this.errors[field];
  }

  setText(field: string, text: string): void {
    const current = this.choices[field] ?? { choice: "edit" as const, text };
    this.choices = { ...this.choices, [field]: { ...current, text } };
    delete this.errors[field];
  }

  /** Resolves the open conflict with a whole-entity decision or the per-field choices. */
  async resolve(how: WholeResolution | "choices"): Promise<boolean> {
    const view = this.open;
    if (!view || this.resolving) return false;
    let resolution: ConflictResolution;
    if (how === "choices") {
      const built = resolutionFromChoices(view, this.choices);
      if ("errors" in built) {
        this.errors = built.errors;
        return false;
      }
      resolution = built.resolution;
    } else {
      resolution = { kind: how };
    }
    this.resolving = true;
    this.dialogError = null;
    try {
      const resolved = await api.resolve(view.id, resolution);
      this.close();
      this.#notify.success(
        resolved.outcome === "recreated"
          ? "Conflict resolved: the entry was re-created"
          : resolved.outcome === "acceptedRemote"
            ? "Conflict resolved: kept the other device's version"
            : "Conflict resolved",
        { key: "conflict-needs-user" },
      );
      await this.load();
      return true;
    } catch (err) {
      const failure = toFailure(err);
      this.dialogError = sentence(failure.message);
      if (failure.code === "not_found") await this.load();
      return false;
    } finally {
      this.resolving = false;
    }
  }
}

export const conflicts = new ConflictStore();
