//! `legato dead-letters list|retry|discard`.

use anyhow::Result;
use serde_json::{Value, json};

use super::explain;
use crate::cli::DeadLettersCommand;
use crate::context::Context;
use crate::output::{Table, local_time_ms, print_json, short};

pub fn run(ctx: &Context, command: DeadLettersCommand) -> Result<()> {
    let mut store = ctx.store()?;
    match command {
        DeadLettersCommand::List(args) => {
            let letters = store.dead_letters().map_err(explain)?;
            if args.json {
                let json: Vec<Value> = letters
                    .iter()
                    .map(|d| {
                        json!({
                            "changeId": d.change.change_id,
                            "entityType": d.change.entity_type,
                            "entityId": d.change.entity_id,
                            "operation": d.change.operation,
                            "data": d.change.data,
                            "baseVersion": d.change.base_version,
                            "timestamp": d.change.timestamp,
                            "attempts": d.attempts,
                            "errorCode": d.error_code,
                            "errorMessage": d.error_message,
                            "failedAt": d.failed_at,
                        })
                    })
                    .collect();
                return print_json(&json);
            }
            if letters.is_empty() {
                println!("no dead letters");
                return Ok(());
            }
            let mut table = Table::new(&["FAILED", "TYPE", "OP", "ENTITY", "ERROR", "CHANGE"]);
            for d in &letters {
                table.row(vec![
                    local_time_ms(d.failed_at),
                    d.change.entity_type.to_string(),
                    d.change.operation.as_str().to_owned(),
                    d.change.entity_id.to_string(),
                    short(
                        &format!("{}: {}", d.error_code.as_str(), d.error_message),
                        60,
                    ),
                    d.change.change_id.clone(),
                ]);
            }
            table.print()
        }
        DeadLettersCommand::Retry { change_id } => {
            store.retry_dead_letter(&change_id).map_err(explain)?;
            println!("queued {change_id} again; it goes out with the next sync");
            Ok(())
        }
        DeadLettersCommand::Discard { change_id } => {
            store.discard_dead_letter(&change_id).map_err(explain)?;
            println!("discarded {change_id}");
            Ok(())
        }
    }
}
