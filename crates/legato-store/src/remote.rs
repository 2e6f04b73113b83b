//! Changes coming from the server: `update` messages and catch-up pages.

use legato_protocol::UpdateData;
use rusqlite::Connection;

use crate::entity::{self, Base, ServerStateWriter};
use crate::error::Result;
use crate::store::{Store, advance_cursor, with_relaxed_sync, write_tx};

/// What [`Store::apply_remote`] did with one update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteOutcome {
    /// The base moved to the update's version; the local state is the new base overlaid with
    /// this device's unsettled changes.
    Applied,
    /// A partial update that does not follow the stored version: nothing was written; the
    /// sync engine asks for a catch-up from the cursor.
    NeedsCatchUp,
    /// Already known (an older or equal version): nothing was written.
    Ignored,
}

/// What [`Store::apply_remote_batch`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchOutcome {
    pub applied: usize,
    pub ignored: usize,
    /// Partial updates that could not be applied; when non-zero the cursor stopped before
    /// the first of them, and the sync engine should catch up from the cursor.
    pub needs_catch_up: usize,
    /// The cursor after the batch.
    pub cursor: u64,
}

impl Store {
    /// Applies one update from the server in one transaction.
    ///
    /// - `full`: the base becomes `data` at `version` (unless the stored base is newer). A
    ///   full state at the stored version refreshes the base too: it is the server's word,
    ///   and it repairs a base that was built from this device's own acks.
    /// - partial: applied on the stored version only if it is exactly `version - 1`; older
    ///   or equal versions are ignored, a gap asks for a catch-up.
    ///
    /// This device's unsettled changes stay applied on top (read-your-writes). The cursor
    /// does not move: see [`Store::apply_remote_batch`].
    pub fn apply_remote(&mut self, update: &UpdateData) -> Result<RemoteOutcome> {
        let tx = write_tx(&mut self.conn)?;
        let outcome = apply_update(&tx, update, None)?;
        tx.commit()?;
        Ok(outcome)
    }

    /// Applies a page of updates (in `seq` order) and moves the cursor to `new_cursor` in the
    /// same transaction, so the cursor never runs ahead of the data. If an update needs a
    /// catch-up, the cursor stops just before that update's `seq` instead. The cursor never
    /// moves back. This is the call for catch-up pages and for live updates alike
    /// (`apply_remote_batch(&[update], Some(update.seq))`).
    ///
    /// Commits without an fsync (see `with_relaxed_sync`): atomic and kill-safe like every
    /// write, but a power loss may roll the last pages back, cursor included, and the next
    /// catch-up fetches them again. Everything it writes can be fetched again, and the local
    /// overlay it recomputes comes from rows that are themselves durable.
    pub fn apply_remote_batch(
        &mut self,
        updates: &[UpdateData],
        new_cursor: Option<u64>,
    ) -> Result<BatchOutcome> {
        with_relaxed_sync(&mut self.conn, |conn| {
            let tx = write_tx(conn)?;
            // A page for a device with nothing unsettled (a fresh device, or one whose changes
            // are all acknowledged) needs no per-entity query for changes to re-overlay.
            let settled = updates.len() > 1 && nothing_unsettled(&tx)?;
            let mut outcome = BatchOutcome::default();
            let mut first_gap: Option<u64> = None;
            let mut writer = settled.then(|| ServerStateWriter::new(&tx)).transpose()?;
            for update in updates {
                match apply_update(&tx, update, writer.as_mut())? {
                    RemoteOutcome::Applied => outcome.applied += 1,
                    RemoteOutcome::Ignored => outcome.ignored += 1,
                    RemoteOutcome::NeedsCatchUp => {
                        outcome.needs_catch_up += 1;
                        first_gap.get_or_insert(update.seq);
                    }
                }
            }
            // The statement borrows the transaction.
            drop(writer);
            // Only as far as the caller vouches for, and never past an update that waits for
            // a catch-up.
            let target =
                new_cursor.map(|c| first_gap.map_or(c, |seq| c.min(seq.saturating_sub(1))));
            if let Some(cursor) = target {
                advance_cursor(&tx, cursor)?;
            }
            outcome.cursor = crate::store::read_cursor(&tx)?;
            tx.commit()?;
            Ok(outcome)
        })
    }
}

/// True when no entity has an unsettled change (outbox, dead letters, stored conflicts).
fn nothing_unsettled(conn: &Connection) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT NOT EXISTS (SELECT 1 FROM outbox) AND NOT EXISTS (SELECT 1 FROM dead_letters)
                    AND NOT EXISTS (SELECT 1 FROM conflicts)",
        )?
        .query_row([], |row| row.get(0))?)
}

/// Applies one update inside the caller's transaction. `settled`: given when the caller
/// checked that no entity has an unsettled change, so the local state is the new base itself.
fn apply_update(
    conn: &Connection,
    update: &UpdateData,
    settled: Option<&mut ServerStateWriter<'_>>,
) -> Result<RemoteOutcome> {
    let (entity_type, id) = (update.entity_type, update.entity_id.as_str());
    let data = entity::decode_remote(&update.data)?;
    if update.full
        && let Some(writer) = settled
    {
        // The common case of a catch-up page: no read, no copy of the state; the same rules
        // as below, checked by the upsert.
        let written = writer.write((entity_type, id), &data, update.version, update.deleted)?;
        return Ok(if written {
            RemoteOutcome::Applied
        } else {
            RemoteOutcome::Ignored
        });
    }
    // No row reads as the default base (never seen, version 0), which no update equals.
    let stored = entity::load(conn, entity_type, id)?
        .map(|row| row.base)
        .unwrap_or_default();
    let base = if update.full {
        if update.version < stored.version {
            return Ok(RemoteOutcome::Ignored);
        }
        if update.version == stored.version
            && update.deleted == stored.deleted
            && stored.state.as_ref() == Some(&*data)
        {
            return Ok(RemoteOutcome::Ignored);
        }
        Base {
            state: Some(data.into_owned()),
            version: update.version,
            deleted: update.deleted,
        }
    } else {
        if update.version != stored.version + 1 {
            return Ok(if update.version <= stored.version {
                RemoteOutcome::Ignored
            } else {
                RemoteOutcome::NeedsCatchUp
            });
        }
        // A new version: never equal to the stored base.
        let mut base = stored;
        base.state
            .get_or_insert_with(Default::default)
            .extend(data.into_owned());
        base.version = update.version;
        base.deleted = update.deleted;
        base
    };
    if settled.is_some() {
        entity::write_settled(conn, entity_type, id, &base)?;
    } else {
        entity::write_with_base(conn, entity_type, id, base)?;
    }
    Ok(RemoteOutcome::Applied)
}
