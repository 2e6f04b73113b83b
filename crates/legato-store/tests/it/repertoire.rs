//! The repertoire through the logbook: practice per piece, tempo history, the status
//! history written by the store, similar pieces.

use legato_core::RepertoireItem;
use legato_core::model::PieceStatus;
use legato_protocol::{EntityId, EntityType, Fields, UpdateData};
use legato_store::{PiecePractice, Store, TempoPoint};
use serde_json::{Value, json};

use crate::support::*;

fn piece(store: &mut Store, title: &str, composer: Option<&str>) -> EntityId {
    let mut state = fields(json!({ "title": title, "status": "learning" }));
    if let Some(composer) = composer {
        state.insert("composer".into(), json!(composer));
    }
    store
        .create(EntityType::Repertoire, state, NOW)
        .unwrap()
        .entity_id
}

fn practised(store: &mut Store, timestamp: &str, minutes: u32, pieces: Value) -> EntityId {
    let mut state = entry(timestamp, minutes, "");
    state.insert("pieces".into(), pieces);
    store
        .create(EntityType::Logbook, state, NOW)
        .unwrap()
        .entity_id
}

fn ms(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp_millis()
}

fn practice_of(store: &Store, id: &EntityId) -> PiecePractice {
    store
        .piece_practice()
        .unwrap()
        .into_iter()
        .find(|(piece, _)| piece == id)
        .map(|(_, practice)| practice)
        .unwrap_or_default()
}

#[test]
fn practice_per_piece_follows_score_ids_and_titles() {
    let mut store = store();
    let clair = piece(&mut store, "Clair de lune", Some("Debussy"));
    let gymno = piece(&mut store, "Gymnopédie No. 1", None);
    let never = piece(&mut store, "Für Elise", Some("Beethoven"));

    // By id, whatever the title says.
    practised(
        &mut store,
        "2025-11-20T10:00:00.000Z",
        30,
        json!([{ "title": "CdL", "scoreId": clair.as_str() }]),
    );
    // Title only: trimmed, case-folded, the composer agrees.
    practised(
        &mut store,
        "2025-11-21T10:00:00.000Z",
        20,
        json!([{ "title": "  clair DE LUNE ", "composer": "DEBUSSY" }]),
    );
    // Title only without a composer: counts.
    practised(
        &mut store,
        "2025-11-22T10:00:00.000Z",
        10,
        json!([{ "title": "Clair de lune" }]),
    );
    // Another composer's piece of that title: does not count.
    practised(
        &mut store,
        "2025-11-23T10:00:00.000Z",
        99,
        json!([{ "title": "Clair de lune", "composer": "Fauré" }]),
    );
    // Named twice in one entry: one session, its duration once.
    practised(
        &mut store,
        "2025-11-24T10:00:00.000Z",
        15,
        json!([{ "title": "Clair de lune", "tempo": 60 },
               { "title": "Clair de lune", "tempo": 66 }]),
    );
    // A deleted entry does not count.
    let gone = practised(
        &mut store,
        "2025-11-25T10:00:00.000Z",
        45,
        json!([{ "title": "Clair de lune" }]),
    );
    store.delete(EntityType::Logbook, &gone, NOW).unwrap();
    // A score id of another catalogue: matched by title.
    practised(
        &mut store,
        "2025-11-19T10:00:00.000Z",
        25,
        json!([{ "title": "gymnopédie no. 1", "scoreId": "imslp-1234" }]),
    );
    // A repertoire id wins over the title: this one is Gymnopédie, not Clair de lune.
    practised(
        &mut store,
        "2025-11-18T10:00:00.000Z",
        5,
        json!([{ "title": "Clair de lune", "scoreId": gymno.as_str() }]),
    );

    assert_eq!(
        practice_of(&store, &clair),
        PiecePractice {
            minutes: 75,
            sessions: 4,
            last_practiced_ms: Some(ms("2025-11-24T10:00:00Z")),
        }
    );
    assert_eq!(
        practice_of(&store, &gymno),
        PiecePractice {
            minutes: 30,
            sessions: 2,
            last_practiced_ms: Some(ms("2025-11-19T10:00:00Z")),
        }
    );
    assert_eq!(practice_of(&store, &never), PiecePractice::default());
    assert!(
        store
            .piece_practice()
            .unwrap()
            .iter()
            .all(|(id, _)| id != &never),
        "pieces never practised are left out"
    );
}

#[test]
fn a_deleted_piece_frees_its_score_id_for_the_title_rule() {
    let mut store = store();
    let old = piece(&mut store, "Clair de lune", Some("Debussy"));
    practised(
        &mut store,
        "2025-11-20T10:00:00.000Z",
        30,
        json!([{ "title": "Clair de lune", "scoreId": old.as_str() }]),
    );
    store.delete(EntityType::Repertoire, &old, NOW).unwrap();
    let new = piece(&mut store, "Clair de lune", None);
    assert_eq!(practice_of(&store, &new).minutes, 30);
}

#[test]
fn tempo_history_is_oldest_first_with_every_tempo() {
    let mut store = store();
    let clair = piece(&mut store, "Clair de lune", Some("Debussy"));
    let late = practised(
        &mut store,
        "2025-11-24T10:00:00.000Z",
        15,
        json!([{ "title": "Clair de lune", "tempo": 72 }]),
    );
    let early = practised(
        &mut store,
        "2025-11-20T10:00:00.000Z",
        15,
        json!([{ "title": "x", "scoreId": clair.as_str(), "tempo": 60 },
               { "title": "Clair de lune", "tempo": 63 },
               { "title": "Other piece", "tempo": 200 }]),
    );
    // No tempo: no point.
    practised(
        &mut store,
        "2025-11-22T10:00:00.000Z",
        15,
        json!([{ "title": "Clair de lune", "tempo": null }]),
    );
    assert_eq!(
        store.tempo_history(&clair).unwrap(),
        [
            TempoPoint {
                entry_id: early.clone(),
                at_ms: ms("2025-11-20T10:00:00Z"),
                tempo: 60
            },
            TempoPoint {
                entry_id: early,
                at_ms: ms("2025-11-20T10:00:00Z"),
                tempo: 63
            },
            TempoPoint {
                entry_id: late,
                at_ms: ms("2025-11-24T10:00:00Z"),
                tempo: 72
            },
        ]
    );
}

fn new_item(title: &str) -> RepertoireItem {
    RepertoireItem::new(
        EntityId::new(uuid::Uuid::now_v7().to_string()).unwrap(),
        title,
    )
}

fn history(store: &Store, id: &EntityId) -> Vec<(Option<PieceStatus>, PieceStatus, String)> {
    store
        .load::<RepertoireItem>(id)
        .unwrap()
        .unwrap()
        .status_history
        .iter()
        .map(|h| (h.from, h.to, legato_core::model::datetime::format(&h.at)))
        .collect()
}

#[test]
fn saving_a_piece_writes_its_status_history() {
    let mut store = store();
    let mut item = new_item("Clair de lune");
    item.status = PieceStatus::Learning;
    store.save_piece(&item, NOW).unwrap().unwrap();
    assert_eq!(
        history(&store, &item.id),
        [(None, PieceStatus::Learning, rfc(NOW))]
    );

    // An edit of other fields leaves the history alone, whatever `item` carries.
    item.composer = Some("Debussy".into());
    item.status_history.clear();
    store.save_piece(&item, NOW + MINUTE).unwrap().unwrap();
    assert_eq!(history(&store, &item.id).len(), 1);

    // A status move appends, in the same change as the other edits.
    item.status = PieceStatus::Polished;
    item.difficulty = Some(4);
    store.save_piece(&item, NOW + 2 * MINUTE).unwrap().unwrap();
    assert_eq!(
        history(&store, &item.id),
        [
            (None, PieceStatus::Learning, rfc(NOW)),
            (
                Some(PieceStatus::Learning),
                PieceStatus::Polished,
                rfc(NOW + 2 * MINUTE)
            ),
        ]
    );
    let saved: RepertoireItem = store.load(&item.id).unwrap().unwrap();
    assert_eq!(saved.status, PieceStatus::Polished);
    assert_eq!(saved.difficulty, Some(4));
    // Nothing changed: nothing queued.
    assert_eq!(store.save_piece(&item, NOW + 3 * MINUTE).unwrap(), None);
}

#[test]
fn a_status_move_travels_as_add_to_set_and_keeps_another_devices_move() {
    let mut store = store();
    let mut item = new_item("Clair de lune");
    store.save_piece(&item, NOW).unwrap();
    let create = outbox(&store).pop().unwrap().change.change_id;
    store.mark_in_flight(&[&create]).unwrap();
    store.apply_ack(&create, 1, &Fields::new()).unwrap();

    item.status = PieceStatus::Learning;
    store.save_piece(&item, NOW + MINUTE).unwrap().unwrap();
    let change = outbox(&store).pop().unwrap().change;
    assert_eq!(change.data["status"], json!("learning"));
    assert_eq!(
        change.data["statusHistory"],
        json!({ "$addToSet": [{ "at": rfc(NOW + MINUTE), "from": "planned", "to": "learning" }] })
    );

    // Meanwhile another device moved it to `dropped`: its history entry arrives, ours stays.
    let theirs = json!({ "at": rfc(NOW + 30_000), "from": "planned", "to": "dropped" });
    let mine_first = json!({ "at": rfc(NOW), "from": null, "to": "planned" });
    store
        .apply_remote(&UpdateData {
            entity_type: EntityType::Repertoire,
            entity_id: item.id.clone(),
            data: fields(json!({
                "status": "dropped",
                "statusHistory": [mine_first, theirs],
            })),
            version: 2,
            deleted: false,
            seq: 7,
            timestamp: NOW,
            user_id: "user-1".into(),
            client_id: "other-device".into(),
            change_id: "remote-7".into(),
            full: false,
        })
        .unwrap();
    let to: Vec<PieceStatus> = history(&store, &item.id).iter().map(|h| h.1).collect();
    assert_eq!(
        to,
        [
            PieceStatus::Planned,
            PieceStatus::Dropped,
            PieceStatus::Learning
        ]
    );
}

fn rfc(ms: i64) -> String {
    legato_store::rfc3339_ms(ms)
}

#[test]
fn similar_pieces_leave_out_the_piece_itself_and_deleted_ones() {
    let mut store = store();
    let clair = piece(&mut store, "Clair de lune", Some("Claude Debussy"));
    let gone = piece(&mut store, "Clair de Lune (Suite bergamasque)", None);
    store.delete(EntityType::Repertoire, &gone, NOW).unwrap();
    piece(&mut store, "Ballade No. 2", Some("Chopin"));

    let found = store
        .similar_pieces("clair de lune", Some("Debussy"), None)
        .unwrap();
    assert_eq!(
        found.iter().map(|p| p.id.clone()).collect::<Vec<_>>(),
        std::slice::from_ref(&clair)
    );
    assert_eq!(found[0].composer.as_deref(), Some("Claude Debussy"));
    assert!(
        store
            .similar_pieces("Clair de lune", None, Some(&clair))
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .similar_pieces("Ballade No. 1", Some("Chopin"), None)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .similar_pieces("Ballade no 2", Some("F. Chopin"), None)
            .unwrap()
            .len(),
        1
    );
}
