// Pure helpers of the statistics screen: labels and comparisons of the store's figures, and
// the ECharts options of its charts (built from a view and the theme's palette). No state,
// no IPC, no computing of statistics (the store does that): unit-tested in
// statistics.test.ts.

import { format } from "date-fns";

import { formatMinutes, kindLabel, parseDay } from "./format";
import type {
  AmountView,
  BreakdownView,
  EntryKind,
  HeatmapView,
  StatsPeriod,
  StatisticsView,
  TrendUnit,
  TrendView,
} from "./ipc";

/** The theme's colours, resolved from the CSS variables (any CSS colour text). */
export type Palette = {
  fg: string;
  muted: string;
  faint: string;
  border: string;
  surface: string;
  surfaceSunken: string;
  accent: string;
  accentSoft: string;
  ok: string;
  warn: string;
};

export const TREND_UNITS: ReadonlyArray<{ value: TrendUnit; label: string }> = [
  { value: "day", label: "Days" },
  { value: "week", label: "Weeks" },
  { value: "month", label: "Months" },
];

export const PERIODS: ReadonlyArray<{ value: StatsPeriod; label: string }> = [
  { value: "week", label: "This week" },
  { value: "month", label: "This month" },
  { value: "year", label: "This year" },
  { value: "all", label: "All time" },
];

export type Dimension = "instruments" | "types" | "pieces" | "composers";

export const DIMENSIONS: ReadonlyArray<{ value: Dimension; label: string }> = [
  { value: "instruments", label: "Instrument" },
  { value: "types", label: "Type" },
  { value: "pieces", label: "Piece" },
  { value: "composers", label: "Composer" },
];

/** `3 sessions`, `1 session`. */
export function formatSessions(count: number): string {
  return `${count} ${count === 1 ? "session" : "sessions"}`;
}

/** `5 days`, `1 day`. */
export function formatDays(count: number): string {
  return `${count} ${count === 1 ? "day" : "days"}`;
}

/**
 * The change from `previous` to `current` in whole percent: `+25 %`, `−40 %`, `±0 %`; `new`
 * when there was nothing before, `—` when there is nothing either time.
 */
export function formatChange(current: number, previous: number): string {
  if (previous <= 0) return current > 0 ? "new" : "—";
  const percent = Math.round(((current - previous) / previous) * 100);
  if (percent === 0) return "±0 %";
  return percent > 0 ? `+${percent} %` : `−${Math.abs(percent)} %`;
}

/** Whether a change is up, down or level (for its colour). */
export function changeDirection(current: number, previous: number): "up" | "down" | "level" {
  if (current > previous) return "up";
  if (current < previous) return "down";
  return "level";
}

/** The x-axis label of a trend bucket: `14 May`, `Week of 11 May`, `May 2026`. */
export function bucketLabel(start: string, unit: TrendUnit): string {
  const date = parseDay(start);
  if (!date) return start;
  switch (unit) {
    case "day":
      return format(date, "d MMM");
    case "week":
      return `Week of ${format(date, "d MMM")}`;
    case "month":
      return format(date, "MMM yyyy");
  }
}

/** `12 Mar – 20 Mar 2026` of a streak's first and last day (`null`: no streak yet). */
export function formatSpan(from: string | null, to: string | null): string | null {
  const first = from ? parseDay(from) : null;
  const last = to ? parseDay(to) : null;
  if (!first || !last) return null;
  if (from === to) return format(first, "d MMM yyyy");
  const sameYear = first.getFullYear() === last.getFullYear();
  return `${format(first, sameYear ? "d MMM" : "d MMM yyyy")} – ${format(last, "d MMM yyyy")}`;
}

const KINDS: ReadonlySet<string> = new Set([
  "practice",
  "performance",
  "lesson",
  "rehearsal",
  "technique",
  "status_change",
]);

/** A distribution group's label: `(no instrument)`, `Lesson`, `Piano`, a title as given. */
export function groupLabel(dimension: Dimension, label: string | null): string {
  if (label === null) {
    return {
      instruments: "No instrument",
      types: "Practice",
      pieces: "No piece",
      composers: "Unknown composer",
    }[dimension];
  }
  if (dimension === "types" && KINDS.has(label)) return kindLabel(label as EntryKind);
  if (dimension === "instruments") return label.charAt(0).toUpperCase() + label.slice(1);
  return label;
}

/** The rows of a distribution's bar chart, largest first, `Other (n)` last when there are more. */
export function breakdownRows(
  breakdown: BreakdownView,
  dimension: Dimension,
): Array<{ label: string; minutes: number; sessions: number | null }> {
  const rows: Array<{ label: string; minutes: number; sessions: number | null }> =
    breakdown.top.map((share) => ({
      label: groupLabel(dimension, share.label),
      minutes: Math.round(share.minutes),
      sessions: share.sessions,
    }));
  if (breakdown.otherGroups > 0) {
    rows.push({
      label: `Other (${breakdown.otherGroups})`,
      minutes: Math.round(breakdown.otherMinutes),
      sessions: null,
    });
  }
  return rows;
}

/** One comparison line: `This week 2 h · last week 1 h 30 min (to date 45 min)`. */
export function comparisonText(
  name: "week" | "month",
  current: AmountView,
  previous: AmountView,
  previousToDate: AmountView,
): string {
  const last = name === "week" ? "last week" : "last month";
  return `This ${name} ${formatMinutes(current.minutes)} · ${last} ${formatMinutes(previous.minutes)} (to this point ${formatMinutes(previousToDate.minutes)})`;
}

const TEXT = (palette: Palette) => ({
  color: palette.muted,
  fontFamily: "Inter, Cantarell, 'DejaVu Sans', sans-serif",
  fontSize: 11,
});

/** The calendar heatmap of a year: minutes per day, darker for more. */
export function heatmapOption(heatmap: HeatmapView, palette: Palette) {
  return {
    animation: false,
    tooltip: {
      formatter: (params: { value: [string, number] }) =>
        `${params.value[0]}: ${formatMinutes(params.value[1])}`,
    },
    visualMap: {
      show: false,
      min: 0,
      max: Math.max(heatmap.maxMinutes, 1),
      inRange: { color: [palette.accentSoft, palette.accent] },
    },
    calendar: {
      range: String(heatmap.year),
      top: 24,
      left: 34,
      right: 8,
      bottom: 4,
      cellSize: ["auto", 13],
      splitLine: { show: false },
      itemStyle: { color: palette.surfaceSunken, borderColor: palette.surface, borderWidth: 2 },
      yearLabel: { show: false },
      monthLabel: { ...TEXT(palette), nameMap: "en" },
      dayLabel: { ...TEXT(palette), firstDay: 1, nameMap: ["S", "M", "T", "W", "T", "F", "S"] },
    },
    series: [
      {
        type: "heatmap",
        coordinateSystem: "calendar",
        data: heatmap.days.map((day) => [day.date, day.minutes]),
      },
    ],
  };
}

/** The trend: minutes per bucket as bars, the moving average as a line. */
export function trendOption(trend: TrendView, palette: Palette) {
  const labels = trend.points.map((point) => bucketLabel(point.start, trend.unit));
  return {
    animation: false,
    grid: { top: 30, left: 44, right: 12, bottom: 28 },
    legend: {
      top: 0,
      right: 0,
      textStyle: TEXT(palette),
      data: ["Minutes", `${trend.window}-${trend.unit} average`],
    },
    tooltip: { trigger: "axis" },
    xAxis: {
      type: "category",
      data: labels,
      axisLabel: TEXT(palette),
      axisLine: { lineStyle: { color: palette.border } },
      axisTick: { show: false },
    },
    yAxis: {
      type: "value",
      name: "min",
      nameTextStyle: TEXT(palette),
      axisLabel: TEXT(palette),
      splitLine: { lineStyle: { color: palette.border } },
    },
    series: [
      {
        name: "Minutes",
        type: "bar",
        data: trend.points.map((point) => point.minutes),
        itemStyle: { color: palette.accent, borderRadius: [3, 3, 0, 0] },
        barMaxWidth: 18,
      },
      {
        name: `${trend.window}-${trend.unit} average`,
        type: "line",
        data: trend.points.map((point) => Math.round(point.movingAverage * 10) / 10),
        smooth: true,
        symbol: "none",
        lineStyle: { color: palette.warn, width: 2 },
        itemStyle: { color: palette.warn },
      },
    ],
  };
}

/** A distribution as horizontal bars, largest on top. */
export function distributionOption(
  breakdown: BreakdownView,
  dimension: Dimension,
  palette: Palette,
) {
  const rows = breakdownRows(breakdown, dimension).reverse();
  return {
    animation: false,
    grid: { top: 4, left: 8, right: 48, bottom: 4, containLabel: true },
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    xAxis: { type: "value", show: false },
    yAxis: {
      type: "category",
      data: rows.map((row) => row.label),
      axisLabel: { ...TEXT(palette), color: palette.fg, width: 150, overflow: "truncate" },
      axisLine: { show: false },
      axisTick: { show: false },
    },
    series: [
      {
        name: "Minutes",
        type: "bar",
        data: rows.map((row) => row.minutes),
        itemStyle: { color: palette.accent, borderRadius: [0, 3, 3, 0] },
        barMaxWidth: 16,
        label: {
          show: true,
          position: "right",
          ...TEXT(palette),
          formatter: (params: { value: number }) => formatMinutes(params.value),
        },
      },
    ],
  };
}

/** This week and month beside the previous ones (in full and to the same point). */
export function comparisonOption(view: StatisticsView, palette: Palette) {
  const { weekOverWeek: week, monthOverMonth: month } = view;
  return {
    animation: false,
    grid: { top: 30, left: 44, right: 12, bottom: 24 },
    legend: { top: 0, right: 0, textStyle: TEXT(palette) },
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    xAxis: {
      type: "category",
      data: ["Week", "Month"],
      axisLabel: TEXT(palette),
      axisLine: { lineStyle: { color: palette.border } },
      axisTick: { show: false },
    },
    yAxis: {
      type: "value",
      name: "min",
      nameTextStyle: TEXT(palette),
      axisLabel: TEXT(palette),
      splitLine: { lineStyle: { color: palette.border } },
    },
    series: [
      {
        name: "Previous",
        type: "bar",
        data: [week.previous.minutes, month.previous.minutes],
        itemStyle: { color: palette.faint },
        barMaxWidth: 28,
      },
      {
        name: "Previous, to this point",
        type: "bar",
        data: [week.previousToDate.minutes, month.previousToDate.minutes],
        itemStyle: { color: palette.accent, opacity: 0.45 },
        barMaxWidth: 28,
      },
      {
        name: "Current",
        type: "bar",
        data: [week.current.minutes, month.current.minutes],
        itemStyle: { color: palette.accent },
        barMaxWidth: 28,
      },
    ],
  };
}

/** The base64 payload of a `data:image/png;base64,...` URL (`null` if it is not one). */
export function pngBase64(dataUrl: string): string | null {
  const prefix = "data:image/png;base64,";
  return dataUrl.startsWith(prefix) ? dataUrl.slice(prefix.length) : null;
}
