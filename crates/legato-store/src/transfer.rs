//! Export and import: the logbook as CSV or JSON, a JSON backup of every entity type, and
//! import of those files and of other practice apps' CSV, with a preview.
//!
//! - **Export** ([`Store::export`]): `Csv(type)` is one entity type per file (a column `id`,
//!   one column per known field: lists and objects as compact JSON, an empty cell is null,
//!   and `extra` for unknown fields as a JSON object); `Json` is the logbook and `Backup`
//!   every entity type, both `{"format": "legato-export", "version": 1, "contents",
//!   "exportedAt", "logbook": [..], "repertoire": [..], "goals": [..]}` with each entity's
//!   state plus its `id`.
//! - **Preview** ([`Store::preview_import`]) reads a file and says what importing it would do
//!   (created, updated, unchanged, skipped with a reason and line each) without writing.
//! - **Apply** ([`Store::apply_import`]) plans again inside one write transaction and writes
//!   only if that plan is the preview's (its [`ImportPreview::fingerprint`]); otherwise
//!   [`TransferError::Changed`] and nothing is written. Every write is a normal edit
//!   (validated by `legato_core`, with its outbox change), so imports sync like hand edits.
//!
//! Identity: a record with an `id` is that entity (updated where it exists, created with
//! that id where not; an id deleted on this device is skipped, deletes are final). A logbook
//! row without an id (another app's CSV) gets [`derived_entry_id`], a UUID v5 of the session
//! itself (its start instant, its minutes and the pieces it names), so the same row imports
//! as the same entry on every device and every time. Repertoire items and goals without an
//! id are skipped: their ids are never derived from content (two pieces may share a title).
//! The accepted CSV headers are [`CSV_ALIASES`]; docs/desktop-app.md lists them.

use std::collections::HashMap;
use std::fmt;
use std::hash::{DefaultHasher, Hash as _, Hasher as _};
use std::io::{Read as _, Write as _};
use std::path::Path;

use jiff::civil::{Date, DateTime as CivilDateTime, Time};
use jiff::tz::TimeZone;
use legato_core::{Goal, LogbookEntry, ModelError, RepertoireItem, diff_fields, validate_state};
use legato_protocol::{EntityId, EntityType, Fields};
use rusqlite::Connection;
use serde_json::{Map, Value, json};

use crate::edit::{edit_in, insert_create, overlay_diff, stamp_created};
use crate::entity;
use crate::error::StoreError;
use crate::similar::normalize;
use crate::store::{Store, write_tx};
use crate::time::rfc3339_ms;

/// The largest file an import reads (bytes): 32 MiB, about 100 000 rows of a rich logbook.
pub const MAX_IMPORT_BYTES: u64 = 32 * 1024 * 1024;
/// The most records one import holds (CSV rows, or JSON records of all types together).
pub const MAX_IMPORT_ROWS: usize = 100_000;

/// The `format` of the app's JSON files.
pub const EXPORT_FORMAT_NAME: &str = "legato-export";
/// The `version` of the app's JSON files this store writes and reads.
pub const EXPORT_FORMAT_VERSION: u64 = 1;

const EXTRA_COLUMN: &str = "extra";

/// What [`Store::export`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One entity type as CSV (the logbook for the app's "Export CSV").
    Csv(EntityType),
    /// The logbook as JSON.
    Json,
    /// Every entity type as JSON: a full backup.
    Backup,
}

/// The kind of file an import read (detected from its first character: `{` or `[` is JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Json,
    Csv,
}

/// How an import reads what the file leaves open.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The entity type of a CSV file and of a bare JSON array (default: the logbook).
    pub entity_type: EntityType,
    /// The zone of local dates and times in another app's CSV (`2026-11-25`, `18:30`).
    pub zone: TimeZone,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            entity_type: EntityType::Logbook,
            zone: TimeZone::UTC,
        }
    }
}

/// What an import does, in numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCounts {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub skipped: usize,
}

/// Why a record is not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// The record breaks PROTOCOL.md section 1 (the message names the field).
    Invalid(String),
    /// A cell that cannot be read (`duration`: `abc` is not a number of minutes).
    BadValue { column: String, detail: String },
    /// A repertoire item or goal without an id (only logbook rows get a derived one).
    NoId,
    /// The id was deleted on this device; deletes are final.
    Deleted,
    /// The same entity earlier in the file (line or position `first`).
    Duplicate { first: usize },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::Invalid(message) => write!(f, "invalid: {message}"),
            SkipReason::BadValue { column, detail } => write!(f, "column `{column}`: {detail}"),
            SkipReason::NoId => write!(f, "has no id"),
            SkipReason::Deleted => write!(f, "it was deleted on this device"),
            SkipReason::Duplicate { first } => write!(f, "the same record as at {first}"),
        }
    }
}

/// A record the import leaves out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRow {
    /// CSV: the line in the file (the header is line 1). JSON: the record's position in its
    /// array, from 1.
    pub line: usize,
    pub entity_type: EntityType,
    pub id: Option<String>,
    pub reason: SkipReason,
}

/// What importing a file will do (or, from [`Store::apply_import`], did).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportPreview {
    pub format: FileFormat,
    pub counts: ImportCounts,
    pub skipped: Vec<SkippedRow>,
    /// CSV header cells that name nothing the app knows (left out).
    pub ignored_columns: Vec<String>,
    /// Identifies the planned writes: [`Store::apply_import`] writes only when its own plan
    /// has the same one. Valid within one build of the program.
    pub fingerprint: String,
}

/// Why an export or import failed as a whole. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("the file is {bytes} bytes; an import reads at most {max}")]
    TooLarge { bytes: u64, max: u64 },
    #[error("the file holds more than {max} records")]
    TooManyRows { max: usize },
    #[error("the file is not valid JSON: {0}")]
    NotJson(String),
    #[error("not a Legato export: {0}")]
    NotAnExport(String),
    #[error("unsupported export version {found:?} (this version reads {EXPORT_FORMAT_VERSION})")]
    UnsupportedVersion { found: Option<u64> },
    #[error("the CSV cannot be read at line {line}: {detail}")]
    Csv { line: u64, detail: String },
    #[error("the CSV has no {0} column")]
    MissingColumn(&'static str),
    #[error("the file is not UTF-8 text")]
    NotText,
    /// The data changed between the preview and the apply: preview again.
    #[error("the data changed since the preview; preview the import again")]
    Changed,
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TransferError {
    /// Whether the same call may succeed later unchanged: after a stale preview (preview
    /// again), a busy or full database, or an interrupted read or write.
    pub fn is_retryable(&self) -> bool {
        match self {
            TransferError::Changed => true,
            TransferError::Store(err) => err.is_retryable(),
            TransferError::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::Interrupted
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::StorageFull
            ),
            _ => false,
        }
    }
}

impl From<rusqlite::Error> for TransferError {
    fn from(err: rusqlite::Error) -> Self {
        TransferError::Store(err.into())
    }
}

// ---------------------------------------------------------------------------------------
// CSV columns

/// How a known field is written in a CSV cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cell {
    Text,
    Int,
    Json,
}

const LOGBOOK_COLUMNS: &[(&str, Cell)] = &[
    ("timestamp", Cell::Text),
    ("duration", Cell::Int),
    ("type", Cell::Text),
    ("instrument", Cell::Text),
    ("pieces", Cell::Json),
    ("techniques", Cell::Json),
    ("goalIds", Cell::Json),
    ("notes", Cell::Text),
    ("mood", Cell::Text),
    ("tags", Cell::Json),
    ("metadata", Cell::Json),
    ("createdAt", Cell::Text),
    ("updatedAt", Cell::Text),
];

const REPERTOIRE_COLUMNS: &[(&str, Cell)] = &[
    ("title", Cell::Text),
    ("composer", Cell::Text),
    ("status", Cell::Text),
    ("difficulty", Cell::Int),
    ("notes", Cell::Text),
    ("referenceLinks", Cell::Json),
    ("tags", Cell::Json),
    ("statusHistory", Cell::Json),
    ("createdAt", Cell::Text),
    ("updatedAt", Cell::Text),
];

const GOAL_COLUMNS: &[(&str, Cell)] = &[
    ("title", Cell::Text),
    ("description", Cell::Text),
    ("type", Cell::Text),
    ("targetMinutes", Cell::Int),
    ("period", Cell::Text),
    ("progress", Cell::Int),
    ("targetDate", Cell::Text),
    ("status", Cell::Text),
    ("pieceIds", Cell::Json),
    ("milestones", Cell::Json),
    ("notes", Cell::Text),
    ("tags", Cell::Json),
    ("createdAt", Cell::Text),
    ("updatedAt", Cell::Text),
];

fn columns(entity_type: EntityType) -> &'static [(&'static str, Cell)] {
    match entity_type {
        EntityType::Logbook => LOGBOOK_COLUMNS,
        EntityType::Repertoire => REPERTOIRE_COLUMNS,
        EntityType::Goals => GOAL_COLUMNS,
    }
}

/// What a column of another app's logbook CSV means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvColumn {
    /// A date and time: RFC 3339 (`2026-11-25T18:30:00Z`), or local `2026-11-25 18:30`.
    Start,
    /// A local date: `2026-11-25`, `2026/11/25` or `25.11.2026` (no `11/25/2026`: ambiguous).
    Date,
    /// A local time of day: `18:30`, `18:30:15`, `6:30 PM` (midnight without one).
    Time,
    /// Minutes: `45`, `45.5` (rounded), `1:30` (h:mm).
    Minutes,
    /// Seconds, rounded to minutes.
    Seconds,
    /// The piece's title (one piece per row).
    Piece,
    Composer,
    /// Lowercased.
    Instrument,
    Notes,
    /// practice, performance, lesson, rehearsal or technique (lowercased).
    Type,
    /// Separated by `,` or `;`.
    Tags,
    Mood,
}

/// Header aliases of logbook CSV files from other apps, compared without case, spaces,
/// `_` and `-` (`Start Time`, `start_time` and `starttime` are one). The app's own column
/// names (`timestamp`, `duration`, `pieces`, ...) are read as the app writes them.
pub const CSV_ALIASES: &[(&str, CsvColumn)] = &[
    ("start", CsvColumn::Start),
    ("started", CsvColumn::Start),
    ("startedat", CsvColumn::Start),
    ("datetime", CsvColumn::Start),
    ("startdatetime", CsvColumn::Start),
    ("date", CsvColumn::Date),
    ("day", CsvColumn::Date),
    ("practicedate", CsvColumn::Date),
    ("sessiondate", CsvColumn::Date),
    ("starttime", CsvColumn::Time),
    ("time", CsvColumn::Time),
    ("minutes", CsvColumn::Minutes),
    ("mins", CsvColumn::Minutes),
    ("durationmin", CsvColumn::Minutes),
    ("durationmins", CsvColumn::Minutes),
    ("duration(min)", CsvColumn::Minutes),
    ("duration(minutes)", CsvColumn::Minutes),
    ("durationminutes", CsvColumn::Minutes),
    ("length", CsvColumn::Minutes),
    ("practicetime", CsvColumn::Minutes),
    ("timepracticed", CsvColumn::Minutes),
    ("totalminutes", CsvColumn::Minutes),
    ("seconds", CsvColumn::Seconds),
    ("durationseconds", CsvColumn::Seconds),
    ("duration(s)", CsvColumn::Seconds),
    ("duration(seconds)", CsvColumn::Seconds),
    ("piece", CsvColumn::Piece),
    ("title", CsvColumn::Piece),
    ("piecetitle", CsvColumn::Piece),
    ("piecename", CsvColumn::Piece),
    ("work", CsvColumn::Piece),
    ("song", CsvColumn::Piece),
    ("composer", CsvColumn::Composer),
    ("piececomposer", CsvColumn::Composer),
    ("artist", CsvColumn::Composer),
    ("instrument", CsvColumn::Instrument),
    ("note", CsvColumn::Notes),
    ("comment", CsvColumn::Notes),
    ("comments", CsvColumn::Notes),
    ("description", CsvColumn::Notes),
    ("category", CsvColumn::Type),
    ("sessiontype", CsvColumn::Type),
    ("tag", CsvColumn::Tags),
    ("labels", CsvColumn::Tags),
    ("mood", CsvColumn::Mood),
];

/// A header cell, read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Id,
    Extra,
    /// A field of the app's own CSV.
    Own(&'static str, Cell),
    /// Another app's column (logbook only).
    Alias(CsvColumn),
    Ignored,
}

fn fold_header(name: &str) -> String {
    name.trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-'))
        .flat_map(char::to_lowercase)
        .collect()
}

fn read_header(name: &str, entity_type: EntityType) -> Column {
    let name = name.trim();
    if name == "id" {
        return Column::Id;
    }
    if name == EXTRA_COLUMN {
        return Column::Extra;
    }
    if let Some((known, cell)) = columns(entity_type)
        .iter()
        .find(|(known, _)| *known == name)
    {
        return Column::Own(known, *cell);
    }
    if entity_type != EntityType::Logbook {
        return Column::Ignored;
    }
    let folded = fold_header(name);
    match folded.as_str() {
        "id" | "uuid" => return Column::Id,
        // `Duration` of another app: read as minutes (it accepts the app's integers too).
        "duration" => return Column::Alias(CsvColumn::Minutes),
        "notes" => return Column::Alias(CsvColumn::Notes),
        "type" => return Column::Alias(CsvColumn::Type),
        "tags" => return Column::Alias(CsvColumn::Tags),
        _ => {}
    }
    CSV_ALIASES
        .iter()
        .find(|(alias, _)| *alias == folded)
        .map_or(Column::Ignored, |(_, column)| Column::Alias(*column))
}

fn encode_cell(value: Option<&Value>, cell: Cell) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) if cell == Cell::Text => text.clone(),
        Some(Value::Number(n)) if cell == Cell::Int => n.to_string(),
        Some(other) => other.to_string(),
    }
}

fn decode_cell(text: &str, cell: Cell) -> Result<Value, String> {
    if text.is_empty() {
        return Ok(Value::Null);
    }
    Ok(match cell {
        Cell::Text => Value::String(text.to_owned()),
        Cell::Int => Value::from(
            text.trim()
                .parse::<i64>()
                .map_err(|_| format!("`{text}` is not an integer"))?,
        ),
        Cell::Json => serde_json::from_str(text).map_err(|err| format!("not JSON ({err})"))?,
    })
}

// ---------------------------------------------------------------------------------------
// Export

impl Store {
    /// The file [`ExportFormat`] describes, as text. `now_ms` is its `exportedAt`.
    pub fn export(&self, format: ExportFormat, now_ms: i64) -> Result<String, TransferError> {
        match format {
            ExportFormat::Csv(entity_type) => self.export_csv(entity_type),
            ExportFormat::Json => self.export_json(&[EntityType::Logbook], "logbook", now_ms),
            ExportFormat::Backup => self.export_json(&EntityType::ALL, "backup", now_ms),
        }
    }

    /// Writes [`Store::export`] to `path`: into `<path>.partial` first, synced, then renamed
    /// over `path`, so a failed export never leaves half a file. Returns the bytes written.
    pub fn export_to_file(
        &self,
        format: ExportFormat,
        path: &Path,
        now_ms: i64,
    ) -> Result<u64, TransferError> {
        let text = self.export(format, now_ms)?;
        let io = |source| TransferError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = std::path::PathBuf::from(partial);
        let written = (|| {
            let mut file = std::fs::File::create(&partial)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&partial, path)
        })();
        if let Err(err) = written {
            let _ = std::fs::remove_file(&partial);
            return Err(io(err));
        }
        Ok(text.len() as u64)
    }

    fn export_json(
        &self,
        types: &[EntityType],
        contents: &str,
        now_ms: i64,
    ) -> Result<String, TransferError> {
        let mut out = Map::new();
        out.insert("format".into(), json!(EXPORT_FORMAT_NAME));
        out.insert("version".into(), json!(EXPORT_FORMAT_VERSION));
        out.insert("contents".into(), json!(contents));
        out.insert("exportedAt".into(), json!(rfc3339_ms(now_ms)));
        for entity_type in types {
            let records: Vec<Value> = self
                .list(*entity_type)?
                .into_iter()
                .map(|e| {
                    let mut object = e.state;
                    object.insert("id".to_owned(), Value::String(e.id.to_string()));
                    Value::Object(object)
                })
                .collect();
            out.insert(entity_type.as_str().into(), Value::Array(records));
        }
        let mut text = serde_json::to_string_pretty(&out).map_err(StoreError::from)?;
        text.push('\n');
        Ok(text)
    }

    fn export_csv(&self, entity_type: EntityType) -> Result<String, TransferError> {
        let columns = columns(entity_type);
        let mut writer = csv::Writer::from_writer(Vec::new());
        let header = std::iter::once("id")
            .chain(columns.iter().map(|(name, _)| *name))
            .chain(std::iter::once(EXTRA_COLUMN));
        let csv_error = |err: csv::Error| TransferError::Csv {
            line: 0,
            detail: err.to_string(),
        };
        writer.write_record(header).map_err(csv_error)?;
        for e in self.list(entity_type)? {
            let mut row = vec![e.id.to_string()];
            row.extend(
                columns
                    .iter()
                    .map(|(name, cell)| encode_cell(e.state.get(*name), *cell)),
            );
            let extra: Fields = e
                .state
                .iter()
                .filter(|(k, v)| !v.is_null() && !columns.iter().any(|(name, _)| name == k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            row.push(if extra.is_empty() {
                String::new()
            } else {
                Value::Object(extra).to_string()
            });
            writer.write_record(&row).map_err(csv_error)?;
        }
        let bytes = writer.into_inner().map_err(|err| TransferError::Csv {
            line: 0,
            detail: err.to_string(),
        })?;
        String::from_utf8(bytes).map_err(|_| TransferError::NotText)
    }
}

// ---------------------------------------------------------------------------------------
// Reading a file

/// Reads an import file, refusing one over [`MAX_IMPORT_BYTES`] before reading it.
pub fn read_import_file(path: &Path) -> Result<Vec<u8>, TransferError> {
    let io = |source| TransferError::Io {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let bytes = file.metadata().map_err(io)?.len();
    if bytes > MAX_IMPORT_BYTES {
        return Err(TransferError::TooLarge {
            bytes,
            max: MAX_IMPORT_BYTES,
        });
    }
    let mut out = Vec::with_capacity(usize::try_from(bytes).unwrap_or(0));
    // `take`: a file that grows while it is read still stops at the limit.
    file.take(MAX_IMPORT_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(io)?;
    check_size(&out)?;
    Ok(out)
}

fn check_size(bytes: &[u8]) -> Result<(), TransferError> {
    let len = bytes.len() as u64;
    if len > MAX_IMPORT_BYTES {
        return Err(TransferError::TooLarge {
            bytes: len,
            max: MAX_IMPORT_BYTES,
        });
    }
    Ok(())
}

/// How a record's fields meet an existing entity's.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    /// The record is the entity's whole state (the app's own files): a field it lacks is
    /// cleared, except `createdAt`/`updatedAt`, which stay.
    Full,
    /// Only these fields are the file's (another app's CSV): the others stay as they are.
    Only(Vec<&'static str>),
}

/// One record of the file that parsed.
#[derive(Debug, Clone)]
struct Record {
    line: usize,
    entity_type: EntityType,
    id: EntityId,
    fields: Fields,
    mode: Mode,
    /// Created in the model's canonical form rather than as the file has it: a CSV cannot
    /// tell an absent field from `null` or `[]`, and the app writes canonical states.
    canonical_create: bool,
}

#[derive(Debug)]
enum Parsed {
    Record(Record),
    Skipped(SkippedRow),
}

#[derive(Debug)]
struct ParsedFile {
    format: FileFormat,
    rows: Vec<Parsed>,
    ignored_columns: Vec<String>,
}

fn parse_file(bytes: &[u8], options: &ImportOptions) -> Result<ParsedFile, TransferError> {
    check_size(bytes)?;
    let text = std::str::from_utf8(bytes).map_err(|_| TransferError::NotText)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = text.trim_start().chars().next();
    if matches!(first, Some('{' | '[')) {
        Ok(ParsedFile {
            format: FileFormat::Json,
            rows: parse_json(text, options.entity_type)?,
            ignored_columns: Vec::new(),
        })
    } else {
        let (rows, ignored_columns) = parse_csv(text, options)?;
        Ok(ParsedFile {
            format: FileFormat::Csv,
            rows,
            ignored_columns,
        })
    }
}

fn parse_json(text: &str, bare_type: EntityType) -> Result<Vec<Parsed>, TransferError> {
    let value: Value =
        serde_json::from_str(text).map_err(|err| TransferError::NotJson(err.to_string()))?;
    let mut lists = Vec::new();
    match value {
        Value::Array(items) => lists.push((bare_type, items)),
        Value::Object(mut export) => {
            if export.get("format").and_then(Value::as_str) != Some(EXPORT_FORMAT_NAME) {
                return Err(TransferError::NotAnExport(format!(
                    "no \"format\": \"{EXPORT_FORMAT_NAME}\""
                )));
            }
            let version = export.get("version").and_then(Value::as_u64);
            if version != Some(EXPORT_FORMAT_VERSION) {
                return Err(TransferError::UnsupportedVersion { found: version });
            }
            for entity_type in EntityType::ALL {
                match export.remove(entity_type.as_str()) {
                    None => {}
                    Some(Value::Array(items)) => lists.push((entity_type, items)),
                    Some(_) => {
                        return Err(TransferError::NotAnExport(format!(
                            "`{entity_type}` is not an array"
                        )));
                    }
                }
            }
        }
        _ => {
            return Err(TransferError::NotAnExport(
                "expected an export object or an array of records".to_owned(),
            ));
        }
    }
    let total: usize = lists.iter().map(|(_, items)| items.len()).sum();
    if total > MAX_IMPORT_ROWS {
        return Err(TransferError::TooManyRows {
            max: MAX_IMPORT_ROWS,
        });
    }
    let mut rows = Vec::with_capacity(total);
    for (entity_type, items) in lists {
        for (index, item) in items.into_iter().enumerate() {
            let line = index + 1;
            let skip = |id: Option<String>, reason| {
                Parsed::Skipped(SkippedRow {
                    line,
                    entity_type,
                    id,
                    reason,
                })
            };
            let Value::Object(mut fields) = item else {
                rows.push(skip(None, SkipReason::Invalid("not an object".to_owned())));
                continue;
            };
            let id = match fields.remove("id") {
                Some(Value::String(id)) => id,
                Some(_) => {
                    rows.push(skip(
                        None,
                        SkipReason::Invalid("`id` must be a string".into()),
                    ));
                    continue;
                }
                None => {
                    rows.push(skip(None, SkipReason::NoId));
                    continue;
                }
            };
            match EntityId::new(id.clone()) {
                Ok(id) => rows.push(Parsed::Record(Record {
                    line,
                    entity_type,
                    id,
                    fields,
                    mode: Mode::Full,
                    canonical_create: false,
                })),
                Err(err) => rows.push(skip(Some(id), SkipReason::Invalid(err.to_string()))),
            }
        }
    }
    Ok(rows)
}

fn parse_csv(
    text: &str,
    options: &ImportOptions,
) -> Result<(Vec<Parsed>, Vec<String>), TransferError> {
    let entity_type = options.entity_type;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let csv_error = |err: csv::Error| TransferError::Csv {
        line: err.position().map_or(0, csv::Position::line),
        detail: err.to_string(),
    };
    let header: Vec<String> = reader
        .headers()
        .map_err(csv_error)?
        .iter()
        .map(str::to_owned)
        .collect();
    let kinds: Vec<Column> = header
        .iter()
        .map(|name| read_header(name, entity_type))
        .collect();
    let ignored_columns = header
        .iter()
        .zip(&kinds)
        .filter(|(name, kind)| **kind == Column::Ignored && !name.trim().is_empty())
        .map(|(name, _)| name.clone())
        .collect();
    let has = |wanted: &dyn Fn(&Column) -> bool| kinds.iter().any(wanted);
    // The app's own CSV: every column is one it writes, the id included.
    let own = has(&|k| *k == Column::Id)
        && kinds
            .iter()
            .all(|k| matches!(k, Column::Id | Column::Extra | Column::Own(..)));
    if entity_type == EntityType::Logbook {
        if !has(&|k| {
            matches!(
                k,
                Column::Own("timestamp", _) | Column::Alias(CsvColumn::Start | CsvColumn::Date)
            )
        }) {
            return Err(TransferError::MissingColumn("date (or timestamp)"));
        }
        if !has(&|k| {
            matches!(
                k,
                Column::Own("duration", _) | Column::Alias(CsvColumn::Minutes | CsvColumn::Seconds)
            )
        }) {
            return Err(TransferError::MissingColumn("duration (or minutes)"));
        }
    } else if !has(&|k| *k == Column::Id) {
        return Err(TransferError::MissingColumn("id"));
    }
    let only: Vec<&'static str> = {
        let mut fields: Vec<&'static str> = kinds.iter().filter_map(column_field).collect();
        fields.sort_unstable();
        fields.dedup();
        fields
    };

    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        if rows.len() == MAX_IMPORT_ROWS {
            return Err(TransferError::TooManyRows {
                max: MAX_IMPORT_ROWS,
            });
        }
        let line = record.position().map_or(rows.len() + 2, |p| {
            usize::try_from(p.line()).unwrap_or(usize::MAX)
        });
        if record.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        if record.len() != header.len() {
            rows.push(Parsed::Skipped(SkippedRow {
                line,
                entity_type,
                id: None,
                reason: SkipReason::BadValue {
                    column: "*".to_owned(),
                    detail: format!(
                        "{} cells where the header has {}",
                        record.len(),
                        header.len()
                    ),
                },
            }));
            continue;
        }
        rows.push(read_row(
            &record,
            &header,
            &kinds,
            line,
            options,
            if own {
                Mode::Full
            } else {
                Mode::Only(only.clone())
            },
        ));
    }
    Ok((rows, ignored_columns))
}

/// The entity field an alias column writes.
fn column_field(kind: &Column) -> Option<&'static str> {
    match kind {
        Column::Own(name, _) => Some(name),
        Column::Alias(alias) => Some(match alias {
            CsvColumn::Start | CsvColumn::Date | CsvColumn::Time => "timestamp",
            CsvColumn::Minutes | CsvColumn::Seconds => "duration",
            CsvColumn::Piece | CsvColumn::Composer => "pieces",
            CsvColumn::Instrument => "instrument",
            CsvColumn::Notes => "notes",
            CsvColumn::Type => "type",
            CsvColumn::Tags => "tags",
            CsvColumn::Mood => "mood",
        }),
        Column::Id | Column::Extra | Column::Ignored => None,
    }
}

fn read_row(
    record: &csv::StringRecord,
    header: &[String],
    kinds: &[Column],
    line: usize,
    options: &ImportOptions,
    mode: Mode,
) -> Parsed {
    let entity_type = options.entity_type;
    let mut id = None;
    let mut fields = Fields::new();
    let mut date = None;
    let mut time = None;
    let mut start = None;
    let mut piece: Option<String> = None;
    let mut composer: Option<String> = None;
    let skip = |id: Option<String>, reason| {
        Parsed::Skipped(SkippedRow {
            line,
            entity_type,
            id,
            reason,
        })
    };
    for ((name, kind), cell) in header.iter().zip(kinds).zip(record.iter()) {
        let bad = |detail: String| SkipReason::BadValue {
            column: name.trim().to_owned(),
            detail,
        };
        let text = cell.trim();
        match kind {
            Column::Id => {
                if !text.is_empty() {
                    id = Some(text.to_owned());
                }
            }
            Column::Ignored => {}
            Column::Extra => {
                if text.is_empty() {
                    continue;
                }
                match decode_cell(text, Cell::Json) {
                    Ok(Value::Object(extra)) => {
                        for (k, v) in extra {
                            fields.entry(k).or_insert(v);
                        }
                    }
                    Ok(_) => return skip(id, bad("must be a JSON object".to_owned())),
                    Err(detail) => return skip(id, bad(detail)),
                }
            }
            Column::Own(field, cell_kind) => {
                // Text cells keep their spaces (notes); the others are read trimmed.
                let raw = if *cell_kind == Cell::Text { cell } else { text };
                let value = if *field == "duration" {
                    parse_minutes(text, 1.0)
                } else {
                    decode_cell(raw, *cell_kind)
                };
                match value {
                    Ok(value) => {
                        fields.insert((*field).to_owned(), value);
                    }
                    Err(detail) => return skip(id, bad(detail)),
                }
            }
            Column::Alias(alias) => {
                if text.is_empty() {
                    continue;
                }
                let value = match alias {
                    CsvColumn::Start => match parse_start(text, &options.zone) {
                        Ok(ms) => {
                            start = Some(ms);
                            continue;
                        }
                        Err(detail) => Err(detail),
                    },
                    CsvColumn::Date => match parse_date(text) {
                        Ok(d) => {
                            date = Some(d);
                            continue;
                        }
                        Err(detail) => Err(detail),
                    },
                    CsvColumn::Time => match parse_time(text) {
                        Ok(t) => {
                            time = Some(t);
                            continue;
                        }
                        Err(detail) => Err(detail),
                    },
                    CsvColumn::Minutes => parse_minutes(text, 1.0).map(|v| ("duration", v)),
                    CsvColumn::Seconds => parse_minutes(text, 60.0).map(|v| ("duration", v)),
                    CsvColumn::Piece => {
                        piece = Some(text.to_owned());
                        continue;
                    }
                    CsvColumn::Composer => {
                        composer = Some(text.to_owned());
                        continue;
                    }
                    CsvColumn::Instrument => Ok(("instrument", json!(text.to_lowercase()))),
                    CsvColumn::Notes => Ok(("notes", json!(cell))),
                    CsvColumn::Type => Ok(("type", json!(text.to_lowercase()))),
                    CsvColumn::Mood => Ok(("mood", json!(text.to_lowercase()))),
                    CsvColumn::Tags => Ok((
                        "tags",
                        Value::Array(
                            text.split([',', ';'])
                                .map(str::trim)
                                .filter(|t| !t.is_empty())
                                .map(|t| json!(t))
                                .collect(),
                        ),
                    )),
                };
                match value {
                    Ok((field, value)) => {
                        fields.insert(field.to_owned(), value);
                    }
                    Err(detail) => return skip(id, bad(detail)),
                }
            }
        }
    }
    if let Some(ms) = start {
        fields.insert("timestamp".to_owned(), json!(rfc3339_ms(ms)));
    } else if let Some(date) = date {
        match local_instant(date, time.unwrap_or(Time::midnight()), &options.zone) {
            Ok(ms) => {
                fields.insert("timestamp".to_owned(), json!(rfc3339_ms(ms)));
            }
            Err(detail) => {
                return skip(
                    id,
                    SkipReason::BadValue {
                        column: "date".to_owned(),
                        detail,
                    },
                );
            }
        }
    }
    if let Some(title) = piece {
        let mut object = Map::new();
        object.insert("title".to_owned(), json!(title));
        if let Some(composer) = composer {
            object.insert("composer".to_owned(), json!(composer));
        }
        fields.insert("pieces".to_owned(), json!([object]));
    } else if kinds.contains(&Column::Alias(CsvColumn::Piece)) {
        fields.insert("pieces".to_owned(), json!([]));
    }
    // Empty own cells are null: dropped, so defaults apply as for an absent field.
    fields.retain(|_, v| !v.is_null());
    let id = match id {
        Some(id) => match EntityId::new(id.clone()) {
            Ok(id) => id,
            Err(err) => return skip(Some(id), SkipReason::Invalid(err.to_string())),
        },
        None if entity_type == EntityType::Logbook => match derived_entry_id(&fields) {
            Some(id) => id,
            // No start or no duration: validation names the field.
            None => {
                let err = validate_state(entity_type, &fields)
                    .err()
                    .map_or_else(|| "has no start or duration".to_owned(), |e| e.to_string());
                return skip(None, SkipReason::Invalid(err));
            }
        },
        None => return skip(None, SkipReason::NoId),
    };
    Parsed::Record(Record {
        line,
        entity_type,
        id,
        fields,
        mode,
        canonical_create: true,
    })
}

/// Minutes from `45`, `45.5` (rounded half up), `1:30` (h:mm); `unit` is how many of the
/// cell's units make a minute (60 for seconds).
fn parse_minutes(text: &str, unit: f64) -> Result<Value, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Value::Null);
    }
    let amount = if let Some((h, m)) = text.split_once(':') {
        let (Ok(h), Ok(m)) = (h.trim().parse::<u32>(), m.trim().parse::<u32>()) else {
            return Err(format!("`{text}` is not a duration"));
        };
        if m >= 60 {
            return Err(format!("`{text}` is not a duration"));
        }
        (f64::from(h) * 60.0 + f64::from(m)) * unit
    } else {
        text.replace(',', ".")
            .parse::<f64>()
            .map_err(|_| format!("`{text}` is not a number of minutes"))?
    };
    let minutes = (amount / unit).round();
    if !minutes.is_finite() || !(1.0..=1440.0).contains(&minutes) {
        return Err(format!("`{text}`: the duration must be 1 to 1440 minutes"));
    }
    // In 1..=1440: exact as an integer.
    #[allow(clippy::cast_possible_truncation)]
    Ok(json!(minutes as i64))
}

fn parse_start(text: &str, zone: &TimeZone) -> Result<i64, String> {
    if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        return Ok(ts.as_millisecond());
    }
    let civil = text
        .parse::<CivilDateTime>()
        .map_err(|_| format!("`{text}` is not a date and time (2026-11-25 18:30)"))?;
    local_instant(civil.date(), civil.time(), zone)
}

fn parse_date(text: &str) -> Result<Date, String> {
    let bad = || format!("`{text}` is not a date (use 2026-11-25)");
    let parts: Vec<&str> = text.split(['-', '/', '.']).map(str::trim).collect();
    let [a, b, c] = parts.as_slice() else {
        return Err(bad());
    };
    let num = |s: &str| s.parse::<i16>().map_err(|_| bad());
    let (y, m, d) = if a.len() == 4 {
        (num(a)?, num(b)?, num(c)?)
    } else if c.len() == 4 && text.contains('.') {
        // 25.11.2026: day first wherever dots are written.
        (num(c)?, num(b)?, num(a)?)
    } else {
        return Err(format!(
            "`{text}` is ambiguous (day or month first?): use 2026-11-25"
        ));
    };
    let (Ok(m), Ok(d)) = (i8::try_from(m), i8::try_from(d)) else {
        return Err(bad());
    };
    Date::new(y, m, d).map_err(|_| bad())
}

fn parse_time(text: &str) -> Result<Time, String> {
    let bad = || format!("`{text}` is not a time of day (18:30)");
    let lower = text.to_ascii_lowercase();
    let (clock, pm) = if let Some(rest) = lower.strip_suffix("pm") {
        (rest.trim(), Some(true))
    } else if let Some(rest) = lower.strip_suffix("am") {
        (rest.trim(), Some(false))
    } else {
        (lower.trim(), None)
    };
    let parts: Vec<&str> = clock.split(':').collect();
    let num = |s: &str| s.trim().parse::<i8>().map_err(|_| bad());
    let (mut h, m, s) = match parts.as_slice() {
        [h, m] => (num(h)?, num(m)?, 0),
        [h, m, s] => (num(h)?, num(m)?, num(s.split('.').next().unwrap_or("0"))?),
        _ => return Err(bad()),
    };
    if let Some(pm) = pm {
        if !(1..=12).contains(&h) {
            return Err(bad());
        }
        h = match (h, pm) {
            (12, false) => 0,
            (12, true) => 12,
            (h, true) => h + 12,
            (h, false) => h,
        };
    }
    Time::new(h, m, s, 0).map_err(|_| bad())
}

fn local_instant(date: Date, time: Time, zone: &TimeZone) -> Result<i64, String> {
    // jiff's "compatible" rule: a time in a DST gap moves past it, one in a fold is the
    // earlier of the two.
    date.to_datetime(time)
        .to_zoned_datetime(zone.clone())
        .map(|z| z.timestamp().as_millisecond())
        .map_err(|err| err.to_string())
}

/// The fixed namespace of derived logbook ids (UUID v5).
const IMPORT_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x6c65_6761_746f_4000_8000_696d_706f_7274);

/// The id a logbook row without one is imported under: UUID v5 of the session's key, its
/// start (`timestamp`, to the millisecond, UTC), its minutes and the pieces it names
/// (title and composer, normalized as the similar-piece rule does: case, accents, spaces).
/// The same row gives the same id on every device and at every import. The key is the
/// session's, not a piece's: no repertoire item ever gets an id from its title. A row whose
/// start, minutes or pieces were changed in the other app is another session (imported
/// beside the first). `None` without a valid start or duration.
pub fn derived_entry_id(fields: &Fields) -> Option<EntityId> {
    let start = fields
        .get("timestamp")
        .and_then(Value::as_str)
        .and_then(crate::time::parse_rfc3339_ms)?;
    let minutes = fields.get("duration").and_then(Value::as_i64)?;
    let mut key = format!("{}|{minutes}", rfc3339_ms(start));
    for piece in fields
        .get("pieces")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let text = |name| piece.get(name).and_then(Value::as_str).unwrap_or("");
        key.push('|');
        key.push_str(&normalize(text("title")));
        key.push('/');
        key.push_str(&normalize(text("composer")));
    }
    let id = uuid::Uuid::new_v5(&IMPORT_NAMESPACE, key.as_bytes());
    Some(EntityId::new(id.to_string()).expect("a UUID is a valid entity id"))
}

// ---------------------------------------------------------------------------------------
// Planning and applying

/// The canonical state of a record (the model's `from_fields` then `to_fields`); the
/// model validates as it reads.
fn canonical(
    entity_type: EntityType,
    id: &EntityId,
    fields: &Fields,
) -> Result<Fields, ModelError> {
    Ok(match entity_type {
        EntityType::Logbook => LogbookEntry::from_fields(id.clone(), fields)?.to_fields(),
        EntityType::Repertoire => RepertoireItem::from_fields(id.clone(), fields)?.to_fields(),
        EntityType::Goals => Goal::from_fields(id.clone(), fields)?.to_fields(),
    })
}

#[derive(Debug)]
enum Action {
    Create(Fields),
    /// From the current canonical state to the new one.
    Update {
        old: Fields,
        new: Fields,
    },
}

#[derive(Debug)]
struct Planned {
    entity_type: EntityType,
    id: EntityId,
    action: Action,
}

#[derive(Debug)]
struct Plan {
    preview: ImportPreview,
    writes: Vec<Planned>,
}

/// The pieces of a state as (title, composer) pairs.
fn piece_names(state: &Fields) -> Vec<(String, String)> {
    state
        .get("pieces")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let text = |name| p.get(name).and_then(Value::as_str).unwrap_or("").to_owned();
            (text("title"), text("composer"))
        })
        .collect()
}

fn plan(conn: &Connection, file: ParsedFile) -> Result<Plan, TransferError> {
    let mut counts = ImportCounts::default();
    let mut skipped = Vec::new();
    let mut writes = Vec::new();
    let mut seen: HashMap<(EntityType, EntityId), usize> = HashMap::new();
    let mut hasher = DefaultHasher::new();
    for row in file.rows {
        let record = match row {
            Parsed::Record(record) => record,
            Parsed::Skipped(row) => {
                skipped.push(row);
                continue;
            }
        };
        let Record {
            line,
            entity_type,
            id,
            fields,
            mode,
            canonical_create,
        } = record;
        let skip = |reason| SkippedRow {
            line,
            entity_type,
            id: Some(id.to_string()),
            reason,
        };
        if let Some(first) = seen.get(&(entity_type, id.clone())) {
            skipped.push(skip(SkipReason::Duplicate { first: *first }));
            continue;
        }
        seen.insert((entity_type, id.clone()), line);
        let current = entity::load(conn, entity_type, id.as_str())?;
        let action = match current {
            Some(row) if row.deleted => {
                skipped.push(skip(SkipReason::Deleted));
                continue;
            }
            // Created as a JSON file has it (validated by reading it as the model): a backup
            // restores the very states it saved.
            None => match canonical(entity_type, &id, &fields) {
                Ok(state) if canonical_create => Action::Create(state),
                Ok(_) => Action::Create(fields),
                Err(ModelError::Invalid(err)) => {
                    skipped.push(skip(SkipReason::Invalid(err.to_string())));
                    continue;
                }
            },
            Some(row) => {
                let old = match canonical(entity_type, &id, &row.state) {
                    Ok(old) => old,
                    // A stored state this version reads as invalid: the record replaces it.
                    Err(_) => row.state.clone(),
                };
                let mut merged = match &mode {
                    Mode::Full => fields.clone(),
                    Mode::Only(_) => old.clone(),
                };
                match &mode {
                    Mode::Full => {
                        for stamp in ["createdAt", "updatedAt"] {
                            if merged.get(stamp).is_none_or(Value::is_null)
                                && let Some(value) = old.get(stamp)
                            {
                                merged.insert(stamp.to_owned(), value.clone());
                            }
                        }
                    }
                    Mode::Only(only) => {
                        for field in only {
                            match fields.get(*field) {
                                // Pieces named as they are keep what the app added to them
                                // (tempo, measures, scoreId).
                                Some(_)
                                    if *field == "pieces"
                                        && piece_names(&fields) == piece_names(&old) => {}
                                Some(value) => {
                                    merged.insert((*field).to_owned(), value.clone());
                                }
                                None => {
                                    merged.remove(*field);
                                }
                            }
                        }
                    }
                }
                let new = match canonical(entity_type, &id, &merged) {
                    Ok(new) => new,
                    Err(ModelError::Invalid(err)) => {
                        skipped.push(skip(SkipReason::Invalid(err.to_string())));
                        continue;
                    }
                };
                if diff_fields(&old, &new).is_empty() {
                    counts.unchanged += 1;
                    continue;
                }
                Action::Update { old, new }
            }
        };
        entity_type.as_str().hash(&mut hasher);
        id.as_str().hash(&mut hasher);
        match &action {
            Action::Create(state) => {
                counts.created += 1;
                "create".hash(&mut hasher);
                Value::Object(state.clone()).to_string().hash(&mut hasher);
            }
            Action::Update { old, new } => {
                counts.updated += 1;
                "update".hash(&mut hasher);
                Value::Object(diff_fields(old, new))
                    .to_string()
                    .hash(&mut hasher);
            }
        }
        writes.push(Planned {
            entity_type,
            id,
            action,
        });
    }
    counts.skipped = skipped.len();
    for row in &skipped {
        row.line.hash(&mut hasher);
        row.reason.to_string().hash(&mut hasher);
    }
    counts.unchanged.hash(&mut hasher);
    Ok(Plan {
        preview: ImportPreview {
            format: file.format,
            counts,
            skipped,
            ignored_columns: file.ignored_columns,
            fingerprint: format!("{:016x}", hasher.finish()),
        },
        writes,
    })
}

impl Store {
    /// What importing `bytes` would do, without writing anything.
    pub fn preview_import(
        &self,
        bytes: &[u8],
        options: &ImportOptions,
    ) -> Result<ImportPreview, TransferError> {
        let file = parse_file(bytes, options)?;
        Ok(plan(&self.conn, file)?.preview)
    }

    /// Imports `bytes` as [`Store::preview_import`] said it would, in one transaction:
    /// plans again inside it and writes only when the plan's fingerprint is `fingerprint`
    /// (else [`TransferError::Changed`], nothing written). Each write is a normal edit:
    /// validated, stamped, with its outbox change. Returns what was done.
    pub fn apply_import(
        &mut self,
        bytes: &[u8],
        options: &ImportOptions,
        fingerprint: &str,
        now_ms: i64,
    ) -> Result<ImportPreview, TransferError> {
        let file = parse_file(bytes, options)?;
        let tx = write_tx(&mut self.conn)?;
        let plan = plan(&tx, file)?;
        if plan.preview.fingerprint != fingerprint {
            return Err(TransferError::Changed);
        }
        for Planned {
            entity_type,
            id,
            action,
        } in plan.writes
        {
            match action {
                Action::Create(mut state) => {
                    stamp_created(&mut state, now_ms);
                    validate_state(entity_type, &state).map_err(StoreError::from)?;
                    insert_create(&tx, entity_type, &id, state, &self.client_id, now_ms)?;
                }
                Action::Update { old, new } => {
                    // As `Store::save` does: the canonical difference, over the local state.
                    edit_in(&tx, &self.client_id, entity_type, &id, now_ms, |current| {
                        Ok(overlay_diff(current, &old, &new))
                    })?;
                }
            }
        }
        tx.commit()?;
        Ok(plan.preview)
    }

    /// [`Store::preview_import`] of a file ([`read_import_file`]).
    pub fn preview_import_file(
        &self,
        path: &Path,
        options: &ImportOptions,
    ) -> Result<ImportPreview, TransferError> {
        self.preview_import(&read_import_file(path)?, options)
    }

    /// [`Store::apply_import`] of a file ([`read_import_file`]).
    pub fn apply_import_file(
        &mut self,
        path: &Path,
        options: &ImportOptions,
        fingerprint: &str,
        now_ms: i64,
    ) -> Result<ImportPreview, TransferError> {
        let bytes = read_import_file(path)?;
        self.apply_import(&bytes, options, fingerprint, now_ms)
    }
}

#[cfg(test)]
mod tests;
