//! Repertoire pieces between the typed model and the IPC views: reading a
//! [`RepertoirePiece`] (with its practice from the store's per-piece aggregates), applying a
//! [`PieceInput`] (normalised) to a [`RepertoireItem`]. The status history and the practice
//! figures are the store's (`Store::save_piece`, `Store::piece_practice`); this module only
//! converts. Tested here.

use legato_core::RepertoireItem;
use legato_core::model::{self, datetime};
use legato_protocol::EntityId;
use legato_store::{PiecePractice, SimilarPiece as StoreSimilar, Store, TempoPoint as StorePoint};

use crate::ipc::error::IpcError;
use crate::ipc::types::{
    EntrySync, PieceDetail, PieceInput, PieceStatus, RepertoirePiece, SimilarPiece, StatusStep,
    TempoPoint,
};

impl From<model::PieceStatus> for PieceStatus {
    fn from(value: model::PieceStatus) -> Self {
        match value {
            model::PieceStatus::Planned => PieceStatus::Planned,
            model::PieceStatus::Learning => PieceStatus::Learning,
            model::PieceStatus::Polished => PieceStatus::Polished,
            model::PieceStatus::Performed => PieceStatus::Performed,
            model::PieceStatus::Dropped => PieceStatus::Dropped,
        }
    }
}

impl From<PieceStatus> for model::PieceStatus {
    fn from(value: PieceStatus) -> Self {
        match value {
            PieceStatus::Planned => model::PieceStatus::Planned,
            PieceStatus::Learning => model::PieceStatus::Learning,
            PieceStatus::Polished => model::PieceStatus::Polished,
            PieceStatus::Performed => model::PieceStatus::Performed,
            PieceStatus::Dropped => model::PieceStatus::Dropped,
        }
    }
}

/// The view of a typed piece with its practice and sync badge.
pub fn piece_view(
    item: &RepertoireItem,
    practice: PiecePractice,
    sync: EntrySync,
) -> RepertoirePiece {
    RepertoirePiece {
        id: item.id.to_string(),
        title: item.title.clone(),
        composer: item.composer.clone(),
        status: item.status.into(),
        difficulty: item.difficulty,
        notes: item.notes.clone(),
        links: item.reference_links.clone(),
        tags: item.tags.clone(),
        status_history: item
            .status_history
            .iter()
            .map(|step| StatusStep {
                at: datetime::format(&step.at),
                from: step.from.map(PieceStatus::from),
                to: step.to.into(),
            })
            .collect(),
        practice_minutes: practice.minutes,
        sessions: practice.sessions,
        last_practiced: practice.last_practiced_ms,
        created_at: item.created_at.as_ref().map(datetime::format),
        updated_at: item.updated_at.as_ref().map(datetime::format),
        sync,
    }
}

/// Every live piece that reads, oldest first, with its practice. One query for the
/// practice of all pieces.
pub fn list(store: &Store) -> legato_store::Result<Vec<RepertoirePiece>> {
    let practice: std::collections::HashMap<EntityId, PiecePractice> =
        store.piece_practice()?.into_iter().collect();
    let mut pieces = Vec::new();
    for entity in store.list(legato_protocol::EntityType::Repertoire)? {
        match RepertoireItem::from_fields(entity.id.clone(), &entity.state) {
            Ok(item) => pieces.push(piece_view(
                &item,
                practice.get(&item.id).copied().unwrap_or_default(),
                entity.sync.into(),
            )),
            Err(err) => {
                tracing::warn!(id = %entity.id, %err, "skipping a repertoire piece that does not read");
            }
        }
    }
    Ok(pieces)
}

/// One live piece with its practice; `None` if there is none.
pub fn read_piece(store: &Store, id: &EntityId) -> legato_store::Result<Option<RepertoirePiece>> {
    let Some(entity) = store.get(legato_protocol::EntityType::Repertoire, id)? else {
        return Ok(None);
    };
    if entity.deleted {
        return Ok(None);
    }
    let item = RepertoireItem::from_fields(entity.id.clone(), &entity.state)?;
    let practice = store
        .piece_practice()?
        .into_iter()
        .find(|(piece, _)| piece == id)
        .map(|(_, practice)| practice)
        .unwrap_or_default();
    Ok(Some(piece_view(&item, practice, entity.sync.into())))
}

/// A piece with its tempo history.
pub fn detail(store: &Store, id: &EntityId) -> legato_store::Result<Option<PieceDetail>> {
    let Some(piece) = read_piece(store, id)? else {
        return Ok(None);
    };
    let tempo_history = store
        .tempo_history(id)?
        .into_iter()
        .map(tempo_view)
        .collect();
    Ok(Some(PieceDetail {
        piece,
        tempo_history,
    }))
}

fn tempo_view(point: StorePoint) -> TempoPoint {
    TempoPoint {
        entry_id: point.entry_id.to_string(),
        at: point.at_ms,
        tempo: point.tempo,
    }
}

pub fn similar_view(piece: StoreSimilar) -> SimilarPiece {
    SimilarPiece {
        id: piece.id.to_string(),
        title: piece.title,
        composer: piece.composer,
    }
}

/// Trimmed text; empty as `None`.
fn text(value: Option<String>) -> Option<String> {
    value.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// Trimmed, non-empty, each once (first spelling kept).
fn distinct(values: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for value in values {
        let value = value.trim().to_owned();
        if !value.is_empty() && !out.contains(&value) {
            out.push(value);
        }
    }
    out
}

/// Writes the user-editable fields of `input` into `item` (normalised). The status goes in
/// as given: `Store::save_piece` records a move in the history. Range checks are the
/// store's (`legato_core` validation names the field).
pub fn apply_input(item: &mut RepertoireItem, input: PieceInput) -> Result<(), IpcError> {
    let title = input.title.trim();
    if title.is_empty() {
        return Err(IpcError::invalid("title", "a piece needs a title"));
    }
    item.title = title.to_owned();
    item.composer = text(input.composer);
    item.status = input.status.into();
    item.difficulty = input.difficulty;
    item.notes = text(input.notes);
    item.reference_links = distinct(input.links);
    item.tags = distinct(input.tags);
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn input() -> PieceInput {
        PieceInput {
            title: "  Clair de lune ".into(),
            composer: Some(" ".into()),
            status: PieceStatus::Learning,
            difficulty: Some(3),
            notes: Some(" slow, then a tempo ".into()),
            links: vec![
                "https://imslp.org/x".into(),
                " https://imslp.org/x".into(),
                String::new(),
            ],
            tags: vec!["recital".into(), "recital".into()],
        }
    }

    #[test]
    fn input_is_normalised() {
        let mut item = RepertoireItem::new(EntityId::new("p1").unwrap(), "old");
        apply_input(&mut item, input()).unwrap();
        assert_eq!(item.title, "Clair de lune");
        assert_eq!(item.composer, None);
        assert_eq!(item.status, model::PieceStatus::Learning);
        assert_eq!(item.notes.as_deref(), Some("slow, then a tempo"));
        assert_eq!(item.reference_links, ["https://imslp.org/x"]);
        assert_eq!(item.tags, ["recital"]);
        let err = apply_input(
            &mut item,
            PieceInput {
                title: "  ".into(),
                ..input()
            },
        )
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("title"));
    }

    #[test]
    fn the_view_carries_history_and_practice() {
        let mut item = RepertoireItem::new(EntityId::new("p1").unwrap(), "Clair de lune");
        let at = chrono::Utc
            .with_ymd_and_hms(2026, 11, 25, 18, 30, 0)
            .unwrap();
        item.set_status(model::PieceStatus::Learning, at);
        let view = piece_view(
            &item,
            PiecePractice {
                minutes: 90,
                sessions: 3,
                last_practiced_ms: Some(5),
            },
            EntrySync::Pending,
        );
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["status"], "learning");
        assert_eq!(
            json["statusHistory"],
            serde_json::json!([{"at": "2026-11-25T18:30:00.000Z", "from": "planned", "to": "learning"}])
        );
        assert_eq!(json["practiceMinutes"], 90);
        assert_eq!(json["sessions"], 3);
        assert_eq!(json["lastPracticed"], 5);
        assert_eq!(json["sync"], "pending");
    }
}
