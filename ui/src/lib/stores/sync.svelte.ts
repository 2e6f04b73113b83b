// Sync as the status bar shows it: the latest `SyncStatusView` (from `sync-status` events),
// catch-up progress, the dead letters with retry / discard, and the manual controls.

import {
  sync as api,
  toFailure,
  type CatchUp,
  type DeadLetterView,
  type DeadLettered,
  type SyncStatusView,
} from "../ipc";
import { notifications, type NotificationStore } from "./notifications.svelte";

export class SyncStore {
  status = $state<SyncStatusView | null>(null);
  /** Progress of a running catch-up (from the status or the `catch-up-progress` events). */
  catchUp = $state<CatchUp | null>(null);
  deadLetters = $state<DeadLetterView[]>([]);
  deadLettersOpen = $state(false);
  /** `sync_now`, `pause`, `resume`, or a dead letter's id while its command runs. */
  busy = $state<string | null>(null);

  #notify: NotificationStore;
  /** Counts the statuses applied, so a command's answer never overwrites a newer event. */
  #applied = 0;

  constructor(notify: NotificationStore = notifications) {
    this.#notify = notify;
  }

  get paused(): boolean {
    return this.status?.connection === "paused";
  }

  async load(): Promise<void> {
    try {
      await this.#applyAnswer(() => api.status());
    } catch (err) {
      this.#notify.failure("Cannot read the sync status", toFailure(err));
    }
  }

  /** A new status (event or answer); re-reads the dead letters when their number moved. */
  applyStatus(status: SyncStatusView): void {
    this.#applied += 1;
    const before = this.status;
    this.status = status;
    this.catchUp = status.catchUp;
    if (status.deadLetters !== this.deadLetters.length || before === null) {
      if (status.deadLetters === 0) {
        this.deadLetters = [];
        this.deadLettersOpen = false;
      } else {
        void this.loadDeadLetters();
      }
    }
  }

  onCatchUp(progress: CatchUp): void {
    this.catchUp = progress;
  }

  onDeadLettered(event: DeadLettered): void {
    this.#notify.push("error", `The server refused a change: ${event.message}`, {
      detail: event.code,
      key: `dead-${event.changeId}`,
      action: { label: "Show", run: () => (this.deadLettersOpen = true) },
    });
    void this.loadDeadLetters();
  }

  async loadDeadLetters(): Promise<void> {
    try {
      this.deadLetters = await api.deadLetters();
      if (this.deadLetters.length === 0) this.deadLettersOpen = false;
    } catch (err) {
      this.#notify.failure("Cannot list the failed changes", toFailure(err));
    }
  }

  async syncNow(): Promise<void> {
    if (this.busy) return;
    this.busy = "sync_now";
    try {
      const report = await api.now();
      const parts = [`${report.pushed} sent`, `${report.pulled} received`];
      if (report.conflictsWaiting > 0) parts.push(`${report.conflictsWaiting} conflicts wait`);
      if (report.deadLetters > 0) parts.push(`${report.deadLetters} failed`);
      this.#notify.success(`Synced: ${parts.join(", ")}`, { key: "sync-now" });
    } catch (err) {
      this.#notify.failure("Sync failed", toFailure(err), { key: "sync-now" });
    } finally {
      this.busy = null;
    }
  }

  async pause(): Promise<void> {
    await this.#control("pause", () => api.pause(), "Cannot pause sync");
  }

  async resume(): Promise<void> {
    await this.#control("resume", () => api.resume(), "Cannot resume sync");
  }

  async #control(
    name: string,
    run: () => Promise<SyncStatusView>,
    what: string,
  ): Promise<void> {
    this.busy = name;
    try {
      await this.#applyAnswer(run);
    } catch (err) {
      this.#notify.failure(what, toFailure(err));
    } finally {
      this.busy = null;
    }
  }

  /**
   * Applies the status a command answered with, unless a `sync-status` event arrived while it
   * ran: the event is at least as recent (the shell emits every change), the answer may not be.
   */
  async #applyAnswer(run: () => Promise<SyncStatusView>): Promise<void> {
    const before = this.#applied;
    const status = await run();
    if (this.#applied === before) this.applyStatus(status);
  }

  async retry(changeId: string): Promise<void> {
    await this.#deadLetter(changeId, () => api.retryDeadLetter(changeId), "Queued again", "Cannot retry");
  }

  async discard(changeId: string): Promise<void> {
    await this.#deadLetter(changeId, () => api.discardDeadLetter(changeId), "Change discarded", "Cannot discard");
  }

  async #deadLetter(
    changeId: string,
    run: () => Promise<null>,
    done: string,
    what: string,
  ): Promise<void> {
    this.busy = changeId;
    try {
      await run();
      this.deadLetters = this.deadLetters.filter((d) => d.changeId !== changeId);
      this.#notify.success(done);
      await this.loadDeadLetters();
    } catch (err) {
      this.#notify.failure(what, toFailure(err));
    } finally {
      this.busy = null;
    }
  }
}

export const sync = new SyncStore();
