//! Logbook entries between the typed model and the IPC views: reading an [`Entry`],
//! applying an [`EntryInput`] (normalised) to a [`LogbookEntry`], and turning the IPC
//! [`EntryFilter`] into the store's. Filtering and grouping by local day are the store's
//! (`Store::entries_matching`, one SQL query); this module only converts. Tested here.

use chrono::{DateTime, NaiveDate, Utc};
use legato_core::LogbookEntry;
use legato_core::model::{self, EntryType, PieceRef, datetime};
use legato_protocol::{EntityId, EntityType};
use legato_store::{DayGroup, EntryFilter as StoreFilter, LogEntry, Store};

use crate::ipc::error::IpcError;
use crate::ipc::types::{
    DayEntries, Entry, EntryFilter, EntryInput, EntryKind, EntryList, EntrySync, Mood, Piece,
};

impl From<EntryType> for EntryKind {
    fn from(value: EntryType) -> Self {
        match value {
            EntryType::Practice => EntryKind::Practice,
            EntryType::Performance => EntryKind::Performance,
            EntryType::Lesson => EntryKind::Lesson,
            EntryType::Rehearsal => EntryKind::Rehearsal,
            EntryType::Technique => EntryKind::Technique,
            EntryType::StatusChange => EntryKind::StatusChange,
        }
    }
}

impl From<EntryKind> for EntryType {
    fn from(value: EntryKind) -> Self {
        match value {
            EntryKind::Practice => EntryType::Practice,
            EntryKind::Performance => EntryType::Performance,
            EntryKind::Lesson => EntryType::Lesson,
            EntryKind::Rehearsal => EntryType::Rehearsal,
            EntryKind::Technique => EntryType::Technique,
            EntryKind::StatusChange => EntryType::StatusChange,
        }
    }
}

impl From<model::Mood> for Mood {
    fn from(value: model::Mood) -> Self {
        match value {
            model::Mood::Frustrated => Mood::Frustrated,
            model::Mood::Neutral => Mood::Neutral,
            model::Mood::Satisfied => Mood::Satisfied,
            model::Mood::Excited => Mood::Excited,
        }
    }
}

impl From<Mood> for model::Mood {
    fn from(value: Mood) -> Self {
        match value {
            Mood::Frustrated => model::Mood::Frustrated,
            Mood::Neutral => model::Mood::Neutral,
            Mood::Satisfied => model::Mood::Satisfied,
            Mood::Excited => model::Mood::Excited,
        }
    }
}

fn piece_view(piece: &PieceRef) -> Piece {
    Piece {
        title: piece.title.clone(),
        composer: piece.composer.clone(),
        measures: piece.measures.clone(),
        tempo: piece.tempo,
        score_id: piece.score_id.clone(),
    }
}

/// The view of a typed entry with its sync badge.
pub fn entry_view(entry: &LogbookEntry, sync: EntrySync) -> Entry {
    Entry {
        id: entry.id.to_string(),
        timestamp: datetime::format(&entry.timestamp),
        duration: entry.duration,
        kind: entry.entry_type.into(),
        instrument: entry.instrument.clone(),
        pieces: entry.pieces.iter().map(piece_view).collect(),
        techniques: entry.techniques.clone(),
        mood: entry.mood.map(Mood::from),
        notes: entry.notes.clone(),
        tags: entry.tags.clone(),
        goal_ids: entry.goal_ids.iter().map(ToString::to_string).collect(),
        created_at: entry.created_at.as_ref().map(datetime::format),
        updated_at: entry.updated_at.as_ref().map(datetime::format),
        sync,
    }
}

/// Reads a stored entry; `None` (logged) for a state that is not a valid entry, so one bad
/// record never hides the others.
pub fn typed(entry: &LogEntry) -> Option<LogbookEntry> {
    match LogbookEntry::from_fields(entry.id.clone(), &entry.state) {
        Ok(typed) => Some(typed),
        Err(err) => {
            tracing::warn!(id = %entry.id, %err, "skipping a logbook entry that does not read");
            None
        }
    }
}

/// Trimmed text; empty as `None`.
fn text(value: Option<String>) -> Option<String> {
    value.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn piece_ref(piece: Piece, kept: Option<&PieceRef>) -> PieceRef {
    PieceRef {
        title: piece.title,
        composer: piece.composer,
        measures: piece.measures,
        tempo: piece.tempo,
        score_id: piece.score_id,
        // Keys this version does not know survive an edit of the same piece.
        extra: kept.map(|p| p.extra.clone()).unwrap_or_default(),
    }
}

/// Parses an RFC 3339 time with any offset (the model's parser, with the field named).
pub fn parse_time(field: &str, value: &str) -> Result<DateTime<Utc>, IpcError> {
    model::datetime::parse(value.trim()).map_err(|_| {
        IpcError::invalid(
            field,
            format!("`{value}` is not a date-time like 2026-11-25T18:30:00Z"),
        )
    })
}

/// Writes the user-editable fields of `input` into `entry` (normalised) and stamps
/// `updatedAt`. Goal links, metadata and unknown fields are left as they are; range checks
/// are the store's (`legato_core` validation names the field).
pub fn apply_input(
    entry: &mut LogbookEntry,
    input: EntryInput,
    now: DateTime<Utc>,
) -> Result<(), IpcError> {
    entry.timestamp = parse_time("timestamp", &input.timestamp)?;
    entry.duration = input.duration;
    entry.entry_type = input.kind.into();
    entry.instrument = input.instrument;
    let old_pieces = std::mem::take(&mut entry.pieces);
    entry.pieces = input
        .pieces
        .into_iter()
        .map(|piece| {
            let kept = old_pieces
                .iter()
                .find(|p| p.title.trim().eq_ignore_ascii_case(piece.title.trim()));
            piece_ref(piece, kept)
        })
        .collect();
    entry.techniques = input.techniques;
    entry.mood = input.mood.map(model::Mood::from);
    entry.notes = input.notes;
    entry.tags = input.tags;
    entry.normalise();
    entry.created_at.get_or_insert(now);
    entry.updated_at = Some(now);
    Ok(())
}

fn parse_date(field: &str, value: Option<String>) -> Result<Option<NaiveDate>, IpcError> {
    text(value)
        .map(|v| {
            NaiveDate::parse_from_str(&v, "%Y-%m-%d")
                .map_err(|_| IpcError::invalid(field, format!("`{v}` is not a date (YYYY-MM-DD)")))
        })
        .transpose()
}

/// The IPC filter as the store's query: dates parsed (`from` after `to` is `invalid`), texts
/// trimmed (blank: no filter). Matching rules are the store's.
pub fn store_filter(filter: EntryFilter) -> Result<StoreFilter, IpcError> {
    let parsed = StoreFilter {
        from: parse_date("from", filter.from)?,
        to: parse_date("to", filter.to)?,
        instrument: text(filter.instrument),
        entry_type: filter.kind.map(EntryType::from),
        piece: text(filter.piece),
        tag: text(filter.tag),
        search: text(filter.search),
        before: parse_date("before", filter.before)?,
        days: filter.days,
    };
    if parsed.days == Some(0) {
        return Err(IpcError::invalid("days", "`days` must be at least 1"));
    }
    if let (Some(from), Some(to)) = (parsed.from, parsed.to)
        && from > to
    {
        return Err(IpcError::invalid("from", "`from` is after `to`"));
    }
    Ok(parsed)
}

/// The store's day groups as the list view. Totals count the entries shown (one that does
/// not read as an entry is skipped, logged). `more`: older days match too.
pub fn entry_list(groups: Vec<DayGroup>, more: bool) -> EntryList {
    let mut days = Vec::with_capacity(groups.len());
    let mut total_minutes = 0;
    let mut count = 0;
    for group in groups {
        let mut day = DayEntries {
            date: group.date.format("%Y-%m-%d").to_string(),
            total_minutes: 0,
            entries: Vec::with_capacity(group.entries.len()),
        };
        for stored in &group.entries {
            let Some(entry) = typed(stored) else { continue };
            day.total_minutes += u64::from(entry.duration);
            day.entries.push(entry_view(&entry, stored.sync.into()));
        }
        if day.entries.is_empty() {
            continue;
        }
        total_minutes += day.total_minutes;
        count += u32::try_from(day.entries.len()).unwrap_or(u32::MAX);
        days.push(day);
    }
    EntryList {
        days,
        total_minutes,
        count,
        more,
    }
}

// ---------------------------------------------------------------------------------------
// Store-thread operations of the logbook commands (run inside `StoreHandle::call`).

/// The live entry `id` as a view.
pub fn read_entry(store: &Store, id: &EntityId) -> legato_store::Result<Option<Entry>> {
    let Some(entity) = store.get(EntityType::Logbook, id)? else {
        return Ok(None);
    };
    if entity.deleted {
        return Ok(None);
    }
    let entry = LogbookEntry::from_fields(entity.id, &entity.state)?;
    Ok(Some(entry_view(&entry, entity.sync.into())))
}

/// The entries matching `filter`, by local day at `utc_offset_minutes`. With `days`, one
/// more day is read to know whether older days match (`more`).
pub fn list(
    store: &Store,
    filter: &StoreFilter,
    utc_offset_minutes: i32,
) -> legato_store::Result<EntryList> {
    let Some(days) = filter.days else {
        return Ok(entry_list(
            store.entries_matching(filter, utc_offset_minutes)?,
            false,
        ));
    };
    let one_more = StoreFilter {
        days: Some(days.saturating_add(1)),
        ..filter.clone()
    };
    let mut groups = store.entries_matching(&one_more, utc_offset_minutes)?;
    let more = groups.len() > days as usize;
    groups.truncate(days as usize);
    Ok(entry_list(groups, more))
}

/// Deletes a live entry; false when there is no such live entry. The store keeps its last
/// state for [`restore`].
pub fn delete(store: &mut Store, id: &EntityId, now_ms: i64) -> legato_store::Result<bool> {
    let Some(entity) = store.get(EntityType::Logbook, id)? else {
        return Ok(false);
    };
    if entity.deleted {
        return Ok(false);
    }
    store.delete(EntityType::Logbook, id, now_ms)?;
    Ok(true)
}

/// Undoes the delete of entry `id` ([`Store::undo_delete`]): under its own id while the
/// delete had not left the device, else re-created under a new id (ids are never
/// resurrected). Returns the entry and whether it kept its id; `None` when there is nothing
/// to undo.
pub fn restore(
    store: &mut Store,
    id: &EntityId,
    now_ms: i64,
) -> legato_store::Result<Option<(Entry, bool)>> {
    let undone = match store.undo_delete(EntityType::Logbook, id, now_ms) {
        Ok(undone) => undone,
        Err(legato_store::StoreError::NotFound { .. }) => return Ok(None),
        Err(err) => return Err(err),
    };
    let entry = read_entry(store, undone.entity_id())?;
    Ok(entry.map(|entry| (entry, undone.same_id())))
}

#[cfg(test)]
mod tests {
    use legato_protocol::Fields;
    use serde_json::json;

    use super::*;

    fn input() -> EntryInput {
        EntryInput {
            timestamp: "2026-11-25T19:30:00+01:00".into(),
            duration: 45,
            kind: EntryKind::Lesson,
            instrument: Some("  Piano ".into()),
            pieces: vec![Piece {
                title: " Clair de lune ".into(),
                composer: Some("Debussy".into()),
                measures: Some("".into()),
                tempo: Some(60),
                score_id: None,
            }],
            techniques: vec!["scales".into(), " ".into(), "Scales".into()],
            mood: Some(Mood::Satisfied),
            notes: Some("  ".into()),
            tags: vec!["exam".into(), "exam".into()],
        }
    }

    fn now() -> DateTime<Utc> {
        parse_time("now", "2026-11-26T08:00:00Z").unwrap()
    }

    #[test]
    fn input_is_normalised_into_the_model() {
        let mut entry = LogbookEntry::new(EntityId::new("e1").unwrap(), now(), 1);
        apply_input(&mut entry, input(), now()).unwrap();
        assert_eq!(
            entry.timestamp,
            parse_time("t", "2026-11-25T18:30:00Z").unwrap()
        );
        assert_eq!(entry.instrument.as_deref(), Some("piano"));
        assert_eq!(entry.pieces[0].title, "Clair de lune");
        assert_eq!(entry.pieces[0].measures, None);
        assert_eq!(entry.techniques, vec!["scales"]);
        assert_eq!(entry.tags, vec!["exam"]);
        assert_eq!(entry.notes, None);
        assert_eq!(entry.created_at, Some(now()));
        assert_eq!(entry.updated_at, Some(now()));

        let view = entry_view(&entry, EntrySync::Pending);
        assert_eq!(
            serde_json::to_value(&view).unwrap(),
            json!({
                "id": "e1",
                "timestamp": "2026-11-25T18:30:00.000Z",
                "duration": 45,
                "type": "lesson",
                "instrument": "piano",
                "pieces": [{"title": "Clair de lune", "composer": "Debussy", "measures": null,
                            "tempo": 60, "scoreId": null}],
                "techniques": ["scales"],
                "mood": "satisfied",
                "notes": null,
                "tags": ["exam"],
                "goalIds": [],
                "createdAt": "2026-11-26T08:00:00.000Z",
                "updatedAt": "2026-11-26T08:00:00.000Z",
                "sync": "pending",
            })
        );
    }

    #[test]
    fn an_update_keeps_what_the_form_does_not_show() {
        let mut state: Fields = json!({
            "timestamp": "2026-11-20T10:00:00.000Z", "duration": 10, "type": "practice",
            "goalIds": ["g-1"], "metadata": {"bpm": 1}, "x-future": true,
            "pieces": [{"title": "Clair de lune", "hand": "left"}],
            "createdAt": "2026-11-20T10:00:00.000Z",
        })
        .as_object()
        .unwrap()
        .clone();
        let mut entry = LogbookEntry::from_fields(EntityId::new("e1").unwrap(), &state).unwrap();
        apply_input(&mut entry, input(), now()).unwrap();
        state = entry.to_fields();
        assert_eq!(state["goalIds"], json!(["g-1"]));
        assert_eq!(state["metadata"], json!({"bpm": 1}));
        assert_eq!(state["x-future"], json!(true));
        assert_eq!(state["pieces"][0]["hand"], json!("left"));
        assert_eq!(state["createdAt"], json!("2026-11-20T10:00:00.000Z"));
    }

    #[test]
    fn bad_times_and_dates_name_their_field() {
        let mut entry = LogbookEntry::new(EntityId::new("e1").unwrap(), now(), 1);
        let err = apply_input(
            &mut entry,
            EntryInput {
                timestamp: "yesterday".into(),
                ..input()
            },
            now(),
        )
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("timestamp"));

        let err = store_filter(EntryFilter {
            from: Some("25.11.2026".into()),
            ..EntryFilter::default()
        })
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("from"));
        let err = store_filter(EntryFilter {
            from: Some("2026-11-26".into()),
            to: Some("2026-11-25".into()),
            ..EntryFilter::default()
        })
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("from"));
    }

    #[test]
    fn the_ipc_filter_becomes_the_store_query() {
        let filter = store_filter(EntryFilter {
            from: Some(" 2026-11-25".into()),
            instrument: Some("  ".into()),
            kind: Some(EntryKind::Lesson),
            piece: Some(" Clair ".into()),
            tag: Some("exam".into()),
            search: None,
            ..EntryFilter::default()
        })
        .unwrap();
        assert_eq!(
            filter,
            StoreFilter {
                from: NaiveDate::from_ymd_opt(2026, 11, 25),
                to: None,
                instrument: None,
                entry_type: Some(EntryType::Lesson),
                piece: Some("Clair".into()),
                tag: Some("exam".into()),
                search: None,
                before: None,
                days: None,
            }
        );
        let page = store_filter(EntryFilter {
            before: Some("2026-11-25".into()),
            days: Some(60),
            ..EntryFilter::default()
        })
        .unwrap();
        assert_eq!(
            (page.before, page.days),
            (NaiveDate::from_ymd_opt(2026, 11, 25), Some(60))
        );
        for (bad, field) in [
            (
                EntryFilter {
                    before: Some("soon".into()),
                    ..EntryFilter::default()
                },
                "before",
            ),
            (
                EntryFilter {
                    days: Some(0),
                    ..EntryFilter::default()
                },
                "days",
            ),
        ] {
            assert_eq!(store_filter(bad).unwrap_err().field.as_deref(), Some(field));
        }
    }

    #[test]
    fn lists_group_by_local_day_from_the_store() {
        let mut store = Store::open_in_memory().unwrap();
        let make = |store: &mut Store, at: &str, minutes: u32, instrument: &str, tag: &str| {
            let id = EntityId::new(uuid::Uuid::now_v7().to_string()).unwrap();
            let mut entry = LogbookEntry::new(id.clone(), parse_time("t", at).unwrap(), minutes);
            entry.instrument = Some(instrument.into());
            entry.tags = vec![tag.into()];
            entry.pieces = vec![PieceRef::new("Scales")];
            store.save(&entry, 1).unwrap();
            id
        };
        // 23:30 UTC is the next day at +01:00.
        let c = make(&mut store, "2026-11-25T23:30:00Z", 30, "piano", "exam");
        make(&mut store, "2026-11-25T12:00:00Z", 20, "violin", "exam");
        make(&mut store, "2026-11-25T08:00:00Z", 10, "piano", "warmup");
        let all = list(&store, &StoreFilter::default(), 60).unwrap();
        assert_eq!((all.count, all.total_minutes), (3, 60));
        let days: Vec<_> = all
            .days
            .iter()
            .map(|d| (d.date.as_str(), d.total_minutes, d.entries.len()))
            .collect();
        assert_eq!(days, vec![("2026-11-26", 30, 1), ("2026-11-25", 30, 2)]);
        assert!(!all.more);

        // In pages of days: the first page says older days match, the next one does not.
        let page = |before: Option<&str>| {
            let filter = store_filter(EntryFilter {
                before: before.map(str::to_owned),
                days: Some(1),
                ..EntryFilter::default()
            })
            .unwrap();
            let list = list(&store, &filter, 60).unwrap();
            let dates: Vec<String> = list.days.iter().map(|d| d.date.clone()).collect();
            (dates, list.count, list.more)
        };
        assert_eq!(page(None), (vec!["2026-11-26".to_owned()], 1, true));
        assert_eq!(
            page(Some("2026-11-26")),
            (vec!["2026-11-25".to_owned()], 2, false)
        );

        let filter = store_filter(EntryFilter {
            instrument: Some("PIANO".into()),
            tag: Some("exam".into()),
            piece: Some("scales".into()),
            ..EntryFilter::default()
        })
        .unwrap();
        let piano = list(&store, &filter, 60).unwrap();
        assert_eq!(piano.count, 1);
        assert_eq!(piano.days[0].entries[0].id, c.as_str());

        let filter = |kind| {
            store_filter(EntryFilter {
                to: Some("2026-11-25".into()),
                kind: Some(kind),
                ..EntryFilter::default()
            })
            .unwrap()
        };
        assert_eq!(
            list(&store, &filter(EntryKind::Lesson), 60).unwrap().count,
            0
        );
        assert_eq!(
            list(&store, &filter(EntryKind::Practice), 60)
                .unwrap()
                .count,
            2
        );
    }

    fn saved(store: &mut Store, minutes: u32) -> EntityId {
        let id = EntityId::new(uuid::Uuid::now_v7().to_string()).unwrap();
        let mut entry = LogbookEntry::new(id.clone(), now(), minutes);
        apply_input(&mut entry, input(), now()).unwrap();
        store.save(&entry, now().timestamp_millis()).unwrap();
        id
    }

    /// Acknowledges every pending change, as the server would.
    fn ack_all(store: &mut Store) {
        let pending = store.next_pending(100, i64::MAX).unwrap();
        let ids: Vec<_> = pending.iter().map(|p| p.change.change_id.clone()).collect();
        store.mark_in_flight(&ids).unwrap();
        for item in pending {
            let change = item.change;
            store
                .apply_ack(&change.change_id, change.base_version + 1, &change.data)
                .unwrap();
        }
    }

    #[test]
    fn undo_of_an_unsent_entry_brings_it_back_under_its_id() {
        let mut store = Store::open_in_memory().unwrap();
        let id = saved(&mut store, 45);
        assert!(delete(&mut store, &id, 1).unwrap());
        assert_eq!(read_entry(&store, &id).unwrap(), None);
        assert!(!delete(&mut store, &id, 2).unwrap(), "already gone");
        let (back, same_id) = restore(&mut store, &id, 3).unwrap().expect("restored");
        assert!(same_id);
        assert_eq!(back.id, id.as_str());
        assert_eq!(back.duration, 45);
        assert_eq!(back.sync, EntrySync::Pending);
    }

    #[test]
    fn undo_of_a_synced_delete_recreates_the_entry_under_a_new_id() {
        let mut store = Store::open_in_memory().unwrap();
        let id = saved(&mut store, 45);
        ack_all(&mut store);
        assert_eq!(
            read_entry(&store, &id).unwrap().unwrap().sync,
            EntrySync::Synced
        );
        assert!(delete(&mut store, &id, 1).unwrap());
        ack_all(&mut store); // the delete reached the server
        let (back, same_id) = restore(&mut store, &id, 3).unwrap().expect("restored");
        assert!(!same_id);
        assert_ne!(back.id, id.as_str());
        assert_eq!(
            (back.duration, back.pieces[0].title.as_str()),
            (45, "Clair de lune")
        );
        assert_eq!(
            read_entry(&store, &id).unwrap(),
            None,
            "the old id stays deleted"
        );
        assert_eq!(restore(&mut store, &id, 4).unwrap(), None, "nothing left");
    }

    #[test]
    fn undo_of_an_unsent_delete_of_a_synced_entry_cancels_it() {
        let mut store = Store::open_in_memory().unwrap();
        let id = saved(&mut store, 45);
        ack_all(&mut store);
        assert!(delete(&mut store, &id, 1).unwrap());
        assert_eq!(store.pending_count().unwrap(), 1);
        let (back, same_id) = restore(&mut store, &id, 3).unwrap().expect("restored");
        assert!(same_id);
        assert_eq!(
            (back.id.as_str(), back.sync),
            (id.as_str(), EntrySync::Synced)
        );
        assert_eq!(store.pending_count().unwrap(), 0, "the delete never leaves");
    }

    #[test]
    fn search_and_days_come_from_the_store() {
        let mut store = Store::open_in_memory().unwrap();
        saved(&mut store, 45);
        let query = |filter: EntryFilter| {
            list(&store, &store_filter(filter).unwrap(), 60)
                .unwrap()
                .count
        };
        assert_eq!(query(EntryFilter::default()), 1);
        let search = EntryFilter {
            search: Some("DEBUSSY".into()),
            ..EntryFilter::default()
        };
        assert_eq!(query(search), 1);
        let other_day = EntryFilter {
            from: Some("2026-11-27".into()),
            ..EntryFilter::default()
        };
        assert_eq!(query(other_day), 0);
    }
}
