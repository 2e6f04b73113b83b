// The statistics screen's state: the store's figures for the chosen trend unit,
// distribution period and heatmap year (one `get_statistics` read each time), re-read on
// `entries-changed` while the screen is shown (coalesced), and saving a chart as PNG
// through the shell (it says where the file went).

import {
  statistics as api,
  toFailure,
  type ChartKind,
  type IpcFailure,
  type StatisticsView,
  type StatsPeriod,
  type TrendUnit,
} from "../ipc";
import { pngBase64, type Dimension } from "../statistics";
import { notifications, type NotificationStore } from "./notifications.svelte";

export const CHANGE_COALESCE_MS = 300;

export class StatisticsStore {
  view = $state<StatisticsView | null>(null);
  error = $state<IpcFailure | null>(null);
  loading = $state(false);
  trend = $state<TrendUnit>("day");
  period = $state<StatsPeriod>("month");
  dimension = $state<Dimension>("pieces");
  /** The heatmap's year (`null`: this year). */
  year = $state<number | null>(null);
  /** The chart being saved. */
  saving = $state<ChartKind | null>(null);
  /** Where the last chart went. */
  savedPath = $state<string | null>(null);

  #notify: NotificationStore;
  #seq = 0;
  #active = false;
  #changeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(notify: NotificationStore = notifications) {
    this.#notify = notify;
  }

  /** Reads the figures; a stale answer (an older request's) is dropped. */
  async load(): Promise<void> {
    const seq = ++this.#seq;
    this.loading = true;
    try {
      const view = await api.get({ trend: this.trend, period: this.period, year: this.year });
      if (seq !== this.#seq) return;
      this.view = view;
      this.error = null;
    } catch (raw) {
      if (seq !== this.#seq) return;
      this.error = toFailure(raw);
    } finally {
      if (seq === this.#seq) this.loading = false;
    }
  }

  /** The screen is shown (loads) or hidden (stops re-reading on changes). */
  setActive(active: boolean): void {
    this.#active = active;
    if (active) void this.load();
  }

  setTrend(trend: TrendUnit): Promise<void> {
    this.trend = trend;
    return this.load();
  }

  setPeriod(period: StatsPeriod): Promise<void> {
    this.period = period;
    return this.load();
  }

  setDimension(dimension: Dimension): void {
    this.dimension = dimension;
  }

  /** The heatmap's year: the previous or next one, never after this one. */
  shiftYear(by: number): Promise<void> {
    const current = this.view ? Number(this.view.today.slice(0, 4)) : new Date().getFullYear();
    const shown = this.year ?? current;
    const next = Math.min(current, shown + by);
    this.year = next === current ? null : next;
    return this.load();
  }

  get shownYear(): number | null {
    return this.view?.heatmap.year ?? null;
  }

  get isThisYear(): boolean {
    return this.year === null;
  }

  /** Logbook changes move the figures: re-read (coalesced) while the screen is shown. */
  onEntriesChanged(): void {
    if (!this.#active) return;
    clearTimeout(this.#changeTimer);
    this.#changeTimer = setTimeout(() => void this.load(), CHANGE_COALESCE_MS);
  }

  /** Saves a chart's PNG (a `data:image/png;base64,` URL) through the shell. */
  async saveChart(kind: ChartKind, dataUrl: string): Promise<boolean> {
    const png = pngBase64(dataUrl);
    if (!png) {
      this.#notify.push("error", "The chart could not be rendered as PNG.");
      return false;
    }
    this.saving = kind;
    try {
      const saved = await api.saveChart({ kind, pngBase64: png });
      this.savedPath = saved.path;
      this.#notify.success(`Chart saved to ${saved.path}`);
      return true;
    } catch (raw) {
      this.#notify.failure("The chart was not saved", toFailure(raw));
      return false;
    } finally {
      this.saving = null;
    }
  }
}

export const statistics = new StatisticsStore();
