//! `legato account register|login|logout|password`.

use std::io::{self, BufRead as _};

use anyhow::{Context as _, Result, bail};
use legato_protocol::{AuthResponse, ChangePasswordRequest, EntityType, RegisterRequest};

use super::explain;
use crate::cli::{AccountCommand, Credentials, PasswordChange};
use crate::config::Account;
use crate::context::Context;
use crate::http::block_on;
use legato_sync::account::AccountApi;

pub fn run(ctx: &mut Context, command: AccountCommand) -> Result<()> {
    match command {
        AccountCommand::Register(credentials) => sign_in(ctx, credentials, true),
        AccountCommand::Login(credentials) => sign_in(ctx, credentials, false),
        AccountCommand::Logout => logout(ctx),
        AccountCommand::Password(change) => change_password(ctx, change),
    }
}

/// Changes the password on the server; this device stays signed in, the others are out.
fn change_password(ctx: &Context, change: PasswordChange) -> Result<()> {
    let client_id = ctx.store()?.client_id().to_owned();
    let (account, token) = ctx.session(&client_id)?;
    let api = AccountApi::new(ctx.server_url(&account.server)?)?;
    let body = ChangePasswordRequest {
        current_password: change.password,
        new_password: change.new_password,
    };
    block_on(api.change_password(&token, &body))?.context("changing the password failed")?;
    println!(
        "password changed for {}; every other device is signed out",
        account.email
    );
    Ok(())
}

fn sign_in(ctx: &mut Context, credentials: Credentials, register: bool) -> Result<()> {
    let password = password(&credentials)?;
    let body = RegisterRequest {
        email: credentials.email.trim().to_owned(),
        password,
        device_name: Some(format!("legato cli ({})", std::env::consts::OS)),
    };
    check_same_account(ctx, &body.email)?;
    let api = AccountApi::new(ctx.server_url(&ctx.server)?)?;
    let reply: AuthResponse = block_on(async {
        if register {
            api.register(&body).await.context("registration failed")
        } else {
            api.login(&body).await.context("login failed")
        }
    })??;

    let client_id = ctx.store()?.client_id().to_owned();
    if let Some(previous) = ctx.config.account.take() {
        // The old account's token goes either way; its data may not move to another account.
        ctx.tokens(&previous, &client_id).delete()?;
    }
    let account = Account {
        user_id: reply.user_id,
        email: body.email,
        server: ctx.server.clone(),
    };
    ctx.tokens(&account, &client_id).save(&reply.token)?;
    ctx.config.account = Some(account.clone());
    ctx.config.server = Some(ctx.server.clone());
    ctx.data.save_config(&ctx.config)?;
    let verb = if register {
        "registered and logged in"
    } else {
        "logged in"
    };
    println!("{verb} as {} on {}", account.email, account.server);
    Ok(())
}

/// A data directory is one device of one account: its entries, outbox and cursor belong to
/// the account it first synced with. Another account needs another data directory (or an
/// empty one), or this device's entries would be pushed into it and its cursor would skip
/// that account's changes.
fn check_same_account(ctx: &Context, email: &str) -> Result<()> {
    let Some(account) = &ctx.config.account else {
        return Ok(());
    };
    if account.email == email && account.server == ctx.server {
        return Ok(());
    }
    let store = ctx.store()?;
    let mut empty =
        store.cursor().map_err(explain)? == 0 && store.pending_count().map_err(explain)? == 0;
    for entity_type in EntityType::ALL {
        empty &= store.list(entity_type).map_err(explain)?.is_empty();
    }
    if !empty {
        bail!(
            "this data directory holds the practice log of {} on {}; use another --data-dir \
             for {email} on {}",
            account.email,
            account.server,
            ctx.server
        );
    }
    Ok(())
}

fn password(credentials: &Credentials) -> Result<String> {
    if credentials.password_stdin {
        let mut line = String::new();
        io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        let password = line.trim_end_matches(['\r', '\n']).to_owned();
        if password.is_empty() {
            bail!("no password on stdin");
        }
        return Ok(password);
    }
    match &credentials.password {
        Some(password) => Ok(password.clone()),
        None => bail!("give a password with --password, LEGATO_PASSWORD or --password-stdin"),
    }
}

/// Revokes and forgets the token. The account stays recorded: this data directory remains
/// that account's device (`legato account login` signs it in again).
fn logout(ctx: &Context) -> Result<()> {
    let Some(account) = &ctx.config.account else {
        println!("not logged in");
        return Ok(());
    };
    let client_id = ctx.store()?.client_id().to_owned();
    let tokens = ctx.tokens(account, &client_id);
    let Some(token) = tokens.load()? else {
        println!("not logged in");
        return Ok(());
    };
    let api = AccountApi::new(ctx.server_url(&account.server)?)?;
    if let Err(err) = block_on(api.logout(&token))? {
        eprintln!(
            "warning: the token could not be revoked on the server ({err:#}); \
             it is forgotten on this device"
        );
    }
    tokens.delete()?;
    println!("logged out {}", account.email);
    Ok(())
}
