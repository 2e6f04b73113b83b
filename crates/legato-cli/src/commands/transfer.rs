//! `legato export` and `legato import`.
//!
//! JSON export: `{"format": "legato-export", "version": 1, "exportedAt", "logbook": [..],
//! "repertoire": [..], "goals": [..]}`, each entity its state's fields plus `id` (the shape
//! of `list --json`, which import also accepts as a bare array with `--type`). CSV export:
//! one entity type per file, a column `id`, one column per known field (lists and objects as
//! compact JSON, empty cell = null) and `extra` for unknown fields as a JSON object.
//!
//! Import makes the device hold what the file holds, by id: a new id is created with that
//! id, an existing one is updated with the fields that differ (nothing is queued when none
//! does), an id deleted on this device is skipped (deletes are final). Importing a file
//! twice queues nothing the second time, and never duplicates an entity.

use std::fs;
use std::io::{self, Read as _};

use anyhow::{Context as _, Result, anyhow, bail};
use legato_core::{Goal, LogbookEntry, RepertoireItem};
use legato_protocol::{EntityId, EntityType, Fields};
use legato_store::{Store, TypedEntity};
use serde_json::{Map, Value, json};

use super::explain;
use crate::cli::{ExportArgs, Format, ImportArgs, Kind};
use crate::context::{Context, now_ms};
use crate::output::{entity_json, print_json};

const FORMAT_NAME: &str = "legato-export";
const FORMAT_VERSION: u64 = 1;

/// How a known field is written in a CSV cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cell {
    Text,
    Int,
    Json,
}

use Cell::{Int, Json, Text};

const LOGBOOK_COLUMNS: &[(&str, Cell)] = &[
    ("timestamp", Text),
    ("duration", Int),
    ("type", Text),
    ("instrument", Text),
    ("pieces", Json),
    ("techniques", Json),
    ("goalIds", Json),
    ("notes", Text),
    ("mood", Text),
    ("tags", Json),
    ("metadata", Json),
    ("createdAt", Text),
    ("updatedAt", Text),
];

const REPERTOIRE_COLUMNS: &[(&str, Cell)] = &[
    ("title", Text),
    ("composer", Text),
    ("status", Text),
    ("difficulty", Int),
    ("notes", Text),
    ("referenceLinks", Json),
    ("tags", Json),
    ("statusHistory", Json),
    ("createdAt", Text),
    ("updatedAt", Text),
];

const GOAL_COLUMNS: &[(&str, Cell)] = &[
    ("title", Text),
    ("description", Text),
    ("type", Text),
    ("targetMinutes", Int),
    ("period", Text),
    ("progress", Int),
    ("targetDate", Text),
    ("status", Text),
    ("pieceIds", Json),
    ("milestones", Json),
    ("notes", Text),
    ("tags", Json),
    ("createdAt", Text),
    ("updatedAt", Text),
];

const EXTRA_COLUMN: &str = "extra";

fn entity_type(kind: Kind) -> EntityType {
    match kind {
        Kind::Logbook => EntityType::Logbook,
        Kind::Repertoire => EntityType::Repertoire,
        Kind::Goals => EntityType::Goals,
    }
}

fn columns(entity_type: EntityType) -> &'static [(&'static str, Cell)] {
    match entity_type {
        EntityType::Logbook => LOGBOOK_COLUMNS,
        EntityType::Repertoire => REPERTOIRE_COLUMNS,
        EntityType::Goals => GOAL_COLUMNS,
    }
}

pub fn export(ctx: &Context, args: &ExportArgs) -> Result<()> {
    let store = ctx.store()?;
    match args.format {
        Format::Json => {
            let mut out = Map::new();
            out.insert("format".into(), json!(FORMAT_NAME));
            out.insert("version".into(), json!(FORMAT_VERSION));
            out.insert(
                "exportedAt".into(),
                json!(legato_store::rfc3339_ms(now_ms())),
            );
            for entity_type in EntityType::ALL {
                let entities = store.list(entity_type).map_err(explain)?;
                let json: Vec<Value> = entities
                    .iter()
                    .map(|e| entity_json(&e.id, &e.state))
                    .collect();
                out.insert(entity_type.as_str().into(), Value::Array(json));
            }
            print_json(&out)
        }
        Format::Csv => {
            let entity_type = entity_type(args.kind);
            let columns = columns(entity_type);
            let mut writer = csv::Writer::from_writer(io::stdout().lock());
            let header = std::iter::once("id")
                .chain(columns.iter().map(|(name, _)| *name))
                .chain(std::iter::once(EXTRA_COLUMN));
            writer.write_record(header)?;
            for e in store.list(entity_type).map_err(explain)? {
                let mut row = vec![e.id.to_string()];
                row.extend(
                    columns
                        .iter()
                        .map(|(name, cell)| encode_cell(e.state.get(*name), *cell)),
                );
                let extra: Fields = e
                    .state
                    .iter()
                    .filter(|(k, _)| !columns.iter().any(|(name, _)| name == k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                row.push(if extra.is_empty() {
                    String::new()
                } else {
                    Value::Object(extra).to_string()
                });
                writer.write_record(&row)?;
            }
            writer.flush()?;
            Ok(())
        }
    }
}

fn encode_cell(value: Option<&Value>, cell: Cell) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) if cell == Text => text.clone(),
        Some(Value::Number(n)) if cell == Int => n.to_string(),
        Some(other) => other.to_string(),
    }
}

fn decode_cell(text: &str, cell: Cell) -> Result<Value> {
    if text.is_empty() {
        return Ok(Value::Null);
    }
    Ok(match cell {
        Text => Value::String(text.to_owned()),
        Int => Value::from(
            text.trim()
                .parse::<i64>()
                .map_err(|_| anyhow!("`{text}` is not an integer"))?,
        ),
        Json => serde_json::from_str(text).map_err(|err| anyhow!("not JSON ({err})"))?,
    })
}

/// One record of the file, checked against PROTOCOL.md section 1 before anything is written.
#[derive(Debug)]
enum Record {
    Logbook(LogbookEntry),
    Repertoire(RepertoireItem),
    Goal(Goal),
}

#[derive(Debug, Default)]
struct Summary {
    created: usize,
    updated: usize,
    unchanged: usize,
    skipped: usize,
}

pub fn import(ctx: &Context, args: &ImportArgs) -> Result<()> {
    let text = if args.file.as_os_str() == "-" {
        let mut text = String::new();
        io::stdin()
            .read_to_string(&mut text)
            .context("cannot read stdin")?;
        text
    } else {
        fs::read_to_string(&args.file)
            .with_context(|| format!("cannot read {}", args.file.display()))?
    };
    let format = args.format.unwrap_or_else(|| {
        let csv = args
            .file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        if csv { Format::Csv } else { Format::Json }
    });
    let raw = match format {
        Format::Json => parse_json(&text, entity_type(args.kind))?,
        Format::Csv => parse_csv(&text, entity_type(args.kind))?,
    };
    let records = raw
        .into_iter()
        .enumerate()
        .map(|(i, (entity_type, fields))| {
            typed(entity_type, fields).with_context(|| format!("{} record {}", entity_type, i + 1))
        })
        .collect::<Result<Vec<_>>>()?;

    let mut store = ctx.store()?;
    let now = now_ms();
    let mut summary = Summary::default();
    for record in &records {
        match record {
            Record::Logbook(e) => import_one(&mut store, e, now, &mut summary)?,
            Record::Repertoire(e) => import_one(&mut store, e, now, &mut summary)?,
            Record::Goal(e) => import_one(&mut store, e, now, &mut summary)?,
        }
    }
    println!(
        "imported {} records: {} created, {} updated, {} unchanged, {} skipped",
        records.len(),
        summary.created,
        summary.updated,
        summary.unchanged,
        summary.skipped
    );
    Ok(())
}

fn import_one<T: TypedEntity>(
    store: &mut Store,
    entity: &T,
    now: i64,
    summary: &mut Summary,
) -> Result<()> {
    let existing = store.get(T::ENTITY_TYPE, entity.id()).map_err(explain)?;
    match existing {
        Some(e) if e.deleted => {
            eprintln!(
                "skipped {} {}: it was deleted on this device",
                T::ENTITY_TYPE,
                entity.id()
            );
            summary.skipped += 1;
        }
        Some(_) => match store.save(entity, now).map_err(explain)? {
            Some(_) => summary.updated += 1,
            None => summary.unchanged += 1,
        },
        None => {
            store.save(entity, now).map_err(explain)?;
            summary.created += 1;
        }
    }
    Ok(())
}

fn typed(entity_type: EntityType, mut fields: Fields) -> Result<Record> {
    let id = match fields.remove("id") {
        Some(Value::String(id)) => EntityId::new(id)?,
        Some(_) => bail!("`id` must be a string"),
        None => bail!("has no `id`"),
    };
    Ok(match entity_type {
        EntityType::Logbook => Record::Logbook(LogbookEntry::from_fields(id, &fields)?),
        EntityType::Repertoire => Record::Repertoire(RepertoireItem::from_fields(id, &fields)?),
        EntityType::Goals => Record::Goal(Goal::from_fields(id, &fields)?),
    })
}

/// The records of a JSON export, or of a bare array (`list --json`) of `entity_type`.
fn parse_json(text: &str, entity_type: EntityType) -> Result<Vec<(EntityType, Fields)>> {
    let value: Value = serde_json::from_str(text).context("the file is not JSON")?;
    let objects = |entity_type: EntityType, value: Value| -> Result<Vec<(EntityType, Fields)>> {
        let Value::Array(items) = value else {
            bail!("`{entity_type}` must be an array");
        };
        items
            .into_iter()
            .map(|item| match item {
                Value::Object(fields) => Ok((entity_type, fields)),
                _ => bail!("every {entity_type} record must be an object"),
            })
            .collect()
    };
    match value {
        Value::Array(_) => objects(entity_type, value),
        Value::Object(mut export) => {
            if export.get("format").and_then(Value::as_str) != Some(FORMAT_NAME) {
                bail!("not a Legato export (no \"format\": \"{FORMAT_NAME}\")");
            }
            let version = export.get("version").and_then(Value::as_u64);
            if version != Some(FORMAT_VERSION) {
                bail!(
                    "unsupported export version {version:?} (this legato reads {FORMAT_VERSION})"
                );
            }
            let mut records = Vec::new();
            for entity_type in EntityType::ALL {
                if let Some(items) = export.remove(entity_type.as_str()) {
                    records.extend(objects(entity_type, items)?);
                }
            }
            Ok(records)
        }
        _ => bail!("expected a Legato export object or an array of records"),
    }
}

fn parse_csv(text: &str, entity_type: EntityType) -> Result<Vec<(EntityType, Fields)>> {
    let columns = columns(entity_type);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers()?.iter().map(str::to_owned).collect();
    let kinds = header
        .iter()
        .map(|name| {
            if name == "id" || name == EXTRA_COLUMN {
                return Ok(None);
            }
            columns
                .iter()
                .find(|(known, _)| known == name)
                .map(|(_, cell)| Some(*cell))
                .ok_or_else(|| {
                    anyhow!("unknown column `{name}` for {entity_type} (is --type right?)")
                })
        })
        .collect::<Result<Vec<_>>>()?;
    if !header.iter().any(|h| h == "id") {
        bail!("the CSV has no `id` column");
    }
    let mut records = Vec::new();
    for (row, line) in reader.records().enumerate() {
        let line = line?;
        let mut fields = Fields::new();
        for ((name, cell), text) in header.iter().zip(&kinds).zip(line.iter()) {
            let context = || format!("row {}, column `{name}`", row + 1);
            match cell {
                Some(cell) => {
                    let value = decode_cell(text, *cell).with_context(context)?;
                    if !value.is_null() {
                        fields.insert(name.clone(), value);
                    }
                }
                None if name == "id" => {
                    fields.insert(name.clone(), Value::String(text.to_owned()));
                }
                None if text.is_empty() => {}
                None => {
                    let Value::Object(extra) = decode_cell(text, Json).with_context(context)?
                    else {
                        bail!("{}: must be a JSON object", context());
                    };
                    for (k, v) in extra {
                        fields.entry(k).or_insert(v);
                    }
                }
            }
        }
        records.push((entity_type, fields));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_round_trip() {
        for (value, cell) in [
            (json!("slow practice, then \"fast\""), Text),
            (json!(45), Int),
            (json!([{"title": "Ballade", "composer": "Chopin"}]), Json),
            (json!({"bpm": 60}), Json),
        ] {
            let text = encode_cell(Some(&value), cell);
            assert_eq!(decode_cell(&text, cell).unwrap(), value);
        }
        assert_eq!(encode_cell(Some(&Value::Null), Text), "");
        assert_eq!(decode_cell("", Int).unwrap(), Value::Null);
        assert!(decode_cell("4x", Int).is_err());
    }

    #[test]
    fn csv_import_reads_known_columns_and_extra() {
        let text = "id,duration,timestamp,tags,extra\nabc,30,2026-11-25T18:30:00.000Z,\"[\"\"a\"\"]\",\"{\"\"x\"\":1}\"\n";
        let records = parse_csv(text, EntityType::Logbook).unwrap();
        assert_eq!(
            Value::Object(records[0].1.clone()),
            json!({"id": "abc", "duration": 30, "timestamp": "2026-11-25T18:30:00.000Z", "tags": ["a"], "x": 1})
        );
        assert!(parse_csv("id,bogus\n1,2\n", EntityType::Logbook).is_err());
    }
}
