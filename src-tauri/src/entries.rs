//! Logbook entries between the typed model and the IPC views: reading an [`Entry`],
//! applying an [`EntryInput`] (normalised) to a [`LogbookEntry`], and the list filters and
//! day grouping of `list_entries`. Pure functions, tested here.
//!
//! The store answers "entries of these days" and "entries matching this text"; the other
//! filters (instrument, type, piece, tag) and the grouping of search results are applied
//! here on its answer. A store query taking the whole [`EntryFilter`] would do it in SQL.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use legato_core::LogbookEntry;
use legato_core::model::{self, EntryType, PieceRef, datetime};
use legato_protocol::{EntityId, EntityType, Fields};
use legato_store::{LogEntry, Store, rfc3339_ms};
use serde_json::Value;

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

/// Trimmed labels without empty ones and repeats (first spelling kept, compared
/// case-insensitively).
fn labels(values: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    values
        .into_iter()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty() && seen.insert(v.to_lowercase()))
        .collect()
}

fn piece_ref(piece: Piece, kept: Option<&PieceRef>) -> PieceRef {
    PieceRef {
        title: piece.title.trim().to_owned(),
        composer: text(piece.composer),
        measures: text(piece.measures),
        tempo: piece.tempo,
        score_id: text(piece.score_id),
        // Keys this version does not know survive an edit of the same piece.
        extra: kept.map(|p| p.extra.clone()).unwrap_or_default(),
    }
}

/// Parses an RFC 3339 time with any offset.
pub fn parse_time(field: &str, value: &str) -> Result<DateTime<Utc>, IpcError> {
    DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
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
    entry.instrument = text(input.instrument).map(|i| i.to_lowercase());
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
    entry.techniques = labels(input.techniques);
    entry.mood = input.mood.map(model::Mood::from);
    entry.notes = text(input.notes);
    entry.tags = labels(input.tags);
    entry.created_at.get_or_insert(now);
    entry.updated_at = Some(now);
    Ok(())
}

/// A filter with its dates parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedFilter {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub instrument: Option<String>,
    pub kind: Option<EntryKind>,
    pub piece: Option<String>,
    pub tag: Option<String>,
    pub search: Option<String>,
}

fn parse_date(field: &str, value: Option<String>) -> Result<Option<NaiveDate>, IpcError> {
    text(value)
        .map(|v| {
            NaiveDate::parse_from_str(&v, "%Y-%m-%d")
                .map_err(|_| IpcError::invalid(field, format!("`{v}` is not a date (YYYY-MM-DD)")))
        })
        .transpose()
}

impl ParsedFilter {
    pub fn parse(filter: EntryFilter) -> Result<Self, IpcError> {
        let lower = |v: Option<String>| text(v).map(|s| s.to_lowercase());
        let parsed = ParsedFilter {
            from: parse_date("from", filter.from)?,
            to: parse_date("to", filter.to)?,
            instrument: lower(filter.instrument),
            kind: filter.kind,
            piece: lower(filter.piece),
            tag: lower(filter.tag),
            search: text(filter.search),
        };
        if let (Some(from), Some(to)) = (parsed.from, parsed.to)
            && from > to
        {
            return Err(IpcError::invalid("from", "`from` is after `to`"));
        }
        Ok(parsed)
    }

    /// The day range to ask the store for (years 1 to 9999 when open-ended).
    pub fn day_range(&self) -> (NaiveDate, NaiveDate) {
        let first = NaiveDate::from_ymd_opt(1, 1, 1).unwrap_or(NaiveDate::MIN);
        let last = NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or(NaiveDate::MAX);
        (self.from.unwrap_or(first), self.to.unwrap_or(last))
    }

    /// Whether `entry`, on local day `date`, passes every filter but the free text (the
    /// store's search does that one).
    pub fn matches(&self, entry: &LogbookEntry, date: NaiveDate) -> bool {
        let eq = |a: &str, b: &str| a.trim().to_lowercase() == b;
        self.from.is_none_or(|from| date >= from)
            && self.to.is_none_or(|to| date <= to)
            && self
                .kind
                .is_none_or(|kind| EntryKind::from(entry.entry_type) == kind)
            && self.instrument.as_deref().is_none_or(|wanted| {
                entry
                    .instrument
                    .as_deref()
                    .is_some_and(|have| eq(have, wanted))
            })
            && self
                .piece
                .as_deref()
                .is_none_or(|wanted| entry.pieces.iter().any(|p| eq(&p.title, wanted)))
            && self
                .tag
                .as_deref()
                .is_none_or(|wanted| entry.tags.iter().any(|t| eq(t, wanted)))
    }
}

/// The local calendar day of an instant at a fixed offset.
pub fn local_date(at: &DateTime<Utc>, offset: FixedOffset) -> NaiveDate {
    at.with_timezone(&offset).date_naive()
}

/// Filters `candidates` (newest first, as the store returns them) and groups them by local
/// day with daily totals, newest day first.
pub fn group_by_day(
    candidates: &[LogEntry],
    filter: &ParsedFilter,
    offset: FixedOffset,
) -> EntryList {
    let mut days: Vec<DayEntries> = Vec::new();
    let mut total_minutes = 0;
    let mut count = 0;
    for stored in candidates {
        let Some(entry) = typed(stored) else { continue };
        let date = local_date(&entry.timestamp, offset);
        if !filter.matches(&entry, date) {
            continue;
        }
        let minutes = u64::from(entry.duration);
        let view = entry_view(&entry, stored.sync.into());
        let date = date.format("%Y-%m-%d").to_string();
        match days.last_mut() {
            Some(day) if day.date == date => {
                day.total_minutes += minutes;
                day.entries.push(view);
            }
            _ => days.push(DayEntries {
                date,
                total_minutes: minutes,
                entries: vec![view],
            }),
        }
        total_minutes += minutes;
        count += 1;
    }
    EntryList {
        days,
        total_minutes,
        count,
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

/// The store's candidates for a filter: the text search when there is one, else the
/// filter's days (newest first either way; [`group_by_day`] applies the rest).
pub fn candidates(
    store: &Store,
    filter: &ParsedFilter,
    utc_offset_minutes: i32,
) -> legato_store::Result<Vec<LogEntry>> {
    match &filter.search {
        Some(text) => store.search(text),
        None => {
            let (from, to) = filter.day_range();
            Ok(store
                .entries_by_day(from, to, utc_offset_minutes)?
                .into_iter()
                .flat_map(|day| day.entries)
                .collect())
        }
    }
}

/// Deletes a live entry and returns its state just before (for undo); `None` when there is
/// no such live entry.
pub fn delete(
    store: &mut Store,
    id: &EntityId,
    now_ms: i64,
) -> legato_store::Result<Option<Fields>> {
    let Some(entity) = store.get(EntityType::Logbook, id)? else {
        return Ok(None);
    };
    if entity.deleted {
        return Ok(None);
    }
    store.delete(EntityType::Logbook, id, now_ms)?;
    Ok(Some(entity.state))
}

/// Brings a deleted entry back from its snapshot: under its own id when the store has no
/// trace of it (its creation never left the device, so the delete erased it), else as a
/// new entry (the tombstone stays: ids are never resurrected). Returns the entry.
pub fn restore(
    store: &mut Store,
    id: &EntityId,
    mut state: Fields,
    now_ms: i64,
) -> legato_store::Result<Option<Entry>> {
    state.insert("updatedAt".to_owned(), Value::String(rfc3339_ms(now_ms)));
    let edit = if store.get(EntityType::Logbook, id)?.is_none() {
        store.create_with_id(EntityType::Logbook, id.clone(), state, now_ms)?
    } else {
        store.create(EntityType::Logbook, state, now_ms)?
    };
    read_entry(store, &edit.entity_id)
}

#[cfg(test)]
mod tests {
    use legato_store::SyncState;
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

    fn stored(entry: &LogbookEntry, sync: SyncState) -> LogEntry {
        LogEntry {
            id: entry.id.clone(),
            timestamp_ms: entry.timestamp.timestamp_millis(),
            duration_minutes: entry.duration,
            state: entry.to_fields(),
            sync,
        }
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

        let err = ParsedFilter::parse(EntryFilter {
            from: Some("25.11.2026".into()),
            ..EntryFilter::default()
        })
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("from"));
        let err = ParsedFilter::parse(EntryFilter {
            from: Some("2026-11-26".into()),
            to: Some("2026-11-25".into()),
            ..EntryFilter::default()
        })
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("from"));
    }

    #[test]
    fn filters_and_groups_by_local_day() {
        let make = |id: &str, at: &str, minutes: u32, instrument: &str, tag: &str| {
            let mut entry = LogbookEntry::new(
                EntityId::new(id).unwrap(),
                parse_time("t", at).unwrap(),
                minutes,
            );
            entry.instrument = Some(instrument.into());
            entry.tags = vec![tag.into()];
            entry.pieces = vec![PieceRef::new("Scales")];
            stored(&entry, SyncState::Synced)
        };
        // Newest first, as the store returns them. 23:30 UTC is the next day at +01:00.
        let candidates = vec![
            make("c", "2026-11-25T23:30:00Z", 30, "piano", "exam"),
            make("b", "2026-11-25T12:00:00Z", 20, "violin", "exam"),
            make("a", "2026-11-25T08:00:00Z", 10, "piano", "warmup"),
        ];
        let cet = FixedOffset::east_opt(3600).unwrap();
        let all = group_by_day(&candidates, &ParsedFilter::default(), cet);
        assert_eq!((all.count, all.total_minutes), (3, 60));
        let days: Vec<_> = all
            .days
            .iter()
            .map(|d| (d.date.as_str(), d.total_minutes, d.entries.len()))
            .collect();
        assert_eq!(days, vec![("2026-11-26", 30, 1), ("2026-11-25", 30, 2)]);

        let filter = ParsedFilter::parse(EntryFilter {
            instrument: Some("PIANO".into()),
            tag: Some("exam".into()),
            piece: Some("scales".into()),
            ..EntryFilter::default()
        })
        .unwrap();
        let piano = group_by_day(&candidates, &filter, cet);
        assert_eq!(piano.count, 1);
        assert_eq!(piano.days[0].entries[0].id, "c");

        let filter = ParsedFilter::parse(EntryFilter {
            to: Some("2026-11-25".into()),
            kind: Some(EntryKind::Lesson),
            ..EntryFilter::default()
        })
        .unwrap();
        assert_eq!(group_by_day(&candidates, &filter, cet).count, 0);
        let filter = ParsedFilter::parse(EntryFilter {
            to: Some("2026-11-25".into()),
            kind: Some(EntryKind::Practice),
            ..EntryFilter::default()
        })
        .unwrap();
        assert_eq!(group_by_day(&candidates, &filter, cet).count, 2);
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
        let snapshot = delete(&mut store, &id, 1).unwrap().expect("deleted");
        assert_eq!(read_entry(&store, &id).unwrap(), None);
        assert_eq!(delete(&mut store, &id, 2).unwrap(), None, "already gone");
        let back = restore(&mut store, &id, snapshot, 3)
            .unwrap()
            .expect("restored");
        assert_eq!(back.id, id.as_str());
        assert_eq!(back.duration, 45);
        assert_eq!(back.sync, EntrySync::Pending);
    }

    #[test]
    fn undo_of_a_synced_entry_recreates_it_under_a_new_id() {
        let mut store = Store::open_in_memory().unwrap();
        let id = saved(&mut store, 45);
        ack_all(&mut store);
        assert_eq!(
            read_entry(&store, &id).unwrap().unwrap().sync,
            EntrySync::Synced
        );
        let snapshot = delete(&mut store, &id, 1).unwrap().expect("deleted");
        let back = restore(&mut store, &id, snapshot, 3)
            .unwrap()
            .expect("restored");
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
    }

    #[test]
    fn candidates_come_from_the_days_or_the_search() {
        let mut store = Store::open_in_memory().unwrap();
        saved(&mut store, 45);
        let all = ParsedFilter::default();
        assert_eq!(candidates(&store, &all, 60).unwrap().len(), 1);
        let search = ParsedFilter::parse(EntryFilter {
            search: Some("DEBUSSY".into()),
            ..EntryFilter::default()
        })
        .unwrap();
        assert_eq!(candidates(&store, &search, 60).unwrap().len(), 1);
        let other_day = ParsedFilter::parse(EntryFilter {
            from: Some("2026-11-27".into()),
            ..EntryFilter::default()
        })
        .unwrap();
        assert!(candidates(&store, &other_day, 60).unwrap().is_empty());
    }
}
