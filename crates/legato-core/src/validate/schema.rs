//! The field tables of PROTOCOL.md section 1 as data, so validation, the operator rules of
//! section 3 and the docs all read the same table.

use legato_protocol::EntityType;

use crate::model::{EntryType, GoalPeriod, GoalStatus, GoalType, Mood, PieceStatus};

/// Largest serialized size of a `metadata` object, in bytes.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
/// Largest `notes` text, in characters (after `$deflate` inflation).
pub const MAX_NOTES_CHARS: usize = 20_000;
/// Largest `title` (of an entity, a piece or a milestone), in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Largest `instrument` name, in characters.
pub const MAX_INSTRUMENT_CHARS: usize = 50;
/// Largest tag or technique, in characters.
pub const MAX_LABEL_CHARS: usize = 50;
/// Largest number of `pieces` in one logbook entry.
pub const MAX_PIECES: usize = 20;
/// Largest number of `techniques` in one logbook entry.
pub const MAX_TECHNIQUES: usize = 30;
/// Largest number of `tags` on one entity.
pub const MAX_TAGS: usize = 50;
/// Largest milestone id, in characters.
pub const MAX_MILESTONE_ID_CHARS: usize = 64;

/// What a known field holds. `null` is handled before the kind is looked at: every field
/// that is not required may be `null` (section 3: "a field set to null is stored as null").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An RFC 3339 date-time string.
    DateTime,
    /// A JSON integer that fits in an `i64`, within `min..=max`.
    Integer { min: i64, max: i64 },
    /// One string of a fixed set.
    OneOf(&'static [&'static str]),
    /// Free text, length counted in characters.
    Text {
        min_chars: usize,
        max_chars: usize,
        lowercase: bool,
    },
    /// A JSON object of any content, bounded by its serialized size.
    Object { max_bytes: usize },
    /// A JSON array of `item`s.
    List { item: Item, max_items: usize },
}

impl Kind {
    /// Whether the value is a JSON string, so `$deflate` may stand in for it.
    pub(crate) fn is_string(self) -> bool {
        matches!(self, Kind::DateTime | Kind::OneOf(_) | Kind::Text { .. })
    }

    /// Whether `$inc` applies.
    pub(crate) fn is_integer(self) -> bool {
        matches!(self, Kind::Integer { .. })
    }

    /// The element kind, for arrays (`$addToSet`, `$pull`).
    pub(crate) fn list_item(self) -> Option<Item> {
        match self {
            Kind::List { item, .. } => Some(item),
            _ => None,
        }
    }
}

/// What an array element holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Item {
    /// A string of at most this many characters.
    Label { max_chars: usize },
    /// An entity id (`[A-Za-z0-9_-]{1,64}`).
    EntityId,
    /// An `http` or `https` URL.
    Url,
    /// A logbook `pieces` element.
    Piece,
    /// A goal `milestones` element.
    Milestone,
    /// A repertoire `statusHistory` element.
    StatusChange,
}

/// One row of a field table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldSpec {
    pub name: &'static str,
    pub kind: Kind,
    /// Required on create and never `null`.
    pub required: bool,
}

const fn field(name: &'static str, kind: Kind) -> FieldSpec {
    FieldSpec {
        name,
        kind,
        required: false,
    }
}

const fn required(name: &'static str, kind: Kind) -> FieldSpec {
    FieldSpec {
        name,
        kind,
        required: true,
    }
}

/// Any integer: the spec gives no range (counters must accept every value, or `$inc` from
/// two clients would be accepted or refused depending on arrival order).
const ANY_INTEGER: Kind = Kind::Integer {
    min: i64::MIN,
    max: i64::MAX,
};

const fn text(min_chars: usize, max_chars: usize) -> Kind {
    Kind::Text {
        min_chars,
        max_chars,
        lowercase: false,
    }
}

const TITLE: Kind = text(1, MAX_TITLE_CHARS);
const NOTES: Kind = text(0, MAX_NOTES_CHARS);
const FREE_TEXT: Kind = text(0, usize::MAX);
const TAGS: Kind = Kind::List {
    item: Item::Label {
        max_chars: MAX_LABEL_CHARS,
    },
    max_items: MAX_TAGS,
};
const IDS: Kind = Kind::List {
    item: Item::EntityId,
    max_items: usize::MAX,
};

const LOGBOOK: &[FieldSpec] = &[
    required("timestamp", Kind::DateTime),
    required("duration", Kind::Integer { min: 1, max: 1440 }),
    field("type", Kind::OneOf(EntryType::NAMES)),
    field(
        "instrument",
        Kind::Text {
            min_chars: 0,
            max_chars: MAX_INSTRUMENT_CHARS,
            lowercase: true,
        },
    ),
    field(
        "pieces",
        Kind::List {
            item: Item::Piece,
            max_items: MAX_PIECES,
        },
    ),
    field(
        "techniques",
        Kind::List {
            item: Item::Label {
                max_chars: MAX_LABEL_CHARS,
            },
            max_items: MAX_TECHNIQUES,
        },
    ),
    field("goalIds", IDS),
    field("notes", NOTES),
    field("mood", Kind::OneOf(Mood::NAMES)),
    field("tags", TAGS),
    field(
        "metadata",
        Kind::Object {
            max_bytes: MAX_METADATA_BYTES,
        },
    ),
    field("createdAt", Kind::DateTime),
    field("updatedAt", Kind::DateTime),
];

const REPERTOIRE: &[FieldSpec] = &[
    required("title", TITLE),
    field("composer", FREE_TEXT),
    field("status", Kind::OneOf(PieceStatus::NAMES)),
    field("difficulty", Kind::Integer { min: 1, max: 5 }),
    field("notes", NOTES),
    field(
        "referenceLinks",
        Kind::List {
            item: Item::Url,
            max_items: usize::MAX,
        },
    ),
    field("tags", TAGS),
    field(
        "statusHistory",
        Kind::List {
            item: Item::StatusChange,
            max_items: usize::MAX,
        },
    ),
    field("createdAt", Kind::DateTime),
    field("updatedAt", Kind::DateTime),
];

const GOALS: &[FieldSpec] = &[
    required("title", TITLE),
    field("description", FREE_TEXT),
    field("type", Kind::OneOf(GoalType::NAMES)),
    field("targetMinutes", ANY_INTEGER),
    field("period", Kind::OneOf(GoalPeriod::NAMES)),
    field("progress", ANY_INTEGER),
    field("targetDate", Kind::DateTime),
    field("status", Kind::OneOf(GoalStatus::NAMES)),
    field("pieceIds", IDS),
    field(
        "milestones",
        Kind::List {
            item: Item::Milestone,
            max_items: usize::MAX,
        },
    ),
    field("notes", NOTES),
    field("tags", TAGS),
    field("createdAt", Kind::DateTime),
    field("updatedAt", Kind::DateTime),
];

/// The known fields of an entity type.
pub(crate) fn fields(entity_type: EntityType) -> &'static [FieldSpec] {
    match entity_type {
        EntityType::Logbook => LOGBOOK,
        EntityType::Repertoire => REPERTOIRE,
        EntityType::Goals => GOALS,
    }
}

/// The spec of one field, `None` for an unknown (kept verbatim) field.
pub(crate) fn lookup(entity_type: EntityType, name: &str) -> Option<&'static FieldSpec> {
    fields(entity_type).iter().find(|spec| spec.name == name)
}
