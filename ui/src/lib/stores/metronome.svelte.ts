// The metronome: settings, play/stop, tap tempo, and the beat shown. Timing comes from the
// pure scheduler of `$lib/metronome` (clicks scheduled ahead on the audio clock, so they
// stay steady when the page is busy); the sound is Web Audio. Without an AudioContext (no
// audio device, e.g. WebKitGTK under Xvfb) it runs silently on the page's clock and says
// so. While the practice timer has a session, the tempo played is recorded for the piece
// being practised: that needs no audio.

import {
  clampBeats,
  clampBpm,
  clicksUntil,
  DEFAULT_BPM,
  LOOKAHEAD_MS,
  SCHEDULE_AHEAD_S,
  startCursor,
  tap,
  type Click,
  type Cursor,
  type MetronomeSettings,
  type Subdivision,
  type Taps,
} from "../metronome";
import { timer as timerStore, type TimerStore } from "./timer.svelte";

/** A change of tempo is recorded once it has held this long (typing 1, 12, 120 ...). */
export const RECORD_AFTER_MS = 400;

/** The audio side: a clock in seconds and a way to sound a click at a time on it. */
export type Sound = {
  now(): number;
  click(at: number, level: Click["level"]): void;
  close(): void;
};

const PITCH: Record<Click["level"], number> = { accent: 1760, beat: 1175, sub: 880 };
const VOLUME: Record<Click["level"], number> = { accent: 0.9, beat: 0.6, sub: 0.3 };

/** Web Audio, or `null` (and why) when the page has none or it cannot start. */
export function webAudio(): { sound: Sound | null; problem: string | null } {
  const Ctor =
    (globalThis as { AudioContext?: typeof AudioContext }).AudioContext ??
    (globalThis as { webkitAudioContext?: typeof AudioContext }).webkitAudioContext;
  if (!Ctor) return { sound: null, problem: "No audio output: the metronome shows the beat without sound." };
  try {
    const ctx = new Ctor();
    void ctx.resume?.().catch(() => undefined);
    return {
      problem: null,
      sound: {
        now: () => ctx.currentTime,
        click(at, level) {
          const osc = ctx.createOscillator();
          const gain = ctx.createGain();
          osc.frequency.value = PITCH[level];
          gain.gain.setValueAtTime(VOLUME[level], at);
          gain.gain.exponentialRampToValueAtTime(0.001, at + 0.04);
          osc.connect(gain).connect(ctx.destination);
          osc.start(at);
          osc.stop(at + 0.05);
        },
        close: () => void ctx.close().catch(() => undefined),
      },
    };
  } catch (err) {
    return {
      sound: null,
      problem: `No audio output (${err instanceof Error ? err.message : String(err)}): the metronome shows the beat without sound.`,
    };
  }
}

/** The page's clock in seconds (when there is no audio clock). */
const pageClock = () => performance.now() / 1000;

export class MetronomeStore {
  bpm = $state(DEFAULT_BPM);
  beatsPerBar = $state(4);
  subdivision = $state<Subdivision>(1);
  accent = $state(true);
  playing = $state(false);
  /** The click shown now (beat lights), `null` while stopped. */
  shown = $state<Click | null>(null);
  /** Why there is no sound, once playing was tried without audio. */
  audioProblem = $state<string | null>(null);
  /** The tempo last recorded for the timer's current piece (for the screen). */
  recorded = $state<number | null>(null);

  #taps: Taps = { times: [] };
  #cursor: Cursor | null = null;
  #sound: Sound | null = null;
  #interval: ReturnType<typeof setInterval> | undefined;
  #recordTimer: ReturnType<typeof setTimeout> | undefined;
  #timer: TimerStore;
  #openAudio: () => { sound: Sound | null; problem: string | null };

  constructor(timer: TimerStore = timerStore, openAudio = webAudio) {
    this.#timer = timer;
    this.#openAudio = openAudio;
    // A new piece while playing: its tempo is the one playing.
    timer.afterSwitch = () => {
      if (this.playing) void this.#record();
    };
  }

  get settings(): MetronomeSettings {
    return {
      bpm: this.bpm,
      beatsPerBar: this.beatsPerBar,
      subdivision: this.subdivision,
      accent: this.accent,
    };
  }

  setBpm(value: number): void {
    this.bpm = clampBpm(value);
    this.#recordSoon();
  }

  nudge(delta: number): void {
    this.setBpm(this.bpm + delta);
  }

  setBeats(value: number): void {
    this.beatsPerBar = clampBeats(value);
  }

  setSubdivision(value: Subdivision): void {
    this.subdivision = value;
  }

  /** Tap tempo: from the second tap on, the tempo follows the taps. */
  tap(nowMs: number = performance.now()): void {
    const out = tap(this.#taps, nowMs);
    this.#taps = out.taps;
    if (out.bpm !== null) this.setBpm(out.bpm);
  }

  toggle(): void {
    if (this.playing) this.stop();
    else this.start();
  }

  start(): void {
    if (this.playing) return;
    if (!this.#sound) {
      const { sound, problem } = this.#openAudio();
      this.#sound = sound;
      this.audioProblem = problem;
    }
    this.playing = true;
    this.#cursor = startCursor(this.#clock());
    this.#schedule();
    this.#interval = setInterval(() => this.#schedule(), LOOKAHEAD_MS);
    void this.#record();
  }

  stop(): void {
    this.playing = false;
    clearInterval(this.#interval);
    this.#interval = undefined;
    this.#cursor = null;
    this.shown = null;
  }

  #clock(): number {
    return this.#sound ? this.#sound.now() : pageClock();
  }

  /** Schedules the clicks of the next SCHEDULE_AHEAD_S; the lights follow each click. */
  #schedule(): void {
    if (!this.#cursor) return;
    const now = this.#clock();
    const { clicks, cursor } = clicksUntil(this.#cursor, now + SCHEDULE_AHEAD_S, this.settings, now);
    this.#cursor = cursor;
    for (const click of clicks) {
      this.#sound?.click(click.time, click.level);
      const delay = Math.max(0, (click.time - now) * 1000);
      setTimeout(() => {
        if (this.playing) this.shown = click;
      }, delay);
    }
  }

  #recordSoon(): void {
    if (!this.playing) return;
    clearTimeout(this.#recordTimer);
    this.#recordTimer = setTimeout(() => void this.#record(), RECORD_AFTER_MS);
  }

  async #record(): Promise<void> {
    clearTimeout(this.#recordTimer);
    if (!this.#timer.active) return;
    const bpm = this.bpm;
    if (await this.#timer.recordTempo(bpm)) this.recorded = bpm;
  }
}

export const metronome = new MetronomeStore();
