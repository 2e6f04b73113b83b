//! `legato log add|edit|delete|list`.

use anyhow::{Result, bail};
use legato_core::LogbookEntry;
use legato_core::model::PieceRef;
use legato_protocol::EntityType;
use serde_json::Value;

use super::{
    explain, list_flag, load, new_id, parse_id, parse_ids, save_and_report, text_flag, time_of_ms,
};
use crate::cli::{ListArgs, LogAdd, LogCommand, LogEdit, LogFields};
use crate::context::{Context, now_ms};
use crate::output::{Table, entity_json, local_time, print_json, short, sync_label, text};

pub fn run(ctx: &Context, command: LogCommand) -> Result<()> {
    match command {
        LogCommand::Add(args) => add(ctx, args),
        LogCommand::Edit(args) => edit(ctx, args),
        LogCommand::Delete { id } => delete(ctx, &id),
        LogCommand::List(args) => list(ctx, &args),
    }
}

fn add(ctx: &Context, args: LogAdd) -> Result<()> {
    let mut store = ctx.store()?;
    let now = now_ms();
    let id = new_id();
    let mut entry = LogbookEntry::new(id.clone(), time_of_ms(now), args.duration);
    apply(args.fields, &mut entry, false)?;
    entry.normalise();
    store.save(&entry, now).map_err(explain)?;
    println!("{id}");
    Ok(())
}

fn edit(ctx: &Context, args: LogEdit) -> Result<()> {
    let mut store = ctx.store()?;
    let id = parse_id(EntityType::Logbook, &args.id)?;
    let mut entry: LogbookEntry = load(&store, &id)?;
    if let Some(duration) = args.duration {
        entry.duration = duration;
    }
    apply(args.fields, &mut entry, true)?;
    for tag in args.add_tag {
        if !entry.tags.contains(&tag) {
            entry.tags.push(tag);
        }
    }
    entry.tags.retain(|tag| !args.remove_tag.contains(tag));
    entry.normalise();
    save_and_report(&mut store, &entry, now_ms())
}

/// Applies the given flags to `entry`; absent flags leave their field alone.
fn apply(mut fields: LogFields, entry: &mut LogbookEntry, editing: bool) -> Result<()> {
    let piece_flags = PieceFlags::from_fields(&mut fields);
    if let Some(entry_type) = fields.entry_type {
        entry.entry_type = entry_type;
    }
    text_flag(fields.instrument, &mut entry.instrument);
    if let Some(pieces) = pieces(piece_flags, editing)? {
        entry.pieces = pieces;
    }
    list_flag(fields.technique, &mut entry.techniques);
    if let Some(mood) = fields.mood {
        entry.mood = mood.0;
    }
    text_flag(fields.notes, &mut entry.notes);
    list_flag(fields.tag, &mut entry.tags);
    if !fields.goal_ids.is_empty() {
        let ids: Vec<String> = fields
            .goal_ids
            .into_iter()
            .filter(|g| !g.is_empty())
            .collect();
        entry.goal_ids = parse_ids("goal id", &ids)?;
    }
    if let Some(at) = fields.at {
        entry.timestamp = at;
    }
    Ok(())
}

/// Per-piece flags (`--composer`, `--measures`, `--tempo`, `--score-id`) given with the
/// `--piece` titles: one value per piece in order, or one for all of them.
struct PieceFlags {
    titles: Vec<String>,
    composers: Vec<String>,
    measures: Vec<String>,
    tempos: Vec<i64>,
    score_ids: Vec<String>,
}

impl PieceFlags {
    fn from_fields(fields: &mut LogFields) -> Self {
        PieceFlags {
            titles: std::mem::take(&mut fields.piece),
            composers: std::mem::take(&mut fields.composer),
            measures: std::mem::take(&mut fields.measures),
            tempos: std::mem::take(&mut fields.tempo),
            score_ids: std::mem::take(&mut fields.score_id),
        }
    }

    fn any_detail(&self) -> Option<&'static str> {
        [
            (!self.composers.is_empty(), "--composer"),
            (!self.measures.is_empty(), "--measures"),
            (!self.tempos.is_empty(), "--tempo"),
            (!self.score_ids.is_empty(), "--score-id"),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag))
    }
}

/// The value of a per-piece flag for piece `i` of `count`.
fn nth<T: Clone>(flag: &str, values: &[T], i: usize, count: usize) -> Result<Option<T>> {
    Ok(match values.len() {
        0 => None,
        1 => values.first().cloned(),
        n if n == count => values.get(i).cloned(),
        _ => bail!("give one {flag} per --piece, in order, or one for all of them"),
    })
}

/// The `--piece` flags as piece references. `None` when no piece flag was given;
/// `--piece ""` alone clears the list.
fn pieces(flags: PieceFlags, editing: bool) -> Result<Option<Vec<PieceRef>>> {
    let count = flags.titles.len();
    if count == 0 {
        if let Some(flag) = flags.any_detail() {
            let hint = if editing {
                " (give the pieces again)"
            } else {
                ""
            };
            bail!("{flag} needs --piece{hint}");
        }
        return Ok(None);
    }
    let non_empty = |value: Option<String>| value.filter(|v| !v.is_empty());
    let mut pieces = Vec::new();
    for (i, title) in flags.titles.iter().enumerate() {
        let composer = non_empty(nth("--composer", &flags.composers, i, count)?);
        let measures = non_empty(nth("--measures", &flags.measures, i, count)?);
        let tempo = nth("--tempo", &flags.tempos, i, count)?;
        let score_id = non_empty(nth("--score-id", &flags.score_ids, i, count)?);
        if title.is_empty() {
            continue;
        }
        let mut piece = PieceRef::new(title.as_str());
        piece.composer = composer;
        piece.measures = measures;
        piece.tempo = tempo;
        piece.score_id = score_id;
        pieces.push(piece);
    }
    Ok(Some(pieces))
}

fn delete(ctx: &Context, id: &str) -> Result<()> {
    let mut store = ctx.store()?;
    let id = parse_id(EntityType::Logbook, id)?;
    if store
        .get(EntityType::Logbook, &id)
        .map_err(explain)?
        .is_some_and(|e| e.deleted)
    {
        println!("{id} was already deleted");
        return Ok(());
    }
    store
        .delete(EntityType::Logbook, &id, now_ms())
        .map_err(explain)?;
    println!("deleted {id}");
    Ok(())
}

fn list(ctx: &Context, args: &ListArgs) -> Result<()> {
    let store = ctx.store()?;
    let mut entries = store.list(EntityType::Logbook).map_err(explain)?;
    entries.truncate(args.limit.unwrap_or(usize::MAX));
    if args.json {
        let json: Vec<Value> = entries
            .iter()
            .map(|e| entity_json(&e.id, &e.state))
            .collect();
        return print_json(&json);
    }
    let mut table = Table::new(&["WHEN", "MIN", "TYPE", "PIECES", "NOTES", "SYNC", "ID"]);
    for e in &entries {
        let pieces: Vec<&str> = e
            .state
            .get("pieces")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("title").and_then(Value::as_str))
            .collect();
        table.row(vec![
            local_time(text(&e.state, "timestamp")),
            e.state
                .get("duration")
                .map(Value::to_string)
                .unwrap_or_default(),
            text(&e.state, "type").to_owned(),
            short(&pieces.join(", "), 30),
            short(text(&e.state, "notes"), 40),
            sync_label(e.sync).to_owned(),
            e.id.to_string(),
        ]);
    }
    table.print()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn flags(titles: &[&str], composers: &[&str]) -> PieceFlags {
        PieceFlags {
            titles: strings(titles),
            composers: strings(composers),
            measures: Vec::new(),
            tempos: Vec::new(),
            score_ids: Vec::new(),
        }
    }

    #[test]
    fn composers_pair_with_pieces_in_order_or_apply_to_all() {
        let paired = pieces(flags(&["A", "B"], &["X", "Y"]), false)
            .unwrap()
            .unwrap();
        assert_eq!(paired[1].composer.as_deref(), Some("Y"));
        let shared = pieces(flags(&["A", "B"], &["X"]), false).unwrap().unwrap();
        assert!(shared.iter().all(|p| p.composer.as_deref() == Some("X")));
        assert!(pieces(flags(&["A", "B", "C"], &["X", "Y"]), false).is_err());
        assert!(pieces(flags(&[], &["X"]), true).is_err());
        assert_eq!(pieces(flags(&[""], &[]), true).unwrap(), Some(Vec::new()));
        assert_eq!(pieces(flags(&[], &[]), true).unwrap(), None);
    }

    #[test]
    fn measures_tempo_and_score_pair_like_composers() {
        let mut given = flags(&["A", "B"], &[]);
        given.measures = strings(&["1-16", "33-48"]);
        given.tempos = vec![96];
        given.score_ids = strings(&["p1", ""]);
        let both = pieces(given, false).unwrap().unwrap();
        assert_eq!(both[0].measures.as_deref(), Some("1-16"));
        assert_eq!(both[1].measures.as_deref(), Some("33-48"));
        assert!(both.iter().all(|p| p.tempo == Some(96)));
        assert_eq!(both[0].score_id.as_deref(), Some("p1"));
        assert_eq!(both[1].score_id, None);

        let mut orphan = flags(&[], &[]);
        orphan.tempos = vec![60];
        let err = pieces(orphan, false).unwrap_err().to_string();
        assert!(err.contains("--tempo needs --piece"), "{err}");
    }
}
