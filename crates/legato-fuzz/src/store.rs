//! `store_apply`: the client store applying catch-up pages and live updates.

use std::collections::BTreeSet;

use legato_protocol::{ChangesResponse, EntityId, EntityType, Fields};
use legato_store::{BatchOutcome, LocalEntity, Store};
use serde::Deserialize;

/// 2025-11-25T18:30:00.000Z: the time of the local edits.
const NOW: i64 = 1_764_095_400_000;

/// One case: local edits made first (so the pages meet unsettled changes), then pages of
/// remote changes as `GET /api/sync/changes` returns them, applied in order.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StoreCase {
    edits: Vec<LocalEdit>,
    pages: Vec<ChangesResponse>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LocalEdit {
    entity_type: EntityType,
    entity_id: EntityId,
    #[serde(default)]
    op: EditOp,
    #[serde(default)]
    data: Fields,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum EditOp {
    #[default]
    Create,
    Patch,
    Delete,
}

/// Opens a fresh in-memory store, makes the local edits (each may fail with a typed
/// error), then applies every page with `apply_remote_batch(changes, Some(seq))`, as the
/// sync engine does. Properties, after every page:
/// - the call returns `Ok` or a typed error (never panics), and `PRAGMA integrity_check`
///   says `ok`;
/// - remote changes never touch the outbox or the dead letters;
/// - the cursor never moves back, and moves to the page's `seq` when nothing needs a
///   catch-up;
/// - an entity with nothing unsettled shows its base as its local state.
///
/// Then, when the last page needed no catch-up, applying it again changes nothing
/// (idempotent). And with no local edits, the fast path of a settled device (one upsert per
/// full state) leaves the same entities as applying every update alone with `apply_remote`.
pub fn store_apply(data: &[u8]) {
    let Ok(case) = serde_json::from_slice::<StoreCase>(data) else {
        return;
    };
    let mut store = Store::open_in_memory().expect("an in-memory store opens");
    for edit in &case.edits {
        let (kind, id) = (edit.entity_type, &edit.entity_id);
        // Refused edits (invalid state, unknown id, deleted entity) are typed errors.
        let _ = match edit.op {
            EditOp::Create => store
                .create_with_id(kind, id.clone(), edit.data.clone(), NOW)
                .map(|_| ()),
            EditOp::Patch => store.patch(kind, id, edit.data.clone(), NOW).map(|_| ()),
            EditOp::Delete => store.delete(kind, id, NOW).map(|_| ()),
        };
    }
    assert_sound(&store);

    let ids: BTreeSet<(EntityType, EntityId)> = case
        .pages
        .iter()
        .flat_map(|page| &page.changes)
        .map(|u| (u.entity_type, u.entity_id.clone()))
        .chain(
            case.edits
                .iter()
                .map(|e| (e.entity_type, e.entity_id.clone())),
        )
        .collect();

    let mut all_ok = true;
    let mut last: Option<BatchOutcome> = None;
    for page in &case.pages {
        let before = counts(&store);
        let cursor = store.cursor().expect("reads the cursor");
        match store.apply_remote_batch(&page.changes, Some(page.seq)) {
            Ok(outcome) => {
                assert_eq!(
                    outcome.applied + outcome.ignored + outcome.needs_catch_up,
                    page.changes.len()
                );
                assert!(outcome.cursor >= cursor, "the cursor moved back");
                assert_eq!(outcome.cursor, store.cursor().expect("reads the cursor"));
                if outcome.needs_catch_up == 0 {
                    assert_eq!(outcome.cursor, cursor.max(page.seq));
                }
                last = Some(outcome);
            }
            Err(_) => {
                // Rolled back as a whole.
                all_ok = false;
                last = None;
                assert_eq!(store.cursor().expect("reads the cursor"), cursor);
            }
        }
        assert_eq!(counts(&store), before, "remote changes touched the outbox");
        assert_sound(&store);
    }
    let state = snapshot(&store, &ids);
    for entity in state.iter().flatten() {
        if entity.sync == legato_store::SyncState::Synced {
            let base = base_state(&store, entity);
            assert_eq!(
                base.as_ref(),
                Some(&entity.state),
                "{}: local is base",
                entity.id
            );
        }
    }

    if let (Some(page), Some(outcome)) = (case.pages.last(), last)
        && outcome.needs_catch_up == 0
    {
        let cursor = store.cursor().expect("reads the cursor");
        let again = store
            .apply_remote_batch(&page.changes, Some(page.seq))
            .expect("a page that applied applies again");
        assert_eq!(again.cursor, cursor);
        assert_eq!(snapshot(&store, &ids), state, "applying a page twice");
        assert_sound(&store);
    }

    if case.edits.is_empty() && all_ok {
        let mut one_by_one = Store::open_in_memory().expect("an in-memory store opens");
        for update in case.pages.iter().flat_map(|page| &page.changes) {
            one_by_one
                .apply_remote(update)
                .expect("an update of an applied page applies alone");
        }
        // The first store may have applied the last page twice: same state, checked above.
        assert_eq!(
            snapshot(&one_by_one, &ids),
            state,
            "batch (settled fast path) and one-by-one apply disagree"
        );
        assert_sound(&one_by_one);
    }
}

fn assert_sound(store: &Store) {
    assert_eq!(
        store.integrity_check().expect("integrity_check runs"),
        "ok",
        "PRAGMA integrity_check"
    );
}

/// Outbox and dead-letter sizes.
fn counts(store: &Store) -> (u64, u64) {
    (
        store.pending_count().expect("counts the outbox"),
        store.dead_letter_count().expect("counts the dead letters"),
    )
}

/// Every entity the case names, tombstones included.
fn snapshot(store: &Store, ids: &BTreeSet<(EntityType, EntityId)>) -> Vec<Option<LocalEntity>> {
    ids.iter()
        .map(|(kind, id)| store.get(*kind, id).expect("reads an entity"))
        .collect()
}

/// The stored base state of an entity, read from the table (`base_is_state`: the same text
/// as the local state).
fn base_state(store: &Store, entity: &LocalEntity) -> Option<Fields> {
    let (base, is_state): (Option<String>, bool) = store
        .connection()
        .query_row(
            "SELECT base_state, base_is_state FROM entities
             WHERE entity_type = ?1 AND entity_id = ?2",
            [entity.entity_type.as_str(), entity.id.as_str()],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .expect("reads the base");
    if is_state {
        return Some(entity.state.clone());
    }
    base.map(|text| serde_json::from_str(&text).expect("a stored base is JSON"))
}
