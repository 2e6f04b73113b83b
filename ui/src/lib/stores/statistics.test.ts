// The statistics store against a mocked shell: one read per choice, stale answers dropped,
// re-reads on logbook changes only while shown, saving a chart.

import { clearMocks } from "@tauri-apps/api/mocks";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import type { StatisticsView } from "../ipc";
import { failure, installWindow, mockShell, settle } from "./fixtures";
import { NotificationStore } from "./notifications.svelte";
import { CHANGE_COALESCE_MS, StatisticsStore } from "./statistics.svelte";

beforeAll(installWindow);
afterEach(() => {
  clearMocks();
  vi.useRealTimers();
});

const view = (year: number, today = "2026-05-14") => ({ today, heatmap: { year, days: [], maxMinutes: 0 } }) as unknown as StatisticsView;

describe("statistics", () => {
  it("asks the shell with the chosen unit, period and year", async () => {
    const shell = mockShell({ get_statistics: () => view(2026) });
    const stats = new StatisticsStore(new NotificationStore());
    await stats.load();
    expect(shell.last("get_statistics")).toEqual({ request: { trend: "day", period: "month", year: null } });
    await stats.setTrend("week");
    await stats.setPeriod("all");
    expect(shell.last("get_statistics")).toEqual({ request: { trend: "week", period: "all", year: null } });
    await stats.shiftYear(-1);
    expect(shell.last("get_statistics")).toEqual({ request: { trend: "week", period: "all", year: 2025 } });
    // Never after this year; back at it, the year is `null` again.
    await stats.shiftYear(1);
    expect(stats.year).toBeNull();
    await stats.shiftYear(1);
    expect(stats.year).toBeNull();
  });

  it("keeps the newest answer when an older one comes late", async () => {
    let release: (v: StatisticsView) => void = () => {};
    let calls = 0;
    mockShell({
      get_statistics: () => {
        calls += 1;
        return calls === 1 ? new Promise((resolve) => (release = resolve)) : view(2026, "2026-05-15");
      },
    });
    const stats = new StatisticsStore(new NotificationStore());
    const first = stats.load();
    await stats.load();
    release(view(2026, "2026-05-14"));
    await first;
    expect(stats.view?.today).toBe("2026-05-15");
  });

  it("re-reads on logbook changes only while shown, coalesced", async () => {
    vi.useFakeTimers();
    const shell = mockShell({ get_statistics: () => view(2026) });
    const stats = new StatisticsStore(new NotificationStore());
    stats.onEntriesChanged();
    await vi.advanceTimersByTimeAsync(CHANGE_COALESCE_MS * 2);
    expect(shell.names()).toEqual([]);
    stats.setActive(true);
    await vi.advanceTimersByTimeAsync(0);
    stats.onEntriesChanged();
    stats.onEntriesChanged();
    await vi.advanceTimersByTimeAsync(CHANGE_COALESCE_MS);
    expect(shell.names()).toEqual(["get_statistics", "get_statistics"]);
    stats.setActive(false);
    stats.onEntriesChanged();
    await vi.advanceTimersByTimeAsync(CHANGE_COALESCE_MS * 2);
    expect(shell.names()).toHaveLength(2);
  });

  it("keeps a failed read's error", async () => {
    mockShell({ get_statistics: () => Promise.reject(failure("storage", "the database is busy")) });
    const stats = new StatisticsStore(new NotificationStore());
    await stats.load();
    expect(stats.error?.code).toBe("storage");
    expect(stats.loading).toBe(false);
  });

  it("saves a chart's PNG and says where it went", async () => {
    const shell = mockShell({ save_chart: () => ({ path: "/home/me/Downloads/legato-trend-2026-05-14.png" }) });
    const notices = new NotificationStore();
    const stats = new StatisticsStore(notices);
    expect(await stats.saveChart("trend", "data:image/png;base64,iVBORw0KGgo=")).toBe(true);
    expect(shell.last("save_chart")).toEqual({ chart: { kind: "trend", pngBase64: "iVBORw0KGgo=" } });
    expect(stats.savedPath).toBe("/home/me/Downloads/legato-trend-2026-05-14.png");
    expect(notices.items.at(-1)?.text).toBe("Chart saved to /home/me/Downloads/legato-trend-2026-05-14.png");
    expect(await stats.saveChart("trend", "data:image/jpeg;base64,xx")).toBe(false);
    expect(shell.names()).toEqual(["save_chart"]);
    await settle();
  });
});
