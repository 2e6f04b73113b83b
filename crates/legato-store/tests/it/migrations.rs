//! Opening databases left by earlier releases.

use legato_protocol::{EntityId, EntityType, Fields};
use legato_store::{MIGRATIONS, Store, StoreOptions, SyncState, configure_connection};
use serde_json::json;

use crate::support::*;

/// A database at schema version 3, as the previous release left it: a synced entry, one
/// with a pending edit, an unsent create and a synced tombstone, each with the base state
/// stored in full.
fn version_3_database(path: &std::path::Path) {
    let mut conn = rusqlite::Connection::open(path).unwrap();
    configure_connection(&conn, &StoreOptions::default()).unwrap();
    MIGRATIONS.to_version(&mut conn, 3).unwrap();
    let synced =
        json!({"timestamp": "2025-11-25T08:00:00.000Z", "duration": 20, "notes": "synced"})
            .to_string();
    let base = json!({"timestamp": "2025-11-25T09:00:00.000Z", "duration": 30, "notes": "base"});
    let mut local = base.clone();
    local["notes"] = json!("mine");
    let fresh = json!({"timestamp": "2025-11-25T10:00:00.000Z", "duration": 40, "notes": "new"});
    let rows = [
        ("synced", synced.clone(), Some(synced), 3, false),
        (
            "edited",
            local.to_string(),
            Some(base.to_string()),
            1,
            false,
        ),
        ("unsent", fresh.to_string(), None, 0, false),
        ("buried", "{}".to_owned(), Some("{}".to_owned()), 2, true),
    ];
    for (id, state, base_state, version, deleted) in rows {
        conn.execute(
            "INSERT INTO entities (entity_type, entity_id, state, deleted, base_state,
                                   base_version, base_deleted, ts_ms)
             VALUES ('logbook', ?1, ?2, ?3, ?4, ?5, ?3, 1)",
            rusqlite::params![id, state, deleted, base_state, version],
        )
        .unwrap();
    }
    for (n, (id, data, base_version)) in [
        ("edited", json!({"notes": "mine"}), 1),
        ("unsent", fresh, 0),
    ]
    .into_iter()
    .enumerate()
    {
        conn.execute(
            "INSERT INTO outbox (change_id, entity_type, entity_id, operation, data,
                                 base_version, timestamp, client_id, base_state)
             VALUES (?1, 'logbook', ?2, ?3, ?4, ?5, ?6, 'dev-old', ?7)",
            rusqlite::params![
                format!("c-{n}"),
                id,
                if base_version == 0 {
                    "create"
                } else {
                    "update"
                },
                data.to_string(),
                base_version,
                NOW,
                if base_version == 0 {
                    "{}".to_owned()
                } else {
                    base.to_string()
                },
            ],
        )
        .unwrap();
    }
}

/// (base_state IS NULL, base_is_state) of a row.
fn encoding(store: &Store, id: &str) -> (bool, bool) {
    store
        .connection()
        .query_row(
            "SELECT base_state IS NULL, base_is_state FROM entities WHERE entity_id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
}

#[test]
fn version_4_stores_a_base_equal_to_the_state_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("legato.db");
    version_3_database(&path);
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let conn = store.connection();
    let foreign_keys: bool = conn
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .unwrap();
    assert!(foreign_keys, "on again after the rebuild");
    let violations: i64 = conn
        .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(violations, 0);
    let indexes: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'entities_logbook_time'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(indexes, 1);

    assert_eq!(encoding(&store, "synced"), (true, true));
    assert_eq!(encoding(&store, "buried"), (true, true));
    assert_eq!(encoding(&store, "edited"), (false, false));
    // Never seen by the server: still NULL and not the state.
    assert_eq!(encoding(&store, "unsent"), (true, false));

    let logbook = EntityType::Logbook;
    let id = |s: &str| EntityId::new(s).unwrap();
    let synced = store.get(logbook, &id("synced")).unwrap().unwrap();
    assert_eq!((synced.base_version, synced.sync), (3, SyncState::Synced));
    assert_eq!(base(&store, logbook, &id("synced")).0, Some(synced.state));
    assert_eq!(
        base(&store, logbook, &id("buried")),
        (Some(Fields::new()), 2, true)
    );
    assert_eq!(
        base(&store, logbook, &id("edited")).0.unwrap()["notes"],
        "base"
    );
    assert_eq!(base(&store, logbook, &id("unsent")), (None, 0, false));

    // The store works on the migrated rows: an edit of the synced entry keeps its base, the
    // acks of the old rows settle them.
    patch_notes(&mut store, &id("synced"), "edited after the upgrade");
    assert_eq!(encoding(&store, "synced"), (false, false));
    assert_eq!(
        base(&store, logbook, &id("synced")).0.unwrap()["notes"],
        "synced"
    );
    for (change, version) in [("c-0", 2), ("c-1", 1)] {
        store.mark_in_flight(&[change]).unwrap();
        assert!(
            store
                .apply_ack(change, version, &Fields::new())
                .unwrap()
                .is_acked()
        );
    }
    assert_eq!(encoding(&store, "edited"), (true, true));
    assert_eq!(encoding(&store, "unsent"), (true, true));
    let unsent = store.get(logbook, &id("unsent")).unwrap().unwrap();
    assert_eq!(
        (unsent.state["notes"].clone(), unsent.base_version),
        (json!("new"), 1)
    );

    // Reopening does not migrate again.
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(
        base(&store, logbook, &id("edited")).0.unwrap()["notes"],
        "mine"
    );
}

#[test]
fn the_rebuilt_table_keeps_its_checks() {
    let store = store();
    let insert = |entity_type: &str, base_state: Option<&str>, base_is_state: i64| {
        store.connection().execute(
            "INSERT INTO entities (entity_type, entity_id, state, base_state, base_is_state)
             VALUES (?1, 'x', '{}', ?2, ?3)",
            rusqlite::params![entity_type, base_state, base_is_state],
        )
    };
    assert!(
        insert("logbook", Some("{}"), 1).is_err(),
        "a base and the flag"
    );
    assert!(insert("logbook", None, 2).is_err());
    assert!(insert("practice", None, 0).is_err(), "an unknown type");
    for entity_type in ["logbook", "repertoire", "goals"] {
        insert(entity_type, None, 1).unwrap();
    }
    // The outbox still references the entities.
    let orphan = store.connection().execute(
        "INSERT INTO outbox (change_id, entity_type, entity_id, operation, data, base_version,
                             timestamp, client_id)
         VALUES ('c', 'logbook', 'missing', 'create', '{}', 0, 0, 'dev')",
        [],
    );
    assert!(orphan.is_err(), "{orphan:?}");
}

#[test]
fn the_rebuild_refuses_to_run_with_foreign_keys_on_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("legato.db");
    version_3_database(&path);
    let mut conn = rusqlite::Connection::open(&path).unwrap();
    configure_connection(&conn, &StoreOptions::default()).unwrap();
    assert!(MIGRATIONS.to_latest(&mut conn).is_err());
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    let rows: i64 = conn
        .query_row("SELECT COUNT(*) FROM entities", [], |r| r.get(0))
        .unwrap();
    assert_eq!((version, rows), (3, 4));
    drop(conn);
    // The store's own opening path migrates it.
    let store = Store::open(&path).unwrap();
    assert_eq!(encoding(&store, "synced"), (true, true));
}
