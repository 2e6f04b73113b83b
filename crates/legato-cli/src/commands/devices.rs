//! `legato devices list|revoke`: the account's signed-in devices (one per login).

use anyhow::{Context as _, Result};
use chrono::DateTime;
use legato_sync::account::AccountApi;

use crate::cli::DevicesCommand;
use crate::context::Context;
use crate::http::block_on;

pub fn run(ctx: &Context, command: DevicesCommand) -> Result<()> {
    let client_id = ctx.store()?.client_id().to_owned();
    let (account, token) = ctx.session(&client_id)?;
    let api = AccountApi::new(ctx.server_url(&account.server)?)?;
    match command {
        DevicesCommand::List(flag) => {
            let reply = block_on(api.devices(&token))?.context("listing the devices failed")?;
            if flag.json {
                println!("{}", serde_json::to_string_pretty(&reply)?);
                return Ok(());
            }
            for device in &reply.devices {
                println!(
                    "{} {}  {}  client {}  signed in {}  last seen {}",
                    if device.current { "*" } else { " " },
                    device.id,
                    device.name.as_deref().unwrap_or("(unnamed)"),
                    device.client_id.as_deref().unwrap_or("-"),
                    time(device.created_at),
                    time(device.last_seen_at),
                );
            }
            Ok(())
        }
        DevicesCommand::Revoke { id } => {
            block_on(api.revoke_other_device(&token, &id))?
                .with_context(|| format!("signing out device {id} failed"))?;
            println!("device {id} is signed out");
            Ok(())
        }
    }
}

fn time(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}
