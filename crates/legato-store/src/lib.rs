//! Legato's client store: the device's single source of truth, in SQLite.
//!
//! - **Entities** keep two states: the *base* (last acknowledged by the server, with its
//!   version) and the *local* state the user sees, which is always the base overlaid with
//!   the entity's unsettled changes (outbox, dead letters, stored conflicts).
//! - **Edits** ([`Store::create`], [`Store::update`], [`Store::patch`], [`Store::delete`])
//!   validate with `legato_core`, then write the entity and its outbox change in one
//!   transaction. An edit that changes nothing queues nothing; an edit of an entity whose
//!   newest change was never sent folds into that change.
//! - **The outbox** only loses a change when the server answered for its change id: ack,
//!   final rejection (kept as a dead letter) or conflict (replaced by its resolution or
//!   kept for the user).
//! - **Remote changes** move the base, never the user's pending edits; the cursor moves in
//!   the same transaction as the changes it covers.
//! - **Undo delete** ([`Store::undo_delete`]): the last state of the most recent deletes is
//!   kept; an unsent delete is cancelled (same id, nothing sent), a sent one is undone by
//!   re-creating the entity under a new id (a deleted id is never resurrected).
//! - **The practice timer** (`timer`): this device's session, local only (never synced),
//!   surviving restarts and crashes; it ends in a logbook entry ([`Store::finish_timer`]).
//! - **Export and import** (`transfer`): the logbook as CSV or JSON, a JSON backup of every
//!   entity type; import of those and of other apps' CSV with a preview of what it will
//!   create, update, leave unchanged and skip ([`Store::preview_import`]), then applied in one
//!   transaction of normal edits ([`Store::apply_import`]).
//! - **Reads** for the UI: entries by day with totals, by piece, search, totals, streak;
//!   the statistics screen's figures in the user's time zone ([`Store::statistics`], see
//!   `stats.rs`).
//! - **Repertoire and goals through the logbook** (`pieces`, `goals`, `similar`): practice
//!   time, sessions and tempo history per piece ([`Store::piece_practice`],
//!   [`Store::tempo_history`]), the status history written on save ([`Store::save_piece`]),
//!   similar pieces ([`Store::similar_pieces`]), goal progress in the user's time zone and
//!   each reaching reported once ([`Store::goal_progress`], [`Store::newly_reached_goals`]).
//!
//! [`Store`] is synchronous and owns one connection; async code uses [`StoreHandle`], which
//! runs it on a dedicated thread.
//!
//! # Rules the sync engine can rely on
//!
//! - **One change in flight per entity.** [`Store::next_pending`] offers only the oldest
//!   change of an entity with nothing in flight, so changes of one entity reach the server
//!   in the order they were made, and a change waiting for its retry time is never
//!   overtaken.
//! - **A sent change is frozen.** Once [`Store::mark_in_flight`] handed it out, the server
//!   may have recorded its change id even if the answer was lost; later edits never fold
//!   into it, also after [`Store::reset_in_flight`] and after a power loss that rolled the
//!   mark back (see "Durability and speed").
//! - **Acks rebase.** After an ack at version `v`, the entity's later changes made on
//!   `v - 1` are moved to base version `v`, so a device never conflicts with its own
//!   previous edit. An ack whose version skips one this device has not seen returns
//!   [`AckOutcome::AckedWithGap`]: catch up from the cursor.
//! - **Outbox order is overlay order is server order.** A change that left the outbox and
//!   comes back (a retried dead letter, a conflict's resolution) takes its old place, unless
//!   a later change of the entity was already sent; then it goes last, without the fields
//!   the later changes set.
//! - **Conflicts merge against the change's own base.** Every outbox change keeps the base
//!   state it was made on (folded edits keep the first one's; an ack's rebase moves it to the
//!   acknowledged state). [`Store::settle_conflict`] merges against it, with this device's
//!   unsettled changes on that base as the local side, and a stored conflict carries it
//!   ([`StoredConflict::base`], [`Store::conflict_merge_local`]). A live update moving the
//!   entity's base meanwhile cannot make the other device's edit look unchanged. A merged
//!   (or re-created) resolution carries the entity's later unsent changes, which it was
//!   computed with: they leave the outbox with the conflicted change (sent after it, they
//!   would overwrite the merged values with ones that never saw the other device's edit).
//!   A user's decision ([`Store::apply_user_decision`]) covers the conflicting fields: later
//!   unsent changes lose those and keep their other fields.
//! - **The cursor moves with the data**, in the same transaction, never past an update
//!   that could not be applied, never backwards.
//!
//! # Durability and speed
//!
//! WAL with `synchronous=FULL` (see [`Synchronous`]): every save that returned survives a
//! process kill (checked by `tests/crash.rs`) and a power loss. Two writes commit with
//! `synchronous=NORMAL` (no fsync; atomic and kill-safe all the same) and restore `FULL`
//! for the next edit, also on error: what a power loss may take from them is harmless.
//! Whatever survives a power loss is a prefix of the commit history (WAL recovery keeps a
//! prefix of the log, and every `FULL` commit syncs the frames before it), so only the
//! relaxed commits after the last `FULL` one can be lost.
//!
//! - [`Store::apply_remote_batch`]: what it writes can be fetched from the server again, and
//!   a power loss rolls its data back together with the cursor.
//! - [`Store::mark_in_flight`] of changes that are the oldest of their entity (all the sync
//!   engine ever sends): a lost mark would let a later edit fold into a change the server
//!   may have recorded, so opening the store marks the oldest change of every entity as
//!   sent. Only those can have been handed out in the lost commits (one change in flight
//!   per entity, in order; an ack or a rejection is a `FULL` commit), so "a sent change is
//!   frozen" holds across power losses; an edit right after a restart may append a change
//!   where it would have folded. A mark of any other change keeps the connection's level.
//!
//! **Group commit in [`StoreHandle`].** The handle's thread commits everything with
//! `NORMAL` and a second thread fsyncs the log (through its own descriptor) before any
//! answer of [`StoreHandle::call`] goes out, in order: a caller is answered only once all
//! that was written up to its job is on disk, which is what `FULL` promised. The store thread
//! meanwhile runs the next job, and saves that arrive together share one fsync. Only the sync
//! engine's own jobs ([`StoreHandle::call_ahead`]: the two relaxed writes above, and reading
//! the outbox to send) are answered without waiting; so a new edit may reach the server
//! before it is on this disk, which is safe: lost here by a power cut, it comes back with the
//! next catch-up, and its author was not yet told it was saved. Acks and rejections still
//! wait for the fsync before the engine acts on them, so the argument for the in-flight mark
//! holds: the commits a power loss can take are ones no answer was given for, plus marks and
//! remote applies.
//!
//! A catch-up page for a device with nothing unsettled writes each full state with one
//! upsert, without reading the row (the version rules are in its `WHERE`), and a base equal
//! to the local state is stored once (schema version 4).
//!
//! [`StoreHandle`] checkpoints the log when idle, so a save does not pay for a checkpoint;
//! under a steady stream of edits (never 500 ms idle) SQLite's automatic checkpoint (1000
//! pages) still runs inside some commit. `benches/local_write.rs` measures the save path
//! against raw rusqlite (p99.9 shows those inline checkpoints).

mod conflict;
mod edit;
mod entity;
mod error;
mod goals;
mod handle;
mod outbox;
mod pieces;
mod query;
mod remote;
mod schema;
mod similar;
mod stats;
mod store;
mod time;
mod timer;
mod transfer;
mod typed;
mod undo;

pub use conflict::{ConflictOutcome, StoredConflict};
pub use edit::Edit;
pub use error::{Result, StoreError};
pub use goals::{GoalProgress, ProgressUnit, period_window};
pub use handle::StoreHandle;
/// The user's time zone, as the goal and statistics reads take it (`TimeZone::system()`).
pub use jiff::tz::TimeZone;
pub use outbox::{AckOutcome, DeadLetter, OutboxItem, Refusal, RejectionOutcome, RetryPolicy};
pub use pieces::{PiecePractice, TempoPoint};
pub use query::{DayGroup, EntryFilter, LocalEntity, LogEntry, SyncState, Totals};
pub use remote::{BatchOutcome, RemoteOutcome};
pub use schema::{MIGRATIONS, StoreOptions, Synchronous, configure_connection};
pub use similar::{SimilarPiece, is_similar, normalize as normalize_title};
pub use stats::{
    Amount, Breakdown, Comparison, DISTRIBUTION_TOP, DayMinutes, Distribution, Heatmap, Share,
    StatTotals, Statistics, StatsPeriod, StatsQuery, Streaks, Summary, TREND_DAYS, TREND_MONTHS,
    TREND_WEEKS, Trend, TrendPoint, TrendUnit,
};
pub use store::Store;
pub use time::rfc3339_ms;
pub use timer::{
    MAX_ENTRY_MINUTES, TEMPO_RANGE, TimerError, TimerPhase, TimerPiece, TimerSegment, TimerState,
};
pub use transfer::{
    CSV_ALIASES, CsvColumn, EXPORT_FORMAT_NAME, EXPORT_FORMAT_VERSION, ExportFormat, FileFormat,
    ImportCounts, ImportOptions, ImportPreview, MAX_IMPORT_BYTES, MAX_IMPORT_ROWS, SkipReason,
    SkippedRow, TransferError, derived_entry_id, read_import_file,
};
pub use typed::TypedEntity;
pub use undo::{TRASH_DEPTH, UndoDelete};
