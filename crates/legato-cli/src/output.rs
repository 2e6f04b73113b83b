//! Printing: JSON for scripts, aligned tables for people.

use std::io::{self, Write as _};

use anyhow::Result;
use chrono::{DateTime, Local};
use legato_protocol::{EntityId, Fields};
use legato_store::SyncState;
use serde::Serialize;
use serde_json::Value;

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl Serialize) -> Result<()> {
    let mut out = io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// An entity as scripts see it: its state's camelCase fields plus `id`.
pub fn entity_json(id: &EntityId, state: &Fields) -> Value {
    let mut object = state.clone();
    object.insert("id".to_owned(), Value::String(id.to_string()));
    Value::Object(object)
}

/// A text table with a header, columns padded to their widest cell.
#[derive(Debug)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Table {
            rows: vec![header.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn print(&self) -> Result<()> {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = io::stdout().lock();
        for row in &self.rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                if c + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    line.extend(std::iter::repeat_n(
                        ' ',
                        widths[c] - cell.chars().count() + 2,
                    ));
                }
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// `text` cut to `max` characters (with an ellipsis), on one line.
pub fn short(text: &str, max: usize) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= max {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A string field of a state, or "".
pub fn text<'a>(state: &'a Fields, field: &str) -> &'a str {
    state.get(field).and_then(Value::as_str).unwrap_or("")
}

/// A protocol date-time shown in local time, `2026-11-25 19:30`.
pub fn local_time(rfc3339: &str) -> String {
    DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|_| rfc3339.to_owned())
}

/// Milliseconds since the epoch shown in local time.
pub fn local_time_ms(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// The sync badge of an entity.
pub fn sync_label(state: SyncState) -> &'static str {
    match state {
        SyncState::Synced => "synced",
        SyncState::Pending => "pending",
        SyncState::Failed => "failed",
        SyncState::Conflict => "conflict",
    }
}

/// A string list joined for a table cell.
pub fn list(state: &Fields, field: &str) -> String {
    state
        .get(field)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_cuts_on_characters_and_flattens_lines() {
        assert_eq!(short("slow\npractice", 20), "slow practice");
        assert_eq!(short("éééééé", 4), "ééé…");
    }
}
