// The logbook screen's state: the filter, the listed days, the selected entry, the entry
// form (new or edit) with its field errors, delete with undo, and the stats strip. A cache
// of the store on the Rust side, re-read on `entries-changed`; never the source of truth.

import {
  draftFromEntry,
  draftFromTimer,
  draftToInput,
  emptyPiece,
  fieldKey,
  newDraft,
  followMinutes,
  startEdited,
  MAX_PIECES,
  type EntryDraft,
  type FieldErrors,
} from "../entry-form";
import { sentence } from "../format";
import {
  logbook as api,
  stats as statsApi,
  timer as timerApi,
  toFailure,
  type DayEntries,
  type EntriesChanged,
  type Entry,
  type EntryFilter,
  type EntryKind,
  type EntryList,
  type IpcFailure,
  type Stats,
  type TimerView,
} from "../ipc";
import { notifications, type NotificationStore } from "./notifications.svelte";

export type FilterDraft = {
  search: string;
  from: string;
  to: string;
  instrument: string;
  type: EntryKind | "";
  piece: string;
  tag: string;
};

export function emptyFilter(): FilterDraft {
  return { search: "", from: "", to: "", instrument: "", type: "", piece: "", tag: "" };
}

/** The filter as `list_entries` takes it: blank fields left out. */
export function filterQuery(filter: FilterDraft): EntryFilter {
  const query: EntryFilter = {};
  const text = (value: string) => value.trim();
  if (text(filter.search)) query.search = text(filter.search);
  if (filter.from) query.from = filter.from;
  if (filter.to) query.to = filter.to;
  if (text(filter.instrument)) query.instrument = text(filter.instrument);
  if (filter.type) query.type = filter.type;
  if (text(filter.piece)) query.piece = text(filter.piece);
  if (text(filter.tag)) query.tag = text(filter.tag);
  return query;
}

export function isFiltered(filter: FilterDraft): boolean {
  return Object.keys(filterQuery(filter)).length > 0;
}

export type PaneMode = "view" | "new" | "edit";

/** Milliseconds typing in a text filter waits before the list is re-read. */
export const FILTER_DEBOUNCE_MS = 250;
/** Change events within this many milliseconds make one re-read (a catch-up sends many). */
export const CHANGE_COALESCE_MS = 150;
/** Days read (and rendered) at first; `showMoreDays` adds as many again. */
export const DAYS_PAGE = 60;

export class LogbookStore {
  filter = $state<FilterDraft>(emptyFilter());
  list = $state<EntryList | null>(null);
  loading = $state(false);
  /** Why the list could not be read (and the filter field at fault, if any). */
  listError = $state<IpcFailure | null>(null);
  stats = $state<Stats | null>(null);

  selected = $state<Entry | null>(null);
  mode = $state<PaneMode>("view");
  draft = $state<EntryDraft | null>(null);
  fieldErrors = $state<FieldErrors>({});
  saving = $state(false);
  /** The entry being edited changed elsewhere (another device, a sync) since the form opened. */
  changedElsewhere = $state(false);
  /** The new entry logs the stopped practice timer: saving it also ends the session. */
  fromTimer = $state(false);

  /** How many days the list reads and renders (a long history loads in pages of days). */
  visibleDays = $state(DAYS_PAGE);
  /** The search field is to take the focus (the search shortcut); the field clears it. */
  searchRequested = $state(false);

  #notify: NotificationStore;
  #loadSeq = 0;
  #debounce: ReturnType<typeof setTimeout> | undefined;
  #changeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(notify: NotificationStore = notifications) {
    this.#notify = notify;
  }

  get filtered(): boolean {
    return isFiltered(this.filter);
  }

  /** The days to render now. */
  get shownDays(): DayEntries[] {
    return this.list?.days.slice(0, this.visibleDays) ?? [];
  }

  /** Older days match too: they are read by `showMoreDays`. */
  get moreDays(): boolean {
    return this.list?.more ?? false;
  }

  /** Reads the next page of older days (the list is re-read with as many days again). */
  async showMoreDays(): Promise<void> {
    this.visibleDays += DAYS_PAGE;
    await this.load();
  }

  /** Instruments, pieces and tags seen in the listed entries (suggestions for inputs). */
  get known(): { instruments: string[]; pieces: string[]; tags: string[]; techniques: string[] } {
    const instruments = new Set<string>();
    const pieces = new Set<string>();
    const tags = new Set<string>();
    const techniques = new Set<string>();
    for (const day of this.list?.days ?? []) {
      for (const entry of day.entries) {
        if (entry.instrument) instruments.add(entry.instrument);
        entry.pieces.forEach((p) => pieces.add(p.title));
        entry.tags.forEach((t) => tags.add(t));
        entry.techniques.forEach((t) => techniques.add(t));
      }
    }
    const sorted = (set: Set<string>) => [...set].sort((a, b) => a.localeCompare(b));
    return {
      instruments: sorted(instruments),
      pieces: sorted(pieces),
      tags: sorted(tags),
      techniques: sorted(techniques),
    };
  }

  /** Re-reads the list (with the current filter) and the stats; stale answers are dropped. */
  async load(): Promise<void> {
    const seq = ++this.#loadSeq;
    this.loading = true;
    try {
      const [list, stats] = await Promise.all([
        api.list({ ...filterQuery(this.filter), days: this.visibleDays }),
        statsApi.get().catch(() => null),
      ]);
      if (seq !== this.#loadSeq) return;
      this.list = list;
      if (stats) this.stats = stats;
      this.listError = null;
      this.#refreshSelected(list);
    } catch (err) {
      if (seq !== this.#loadSeq) return;
      this.listError = toFailure(err);
    } finally {
      if (seq === this.#loadSeq) this.loading = false;
    }
  }

  /** Changes the filter; text fields re-read after a pause in typing. */
  setFilter(patch: Partial<FilterDraft>, debounce = false): void {
    this.filter = { ...this.filter, ...patch };
    this.visibleDays = DAYS_PAGE;
    clearTimeout(this.#debounce);
    if (debounce) {
      this.#debounce = setTimeout(() => void this.load(), FILTER_DEBOUNCE_MS);
    } else {
      void this.load();
    }
  }

  clearFilters(): void {
    clearTimeout(this.#debounce);
    this.filter = emptyFilter();
    this.visibleDays = DAYS_PAGE;
    void this.load();
  }

  /** Shows an entry in the details pane (leaving a form without saving). */
  select(entry: Entry): void {
    this.selected = entry;
    this.mode = "view";
    this.draft = null;
    this.fieldErrors = {};
  }

  closeDetails(): void {
    this.selected = null;
    this.mode = "view";
    this.draft = null;
    this.fieldErrors = {};
  }

  /** Asks the logbook's search field to take the focus once it is shown. */
  requestSearch(): void {
    this.searchRequested = true;
  }

  startNew(now: Date = new Date()): void {
    const latest = this.list?.days[0]?.entries[0];
    this.draft = newDraft(now, latest);
    this.mode = "new";
    this.fromTimer = false;
    this.fieldErrors = {};
  }

  /** Opens a new entry pre-filled from the stopped practice timer (see `draftFromTimer`). */
  startFromTimer(view: TimerView): void {
    const latest = this.list?.days[0]?.entries[0];
    this.draft = draftFromTimer(view, latest);
    this.mode = "new";
    this.fromTimer = true;
    this.fieldErrors = {};
  }

  /** The new-entry form with one piece filled in (from a repertoire piece's page). */
  startNewFor(piece: { title: string; composer: string | null; scoreId: string }, now: Date = new Date()): void {
    this.startNew(now);
    if (!this.draft) return;
    this.draft.pieces = [
      { title: piece.title, composer: piece.composer ?? "", kept: { scoreId: piece.scoreId } },
    ];
  }

  startEdit(): void {
    if (!this.selected) return;
    this.draft = draftFromEntry(this.selected);
    this.mode = "edit";
    this.fieldErrors = {};
    this.changedElsewhere = false;
  }

  cancelEdit(): void {
    // A stopped timer's session stays stopped (the Practice screen offers it again).
    this.fromTimer = false;
    const stale = this.changedElsewhere;
    this.changedElsewhere = false;
    this.draft = null;
    this.mode = "view";
    this.fieldErrors = {};
    if (stale) void this.load(); // show the other device's version
  }

  addPiece(): void {
    if (!this.draft || this.draft.pieces.length >= MAX_PIECES) return;
    this.draft.pieces = [...this.draft.pieces, emptyPiece()];
  }

  removePiece(index: number): void {
    if (!this.draft) return;
    this.draft.pieces = this.draft.pieces.filter((_, i) => i !== index);
    // Errors of later rows would now point at the wrong row.
    this.fieldErrors = Object.fromEntries(
      Object.entries(this.fieldErrors).filter(([key]) => !key.startsWith("pieces.")),
    );
  }

  /** Minutes changed: a new entry's start follows (see `followMinutes`). */
  minutesChanged(now: Date = new Date()): void {
    if (this.draft) followMinutes(this.draft, now);
  }

  /** The user set Date or Time themselves: they no longer follow Minutes. */
  startChanged(): void {
    if (this.draft) startEdited(this.draft);
  }

  /**
   * Saves the form; field errors (ours or the shell's) land next to their fields. A new
   * entry whose start the user left alone ends `now`.
   */
  async save(now: Date = new Date()): Promise<Entry | null> {
    if (!this.draft || this.saving) return null;
    followMinutes(this.draft, now);
    const checked = draftToInput(this.draft);
    if (checked.errors) {
      this.fieldErrors = checked.errors;
      return null;
    }
    this.fieldErrors = {};
    this.saving = true;
    const editing = this.mode === "edit" ? this.selected : null;
    const fromTimer = !editing && this.fromTimer;
    try {
      const saved = editing
        ? await api.update(editing.id, checked.input)
        : fromTimer
          ? await timerApi.finish(checked.input)
          : await api.create(checked.input);
      this.fromTimer = false;
      this.selected = saved;
      this.draft = null;
      this.mode = "view";
      this.changedElsewhere = false;
      this.#notify.success(editing ? "Entry saved" : "Entry added", { key: "entry-saved" });
      void this.load();
      return saved;
    } catch (err) {
      const failure = toFailure(err);
      if (failure.code === "invalid") {
        this.fieldErrors = {
          [fieldKey(failure.field, checked.pieceRows)]: sentence(failure.message),
        };
      } else {
        this.fieldErrors = { form: sentence(failure.message) };
        if (failure.code === "not_found" && editing) {
          this.#notify.failure("Cannot save", failure);
        }
      }
      return null;
    } finally {
      this.saving = false;
    }
  }

  /** Deletes an entry and offers to undo it. */
  async remove(entry: Entry): Promise<boolean> {
    try {
      const deleted = await api.remove(entry.id);
      if (this.selected?.id === entry.id) this.closeDetails();
      this.#notify.info("Entry deleted", {
        key: "entry-deleted",
        timeout: 15_000,
        action: { label: "Undo", run: () => void this.undo(deleted.id) },
      });
      void this.load();
      return true;
    } catch (err) {
      this.#notify.failure("Cannot delete the entry", toFailure(err));
      return false;
    }
  }

  async undo(id: string): Promise<Entry | null> {
    try {
      const restored = await api.undoDelete(id);
      this.select(restored.entry);
      this.#notify.success("Entry restored", { key: "entry-deleted" });
      void this.load();
      return restored.entry;
    } catch (err) {
      this.#notify.failure("Cannot undo the delete", toFailure(err), { key: "entry-deleted" });
      return null;
    }
  }

  /** `entries-changed`: re-read what is shown. */
  onEntriesChanged(change: EntriesChanged): void {
    if (change.entityType !== "logbook" || this.#changeTimer !== undefined) return;
    this.#changeTimer = setTimeout(() => {
      this.#changeTimer = undefined;
      void this.load();
    }, CHANGE_COALESCE_MS);
  }

  /** Keeps the details pane on the fresh version of the selected entry. */
  #refreshSelected(list: EntryList): void {
    const current = this.selected;
    if (!current || this.mode === "new") return;
    if (this.mode === "edit") {
      // The form keeps the user's draft; say so when the entry moved underneath it.
      const fresh = list.days.flatMap((d) => d.entries).find((e) => e.id === current.id);
      if (fresh && fresh.updatedAt !== current.updatedAt) this.changedElsewhere = true;
      return;
    }
    for (const day of list.days) {
      const fresh = day.entries.find((e) => e.id === current.id);
      if (fresh) {
        this.selected = fresh;
        return;
      }
    }
    // Not in the (filtered) list: ask for it; gone means deleted, here or elsewhere.
    api.get(current.id).then(
      (fresh) => {
        if (this.selected?.id === fresh.id && this.mode === "view") this.selected = fresh;
      },
      (err: unknown) => {
        if (toFailure(err).code === "not_found" && this.selected?.id === current.id) {
          this.closeDetails();
        }
      },
    );
  }
}

export const logbook = new LogbookStore();
