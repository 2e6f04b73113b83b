//! `legato repertoire add|edit|list`.

use anyhow::Result;
use legato_core::RepertoireItem;
use legato_core::model::StatusChange;
use legato_protocol::{EntityType, Fields};
use serde_json::Value;

use super::{explain, list_flag, load, new_id, parse_id, text_flag, time_of_ms};
use crate::cli::{ListArgs, RepertoireAdd, RepertoireCommand, RepertoireEdit, RepertoireFields};
use crate::context::{Context, now_ms};
use crate::output::{Table, entity_json, print_json, short, sync_label, text};

pub fn run(ctx: &Context, command: RepertoireCommand) -> Result<()> {
    match command {
        RepertoireCommand::Add(args) => add(ctx, args),
        RepertoireCommand::Edit(args) => edit(ctx, args),
        RepertoireCommand::List(args) => list(ctx, &args),
    }
}

fn add(ctx: &Context, args: RepertoireAdd) -> Result<()> {
    let mut store = ctx.store()?;
    let now = now_ms();
    let id = new_id();
    let mut item = RepertoireItem::new(id.clone(), args.title);
    if let Some(status) = args.fields.status {
        item.status = status;
    }
    // The first status a piece gets opens its history.
    item.status_history.push(StatusChange {
        at: time_of_ms(now),
        from: None,
        to: item.status,
        extra: Fields::new(),
    });
    apply(args.fields, &mut item);
    store.save(&item, now).map_err(explain)?;
    println!("{id}");
    Ok(())
}

fn edit(ctx: &Context, args: RepertoireEdit) -> Result<()> {
    let mut store = ctx.store()?;
    let now = now_ms();
    let id = parse_id(EntityType::Repertoire, &args.id)?;
    let mut item: RepertoireItem = load(&store, &id)?;
    if let Some(title) = args.title {
        item.title = title;
    }
    let status = args.fields.status;
    apply(args.fields, &mut item);
    let mut changed = store.save(&item, now).map_err(explain)?.is_some();
    if let Some(status) = status {
        // A status move travels as `$addToSet` on the history: moves made on two devices
        // are both kept.
        changed |= store
            .set_piece_status(&id, status, now)
            .map_err(explain)?
            .is_some();
    }
    if changed {
        println!("updated {id}");
    } else {
        println!("no changes to {id}");
    }
    Ok(())
}

/// Applies every flag but `--status` (which has its own history rule).
fn apply(fields: RepertoireFields, item: &mut RepertoireItem) {
    text_flag(fields.composer, &mut item.composer);
    if let Some(difficulty) = fields.difficulty {
        item.difficulty = difficulty.0;
    }
    text_flag(fields.notes, &mut item.notes);
    list_flag(fields.links, &mut item.reference_links);
    list_flag(fields.tag, &mut item.tags);
}

fn list(ctx: &Context, args: &ListArgs) -> Result<()> {
    let store = ctx.store()?;
    let mut items = store.list(EntityType::Repertoire).map_err(explain)?;
    items.truncate(args.limit.unwrap_or(usize::MAX));
    if args.json {
        let json: Vec<Value> = items.iter().map(|e| entity_json(&e.id, &e.state)).collect();
        return print_json(&json);
    }
    let mut table = Table::new(&["TITLE", "COMPOSER", "STATUS", "DIFFICULTY", "SYNC", "ID"]);
    for e in &items {
        table.row(vec![
            short(text(&e.state, "title"), 40),
            short(text(&e.state, "composer"), 24),
            text(&e.state, "status").to_owned(),
            e.state
                .get("difficulty")
                .filter(|d| !d.is_null())
                .map(Value::to_string)
                .unwrap_or_default(),
            sync_label(e.sync).to_owned(),
            e.id.to_string(),
        ]);
    }
    table.print()
}
