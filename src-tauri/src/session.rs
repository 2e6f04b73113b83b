//! The account session: signing in (or registering), signing out, restoring the token at
//! start, and the development auto-login of `LEGATO_DEV_LOGIN`.
//!
//! A device's data belongs to one account: once an account has synced here, signing in as
//! another one is refused (`account_mismatch`) instead of mixing two users' entries.

use legato_protocol::RegisterRequest;
use legato_sync::ServerUrl;

use crate::ipc::error::{ErrorCode, IpcError};
use crate::ipc::types::{Credentials, SettingsView};
use crate::settings::SavedAccount;
use crate::state::AppState;
use legato_sync::account::{AccountApi, AccountError};

/// Register a new account or log in to an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Register,
    Login,
}

fn api(state: &AppState) -> Result<AccountApi, IpcError> {
    let server = ServerUrl::parse(&state.settings().effective_server(&state.launch))?;
    Ok(AccountApi::new(server)?)
}

fn default_device_name() -> String {
    format!("Legato desktop ({})", std::env::consts::OS)
}

/// Whether `user_id` may sign in on a device whose data belongs to `owner`.
pub fn may_sign_in(owner: Option<&str>, user_id: &str) -> bool {
    owner.is_none_or(|owner| owner == user_id)
}

/// Signs in (or registers), keeps the token, and hands it to the sync engine.
pub async fn sign_in(
    state: &AppState,
    credentials: Credentials,
    mode: Mode,
) -> Result<SettingsView, IpcError> {
    let email = credentials.email.trim().to_owned();
    if email.is_empty() {
        return Err(IpcError::invalid("email", "an email address is required"));
    }
    if credentials.password.is_empty() {
        return Err(IpcError::invalid("password", "a password is required"));
    }
    let api = api(state)?;
    let body = RegisterRequest {
        email: email.clone(),
        password: credentials.password,
        device_name: Some(
            credentials
                .device_name
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(default_device_name),
        ),
    };
    let auth = match mode {
        Mode::Register => api.register(&body).await?,
        Mode::Login => api.login(&body).await?,
    };
    let owner = state.settings().data_owner;
    if !may_sign_in(owner.as_deref(), &auth.user_id) {
        if let Err(err) = api.logout(&auth.token).await {
            tracing::warn!(%err, "cannot revoke the refused account's token");
        }
        return Err(IpcError::new(
            ErrorCode::AccountMismatch,
            "this device's data belongs to another account: sign in with that account, or \
             start Legato with another data directory (LEGATO_DATA_DIR)",
        ));
    }
    let keyring = state.keychain.save(auth.token.clone()).await;
    if !keyring.persistent {
        tracing::warn!("the sign-in lasts for this session only (no keyring to keep it)");
    }
    state
        .update_settings(|s| {
            s.account = Some(SavedAccount {
                user_id: auth.user_id.clone(),
                email,
            });
            s.data_owner = Some(auth.user_id.clone());
        })
        .await?;
    state.sync.set_token(Some(auth.token)).await?;
    tracing::info!(user_id = %auth.user_id, "signed in");
    Ok(state.settings_view())
}

/// Signs out: revokes the token on the server when it can be reached (offline, the token is
/// still forgotten here), removes it from the keyring, and stops syncing.
pub async fn sign_out(state: &AppState) -> Result<SettingsView, IpcError> {
    if let Some(token) = state.keychain.token() {
        match api(state)?.logout(&token).await {
            Ok(()) => {}
            Err(AccountError::Network(err)) => {
                tracing::info!(%err, "signed out offline; the server forgets the token only when it is revoked");
            }
            Err(err) => tracing::warn!(%err, "the server did not revoke the token"),
        }
    }
    // Forgotten first: a restart meanwhile starts the engine without it.
    let forgotten = state.keychain.forget().await;
    state.sync.set_token(None).await?;
    state.update_settings(|s| s.account = None).await?;
    forgotten?;
    tracing::info!("signed out");
    Ok(state.settings_view())
}

/// At start: hands the saved token to the engine, then runs the development auto-login.
/// Failures are logged; the app works offline meanwhile.
pub async fn restore(state: &AppState) {
    if state.settings().account.is_some() {
        match state.keychain.load().await {
            Ok(Some(token)) => {
                if let Err(err) = state.sync.set_token(Some(token)).await {
                    tracing::warn!(%err, "cannot hand the token to the sync engine");
                }
            }
            Ok(None) => {
                tracing::warn!("signed in before, but the keyring has no token: sign in again")
            }
            Err(err) => tracing::warn!(%err, "cannot read the token"),
        }
        // The keyring's status may have changed.
        state.emit(&state.settings_view());
    }
    if state.keychain.token().is_none()
        && let Some((email, password)) = state.launch.dev_login.clone()
    {
        dev_login(state, email, password).await;
    }
}

/// `LEGATO_DEV_LOGIN`: register the account, or log in when it exists.
async fn dev_login(state: &AppState, email: String, password: String) {
    let credentials = |password: String| Credentials {
        email: email.clone(),
        password,
        device_name: None,
    };
    let result = match sign_in(state, credentials(password.clone()), Mode::Register).await {
        Err(err) if err.code == ErrorCode::EmailTaken => {
            sign_in(state, credentials(password), Mode::Login).await
        }
        other => other,
    };
    match result {
        Ok(_) => tracing::info!(%email, "development login done"),
        Err(err) => tracing::warn!(%email, %err, "development login failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_stays_with_the_account_that_owns_its_data() {
        assert!(may_sign_in(None, "u1"));
        assert!(may_sign_in(Some("u1"), "u1"));
        assert!(!may_sign_in(Some("u1"), "u2"));
    }
}
