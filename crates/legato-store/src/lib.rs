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
//! - **Reads** for the UI: entries by day with totals, by piece, search, totals, streak.
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
//!   into it, also after [`Store::reset_in_flight`].
//! - **Acks rebase.** After an ack at version `v`, the entity's later changes made on
//!   `v - 1` are moved to base version `v`, so a device never conflicts with its own
//!   previous edit. An ack whose version skips one this device has not seen returns
//!   [`AckOutcome::AckedWithGap`]: catch up from the cursor.
//! - **Outbox order is overlay order is server order.** A change that left the outbox and
//!   comes back (a retried dead letter, a conflict's resolution) takes its old place, unless
//!   a later change of the entity was already sent; then it goes last, without the fields
//!   the later changes set.
//! - **The cursor moves with the data**, in the same transaction, never past an update
//!   that could not be applied, never backwards.
//!
//! # Durability and speed
//!
//! WAL with `synchronous=FULL` (see [`Synchronous`]): every save that returned survives a
//! process kill (checked by `tests/crash.rs`) and a power loss. [`StoreHandle`] checkpoints
//! the log when idle, so a save does not pay for a checkpoint; `benches/local_write.rs`
//! measures the save path against raw rusqlite.

mod conflict;
mod edit;
mod entity;
mod error;
mod handle;
mod outbox;
mod query;
mod remote;
mod schema;
mod store;
mod time;
mod typed;

pub use conflict::{ConflictOutcome, StoredConflict};
pub use edit::Edit;
pub use error::{Result, StoreError};
pub use handle::StoreHandle;
pub use outbox::{AckOutcome, DeadLetter, OutboxItem, RejectionOutcome, RetryPolicy};
pub use query::{DayGroup, LocalEntity, LogEntry, SyncState, Totals};
pub use remote::{BatchOutcome, RemoteOutcome};
pub use schema::{MIGRATIONS, StoreOptions, Synchronous, configure_connection};
pub use store::Store;
pub use time::rfc3339_ms;
pub use typed::TypedEntity;
