//! A repertoire item: one piece the user plays or plans to.

use chrono::{DateTime, Utc};
use legato_protocol::{EntityId, EntityType, Fields};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::convert::{Reader, Writer};
use super::{ModelError, PieceStatus, datetime as rfc3339_ms};
use crate::validate::{ValidationError, validate_state};

/// The known fields of a repertoire state (section 1.2).
const KNOWN: &[&str] = &[
    "title",
    "composer",
    "status",
    "difficulty",
    "notes",
    "referenceLinks",
    "tags",
    "statusHistory",
    "createdAt",
    "updatedAt",
];

/// One piece of the user's repertoire. Absent or `null` fields read as their defaults
/// (`status`: `planned`, lists: empty).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepertoireItem {
    pub id: EntityId,
    /// 1 to 200 characters.
    pub title: String,
    #[serde(default)]
    pub composer: Option<String>,
    #[serde(default)]
    pub status: PieceStatus,
    /// 1 to 5.
    #[serde(default)]
    pub difficulty: Option<u8>,
    #[serde(default)]
    pub notes: Option<String>,
    /// `http(s)` URLs.
    #[serde(default)]
    pub reference_links: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Every status change, oldest first. Written by [`RepertoireItem::set_status`].
    #[serde(default)]
    pub status_history: Vec<StatusChange>,
    #[serde(default, with = "rfc3339_ms::option")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, with = "rfc3339_ms::option")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Fields this version does not know, kept verbatim.
    #[serde(flatten)]
    pub extra: Fields,
}

/// One element of `statusHistory`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusChange {
    #[serde(with = "rfc3339_ms")]
    pub at: DateTime<Utc>,
    /// `None` for the first status a piece got.
    #[serde(default)]
    pub from: Option<PieceStatus>,
    pub to: PieceStatus,
    /// Keys this version does not know, kept verbatim.
    #[serde(flatten)]
    pub extra: Fields,
}

impl StatusChange {
    const KNOWN: &[&str] = &["at", "from", "to"];

    fn read(path: &str, value: &Value) -> Result<Self, ValidationError> {
        let change = Reader::nested(path, value)?;
        Ok(StatusChange {
            at: change.required_date("at")?,
            from: change.parsed("from")?,
            to: change
                .parsed("to")?
                .ok_or_else(|| ValidationError::new(format!("{path}.to"), "is required"))?,
            extra: change.extra(Self::KNOWN),
        })
    }

    fn write(&self) -> Value {
        Value::Object(
            Writer::new()
                .date("at", &self.at)
                .put_opt("from", self.from.map(PieceStatus::as_str))
                .put("to", self.to.as_str())
                .extra(&self.extra),
        )
    }
}

impl RepertoireItem {
    /// A `planned` piece with every optional field empty.
    pub fn new(id: EntityId, title: impl Into<String>) -> Self {
        RepertoireItem {
            id,
            title: title.into(),
            composer: None,
            status: PieceStatus::default(),
            difficulty: None,
            notes: None,
            reference_links: Vec::new(),
            tags: Vec::new(),
            status_history: Vec::new(),
            created_at: None,
            updated_at: None,
            extra: Fields::new(),
        }
    }

    /// Moves the piece to `status` at time `at`, recording the change in `statusHistory`.
    /// Returns false (and records nothing) when the piece already has that status.
    ///
    /// The history is structured data, never text appended to `notes`, so it merges,
    /// validates and renders like any other field.
    pub fn set_status(&mut self, status: PieceStatus, at: DateTime<Utc>) -> bool {
        if status == self.status {
            return false;
        }
        self.status_history.push(StatusChange {
            at,
            from: Some(self.status),
            to: status,
            extra: Fields::new(),
        });
        self.status = status;
        true
    }

    /// The entity state: every known field (`null` for an empty optional one, date-times in
    /// the canonical `...000Z` form), then the unknown fields of `extra`.
    pub fn to_fields(&self) -> Fields {
        Writer::new()
            .put("title", self.title.as_str())
            .put_opt("composer", self.composer.as_deref())
            .put("status", self.status.as_str())
            .put_opt("difficulty", self.difficulty)
            .put_opt("notes", self.notes.as_deref())
            .strings("referenceLinks", &self.reference_links)
            .strings("tags", &self.tags)
            .list("statusHistory", &self.status_history, StatusChange::write)
            .opt_date("createdAt", self.created_at.as_ref())
            .opt_date("updatedAt", self.updated_at.as_ref())
            .extra(&self.extra)
    }

    /// Reads a repertoire state; fails with the field of the first section 1 violation.
    pub fn from_fields(id: EntityId, fields: &Fields) -> Result<Self, ModelError> {
        validate_state(EntityType::Repertoire, fields)?;
        let state = Reader::new(fields);
        Ok(RepertoireItem {
            id,
            title: state.required_string("title")?,
            composer: state.string("composer")?,
            status: state.parsed("status")?.unwrap_or_default(),
            difficulty: state.int_as("difficulty")?,
            notes: state.string("notes")?,
            reference_links: state.strings("referenceLinks")?,
            tags: state.strings("tags")?,
            status_history: state.list("statusHistory", StatusChange::read)?,
            created_at: state.date("createdAt")?,
            updated_at: state.date("updatedAt")?,
            extra: state.extra(KNOWN),
        })
    }
}
