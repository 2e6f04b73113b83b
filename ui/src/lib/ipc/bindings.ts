// Generated from the Rust types of src-tauri/src/ipc by `cargo xtask codegen` (ts-rs).
// Do not edit: change the Rust side and regenerate; a test fails while this file is stale.

/**
 * The account this device is signed in to.
 */
export type AccountView = { email: string, userId: string, };

/**
 * Practice minutes and sessions (entries) of a period.
 */
export type AmountView = { minutes: number, sessions: number, };

/**
 * The largest groups, and what the others add up to.
 */
export type BreakdownView = { top: Array<ShareView>, otherMinutes: number, otherGroups: number, };

/**
 * Progress of the catch-up after (re)connecting.
 */
export type CatchUp = { 
/**
 * The cursor the catch-up started from.
 */
since: number, 
/**
 * Updates received so far.
 */
received: number, 
/**
 * Updates durably applied so far.
 */
applied: number, 
/**
 * The `seq` of the last update received.
 */
seq: number, };

/**
 * Where a change of the local data came from.
 */
export type ChangeOrigin = "local" | "sync";

/**
 * A chart rendered by the UI as PNG (base64, without a `data:` prefix).
 */
export type ChartImage = { kind: ChartKind, pngBase64: string, };

/**
 * Which chart a PNG is of (its file name).
 */
export type ChartKind = "heatmap" | "trend" | "distribution" | "comparison";

/**
 * A current period against the previous one, in full and up to the same point.
 */
export type ComparisonView = { current: AmountView, previous: AmountView, previousToDate: AmountView, };

/**
 * One field both sides changed.
 */
export type ConflictField = { field: string, 
/**
 * The value both sides started from (`null` also when unknown: see `baseKnown`).
 */
base: JsonValue, 
/**
 * This device's value (`null`: cleared or absent).
 */
mine: JsonValue, 
/**
 * The server's value.
 */
theirs: JsonValue, 
/**
 * What the automatic merge would pick.
 */
merged: JsonValue, };

/**
 * The id of a conflict waiting for the user.
 */
export type ConflictId = number;

/**
 * `conflict-needs-user`: a conflict was stored for the user (strategy `manual`, or a
 * resolution that could not be applied automatically).
 */
export type ConflictNeedsUser = { conflictId: ConflictId, entityType: EntityKind, entityId: string, };

/**
 * The user's decision on a conflict.
 */
export type ConflictResolution = { "kind": "keepMine" } | { "kind": "keepTheirs" } | { "kind": "merge" } | { "kind": "fields", choices: { [key in string]?: Side }, } | { "kind": "edited", state: { [key in string]?: JsonValue }, };

/**
 * How a sync conflict of one entity type is settled (PROTOCOL.md section 4).
 */
export type ConflictStrategy = "local" | "remote" | "merge" | "manual";

/**
 * A conflict waiting for the user.
 */
export type ConflictView = { id: ConflictId, entityType: EntityKind, entityId: string, 
/**
 * The operation of this device's conflicted change.
 */
operation: OperationKind, 
/**
 * The server deleted the entity; keeping this device's version re-creates it under a
 * new id.
 */
remoteDeleted: boolean, 
/**
 * When the user made the conflicted edit (ms since the epoch).
 */
editedAt: number, 
/**
 * When the conflict was stored (ms since the epoch).
 */
createdAt: number, 
/**
 * Whether `base` values are known (they are not kept by the store yet).
 */
baseKnown: boolean, 
/**
 * The fields both sides changed.
 */
fields: Array<ConflictField>, 
/**
 * This device's whole state.
 */
mine: { [key in string]?: JsonValue }, 
/**
 * The server's whole state.
 */
theirs: { [key in string]?: JsonValue }, 
/**
 * The automatic three-way merge of the two.
 */
merged: { [key in string]?: JsonValue }, };

/**
 * Where the connection to the server stands.
 */
export type Connection = "connected" | "connecting" | "offline" | "paused" | "signedOut";

/**
 * `register` and `sign_in`.
 */
export type Credentials = { email: string, password: string, 
/**
 * Shown in the server's list of devices; defaults to "Legato desktop (<OS>)".
 */
deviceName?: string | null, };

/**
 * The entries of one local day, newest first, with the day's total.
 */
export type DayEntries = { 
/**
 * `YYYY-MM-DD`, local.
 */
date: string, totalMinutes: number, entries: Array<Entry>, };

/**
 * Minutes on one local day (`YYYY-MM-DD`).
 */
export type DayMinutesView = { date: string, minutes: number, };

/**
 * A change the server refused for good; it waits for the user to retry or discard it.
 */
export type DeadLetterView = { changeId: string, 
/**
 * What the change is about, as the lists name it: an entry's piece titles (or its type,
 * `Practice`), an item's or a goal's title (else `Logbook entry`, ...).
 */
title: string, entityType: EntityKind, entityId: string, operation: OperationKind, 
/**
 * The change's fields.
 */
data: { [key in string]?: JsonValue }, attempts: number, 
/**
 * The server's error code (`invalid`, `not_found`, ...).
 */
errorCode: string, errorMessage: string, 
/**
 * When it was moved to the dead letters (ms since the epoch).
 */
failedAt: number, 
/**
 * When the user made the edit (ms since the epoch).
 */
editedAt: number, };

/**
 * `dead-lettered`: the server refused a change for good.
 */
export type DeadLettered = { changeId: string, entityType: EntityKind, entityId: string, code: string, message: string, };

/**
 * `delete_piece` / `delete_goal`: it is gone.
 */
export type Deleted = { id: string, };

/**
 * `delete_entry`: the entry is gone; `undo_delete` with this id brings it back (one of the
 * store's 50 most recent deletes).
 */
export type DeletedEntry = { id: string, };

/**
 * One signed-in device of the account (`GET /api/devices`): each sign-in is a device.
 */
export type DeviceView = { 
/**
 * The server's id of the sign-in (`revoke_device`); not its token.
 */
id: string, 
/**
 * The name given at sign-in; `null` when it had none.
 */
name: string | null, 
/**
 * The client id the device last synced with (`null`: it never connected).
 */
clientId: string | null, 
/**
 * Signed in at (ms since the Unix epoch, server clock).
 */
createdAt: number, 
/**
 * Last request with its token (ms since the Unix epoch, server clock).
 */
lastSeenAt: number, 
/**
 * This app's own sign-in: not revocable from here (Sign out ends it).
 */
current: boolean, };

export type DistributionView = { period: StatsPeriod, total: AmountView, instruments: BreakdownView, types: BreakdownView, pieces: BreakdownView, composers: BreakdownView, };

/**
 * The kinds of synced records.
 */
export type EntityKind = "logbook" | "repertoire" | "goals";

/**
 * `entries-changed`: re-read these entities.
 */
export type EntriesChanged = { entityType: EntityKind, 
/**
 * `null`: anything may have changed (events were missed): re-read everything shown.
 */
ids: Array<string> | null, origin: ChangeOrigin, };

/**
 * A logbook entry as the UI shows it.
 */
export type Entry = { id: string, 
/**
 * When the practice happened: RFC 3339 UTC with milliseconds.
 */
timestamp: string, 
/**
 * Minutes, 1 to 1440.
 */
duration: number, type: EntryKind, instrument: string | null, pieces: Array<Piece>, techniques: Array<string>, mood: Mood | null, notes: string | null, tags: Array<string>, 
/**
 * Goals this session counts towards (kept as they are by `update_entry`).
 */
goalIds: Array<string>, createdAt: string | null, updatedAt: string | null, sync: EntrySync, };

/**
 * Which entries `list_entries` returns. Every field is optional; all given ones must match.
 */
export type EntryFilter = { 
/**
 * First local day, `YYYY-MM-DD` (inclusive).
 */
from?: string | null, 
/**
 * Last local day, `YYYY-MM-DD` (inclusive).
 */
to?: string | null, 
/**
 * Exact instrument (case-insensitive).
 */
instrument?: string | null, type?: EntryKind | null, 
/**
 * Part of a piece title (case-insensitive).
 */
piece?: string | null, 
/**
 * A tag (case-insensitive, exact).
 */
tag?: string | null, 
/**
 * Free text in notes, piece titles and composers (case-insensitive).
 */
search?: string | null, 
/**
 * Only local days before this one, `YYYY-MM-DD` (exclusive): the next page after a
 * page whose last day this is.
 */
before?: string | null, 
/**
 * At most this many local days, the newest that match (a day is never split; at least
 * 1). Absent: every matching day.
 */
days?: number | null, };

/**
 * Every user-editable field of an entry, for `create_entry` and `update_entry` (an update
 * replaces these fields; goal links, metadata and fields unknown to this version are kept).
 *
 * Normalised before validation: text trimmed, empty text as `null`, the instrument
 * lowercased, empty and repeated tags and techniques dropped.
 */
export type EntryInput = { 
/**
 * RFC 3339 with any offset (`2026-11-25T18:30:00+01:00`); stored as UTC.
 */
timestamp: string, 
/**
 * Minutes, 1 to 1440.
 */
duration: number, type: EntryKind, instrument?: string | null, pieces: Array<Piece>, techniques: Array<string>, mood?: Mood | null, notes?: string | null, tags: Array<string>, };

/**
 * What kind of session a logbook entry was.
 */
export type EntryKind = "practice" | "performance" | "lesson" | "rehearsal" | "technique" | "status_change";

/**
 * `list_entries`: matching entries grouped by local day, newest day first.
 */
export type EntryList = { days: Array<DayEntries>, 
/**
 * Minutes of the entries listed.
 */
totalMinutes: number, 
/**
 * Entries listed.
 */
count: number, 
/**
 * Older days match too (beyond the filter's `days`): ask with `before` = the last
 * day's date, or with more `days`.
 */
more: boolean, };

/**
 * Where an entity stands with the server (a badge in lists).
 */
export type EntrySync = "synced" | "pending" | "failed" | "conflict";

/**
 * A stable, machine-readable error code. The UI switches on it; `message` is for people.
 */
export type ErrorCode = "invalid" | "not_found" | "already_exists" | "deleted" | "disk_full" | "busy" | "storage" | "offline" | "timeout" | "unauthorized" | "signed_out" | "paused" | "email_taken" | "account_mismatch" | "keyring" | "server" | "timer_state" | "import_changed" | "file_access" | "internal";

/**
 * What an export writes: the logbook as CSV or JSON, or a JSON backup of everything.
 */
export type ExportKind = "csv" | "json" | "backup";

/**
 * A file an export wrote.
 */
export type ExportedFile = { path: string, bytes: number, };

/**
 * Every user-editable field of a goal, for `create_goal` and `update_goal` (the progress
 * counter changes only through `add_goal_progress`).
 */
export type GoalInput = { title: string, description?: string | null, type: GoalKind, targetMinutes?: number | null, period: GoalPeriod, status: GoalStatus, pieceIds: Array<string>, milestones: Array<MilestoneInput>, notes?: string | null, 
/**
 * RFC 3339 with any offset.
 */
targetDate?: string | null, tags: Array<string>, };

/**
 * What a goal is about.
 */
export type GoalKind = "practice_time" | "repertoire" | "custom";

/**
 * The window a practice-time goal counts.
 */
export type GoalPeriod = "day" | "week" | "month" | "total";

/**
 * Where a goal stands now (computed by the store from the logbook and the repertoire).
 */
export type GoalProgress = { unit: ProgressUnit, value: number, target: number | null, 
/**
 * Whole percent of the target, at most 100; null without a target.
 */
percent: number | null, reached: boolean, 
/**
 * Of `value`: minutes from the logbook.
 */
loggedMinutes: number, 
/**
 * Of `value`: the `progress` counter (added by hand, on any device).
 */
counted: number, 
/**
 * The window counted, ms since the epoch (periodic goals).
 */
windowStart: number | null, windowEnd: number | null, };

export type GoalStatus = "active" | "completed" | "paused" | "abandoned";

/**
 * A goal with its progress.
 */
export type GoalView = { id: string, title: string, description: string | null, type: GoalKind, targetMinutes: number | null, period: GoalPeriod, status: GoalStatus, 
/**
 * Repertoire ids.
 */
pieceIds: Array<string>, milestones: Array<Milestone>, notes: string | null, tags: Array<string>, targetDate: string | null, progress: GoalProgress, createdAt: string | null, sync: EntrySync, };

/**
 * Sync health from the recent success rate.
 */
export type Health = "healthy" | "degraded" | "unhealthy";

/**
 * One calendar year; days without practice are left out.
 */
export type HeatmapView = { year: number, days: Array<DayMinutesView>, maxMinutes: number, };

/**
 * The kind of file an import read.
 */
export type ImportFileFormat = "json" | "csv";

/**
 * What importing a file will do (`preview_import`) or did (`apply_import`).
 */
export type ImportPreviewView = { path: string, format: ImportFileFormat, created: number, updated: number, unchanged: number, skipped: number, 
/**
 * The first `MAX_SKIPPED_SHOWN` skipped rows (`skipped` counts them all).
 */
skippedRows: Array<SkippedRowView>, 
/**
 * CSV header cells that name nothing the app knows (left out).
 */
ignoredColumns: Array<string>, 
/**
 * Pass it to `apply_import`: it writes only what this preview counted.
 */
fingerprint: string, };

/**
 * The error of every command (`Result<T, IpcError>`): serialized as
 * `{code, message, field, retryable}`.
 */
export type IpcError = { code: ErrorCode, 
/**
 * A sentence for the user.
 */
message: string, 
/**
 * The field an `invalid` error is about (`duration`, `pieces[2].title`, ...).
 */
field: string | null, 
/**
 * Whether the same call may succeed later unchanged (a busy database, a network
 * failure).
 */
retryable: boolean, };

export type JsonValue = number | string | boolean | Array<JsonValue> | { [key in string]?: JsonValue } | null;

/**
 * Why the token cannot be kept in the OS keyring.
 */
export type KeyringProblem = "unavailable" | "refused" | "memory_only";

/**
 * Whether the sign-in token can be kept in the OS keyring.
 */
export type KeyringStatus = { 
/**
 * False: the token lives in memory only and signing in must be repeated after a restart.
 */
persistent: boolean, 
/**
 * Why not (null while `persistent`).
 */
problem: KeyringProblem | null, 
/**
 * Why not, as a plain sentence for the user.
 */
message: string | null, 
/**
 * The platform's own words (for the details and bug reports), when there are some.
 */
detail: string | null, };

export type Milestone = { id: string, title: string, done: boolean, doneAt: string | null, };

/**
 * A milestone as edited: an `id` of the goal's keeps that milestone (its `doneAt` follows
 * `done`); no id adds a new one.
 */
export type MilestoneInput = { id?: string | null, title: string, done: boolean, };

/**
 * How the session felt.
 */
export type Mood = "frustrated" | "neutral" | "satisfied" | "excited";

/**
 * The operation of a queued change.
 */
export type OperationKind = "create" | "update" | "delete";

/**
 * A piece worked on in a session.
 */
export type Piece = { 
/**
 * 1 to 200 characters.
 */
title: string, composer?: string | null, 
/**
 * Free text, e.g. `"1-32"`.
 */
measures?: string | null, 
/**
 * Beats per minute.
 */
tempo?: number | null, 
/**
 * The repertoire item this piece refers to.
 */
scoreId?: string | null, };

/**
 * `get_piece`: a piece and its tempo history, oldest first.
 */
export type PieceDetail = { piece: RepertoirePiece, tempoHistory: Array<TempoPoint>, };

/**
 * Every user-editable field of a piece, for `create_piece` and `update_piece`. A status
 * different from the stored one is recorded in the status history by the store.
 * Normalised: text trimmed, empty text as `null`, empty and repeated links and tags dropped.
 */
export type PieceInput = { title: string, composer?: string | null, status: PieceStatus, difficulty?: number | null, notes?: string | null, links: Array<string>, tags: Array<string>, };

/**
 * Where a piece stands.
 */
export type PieceStatus = "planned" | "learning" | "polished" | "performed" | "dropped";

/**
 * What a goal's progress counts.
 */
export type ProgressUnit = "minutes" | "pieces" | "milestones" | "count";

/**
 * A repertoire piece with its practice from the logbook (computed by the store).
 */
export type RepertoirePiece = { id: string, title: string, composer: string | null, status: PieceStatus, 
/**
 * 1 to 5.
 */
difficulty: number | null, notes: string | null, 
/**
 * `http(s)` URLs.
 */
links: Array<string>, tags: Array<string>, 
/**
 * Oldest first.
 */
statusHistory: Array<StatusStep>, 
/**
 * Minutes of the logbook entries that practised it.
 */
practiceMinutes: number, 
/**
 * Logbook entries that practised it.
 */
sessions: number, 
/**
 * The newest of those entries' time, ms since the epoch.
 */
lastPracticed: number | null, createdAt: string | null, updatedAt: string | null, sync: EntrySync, };

/**
 * What resolving did.
 */
export type ResolveOutcome = "pushed" | "acceptedRemote" | "recreated";

/**
 * `resolve_conflict`.
 */
export type Resolved = { outcome: ResolveOutcome, 
/**
 * The entity that now holds the result (a new id after `recreated`).
 */
entityId: string, };

/**
 * `undo_delete`: the entry is back. `sameId` is false when it had to be re-created under a
 * new id (the delete had already reached the server, or was on its way).
 */
export type RestoredEntry = { entry: Entry, sameId: boolean, };

/**
 * Where a saved file went.
 */
export type SavedFile = { path: string, };

/**
 * Everything the settings screen shows.
 */
export type SettingsView = { 
/**
 * The sync server in use.
 */
serverUrl: string, 
/**
 * The server comes from `LEGATO_SERVER`; `set_server_url` only changes the saved value.
 */
serverUrlFromEnv: boolean, 
/**
 * Set when the server is plain `http://` and not on this machine: what Settings
 * shows as a warning (password, token and entries travel unencrypted).
 */
insecureServerWarning: string | null, theme: Theme, 
/**
 * Closing the window hides it; the tray icon keeps the app (and sync) running.
 */
closeToTray: boolean, syncPaused: boolean, strategies: Strategies, account: AccountView | null, keyring: KeyringStatus, 
/**
 * Where this device keeps its data (`LEGATO_DATA_DIR` overrides it).
 */
dataDir: string, 
/**
 * This device's id on the server.
 */
clientId: string, };

/**
 * One group of a distribution (`label` null: entries without the value).
 */
export type ShareView = { label: string | null, 
/**
 * Fractional where an entry's minutes are split between its pieces.
 */
minutes: number, sessions: number, };

/**
 * Which side a field takes in a per-field resolution.
 */
export type Side = "mine" | "theirs";

/**
 * A piece whose title/composer nearly matches the one being entered.
 */
export type SimilarPiece = { id: string, title: string, composer: string | null, };

/**
 * A record an import leaves out, and why.
 */
export type SkippedRowView = { 
/**
 * CSV: the line in the file (the header is line 1); JSON: the position in its list.
 */
line: number, entityType: EntityKind, id: string | null, reason: string, };

export type StatTotalsView = { today: AmountView, 
/**
 * This ISO week, Monday to Sunday.
 */
week: AmountView, month: AmountView, all: AmountView, };

/**
 * What the statistics screen shows: the trend's unit, the distribution's period and the
 * heatmap's year (`null`: this year).
 */
export type StatisticsRequest = { trend: TrendUnit, period: StatsPeriod, year: number | null, };

/**
 * Everything the statistics screen shows, from one store read.
 */
export type StatisticsView = { 
/**
 * The IANA zone the days are counted in (`Europe/Berlin`), or the offset if the system
 * names none.
 */
timeZone: string, 
/**
 * Today (`YYYY-MM-DD`) in that zone.
 */
today: string, totals: StatTotalsView, streaks: StreaksView, heatmap: HeatmapView, trend: TrendView, distribution: DistributionView, weekOverWeek: ComparisonView, monthOverMonth: ComparisonView, };

/**
 * Practice totals, in minutes, by local time, and the streak of consecutive days.
 */
export type Stats = { todayMinutes: number, 
/**
 * This ISO week, from Monday.
 */
weekMinutes: number, allMinutes: number, 
/**
 * Consecutive days with practice, ending today (or yesterday while today has none).
 */
streakDays: number, };

/**
 * The current period a distribution covers.
 */
export type StatsPeriod = "week" | "month" | "year" | "all";

/**
 * One move of a piece's status (`from` is null for its first status).
 */
export type StatusStep = { 
/**
 * RFC 3339 UTC with milliseconds.
 */
at: string, from: PieceStatus | null, to: PieceStatus, };

/**
 * The conflict strategy of each entity type.
 */
export type Strategies = { logbook: ConflictStrategy, repertoire: ConflictStrategy, goals: ConflictStrategy, };

export type StreaksView = { 
/**
 * Consecutive days ending today (or yesterday while today has no entry yet).
 */
current: number, longest: number, 
/**
 * First and last day (`YYYY-MM-DD`) of the longest streak.
 */
longestFrom: string | null, longestTo: string | null, 
/**
 * Days with practice in all: a missed day does not reset it.
 */
practiceDays: number, };

/**
 * The one-word state the tray icon shows, also handy for a status badge.
 */
export type SyncBadge = "synced" | "syncing" | "offline" | "conflict" | "error";

/**
 * What went wrong with sync, for people: a kind, a plain sentence and the raw detail.
 */
export type SyncProblem = { code: SyncProblemCode, 
/**
 * Whether waiting can fix it (the engine tries again by itself); `false`: the user has
 * to act (sign in again, see the dead letters, update Legato).
 */
retryable: boolean, 
/**
 * A plain sentence for the status bar.
 */
message: string, 
/**
 * The sync engine's own words (for the details and bug reports).
 */
detail: string, };

/**
 * The kinds of [`SyncProblem`].
 */
export type SyncProblemCode = "unreachable" | "unauthorized" | "rate_limited" | "quota_exceeded" | "server" | "refused" | "protocol" | "storage" | "other";

/**
 * What `sync_now` achieved.
 */
export type SyncReportView = { pushed: number, pulled: number, 
/**
 * Conflicts settled (automatically or stored for the user).
 */
conflicts: number, 
/**
 * Still waiting for a retry time after a refusal.
 */
pending: number, deadLetters: number, conflictsWaiting: number, };

/**
 * A snapshot of sync, sent with every change as the `sync-status` event.
 */
export type SyncStatusView = { connection: Connection, badge: SyncBadge, 
/**
 * Changes waiting to be sent (or in flight).
 */
pending: number, deadLetters: number, conflicts: number, 
/**
 * Last successful sync, ms since the epoch.
 */
lastSyncAt: number | null, 
/**
 * The last thing that went wrong (cleared when a connection succeeds).
 */
lastError: SyncProblem | null, 
/**
 * Why the server last refused a change that still waits here to be sent again (a
 * full account, a rate limit); it stays queued.
 */
pendingRefusal: SyncProblem | null, health: Health, catchUp: CatchUp | null, 
/**
 * When the next reconnect attempt is due (ms since the epoch), while offline.
 */
nextRetryAt: number | null, 
/**
 * The highest server sequence number applied on this device.
 */
cursor: number, 
/**
 * The server is plain `http://` and not on this machine (the status bar warns;
 * Settings says why).
 */
insecureServer: boolean, };

/**
 * A tempo a piece was practised at (an entry's `pieces[].tempo`).
 */
export type TempoPoint = { entryId: string, 
/**
 * The entry's time, ms since the epoch.
 */
at: number, 
/**
 * Beats per minute.
 */
tempo: number, };

/**
 * Light, dark, or whatever the OS says.
 */
export type Theme = "light" | "dark" | "system";

/**
 * Where the session stands.
 */
export type TimerPhase = "running" | "paused" | "stopped";

/**
 * A piece for the timer: a repertoire item (`pieceId`, the logbook piece's `scoreId`) or
 * a free title.
 */
export type TimerPieceView = { 
/**
 * 1 to 200 characters.
 */
title: string, composer?: string | null, pieceId?: string | null, };

/**
 * One piece of the session (`piece: null`: time on no piece).
 */
export type TimerSegmentView = { piece: TimerPieceView | null, 
/**
 * The metronome tempo last used on it (bpm).
 */
tempo: number | null, 
/**
 * Active time on it (ms, pauses excluded), as of `TimerView.asOf`.
 */
activeMs: number, };

/**
 * The timer screen's data: the session (if any), the repertoire items offered as pieces
 * (not dropped, by title), and the reminder setting.
 */
export type TimerStatus = { timer: TimerView | null, choices: Array<TimerPieceView>, 
/**
 * A running timer reminds once after this many minutes (a setting, default 120).
 */
reminderMinutes: number, };

/**
 * The session as of `asOf`. While `running`, time goes on from `elapsedMs` at `asOf`.
 */
export type TimerView = { phase: TimerPhase, 
/**
 * When the session started (ms since the epoch).
 */
startedAt: number, stoppedAt: number | null, 
/**
 * Active time in all (ms, pauses excluded).
 */
elapsedMs: number, 
/**
 * The shell's clock when this view was read (ms since the epoch).
 */
asOf: number, 
/**
 * In the order first practised.
 */
segments: Array<TimerSegmentView>, 
/**
 * The index in `segments` of the piece being practised.
 */
current: number, 
/**
 * The entry's duration: elapsed minutes, rounded, 1 to 1440.
 */
minutes: number, 
/**
 * The entry's pieces (titled segments with time or a tempo), tempo included.
 */
pieces: Array<Piece>, 
/**
 * It ran at least the reminder's minutes: on stop, offer to trim it.
 */
long: boolean, };

export type TrendPointView = { 
/**
 * The bucket's first day (`YYYY-MM-DD`: a Monday for weeks, the 1st for months).
 */
start: string, minutes: number, sessions: number, 
/**
 * Mean minutes of this bucket and the `window - 1` before it.
 */
movingAverage: number, };

/**
 * The bucket size of the practice trend.
 */
export type TrendUnit = "day" | "week" | "month";

export type TrendView = { unit: TrendUnit, 
/**
 * Buckets in the moving average.
 */
window: number, 
/**
 * Oldest first; the last is the current bucket.
 */
points: Array<TrendPointView>, };

/** Every command: its arguments (as passed to `invoke`) and what it resolves to. It rejects with an `IpcError`. */
export type Commands = {
  list_entries: { args: { filter: EntryFilter }; result: EntryList };
  get_entry: { args: { id: string }; result: Entry };
  create_entry: { args: { input: EntryInput }; result: Entry };
  update_entry: { args: { id: string; input: EntryInput }; result: Entry };
  delete_entry: { args: { id: string }; result: DeletedEntry };
  undo_delete: { args: { id: string }; result: RestoredEntry };
  get_stats: { args: Record<string, never>; result: Stats };
  get_statistics: { args: { request: StatisticsRequest }; result: StatisticsView };
  save_chart: { args: { chart: ChartImage }; result: SavedFile };
  list_pieces: { args: Record<string, never>; result: Array<RepertoirePiece> };
  get_piece: { args: { id: string }; result: PieceDetail };
  create_piece: { args: { input: PieceInput }; result: RepertoirePiece };
  update_piece: { args: { id: string; input: PieceInput }; result: RepertoirePiece };
  delete_piece: { args: { id: string }; result: Deleted };
  similar_pieces: { args: { title: string; composer: string | null; except: string | null }; result: Array<SimilarPiece> };
  list_goals: { args: Record<string, never>; result: Array<GoalView> };
  create_goal: { args: { input: GoalInput }; result: GoalView };
  update_goal: { args: { id: string; input: GoalInput }; result: GoalView };
  add_goal_progress: { args: { id: string; amount: number }; result: GoalView };
  delete_goal: { args: { id: string }; result: Deleted };
  get_settings: { args: Record<string, never>; result: SettingsView };
  set_server_url: { args: { url: string }; result: SettingsView };
  set_conflict_strategy: { args: { entityType: EntityKind; strategy: ConflictStrategy }; result: SettingsView };
  set_theme: { args: { theme: Theme }; result: SettingsView };
  set_close_to_tray: { args: { enabled: boolean }; result: SettingsView };
  register: { args: { credentials: Credentials }; result: SettingsView };
  sign_in: { args: { credentials: Credentials }; result: SettingsView };
  sign_out: { args: Record<string, never>; result: SettingsView };
  list_devices: { args: Record<string, never>; result: Array<DeviceView> };
  revoke_device: { args: { id: string }; result: Array<DeviceView> };
  get_sync_status: { args: Record<string, never>; result: SyncStatusView };
  sync_now: { args: Record<string, never>; result: SyncReportView };
  pause_sync: { args: Record<string, never>; result: SyncStatusView };
  resume_sync: { args: Record<string, never>; result: SyncStatusView };
  list_dead_letters: { args: Record<string, never>; result: Array<DeadLetterView> };
  retry_dead_letter: { args: { changeId: string }; result: null };
  discard_dead_letter: { args: { changeId: string }; result: null };
  list_conflicts: { args: Record<string, never>; result: Array<ConflictView> };
  resolve_conflict: { args: { conflictId: ConflictId; resolution: ConflictResolution }; result: Resolved };
  get_timer: { args: Record<string, never>; result: TimerStatus };
  start_timer: { args: { piece: TimerPieceView | null }; result: TimerStatus };
  pause_timer: { args: Record<string, never>; result: TimerStatus };
  resume_timer: { args: Record<string, never>; result: TimerStatus };
  switch_timer_piece: { args: { piece: TimerPieceView | null }; result: TimerStatus };
  set_timer_tempo: { args: { bpm: number }; result: TimerStatus };
  stop_timer: { args: Record<string, never>; result: TimerStatus };
  trim_timer: { args: { minutes: number }; result: TimerStatus };
  finish_timer: { args: { input: EntryInput }; result: Entry };
  discard_timer: { args: Record<string, never>; result: TimerStatus };
  set_timer_reminder: { args: { minutes: number }; result: TimerStatus };
  choose_export_file: { args: { kind: ExportKind }; result: string | null };
  choose_import_file: { args: Record<string, never>; result: string | null };
  export_data: { args: { kind: ExportKind; path: string }; result: ExportedFile };
  preview_import: { args: { path: string }; result: ImportPreviewView };
  apply_import: { args: { path: string; fingerprint: string }; result: ImportPreviewView };
};

/** The names of the events the shell sends. */
export const EVENTS = {
  entriesChanged: "legato://entries-changed",
  syncStatus: "legato://sync-status",
  conflictNeedsUser: "legato://conflict-needs-user",
  deadLettered: "legato://dead-lettered",
  catchUpProgress: "legato://catch-up-progress",
  settingsChanged: "legato://settings-changed",
  timerChanged: "legato://timer-changed",
} as const;

/** Each event's payload type. */
export type EventPayloads = {
  "legato://entries-changed": EntriesChanged;
  "legato://sync-status": SyncStatusView;
  "legato://conflict-needs-user": ConflictNeedsUser;
  "legato://dead-lettered": DeadLettered;
  "legato://catch-up-progress": CatchUp;
  "legato://settings-changed": SettingsView;
  "legato://timer-changed": TimerStatus;
};
