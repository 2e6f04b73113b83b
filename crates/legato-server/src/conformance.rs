//! The conformance suite every [`Database`] implementation must pass.
//!
//! Backend-agnostic: `run_all(make_db)` calls `make_db` for a fresh, empty database per case.
//! The SQLite backend runs it in its unit tests; a PostgreSQL backend runs the same function.
//! Panics (assertion failures) on the first violation, naming the case.

use std::future::Future;

use legato_protocol::{Change, EntityId, EntityType, ErrorCode, Operation};
use legato_testkit::fields;
use serde_json::{Value, json};

use crate::auth::Token;
use crate::db::{ChangeOutcome, Database, DbError, NewToken, NewUser, RECORD_BYTES, UserId};

/// Runs every case against fresh databases from `make_db`.
pub async fn run_all<D, F, Fut>(mut make_db: F)
where
    D: Database,
    F: FnMut() -> Fut,
    Fut: Future<Output = D>,
{
    users_and_tokens(make_db().await).await;
    devices_and_passwords(make_db().await).await;
    the_quota_refuses_growth_only(make_db().await).await;
    long_texts_are_recorded_once(make_db().await).await;
    pruning_keeps_ids_and_tombstones(make_db().await).await;
    pruning_goes_in_bounded_steps(make_db().await).await;
    pruned_conflict_records_keep_their_answer(make_db().await).await;
    the_quota_counts_records_kept_after_pruning(make_db().await).await;
    apply_is_exactly_once(make_db().await).await;
    unchanged_changes_are_flagged(make_db().await).await;
    reused_change_ids_are_refused(make_db().await).await;
    conflicts_and_tombstones(make_db().await).await;
    conflict_answers_are_final(make_db().await).await;
    rejected_changes_write_nothing(make_db().await).await;
    users_never_interfere(make_db().await).await;
    pages_follow_seq_order(make_db().await).await;
    the_commit_hook_sees_committed_outcomes_only(make_db().await).await;
    closed_database_refuses(make_db().await).await;
}

const NOW: i64 = 1_764_095_400_000;

/// A change for the conformance cases (goals need only a title).
pub fn change(
    change_id: &str,
    entity_id: &str,
    operation: Operation,
    data: Value,
    base_version: u64,
) -> Change {
    Change {
        change_id: change_id.to_owned(),
        entity_type: EntityType::Goals,
        entity_id: EntityId::new(entity_id).expect("valid test id"),
        operation,
        data: fields(data),
        base_version,
        client_id: "conformance-device".to_owned(),
        timestamp: NOW,
    }
}

pub(crate) async fn new_user<D: Database>(db: &D, email: &str) -> (UserId, Token) {
    let id = UserId::generate();
    let token = Token::generate();
    db.create_user(
        NewUser {
            id: id.clone(),
            email: email.to_owned(),
            password_hash: "$argon2id$placeholder".to_owned(),
            created_at_ms: NOW,
        },
        NewToken {
            hash: token.hash(),
            user_id: id.clone(),
            device_name: Some("laptop".to_owned()),
            created_at_ms: NOW,
        },
    )
    .await
    .expect("create user");
    (id, token)
}

async fn apply_one<D: Database>(db: &D, user: &UserId, change: Change) -> ChangeOutcome {
    let mut outcomes = db
        .apply_changes(user, vec![change], NOW)
        .await
        .expect("apply");
    assert_eq!(outcomes.len(), 1);
    outcomes.remove(0)
}

fn applied(outcome: &ChangeOutcome) -> (u64, u64) {
    match outcome {
        ChangeOutcome::Applied { version, seq, .. } => (*version, *seq),
        other => panic!("expected applied, got {other:?}"),
    }
}

async fn login<D: Database>(db: &D, user: &UserId, name: &str, at: i64) -> Token {
    let token = Token::generate();
    db.insert_token(NewToken {
        hash: token.hash(),
        user_id: user.clone(),
        device_name: Some(name.to_owned()),
        created_at_ms: at,
    })
    .await
    .unwrap();
    token
}

/// Tokens as devices: public ids, last use, the hello's client id, revoking one of the
/// user's own only, and a password change that revokes every other token at once.
async fn devices_and_passwords<D: Database>(db: D) {
    let (ann, first) = new_user(&db, "ann@example.com").await;
    let (bob, bobs) = new_user(&db, "bob@example.com").await;
    let laptop = login(&db, &ann, "laptop", NOW + 10).await;
    let phone = login(&db, &ann, "phone", NOW + 20).await;

    let record = db.user_for_token(laptop.hash()).await.unwrap().unwrap();
    assert_eq!(
        record.last_used_ms,
        NOW + 10,
        "a new token counts as used when issued"
    );
    db.touch_token(laptop.hash(), NOW + 500, Some("dev-laptop".into()))
        .await
        .unwrap();
    // Never moves back; a touch without a client id keeps the one recorded.
    db.touch_token(laptop.hash(), NOW + 400, None)
        .await
        .unwrap();
    let devices = db.devices(&ann).await.unwrap();
    let summary: Vec<_> = devices
        .iter()
        .map(|d| (d.name.as_deref(), d.client_id.as_deref(), d.last_used_ms))
        .collect();
    assert_eq!(
        summary,
        [
            (Some("laptop"), None, NOW),
            (Some("laptop"), Some("dev-laptop"), NOW + 500),
            (Some("phone"), None, NOW + 20)
        ],
        "devices_and_passwords: oldest first"
    );
    assert_eq!(devices[1].id, record.device_id);
    assert_eq!(devices[1].token_hash, laptop.hash());
    let mut ids: Vec<_> = devices.iter().map(|d| d.id.clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 3, "device ids are distinct");

    // Another user's device id is nobody's for ann.
    let bobs_device = db.devices(&bob).await.unwrap()[0].id.clone();
    assert_eq!(
        db.revoke_device(&ann, &bobs_device, NOW).await.unwrap(),
        None
    );
    assert!(db.user_for_token(bobs.hash()).await.unwrap().is_some());

    assert_eq!(
        db.revoke_device(&ann, &devices[2].id, NOW).await.unwrap(),
        Some(phone.hash())
    );
    assert_eq!(db.user_for_token(phone.hash()).await.unwrap(), None);
    assert_eq!(
        db.revoke_device(&ann, &devices[2].id, NOW).await.unwrap(),
        None
    );
    db.touch_token(phone.hash(), NOW + 900, None).await.unwrap();
    assert_eq!(db.devices(&ann).await.unwrap().len(), 2);

    assert_eq!(
        db.password_hash(&ann).await.unwrap().as_deref(),
        Some("$argon2id$placeholder")
    );
    let revoked = db
        .change_password(&ann, "$argon2id$new".into(), laptop.hash(), NOW)
        .await
        .unwrap();
    assert_eq!(revoked, [first.hash()]);
    assert_eq!(
        db.password_hash(&ann).await.unwrap().as_deref(),
        Some("$argon2id$new")
    );
    let left: Vec<_> = db
        .devices(&ann)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.token_hash)
        .collect();
    assert_eq!(left, [laptop.hash()]);
    assert!(db.user_for_token(bobs.hash()).await.unwrap().is_some());
    let unknown = db
        .change_password(&UserId::generate(), "x".into(), laptop.hash(), NOW)
        .await;
    assert!(matches!(unknown, Err(DbError::UnknownUser)), "{unknown:?}");
}

/// The storage quota: stored bytes follow every write; a write that grows an account past
/// the quota is `quota_exceeded` and stores nothing; deletes, shrinking writes and other
/// accounts go on.
async fn the_quota_refuses_growth_only<D: Database>(db: D) {
    let (ann, _) = new_user(&db, "ann@example.com").await;
    let (bob, _) = new_user(&db, "bob@example.com").await;
    assert_eq!(db.stored_bytes(&ann).await.unwrap(), 0);
    let big = "x".repeat(3_000);
    let created = apply_one(
        &db,
        &ann,
        change(
            "c1",
            "g1",
            Operation::Create,
            json!({"title": "t", "blob": big}),
            0,
        ),
    )
    .await;
    assert_eq!(applied(&created), (1, 1));
    let after_one = db.stored_bytes(&ann).await.unwrap();
    assert!(after_one > 3_000, "the state counted: {after_one}");

    db.set_user_quota(Some(after_one + 1_000));
    let refused = apply_one(
        &db,
        &ann,
        change(
            "c2",
            "g2",
            Operation::Create,
            json!({"title": "t", "blob": "y".repeat(3_000)}),
            0,
        ),
    )
    .await;
    assert!(
        matches!(
            &refused,
            ChangeOutcome::Rejected {
                code: ErrorCode::QuotaExceeded,
                ..
            }
        ),
        "the_quota_refuses_growth_only: {refused:?}"
    );
    assert_eq!(
        db.stored_bytes(&ann).await.unwrap(),
        after_one,
        "nothing stored"
    );
    let page = db.changes_since(&ann, &[], 0, 100).await.unwrap();
    assert_eq!(page.changes.len(), 1);
    // A small write still fits; a shrinking one and a delete always go.
    let small = apply_one(
        &db,
        &ann,
        change("c3", "g3", Operation::Create, json!({"title": "s"}), 0),
    )
    .await;
    assert_eq!(applied(&small).1, 2);
    db.set_user_quota(Some(1));
    let shrink = apply_one(
        &db,
        &ann,
        change("c4", "g1", Operation::Update, json!({"blob": "short"}), 1),
    )
    .await;
    assert_eq!(applied(&shrink), (2, 3));
    assert!(db.stored_bytes(&ann).await.unwrap() < after_one + 1_000);
    let deleted = apply_one(
        &db,
        &ann,
        change("c5", "g3", Operation::Delete, json!({}), 1),
    )
    .await;
    assert_eq!(applied(&deleted), (2, 4));
    // Bob is over the same tiny quota with his first write, and refused.
    let bobs = apply_one(
        &db,
        &bob,
        change("c1", "g1", Operation::Create, json!({"title": "t"}), 0),
    )
    .await;
    assert!(matches!(
        bobs,
        ChangeOutcome::Rejected {
            code: ErrorCode::QuotaExceeded,
            ..
        }
    ));
    db.set_user_quota(None);
    let bobs = apply_one(
        &db,
        &bob,
        change("c1", "g1", Operation::Create, json!({"title": "t"}), 0),
    )
    .await;
    assert_eq!(applied(&bobs), (1, 1));
}

/// A long text is stored in full once, in the entity's state; the change record keeps it
/// compactly, and a repeat of the change id is still answered with the full text.
async fn long_texts_are_recorded_once<D: Database>(db: D) {
    let (ann, _) = new_user(&db, "ann@example.com").await;
    let blob = "slow practice, hands separately. ".repeat(3_000);
    let create = change(
        "c1",
        "g1",
        Operation::Create,
        json!({"title": "t", "blob": blob}),
        0,
    );
    assert_eq!(applied(&apply_one(&db, &ann, create.clone()).await), (1, 1));
    let stored = db.stored_bytes(&ann).await.unwrap();
    assert!(
        stored < blob.len() as u64 + 5_000,
        "long_texts_are_recorded_once: {stored} bytes stored for a text of {}",
        blob.len()
    );
    match apply_one(&db, &ann, create).await {
        ChangeOutcome::Duplicate { touched, .. } => assert_eq!(touched["blob"], json!(blob)),
        other => panic!("long_texts_are_recorded_once: {other:?}"),
    }
}

/// Applies `change` with `now_ms` as the server's time (when it is recorded).
async fn apply_at<D: Database>(
    db: &D,
    user: &UserId,
    change: Change,
    now_ms: i64,
) -> ChangeOutcome {
    let mut outcomes = db
        .apply_changes(user, vec![change], now_ms)
        .await
        .expect("apply");
    outcomes.remove(0)
}

/// Prunes everything before `cutoff_ms`, step after step.
async fn prune_all<D: Database>(db: &D, cutoff_ms: i64) -> crate::db::PruneStep {
    let mut total = crate::db::PruneStep::default();
    for _ in 0..10_000 {
        let step = db.prune_step(cutoff_ms, 100).await.expect("prune");
        total.records += step.records;
        total.tombstones += step.tombstones;
        total.conflicts += step.conflicts;
        total.freed_bytes += step.freed_bytes;
        if step.done {
            total.done = true;
            return total;
        }
    }
    panic!("pruning never finished");
}

/// Pruning (docs/server-choices.md, "Pruning"): records and tombstones before the cutoff
/// lose their payload, and the account's stored bytes drop by exactly that, to its live
/// states plus `{}` per tombstone. Every pruned change id is still a `duplicate` (standing
/// on the entity as it is now, `unchanged`), never applied again, and other content under
/// it is still `change_id_reused`; catch-up sends the same entities, versions, seqs and
/// tombstones as before; later records and other accounts are untouched; a write the quota
/// refused goes once pruning made room.
async fn pruning_keeps_ids_and_tombstones<D: Database>(db: D) {
    let (ann, _) = new_user(&db, "ann@example.com").await;
    let (bob, _) = new_user(&db, "bob@example.com").await;
    let old = NOW - 1_000;
    let blob = "long practice notes ".repeat(200);
    let create = change(
        "c1",
        "g1",
        Operation::Create,
        json!({"title": "Scales", "progress": 1, "notes": blob}),
        0,
    );
    let inc = change(
        "c2",
        "g1",
        Operation::Update,
        json!({"progress": {"$inc": 2}}),
        1,
    );
    let doomed = change(
        "c3",
        "g2",
        Operation::Create,
        json!({"title": "Gone", "notes": blob}),
        0,
    );
    let delete = change("c4", "g2", Operation::Delete, json!({}), 1);
    for c in [&create, &inc, &doomed, &delete] {
        applied(&apply_at(&db, &ann, c.clone(), old).await);
    }
    // After the cutoff: kept whole.
    let late = change(
        "c5",
        "g1",
        Operation::Update,
        json!({"title": "Scales, slowly"}),
        2,
    );
    assert_eq!(
        applied(&apply_at(&db, &ann, late.clone(), NOW).await),
        (3, 5)
    );
    applied(&apply_at(&db, &bob, create.clone(), old).await);
    let bob_before = db.stored_bytes(&bob).await.unwrap();
    let before = db.changes_since(&ann, &[], 0, 100).await.unwrap();
    let ann_before = db.stored_bytes(&ann).await.unwrap();
    // A full account: a write that grows it is refused.
    let grow = change("c7", "g3", Operation::Create, json!({"title": "New"}), 0);
    db.set_user_quota(Some(ann_before));
    assert!(
        matches!(
            apply_at(&db, &ann, grow.clone(), NOW).await,
            ChangeOutcome::Rejected {
                code: ErrorCode::QuotaExceeded,
                ..
            }
        ),
        "pruning_keeps_ids_and_tombstones: the account is full"
    );

    // Bob's records are as old as Ann's: pruning is per row, every account's alike.
    let pruned = prune_all(&db, old + 1).await;
    assert_eq!(
        (pruned.records, pruned.tombstones),
        (5, 1),
        "pruning_keeps_ids_and_tombstones: Ann's 4 old records, Bob's 1, Ann's tombstone"
    );
    let ann_after = db.stored_bytes(&ann).await.unwrap();
    let bob_after = db.stored_bytes(&bob).await.unwrap();
    assert_eq!(
        pruned.freed_bytes,
        (ann_before - ann_after) + (bob_before - bob_after),
        "pruning_keeps_ids_and_tombstones: the bytes freed are the bytes the accounts lost"
    );
    // What Ann stores now: her live state, `{}` for the tombstone, and c5's record.
    let after = db.changes_since(&ann, &[], 0, 100).await.unwrap();
    let live: usize = after
        .changes
        .iter()
        .filter(|u| !u.deleted)
        .map(|u| u.data.get().len())
        .sum();
    let late_record = r#"{"title":"Scales, slowly"}"#.len();
    let record = RECORD_BYTES as usize;
    assert_eq!(
        ann_after,
        (live + 2 + late_record + 5 * record) as u64,
        "pruning_keeps_ids_and_tombstones: stored bytes after pruning (5 records kept)"
    );
    assert!(
        ann_before - ann_after > blob.len() as u64,
        "the tombstone's last state went"
    );

    // Catch-up is the same, tombstone included.
    let summary = |page: &crate::db::ChangesPage| -> Vec<(String, u64, u64, bool, String)> {
        page.changes
            .iter()
            .map(|u| {
                (
                    u.entity_id.to_string(),
                    u.version,
                    u.seq,
                    u.deleted,
                    u.data.get().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(summary(&after), summary(&before));
    assert_eq!(after.latest_seq, before.latest_seq);

    // Every pruned id is still a duplicate, never applied again.
    match apply_at(&db, &ann, inc.clone(), NOW).await {
        ChangeOutcome::Duplicate {
            version: 3,
            seq: 5,
            touched,
            unchanged: true,
        } => assert_eq!(touched, fields(json!({"progress": 3}))),
        other => panic!("pruning_keeps_ids_and_tombstones: repeat of c2: {other:?}"),
    }
    match apply_at(&db, &ann, create.clone(), NOW).await {
        ChangeOutcome::Duplicate {
            version: 3,
            seq: 5,
            touched,
            unchanged: true,
        } => {
            assert_eq!(touched["progress"], json!(3));
            assert_eq!(touched["title"], json!("Scales, slowly"));
            assert_eq!(touched["notes"], json!(blob));
        }
        other => panic!("pruning_keeps_ids_and_tombstones: repeat of c1: {other:?}"),
    }
    for repeat in [doomed.clone(), delete.clone()] {
        match apply_at(&db, &ann, repeat, NOW).await {
            ChangeOutcome::Duplicate {
                version: 2,
                seq: 4,
                touched,
                unchanged: true,
            } => assert!(touched.is_empty(), "a tombstone has no fields"),
            other => panic!("pruning_keeps_ids_and_tombstones: repeat on g2: {other:?}"),
        }
    }
    // The record after the cutoff still answers exactly what it recorded.
    assert!(matches!(
        apply_at(&db, &ann, late, NOW).await,
        ChangeOutcome::Duplicate {
            version: 3,
            seq: 5,
            unchanged: false,
            ..
        }
    ));
    let mut other = inc.clone();
    other.data = fields(json!({"progress": {"$inc": 5}}));
    assert!(matches!(
        apply_at(&db, &ann, other, NOW).await,
        ChangeOutcome::Rejected {
            code: ErrorCode::ChangeIdReused,
            ..
        }
    ));
    let again = db.changes_since(&ann, &[], 0, 100).await.unwrap();
    assert_eq!(summary(&again), summary(&before), "nothing applied twice");
    assert_eq!(db.stored_bytes(&ann).await.unwrap(), ann_after);

    // The tombstone still refuses changes (rule 5), now with no last state to show.
    match apply_at(
        &db,
        &ann,
        change("c6", "g2", Operation::Update, json!({"title": "Back"}), 1),
        NOW,
    )
    .await
    {
        ChangeOutcome::Conflict(c) => {
            assert!(c.remote_deleted);
            assert_eq!(c.remote_version, 2);
            assert!(c.remote.is_empty(), "{:?}", c.remote);
            assert_eq!(c.fields, vec!["title".to_owned()]);
        }
        other => panic!("pruning_keeps_ids_and_tombstones: update of a tombstone: {other:?}"),
    }
    // Its conflict record is kept and counted: the record and its field names.
    let ann_after = ann_after + (record + r#"["title"]"#.len()) as u64;
    assert_eq!(db.stored_bytes(&ann).await.unwrap(), ann_after);

    // Pruning again finds nothing.
    let second = prune_all(&db, old + 1).await;
    assert_eq!(
        (second.records, second.tombstones, second.freed_bytes),
        (0, 0, 0)
    );

    // The write the quota refused goes now that pruning made room (raised by what the
    // records pruning keeps and the conflict record cost).
    db.set_user_quota(Some(ann_before + 5 * RECORD_BYTES as u64));
    assert_eq!(applied(&apply_at(&db, &ann, grow, NOW).await), (1, 6));
    db.set_user_quota(None);
}

/// Records of `conflict` answers are pruned like change records (docs/server-choices.md,
/// "Pruning"): one recorded before the cutoff drops its field names and keeps its id and
/// data hash, so a repeat, however late, is still `conflict` (never applied beside its
/// settlement), naming the fields the change names when it would now apply; other data
/// under the id is still `change_id_reused`. The account's stored bytes drop by exactly
/// the field names; the record stays counted. A later conflict record is kept whole.
async fn pruned_conflict_records_keep_their_answer<D: Database>(db: D) {
    let (ann, _) = new_user(&db, "ann@example.com").await;
    let old = NOW - 1_000;
    let create = change(
        "c1",
        "g1",
        Operation::Create,
        json!({"title": "A", "progress": 0}),
        0,
    );
    assert_eq!(applied(&apply_at(&db, &ann, create, old).await), (1, 1));
    let retitle = change("c2", "g1", Operation::Update, json!({"title": "B"}), 1);
    assert_eq!(applied(&apply_at(&db, &ann, retitle, old).await), (2, 2));
    let conflicted = change(
        "c3",
        "g1",
        Operation::Update,
        json!({"title": "C", "progress": {"$inc": 5}}),
        1,
    );
    match apply_at(&db, &ann, conflicted.clone(), old).await {
        ChangeOutcome::Conflict(c) => assert_eq!(c.fields, vec!["title".to_owned()]),
        other => panic!("pruned_conflict_records_keep_their_answer: {other:?}"),
    }
    let late = change("c5", "g1", Operation::Update, json!({"title": "D"}), 1);
    assert!(matches!(
        apply_at(&db, &ann, late.clone(), NOW).await,
        ChangeOutcome::Conflict(_)
    ));
    let before = db.stored_bytes(&ann).await.unwrap();
    let states: u64 = db
        .changes_since(&ann, &[], 0, 10)
        .await
        .unwrap()
        .changes
        .iter()
        .map(|u| u.data.get().len() as u64)
        .sum();
    let touched = (r#"{"progress":0,"title":"A"}"#.len() + r#"{"title":"B"}"#.len()) as u64;
    let fields = r#"["title"]"#.len() as u64;
    assert_eq!(
        before,
        states + touched + 2 * fields + 4 * RECORD_BYTES as u64,
        "pruned_conflict_records_keep_their_answer: two change records, two conflict records"
    );

    let pruned = prune_all(&db, old + 1).await;
    assert_eq!(
        (pruned.records, pruned.tombstones, pruned.conflicts),
        (2, 0, 1),
        "pruned_conflict_records_keep_their_answer"
    );
    assert_eq!(pruned.freed_bytes, touched + fields);
    let after = db.stored_bytes(&ann).await.unwrap();
    assert_eq!(after, before - touched - fields);
    assert_eq!(after, states + fields + 4 * RECORD_BYTES as u64);

    // Another device sets the title c3 wanted: c3 alone would now apply. A late repeat is
    // still a conflict, on the fields it names (its recorded ones are gone).
    let same_title = change("c4", "g1", Operation::Update, json!({"title": "C"}), 2);
    assert_eq!(applied(&apply_at(&db, &ann, same_title, NOW).await), (3, 3));
    let mut rebased = conflicted.clone();
    rebased.base_version = 3;
    match apply_at(&db, &ann, rebased, NOW).await {
        ChangeOutcome::Conflict(c) => {
            assert_eq!(c.change_id, "c3");
            assert_eq!((c.remote_version, c.remote_deleted), (3, false));
            assert_eq!(c.local, conflicted.data);
            assert_eq!(c.fields, vec!["progress".to_owned(), "title".to_owned()]);
        }
        other => panic!("pruned_conflict_records_keep_their_answer: a late repeat: {other:?}"),
    }
    let mut other_data = conflicted.clone();
    other_data.data.insert("title".into(), json!("Z"));
    let outcome = apply_at(&db, &ann, other_data, NOW).await;
    assert!(reused(&outcome), "{outcome:?}");
    // The later record, kept whole, is still a conflict too.
    match apply_at(&db, &ann, late, NOW).await {
        ChangeOutcome::Conflict(c) => assert_eq!(c.fields, vec!["title".to_owned()]),
        other => panic!("pruned_conflict_records_keep_their_answer: {other:?}"),
    }
    let page = db.changes_since(&ann, &[], 0, 10).await.unwrap();
    assert_eq!(page.latest_seq, 3, "no repeat wrote anything");
    let g1 = page.changes[0].to_update_data().unwrap();
    assert_eq!(g1.data.get("progress"), Some(&json!(0)), "never applied");
    let again = prune_all(&db, old + 1).await;
    assert_eq!((again.conflicts, again.freed_bytes), (0, 0));
}

/// Pruning leaves each record's [`RECORD_BYTES`] counted, so a quota is reached by many
/// small changes however often pruning runs: with room for the state and ten records, the
/// create and nine repeated writes go, the eleventh write is `quota_exceeded` (and so is a
/// conflict, which would be recorded too), the account holds exactly the state and ten
/// records, and a delete still goes.
async fn the_quota_counts_records_kept_after_pruning<D: Database>(db: D) {
    let (ann, _) = new_user(&db, "ann@example.com").await;
    let old = NOW - 1_000;
    let state = r#"{"title":"t"}"#.len() as u64;
    let record = RECORD_BYTES as u64;
    // The state, ten records, and the payload of the last one before it is pruned.
    db.set_user_quota(Some(state + 10 * record + state));
    let create = change("c0", "g1", Operation::Create, json!({"title": "t"}), 0);
    assert_eq!(applied(&apply_at(&db, &ann, create, old).await), (1, 1));
    let mut written = 1;
    let refused = loop {
        prune_all(&db, old + 1).await;
        let write = change(
            &format!("c{written}"),
            "g1",
            Operation::Update,
            json!({"title": "t"}),
            1,
        );
        match apply_at(&db, &ann, write, old).await {
            ChangeOutcome::Applied { .. } => written += 1,
            other => break other,
        }
        assert!(written < 100, "the quota never filled");
    };
    assert!(
        matches!(
            refused,
            ChangeOutcome::Rejected {
                code: ErrorCode::QuotaExceeded,
                ..
            }
        ),
        "the_quota_counts_records_kept_after_pruning: {refused:?}"
    );
    assert_eq!(written, 10, "the_quota_counts_records_kept_after_pruning");
    assert_eq!(db.stored_bytes(&ann).await.unwrap(), state + 10 * record);
    // A change that conflicts would be recorded for good: refused too.
    let stale = change("x1", "g1", Operation::Update, json!({"title": "u"}), 0);
    let outcome = apply_at(&db, &ann, stale.clone(), NOW).await;
    assert!(
        matches!(
            outcome,
            ChangeOutcome::Rejected {
                code: ErrorCode::QuotaExceeded,
                ..
            }
        ),
        "the_quota_counts_records_kept_after_pruning: {outcome:?}"
    );
    assert_eq!(db.stored_bytes(&ann).await.unwrap(), state + 10 * record);
    // A delete still goes (its record costs a record; the state shrinks to `{}`).
    let delete = change("d1", "g1", Operation::Delete, json!({}), 1);
    assert_eq!(applied(&apply_at(&db, &ann, delete, NOW).await).1, 2);
    db.set_user_quota(None);
    // With no quota the conflict is answered and recorded.
    assert!(matches!(
        apply_at(&db, &ann, stale, NOW).await,
        ChangeOutcome::Conflict(_)
    ));
}

/// A prune step prunes at most `max_rows` records and as many tombstones, and says when
/// nothing is left: steps of 2 over 5 records and 3 tombstones take 3 steps.
async fn pruning_goes_in_bounded_steps<D: Database>(db: D) {
    let (ann, _) = new_user(&db, "ann@example.com").await;
    let old = NOW - 1_000;
    for n in 0..3 {
        let id = format!("g{n}");
        applied(
            &apply_at(
                &db,
                &ann,
                change(
                    &format!("c{n}"),
                    &id,
                    Operation::Create,
                    json!({"title": "t"}),
                    0,
                ),
                old,
            )
            .await,
        );
        if n < 2 {
            applied(
                &apply_at(
                    &db,
                    &ann,
                    change(&format!("d{n}"), &id, Operation::Delete, json!({}), 1),
                    old,
                )
                .await,
            );
        }
    }
    applied(
        &apply_at(
            &db,
            &ann,
            change("c9", "g2", Operation::Delete, json!({}), 1),
            old,
        )
        .await,
    );
    // 6 records (3 creates, 3 deletes), 3 tombstones.
    let mut steps = Vec::new();
    loop {
        let step = db.prune_step(old + 1, 2).await.unwrap();
        assert!(
            step.records <= 2 && step.tombstones <= 2,
            "pruning_goes_in_bounded_steps: {step:?}"
        );
        steps.push((step.records, step.tombstones));
        if step.done {
            break;
        }
        assert!(
            steps.len() < 10,
            "pruning_goes_in_bounded_steps: never done"
        );
    }
    assert_eq!(
        steps,
        [(2, 2), (2, 1), (2, 0), (0, 0)],
        "pruning_goes_in_bounded_steps"
    );
    assert_eq!(
        db.stored_bytes(&ann).await.unwrap(),
        3 * 2 + 6 * RECORD_BYTES as u64,
        "three tombstones of `{{}}` and six records"
    );
}

async fn users_and_tokens<D: Database>(db: D) {
    db.health().await.expect("health");
    let (ann, token) = new_user(&db, "ann@example.com").await;
    assert_eq!(
        db.user_for_token(token.hash())
            .await
            .unwrap()
            .map(|t| t.user_id),
        Some(ann.clone())
    );
    assert_eq!(
        db.user_for_token(Token::generate().hash()).await.unwrap(),
        None
    );

    let taken = db
        .create_user(
            NewUser {
                id: UserId::generate(),
                email: "ann@example.com".to_owned(),
                password_hash: "x".to_owned(),
                created_at_ms: NOW,
            },
            NewToken {
                hash: Token::generate().hash(),
                user_id: UserId::generate(),
                device_name: None,
                created_at_ms: NOW,
            },
        )
        .await;
    assert!(
        matches!(taken, Err(DbError::EmailTaken)),
        "users_and_tokens: {taken:?}"
    );

    let creds = db
        .credentials("ann@example.com")
        .await
        .unwrap()
        .expect("credentials");
    assert_eq!(creds.user_id, ann);
    assert_eq!(creds.password_hash, "$argon2id$placeholder");
    assert!(
        db.credentials("nobody@example.com")
            .await
            .unwrap()
            .is_none()
    );

    let second = Token::generate();
    db.insert_token(NewToken {
        hash: second.hash(),
        user_id: ann.clone(),
        device_name: None,
        created_at_ms: NOW,
    })
    .await
    .unwrap();
    assert!(db.revoke_token(token.hash(), NOW).await.unwrap());
    assert!(
        !db.revoke_token(token.hash(), NOW).await.unwrap(),
        "revoking twice"
    );
    assert_eq!(db.user_for_token(token.hash()).await.unwrap(), None);
    assert_eq!(
        db.user_for_token(second.hash())
            .await
            .unwrap()
            .map(|t| t.user_id),
        Some(ann.clone())
    );

    let unknown = db
        .apply_changes(
            &UserId::generate(),
            vec![change(
                "c",
                "g",
                Operation::Create,
                json!({"title": "t"}),
                0,
            )],
            NOW,
        )
        .await;
    assert!(matches!(unknown, Err(DbError::UnknownUser)), "{unknown:?}");
}

async fn apply_is_exactly_once<D: Database>(db: D) {
    let (ann, _) = new_user(&db, "ann@example.com").await;
    let create = change(
        "c1",
        "g1",
        Operation::Create,
        json!({"title": "Scales", "x-new": {"keep": 1}}),
        0,
    );
    let outcome = apply_one(&db, &ann, create.clone()).await;
    assert_eq!(applied(&outcome), (1, 1));
    let ChangeOutcome::Applied {
        update: Some(update),
        ..
    } = &outcome
    else {
        panic!("a create is fanned out: {outcome:?}");
    };
    assert_eq!((update.seq, update.version, update.full), (1, 1, false));
    assert_eq!(update.change_id, "c1");

    // Rule 1: the same change id again is answered with the recorded result.
    match apply_one(&db, &ann, create.clone()).await {
        ChangeOutcome::Duplicate {
            version: 1, seq: 1, ..
        } => {}
        other => panic!("expected duplicate of c1, got {other:?}"),
    }

    let update = change(
        "c2",
        "g1",
        Operation::Update,
        json!({"title": "Scales, slowly"}),
        1,
    );
    let outcome = apply_one(&db, &ann, update).await;
    assert_eq!(applied(&outcome), (2, 2));
    if let ChangeOutcome::Applied { touched, .. } = &outcome {
        assert_eq!(touched.get("title"), Some(&json!("Scales, slowly")));
    }

    // Rule 6: a value equal to the current one changes nothing, but the id is recorded.
    let same = change(
        "c3",
        "g1",
        Operation::Update,
        json!({"title": "Scales, slowly"}),
        2,
    );
    match apply_one(&db, &ann, same.clone()).await {
        ChangeOutcome::Applied {
            version: 2,
            seq: 2,
            update: None,
            ..
        } => {}
        other => panic!("expected an unchanged ack at v2/seq2, got {other:?}"),
    }
    match apply_one(&db, &ann, same).await {
        ChangeOutcome::Duplicate {
            version: 2, seq: 2, ..
        } => {}
        other => panic!("expected duplicate of the no-op, got {other:?}"),
    }
    let page = db.changes_since(&ann, &[], 0, 100).await.unwrap();
    assert_eq!(page.latest_seq, 2, "a no-op takes no seq");

    // The same id twice in one call: the second is a duplicate of the first.
    let a = change(
        "c4",
        "g2",
        Operation::Create,
        json!({"title": "Arpeggios"}),
        0,
    );
    let outcomes = db
        .apply_changes(&ann, vec![a.clone(), a], NOW)
        .await
        .unwrap();
    assert_eq!(applied(&outcomes[0]), (1, 3));
    assert!(
        matches!(
            outcomes[1],
            ChangeOutcome::Duplicate {
                version: 1,
                seq: 3,
                ..
            }
        ),
        "{outcomes:?}"
    );

    // Unknown fields are kept verbatim.
    let page = db
        .changes_since(&ann, &[EntityType::Goals], 0, 100)
        .await
        .unwrap();
    let g1 = page
        .changes
        .iter()
        .find(|u| u.entity_id.as_str() == "g1")
        .unwrap()
        .to_update_data()
        .unwrap();
    assert_eq!(g1.data.get("x-new"), Some(&json!({"keep": 1})));
    assert!(g1.full);
}

/// Rule 6 outcomes say they wrote nothing (`unchanged`), and so do their duplicates: their
/// seq is the entity's last change, maybe another device's, never one of the change's own.
async fn unchanged_changes_are_flagged<D: Database>(db: D) {
    let (ann, _) = new_user(&db, "ann@example.com").await;
    let create = change("c1", "g1", Operation::Create, json!({"title": "A"}), 0);
    assert!(
        matches!(
            apply_one(&db, &ann, create.clone()).await,
            ChangeOutcome::Applied {
                unchanged: false,
                ..
            }
        ),
        "a create writes"
    );
    let edit = change("c2", "g1", Operation::Update, json!({"title": "B"}), 1);
    match apply_one(&db, &ann, edit).await {
        ChangeOutcome::Applied {
            version: 2,
            seq: 2,
            unchanged: false,
            ..
        } => {}
        other => panic!("expected a written update at v2/seq2, got {other:?}"),
    }

    let same = change("c3", "g1", Operation::Update, json!({"title": "B"}), 2);
    match apply_one(&db, &ann, same.clone()).await {
        ChangeOutcome::Applied {
            version: 2,
            seq: 2,
            update: None,
            unchanged: true,
            ..
        } => {}
        other => panic!("expected an unchanged ack at v2/seq2, got {other:?}"),
    }
    match apply_one(&db, &ann, same).await {
        ChangeOutcome::Duplicate {
            version: 2,
            seq: 2,
            unchanged: true,
            ..
        } => {}
        other => panic!("the duplicate of a no-op is unchanged too, got {other:?}"),
    }
    match apply_one(&db, &ann, create).await {
        ChangeOutcome::Duplicate {
            version: 1,
            seq: 1,
            unchanged: false,
            ..
        } => {}
        other => panic!("the duplicate of a write is not unchanged, got {other:?}"),
    }

    // Within one call, and for a create of an existing id with the current values.
    let noop = change("c4", "g1", Operation::Update, json!({"title": "B"}), 2);
    let recreate = change("c5", "g1", Operation::Create, json!({"title": "B"}), 0);
    let outcomes = db
        .apply_changes(&ann, vec![noop.clone(), noop, recreate], NOW)
        .await
        .unwrap();
    assert!(
        matches!(
            outcomes[..],
            [
                ChangeOutcome::Applied {
                    seq: 2,
                    unchanged: true,
                    ..
                },
                ChangeOutcome::Duplicate {
                    seq: 2,
                    unchanged: true,
                    ..
                },
                ChangeOutcome::Applied {
                    version: 2,
                    seq: 2,
                    unchanged: true,
                    ..
                },
            ]
        ),
        "{outcomes:?}"
    );
    let page = db.changes_since(&ann, &[], 0, 10).await.unwrap();
    assert_eq!(page.latest_seq, 2, "no-ops take no seq");
}

fn reused(outcome: &ChangeOutcome) -> bool {
    matches!(
        outcome,
        ChangeOutcome::Rejected {
            code: ErrorCode::ChangeIdReused,
            ..
        }
    )
}

/// Rule 1 answers a seen change id with its recorded result only when the change is the same
/// one: same entity type and id, operation, data and base version. Another change under that
/// id (a device restored from a copy of another's data folds new edits into changes the
/// original already sent) is refused with `change_id_reused` and writes nothing, instead of a
/// `duplicate` that would silently drop it. The client id and timestamp are not content (a
/// restored device resends under a new client id; timestamps are clamped), nor are key order
/// or the `$deflate` encoding of a value.
async fn reused_change_ids_are_refused<D: Database>(db: D) {
    let (ann, _) = new_user(&db, "ann@example.com").await;
    let notes = "Scales in thirds, slowly. ".repeat(60);
    let create = change(
        "c1",
        "g1",
        Operation::Create,
        json!({"title": "A", "notes": notes}),
        0,
    );
    assert_eq!(applied(&apply_one(&db, &ann, create.clone()).await), (1, 1));

    let mut other_title = create.clone();
    other_title.data.insert("title".into(), json!("B"));
    let mut other_base = create.clone();
    other_base.base_version = 1;
    let mut other_entity = create.clone();
    other_entity.entity_id = EntityId::new("g2").unwrap();
    let mut other_type = create.clone();
    other_type.entity_type = EntityType::Repertoire;
    let mut other_operation = create.clone();
    other_operation.operation = Operation::Update;
    let mut fewer_fields = create.clone();
    fewer_fields.data.remove("notes");
    for (what, reuse) in [
        ("data", other_title.clone()),
        ("baseVersion", other_base),
        ("entityId", other_entity),
        ("entityType", other_type),
        ("operation", other_operation),
        ("a field less", fewer_fields),
    ] {
        let outcome = apply_one(&db, &ann, reuse).await;
        assert!(reused(&outcome), "other {what}: {outcome:?}");
    }
    // Refusals are not recorded: the same reuse is refused again, evaluated afresh.
    let outcome = apply_one(&db, &ann, other_title).await;
    assert!(reused(&outcome), "{outcome:?}");
    let page = db.changes_since(&ann, &[], 0, 10).await.unwrap();
    assert_eq!((page.latest_seq, page.changes.len()), (1, 1));
    let g1 = page.changes[0].to_update_data().unwrap();
    assert_eq!(
        g1.data.get("title"),
        Some(&json!("A")),
        "nothing was applied"
    );

    // The same change from another client, later, keys reordered, a value deflated.
    let mut resent = change(
        "c1",
        "g1",
        Operation::Create,
        json!({"notes": {"$deflate": legato_protocol::deflate_string(&notes)}, "title": "A"}),
        0,
    );
    resent.client_id = "restored-device".to_owned();
    resent.timestamp = NOW - 1000;
    match apply_one(&db, &ann, resent).await {
        ChangeOutcome::Duplicate {
            version: 1, seq: 1, ..
        } => {}
        other => panic!("the same content is a duplicate, got {other:?}"),
    }

    // Within one call, and for the record of a no-op.
    let first = change("c2", "g1", Operation::Update, json!({"title": "C"}), 1);
    let second = change("c2", "g1", Operation::Update, json!({"title": "D"}), 1);
    let noop = change("c3", "g1", Operation::Update, json!({"title": "C"}), 2);
    let noop_reused = change("c3", "g1", Operation::Update, json!({"title": "E"}), 2);
    let outcomes = db
        .apply_changes(&ann, vec![first, second, noop, noop_reused], NOW)
        .await
        .unwrap();
    assert_eq!(applied(&outcomes[0]), (2, 2));
    assert!(reused(&outcomes[1]), "{outcomes:?}");
    assert!(
        matches!(
            outcomes[2],
            ChangeOutcome::Applied {
                unchanged: true,
                ..
            }
        ),
        "{outcomes:?}"
    );
    assert!(reused(&outcomes[3]), "{outcomes:?}");
    let page = db.changes_since(&ann, &[], 0, 10).await.unwrap();
    assert_eq!(page.latest_seq, 2);
    let g1 = page.changes[0].to_update_data().unwrap();
    assert_eq!(g1.data.get("title"), Some(&json!("C")));
}

async fn conflicts_and_tombstones<D: Database>(db: D) {
    let (ann, _) = new_user(&db, "ann@example.com").await;
    applied(
        &apply_one(
            &db,
            &ann,
            change(
                "c1",
                "g1",
                Operation::Create,
                json!({"title": "A", "notes": "n"}),
                0,
            ),
        )
        .await,
    );
    applied(
        &apply_one(
            &db,
            &ann,
            change("c2", "g1", Operation::Update, json!({"title": "B"}), 1),
        )
        .await,
    );

    // Stale base, overlapping field with a different value: conflict on that field only.
    match apply_one(
        &db,
        &ann,
        change(
            "c3",
            "g1",
            Operation::Update,
            json!({"title": "C", "notes": "n"}),
            1,
        ),
    )
    .await
    {
        ChangeOutcome::Conflict(c) => {
            assert_eq!(c.fields, vec!["title".to_owned()]);
            assert_eq!(
                (c.base_version, c.remote_version, c.remote_deleted),
                (1, 2, false)
            );
            assert_eq!(c.remote.get("title"), Some(&json!("B")));
            assert_eq!(c.local.get("title"), Some(&json!("C")));
            assert_eq!(c.change_id, "c3");
        }
        other => panic!("expected conflict, got {other:?}"),
    }
    // Stale base, field nobody else touched: applied.
    assert_eq!(
        applied(
            &apply_one(
                &db,
                &ann,
                change("c4", "g1", Operation::Update, json!({"notes": "m"}), 1)
            )
            .await
        ),
        (3, 3)
    );

    // Delete on the current version: tombstone.
    let outcome = apply_one(
        &db,
        &ann,
        change("c5", "g1", Operation::Delete, json!({}), 3),
    )
    .await;
    assert_eq!(applied(&outcome), (4, 4));
    let ChangeOutcome::Applied {
        update: Some(u), ..
    } = outcome
    else {
        panic!()
    };
    assert!(u.deleted);

    // Update of a deleted entity: conflict with remoteDeleted, never a resurrection.
    match apply_one(
        &db,
        &ann,
        change("c6", "g1", Operation::Update, json!({"title": "D"}), 4),
    )
    .await
    {
        ChangeOutcome::Conflict(c) => {
            assert!(c.remote_deleted);
            assert_eq!(c.remote_version, 4);
            assert_eq!(c.fields, vec!["title".to_owned()]);
            assert_eq!(
                c.remote.get("title"),
                Some(&json!("B")),
                "last state before the delete"
            );
        }
        other => panic!("expected remoteDeleted conflict, got {other:?}"),
    }
    let page = db.changes_since(&ann, &[], 0, 10).await.unwrap();
    assert_eq!(page.changes.len(), 1);
    let tomb = page.changes[0].to_update_data().unwrap();
    assert!(tomb.deleted && tomb.data.is_empty(), "{tomb:?}");
    assert_eq!((tomb.version, tomb.seq), (4, 4));

    // Unknown ids.
    for op in [Operation::Update, Operation::Delete] {
        match apply_one(
            &db,
            &ann,
            change("c7", "nope", op, json!({"title": "x"}), 1),
        )
        .await
        {
            ChangeOutcome::Rejected {
                code: ErrorCode::NotFound,
                ..
            } => {}
            other => panic!("expected not_found, got {other:?}"),
        }
    }
}

/// A change id answered `conflict` keeps that answer (a deviation from rule 1, which
/// evaluates it afresh; docs/PROTOCOL-NOTES.md). The device that got the answer settles the
/// conflict under a new change id, so the conflicted change applying later, sent again by a
/// copy of that device's data dir or after a lost answer, would apply the same edit twice
/// (an increment counted twice). A repeat with the same data is answered `conflict` again,
/// against the current state, whatever its base version (a later change's base moves when an
/// earlier one is acknowledged); other data under the id is `change_id_reused`.
async fn conflict_answers_are_final<D: Database>(db: D) {
    let (ann, _) = new_user(&db, "ann@example.com").await;
    let create = change(
        "c1",
        "g1",
        Operation::Create,
        json!({"title": "A", "progress": 0}),
        0,
    );
    assert_eq!(applied(&apply_one(&db, &ann, create).await), (1, 1));
    let retitle = change("c2", "g1", Operation::Update, json!({"title": "B"}), 1);
    assert_eq!(applied(&apply_one(&db, &ann, retitle).await), (2, 2));
    let conflicted = change(
        "c3",
        "g1",
        Operation::Update,
        json!({"title": "C", "progress": {"$inc": 5}}),
        1,
    );
    match apply_one(&db, &ann, conflicted.clone()).await {
        ChangeOutcome::Conflict(c) => assert_eq!(c.fields, vec!["title".to_owned()]),
        other => panic!("expected conflict, got {other:?}"),
    }
    // Another device sets the title c3 wanted: c3 alone would now apply.
    let same_title = change("c4", "g1", Operation::Update, json!({"title": "C"}), 2);
    assert_eq!(applied(&apply_one(&db, &ann, same_title).await), (3, 3));

    let mut from_a_copy = conflicted.clone();
    from_a_copy.client_id = "restored-device".to_owned();
    let mut rebased = conflicted.clone();
    rebased.base_version = 3;
    for (what, repeat) in [("a copy", from_a_copy), ("rebased", rebased)] {
        match apply_one(&db, &ann, repeat).await {
            ChangeOutcome::Conflict(c) => {
                assert_eq!(c.change_id, "c3", "{what}");
                assert_eq!((c.remote_version, c.remote_deleted), (3, false), "{what}");
                assert_eq!(c.remote.get("title"), Some(&json!("C")), "{what}");
                assert_eq!(c.local, conflicted.data, "{what}");
                assert!(!c.fields.is_empty(), "{what}: a conflict names its fields");
            }
            other => panic!("{what}: a conflicted change id stays conflicted, got {other:?}"),
        }
    }
    let mut other_data = conflicted.clone();
    other_data.data.insert("title".into(), json!("Z"));
    let outcome = apply_one(&db, &ann, other_data).await;
    assert!(reused(&outcome), "{outcome:?}");

    let page = db.changes_since(&ann, &[], 0, 10).await.unwrap();
    assert_eq!(page.latest_seq, 3, "no repeat wrote anything");
    let g1 = page.changes[0].to_update_data().unwrap();
    assert_eq!(
        g1.data.get("progress"),
        Some(&json!(0)),
        "the increment never applied"
    );

    // Users never share conflict records.
    let (ben, _) = new_user(&db, "ben@example.com").await;
    let own = change("c3", "g1", Operation::Create, json!({"title": "Ben's"}), 0);
    assert_eq!(applied(&apply_one(&db, &ben, own).await), (1, 1));
}

async fn rejected_changes_write_nothing<D: Database>(db: D) {
    let (ann, _) = new_user(&db, "ann@example.com").await;
    match apply_one(
        &db,
        &ann,
        change("c1", "g1", Operation::Create, json!({"title": 5}), 0),
    )
    .await
    {
        ChangeOutcome::Rejected {
            code: ErrorCode::Invalid,
            message,
        } => {
            assert!(message.contains("title"), "the field is named: {message}")
        }
        other => panic!("expected invalid, got {other:?}"),
    }
    let page = db.changes_since(&ann, &[], 0, 10).await.unwrap();
    assert_eq!((page.changes.len(), page.latest_seq), (0, 0));
    // A rejected change id is evaluated afresh when sent again.
    let fixed = change("c1", "g1", Operation::Create, json!({"title": "ok"}), 0);
    assert_eq!(applied(&apply_one(&db, &ann, fixed).await), (1, 1));

    // A conflict, unlike a rejection, is final (see `conflict_answers_are_final`): the
    // device settles it under a new change id.
    applied(
        &apply_one(
            &db,
            &ann,
            change("c2", "g1", Operation::Update, json!({"title": "v2"}), 1),
        )
        .await,
    );
    let stale = change("c3", "g1", Operation::Update, json!({"title": "mine"}), 1);
    assert!(matches!(
        apply_one(&db, &ann, stale).await,
        ChangeOutcome::Conflict(_)
    ));
    let rebased = change("c3", "g1", Operation::Update, json!({"title": "mine"}), 2);
    assert!(matches!(
        apply_one(&db, &ann, rebased).await,
        ChangeOutcome::Conflict(_)
    ));
    let settled = change("c4", "g1", Operation::Update, json!({"title": "mine"}), 2);
    assert_eq!(applied(&apply_one(&db, &ann, settled).await), (3, 3));
}

async fn users_never_interfere<D: Database>(db: D) {
    let (ann, _) = new_user(&db, "ann@example.com").await;
    let (bob, _) = new_user(&db, "bob@example.com").await;
    // Same entity id AND same change id for both users.
    let a = change(
        "same-change",
        "same-entity",
        Operation::Create,
        json!({"title": "Ann's"}),
        0,
    );
    let b = change(
        "same-change",
        "same-entity",
        Operation::Create,
        json!({"title": "Bob's"}),
        0,
    );
    assert_eq!(applied(&apply_one(&db, &ann, a).await), (1, 1));
    assert_eq!(
        applied(&apply_one(&db, &bob, b).await),
        (1, 1),
        "bob's change id is his own"
    );

    let bob_update = change(
        "bob-2",
        "same-entity",
        Operation::Update,
        json!({"title": "Bob's v2"}),
        1,
    );
    assert_eq!(applied(&apply_one(&db, &bob, bob_update).await), (2, 2));

    let ann_page = db.changes_since(&ann, &[], 0, 10).await.unwrap();
    assert_eq!(ann_page.latest_seq, 1);
    assert_eq!(ann_page.changes.len(), 1);
    let ann_g1 = ann_page.changes[0].to_update_data().unwrap();
    assert_eq!(ann_g1.data.get("title"), Some(&json!("Ann's")));
    assert_eq!(ann_page.changes[0].user_id, ann.0);
    let bob_page = db.changes_since(&bob, &[], 0, 10).await.unwrap();
    assert_eq!(
        bob_page.changes[0]
            .to_update_data()
            .unwrap()
            .data
            .get("title"),
        Some(&json!("Bob's v2"))
    );

    // An entity only Bob has does not exist for Ann.
    let ann_delete = change("ann-del", "bob-only", Operation::Delete, json!({}), 1);
    let bob_only = change(
        "bob-3",
        "bob-only",
        Operation::Create,
        json!({"title": "secret"}),
        0,
    );
    applied(&apply_one(&db, &bob, bob_only).await);
    assert!(matches!(
        apply_one(&db, &ann, ann_delete).await,
        ChangeOutcome::Rejected {
            code: ErrorCode::NotFound,
            ..
        }
    ));
}

async fn pages_follow_seq_order<D: Database>(db: D) {
    let (ann, _) = new_user(&db, "ann@example.com").await;
    let empty = db.changes_since(&ann, &[], 0, 3).await.unwrap();
    assert_eq!(
        (empty.changes.len(), empty.has_more, empty.latest_seq),
        (0, false, 0)
    );

    let creates: Vec<Change> = (0..6)
        .map(|i| {
            change(
                &format!("c{i}"),
                &format!("g{i}"),
                Operation::Create,
                json!({"title": format!("goal {i}")}),
                0,
            )
        })
        .collect();
    let outcomes = db.apply_changes(&ann, creates, NOW).await.unwrap();
    assert_eq!(
        outcomes.iter().map(|o| applied(o).1).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5, 6]
    );
    // Touch g0 again: it moves to the end of the stream.
    applied(
        &apply_one(
            &db,
            &ann,
            change(
                "c6",
                "g0",
                Operation::Update,
                json!({"title": "goal 0 v2"}),
                1,
            ),
        )
        .await,
    );

    let p1 = db.changes_since(&ann, &[], 0, 3).await.unwrap();
    assert!(p1.has_more);
    assert_eq!(
        p1.changes.iter().map(|u| u.seq).collect::<Vec<_>>(),
        vec![2, 3, 4]
    );
    let p2 = db.changes_since(&ann, &[], 4, 3).await.unwrap();
    assert_eq!(
        p2.changes.iter().map(|u| u.seq).collect::<Vec<_>>(),
        vec![5, 6, 7]
    );
    assert!(
        !p2.has_more,
        "exactly a multiple of the page size: no more after the last"
    );
    assert_eq!(p2.latest_seq, 7);
    assert_eq!(p2.changes[2].entity_id.as_str(), "g0");
    assert_eq!(p2.changes[2].version, 2);
    let p3 = db.changes_since(&ann, &[], 7, 3).await.unwrap();
    assert!(p3.changes.is_empty() && !p3.has_more);

    // Type filter.
    let mut other = change("r1", "r1", Operation::Create, json!({"title": "Sonata"}), 0);
    other.entity_type = EntityType::Repertoire;
    applied(&apply_one(&db, &ann, other).await);
    let goals = db
        .changes_since(&ann, &[EntityType::Goals], 0, 100)
        .await
        .unwrap();
    assert_eq!(goals.changes.len(), 6);
    let rep = db
        .changes_since(&ann, &[EntityType::Repertoire], 0, 100)
        .await
        .unwrap();
    assert_eq!(rep.changes.len(), 1);
    assert_eq!(rep.latest_seq, 8, "latest seq covers every type");
    let both = db
        .changes_since(&ann, &[EntityType::Repertoire, EntityType::Goals], 0, 100)
        .await
        .unwrap();
    assert_eq!(both.changes.len(), 7);
}

/// `on_commit` gets the outcomes before the call returns (what it takes out of them is gone
/// from the returned ones), and never runs for a transaction that failed. That it runs only
/// after the commit is backend-specific (SQLite: `the_commit_hook_runs_after_the_commit`).
async fn the_commit_hook_sees_committed_outcomes_only<D: Database>(db: D) {
    let (ann, _) = new_user(&db, "ann@example.com").await;
    let (seen_tx, seen_rx) = std::sync::mpsc::channel();
    let outcomes = db
        .apply_changes_then(
            &ann,
            vec![
                change("c1", "g1", Operation::Create, json!({"title": "t"}), 0),
                change("c2", "g2", Operation::Update, json!({"title": "t"}), 1),
            ],
            NOW,
            Box::new(move |outcomes: &mut [ChangeOutcome]| {
                let updates: Vec<_> = outcomes
                    .iter_mut()
                    .map(|o| match o {
                        ChangeOutcome::Applied { update, .. } => update.take(),
                        _ => None,
                    })
                    .collect();
                seen_tx.send(updates).unwrap();
            }),
        )
        .await
        .unwrap();
    let updates = seen_rx
        .try_recv()
        .expect("the hook ran before the call returned");
    assert_eq!(updates.len(), 2);
    let update = updates[0].as_ref().expect("the create's live update");
    assert_eq!((update.seq, update.entity_id.as_str()), (1, "g1"));
    assert!(matches!(
        outcomes[0],
        ChangeOutcome::Applied { update: None, .. }
    ));
    assert!(matches!(
        outcomes[1],
        ChangeOutcome::Rejected {
            code: ErrorCode::NotFound,
            ..
        }
    ));
    let page = db.changes_since(&ann, &[], 0, 10).await.unwrap();
    assert_eq!(page.latest_seq, 1);

    let (ran_tx, ran_rx) = std::sync::mpsc::channel::<()>();
    let unknown = UserId::generate();
    let result = db
        .apply_changes_then(
            &unknown,
            vec![change(
                "c3",
                "g3",
                Operation::Create,
                json!({"title": "t"}),
                0,
            )],
            NOW,
            Box::new(move |_: &mut [ChangeOutcome]| ran_tx.send(()).unwrap()),
        )
        .await;
    assert!(matches!(result, Err(DbError::UnknownUser)), "{result:?}");
    assert!(
        ran_rx.try_recv().is_err(),
        "the hook ran for a failed apply"
    );
}

async fn closed_database_refuses<D: Database>(db: D) {
    let (ann, _) = new_user(&db, "ann@example.com").await;
    db.close().await;
    assert!(matches!(db.health().await, Err(DbError::Closed)));
    let result = db
        .apply_changes(
            &ann,
            vec![change(
                "c1",
                "g1",
                Operation::Create,
                json!({"title": "t"}),
                0,
            )],
            NOW,
        )
        .await;
    assert!(matches!(result, Err(DbError::Closed)), "{result:?}");
}
