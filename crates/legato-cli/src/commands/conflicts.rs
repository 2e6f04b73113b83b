//! `legato conflicts list|resolve`.

use anyhow::Result;
use legato_core::{
    DeleteRule, Resolution, Strategy, decode_deflated, delete_against_edit, resolve_conflict,
};
use legato_protocol::{ConflictData, Fields, Operation};
use legato_store::{ConflictOutcome, Store, StoredConflict};
use serde_json::{Value, json};

use super::explain;
use crate::cli::{ConflictsCommand, Take};
use crate::context::{Context, now_ms};
use crate::output::{Table, local_time_ms, print_json};

pub fn run(ctx: &Context, command: ConflictsCommand) -> Result<()> {
    let mut store = ctx.store()?;
    match command {
        ConflictsCommand::List(args) => list(&store, args.json),
        ConflictsCommand::Resolve { id, take } => resolve(&mut store, id, take),
    }
}

fn list(store: &Store, as_json: bool) -> Result<()> {
    let conflicts = store.conflicts().map_err(explain)?;
    if as_json {
        let json: Vec<Value> = conflicts.iter().map(conflict_json).collect();
        return print_json(&json);
    }
    if conflicts.is_empty() {
        println!("no conflicts");
        return Ok(());
    }
    let mut table = Table::new(&["ID", "SINCE", "TYPE", "ENTITY", "FIELDS", "REMOTE"]);
    for c in &conflicts {
        let d = &c.conflict;
        table.row(vec![
            c.id.to_string(),
            local_time_ms(c.created_at),
            d.entity_type.to_string(),
            d.entity_id.to_string(),
            d.fields.join(", "),
            if d.remote_deleted {
                "deleted".to_owned()
            } else {
                format!("v{}", d.remote_version)
            },
        ]);
    }
    table.print()
}

fn conflict_json(c: &StoredConflict) -> Value {
    let d = &c.conflict;
    json!({
        "id": c.id,
        "changeId": d.change_id,
        "entityType": d.entity_type,
        "entityId": d.entity_id,
        "operation": c.operation,
        "baseVersion": d.base_version,
        "remoteVersion": d.remote_version,
        "remoteDeleted": d.remote_deleted,
        "fields": d.fields,
        "local": d.local,
        "remote": d.remote,
        "localTimestamp": c.local_timestamp,
        "createdAt": c.created_at,
        "base": c.base,
    })
}

/// Computes the resolved state with `legato_core` and hands it to the store, which queues it
/// as a new change on the server's version (or re-creates the entity under a new id when
/// the server deleted it).
fn resolve(store: &mut Store, id: i64, take: Take) -> Result<()> {
    let stored = store
        .conflicts()
        .map_err(explain)?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| anyhow::anyhow!("no conflict with id {id} (see `legato conflicts list`)"))?;
    let mut conflict: ConflictData = stored.conflict.clone();
    conflict.remote = decode_deflated(&conflict.remote)?;
    let local = store
        .get(conflict.entity_type, &conflict.entity_id)
        .map_err(explain)?
        .map(|e| e.state)
        .unwrap_or_else(|| overlay(&conflict.remote, &conflict.local));
    let strategy = match take {
        Take::Local => Strategy::Local,
        Take::Remote => Strategy::Remote,
        Take::Merge => Strategy::Merge,
    };
    // `merge` runs against the base the conflicted change was made on (kept by the store),
    // with this device's side being that base plus its own unsettled edits. A conflict
    // stored before the store kept bases has none: then fields both sides hold with
    // different values follow the field rules of PROTOCOL.md section 4.
    let merge_local = match strategy {
        // (A re-creation after a remote delete takes the whole local state.)
        Strategy::Merge if !conflict.remote_deleted => store
            .conflict_merge_local(&stored)
            .map_err(explain)?
            .unwrap_or_else(|| local.clone()),
        _ => local,
    };
    let resolution = if stored.operation == Operation::Delete {
        // The user's own delete against an edit made elsewhere: "keep mine" deletes.
        match delete_against_edit(strategy, &conflict) {
            Some(DeleteRule::DeleteWins) if !conflict.remote_deleted => Resolution::Delete,
            _ => Resolution::AcceptRemote,
        }
    } else {
        resolve_conflict(
            strategy,
            stored.base.as_ref(),
            &merge_local,
            &conflict,
            stored.local_timestamp,
        )
    };
    let outcome = match resolution {
        Resolution::Push { state, .. } | Resolution::Recreate { state } => store
            .apply_user_decision(id, state, now_ms())
            .map_err(explain)?,
        Resolution::Delete => store.keep_delete(id, now_ms()).map_err(explain)?,
        Resolution::AcceptRemote | Resolution::Manual => {
            store.discard_conflict(id, now_ms()).map_err(explain)?;
            ConflictOutcome::AcceptedRemote
        }
    };
    match outcome {
        ConflictOutcome::Pushed { change_id } => {
            println!("resolved conflict {id}: queued change {change_id}")
        }
        ConflictOutcome::Recreated { entity_id, .. } => println!(
            "resolved conflict {id}: the server had deleted it; your version lives on as {entity_id}"
        ),
        _ => println!("resolved conflict {id}: the server's version stands"),
    }
    Ok(())
}

fn overlay(remote: &Fields, local: &Fields) -> Fields {
    let mut state = remote.clone();
    state.extend(local.iter().map(|(k, v)| (k.clone(), v.clone())));
    state
}
