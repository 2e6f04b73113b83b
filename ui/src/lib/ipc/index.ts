// The only module that talks to the Rust shell: typed wrappers over `invoke` and `listen`.
// Names and payload types come from `./bindings` (generated from Rust, checked for drift):
// a command or event renamed or retyped in Rust fails `npm run check` here.
//
// - Every wrapper resolves with the command's result or rejects with an `IpcFailure`
//   (`code`, `message`, `field`, `retryable`).
// - Every `on*` listener returns an unsubscribe function (synchronous, safe to call before
//   the listener is registered, and more than once): call it on teardown.

import { invoke } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";
import {
  EVENTS,
  type CatchUp,
  type ChartImage,
  type Commands,
  type ConflictId,
  type ConflictNeedsUser,
  type ConflictResolution,
  type ConflictStrategy,
  type Credentials,
  type DeadLettered,
  type EntityKind,
  type EntriesChanged,
  type EntryFilter,
  type EntryInput,
  type ErrorCode,
  type ExportKind,
  type EventPayloads,
  type GoalInput,
  type IpcError,
  type PieceInput,
  type SettingsView,
  type StatisticsRequest,
  type SyncStatusView,
  type Theme,
  type TimerPieceView,
  type TimerStatus,
} from "./bindings";

export * from "./bindings";

/** A rejected command: the shell's `IpcError` as an `Error`. */
export class IpcFailure extends Error implements IpcError {
  readonly code: ErrorCode;
  readonly field: string | null;
  readonly retryable: boolean;

  constructor(error: IpcError) {
    super(error.message);
    this.name = "IpcFailure";
    this.code = error.code;
    this.field = error.field;
    this.retryable = error.retryable;
  }
}

function isIpcError(value: unknown): value is IpcError {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { code?: unknown }).code === "string" &&
    typeof (value as { message?: unknown }).message === "string"
  );
}

/** Turns whatever `invoke` rejected with into an `IpcFailure`. */
export function toFailure(raw: unknown): IpcFailure {
  if (raw instanceof IpcFailure) {
    return raw;
  }
  if (isIpcError(raw)) {
    return new IpcFailure({
      code: raw.code,
      message: raw.message,
      field: raw.field ?? null,
      retryable: raw.retryable ?? false,
    });
  }
  // Tauri itself rejects with a string (unknown command, bad arguments, ...).
  return new IpcFailure({
    code: "internal",
    message: raw instanceof Error ? raw.message : String(raw),
    field: null,
    retryable: false,
  });
}

type Command = keyof Commands;
type Args<C extends Command> = Commands[C]["args"];
type Result<C extends Command> = Commands[C]["result"];

async function call<C extends Command>(command: C, args: Args<C>): Promise<Result<C>> {
  try {
    return await invoke<Result<C>>(command, args);
  } catch (raw) {
    throw toFailure(raw);
  }
}

const none = {} as Record<string, never>;

/** Logbook entries. */
export const logbook = {
  /** Entries matching `filter`, grouped by local day (newest first) with daily totals. */
  list: (filter: EntryFilter = {}) => call("list_entries", { filter }),
  get: (id: string) => call("get_entry", { id }),
  create: (input: EntryInput) => call("create_entry", { input }),
  /** Replaces the form's fields; what the form does not show is kept. */
  update: (id: string, input: EntryInput) => call("update_entry", { id, input }),
  remove: (id: string) => call("delete_entry", { id }),
  /** Brings back an entry deleted in this session (maybe under a new id: see `sameId`). */
  undoDelete: (id: string) => call("undo_delete", { id }),
};

/** Practice totals and the streak. */
export const stats = {
  get: () => call("get_stats", none),
};

/** The statistics screen's figures (computed by the store) and saving a chart as PNG. */
export const statistics = {
  get: (request: StatisticsRequest) => call("get_statistics", { request }),
  /** Writes the PNG to Downloads (or the data dir's `exports`); resolves with the path. */
  saveChart: (chart: ChartImage) => call("save_chart", { chart }),
};

/** Export & import: the native file dialogs (`null`: cancelled), export, preview, apply. */
export const transfer = {
  chooseExportFile: (kind: ExportKind) => call("choose_export_file", { kind }),
  chooseImportFile: () => call("choose_import_file", none),
  exportData: (kind: ExportKind, path: string) => call("export_data", { kind, path }),
  /** What importing the file would do; writes nothing. */
  preview: (path: string) => call("preview_import", { path }),
  /** Writes what the preview with this fingerprint counted, or fails `import_changed`. */
  apply: (path: string, fingerprint: string) => call("apply_import", { path, fingerprint }),
};

/** Repertoire pieces, with their practice from the logbook (computed by the store). */
export const repertoire = {
  list: () => call("list_pieces", none),
  /** A piece with its tempo history. */
  get: (id: string) => call("get_piece", { id }),
  create: (input: PieceInput) => call("create_piece", { input }),
  /** Replaces the form's fields; a new status is appended to the status history. */
  update: (id: string, input: PieceInput) => call("update_piece", { id, input }),
  remove: (id: string) => call("delete_piece", { id }),
  /** Pieces nearly matching a title/composer (`except`: the piece being edited). */
  similar: (title: string, composer: string | null, except: string | null) =>
    call("similar_pieces", { title, composer, except }),
};

/** Goals, with their progress (computed by the store). */
export const goals = {
  list: () => call("list_goals", none),
  create: (input: GoalInput) => call("create_goal", { input }),
  update: (id: string, input: GoalInput) => call("update_goal", { id, input }),
  /** Adds to the goal's counter as `$inc` (additions on several devices add up). */
  addProgress: (id: string, amount: number) => call("add_goal_progress", { id, amount }),
  remove: (id: string) => call("delete_goal", { id }),
};

export const settings = {
  get: () => call("get_settings", none),
  setServerUrl: (url: string) => call("set_server_url", { url }),
  setConflictStrategy: (entityType: EntityKind, strategy: ConflictStrategy) =>
    call("set_conflict_strategy", { entityType, strategy }),
  setTheme: (theme: Theme) => call("set_theme", { theme }),
  setCloseToTray: (enabled: boolean) => call("set_close_to_tray", { enabled }),
};

export const account = {
  register: (credentials: Credentials) => call("register", { credentials }),
  signIn: (credentials: Credentials) => call("sign_in", { credentials }),
  signOut: () => call("sign_out", none),
  /** The account's signed-in devices (rejects `offline`, `signed_out`, `unauthorized`). */
  devices: () => call("list_devices", none),
  /** Signs another device out; resolves with the list as it is afterwards. */
  revokeDevice: (id: string) => call("revoke_device", { id }),
};

export const sync = {
  status: () => call("get_sync_status", none),
  /** Sends and fetches everything now; rejects with `offline`, `timeout`, `paused`, ... */
  now: () => call("sync_now", none),
  pause: () => call("pause_sync", none),
  resume: () => call("resume_sync", none),
  deadLetters: () => call("list_dead_letters", none),
  retryDeadLetter: (changeId: string) => call("retry_dead_letter", { changeId }),
  discardDeadLetter: (changeId: string) => call("discard_dead_letter", { changeId }),
};

export const conflicts = {
  list: () => call("list_conflicts", none),
  resolve: (conflictId: ConflictId, resolution: ConflictResolution) =>
    call("resolve_conflict", { conflictId, resolution }),
};

/** The practice timer (this device's, never synced); each step answers the new status. */
export const timer = {
  get: () => call("get_timer", none),
  start: (piece: TimerPieceView | null) => call("start_timer", { piece }),
  pause: () => call("pause_timer", none),
  resume: () => call("resume_timer", none),
  switchPiece: (piece: TimerPieceView | null) => call("switch_timer_piece", { piece }),
  /** The metronome's tempo for the piece being practised (the last one set is logged). */
  setTempo: (bpm: number) => call("set_timer_tempo", { bpm }),
  stop: () => call("stop_timer", none),
  /** Keeps the first `minutes` of a stopped session. */
  trim: (minutes: number) => call("trim_timer", { minutes }),
  /** Saves the stopped session's entry and ends the session. */
  finish: (input: EntryInput) => call("finish_timer", { input }),
  discard: () => call("discard_timer", none),
  setReminder: (minutes: number) => call("set_timer_reminder", { minutes }),
};

/** Stops a listener. Safe to call at any time, also more than once. */
export type Unsubscribe = () => void;

type EventName = keyof EventPayloads;

function on<N extends EventName>(
  name: N,
  handler: (payload: EventPayloads[N]) => void,
): Unsubscribe {
  let stopped = false;
  let unlisten: (() => void) | undefined;
  listen<EventPayloads[N]>(name, (event) => {
    if (!stopped) {
      handler(event.payload);
    }
  }).then(
    (stop) => {
      if (stopped) {
        stop();
      } else {
        unlisten = stop;
      }
    },
    (err: unknown) => console.error(`cannot listen to ${name}`, err),
  );
  return () => {
    stopped = true;
    unlisten?.();
    unlisten = undefined;
  };
}

/** Events from the shell. */
export const events = {
  /** Entities changed (locally or through sync); `ids: null`: re-read everything shown. */
  onEntriesChanged: (handler: (e: EntriesChanged) => void) => on(EVENTS.entriesChanged, handler),
  /** Every change of the sync status. */
  onSyncStatus: (handler: (s: SyncStatusView) => void) => on(EVENTS.syncStatus, handler),
  onConflictNeedsUser: (handler: (c: ConflictNeedsUser) => void) =>
    on(EVENTS.conflictNeedsUser, handler),
  onDeadLettered: (handler: (d: DeadLettered) => void) => on(EVENTS.deadLettered, handler),
  onCatchUpProgress: (handler: (p: CatchUp) => void) => on(EVENTS.catchUpProgress, handler),
  onSettingsChanged: (handler: (s: SettingsView) => void) => on(EVENTS.settingsChanged, handler),
  /** The practice timer changed (here, from the tray, or its reminder). */
  onTimerChanged: (handler: (s: TimerStatus) => void) => on(EVENTS.timerChanged, handler),
};
