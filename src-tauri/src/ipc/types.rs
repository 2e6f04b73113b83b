//! The payload types of the IPC contract: what commands take and return and what events
//! carry. Defined once here; `ui/src/lib/ipc/bindings.ts` is generated from them (see
//! [`super::bindings`]). JSON names are camelCase; times are RFC 3339 strings inside entries
//! (as on the wire) and milliseconds since the Unix epoch (`number`) everywhere else.
//!
//! These are views, not the domain: `legato_core::model` and the store's types stay free of
//! UI concerns, and the conversions live next to the logic that needs them
//! ([`crate::entries`], [`crate::conflicts`], [`crate::status`]).

use legato_protocol::Fields;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use ts_rs::TS;

// ---------------------------------------------------------------------------------------
// Shared vocabulary

/// The kinds of synced records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum EntityKind {
    Logbook,
    Repertoire,
    Goals,
}

/// What kind of session a logbook entry was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Practice,
    Performance,
    Lesson,
    Rehearsal,
    Technique,
    StatusChange,
}

/// How the session felt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum Mood {
    Frustrated,
    Neutral,
    Satisfied,
    Excited,
}

/// Where an entity stands with the server (a badge in lists).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum EntrySync {
    /// The server has it.
    Synced,
    /// Changes wait in the outbox.
    Pending,
    /// A change was refused for good (see the dead letters).
    Failed,
    /// A conflict waits for the user.
    Conflict,
}

/// The operation of a queued change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum OperationKind {
    Create,
    Update,
    Delete,
}

// ---------------------------------------------------------------------------------------
// Logbook

/// A piece worked on in a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Piece {
    /// 1 to 200 characters.
    pub title: String,
    #[serde(default)]
    #[ts(optional = nullable)]
    pub composer: Option<String>,
    /// Free text, e.g. `"1-32"`.
    #[serde(default)]
    #[ts(optional = nullable)]
    pub measures: Option<String>,
    /// Beats per minute.
    #[serde(default)]
    #[ts(optional = nullable, type = "number | null")]
    pub tempo: Option<i64>,
    /// The repertoire item this piece refers to.
    #[serde(default)]
    #[ts(optional = nullable)]
    pub score_id: Option<String>,
}

/// A logbook entry as the UI shows it.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub id: String,
    /// When the practice happened: RFC 3339 UTC with milliseconds.
    pub timestamp: String,
    /// Minutes, 1 to 1440.
    pub duration: u32,
    #[serde(rename = "type")]
    pub kind: EntryKind,
    pub instrument: Option<String>,
    pub pieces: Vec<Piece>,
    pub techniques: Vec<String>,
    pub mood: Option<Mood>,
    pub notes: Option<String>,
    pub tags: Vec<String>,
    /// Goals this session counts towards (kept as they are by `update_entry`).
    pub goal_ids: Vec<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub sync: EntrySync,
}

/// Every user-editable field of an entry, for `create_entry` and `update_entry` (an update
/// replaces these fields; goal links, metadata and fields unknown to this version are kept).
///
/// Normalised before validation: text trimmed, empty text as `null`, the instrument
/// lowercased, empty and repeated tags and techniques dropped.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct EntryInput {
    /// RFC 3339 with any offset (`2026-11-25T18:30:00+01:00`); stored as UTC.
    pub timestamp: String,
    /// Minutes, 1 to 1440.
    pub duration: u32,
    #[serde(rename = "type")]
    pub kind: EntryKind,
    #[serde(default)]
    #[ts(optional = nullable)]
    pub instrument: Option<String>,
    #[serde(default)]
    pub pieces: Vec<Piece>,
    #[serde(default)]
    pub techniques: Vec<String>,
    #[serde(default)]
    #[ts(optional = nullable)]
    pub mood: Option<Mood>,
    #[serde(default)]
    #[ts(optional = nullable)]
    pub notes: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// Which entries `list_entries` returns. Every field is optional; all given ones must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, TS)]
#[serde(rename_all = "camelCase", default)]
pub struct EntryFilter {
    /// First local day, `YYYY-MM-DD` (inclusive).
    #[ts(optional = nullable)]
    pub from: Option<String>,
    /// Last local day, `YYYY-MM-DD` (inclusive).
    #[ts(optional = nullable)]
    pub to: Option<String>,
    /// Exact instrument (case-insensitive).
    #[ts(optional = nullable)]
    pub instrument: Option<String>,
    #[serde(rename = "type")]
    #[ts(optional = nullable)]
    pub kind: Option<EntryKind>,
    /// Part of a piece title (case-insensitive).
    #[ts(optional = nullable)]
    pub piece: Option<String>,
    /// A tag (case-insensitive, exact).
    #[ts(optional = nullable)]
    pub tag: Option<String>,
    /// Free text in notes, piece titles and composers (case-insensitive).
    #[ts(optional = nullable)]
    pub search: Option<String>,
    /// Only local days before this one, `YYYY-MM-DD` (exclusive): the next page after a
    /// page whose last day this is.
    #[ts(optional = nullable)]
    pub before: Option<String>,
    /// At most this many local days, the newest that match (a day is never split; at least
    /// 1). Absent: every matching day.
    #[ts(optional = nullable)]
    pub days: Option<u32>,
}

/// The entries of one local day, newest first, with the day's total.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DayEntries {
    /// `YYYY-MM-DD`, local.
    pub date: String,
    #[ts(type = "number")]
    pub total_minutes: u64,
    pub entries: Vec<Entry>,
}

/// `list_entries`: matching entries grouped by local day, newest day first.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct EntryList {
    pub days: Vec<DayEntries>,
    /// Minutes of the entries listed.
    #[ts(type = "number")]
    pub total_minutes: u64,
    /// Entries listed.
    pub count: u32,
    /// Older days match too (beyond the filter's `days`): ask with `before` = the last
    /// day's date, or with more `days`.
    pub more: bool,
}

/// `delete_entry`: the entry is gone; `undo_delete` with this id brings it back (one of the
/// store's 50 most recent deletes).
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DeletedEntry {
    pub id: String,
}

/// `undo_delete`: the entry is back. `sameId` is false when it had to be re-created under a
/// new id (the delete had already reached the server, or was on its way).
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RestoredEntry {
    pub entry: Entry,
    pub same_id: bool,
}

/// Practice totals, in minutes, by local time, and the streak of consecutive days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    #[ts(type = "number")]
    pub today_minutes: u64,
    /// This ISO week, from Monday.
    #[ts(type = "number")]
    pub week_minutes: u64,
    #[ts(type = "number")]
    pub all_minutes: u64,
    /// Consecutive days with practice, ending today (or yesterday while today has none).
    pub streak_days: u32,
}

// ---------------------------------------------------------------------------------------
// Repertoire (see `crate::pieces`)

/// Where a piece stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum PieceStatus {
    Planned,
    Learning,
    Polished,
    Performed,
    Dropped,
}

/// One move of a piece's status (`from` is null for its first status).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StatusStep {
    /// RFC 3339 UTC with milliseconds.
    pub at: String,
    pub from: Option<PieceStatus>,
    pub to: PieceStatus,
}

/// A repertoire piece with its practice from the logbook (computed by the store).
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RepertoirePiece {
    pub id: String,
    pub title: String,
    pub composer: Option<String>,
    pub status: PieceStatus,
    /// 1 to 5.
    pub difficulty: Option<u8>,
    pub notes: Option<String>,
    /// `http(s)` URLs.
    pub links: Vec<String>,
    pub tags: Vec<String>,
    /// Oldest first.
    pub status_history: Vec<StatusStep>,
    /// Minutes of the logbook entries that practised it.
    #[ts(type = "number")]
    pub practice_minutes: u64,
    /// Logbook entries that practised it.
    #[ts(type = "number")]
    pub sessions: u64,
    /// The newest of those entries' time, ms since the epoch.
    #[ts(type = "number | null")]
    pub last_practiced: Option<i64>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub sync: EntrySync,
}

/// Every user-editable field of a piece, for `create_piece` and `update_piece`. A status
/// different from the stored one is recorded in the status history by the store.
/// Normalised: text trimmed, empty text as `null`, empty and repeated links and tags dropped.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct PieceInput {
    pub title: String,
    #[serde(default)]
    #[ts(optional = nullable)]
    pub composer: Option<String>,
    pub status: PieceStatus,
    #[serde(default)]
    #[ts(optional = nullable)]
    pub difficulty: Option<u8>,
    #[serde(default)]
    #[ts(optional = nullable)]
    pub notes: Option<String>,
    #[serde(default)]
    pub links: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A tempo a piece was practised at (an entry's `pieces[].tempo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TempoPoint {
    pub entry_id: String,
    /// The entry's time, ms since the epoch.
    #[ts(type = "number")]
    pub at: i64,
    /// Beats per minute.
    #[ts(type = "number")]
    pub tempo: i64,
}

/// `get_piece`: a piece and its tempo history, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct PieceDetail {
    pub piece: RepertoirePiece,
    pub tempo_history: Vec<TempoPoint>,
}

/// A piece whose title/composer nearly matches the one being entered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SimilarPiece {
    pub id: String,
    pub title: String,
    pub composer: Option<String>,
}

/// `delete_piece` / `delete_goal`: it is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Deleted {
    pub id: String,
}

// ---------------------------------------------------------------------------------------
// Goals (see `crate::goals`)

/// What a goal is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum GoalKind {
    PracticeTime,
    Repertoire,
    Custom,
}

/// The window a practice-time goal counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum GoalPeriod {
    Day,
    Week,
    Month,
    Total,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum GoalStatus {
    Active,
    Completed,
    Paused,
    Abandoned,
}

/// What a goal's progress counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum ProgressUnit {
    Minutes,
    Pieces,
    Milestones,
    /// The goal's own counter (custom goals).
    Count,
}

/// Where a goal stands now (computed by the store from the logbook and the repertoire).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct GoalProgress {
    pub unit: ProgressUnit,
    #[ts(type = "number")]
    pub value: i64,
    #[ts(type = "number | null")]
    pub target: Option<i64>,
    /// Whole percent of the target, at most 100; null without a target.
    pub percent: Option<u8>,
    pub reached: bool,
    /// Of `value`: minutes from the logbook.
    #[ts(type = "number")]
    pub logged_minutes: i64,
    /// Of `value`: the `progress` counter (added by hand, on any device).
    #[ts(type = "number")]
    pub counted: i64,
    /// The window counted, ms since the epoch (periodic goals).
    #[ts(type = "number | null")]
    pub window_start: Option<i64>,
    #[ts(type = "number | null")]
    pub window_end: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Milestone {
    pub id: String,
    pub title: String,
    pub done: bool,
    pub done_at: Option<String>,
}

/// A goal with its progress.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct GoalView {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    #[serde(rename = "type")]
    pub kind: GoalKind,
    #[ts(type = "number | null")]
    pub target_minutes: Option<i64>,
    pub period: GoalPeriod,
    pub status: GoalStatus,
    /// Repertoire ids.
    pub piece_ids: Vec<String>,
    pub milestones: Vec<Milestone>,
    pub notes: Option<String>,
    pub tags: Vec<String>,
    pub target_date: Option<String>,
    pub progress: GoalProgress,
    pub created_at: Option<String>,
    pub sync: EntrySync,
}

/// A milestone as edited: an `id` of the goal's keeps that milestone (its `doneAt` follows
/// `done`); no id adds a new one.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct MilestoneInput {
    #[serde(default)]
    #[ts(optional = nullable)]
    pub id: Option<String>,
    pub title: String,
    #[serde(default)]
    pub done: bool,
}

/// Every user-editable field of a goal, for `create_goal` and `update_goal` (the progress
/// counter changes only through `add_goal_progress`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct GoalInput {
    pub title: String,
    #[serde(default)]
    #[ts(optional = nullable)]
    pub description: Option<String>,
    #[serde(rename = "type")]
    pub kind: GoalKind,
    #[serde(default)]
    #[ts(optional = nullable, type = "number | null")]
    pub target_minutes: Option<i64>,
    pub period: GoalPeriod,
    pub status: GoalStatus,
    #[serde(default)]
    pub piece_ids: Vec<String>,
    #[serde(default)]
    pub milestones: Vec<MilestoneInput>,
    #[serde(default)]
    #[ts(optional = nullable)]
    pub notes: Option<String>,
    /// RFC 3339 with any offset.
    #[serde(default)]
    #[ts(optional = nullable)]
    pub target_date: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

// ---------------------------------------------------------------------------------------
// Settings and account

/// Light, dark, or whatever the OS says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    Light,
    Dark,
    #[default]
    System,
}

/// How a sync conflict of one entity type is settled (PROTOCOL.md section 4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum ConflictStrategy {
    /// This device's values win.
    Local,
    /// The server's values win.
    Remote,
    /// Three-way merge (the default).
    #[default]
    Merge,
    /// Ask the user (`list_conflicts` / `resolve_conflict`).
    Manual,
}

/// The conflict strategy of each entity type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", default)]
pub struct Strategies {
    pub logbook: ConflictStrategy,
    pub repertoire: ConflictStrategy,
    pub goals: ConflictStrategy,
}

/// The account this device is signed in to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    pub email: String,
    pub user_id: String,
}

/// Whether the sign-in token can be kept in the OS keyring.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct KeyringStatus {
    /// False: the token lives in memory only and signing in must be repeated after a restart.
    pub persistent: bool,
    /// Why not (null while `persistent`).
    pub problem: Option<KeyringProblem>,
    /// Why not, as a plain sentence for the user.
    pub message: Option<String>,
    /// The platform's own words (for the details and bug reports), when there are some.
    pub detail: Option<String>,
}

/// Why the token cannot be kept in the OS keyring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum KeyringProblem {
    /// No keyring service (no Secret Service on the session bus, no session bus), or it did
    /// not answer in time.
    Unavailable,
    /// The keyring answered with an error for this entry (locked, refused, ...).
    Refused,
    /// Turned off on purpose (`LEGATO_KEYRING=memory`).
    MemoryOnly,
}

/// Everything the settings screen shows.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SettingsView {
    /// The sync server in use.
    pub server_url: String,
    /// The server comes from `LEGATO_SERVER`; `set_server_url` only changes the saved value.
    pub server_url_from_env: bool,
    /// Set when the server is plain `http://` and not on this machine: what Settings
    /// shows as a warning (password, token and entries travel unencrypted).
    pub insecure_server_warning: Option<String>,
    pub theme: Theme,
    /// Closing the window hides it; the tray icon keeps the app (and sync) running.
    pub close_to_tray: bool,
    pub sync_paused: bool,
    pub strategies: Strategies,
    pub account: Option<AccountView>,
    pub keyring: KeyringStatus,
    /// Where this device keeps its data (`LEGATO_DATA_DIR` overrides it).
    pub data_dir: String,
    /// This device's id on the server.
    pub client_id: String,
}

/// One signed-in device of the account (`GET /api/devices`): each sign-in is a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DeviceView {
    /// The server's id of the sign-in (`revoke_device`); not its token.
    pub id: String,
    /// The name given at sign-in; `null` when it had none.
    pub name: Option<String>,
    /// The client id the device last synced with (`null`: it never connected).
    pub client_id: Option<String>,
    /// Signed in at (ms since the Unix epoch, server clock).
    #[ts(type = "number")]
    pub created_at: i64,
    /// Last request with its token (ms since the Unix epoch, server clock).
    #[ts(type = "number")]
    pub last_seen_at: i64,
    /// This app's own sign-in: not revocable from here (Sign out ends it).
    pub current: bool,
}

/// `register` and `sign_in`.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    pub email: String,
    pub password: String,
    /// Shown in the server's list of devices; defaults to "Legato desktop (<OS>)".
    #[serde(default)]
    #[ts(optional = nullable)]
    pub device_name: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .field("device_name", &self.device_name)
            .finish()
    }
}

// ---------------------------------------------------------------------------------------
// Sync

/// Where the connection to the server stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum Connection {
    Connected,
    Connecting,
    /// Not connected; a reconnect is scheduled (`nextRetryAt`).
    Offline,
    /// The user paused sync.
    Paused,
    /// No account, or the server refused this device's token (sign in again).
    SignedOut,
}

/// Sync health from the recent success rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Healthy,
    Degraded,
    Unhealthy,
}

/// The one-word state the tray icon shows, also handy for a status badge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum SyncBadge {
    /// Connected, nothing pending, caught up.
    Synced,
    /// Connecting, sending or catching up.
    Syncing,
    /// Offline, paused or signed out.
    Offline,
    /// A conflict waits for the user.
    Conflict,
    /// Changes were refused for good (dead letters).
    Error,
}

/// Progress of the catch-up after (re)connecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct CatchUp {
    /// The cursor the catch-up started from.
    #[ts(type = "number")]
    pub since: u64,
    /// Updates received so far.
    #[ts(type = "number")]
    pub received: u64,
    /// Updates durably applied so far.
    #[ts(type = "number")]
    pub applied: u64,
    /// The `seq` of the last update received.
    #[ts(type = "number")]
    pub seq: u64,
}

/// A snapshot of sync, sent with every change as the `sync-status` event.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatusView {
    pub connection: Connection,
    pub badge: SyncBadge,
    /// Changes waiting to be sent (or in flight).
    #[ts(type = "number")]
    pub pending: u64,
    #[ts(type = "number")]
    pub dead_letters: u64,
    #[ts(type = "number")]
    pub conflicts: u64,
    /// Last successful sync, ms since the epoch.
    #[ts(type = "number | null")]
    pub last_sync_at: Option<i64>,
    /// The last thing that went wrong (cleared when a connection succeeds).
    pub last_error: Option<SyncProblem>,
    /// Why the server last refused a change that still waits here to be sent again (a
    /// full account, a rate limit); it stays queued.
    pub pending_refusal: Option<SyncProblem>,
    pub health: Health,
    pub catch_up: Option<CatchUp>,
    /// When the next reconnect attempt is due (ms since the epoch), while offline.
    #[ts(type = "number | null")]
    pub next_retry_at: Option<i64>,
    /// The highest server sequence number applied on this device.
    #[ts(type = "number")]
    pub cursor: u64,
    /// The server is plain `http://` and not on this machine (the status bar warns;
    /// Settings says why).
    pub insecure_server: bool,
}

/// What went wrong with sync, for people: a kind, a plain sentence and the raw detail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SyncProblem {
    pub code: SyncProblemCode,
    /// Whether waiting can fix it (the engine tries again by itself); `false`: the user has
    /// to act (sign in again, see the dead letters, update Legato).
    pub retryable: bool,
    /// A plain sentence for the status bar.
    pub message: String,
    /// The sync engine's own words (for the details and bug reports).
    pub detail: String,
}

/// The kinds of [`SyncProblem`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum SyncProblemCode {
    /// The server cannot be reached: refused, reset, timed out, closed, half-open.
    Unreachable,
    /// The server refused the sign-in.
    Unauthorized,
    /// The server asked to slow down.
    RateLimited,
    /// The account's storage on the server is full; changes wait on this device.
    QuotaExceeded,
    /// The server answered with an error of its own (HTTP 5xx, an error message).
    Server,
    /// The server refused a change (it waits in the dead letters).
    Refused,
    /// The server sent something this version cannot read.
    Protocol,
    /// This device's store failed.
    Storage,
    /// Anything else.
    Other,
}

/// What `sync_now` achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SyncReportView {
    #[ts(type = "number")]
    pub pushed: u64,
    #[ts(type = "number")]
    pub pulled: u64,
    /// Conflicts settled (automatically or stored for the user).
    #[ts(type = "number")]
    pub conflicts: u64,
    /// Still waiting for a retry time after a refusal.
    #[ts(type = "number")]
    pub pending: u64,
    #[ts(type = "number")]
    pub dead_letters: u64,
    #[ts(type = "number")]
    pub conflicts_waiting: u64,
}

/// A change the server refused for good; it waits for the user to retry or discard it.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterView {
    pub change_id: String,
    /// What the change is about, as the lists name it: an entry's piece titles (or its type,
    /// `Practice`), an item's or a goal's title (else `Logbook entry`, ...).
    pub title: String,
    pub entity_type: EntityKind,
    pub entity_id: String,
    pub operation: OperationKind,
    /// The change's fields.
    pub data: Fields,
    pub attempts: u32,
    /// The server's error code (`invalid`, `not_found`, ...).
    pub error_code: String,
    pub error_message: String,
    /// When it was moved to the dead letters (ms since the epoch).
    #[ts(type = "number")]
    pub failed_at: i64,
    /// When the user made the edit (ms since the epoch).
    #[ts(type = "number")]
    pub edited_at: i64,
}

// ---------------------------------------------------------------------------------------
// Conflicts

/// The id of a conflict waiting for the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(transparent)]
pub struct ConflictId(#[ts(type = "number")] pub i64);

/// One field both sides changed.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ConflictField {
    pub field: String,
    /// The value both sides started from (`null` also when unknown: see `baseKnown`).
    pub base: Value,
    /// This device's value (`null`: cleared or absent).
    pub mine: Value,
    /// The server's value.
    pub theirs: Value,
    /// What the automatic merge would pick.
    pub merged: Value,
}

/// A conflict waiting for the user.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ConflictView {
    pub id: ConflictId,
    pub entity_type: EntityKind,
    pub entity_id: String,
    /// The operation of this device's conflicted change.
    pub operation: OperationKind,
    /// The server deleted the entity; keeping this device's version re-creates it under a
    /// new id.
    pub remote_deleted: bool,
    /// When the user made the conflicted edit (ms since the epoch).
    #[ts(type = "number")]
    pub edited_at: i64,
    /// When the conflict was stored (ms since the epoch).
    #[ts(type = "number")]
    pub created_at: i64,
    /// Whether `base` values are known (they are not kept by the store yet).
    pub base_known: bool,
    /// The fields both sides changed.
    pub fields: Vec<ConflictField>,
    /// This device's whole state.
    pub mine: Fields,
    /// The server's whole state.
    pub theirs: Fields,
    /// The automatic three-way merge of the two.
    pub merged: Fields,
}

/// Which side a field takes in a per-field resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Mine,
    Theirs,
}

/// The user's decision on a conflict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ConflictResolution {
    /// This device's version wins.
    KeepMine,
    /// The server's version wins; this device's conflicted edit is dropped.
    KeepTheirs,
    /// The automatic merge (`ConflictView.merged`).
    Merge,
    /// Per conflicting field; fields not named keep this device's value.
    Fields {
        choices: std::collections::BTreeMap<String, Side>,
    },
    /// A whole state the user edited (validated like any edit).
    Edited { state: Fields },
}

/// What resolving did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum ResolveOutcome {
    /// The resolution is queued as a new change.
    Pushed,
    /// The server's version stands; nothing to send.
    AcceptedRemote,
    /// The server had deleted the entity: this device's version lives on under a new id.
    Recreated,
}

/// `resolve_conflict`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Resolved {
    pub outcome: ResolveOutcome,
    /// The entity that now holds the result (a new id after `recreated`).
    pub entity_id: String,
}

// ---------------------------------------------------------------------------------------
// Event payloads

/// Where a change of the local data came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum ChangeOrigin {
    /// A command of this app (this window or the tray).
    Local,
    /// The sync engine: another device's change, an acknowledgement, a conflict settled.
    Sync,
}

/// `entries-changed`: re-read these entities.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct EntriesChanged {
    pub entity_type: EntityKind,
    /// `null`: anything may have changed (events were missed): re-read everything shown.
    pub ids: Option<Vec<String>>,
    pub origin: ChangeOrigin,
}

/// `conflict-needs-user`: a conflict was stored for the user (strategy `manual`, or a
/// resolution that could not be applied automatically).
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ConflictNeedsUser {
    pub conflict_id: ConflictId,
    pub entity_type: EntityKind,
    pub entity_id: String,
}

/// `dead-lettered`: the server refused a change for good.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DeadLettered {
    pub change_id: String,
    pub entity_type: EntityKind,
    pub entity_id: String,
    pub code: String,
    pub message: String,
}

// ---------------------------------------------------------------------------------------
// The practice timer (local to this device, never synced; see `crate::timer`)

/// A piece for the timer: a repertoire item (`pieceId`, the logbook piece's `scoreId`) or
/// a free title.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TimerPieceView {
    /// 1 to 200 characters.
    pub title: String,
    #[serde(default)]
    #[ts(optional = nullable)]
    pub composer: Option<String>,
    #[serde(default)]
    #[ts(optional = nullable)]
    pub piece_id: Option<String>,
}

/// Where the session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum TimerPhase {
    Running,
    Paused,
    /// Time is frozen: the session waits to be logged (`finish_timer`) or discarded.
    Stopped,
}

/// One piece of the session (`piece: null`: time on no piece).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TimerSegmentView {
    pub piece: Option<TimerPieceView>,
    /// The metronome tempo last used on it (bpm).
    #[ts(type = "number | null")]
    pub tempo: Option<i64>,
    /// Active time on it (ms, pauses excluded), as of `TimerView.asOf`.
    #[ts(type = "number")]
    pub active_ms: i64,
}

/// The session as of `asOf`. While `running`, time goes on from `elapsedMs` at `asOf`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TimerView {
    pub phase: TimerPhase,
    /// When the session started (ms since the epoch).
    #[ts(type = "number")]
    pub started_at: i64,
    #[ts(type = "number | null")]
    pub stopped_at: Option<i64>,
    /// Active time in all (ms, pauses excluded).
    #[ts(type = "number")]
    pub elapsed_ms: i64,
    /// The shell's clock when this view was read (ms since the epoch).
    #[ts(type = "number")]
    pub as_of: i64,
    /// In the order first practised.
    pub segments: Vec<TimerSegmentView>,
    /// The index in `segments` of the piece being practised.
    pub current: u32,
    /// The entry's duration: elapsed minutes, rounded, 1 to 1440.
    pub minutes: u32,
    /// The entry's pieces (titled segments with time or a tempo), tempo included.
    pub pieces: Vec<Piece>,
    /// It ran at least the reminder's minutes: on stop, offer to trim it.
    pub long: bool,
}

/// The timer screen's data: the session (if any), the repertoire items offered as pieces
/// (not dropped, by title), and the reminder setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TimerStatus {
    pub timer: Option<TimerView>,
    pub choices: Vec<TimerPieceView>,
    /// A running timer reminds once after this many minutes (a setting, default 120).
    pub reminder_minutes: u32,
}

// ---------------------------------------------------------------------------------------
// Statistics (computed by the store, `legato_store::Store::statistics`; see
// `crate::statistics`)

/// The bucket size of the practice trend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum TrendUnit {
    Day,
    Week,
    Month,
}

/// The current period a distribution covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum StatsPeriod {
    Week,
    Month,
    Year,
    All,
}

/// What the statistics screen shows: the trend's unit, the distribution's period and the
/// heatmap's year (`null`: this year).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StatisticsRequest {
    pub trend: TrendUnit,
    pub period: StatsPeriod,
    pub year: Option<i16>,
}

/// Practice minutes and sessions (entries) of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AmountView {
    #[ts(type = "number")]
    pub minutes: u64,
    #[ts(type = "number")]
    pub sessions: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StatTotalsView {
    pub today: AmountView,
    /// This ISO week, Monday to Sunday.
    pub week: AmountView,
    pub month: AmountView,
    pub all: AmountView,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StreaksView {
    /// Consecutive days ending today (or yesterday while today has no entry yet).
    pub current: u32,
    pub longest: u32,
    /// First and last day (`YYYY-MM-DD`) of the longest streak.
    pub longest_from: Option<String>,
    pub longest_to: Option<String>,
    /// Days with practice in all: a missed day does not reset it.
    pub practice_days: u32,
}

/// Minutes on one local day (`YYYY-MM-DD`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DayMinutesView {
    pub date: String,
    #[ts(type = "number")]
    pub minutes: u64,
}

/// One calendar year; days without practice are left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct HeatmapView {
    pub year: i16,
    pub days: Vec<DayMinutesView>,
    #[ts(type = "number")]
    pub max_minutes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TrendPointView {
    /// The bucket's first day (`YYYY-MM-DD`: a Monday for weeks, the 1st for months).
    pub start: String,
    #[ts(type = "number")]
    pub minutes: u64,
    #[ts(type = "number")]
    pub sessions: u64,
    /// Mean minutes of this bucket and the `window - 1` before it.
    pub moving_average: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TrendView {
    pub unit: TrendUnit,
    /// Buckets in the moving average.
    pub window: u32,
    /// Oldest first; the last is the current bucket.
    pub points: Vec<TrendPointView>,
}

/// One group of a distribution (`label` null: entries without the value).
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ShareView {
    pub label: Option<String>,
    /// Fractional where an entry's minutes are split between its pieces.
    pub minutes: f64,
    #[ts(type = "number")]
    pub sessions: u64,
}

/// The largest groups, and what the others add up to.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct BreakdownView {
    pub top: Vec<ShareView>,
    pub other_minutes: f64,
    #[ts(type = "number")]
    pub other_groups: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DistributionView {
    pub period: StatsPeriod,
    pub total: AmountView,
    pub instruments: BreakdownView,
    pub types: BreakdownView,
    pub pieces: BreakdownView,
    pub composers: BreakdownView,
}

/// A current period against the previous one, in full and up to the same point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ComparisonView {
    pub current: AmountView,
    pub previous: AmountView,
    pub previous_to_date: AmountView,
}

/// Everything the statistics screen shows, from one store read.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StatisticsView {
    /// The IANA zone the days are counted in (`Europe/Berlin`), or the offset if the system
    /// names none.
    pub time_zone: String,
    /// Today (`YYYY-MM-DD`) in that zone.
    pub today: String,
    pub totals: StatTotalsView,
    pub streaks: StreaksView,
    pub heatmap: HeatmapView,
    pub trend: TrendView,
    pub distribution: DistributionView,
    pub week_over_week: ComparisonView,
    pub month_over_month: ComparisonView,
}

/// Which chart a PNG is of (its file name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum ChartKind {
    Heatmap,
    Trend,
    Distribution,
    Comparison,
}

/// A chart rendered by the UI as PNG (base64, without a `data:` prefix).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ChartImage {
    pub kind: ChartKind,
    pub png_base64: String,
}

/// Where a saved file went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SavedFile {
    pub path: String,
}

// ---------------------------------------------------------------------------------------
// Export & import

/// What an export writes: the logbook as CSV or JSON, or a JSON backup of everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum ExportKind {
    Csv,
    Json,
    Backup,
}

/// A file an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ExportedFile {
    pub path: String,
    pub bytes: u32,
}

/// The kind of file an import read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum ImportFileFormat {
    Json,
    Csv,
}

/// A record an import leaves out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SkippedRowView {
    /// CSV: the line in the file (the header is line 1); JSON: the position in its list.
    pub line: u32,
    pub entity_type: EntityKind,
    pub id: Option<String>,
    pub reason: String,
}

/// What importing a file will do (`preview_import`) or did (`apply_import`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ImportPreviewView {
    pub path: String,
    pub format: ImportFileFormat,
    pub created: u32,
    pub updated: u32,
    pub unchanged: u32,
    pub skipped: u32,
    /// The first `MAX_SKIPPED_SHOWN` skipped rows (`skipped` counts them all).
    pub skipped_rows: Vec<SkippedRowView>,
    /// CSV header cells that name nothing the app knows (left out).
    pub ignored_columns: Vec<String>,
    /// Pass it to `apply_import`: it writes only what this preview counted.
    pub fingerprint: String,
}
