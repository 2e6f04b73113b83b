//! A practice goal.

use chrono::{DateTime, Utc};
use legato_protocol::{EntityId, EntityType, Fields};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::convert::{Reader, Writer};
use super::{GoalPeriod, GoalStatus, GoalType, ModelError, datetime as rfc3339_ms};
use crate::validate::{ValidationError, validate_state};

/// The known fields of a goal state (section 1.3).
const KNOWN: &[&str] = &[
    "title",
    "description",
    "type",
    "targetMinutes",
    "period",
    "progress",
    "targetDate",
    "status",
    "pieceIds",
    "milestones",
    "notes",
    "tags",
    "createdAt",
    "updatedAt",
];

/// One practice goal. Absent or `null` fields read as their defaults (`type`: `custom`,
/// `period`: `total`, `status`: `active`, `progress`: 0, lists: empty).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Goal {
    pub id: EntityId,
    /// 1 to 200 characters.
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(rename = "type", default)]
    pub goal_type: GoalType,
    #[serde(default)]
    pub target_minutes: Option<i64>,
    #[serde(default)]
    pub period: GoalPeriod,
    /// A counter: clients change it with `$inc` so concurrent updates add up.
    #[serde(default)]
    pub progress: i64,
    #[serde(default, with = "rfc3339_ms::option")]
    pub target_date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub status: GoalStatus,
    /// Repertoire ids.
    #[serde(default)]
    pub piece_ids: Vec<EntityId>,
    #[serde(default)]
    pub milestones: Vec<Milestone>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default, with = "rfc3339_ms::option")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, with = "rfc3339_ms::option")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Fields this version does not know, kept verbatim.
    #[serde(flatten)]
    pub extra: Fields,
}

/// One element of `milestones`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Milestone {
    /// 1 to 64 characters, unique within the goal.
    pub id: String,
    /// 1 to 200 characters.
    pub title: String,
    pub done: bool,
    #[serde(default, with = "rfc3339_ms::option")]
    pub done_at: Option<DateTime<Utc>>,
    /// Keys this version does not know, kept verbatim.
    #[serde(flatten)]
    pub extra: Fields,
}

impl Milestone {
    const KNOWN: &[&str] = &["id", "title", "done", "doneAt"];

    pub fn new(id: impl Into<String>, title: impl Into<String>) -> Self {
        Milestone {
            id: id.into(),
            title: title.into(),
            done: false,
            done_at: None,
            extra: Fields::new(),
        }
    }

    fn read(path: &str, value: &Value) -> Result<Self, ValidationError> {
        let milestone = Reader::nested(path, value)?;
        Ok(Milestone {
            id: milestone.required_string("id")?,
            title: milestone.required_string("title")?,
            done: milestone
                .bool("done")?
                .ok_or_else(|| ValidationError::new(format!("{path}.done"), "is required"))?,
            done_at: milestone.date("doneAt")?,
            extra: milestone.extra(Self::KNOWN),
        })
    }

    fn write(&self) -> Value {
        Value::Object(
            Writer::new()
                .put("id", self.id.as_str())
                .put("title", self.title.as_str())
                .put("done", self.done)
                .opt_date("doneAt", self.done_at.as_ref())
                .extra(&self.extra),
        )
    }
}

impl Goal {
    /// An active `custom` goal over the `total` period with every optional field empty.
    pub fn new(id: EntityId, title: impl Into<String>) -> Self {
        Goal {
            id,
            title: title.into(),
            description: None,
            goal_type: GoalType::default(),
            target_minutes: None,
            period: GoalPeriod::default(),
            progress: 0,
            target_date: None,
            status: GoalStatus::default(),
            piece_ids: Vec::new(),
            milestones: Vec::new(),
            notes: None,
            tags: Vec::new(),
            created_at: None,
            updated_at: None,
            extra: Fields::new(),
        }
    }

    /// A milestone id unique within the goal: `m1`, `m2`, ... (one more than the highest such
    /// number). Short, because CLI users type them; two devices adding one at once may pick
    /// the same number, which the list merge keeps as two elements with distinct content.
    pub fn next_milestone_id(&self) -> String {
        let highest = self
            .milestones
            .iter()
            .filter_map(|m| m.id.strip_prefix('m')?.parse::<u32>().ok())
            .max()
            .unwrap_or(0);
        format!("m{}", highest + 1)
    }

    /// Marks milestone `id` done or not done at time `at` (`doneAt` follows). Returns false
    /// when there is no such milestone or it is already in that state.
    pub fn set_milestone_done(&mut self, id: &str, done: bool, at: DateTime<Utc>) -> bool {
        let Some(milestone) = self.milestones.iter_mut().find(|m| m.id == id) else {
            return false;
        };
        if milestone.done == done {
            return false;
        }
        milestone.done = done;
        milestone.done_at = done.then_some(at);
        true
    }

    /// The entity state: every known field (`null` for an empty optional one, date-times in
    /// the canonical `...000Z` form), then the unknown fields of `extra`.
    pub fn to_fields(&self) -> Fields {
        Writer::new()
            .put("title", self.title.as_str())
            .put_opt("description", self.description.as_deref())
            .put("type", self.goal_type.as_str())
            .put_opt("targetMinutes", self.target_minutes)
            .put("period", self.period.as_str())
            .put("progress", self.progress)
            .opt_date("targetDate", self.target_date.as_ref())
            .put("status", self.status.as_str())
            .ids("pieceIds", &self.piece_ids)
            .list("milestones", &self.milestones, Milestone::write)
            .put_opt("notes", self.notes.as_deref())
            .strings("tags", &self.tags)
            .opt_date("createdAt", self.created_at.as_ref())
            .opt_date("updatedAt", self.updated_at.as_ref())
            .extra(&self.extra)
    }

    /// Reads a goal state; fails with the field of the first section 1 violation.
    pub fn from_fields(id: EntityId, fields: &Fields) -> Result<Self, ModelError> {
        validate_state(EntityType::Goals, fields)?;
        let state = Reader::new(fields);
        Ok(Goal {
            id,
            title: state.required_string("title")?,
            description: state.string("description")?,
            goal_type: state.parsed("type")?.unwrap_or_default(),
            target_minutes: state.int("targetMinutes")?,
            period: state.parsed("period")?.unwrap_or_default(),
            progress: state.int("progress")?.unwrap_or_default(),
            target_date: state.date("targetDate")?,
            status: state.parsed("status")?.unwrap_or_default(),
            piece_ids: state.ids("pieceIds")?,
            milestones: state.list("milestones", Milestone::read)?,
            notes: state.string("notes")?,
            tags: state.strings("tags")?,
            created_at: state.date("createdAt")?,
            updated_at: state.date("updatedAt")?,
            extra: state.extra(KNOWN),
        })
    }
}
