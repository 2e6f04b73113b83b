// The statistics screen's pure helpers: labels, changes, and the chart options.

import { describe, expect, it } from "vitest";

import type { BreakdownView, HeatmapView, StatisticsView, TrendView } from "./ipc";
import {
  breakdownRows,
  bucketLabel,
  changeDirection,
  comparisonOption,
  distributionOption,
  formatChange,
  formatDays,
  formatSessions,
  formatSpan,
  groupLabel,
  heatmapOption,
  pngBase64,
  trendOption,
  type Palette,
} from "./statistics";

const palette: Palette = {
  fg: "rgb(1, 1, 1)",
  muted: "rgb(2, 2, 2)",
  faint: "rgb(3, 3, 3)",
  border: "rgb(4, 4, 4)",
  surface: "rgb(5, 5, 5)",
  surfaceSunken: "rgb(6, 6, 6)",
  accent: "rgb(7, 7, 7)",
  accentSoft: "rgb(8, 8, 8)",
  ok: "rgb(9, 9, 9)",
  warn: "rgb(10, 10, 10)",
};

const amount = (minutes: number, sessions = 1) => ({ minutes, sessions });

describe("statistics formatting", () => {
  it("counts sessions and days in words", () => {
    expect(formatSessions(1)).toBe("1 session");
    expect(formatSessions(0)).toBe("0 sessions");
    expect(formatDays(1)).toBe("1 day");
    expect(formatDays(12)).toBe("12 days");
  });

  it("shows a change in whole percent, new from nothing, a dash for nothing at all", () => {
    expect(formatChange(150, 120)).toBe("+25 %");
    expect(formatChange(60, 100)).toBe("−40 %");
    expect(formatChange(100, 100)).toBe("±0 %");
    expect(formatChange(1001, 1000)).toBe("±0 %");
    expect(formatChange(30, 0)).toBe("new");
    expect(formatChange(0, 0)).toBe("—");
    expect(formatChange(0, 45)).toBe("−100 %");
    expect(changeDirection(2, 1)).toBe("up");
    expect(changeDirection(1, 2)).toBe("down");
    expect(changeDirection(0, 0)).toBe("level");
  });

  it("labels trend buckets by day, week and month", () => {
    expect(bucketLabel("2026-05-14", "day")).toBe("14 May");
    expect(bucketLabel("2026-05-11", "week")).toBe("Week of 11 May");
    expect(bucketLabel("2026-05-01", "month")).toBe("May 2026");
    expect(bucketLabel("someday", "day")).toBe("someday");
  });

  it("writes a streak's span compactly", () => {
    expect(formatSpan("2026-03-12", "2026-03-20")).toBe("12 Mar – 20 Mar 2026");
    expect(formatSpan("2025-12-29", "2026-01-02")).toBe("29 Dec 2025 – 2 Jan 2026");
    expect(formatSpan("2026-03-12", "2026-03-12")).toBe("12 Mar 2026");
    expect(formatSpan(null, null)).toBeNull();
  });

  it("names groups, the missing ones included", () => {
    expect(groupLabel("instruments", "piano")).toBe("Piano");
    expect(groupLabel("instruments", null)).toBe("No instrument");
    expect(groupLabel("types", "lesson")).toBe("Lesson");
    expect(groupLabel("types", "status_change")).toBe("Status change");
    expect(groupLabel("composers", null)).toBe("Unknown composer");
    expect(groupLabel("pieces", "Ballade No. 1")).toBe("Ballade No. 1");
  });

  it("lists a breakdown's groups with the rest as Other", () => {
    const breakdown: BreakdownView = {
      top: [
        { label: "Chopin", minutes: 60.4, sessions: 2 },
        { label: null, minutes: 15, sessions: 1 },
      ],
      otherMinutes: 33.3,
      otherGroups: 3,
    };
    expect(breakdownRows(breakdown, "composers")).toEqual([
      { label: "Chopin", minutes: 60, sessions: 2 },
      { label: "Unknown composer", minutes: 15, sessions: 1 },
      { label: "Other (3)", minutes: 33, sessions: null },
    ]);
    expect(breakdownRows({ top: [], otherMinutes: 0, otherGroups: 0 }, "pieces")).toEqual([]);
  });

  it("takes the base64 out of a PNG data URL only", () => {
    expect(pngBase64("data:image/png;base64,iVBORw0KGgo=")).toBe("iVBORw0KGgo=");
    expect(pngBase64("data:image/jpeg;base64,/9j/")).toBeNull();
  });
});

describe("chart options", () => {
  it("draws the heatmap's year with the days and the theme's colours", () => {
    const heatmap: HeatmapView = {
      year: 2026,
      days: [
        { date: "2026-03-29", minutes: 10 },
        { date: "2026-10-25", minutes: 40 },
      ],
      maxMinutes: 40,
    };
    const option = heatmapOption(heatmap, palette);
    expect(option.calendar.range).toBe("2026");
    expect(option.calendar.dayLabel.firstDay).toBe(1);
    expect(option.series[0]?.data).toEqual([
      ["2026-03-29", 10],
      ["2026-10-25", 40],
    ]);
    expect(option.visualMap.max).toBe(40);
    expect(option.visualMap.inRange.color).toEqual([palette.accentSoft, palette.accent]);
    expect(heatmapOption({ ...heatmap, days: [], maxMinutes: 0 }, palette).visualMap.max).toBe(1);
  });

  it("draws the trend as bars and its moving average as a line", () => {
    const trend: TrendView = {
      unit: "week",
      window: 4,
      points: [
        { start: "2026-05-04", minutes: 20, sessions: 1, movingAverage: 5 },
        { start: "2026-05-11", minutes: 40, sessions: 2, movingAverage: 15.04 },
      ],
    };
    const option = trendOption(trend, palette);
    expect(option.xAxis.data).toEqual(["Week of 4 May", "Week of 11 May"]);
    expect(option.series[0]).toMatchObject({ type: "bar", data: [20, 40] });
    expect(option.series[1]).toMatchObject({ type: "line", name: "4-week average", data: [5, 15] });
  });

  it("draws a distribution largest on top", () => {
    const option = distributionOption(
      { top: [{ label: "piano", minutes: 90, sessions: 2 }, { label: "violin", minutes: 45, sessions: 1 }], otherMinutes: 0, otherGroups: 0 },
      "instruments",
      palette,
    );
    expect(option.yAxis.data).toEqual(["Violin", "Piano"]);
    expect(option.series[0]?.data).toEqual([45, 90]);
  });

  it("sets current, previous and previous-to-date side by side for week and month", () => {
    const view = {
      weekOverWeek: { current: amount(35, 2), previous: amount(60, 2), previousToDate: amount(20) },
      monthOverMonth: { current: amount(95, 4), previous: amount(110, 2), previousToDate: amount(50) },
    } as unknown as StatisticsView;
    const option = comparisonOption(view, palette);
    expect(option.series.map((s) => [s.name, s.data])).toEqual([
      ["Previous", [60, 110]],
      ["Previous, to this point", [20, 50]],
      ["Current", [35, 95]],
    ]);
  });
});
