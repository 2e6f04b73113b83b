//! The repertoire seen through the logbook: practice time, sessions and last practice per
//! piece, a piece's tempo history, and saving a piece with its status history. All in SQL
//! over the stored states.
//!
//! # Which logbook pieces are a repertoire piece
//!
//! A logbook entry's `pieces[]` element practises repertoire piece `r` when
//! - its `scoreId` is `r`'s id, or
//! - it has no `scoreId`, or one that is not the id of a live repertoire piece (a score id
//!   of another catalogue), and its title equals `r`'s title, trimmed and case-folded, and
//!   the composers do not disagree: equal (trimmed, folded), or missing/blank on either
//!   side.
//!
//! So a title-only piece "Clair de lune" counts for every repertoire piece of that exact
//! title whose composer is Debussy or unknown; near spellings do not count (the "similar
//! piece" warning exists to keep the repertoire free of those). An entry counts once per
//! repertoire piece however often it names it, with its whole `duration` (the logbook does
//! not split a session's time between its pieces).

use legato_core::RepertoireItem;
use legato_protocol::{EntityId, EntityType, Fields};
use serde_json::{Value, json};

use crate::edit::overlay_diff;
use crate::entity;
use crate::error::{Result, StoreError};
use crate::store::Store;
use crate::time::rfc3339_ms;

/// Practice of one repertoire piece, from the logbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PiecePractice {
    /// Sum of the durations of the entries that practised it.
    pub minutes: u64,
    /// Entries that practised it.
    pub sessions: u64,
    /// The newest of those entries' `timestamp` (ms).
    pub last_practiced_ms: Option<i64>,
}

/// One tempo a piece was practised at: an entry's `pieces[].tempo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TempoPoint {
    pub entry_id: EntityId,
    /// The entry's `timestamp` (ms).
    pub at_ms: i64,
    /// Beats per minute.
    pub tempo: i64,
}

/// `matched(rid, eid, ts, mins, tempo)`: one row per (repertoire piece, logbook piece that
/// practises it) under the rule of the module docs. `{window}` narrows the logbook rows
/// (`e`), e.g. to a time range.
pub(crate) fn matched_cte(window: &str) -> String {
    format!(
        "rep AS MATERIALIZED (
            SELECT entity_id AS id,
                   legato_fold(trim(json_extract(state, '$.title'))) AS t,
                   coalesce(legato_fold(trim(json_extract(state, '$.composer'))), '') AS c
            FROM entities WHERE entity_type = 'repertoire' AND deleted = 0),
         played AS MATERIALIZED (
            SELECT e.entity_id AS eid, e.ts_ms AS ts, e.duration_min AS mins,
                   json_extract(p.value, '$.scoreId') AS sid,
                   legato_fold(trim(json_extract(p.value, '$.title'))) AS t,
                   coalesce(legato_fold(trim(json_extract(p.value, '$.composer'))), '') AS c,
                   json_extract(p.value, '$.tempo') AS tempo
            FROM entities e, json_each(e.state, '$.pieces') p
            WHERE e.entity_type = 'logbook' AND e.deleted = 0 AND ({window})),
         matched AS (
            SELECT rep.id AS rid, played.eid, played.ts, played.mins, played.tempo
            FROM played JOIN rep ON played.sid = rep.id
            UNION ALL
            SELECT rep.id, played.eid, played.ts, played.mins, played.tempo
            FROM played JOIN rep ON played.t = rep.t
            WHERE (played.sid IS NULL OR played.sid NOT IN (SELECT id FROM rep))
              AND (played.c = '' OR rep.c = '' OR played.c = rep.c))"
    )
}

impl Store {
    /// Practice per live repertoire piece (pieces never practised are left out), by id.
    pub fn piece_practice(&self) -> Result<Vec<(EntityId, PiecePractice)>> {
        let sql = format!(
            "WITH {} SELECT rid, COUNT(*), SUM(mins), MAX(ts)
             FROM (SELECT DISTINCT rid, eid, ts, mins FROM matched)
             GROUP BY rid",
            matched_cte("1")
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, Option<i64>>(2)?,
                row.get::<_, Option<i64>>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, sessions, minutes, last) = row?;
            out.push((
                corrupt_id(id)?,
                PiecePractice {
                    minutes: u64::try_from(minutes.unwrap_or(0)).unwrap_or(0),
                    sessions: u64::try_from(sessions).unwrap_or(0),
                    last_practiced_ms: last,
                },
            ));
        }
        Ok(out)
    }

    /// The tempos piece `id` was practised at, oldest first (entries without a tempo for it
    /// are left out; an entry naming it twice with two tempos gives both).
    pub fn tempo_history(&self, id: &EntityId) -> Result<Vec<TempoPoint>> {
        let sql = format!(
            "WITH {} SELECT DISTINCT eid, ts, tempo FROM matched
             WHERE rid = ?1 AND typeof(tempo) = 'integer'
             ORDER BY ts, eid, tempo",
            matched_cte("1")
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([id.as_str()], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, Option<i64>>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })?;
        rows.map(|row| {
            let (entry, at, tempo) = row?;
            Ok(TempoPoint {
                entry_id: corrupt_id(entry)?,
                at_ms: at.unwrap_or_default(),
                tempo,
            })
        })
        .collect()
    }

    /// Saves a repertoire piece as the user edited it, in one change. A new piece opens its
    /// `statusHistory` with `{at, from: null, to: status}` (unless it brings a history). For
    /// an existing piece every field but the history is saved as given; when the status
    /// differs from the stored one, the move is appended to the history as `$addToSet`
    /// (never conflicts: moves made on two devices are both kept, as with
    /// [`Store::set_piece_status`]). The history and the `createdAt`/`updatedAt` in `item`
    /// are ignored then: they are the store's to write. Returns the change id, `None` when nothing changed.
    pub fn save_piece(&mut self, item: &RepertoireItem, now_ms: i64) -> Result<Option<String>> {
        let exists = entity::load(&self.conn, EntityType::Repertoire, item.id.as_str())?.is_some();
        if !exists {
            let mut item = item.clone();
            if item.status_history.is_empty() {
                item.status_history.push(legato_core::model::StatusChange {
                    at: chrono::DateTime::from_timestamp_millis(now_ms).unwrap_or_default(),
                    from: None,
                    to: item.status,
                    extra: Fields::new(),
                });
            }
            return self.save(&item, now_ms);
        }
        let id = item.id.clone();
        let wanted = item.clone();
        self.edit(EntityType::Repertoire, &item.id, now_ms, move |current| {
            let stored = RepertoireItem::from_fields(id, current)?;
            let mut edited = wanted;
            let new_status = edited.status;
            edited.status = stored.status;
            edited.status_history = stored.status_history.clone();
            // The store stamps these.
            edited.created_at = stored.created_at;
            edited.updated_at = stored.updated_at;
            let (mut data, mut state) =
                overlay_diff(current, &stored.to_fields(), &edited.to_fields());
            if new_status != stored.status {
                let entry = json!({
                    "at": rfc3339_ms(now_ms),
                    "from": stored.status.as_str(),
                    "to": new_status.as_str(),
                });
                let mut patch = Fields::new();
                patch.insert(
                    "status".to_owned(),
                    Value::String(new_status.as_str().to_owned()),
                );
                patch.insert("statusHistory".to_owned(), json!({ "$addToSet": [entry] }));
                legato_core::apply_patch(&mut state, &patch)?;
                data.extend(patch);
            }
            Ok((data, state))
        })
    }
}

fn corrupt_id(id: String) -> Result<EntityId> {
    EntityId::new(id).map_err(|e| StoreError::Corrupt(e.to_string()))
}
