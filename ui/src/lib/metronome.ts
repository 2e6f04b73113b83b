// The metronome's timing, pure: which clicks fall due in a window of time (the lookahead
// scheduler of "A Tale of Two Clocks": a coarse timer asks every LOOKAHEAD_MS for the
// clicks of the next SCHEDULE_AHEAD_S, and the audio clock plays each at its exact time),
// the accent pattern, tap tempo and the limits. No audio, no timers: unit-tested in
// metronome.test.ts; `stores/metronome.svelte.ts` drives it with Web Audio.

/** Beats per minute the metronome plays (the store records the same range). */
export const MIN_BPM = 20;
export const MAX_BPM = 300;
export const DEFAULT_BPM = 80;
export const MIN_BEATS = 1;
export const MAX_BEATS = 12;
/** Clicks per beat: quarter notes, eighths, triplets, sixteenths. */
export const SUBDIVISIONS = [1, 2, 3, 4] as const;
export type Subdivision = (typeof SUBDIVISIONS)[number];

/** How often the scheduler wakes up, and how far ahead it schedules (seconds). */
export const LOOKAHEAD_MS = 25;
export const SCHEDULE_AHEAD_S = 0.1;

/** Tap tempo: taps further apart than this start over; at most this many taps count. */
export const TAP_RESET_MS = 2000;
export const TAP_WINDOW = 6;

export type MetronomeSettings = {
  bpm: number;
  beatsPerBar: number;
  subdivision: Subdivision;
  /** The first beat of each bar is accented. */
  accent: boolean;
};

/** How a click sounds: the bar's first beat (accented), another beat, or a subdivision. */
export type ClickLevel = "accent" | "beat" | "sub";

export type Click = {
  /** When it sounds (seconds, on the clock the scheduler was given). */
  time: number;
  /** The click's index since the start (0, 1, 2, ...). */
  index: number;
  /** The beat in the bar, from 0; the subdivision within the beat, from 0. */
  beat: number;
  sub: number;
  level: ClickLevel;
};

export function clampBpm(bpm: number): number {
  if (!Number.isFinite(bpm)) return DEFAULT_BPM;
  return Math.min(MAX_BPM, Math.max(MIN_BPM, Math.round(bpm)));
}

export function clampBeats(beats: number): number {
  if (!Number.isFinite(beats)) return 4;
  return Math.min(MAX_BEATS, Math.max(MIN_BEATS, Math.round(beats)));
}

/** Seconds between two clicks. */
export function clickInterval(settings: Pick<MetronomeSettings, "bpm" | "subdivision">): number {
  return 60 / clampBpm(settings.bpm) / settings.subdivision;
}

/** The level of click `index` (since the start) under `settings`. */
export function levelOf(index: number, settings: MetronomeSettings): ClickLevel {
  const perBar = clampBeats(settings.beatsPerBar) * settings.subdivision;
  const inBar = ((index % perBar) + perBar) % perBar;
  if (inBar % settings.subdivision !== 0) return "sub";
  return inBar === 0 && settings.accent ? "accent" : "beat";
}

/** The accent pattern of one bar, click by click (what the beat lights show). */
export function barPattern(settings: MetronomeSettings): ClickLevel[] {
  const perBar = clampBeats(settings.beatsPerBar) * settings.subdivision;
  return Array.from({ length: perBar }, (_, i) => levelOf(i, settings));
}

/**
 * The scheduler's position: the next click's time and index. Changing the tempo while it
 * plays keeps the next click where it is and spaces the following ones anew.
 */
export type Cursor = { nextTime: number; nextIndex: number };

export function startCursor(now: number, delay = 0.05): Cursor {
  return { nextTime: now + delay, nextIndex: 0 };
}

/**
 * The clicks due before `until` (seconds), from `cursor` on, and the cursor after them.
 * A scheduler that woke late (the page was busy) does not play a burst of missed clicks:
 * clicks already more than one interval in the past are skipped, keeping the grid.
 */
export function clicksUntil(
  cursor: Cursor,
  until: number,
  settings: MetronomeSettings,
  now: number = cursor.nextTime,
): { clicks: Click[]; cursor: Cursor } {
  const step = clickInterval(settings);
  let { nextTime, nextIndex } = cursor;
  if (now - nextTime > step) {
    const missed = Math.floor((now - nextTime) / step);
    nextTime += missed * step;
    nextIndex += missed;
  }
  const clicks: Click[] = [];
  const perBeat = settings.subdivision;
  const beats = clampBeats(settings.beatsPerBar);
  while (nextTime < until) {
    const inBar = nextIndex % (beats * perBeat);
    clicks.push({
      time: nextTime,
      index: nextIndex,
      beat: Math.floor(inBar / perBeat),
      sub: inBar % perBeat,
      level: levelOf(nextIndex, settings),
    });
    nextTime += step;
    nextIndex += 1;
  }
  return { clicks, cursor: { nextTime, nextIndex } };
}

/** Tap tempo: the times of the last taps (ms) and the tempo they give. */
export type Taps = { times: number[] };

/**
 * Adds a tap at `now` (ms); returns the taps kept and the tempo (the mean interval of the
 * last TAP_WINDOW taps), `null` until two taps are close enough.
 */
export function tap(taps: Taps, now: number): { taps: Taps; bpm: number | null } {
  const last = taps.times[taps.times.length - 1];
  const times =
    last === undefined || now - last > TAP_RESET_MS || now <= last
      ? [now]
      : [...taps.times, now].slice(-TAP_WINDOW);
  if (times.length < 2) return { taps: { times }, bpm: null };
  const mean = (times[times.length - 1]! - times[0]!) / (times.length - 1);
  return { taps: { times }, bpm: clampBpm(60_000 / mean) };
}

/** `0:42`, `12:05`, `1:02:09` for elapsed milliseconds (the timer's display). */
export function formatElapsed(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const two = (n: number) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
}

/** The elapsed time in words for screen readers: `1 hour 2 minutes`, `42 seconds`. */
export function spokenElapsed(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? "" : "s"}`;
  if (h === 0 && m === 0) return plural(total, "second");
  return [h > 0 ? plural(h, "hour") : "", m > 0 ? plural(m, "minute") : ""].filter(Boolean).join(" ");
}

/** The subdivision's name: `Quarter notes`, `Eighths`, `Triplets`, `Sixteenths`. */
export function subdivisionLabel(sub: Subdivision): string {
  return { 1: "Quarter notes", 2: "Eighths", 3: "Triplets", 4: "Sixteenths" }[sub];
}
