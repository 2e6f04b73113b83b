//! A logbook entry: one practice session.

use chrono::{DateTime, Utc};
use legato_protocol::{EntityId, EntityType, Fields};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::convert::{Reader, Writer};
use super::{EntryType, ModelError, Mood, datetime as rfc3339_ms};
use crate::validate::{ValidationError, validate_state};

/// The known fields of a logbook state (section 1.1).
const KNOWN: &[&str] = &[
    "timestamp",
    "duration",
    "type",
    "instrument",
    "pieces",
    "techniques",
    "goalIds",
    "notes",
    "mood",
    "tags",
    "metadata",
    "createdAt",
    "updatedAt",
];

/// One practice session. Absent or `null` fields read as their defaults (`type`:
/// `practice`, lists: empty, `metadata`: `{}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogbookEntry {
    pub id: EntityId,
    /// When the practice happened.
    #[serde(with = "rfc3339_ms")]
    pub timestamp: DateTime<Utc>,
    /// Minutes, 1 to 1440.
    pub duration: u32,
    #[serde(rename = "type", default)]
    pub entry_type: EntryType,
    /// Lowercase, at most 50 characters.
    #[serde(default)]
    pub instrument: Option<String>,
    #[serde(default)]
    pub pieces: Vec<PieceRef>,
    #[serde(default)]
    pub techniques: Vec<String>,
    #[serde(default)]
    pub goal_ids: Vec<EntityId>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub mood: Option<Mood>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub metadata: Fields,
    #[serde(default, with = "rfc3339_ms::option")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, with = "rfc3339_ms::option")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Fields this version does not know, kept verbatim.
    #[serde(flatten)]
    pub extra: Fields,
}

/// A piece worked on in a session (an element of `pieces`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PieceRef {
    /// 1 to 200 characters.
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub composer: Option<String>,
    /// Free text, e.g. `"1-32"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measures: Option<String>,
    /// Beats per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tempo: Option<i64>,
    /// The repertoire or score this piece refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_id: Option<String>,
    /// Keys this version does not know, kept verbatim.
    #[serde(flatten)]
    pub extra: Fields,
}

impl PieceRef {
    const KNOWN: &[&str] = &["title", "composer", "measures", "tempo", "scoreId"];

    pub fn new(title: impl Into<String>) -> Self {
        PieceRef {
            title: title.into(),
            composer: None,
            measures: None,
            tempo: None,
            score_id: None,
            extra: Fields::new(),
        }
    }

    fn read(path: &str, value: &Value) -> Result<Self, ValidationError> {
        let piece = Reader::nested(path, value)?;
        Ok(PieceRef {
            title: piece.required_string("title")?,
            composer: piece.string("composer")?,
            measures: piece.string("measures")?,
            tempo: piece.int("tempo")?,
            score_id: piece.string("scoreId")?,
            extra: piece.extra(Self::KNOWN),
        })
    }

    fn write(&self) -> Value {
        Value::Object(
            Writer::new()
                .put("title", self.title.as_str())
                .put_some("composer", self.composer.as_deref())
                .put_some("measures", self.measures.as_deref())
                .put_some("tempo", self.tempo)
                .put_some("scoreId", self.score_id.as_deref())
                .extra(&self.extra),
        )
    }
}

impl LogbookEntry {
    /// A `practice` entry with every optional field empty.
    pub fn new(id: EntityId, timestamp: DateTime<Utc>, duration: u32) -> Self {
        LogbookEntry {
            id,
            timestamp,
            duration,
            entry_type: EntryType::default(),
            instrument: None,
            pieces: Vec::new(),
            techniques: Vec::new(),
            goal_ids: Vec::new(),
            notes: None,
            mood: None,
            tags: Vec::new(),
            metadata: Fields::new(),
            created_at: None,
            updated_at: None,
            extra: Fields::new(),
        }
    }

    /// Puts user input in the stored form, the same whichever client typed it: texts trimmed
    /// (blank ones removed), the instrument in lower case, piece titles trimmed, and
    /// techniques and tags without blanks or repeats (compared case-insensitively, the first
    /// spelling kept: they merge as sets, section 4).
    pub fn normalise(&mut self) {
        fn text(value: &mut Option<String>) {
            *value = value
                .take()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty());
        }
        fn labels(values: &mut Vec<String>) {
            let mut seen = std::collections::HashSet::new();
            *values = std::mem::take(values)
                .into_iter()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty() && seen.insert(v.to_lowercase()))
                .collect();
        }
        text(&mut self.instrument);
        self.instrument = self.instrument.take().map(|i| i.to_lowercase());
        text(&mut self.notes);
        for piece in &mut self.pieces {
            piece.title = piece.title.trim().to_owned();
            text(&mut piece.composer);
            text(&mut piece.measures);
            text(&mut piece.score_id);
        }
        labels(&mut self.techniques);
        labels(&mut self.tags);
    }

    /// The entity state: every known field (`null` for an empty optional one, date-times in
    /// the canonical `...000Z` form), then the unknown fields of `extra`.
    pub fn to_fields(&self) -> Fields {
        Writer::new()
            .date("timestamp", &self.timestamp)
            .put("duration", self.duration)
            .put("type", self.entry_type.as_str())
            .put_opt("instrument", self.instrument.as_deref())
            .list("pieces", &self.pieces, PieceRef::write)
            .strings("techniques", &self.techniques)
            .ids("goalIds", &self.goal_ids)
            .put_opt("notes", self.notes.as_deref())
            .put_opt("mood", self.mood.map(Mood::as_str))
            .strings("tags", &self.tags)
            .put("metadata", self.metadata.clone())
            .opt_date("createdAt", self.created_at.as_ref())
            .opt_date("updatedAt", self.updated_at.as_ref())
            .extra(&self.extra)
    }

    /// Reads a logbook state; fails with the field of the first section 1 violation.
    pub fn from_fields(id: EntityId, fields: &Fields) -> Result<Self, ModelError> {
        validate_state(EntityType::Logbook, fields)?;
        let state = Reader::new(fields);
        Ok(LogbookEntry {
            id,
            timestamp: state.required_date("timestamp")?,
            duration: state
                .int_as("duration")?
                .ok_or_else(|| ValidationError::new("duration", "is required"))?,
            entry_type: state.parsed("type")?.unwrap_or_default(),
            instrument: state.string("instrument")?,
            pieces: state.list("pieces", PieceRef::read)?,
            techniques: state.strings("techniques")?,
            goal_ids: state.ids("goalIds")?,
            notes: state.string("notes")?,
            mood: state.parsed("mood")?,
            tags: state.strings("tags")?,
            metadata: state.object("metadata")?,
            created_at: state.date("createdAt")?,
            updated_at: state.date("updatedAt")?,
            extra: state.extra(KNOWN),
        })
    }
}
