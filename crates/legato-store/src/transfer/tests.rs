use legato_protocol::{EntityId, EntityType};
use serde_json::{Value, json};

use super::*;

const NOW: i64 = 1_764_000_000_000;

use legato_testkit::fields;

/// A store with two entries, a piece and a goal, as a user makes them.
fn seeded() -> Store {
    let mut store = Store::open_in_memory().unwrap();
    store
        .create(
            EntityType::Logbook,
            fields(json!({
                "timestamp": "2026-11-25T18:30:00.000Z", "duration": 30, "instrument": "piano",
                "pieces": [{"title": "Ballade No. 1", "composer": "Chopin", "tempo": 72}],
                "notes": "a \"quoted\", comma\nand a second line", "tags": ["slow"],
                "unknownField": {"kept": true}
            })),
            NOW,
        )
        .unwrap();
    store
        .create(
            EntityType::Logbook,
            fields(
                json!({"timestamp": "2026-11-26T07:00:00.000Z", "duration": 15,
                "type": "technique", "techniques": ["scales"]}),
            ),
            NOW,
        )
        .unwrap();
    store
        .create(
            EntityType::Repertoire,
            fields(json!({"title": "Ballade No. 1", "composer": "Chopin", "status": "learning"})),
            NOW,
        )
        .unwrap();
    store
        .create(
            EntityType::Goals,
            fields(
                json!({"title": "Daily", "type": "practice_time", "targetMinutes": 20,
                "period": "day"}),
            ),
            NOW,
        )
        .unwrap();
    store
}

fn states(store: &Store, entity_type: EntityType) -> Vec<(String, Fields)> {
    let mut all: Vec<_> = store
        .list(entity_type)
        .unwrap()
        .into_iter()
        .map(|e| (e.id.to_string(), e.state))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

fn import(store: &mut Store, bytes: &[u8], options: &ImportOptions) -> ImportPreview {
    let preview = store.preview_import(bytes, options).unwrap();
    let done = store
        .apply_import(bytes, options, &preview.fingerprint, NOW + 1000)
        .unwrap();
    assert_eq!(done, preview, "apply did what the preview said");
    preview
}

fn counts(created: usize, updated: usize, unchanged: usize, skipped: usize) -> ImportCounts {
    ImportCounts {
        created,
        updated,
        unchanged,
        skipped,
    }
}

#[test]
fn a_backup_round_trips_every_entity_type_and_a_second_import_changes_nothing() {
    let a = seeded();
    let backup = a.export(ExportFormat::Backup, NOW).unwrap();
    let doc: Value = serde_json::from_str(&backup).unwrap();
    assert_eq!(doc["format"], EXPORT_FORMAT_NAME);
    assert_eq!(doc["contents"], "backup");
    for entity_type in EntityType::ALL {
        assert!(doc[entity_type.as_str()].is_array(), "{entity_type}");
    }

    let mut b = Store::open_in_memory().unwrap();
    let options = ImportOptions::default();
    let preview = import(&mut b, backup.as_bytes(), &options);
    assert_eq!(preview.counts, counts(4, 0, 0, 0));
    assert_eq!(preview.format, FileFormat::Json);
    for entity_type in EntityType::ALL {
        assert_eq!(
            states(&b, entity_type),
            states(&a, entity_type),
            "{entity_type}"
        );
    }
    // Every created entity is queued to sync, like a hand edit.
    assert_eq!(b.pending_count().unwrap(), 4);

    let again = import(&mut b, backup.as_bytes(), &options);
    assert_eq!(again.counts, counts(0, 0, 4, 0));
    assert_eq!(b.pending_count().unwrap(), 4);
    // Into the store it came from: nothing either.
    assert_eq!(
        a.preview_import(backup.as_bytes(), &options)
            .unwrap()
            .counts,
        counts(0, 0, 4, 0)
    );
}

#[test]
fn the_json_export_is_the_logbook_only() {
    let a = seeded();
    let text = a.export(ExportFormat::Json, NOW).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["contents"], "logbook");
    assert_eq!(doc["logbook"].as_array().unwrap().len(), 2);
    assert!(doc.get("repertoire").is_none() && doc.get("goals").is_none());
    let mut b = Store::open_in_memory().unwrap();
    assert_eq!(
        import(&mut b, text.as_bytes(), &ImportOptions::default()).counts,
        counts(2, 0, 0, 0)
    );
}

#[test]
fn an_edited_record_counts_as_updated_and_lands_in_the_outbox() {
    let mut a = seeded();
    let backup = a.export(ExportFormat::Backup, NOW).unwrap();
    let mut doc: Value = serde_json::from_str(&backup).unwrap();
    doc["logbook"][0]["notes"] = json!("changed in the file");
    let id = doc["logbook"][0]["id"].as_str().unwrap().to_owned();
    // The device's own changes were never sent: the update folds into the create.
    for item in a.next_pending(10, NOW).unwrap() {
        a.mark_in_flight(std::slice::from_ref(&item.change.change_id))
            .unwrap();
    }
    let before = a.pending_count().unwrap();
    let text = doc.to_string();
    let preview = import(&mut a, text.as_bytes(), &ImportOptions::default());
    assert_eq!(preview.counts, counts(0, 1, 3, 0));
    assert_eq!(a.pending_count().unwrap(), before + 1);
    let entry = a
        .get(EntityType::Logbook, &EntityId::new(id).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(entry.state["notes"], "changed in the file");
    assert_eq!(entry.state["updatedAt"], rfc3339_ms(NOW + 1000));
    assert_eq!(a.list(EntityType::Logbook).unwrap().len(), 2);
}

#[test]
fn the_csv_export_round_trips_and_reimports_unchanged() {
    let a = seeded();
    let mut b = Store::open_in_memory().unwrap();
    for entity_type in EntityType::ALL {
        let csv = a.export(ExportFormat::Csv(entity_type), NOW).unwrap();
        assert!(csv.starts_with("id,"), "{csv}");
        let options = ImportOptions {
            entity_type,
            ..ImportOptions::default()
        };
        let first = import(&mut b, csv.as_bytes(), &options);
        assert_eq!(first.format, FileFormat::Csv);
        assert_eq!(first.counts.skipped, 0, "{:?}", first.skipped);
        assert!(first.ignored_columns.is_empty());
        let again = import(&mut b, csv.as_bytes(), &options);
        assert_eq!(again.counts.created + again.counts.updated, 0, "{again:?}");
        // A CSV cannot tell an absent field from null or []: the same canonical states.
        let canonical_states = |store: &Store| {
            states(store, entity_type)
                .into_iter()
                .map(|(id, state)| {
                    let entity_id = EntityId::new(id.clone()).unwrap();
                    (id, canonical(entity_type, &entity_id, &state).unwrap())
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(canonical_states(&b), canonical_states(&a), "{entity_type}");
    }
}

#[test]
fn invalid_records_are_skipped_with_their_line_and_reason() {
    let mut store = Store::open_in_memory().unwrap();
    let csv = "id,timestamp,duration,notes\n\
               ok-1,2026-11-25T18:30:00.000Z,30,fine\n\
               bad-1,2026-11-25T18:30:00.000Z,abc,\n\
               bad-2,2026-11-25T18:30:00.000Z,2000,\n\
               bad-3,yesterday,20,\n\
               ok-1,2026-11-25T18:30:00.000Z,31,twice\n\
               ok-2,2026-11-25T18:30:00.000Z\n";
    let preview = import(&mut store, csv.as_bytes(), &ImportOptions::default());
    assert_eq!(preview.counts, counts(1, 0, 0, 5));
    let reasons: Vec<(usize, String)> = preview
        .skipped
        .iter()
        .map(|s| (s.line, s.reason.to_string()))
        .collect();
    assert_eq!(reasons[0].0, 3);
    assert!(
        reasons[0].1.contains("duration") && reasons[0].1.contains("abc"),
        "{reasons:?}"
    );
    assert_eq!(reasons[1].0, 4);
    assert!(reasons[1].1.contains("1 to 1440"), "{reasons:?}");
    assert_eq!(reasons[2].0, 5);
    assert!(reasons[2].1.contains("timestamp"), "{reasons:?}");
    assert_eq!(
        preview.skipped[3].reason,
        SkipReason::Duplicate { first: 2 }
    );
    assert_eq!(preview.skipped[4].line, 7);
    assert!(
        reasons[4].1.contains("2 cells where the header has 4"),
        "{reasons:?}"
    );
    assert_eq!(store.list(EntityType::Logbook).unwrap().len(), 1);

    // JSON: positions in the array; a deleted id is skipped, never resurrected.
    let id = EntityId::new("ok-1").unwrap();
    // Sent, so its delete leaves a tombstone.
    let sent: Vec<String> = store
        .next_pending(10, NOW)
        .unwrap()
        .into_iter()
        .map(|item| item.change.change_id)
        .collect();
    store.mark_in_flight(&sent).unwrap();
    store.delete(EntityType::Logbook, &id, NOW).unwrap();
    let json = r#"{"format": "legato-export", "version": 1, "logbook": [
        {"id": "ok-1", "timestamp": "2026-11-25T18:30:00.000Z", "duration": 30},
        {"id": "new-1", "timestamp": "2026-11-25T18:30:00.000Z", "duration": 0},
        {"timestamp": "2026-11-25T18:30:00.000Z", "duration": 5}]}"#;
    let preview = store
        .preview_import(json.as_bytes(), &ImportOptions::default())
        .unwrap();
    assert_eq!(preview.counts, counts(0, 0, 0, 3));
    assert_eq!(preview.skipped[0].reason, SkipReason::Deleted);
    assert_eq!(preview.skipped[1].line, 2);
    assert!(matches!(&preview.skipped[1].reason, SkipReason::Invalid(m) if m.contains("duration")));
    assert_eq!(preview.skipped[2].reason, SkipReason::NoId);
}

#[test]
fn another_apps_csv_imports_once_under_derived_ids() {
    let zone = TimeZone::get("Europe/Berlin").unwrap();
    let options = ImportOptions {
        entity_type: EntityType::Logbook,
        zone,
    };
    let csv = "\u{feff}Date,Start Time,Duration (minutes),Piece,Composer,Instrument,Notes,Mood,Rating\n\
               2026-11-25,18:30,45,Ballade No. 1,Chopin,Piano,\"slow, hands apart\",Satisfied,5\n\
               25.11.2026,6:15 PM,1:30,Etude Op. 10 No. 1,Chopin,piano,,,\n\
               2026-07-01,,20.4,,,Violin,scales,,\n\
               11/25/2026,18:30,45,X,,,,,\n";
    let mut store = Store::open_in_memory().unwrap();
    let preview = import(&mut store, csv.as_bytes(), &options);
    assert_eq!(preview.counts, counts(3, 0, 0, 1), "{:?}", preview.skipped);
    assert_eq!(preview.ignored_columns, vec!["Rating".to_owned()]);
    assert_eq!(preview.skipped[0].line, 5);
    assert!(preview.skipped[0].reason.to_string().contains("ambiguous"));

    let mut entries = store.list(EntityType::Logbook).unwrap();
    entries.sort_by(|a, b| {
        a.state["timestamp"]
            .as_str()
            .cmp(&b.state["timestamp"].as_str())
    });
    let [summer, first, second] = entries.as_slice() else {
        panic!("{entries:?}")
    };
    // Local Berlin times: CEST in July (midnight without a time), CET in November.
    assert_eq!(summer.state["timestamp"], "2026-06-30T22:00:00.000Z");
    assert_eq!(summer.state["duration"], 20);
    assert_eq!(summer.state["instrument"], "violin");
    assert_eq!(first.state["timestamp"], "2026-11-25T17:15:00.000Z");
    assert_eq!(first.state["duration"], 90);
    assert_eq!(second.state["timestamp"], "2026-11-25T17:30:00.000Z");
    assert_eq!(second.state["duration"], 45);
    assert_eq!(
        second.state["pieces"],
        json!([{"title": "Ballade No. 1", "composer": "Chopin"}])
    );
    assert_eq!(second.state["notes"], "slow, hands apart");
    assert_eq!(second.state["mood"], "satisfied");
    assert_eq!(second.id, derived_entry_id(&second.state).unwrap());

    // Again, and on another device: the same ids, nothing new.
    assert_eq!(
        import(&mut store, csv.as_bytes(), &options).counts,
        counts(0, 0, 3, 1)
    );
    let mut other = Store::open_in_memory().unwrap();
    import(&mut other, csv.as_bytes(), &options);
    assert_eq!(
        states(&other, EntityType::Logbook)
            .into_iter()
            .map(|(id, _)| id)
            .collect::<Vec<_>>(),
        states(&store, EntityType::Logbook)
            .into_iter()
            .map(|(id, _)| id)
            .collect::<Vec<_>>()
    );

    // What the app added since (tags, a tempo on the piece) survives a re-import; a note
    // changed in the other app is an update of the same entry.
    let id = second.id.clone();
    store
        .patch(
            EntityType::Logbook,
            &id,
            fields(
                json!({"tags": ["mine"], "pieces": [{"title": "Ballade No. 1",
                "composer": "Chopin", "tempo": 60}]}),
            ),
            NOW,
        )
        .unwrap();
    let edited = csv.replace("\"slow, hands apart\"", "faster now");
    let preview = import(&mut store, edited.as_bytes(), &options);
    assert_eq!(preview.counts, counts(0, 1, 2, 1));
    let entry = store.get(EntityType::Logbook, &id).unwrap().unwrap();
    assert_eq!(entry.state["notes"], "faster now");
    assert_eq!(entry.state["tags"], json!(["mine"]));
    assert_eq!(entry.state["pieces"][0]["tempo"], 60);
    assert_eq!(store.list(EntityType::Logbook).unwrap().len(), 3);
}

#[test]
fn header_aliases_fold_case_and_separators() {
    for (header, expected) in [
        ("start_time", Column::Alias(CsvColumn::Time)),
        ("Start-Time", Column::Alias(CsvColumn::Time)),
        ("Minutes", Column::Alias(CsvColumn::Minutes)),
        ("Duration (s)", Column::Alias(CsvColumn::Seconds)),
        ("Title", Column::Alias(CsvColumn::Piece)),
        ("Comments", Column::Alias(CsvColumn::Notes)),
        ("timestamp", Column::Own("timestamp", Cell::Text)),
        ("goalIds", Column::Own("goalIds", Cell::Json)),
        ("Rating", Column::Ignored),
    ] {
        assert_eq!(
            read_header(header, EntityType::Logbook),
            expected,
            "{header}"
        );
    }
    assert_eq!(
        read_header("Minutes", EntityType::Repertoire),
        Column::Ignored
    );
    for (text, minutes) in [
        ("45", 45),
        ("45.5", 46),
        ("0,6", 1),
        ("1:30", 90),
        ("1440", 1440),
    ] {
        assert_eq!(parse_minutes(text, 1.0).unwrap(), json!(minutes), "{text}");
    }
    assert_eq!(parse_minutes("5400", 60.0).unwrap(), json!(90));
    for bad in ["0", "0.4", "1441", "-5", "1:75", "soon"] {
        assert!(parse_minutes(bad, 1.0).is_err(), "{bad}");
    }
    assert_eq!(
        parse_time("12:05 AM").unwrap(),
        Time::new(0, 5, 0, 0).unwrap()
    );
    assert_eq!(
        parse_time("12:05 pm").unwrap(),
        Time::new(12, 5, 0, 0).unwrap()
    );
    assert_eq!(
        parse_time("07:08:09").unwrap(),
        Time::new(7, 8, 9, 0).unwrap()
    );
    assert!(parse_time("13:00 PM").is_err() && parse_time("25:00").is_err());
    assert_eq!(
        parse_date("2026/02/28").unwrap(),
        Date::new(2026, 2, 28).unwrap()
    );
    assert!(parse_date("2026-02-30").is_err() && parse_date("02/28/2026").is_err());
}

#[test]
fn a_file_without_date_or_duration_columns_is_refused() {
    let store = Store::open_in_memory().unwrap();
    let options = ImportOptions::default();
    let err = store
        .preview_import(b"Piece,Minutes\nX,5\n", &options)
        .unwrap_err();
    assert!(matches!(err, TransferError::MissingColumn(_)), "{err}");
    let err = store
        .preview_import(b"Date,Piece\n2026-01-01,X\n", &options)
        .unwrap_err();
    assert!(matches!(err, TransferError::MissingColumn(_)), "{err}");
    let err = store
        .preview_import(
            b"title,status\nX,learning\n",
            &ImportOptions {
                entity_type: EntityType::Repertoire,
                ..options.clone()
            },
        )
        .unwrap_err();
    assert!(matches!(err, TransferError::MissingColumn("id")), "{err}");
}

#[test]
fn bad_files_are_typed_errors_that_write_nothing() {
    let mut store = seeded();
    let before = store.pending_count().unwrap();
    let options = ImportOptions::default();
    for (bytes, check) in [
        (&b"{not json"[..], "json"),
        (br#"{"format": "other", "version": 1}"#, "export"),
        (br#"{"format": "legato-export", "version": 9}"#, "version"),
        (
            br#"{"format": "legato-export", "version": 1, "logbook": 3}"#,
            "export",
        ),
        (b"\xff\xfe\x00", "text"),
    ] {
        let err = store.preview_import(bytes, &options).unwrap_err();
        let ok = match check {
            "json" => matches!(err, TransferError::NotJson(_)),
            "export" => matches!(err, TransferError::NotAnExport(_)),
            "version" => matches!(err, TransferError::UnsupportedVersion { found: Some(9) }),
            "text" => matches!(err, TransferError::NotText),
            _ => unreachable!(),
        };
        assert!(ok, "{check}: {err:?}");
        assert!(!err.is_retryable());
        assert!(store.apply_import(bytes, &options, "any", NOW).is_err());
    }
    assert_eq!(store.pending_count().unwrap(), before);
}

#[test]
fn apply_writes_nothing_when_the_data_changed_since_the_preview() {
    let a = seeded();
    let backup = a.export(ExportFormat::Backup, NOW).unwrap();
    let mut b = Store::open_in_memory().unwrap();
    let options = ImportOptions::default();
    let preview = b.preview_import(backup.as_bytes(), &options).unwrap();
    // Meanwhile one of the file's entries arrives with other notes.
    let entry = a.list(EntityType::Logbook).unwrap().remove(0);
    let mut state = entry.state.clone();
    state.insert("notes".into(), json!("edited elsewhere"));
    b.create_with_id(EntityType::Logbook, entry.id.clone(), state, NOW)
        .unwrap();
    let err = b
        .apply_import(backup.as_bytes(), &options, &preview.fingerprint, NOW)
        .unwrap_err();
    assert!(matches!(err, TransferError::Changed), "{err}");
    assert!(err.is_retryable());
    assert_eq!(b.pending_count().unwrap(), 1);
    assert_eq!(b.list(EntityType::Logbook).unwrap().len(), 1);
    // Previewed again, it applies.
    let preview = b.preview_import(backup.as_bytes(), &options).unwrap();
    assert_eq!(preview.counts, counts(3, 1, 0, 0));
    b.apply_import(backup.as_bytes(), &options, &preview.fingerprint, NOW)
        .unwrap();
}

#[test]
fn an_invalid_state_is_never_written() {
    // A goal whose type needs `targetMinutes`: legato-core's validation, like a hand edit.
    let mut store = Store::open_in_memory().unwrap();
    let json = r#"[{"id": "g1", "title": "x", "type": "practice_time", "period": "fortnight"}]"#;
    let options = ImportOptions {
        entity_type: EntityType::Goals,
        ..ImportOptions::default()
    };
    let preview = import(&mut store, json.as_bytes(), &options);
    assert_eq!(preview.counts, counts(0, 0, 0, 1));
    assert!(
        preview.skipped[0].reason.to_string().contains("period"),
        "{preview:?}"
    );
    assert_eq!(store.pending_count().unwrap(), 0);
}

#[test]
fn the_limits_are_the_documented_numbers() {
    assert_eq!(MAX_IMPORT_BYTES, 32 * 1024 * 1024);
    assert_eq!(MAX_IMPORT_ROWS, 100_000);
    let store = Store::open_in_memory().unwrap();
    let options = ImportOptions::default();

    // One byte over the size: refused before it is parsed.
    let mut big = vec![b' '; usize::try_from(MAX_IMPORT_BYTES).unwrap() + 1];
    big[0] = b'[';
    let err = store.preview_import(&big, &options).unwrap_err();
    assert!(
        matches!(err, TransferError::TooLarge { bytes, max } if bytes == MAX_IMPORT_BYTES + 1 && max == MAX_IMPORT_BYTES),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.json");
    std::fs::write(&path, &big).unwrap();
    assert!(matches!(
        read_import_file(&path).unwrap_err(),
        TransferError::TooLarge { .. }
    ));

    // Exactly the most rows: read (and skipped, here: no duration); one more: refused.
    let rows = |n: usize| {
        let mut text = String::from("timestamp,duration\n");
        text.push_str(&"x,\n".repeat(n));
        text
    };
    let preview = store
        .preview_import(rows(MAX_IMPORT_ROWS).as_bytes(), &options)
        .unwrap();
    assert_eq!(preview.counts.skipped, MAX_IMPORT_ROWS);
    let err = store
        .preview_import(rows(MAX_IMPORT_ROWS + 1).as_bytes(), &options)
        .unwrap_err();
    assert!(
        matches!(
            err,
            TransferError::TooManyRows {
                max: MAX_IMPORT_ROWS
            }
        ),
        "{err}"
    );
    let json = format!("[{}]", vec!["{}"; MAX_IMPORT_ROWS + 1].join(","));
    assert!(matches!(
        store.preview_import(json.as_bytes(), &options).unwrap_err(),
        TransferError::TooManyRows { .. }
    ));
}

#[test]
fn export_to_file_replaces_the_file_whole() {
    let store = seeded();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("backup.json");
    std::fs::write(&path, "old").unwrap();
    let bytes = store
        .export_to_file(ExportFormat::Backup, &path, NOW)
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.len() as u64, bytes);
    assert!(text.contains("legato-export"));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no .partial left"
    );
    let err = store
        .export_to_file(
            ExportFormat::Json,
            &dir.path().join("no/such/dir.json"),
            NOW,
        )
        .unwrap_err();
    assert!(matches!(err, TransferError::Io { .. }), "{err}");
}

#[test]
fn local_times_in_a_dst_gap_move_past_it() {
    let berlin = TimeZone::get("Europe/Berlin").unwrap();
    let date = Date::new(2026, 3, 29).unwrap();
    // 02:30 does not exist that night in Berlin: 03:30 CEST, 01:30 UTC.
    let ms = local_instant(date, Time::new(2, 30, 0, 0).unwrap(), &berlin).unwrap();
    assert_eq!(rfc3339_ms(ms), "2026-03-29T01:30:00.000Z");
    // In the October fold 02:30 happens twice: the earlier one (CEST).
    let ms = local_instant(
        Date::new(2026, 10, 25).unwrap(),
        Time::new(2, 30, 0, 0).unwrap(),
        &berlin,
    )
    .unwrap();
    assert_eq!(rfc3339_ms(ms), "2026-10-25T00:30:00.000Z");
}
