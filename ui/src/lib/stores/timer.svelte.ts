// The practice timer's state in the UI: a cache of the shell's `TimerStatus` (the session
// itself lives in the store on the Rust side, so it survives a restart), the elapsed time
// counted on from the last status while it runs, and the steps. When a session becomes
// stopped (here or from the tray) the entry form opens pre-filled, unless the session ran
// long: then the Practice screen first offers to trim it.

import {
  timer as api,
  toFailure,
  type EntriesChanged,
  type IpcFailure,
  type TimerPieceView,
  type TimerStatus,
  type TimerView,
} from "../ipc";
import { app } from "./app.svelte";
import { logbook } from "./logbook.svelte";
import { notifications, type NotificationStore } from "./notifications.svelte";

/** How often the shown elapsed time is refreshed while the timer runs. */
export const DISPLAY_TICK_MS = 250;

/** The piece chosen in the Practice screen: a repertoire item, a free title, or none. */
export type PieceChoice = TimerPieceView | null;

export function pieceLabel(piece: TimerPieceView | null | undefined): string {
  if (!piece) return "No piece";
  return piece.composer ? `${piece.title} — ${piece.composer}` : piece.title;
}

/** Elapsed ms of `view` at `nowMs` (performance clock), given when it was received. */
export function elapsedAt(view: TimerView | null, receivedAt: number, nowMs: number): number {
  if (!view) return 0;
  return view.phase === "running" ? view.elapsedMs + Math.max(0, nowMs - receivedAt) : view.elapsedMs;
}

export class TimerStore {
  status = $state<TimerStatus | null>(null);
  /** `performance.now()` when `status` arrived, and the display clock. */
  receivedAt = $state(0);
  now = $state(0);
  busy = $state(false);
  error = $state<IpcFailure | null>(null);
  /** The piece a new session starts on. */
  startPiece = $state<PieceChoice>(null);
  /** Called after the current piece changed (the metronome records its tempo for it). */
  afterSwitch: (() => void) | undefined;

  #notify: NotificationStore;
  #tick: ReturnType<typeof setInterval> | undefined;
  #clock: () => number;

  constructor(notify: NotificationStore = notifications, clock: () => number = () => performance.now()) {
    this.#notify = notify;
    this.#clock = clock;
  }

  get view(): TimerView | null {
    return this.status?.timer ?? null;
  }

  /** Running or paused: the metronome's tempo is recorded. */
  get active(): boolean {
    const phase = this.view?.phase;
    return phase === "running" || phase === "paused";
  }

  get elapsedMs(): number {
    return elapsedAt(this.view, this.receivedAt, this.now);
  }

  get currentPiece(): TimerPieceView | null {
    const view = this.view;
    return view ? (view.segments[view.current]?.piece ?? null) : null;
  }

  async load(): Promise<void> {
    try {
      this.apply(await api.get(), false);
    } catch (err) {
      this.error = toFailure(err);
    }
  }

  /** The repertoire changed (here or through sync): the pieces offered are read again. */
  onEntriesChanged(change: EntriesChanged): void {
    if (change.entityType === "repertoire") void this.load();
  }

  /** A new status (an answer or `timer-changed`); `local`: answered to a step of ours. */
  apply(status: TimerStatus, local = true): void {
    const before = this.view?.phase;
    this.status = status;
    this.receivedAt = this.#clock();
    this.now = this.receivedAt;
    this.error = null;
    this.#follow();
    const phase = status.timer?.phase;
    // Stopped elsewhere (the tray) while shown here: go on to the entry, as a Stop here does.
    if (!local && phase === "stopped" && before !== undefined && before !== "stopped") {
      this.openLog();
    }
  }

  /** Counts the display on while running. */
  #follow(): void {
    const running = this.view?.phase === "running";
    if (running && this.#tick === undefined) {
      this.#tick = setInterval(() => (this.now = this.#clock()), DISPLAY_TICK_MS);
    } else if (!running && this.#tick !== undefined) {
      clearInterval(this.#tick);
      this.#tick = undefined;
    }
  }

  async #step(what: string, run: () => Promise<TimerStatus>): Promise<boolean> {
    if (this.busy) return false;
    this.busy = true;
    try {
      this.apply(await run());
      return true;
    } catch (err) {
      const failure = toFailure(err);
      this.error = failure;
      this.#notify.failure(what, failure, { key: "timer" });
      // The session may have changed elsewhere (the tray): show what it is now.
      if (failure.code === "timer_state") void this.load();
      return false;
    } finally {
      this.busy = false;
    }
  }

  start(): Promise<boolean> {
    return this.#step("Cannot start the timer", () => api.start(this.startPiece));
  }

  pause(): Promise<boolean> {
    return this.#step("Cannot pause the timer", () => api.pause());
  }

  resume(): Promise<boolean> {
    return this.#step("Cannot resume the timer", () => api.resume());
  }

  /** Practises `piece` from now on (before a session: the piece it starts on). */
  async choose(piece: PieceChoice): Promise<boolean> {
    if (!this.active) {
      this.startPiece = piece;
      return true;
    }
    const done = await this.#step("Cannot switch the piece", () => api.switchPiece(piece));
    if (done) this.afterSwitch?.();
    return done;
  }

  /** Stops the session and goes on to its entry (or to the trim offer when it ran long). */
  async stop(): Promise<boolean> {
    const done = await this.#step("Cannot stop the timer", () => api.stop());
    if (done) this.openLog();
    return done;
  }

  /** The entry form pre-filled from the stopped session, unless it ran long (trim first). */
  openLog(force = false): void {
    const view = this.view;
    if (!view || view.phase !== "stopped") return;
    if (view.long && !force) {
      app.go("practice");
      return;
    }
    logbook.startFromTimer(view);
    app.go("logbook");
  }

  /** Keeps the first `minutes` of the stopped session, then opens its entry. */
  async trim(minutes: number): Promise<boolean> {
    const done = await this.#step("Cannot trim the session", () => api.trim(minutes));
    if (done) this.openLog(true);
    return done;
  }

  async discard(): Promise<boolean> {
    const done = await this.#step("Cannot discard the session", () => api.discard());
    if (done) this.#notify.info("Practice session discarded", { key: "timer" });
    return done;
  }

  /** Records the metronome's tempo for the current piece (only while a session is active). */
  async recordTempo(bpm: number): Promise<boolean> {
    if (!this.active) return false;
    try {
      this.apply(await api.setTempo(bpm));
      return true;
    } catch (err) {
      this.error = toFailure(err);
      return false;
    }
  }

  setReminder(minutes: number): Promise<boolean> {
    return this.#step("Cannot save the reminder", () => api.setReminder(minutes));
  }
}

export const timer = new TimerStore();
