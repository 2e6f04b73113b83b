//! `legato goal add|edit|list`.

use anyhow::{Result, anyhow};
use legato_core::Goal;
use legato_core::model::Milestone;
use legato_protocol::{EntityType, Fields};
use serde_json::{Value, json};

use super::{explain, list_flag, load, new_id, parse_id, parse_ids, text_flag, time_of_ms};
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
    let at = time_of_ms(now);
    for (names, done) in [(&args.done, true), (&args.undone, false)] {
        for name in names {
            let milestone = milestone_id(&goal, name)?;
            goal.set_milestone_done(&milestone, done, at);
        }
    }
    for name in &args.remove_milestone {
        let milestone = milestone_id(&goal, name)?;
        goal.milestones.retain(|m| m.id != milestone);
    }
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
    for title in fields.milestone.into_iter().filter(|t| !t.is_empty()) {
        goal.milestones
            .push(Milestone::new(new_milestone_id(goal), title));
    }
    text_flag(fields.notes, &mut goal.notes);
    list_flag(fields.tag, &mut goal.tags);
    Ok(())
}

/// A milestone id unique within the goal (`legato_core`'s rule: `m1`, `m2`, ...); `--done`
/// by title still tells apart two that got the same number on two devices.
fn new_milestone_id(goal: &Goal) -> String {
    goal.next_milestone_id()
}

/// The id of the milestone named by `name`: its id, or else its title (case-insensitive).
fn milestone_id(goal: &Goal, name: &str) -> Result<String> {
    let by_id = goal.milestones.iter().find(|m| m.id == name);
    let by_title = || {
        goal.milestones
            .iter()
            .find(|m| m.title.eq_ignore_ascii_case(name))
    };
    by_id
        .or_else(by_title)
        .map(|m| m.id.clone())
        .ok_or_else(|| anyhow!("goal {} has no milestone `{name}`", goal.id))
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
        "TITLE",
        "TYPE",
        "TARGET",
        "PERIOD",
        "PROGRESS",
        "MILESTONES",
        "STATUS",
        "SYNC",
        "ID",
    ]);
    for e in &goals {
        table.row(vec![
            short(text(&e.state, "title"), 40),
            text(&e.state, "type").to_owned(),
            number(e.state.get("targetMinutes")),
            text(&e.state, "period").to_owned(),
            number(e.state.get("progress")),
            milestones(&e.state),
            text(&e.state, "status").to_owned(),
            sync_label(e.sync).to_owned(),
            e.id.to_string(),
        ]);
    }
    table.print()
}

/// `done/total` milestones, or empty when there are none.
fn milestones(state: &legato_protocol::Fields) -> String {
    let all = state
        .get("milestones")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if all.is_empty() {
        return String::new();
    }
    let done = all
        .iter()
        .filter(|m| m.get("done").and_then(Value::as_bool) == Some(true))
        .count();
    format!("{done}/{}", all.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn goal_with(titles: &[&str]) -> Goal {
        let mut goal = Goal::new(new_id(), "Recital");
        for title in titles {
            goal.milestones
                .push(Milestone::new(new_milestone_id(&goal), *title));
        }
        goal
    }

    #[test]
    fn milestone_ids_are_short_and_unique() {
        let goal = goal_with(&["Learn notes", "Memorize", "Play for a friend"]);
        let ids: Vec<&str> = goal.milestones.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["m1", "m2", "m3"]);
    }

    #[test]
    fn milestones_are_found_by_id_or_title() {
        let goal = goal_with(&["Learn notes", "Memorize"]);
        assert_eq!(milestone_id(&goal, "m2").unwrap(), "m2");
        assert_eq!(milestone_id(&goal, "memorize").unwrap(), "m2");
        let err = milestone_id(&goal, "Perform").unwrap_err().to_string();
        assert!(err.contains("no milestone `Perform`"), "{err}");
    }
}
