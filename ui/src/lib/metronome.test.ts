import { describe, expect, it } from "vitest";

import {
  barPattern,
  clampBpm,
  clickInterval,
  clicksUntil,
  formatElapsed,
  spokenElapsed,
  startCursor,
  tap,
  TAP_RESET_MS,
  TAP_WINDOW,
  type MetronomeSettings,
} from "./metronome";

const base: MetronomeSettings = { bpm: 120, beatsPerBar: 4, subdivision: 1, accent: true };

describe("tick times", () => {
  it("spaces clicks by 60/bpm/subdivision seconds", () => {
    expect(clickInterval({ bpm: 120, subdivision: 1 })).toBeCloseTo(0.5);
    expect(clickInterval({ bpm: 90, subdivision: 3 })).toBeCloseTo(60 / 90 / 3);
    const { clicks } = clicksUntil({ nextTime: 10, nextIndex: 0 }, 12, base);
    expect(clicks.map((c) => c.time)).toEqual([10, 10.5, 11, 11.5]);
  });

  it("gives each window only its own clicks, none twice, none lost", () => {
    const settings = { ...base, bpm: 137, subdivision: 4 as const };
    let cursor = startCursor(0, 0);
    const all: number[] = [];
    for (let t = 0; t < 5; t += 0.025) {
      const out = clicksUntil(cursor, t + 0.1, settings, t);
      all.push(...out.clicks.map((c) => c.index));
      cursor = out.cursor;
    }
    expect(all).toEqual(Array.from({ length: all.length }, (_, i) => i));
    // 5.1 s at 137 bpm × 4: 46.6 clicks.
    expect(all.length).toBe(Math.ceil(5.1 / clickInterval(settings)));
  });

  it("keeps the next click in place when the tempo changes", () => {
    const first = clicksUntil({ nextTime: 0, nextIndex: 0 }, 1.1, base);
    expect(first.cursor.nextTime).toBeCloseTo(1.5);
    const slower = clicksUntil(first.cursor, 3, { ...base, bpm: 60 });
    expect(slower.clicks.map((c) => c.time)).toEqual([1.5, 2.5]);
  });

  it("skips clicks missed while the page was busy instead of bursting", () => {
    // Woke 2.2 s late: clicks more than one interval old are dropped, the grid is kept.
    const { clicks } = clicksUntil({ nextTime: 0, nextIndex: 0 }, 2.3, base, 2.2);
    // 1.5 is 0.7 s old (more than the 0.5 s interval): skipped; 2.0 plays at once.
    expect(clicks.map((c) => c.time)).toEqual([2]);
    expect(clicks[0]!.index).toBe(4);
  });
});

describe("accent pattern", () => {
  it("accents the first beat of each bar and marks subdivisions", () => {
    expect(barPattern({ ...base, beatsPerBar: 3 })).toEqual(["accent", "beat", "beat"]);
    expect(barPattern({ ...base, beatsPerBar: 2, subdivision: 3 })).toEqual([
      "accent",
      "sub",
      "sub",
      "beat",
      "sub",
      "sub",
    ]);
    expect(barPattern({ ...base, accent: false, beatsPerBar: 2 })).toEqual(["beat", "beat"]);
  });

  it("numbers beats within the bar", () => {
    const { clicks } = clicksUntil({ nextTime: 0, nextIndex: 0 }, 3, {
      ...base,
      beatsPerBar: 3,
      subdivision: 2,
    });
    expect(clicks.slice(0, 8).map((c) => `${c.beat}.${c.sub}:${c.level}`)).toEqual([
      "0.0:accent",
      "0.1:sub",
      "1.0:beat",
      "1.1:sub",
      "2.0:beat",
      "2.1:sub",
      "0.0:accent",
      "0.1:sub",
    ]);
  });
});

describe("tap tempo", () => {
  it("averages the intervals of the last taps", () => {
    let taps = { times: [] as number[] };
    let bpm: number | null = null;
    for (const t of [0, 500, 1010, 1490, 2000]) ({ taps, bpm } = tap(taps, t));
    expect(bpm).toBe(120);
  });

  it("needs two taps and starts over after a pause", () => {
    const one = tap({ times: [] }, 1000);
    expect(one.bpm).toBeNull();
    const two = tap(one.taps, 1750);
    expect(two.bpm).toBe(80);
    const later = tap(two.taps, 1750 + TAP_RESET_MS + 1);
    expect(later.bpm).toBeNull();
    expect(later.taps.times).toHaveLength(1);
  });

  it(`keeps the last ${TAP_WINDOW} taps`, () => {
    let taps = { times: [] as number[] };
    let bpm: number | null = null;
    // Slow taps first, then fast ones: only the fast ones count in the end.
    for (const t of [0, 1000, 2000]) ({ taps } = tap(taps, t));
    for (let i = 1; i <= TAP_WINDOW; i++) ({ taps, bpm } = tap(taps, 2000 + i * 400));
    expect(taps.times).toHaveLength(TAP_WINDOW);
    expect(bpm).toBe(150);
  });

  it("clamps to the metronome's range", () => {
    expect(tap({ times: [0] }, 100).bpm).toBe(300);
    expect(clampBpm(5)).toBe(20);
    expect(clampBpm(Number.NaN)).toBe(80);
  });
});

describe("elapsed time", () => {
  it("formats as m:ss or h:mm:ss", () => {
    expect(formatElapsed(0)).toBe("0:00");
    expect(formatElapsed(42_900)).toBe("0:42");
    expect(formatElapsed(12 * 60_000 + 5_000)).toBe("12:05");
    expect(formatElapsed(3_729_000)).toBe("1:02:09");
    expect(formatElapsed(-5)).toBe("0:00");
  });

  it("speaks in words", () => {
    expect(spokenElapsed(42_000)).toBe("42 seconds");
    expect(spokenElapsed(61_000)).toBe("1 minute");
    expect(spokenElapsed(3_720_000)).toBe("1 hour 2 minutes");
  });
});
