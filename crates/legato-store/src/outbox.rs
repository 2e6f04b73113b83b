//! The durable outbox and the primitives the sync engine drives it with: pick what to send,
//! mark it in flight, settle it by ack or rejection, dead letters.
//!
//! Rows leave the outbox only when the server answered for their change id: `ack`
//! ([`Store::apply_ack`]), a permanent rejection after the last attempt (to
//! `dead_letters`), or a conflict (to `conflicts` or replaced by its resolution). A network
//! failure is no answer: [`Store::reset_in_flight`] puts rows back without counting an
//! attempt.

use legato_protocol::{Change, EntityId, EntityType, ErrorCode, Fields, Operation};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::entity::{self, Base, parse_entity_type, parse_fields, parse_operation, to_json};
use crate::error::{Result, StoreError};
use crate::store::{Store, with_relaxed_sync, write_tx};

/// One change waiting in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    /// Position in the outbox: changes are sent in this order.
    pub seq: i64,
    pub change: Change,
    /// Permanent rejections so far (transient ones and network failures do not count).
    pub attempts: u32,
    /// Not to be sent before this time (ms since the epoch); 0 when due.
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub in_flight: bool,
}

/// An outbox row with the bookkeeping the coalescing rule needs.
#[derive(Debug, Clone)]
pub(crate) struct OutboxRow {
    pub item: OutboxItem,
    /// Handed to the network at least once: the server may have recorded this change id.
    pub sent: bool,
    /// The base state the change was made on; `None` for rows queued before the store kept
    /// it (schema version 3).
    pub base_state: Option<Fields>,
}

const OUTBOX_COLUMNS: &str = "seq, change_id, entity_type, entity_id, operation, data, \
     base_version, timestamp, client_id, attempts, next_attempt_at, last_error, in_flight, sent, \
     base_state";

/// The raw column values of an outbox row, converted to typed values outside the rusqlite
/// row callback so that a corrupt value surfaces as a [`StoreError`].
struct RawOutbox {
    seq: i64,
    change_id: String,
    entity_type: String,
    entity_id: String,
    operation: String,
    data: String,
    base_version: u64,
    timestamp: i64,
    client_id: String,
    attempts: u32,
    next_attempt_at: i64,
    last_error: Option<String>,
    in_flight: bool,
    sent: bool,
    base_state: Option<String>,
}

impl RawOutbox {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(RawOutbox {
            seq: row.get(0)?,
            change_id: row.get(1)?,
            entity_type: row.get(2)?,
            entity_id: row.get(3)?,
            operation: row.get(4)?,
            data: row.get(5)?,
            base_version: row.get(6)?,
            timestamp: row.get(7)?,
            client_id: row.get(8)?,
            attempts: row.get(9)?,
            next_attempt_at: row.get(10)?,
            last_error: row.get(11)?,
            in_flight: row.get(12)?,
            sent: row.get(13)?,
            base_state: row.get(14)?,
        })
    }

    fn into_row(self) -> Result<OutboxRow> {
        let change = Change {
            change_id: self.change_id,
            entity_type: parse_entity_type(&self.entity_type)?,
            entity_id: EntityId::new(self.entity_id)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            operation: parse_operation(&self.operation)?,
            data: parse_fields(&self.data)?,
            base_version: self.base_version,
            client_id: self.client_id,
            timestamp: self.timestamp,
        };
        Ok(OutboxRow {
            item: OutboxItem {
                seq: self.seq,
                change,
                attempts: self.attempts,
                next_attempt_at: self.next_attempt_at,
                last_error: self.last_error,
                in_flight: self.in_flight,
            },
            sent: self.sent,
            base_state: self.base_state.as_deref().map(parse_fields).transpose()?,
        })
    }
}

fn query_rows(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<OutboxRow>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let raws = stmt
        .query_map(params, RawOutbox::from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    raws.into_iter().map(RawOutbox::into_row).collect()
}

pub(crate) fn by_change_id(conn: &Connection, change_id: &str) -> Result<Option<OutboxRow>> {
    let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE change_id = ?1");
    Ok(query_rows(conn, &sql, [change_id])?.pop())
}

/// The entity's newest outbox row, and whether any row of the entity is in flight.
pub(crate) fn newest_for_entity(
    conn: &Connection,
    entity_type: EntityType,
    id: &str,
) -> Result<Option<(OutboxRow, bool)>> {
    let sql = format!(
        "SELECT {OUTBOX_COLUMNS},
                EXISTS (SELECT 1 FROM outbox f WHERE f.entity_type = ?1 AND f.entity_id = ?2
                        AND f.in_flight = 1)
         FROM outbox WHERE entity_type = ?1 AND entity_id = ?2 ORDER BY seq DESC LIMIT 1"
    );
    let raw = conn
        .prepare_cached(&sql)?
        .query_row(params![entity_type.as_str(), id], |row| {
            Ok((RawOutbox::from_row(row)?, row.get::<_, bool>(15)?))
        })
        .optional()?;
    raw.map(|(raw, any_in_flight)| Ok((raw.into_row()?, any_in_flight)))
        .transpose()
}

/// Appends a change (or puts one back at `seq`, which keeps its place among the entity's
/// changes). `sent` marks a change id the server may already know; `base_state` is the state
/// the change was made on (see [`base_json`]).
pub(crate) fn insert(
    conn: &Connection,
    seq: Option<i64>,
    change: &Change,
    sent: bool,
    base_state: Option<&str>,
) -> Result<i64> {
    insert_json(conn, seq, change, &to_json(&change.data), sent, base_state)
}

/// The stored form of the base a change is made on: the acknowledged state, `{}` when the
/// server has never seen the entity.
pub(crate) fn base_json(base: &Base) -> String {
    base.state.as_ref().map_or_else(|| "{}".to_owned(), to_json)
}

/// [`insert`] with the change's data already serialized as `data_json` (which is what is
/// stored; `change.data` is not read), so a create serializes its state once for both rows.
pub(crate) fn insert_json(
    conn: &Connection,
    seq: Option<i64>,
    change: &Change,
    data_json: &str,
    sent: bool,
    base_state: Option<&str>,
) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO outbox (seq, change_id, entity_type, entity_id, operation, data,
                             base_version, timestamp, client_id, sent, base_state)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        seq,
        change.change_id,
        change.entity_type.as_str(),
        change.entity_id.as_str(),
        change.operation.as_str(),
        data_json,
        change.base_version,
        change.timestamp,
        change.client_id,
        sent,
        base_state,
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Puts a change that left the outbox (a dead letter, a conflict's resolution) back at its
/// old place `seq`, so that it precedes the entity's later changes as it did when the user
/// made it — unless one of those later changes has already been sent: the server will apply
/// that one first, so the change goes to the end instead, without the fields the later
/// changes set (they hold the user's newer values). Either way the order of the outbox,
/// which is the order of the local overlay, is the order the server applies them in.
pub(crate) fn requeue(
    conn: &Connection,
    seq: i64,
    mut change: Change,
    sent: bool,
    base_state: Option<&str>,
) -> Result<()> {
    let later = later_changes(conn, change.entity_type, change.entity_id.as_str(), seq)?;
    if !later.iter().any(|row| row.sent) {
        insert(conn, Some(seq), &change, sent, base_state)?;
        return Ok(());
    }
    if change.operation == Operation::Update {
        for row in &later {
            for (field, value) in &row.item.change.data {
                if entity::all_plain_value(value) {
                    change.data.remove(field);
                } else if let Some(mine) = change.data.get_mut(field) {
                    drop_countered_items(mine, value);
                }
            }
        }
    }
    insert(conn, None, &change, sent, base_state)?;
    Ok(())
}

/// A settlement that goes behind later changes of its entity must not undo their set
/// operations: `$addToSet` and `$pull` of the same item do not commute, so an item the
/// settlement adds that a later change pulls (or pulls that a later one adds) leaves the
/// settlement; the later change is the user's newer intent. `$inc` commutes and stays.
fn drop_countered_items(mine: &mut serde_json::Value, later: &serde_json::Value) {
    use legato_protocol::FieldValue;
    let (key, countered) = match (FieldValue::classify(mine), FieldValue::classify(later)) {
        (FieldValue::AddToSet(_), FieldValue::Pull(items)) => ("$addToSet", items.to_vec()),
        (FieldValue::Pull(_), FieldValue::AddToSet(items)) => ("$pull", items.to_vec()),
        _ => return,
    };
    if let Some(serde_json::Value::Array(items)) = mine.get_mut(key) {
        items.retain(|item| !countered.contains(item));
    }
}

fn later_changes(
    conn: &Connection,
    entity_type: EntityType,
    id: &str,
    seq: i64,
) -> Result<Vec<OutboxRow>> {
    let sql = format!(
        "SELECT {OUTBOX_COLUMNS} FROM outbox
         WHERE entity_type = ?1 AND entity_id = ?2 AND seq > ?3 ORDER BY seq"
    );
    query_rows(conn, &sql, params![entity_type.as_str(), id, seq])
}

/// Rewrites a never-sent row with a coalesced change.
pub(crate) fn rewrite(
    conn: &Connection,
    change_id: &str,
    operation: Operation,
    data: &Fields,
    timestamp: i64,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE outbox SET operation = ?2, data = ?3, timestamp = ?4
         WHERE change_id = ?1 AND sent = 0",
    )?
    .execute(params![
        change_id,
        operation.as_str(),
        to_json(data),
        timestamp
    ])?;
    Ok(())
}

/// Removes the entity's changes after `seq` that were never handed to the network (their ids
/// are unknown to the server).
pub(crate) fn remove_later_unsent(
    conn: &Connection,
    entity_type: EntityType,
    id: &str,
    seq: i64,
) -> Result<usize> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM outbox WHERE entity_type = ?1 AND entity_id = ?2 AND seq > ?3
               AND sent = 0 AND in_flight = 0",
        )?
        .execute(params![entity_type.as_str(), id, seq])?)
}

/// The entity's changes after `seq` that were never handed to the network, in order.
pub(crate) fn later_unsent(
    conn: &Connection,
    entity_type: EntityType,
    id: &str,
    seq: i64,
) -> Result<Vec<OutboxRow>> {
    let sql = format!(
        "SELECT {OUTBOX_COLUMNS} FROM outbox
         WHERE entity_type = ?1 AND entity_id = ?2 AND seq > ?3 AND sent = 0 AND in_flight = 0
         ORDER BY seq"
    );
    query_rows(conn, &sql, params![entity_type.as_str(), id, seq])
}

/// Removes the entity's deletes after `seq` that were never handed to the network (a
/// delete overruled by another device's edit).
pub(crate) fn remove_later_unsent_deletes(
    conn: &Connection,
    entity_type: EntityType,
    id: &str,
    seq: i64,
) -> Result<usize> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM outbox WHERE entity_type = ?1 AND entity_id = ?2 AND seq > ?3
               AND sent = 0 AND in_flight = 0 AND operation = 'delete'",
        )?
        .execute(params![entity_type.as_str(), id, seq])?)
}

/// After a merged resolution that carries the plain values of the entity's later unsent
/// updates: those updates keep only their commutative operations (which commute with the
/// resolution, so they still go, in order), minus any that a later plain value of the same
/// field overrides (that value already holds their effect). An update left with nothing
/// but bookkeeping fields goes.
pub(crate) fn absorb_later_unsent(
    conn: &Connection,
    entity_type: EntityType,
    id: &str,
    seq: i64,
) -> Result<()> {
    let later = later_unsent(conn, entity_type, id, seq)?;
    for (index, row) in later.iter().enumerate() {
        let mut data = row.item.change.data.clone();
        data.retain(|field, value| {
            legato_core::merge::is_commutative(value)
                && !later[index + 1..].iter().any(|after| {
                    after
                        .item
                        .change
                        .data
                        .get(field)
                        .is_some_and(entity::all_plain_value)
                })
        });
        if data.is_empty() {
            remove(conn, &row.item.change.change_id)?;
        } else if data != row.item.change.data {
            conn.prepare_cached("UPDATE outbox SET data = ?2 WHERE seq = ?1")?
                .execute(params![row.item.seq, to_json(&data)])?;
        }
    }
    Ok(())
}

/// Takes `fields` out of the entity's updates after `seq` that were never handed to the
/// network; one left with nothing but bookkeeping fields (`updatedAt`) goes. For a decision
/// on those fields that must not be overwritten by edits queued before it.
pub(crate) fn strip_later_unsent(
    conn: &Connection,
    entity_type: EntityType,
    id: &str,
    seq: i64,
    fields: &[String],
) -> Result<()> {
    let later: Vec<(i64, String)> = conn
        .prepare_cached(
            "SELECT seq, data FROM outbox WHERE entity_type = ?1 AND entity_id = ?2
               AND seq > ?3 AND sent = 0 AND in_flight = 0 AND operation = 'update'",
        )?
        .query_map(params![entity_type.as_str(), id, seq], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (later_seq, data) in later {
        let mut data = parse_fields(&data)?;
        if !fields.iter().any(|f| data.contains_key(f)) {
            continue;
        }
        data.retain(|key, _| !fields.contains(key));
        if data
            .keys()
            .all(|key| legato_core::merge::BOOKKEEPING_FIELDS.contains(&key.as_str()))
        {
            conn.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?
                .execute([later_seq])?;
        } else {
            conn.prepare_cached("UPDATE outbox SET data = ?2 WHERE seq = ?1")?
                .execute(params![later_seq, to_json(&data)])?;
        }
    }
    Ok(())
}

fn mark<S: AsRef<str>>(conn: &mut Connection, change_ids: &[S]) -> Result<usize> {
    let tx = write_tx(conn)?;
    let mut marked = 0;
    {
        let mut stmt =
            tx.prepare_cached("UPDATE outbox SET in_flight = 1, sent = 1 WHERE change_id = ?1")?;
        for id in change_ids {
            marked += stmt.execute([id.as_ref()])?;
        }
    }
    tx.commit()?;
    Ok(marked)
}

/// True when no change among `change_ids` has an older outbox change of the same entity
/// (unknown ids count as oldest: marking them writes nothing).
fn all_oldest_of_their_entity<S: AsRef<str>>(conn: &Connection, change_ids: &[S]) -> Result<bool> {
    let mut stmt = conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM outbox o JOIN outbox p
                          ON p.entity_type = o.entity_type AND p.entity_id = o.entity_id
                         AND p.seq < o.seq
                        WHERE o.change_id = ?1)",
    )?;
    for id in change_ids {
        let has_older: bool = stmt.query_row([id.as_ref()], |row| row.get(0))?;
        if has_older {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Marks as sent the oldest outbox change of every entity, at open.
///
/// [`Store::mark_in_flight`] commits without an fsync, so a power loss may roll back the
/// mark of a change whose id already reached the server. Only the oldest change of an
/// entity can have been handed out (one change in flight per entity, in order), and the
/// commits a power loss rolls back are only the last ones after the last fsync'd commit
/// (WAL recovery keeps a prefix of the log; every edit, ack and rejection syncs it before
/// anyone acts on it, directly or through the group commit of `StoreHandle`): in that lost
/// tail the outbox only changed by such marks, and by edits nobody was told were saved. So after any crash the changes that may
/// have been sent without the mark surviving are among the oldest of each entity; marking
/// them keeps the rule "never fold into a change that was ever sent". The cost: an edit
/// after a restart may append a change where it would have folded into an unsent one.
/// Later changes are left alone: they were never sendable, and a conflict resolution that
/// carries them may still drop them (`remove_later_unsent`).
pub(crate) fn freeze_possibly_sent(conn: &mut Connection) -> Result<usize> {
    let tx = write_tx(conn)?;
    let frozen = tx.execute(
        "UPDATE outbox SET sent = 1
          WHERE sent = 0
            AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.entity_type = outbox.entity_type
                            AND p.entity_id = outbox.entity_id AND p.seq < outbox.seq)",
        [],
    )?;
    tx.commit()?;
    Ok(frozen)
}

pub(crate) fn remove(conn: &Connection, change_id: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM outbox WHERE change_id = ?1")?
        .execute([change_id])?;
    Ok(())
}

/// How a rejected change is retried: exponential backoff from `base_delay_ms`, capped at
/// `max_delay_ms`; a permanent error moves the change to the dead letters on its
/// `max_attempts`-th rejection. Transient errors (`rate_limited`, `internal`) are retried
/// without limit: they say nothing about the change itself.
/// A server's refusal of a waiting change: its protocol code and the message (`last_error`,
/// `"<code>: <server's words>"`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay_ms: i64,
    pub max_delay_ms: i64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            base_delay_ms: 1_000,
            max_delay_ms: 5 * 60_000,
        }
    }
}

impl RetryPolicy {
    /// The wait after the `attempts`-th rejection: base, 2×base, 4×base, … up to the cap.
    pub fn delay_ms(&self, attempts: u32) -> i64 {
        let exponent = attempts.saturating_sub(1).min(32);
        self.base_delay_ms
            .saturating_mul(1_i64 << exponent)
            .min(self.max_delay_ms)
    }
}

/// What [`Store::apply_ack`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOutcome {
    /// The change left the outbox and the base moved to the acknowledged version.
    Acked,
    /// As `Acked`, but the server's version shows changes of this entity this device has
    /// not received: the sync engine should run a catch-up from the cursor (which refreshes
    /// the base with the full state).
    AckedWithGap,
    /// No outbox row has this change id (a duplicate or late ack): nothing was written.
    Unknown,
}

impl AckOutcome {
    pub fn is_acked(self) -> bool {
        !matches!(self, AckOutcome::Unknown)
    }
}

/// What [`Store::record_rejection`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionOutcome {
    /// Back to pending; not sent again before this time (ms since the epoch).
    RetryAt(i64),
    /// Moved to the dead letters (still applied locally, listed for the user).
    DeadLettered,
    /// No outbox row has this change id: nothing was written.
    Unknown,
}

/// A change the server refused for good; kept until the user retries or discards it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub change: Change,
    pub attempts: u32,
    pub error_code: ErrorCode,
    pub error_message: String,
    /// When it was moved here (ms since the epoch).
    pub failed_at: i64,
}

fn error_code_from_str(code: &str) -> ErrorCode {
    serde_json::from_value(serde_json::Value::String(code.to_owned())).unwrap_or(ErrorCode::Unknown)
}

impl Store {
    /// Up to `limit` changes to send now, in outbox order: due (`next_attempt_at <= now_ms`,
    /// or refused at a time after `now_ms`: the clock jumped back, and a wait computed on the
    /// old clock would last until it catches up), not in flight, and the oldest change of
    /// their entity.
    ///
    /// Only the oldest change of an entity with nothing in flight is sendable, so an entity
    /// has at most one change in flight: a later change is sent after the earlier one's
    /// ack, which rebases it on the acknowledged version (no conflict with the device's own
    /// edit), and never overtakes an earlier one waiting for its retry time.
    pub fn next_pending(&self, limit: usize, now_ms: i64) -> Result<Vec<OutboxItem>> {
        // No `LIMIT ?`: SQLite plans `ORDER BY … LIMIT ?` with the bound value, so every
        // execution would parse and plan the statement again (about half the cost of this
        // query). Rows stream in `seq` (rowid) order, so stopping after `limit` is as cheap.
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox o
             WHERE o.in_flight = 0 AND (o.next_attempt_at <= ?1 OR o.rejected_at > ?1)
               AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.entity_type = o.entity_type
                               AND p.entity_id = o.entity_id
                               AND (p.seq < o.seq OR p.in_flight = 1))
             ORDER BY o.seq"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let raws = stmt
            .query_map(params![now_ms], RawOutbox::from_row)?
            .take(limit)
            .collect::<rusqlite::Result<Vec<_>>>()?;
        raws.into_iter()
            .map(|raw| raw.into_row().map(|row| row.item))
            .collect()
    }

    /// Marks changes as handed to the network. From now on their content never changes
    /// (the server may record the change id even if its answer is lost). Returns how many
    /// rows were marked; unknown ids are skipped.
    ///
    /// Commits without an fsync (`synchronous=NORMAL`) when every marked change is the
    /// oldest outbox change of its entity, which is all [`Store::next_pending`] ever offers:
    /// a power loss may then roll the mark back, but opening the store marks the oldest
    /// change of every entity as sent (see `freeze_possibly_sent`), so nothing is folded
    /// into it after all. Any other change is marked with the connection's own level.
    pub fn mark_in_flight<S: AsRef<str>>(&mut self, change_ids: &[S]) -> Result<usize> {
        if all_oldest_of_their_entity(&self.conn, change_ids)? {
            with_relaxed_sync(&mut self.conn, |conn| mark(conn, change_ids))
        } else {
            mark(&mut self.conn, change_ids)
        }
    }

    /// Puts every in-flight change back to pending (on reconnect and at start-up): a lost
    /// connection is not a rejection, so attempts are not counted. Returns how many.
    pub fn reset_in_flight(&mut self) -> Result<usize> {
        Ok(self
            .conn
            .execute("UPDATE outbox SET in_flight = 0 WHERE in_flight = 1", [])?)
    }

    /// Settles a change the server acknowledged at `version`, `data` being the stored values
    /// of the fields it touched. In one transaction: the row leaves the outbox, the base
    /// moves to `version` with the change applied (`data` wins: it holds the resolved
    /// values of `$inc`/`$addToSet`/`$pull`), later changes of the entity made on the same
    /// base are rebased on `version`, and the local state is recomputed.
    ///
    /// An unknown change id (a duplicate ack) writes nothing and returns
    /// [`AckOutcome::Unknown`].
    pub fn apply_ack(
        &mut self,
        change_id: &str,
        version: u64,
        data: &Fields,
    ) -> Result<AckOutcome> {
        self.settle_ack(change_id, version, data, false)
    }

    /// Settles a change the server acknowledged as `unchanged` (rule 6: it wrote nothing;
    /// `version` is the entity's current one, which another device's change may have made).
    /// The row leaves the outbox, but the base does not claim `version` unless it is there
    /// already: the changes up to it are not this device's, and taking their version would
    /// have the update that carries them ignored as not newer (their other fields lost).
    /// Then [`AckOutcome::AckedWithGap`]: a catch-up brings them.
    pub fn apply_unchanged_ack(
        &mut self,
        change_id: &str,
        version: u64,
        data: &Fields,
    ) -> Result<AckOutcome> {
        self.settle_ack(change_id, version, data, true)
    }

    fn settle_ack(
        &mut self,
        change_id: &str,
        version: u64,
        data: &Fields,
        unchanged: bool,
    ) -> Result<AckOutcome> {
        let tx = write_tx(&mut self.conn)?;
        let Some(row) = by_change_id(&tx, change_id)? else {
            return Ok(AckOutcome::Unknown);
        };
        let change = &row.item.change;
        let (entity_type, id) = (change.entity_type, change.entity_id.as_str());
        remove(&tx, change_id)?;
        let stored = entity::load(&tx, entity_type, id)?
            .ok_or_else(|| StoreError::Corrupt(format!("outbox row without entity {id}")))?;
        if unchanged && stored.base.version < version {
            entity::write_with_base(&tx, entity_type, id, stored.base)?;
            tx.commit()?;
            return Ok(AckOutcome::AckedWithGap);
        }
        let gap = stored.base.version + 1 < version;
        let base = acked_base(stored.base, change, version, data)?;
        rebase_later_changes(&tx, entity_type, id, row.item.seq, version, &base)?;
        entity::write_with_base(&tx, entity_type, id, base)?;
        tx.commit()?;
        Ok(if gap {
            AckOutcome::AckedWithGap
        } else {
            AckOutcome::Acked
        })
    }

    /// Settles a change the server answered `change_id_reused`: it holds another version
    /// of this change id, sent by a copy of this data dir (a restored backup) that holds
    /// the same unsent change.
    ///
    /// - A change this device inherited (made under another client id: the original's) is
    ///   the original's edit, which the original delivers itself: it goes.
    /// - A change of this device's own: the copy sent what it held when the copy was taken.
    ///   Its commutative operations were in it then already (a change holding one never
    ///   changes, `edit::fold`): applied, they go. Its plain values may have grown since
    ///   (edits folded in): they are queued again under a new id in its place.
    ///
    /// Returns whether a row was settled.
    pub fn settle_reused(&mut self, change_id: &str, now_ms: i64) -> Result<bool> {
        let tx = write_tx(&mut self.conn)?;
        let Some(row) = by_change_id(&tx, change_id)? else {
            return Ok(false);
        };
        let change = row.item.change.clone();
        remove(&tx, change_id)?;
        if change.client_id == self.client_id {
            let mut again = change.clone();
            again.change_id = crate::edit::new_uuid();
            again.timestamp = now_ms;
            again
                .data
                .retain(|_, value| !legato_core::merge::is_commutative(value));
            let bookkeeping_only = again
                .data
                .keys()
                .all(|key| legato_core::merge::BOOKKEEPING_FIELDS.contains(&key.as_str()));
            if again.operation == Operation::Delete || !bookkeeping_only {
                let base = row.base_state.as_ref().map(to_json);
                requeue(&tx, row.item.seq, again, false, base.as_deref())?;
            }
        }
        tracing::warn!(
            change_id,
            inherited = change.client_id != self.client_id,
            "the server holds another version of this change id"
        );
        entity::recompute(&tx, change.entity_type, change.entity_id.as_str())?;
        tx.commit()?;
        Ok(true)
    }

    /// Records the server's refusal of a change (an `error` answer, or a batch item with
    /// status `error`). Schedules a retry with backoff, or, on the last attempt of a
    /// permanent error, moves the change to the dead letters, in one transaction.
    ///
    /// Only permanent refusals count as attempts (and back off on them). A transient one
    /// (`rate_limited`, `internal`, `unknown`) counts as a deferral instead: it backs off on
    /// the deferrals, leaves the attempts alone and never dead-letters.
    pub fn record_rejection(
        &mut self,
        change_id: &str,
        code: ErrorCode,
        message: &str,
        now_ms: i64,
        policy: &RetryPolicy,
    ) -> Result<RejectionOutcome> {
        let tx = write_tx(&mut self.conn)?;
        let Some(row) = by_change_id(&tx, change_id)? else {
            return Ok(RejectionOutcome::Unknown);
        };
        let last_error = format!("{code}: {message}");
        let outcome = if code.is_transient() {
            // Says nothing about the change: back off on the deferrals, never dead-letter.
            let deferrals: u32 = tx
                .prepare_cached(
                    "UPDATE outbox SET deferrals = deferrals + 1 WHERE change_id = ?1
                     RETURNING deferrals",
                )?
                .query_row([change_id], |row| row.get(0))?;
            let at = now_ms.saturating_add(policy.delay_ms(deferrals));
            tx.prepare_cached(
                "UPDATE outbox SET next_attempt_at = ?2, last_error = ?3, in_flight = 0,
                        rejected_at = ?4, last_error_code = ?5
                 WHERE change_id = ?1",
            )?
            .execute(params![change_id, at, last_error, now_ms, code.as_str()])?;
            RejectionOutcome::RetryAt(at)
        } else {
            let attempts = row.item.attempts.saturating_add(1);
            if attempts >= policy.max_attempts {
                move_to_dead_letters(&tx, &row, attempts, code, message, now_ms)?;
                tracing::warn!(change_id, %code, message, "change moved to the dead letters");
                RejectionOutcome::DeadLettered
            } else {
                let at = now_ms.saturating_add(policy.delay_ms(attempts));
                tx.prepare_cached(
                    "UPDATE outbox SET attempts = ?2, next_attempt_at = ?3, last_error = ?4,
                            in_flight = 0, rejected_at = ?5, last_error_code = ?6
                     WHERE change_id = ?1",
                )?
                .execute(params![
                    change_id,
                    attempts,
                    at,
                    last_error,
                    now_ms,
                    code.as_str()
                ])?;
                RejectionOutcome::RetryAt(at)
            }
        };
        tx.commit()?;
        Ok(outcome)
    }

    /// Every dead letter, oldest change first.
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>> {
        let sql = format!("SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters ORDER BY seq");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let raws = stmt
            .query_map([], |row| {
                Ok((
                    RawOutbox::from_row(row)?,
                    row.get::<_, String>(15)?,
                    row.get::<_, String>(16)?,
                    row.get::<_, i64>(17)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        raws.into_iter()
            .map(|(raw, code, message, failed_at)| {
                let item = raw.into_row()?.item;
                Ok(DeadLetter {
                    change: item.change,
                    attempts: item.attempts,
                    error_code: error_code_from_str(&code),
                    error_message: message,
                    failed_at,
                })
            })
            .collect()
    }

    /// Puts a dead letter back into the outbox with its attempts reset and its original
    /// change id (the server never applied it: only applied changes are recorded). It takes
    /// back its original place, ahead of the entity's later changes, unless one of those
    /// was already sent: then it goes last, without the fields they set (the crate docs'
    /// "outbox order" rule). Returns the entity the letter belongs to.
    pub fn retry_dead_letter(&mut self, change_id: &str) -> Result<(EntityType, EntityId)> {
        let tx = write_tx(&mut self.conn)?;
        let row = take_dead_letter(&tx, change_id)?;
        let letter = row.item.change;
        let entity = (letter.entity_type, letter.entity_id.clone());
        let base_state = row.base_state.as_ref().map(to_json);
        requeue(&tx, row.item.seq, letter, true, base_state.as_deref())?;
        entity::recompute(&tx, entity.0, entity.1.as_str())?;
        tx.commit()?;
        Ok(entity)
    }

    /// Drops a dead letter for good (the user's decision) and recomputes the entity's local
    /// state without it.
    ///
    /// Discarding the `create` of an entity the server never acknowledged drops the entity:
    /// its later changes could only ever fail with `not_found`, so they go with it. Returns
    /// the entity the letter belonged to.
    pub fn discard_dead_letter(&mut self, change_id: &str) -> Result<(EntityType, EntityId)> {
        let tx = write_tx(&mut self.conn)?;
        let letter = take_dead_letter(&tx, change_id)?.item.change;
        let (entity_type, id) = (letter.entity_type, letter.entity_id.as_str());
        let never_acknowledged =
            entity::load(&tx, entity_type, id)?.is_some_and(|row| row.base == Base::default());
        if letter.operation == Operation::Create && never_acknowledged {
            drop_unacknowledged_entity(&tx, entity_type, id)?;
        } else {
            entity::recompute(&tx, entity_type, id)?;
        }
        tx.commit()?;
        Ok((entity_type, letter.entity_id))
    }

    /// Changes in the outbox (pending or in flight).
    pub fn pending_count(&self) -> Result<u64> {
        // Cached: the sync engine reads these after every burst of activity.
        Ok(self
            .conn
            .prepare_cached("SELECT COUNT(*) FROM outbox")?
            .query_row([], |row| row.get(0))?)
    }

    /// Edit time of the oldest change still in the outbox, if any.
    pub fn oldest_pending_ms(&self) -> Result<Option<i64>> {
        Ok(self
            .conn
            .prepare_cached("SELECT MIN(timestamp) FROM outbox")?
            .query_row([], |row| row.get(0))?)
    }

    /// The server's latest refusal of a change that is still waiting (a transient one such
    /// as `rate_limited` or `quota_exceeded`, or a permanent one not yet final); `None` when
    /// no waiting change was refused. For the user: what holds the queue up.
    pub fn pending_refusal(&self) -> Result<Option<Refusal>> {
        let row: Option<(Option<String>, String)> = self
            .conn
            .prepare_cached(
                "SELECT last_error_code, last_error FROM outbox WHERE last_error IS NOT NULL
                 ORDER BY rejected_at DESC LIMIT 1",
            )?
            .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        Ok(row.map(|(code, message)| Refusal {
            // Rows refused before schema 6 have no code: unknown (transient) is what they
            // were treated as not knowing.
            code: code
                .as_deref()
                .map_or(ErrorCode::Unknown, ErrorCode::from_name),
            message,
        }))
    }

    pub fn dead_letter_count(&self) -> Result<u64> {
        Ok(self
            .conn
            .prepare_cached("SELECT COUNT(*) FROM dead_letters")?
            .query_row([], |row| row.get(0))?)
    }
}

/// The columns of `dead_letters` in [`OUTBOX_COLUMNS`] order (a dead letter is an outbox
/// row that was sent and is not in flight), then its error columns.
const DEAD_LETTER_COLUMNS: &str = "seq, change_id, entity_type, entity_id, operation, data, \
     base_version, timestamp, client_id, attempts, 0, NULL, 0, 1, base_state, \
     error_code, error_message, failed_at";

/// Takes a dead letter out, as the outbox row it was (the caller's transaction puts it back
/// or drops it).
fn take_dead_letter(conn: &Connection, change_id: &str) -> Result<OutboxRow> {
    let sql = format!("SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters WHERE change_id = ?1");
    let row = query_rows(conn, &sql, [change_id])?
        .pop()
        .ok_or_else(|| StoreError::DeadLetterNotFound(change_id.to_owned()))?;
    conn.prepare_cached("DELETE FROM dead_letters WHERE change_id = ?1")?
        .execute([change_id])?;
    Ok(row)
}

/// Removes an entity the server never acknowledged with every change still held for it.
fn drop_unacknowledged_entity(conn: &Connection, entity_type: EntityType, id: &str) -> Result<()> {
    for table in ["outbox", "dead_letters", "conflicts"] {
        conn.prepare_cached(&format!(
            "DELETE FROM {table} WHERE entity_type = ?1 AND entity_id = ?2"
        ))?
        .execute(params![entity_type.as_str(), id])?;
    }
    tracing::info!(%entity_type, id, "dropped an entity whose create was discarded");
    entity::remove(conn, entity_type, id)
}

fn move_to_dead_letters(
    conn: &Connection,
    row: &OutboxRow,
    attempts: u32,
    code: ErrorCode,
    message: &str,
    now_ms: i64,
) -> Result<()> {
    let change = &row.item.change;
    conn.prepare_cached(
        "INSERT INTO dead_letters (change_id, seq, entity_type, entity_id, operation, data,
             base_version, timestamp, client_id, attempts, error_code, error_message, failed_at,
             base_state)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        change.change_id,
        row.item.seq,
        change.entity_type.as_str(),
        change.entity_id.as_str(),
        change.operation.as_str(),
        to_json(&change.data),
        change.base_version,
        change.timestamp,
        change.client_id,
        attempts,
        code.as_str(),
        message,
        now_ms,
        row.base_state.as_ref().map(to_json),
    ])?;
    remove(conn, &change.change_id)
}

/// The base after the server acknowledged `change` at `version`.
fn acked_base(mut base: Base, change: &Change, version: u64, data: &Fields) -> Result<Base> {
    if base.version >= version {
        // A remote update already brought a newer base (which includes this change).
        return Ok(base);
    }
    match change.operation {
        Operation::Delete => base.deleted = true,
        Operation::Create | Operation::Update => {
            let state = base.state.get_or_insert_with(Fields::new);
            // Plain values as sent; operator fields come resolved in `data`.
            state.extend(
                change
                    .data
                    .iter()
                    .filter(|(_, v)| entity::all_plain_value(v))
                    .map(|(k, v)| (k.clone(), v.clone())),
            );
            state.extend(entity::decode_remote(data)?.into_owned());
        }
    }
    base.version = version;
    Ok(base)
}

/// After an ack at `version`, the entity's later changes that were made on the version just
/// before it were made on exactly the acknowledged state: rebase them, so the server does not
/// report the device's own earlier edit as a conflict.
fn rebase_later_changes(
    conn: &Connection,
    entity_type: EntityType,
    id: &str,
    seq: i64,
    version: u64,
    base: &Base,
) -> Result<()> {
    // Their base state moves with their base version, to the acknowledged state, when the
    // base is exactly that state. A base a remote update already moved past `version` holds
    // edits made after it: as a merge base it would make those look unchanged, so the old,
    // older base state stays (an older base only makes more fields count as changed).
    let exact = (base.version == version).then(|| base_json(base));
    conn.prepare_cached(
        "UPDATE outbox SET base_version = ?4, base_state = coalesce(?5, base_state)
         WHERE entity_type = ?1 AND entity_id = ?2 AND seq > ?3 AND in_flight = 0
           AND base_version = ?4 - 1",
    )?
    .execute(params![entity_type.as_str(), id, seq, version, exact])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay_ms(1), 1_000);
        assert_eq!(policy.delay_ms(2), 2_000);
        assert_eq!(policy.delay_ms(3), 4_000);
        assert_eq!(policy.delay_ms(40), 300_000);
        assert_eq!(policy.delay_ms(u32::MAX), 300_000);
    }

    #[test]
    fn error_codes_round_trip_through_text() {
        assert_eq!(error_code_from_str("not_found"), ErrorCode::NotFound);
        assert_eq!(error_code_from_str("brand_new"), ErrorCode::Unknown);
    }
}
