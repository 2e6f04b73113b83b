//! `legato goal add|edit|list`.

use anyhow::Result;
use legato_core::Goal;
use legato_protocol::{EntityType, Fields};
use serde_json::{Value, json};

use super::{explain, list_flag, load, new_id, parse_id, parse_ids, text_flag};
use crate::cli::{GoalAdd, GoalCommand, GoalEdit, GoalFields, ListArgs};
use crate::context::{Context, now_ms};
use crate::output::{Table, entity_json, print_json, short, sync_label, text};

pub fn run(ctx: &Context, command: GoalCommand) -> Result<()> {
    match command {
        GoalCommand::Add(args) => add(ctx, args),
        GoalCommand::Edit(args) => edit(ctx, args),
        GoalCommand::List(args) => list(ctx, &args),
    }
}

fn add(ctx: &Context, args: GoalAdd) -> Result<()> {
    let mut store = ctx.store()?;
    let id = new_id();
    let mut goal = Goal::new(id.clone(), args.title);
    apply(args.fields, &mut goal)?;
    store.save(&goal, now_ms()).map_err(explain)?;
    println!("{id}");
    Ok(())
}

fn edit(ctx: &Context, args: GoalEdit) -> Result<()> {
    let mut store = ctx.store()?;
    let now = now_ms();
    let id = parse_id(EntityType::Goals, &args.id)?;
    let mut goal: Goal = load(&store, &id)?;
    if let Some(title) = args.title {
        goal.title = title;
    }
    apply(args.fields, &mut goal)?;
    let mut changed = store.save(&goal, now).map_err(explain)?.is_some();
    if let Some(n) = args.add_progress.filter(|n| *n != 0) {
        // `$inc`: progress made on two devices adds up instead of conflicting.
        let mut patch = Fields::new();
        patch.insert("progress".to_owned(), json!({ "$inc": n }));
        changed |= store
            .patch(EntityType::Goals, &id, patch, now)
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

fn apply(fields: GoalFields, goal: &mut Goal) -> Result<()> {
    text_flag(fields.description, &mut goal.description);
    if let Some(goal_type) = fields.goal_type {
        goal.goal_type = goal_type;
    }
    if let Some(minutes) = fields.target_minutes {
        goal.target_minutes = minutes.0;
    }
    if let Some(period) = fields.period {
        goal.period = period;
    }
    if let Some(date) = fields.target_date {
        goal.target_date = date.0;
    }
    if let Some(status) = fields.status {
        goal.status = status;
    }
    if !fields.piece_ids.is_empty() {
        let ids: Vec<String> = fields
            .piece_ids
            .into_iter()
            .filter(|p| !p.is_empty())
            .collect();
        goal.piece_ids = parse_ids("piece id", &ids)?;
    }
    text_flag(fields.notes, &mut goal.notes);
    list_flag(fields.tag, &mut goal.tags);
    Ok(())
}

fn list(ctx: &Context, args: &ListArgs) -> Result<()> {
    let store = ctx.store()?;
    let mut goals = store.list(EntityType::Goals).map_err(explain)?;
    goals.truncate(args.limit.unwrap_or(usize::MAX));
    if args.json {
        let json: Vec<Value> = goals.iter().map(|e| entity_json(&e.id, &e.state)).collect();
        return print_json(&json);
    }
    let number = |v: Option<&Value>| {
        v.filter(|v| !v.is_null())
            .map(Value::to_string)
            .unwrap_or_default()
    };
    let mut table = Table::new(&[
        "TITLE", "TYPE", "TARGET", "PERIOD", "PROGRESS", "STATUS", "SYNC", "ID",
    ]);
    for e in &goals {
        table.row(vec![
            short(text(&e.state, "title"), 40),
            text(&e.state, "type").to_owned(),
            number(e.state.get("targetMinutes")),
            text(&e.state, "period").to_owned(),
            number(e.state.get("progress")),
            text(&e.state, "status").to_owned(),
            sync_label(e.sync).to_owned(),
            e.id.to_string(),
        ]);
    }
    table.print()
}
