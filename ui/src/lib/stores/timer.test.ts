// The timer and metronome stores: the display counts on from the shell's status, a stop
// opens the pre-filled entry (or the trim offer), the metronome's tempo is recorded for
// the timer's piece without any audio.

import { clearMocks } from "@tauri-apps/api/mocks";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import { draftFromTimer } from "../entry-form";
import type { TimerStatus, TimerView } from "../ipc";
import { app } from "./app.svelte";
import { installWindow, mockShell, settle } from "./fixtures";
import { logbook } from "./logbook.svelte";
import { MetronomeStore, RECORD_AFTER_MS } from "./metronome.svelte";
import { NotificationStore } from "./notifications.svelte";
import { elapsedAt, pieceLabel, TimerStore } from "./timer.svelte";

beforeAll(installWindow);
afterEach(() => {
  clearMocks();
  vi.useRealTimers();
});

const T0 = Date.UTC(2026, 10, 25, 17, 0);

function view(patch: Partial<TimerView> = {}): TimerView {
  return {
    phase: "running",
    startedAt: T0,
    stoppedAt: null,
    elapsedMs: 60_000,
    asOf: T0 + 60_000,
    segments: [{ piece: { title: "Etude", composer: "Chopin", pieceId: "r1" }, tempo: null, activeMs: 60_000 }],
    current: 0,
    minutes: 1,
    pieces: [{ title: "Etude", composer: "Chopin", tempo: null, scoreId: "r1" }],
    long: false,
    ...patch,
  };
}

function status(timer: TimerView | null): TimerStatus {
  return { timer, choices: [], reminderMinutes: 120 };
}

describe("timer store", () => {
  it("counts on from the status while running, not while paused", () => {
    expect(elapsedAt(view(), 1000, 4000)).toBe(63_000);
    expect(elapsedAt(view({ phase: "paused" }), 1000, 4000)).toBe(60_000);
    expect(elapsedAt(null, 0, 5)).toBe(0);
    let clock = 1000;
    const timer = new TimerStore(new NotificationStore(), () => clock);
    timer.apply(status(view()));
    clock = 3500;
    timer.now = clock;
    expect(timer.elapsedMs).toBe(62_500);
    expect(timer.active).toBe(true);
    expect(pieceLabel(timer.currentPiece)).toBe("Etude — Chopin");
  });

  it("stop opens the entry form pre-filled, a long session the trim offer first", async () => {
    const stopped = view({ phase: "stopped", elapsedMs: 25 * 60_000, minutes: 25, stoppedAt: T0 + 25 * 60_000 });
    mockShell({ stop_timer: () => status(stopped) });
    const timer = new TimerStore(new NotificationStore());
    timer.apply(status(view()));
    expect(await timer.stop()).toBe(true);
    expect(app.screen).toBe("logbook");
    expect(logbook.mode).toBe("new");
    expect(logbook.fromTimer).toBe(true);
    expect(logbook.draft?.minutes).toBe("25");
    expect(logbook.draft?.pieces[0]?.kept.scoreId).toBe("r1");
    logbook.cancelEdit();

    mockShell({ stop_timer: () => status({ ...stopped, long: true, minutes: 200 }) });
    app.go("practice");
    timer.apply(status(view()));
    await timer.stop();
    expect(app.screen).toBe("practice");
    expect(logbook.mode).toBe("view");
  });

  it("a stop from the tray (an event) goes on to the entry too", () => {
    const timer = new TimerStore(new NotificationStore());
    timer.apply(status(view()), false);
    app.go("practice");
    timer.apply(status(view({ phase: "stopped", minutes: 3 })), false);
    expect(app.screen).toBe("logbook");
    expect(logbook.draft?.minutes).toBe("3");
    logbook.cancelEdit();
    // Reading a stopped session at start does not open anything.
    app.go("practice");
    const fresh = new TimerStore(new NotificationStore());
    fresh.apply(status(view({ phase: "stopped" })), false);
    expect(app.screen).toBe("practice");
  });

  it("saving the timer's entry finishes the session", async () => {
    const shell = mockShell({
      finish_timer: ({ input }) => ({ id: "e9", ...(input as object), goalIds: [], createdAt: null, updatedAt: null, sync: "pending" }),
      list_entries: () => ({ days: [], totalMinutes: 0, count: 0, more: false }),
      get_stats: () => ({ todayMinutes: 0, weekMinutes: 0, allMinutes: 0, streakDays: 0 }),
    });
    logbook.startFromTimer(view({ phase: "stopped", pieces: [{ title: "Etude", tempo: 96, scoreId: "r1" }] }));
    const saved = await logbook.save();
    expect(saved?.id).toBe("e9");
    expect(shell.names()).toContain("finish_timer");
    expect(shell.names()).not.toContain("create_entry");
    const input = shell.last("finish_timer")?.["input"] as { pieces: Array<{ tempo: number }> };
    expect(input.pieces[0]!.tempo).toBe(96);
    expect(logbook.fromTimer).toBe(false);
  });

  it("a refused step re-reads the session (it may have changed in the tray)", async () => {
    const refusal = { code: "timer_state", message: "no practice timer is running", field: null, retryable: false };
    const shell = mockShell({
      pause_timer: () => {
        throw refusal;
      },
      get_timer: () => status(null),
    });
    const notify = new NotificationStore();
    const timer = new TimerStore(notify);
    timer.apply(status(view()));
    expect(await timer.pause()).toBe(false);
    await settle();
    expect(shell.names()).toEqual(["pause_timer", "get_timer"]);
    expect(timer.view).toBeNull();
    expect(notify.items[0]?.text).toContain("no practice timer is running");
  });
});

describe("timer choices", () => {
  it("re-reads the pieces offered when the repertoire changes (e.g. synced after the start)", async () => {
    const shell = mockShell({ get_timer: () => status(null) });
    const timer = new TimerStore(new NotificationStore());
    timer.onEntriesChanged({ entityType: "logbook", ids: ["e1"], origin: "sync" });
    await settle();
    expect(shell.names()).toEqual([]);
    timer.onEntriesChanged({ entityType: "repertoire", ids: ["r1"], origin: "sync" });
    await settle();
    expect(shell.names()).toEqual(["get_timer"]);
  });
});

describe("timer draft", () => {
  it("starts when the session started and keeps the pieces' tempo", () => {
    const draft = draftFromTimer(view({ minutes: 42, pieces: [{ title: "Etude", composer: "Chopin", tempo: 96, scoreId: "r1" }] }), {
      instrument: "piano",
    });
    const start = new Date(T0);
    expect(draft.time).toBe(`${String(start.getHours()).padStart(2, "0")}:${String(start.getMinutes()).padStart(2, "0")}`);
    expect(draft.minutes).toBe("42");
    expect(draft.startFollowsMinutes).toBe(false);
    expect(draft.instrument).toBe("piano");
    expect(draft.pieces).toEqual([{ title: "Etude", composer: "Chopin", kept: { measures: null, tempo: 96, scoreId: "r1" } }]);
    expect(draftFromTimer(view({ pieces: [] })).pieces).toHaveLength(1);
  });
});

describe("metronome store", () => {
  it("records the tempo for the timer's piece with no audio at all, and says there is none", async () => {
    vi.useFakeTimers();
    const shell = mockShell({ set_timer_tempo: ({ bpm }) => status(view({ segments: [{ piece: null, tempo: bpm as number, activeMs: 0 }] })) });
    const timer = new TimerStore(new NotificationStore());
    timer.apply(status(view()));
    const metronome = new MetronomeStore(timer, () => ({ sound: null, problem: "No audio output" }));
    metronome.setBpm(96);
    metronome.start();
    expect(metronome.audioProblem).toBe("No audio output");
    expect(metronome.playing).toBe(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(shell.last("set_timer_tempo")).toEqual({ bpm: 96 });
    // A change is recorded once it holds.
    metronome.setBpm(100);
    metronome.setBpm(104);
    await vi.advanceTimersByTimeAsync(RECORD_AFTER_MS - 1);
    expect(shell.calls.filter(([c]) => c === "set_timer_tempo")).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(shell.last("set_timer_tempo")).toEqual({ bpm: 104 });
    expect(metronome.recorded).toBe(104);
    // The beat is shown without sound.
    await vi.advanceTimersByTimeAsync(1000);
    expect(metronome.shown).not.toBeNull();
    metronome.stop();
    expect(metronome.shown).toBeNull();
  });

  it("records nothing without a session, and schedules clicks on the audio clock", async () => {
    vi.useFakeTimers();
    const shell = mockShell({});
    const timer = new TimerStore(new NotificationStore());
    let audioNow = 5;
    const clicks: Array<[number, string]> = [];
    const metronome = new MetronomeStore(timer, () => ({
      problem: null,
      sound: { now: () => audioNow, click: (at, level) => clicks.push([at, level]), close: () => undefined },
    }));
    metronome.setBpm(120);
    metronome.start();
    for (let i = 0; i < 40; i++) {
      audioNow += 0.025;
      await vi.advanceTimersByTimeAsync(25);
    }
    metronome.stop();
    expect(shell.calls).toHaveLength(0);
    // 1 s of audio time at 120 bpm: clicks every 0.5 s from 5.05 on, the first accented.
    expect(clicks[0]).toEqual([5.05, "accent"]);
    expect(clicks[1]![0]).toBeCloseTo(5.55);
    expect(clicks[1]![1]).toBe("beat");
  });
});
