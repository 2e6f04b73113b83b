//! The account session: signing in (or registering), signing out, restoring the token at
//! start, and the development auto-login of `LEGATO_DEV_LOGIN`.
//!
//! A device's data belongs to one account: once an account has synced here, signing in as
//! another one is refused (`account_mismatch`) instead of mixing two users' entries.
//!
//! A token belongs to the server that issued it ([`Credential`]): it is revoked there,
//! kept in the keyring under that server and account, and never handed to the sync engine
//! for another server. Switching the server ([`switch_server`]) signs out of the old one
//! first.

use legato_protocol::{DeviceInfo, RegisterRequest};
use legato_sync::ServerUrl;
use legato_sync::account::Credential;

use crate::ipc::error::{ErrorCode, IpcError};
use crate::ipc::types::{Credentials, DeviceView, SettingsView};
use crate::settings::SavedAccount;
use crate::state::AppState;
use legato_sync::account::{AccountApi, AccountError};

/// Register a new account or log in to an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Register,
    Login,
}

fn api(server: &ServerUrl) -> Result<AccountApi, IpcError> {
    Ok(AccountApi::new(server.clone())?)
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
    let server = ServerUrl::parse(&state.settings().effective_server(&state.launch))?;
    let api = api(&server)?;
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
    // An earlier session (another account, or another server) leaves the keyring.
    if let Some(previous) = state.keychain.credential()
        && (previous.server != server || previous.email != email)
        && let Err(err) = state.keychain.forget().await
    {
        tracing::warn!(%err, "cannot remove the previous sign-in from the keyring");
    }
    let keyring = state
        .keychain
        .save(Credential::new(server.clone(), email.clone(), auth.token))
        .await;
    if !keyring.persistent {
        tracing::warn!("the sign-in lasts for this session only (no keyring to keep it)");
    }
    state
        .update_settings(|s| {
            s.account = Some(SavedAccount {
                user_id: auth.user_id.clone(),
                email,
                server: Some(saved_form(&server)),
            });
            s.data_owner = Some(auth.user_id.clone());
        })
        .await?;
    // Only for the server the engine talks to (the same, unless it was switched meanwhile).
    state
        .sync
        .set_token(state.keychain.token_for(&state.server_url()))
        .await?;
    tracing::info!(user_id = %auth.user_id, "signed in");
    Ok(state.settings_view())
}

/// How a server URL is saved (settings, account): without the trailing slash.
fn saved_form(server: &ServerUrl) -> String {
    server.as_str().trim_end_matches('/').to_owned()
}

/// Saves the sync server's address and reconnects to it. When that changes the server in
/// use and this device is signed in to another one, it signs out of that one first: the
/// token is revoked at the server that issued it (when reachable) and forgotten, so the
/// engine that starts for the new server has none (it only ever gets a token issued by
/// its own server: see `AppState::sync_config`). Under `LEGATO_SERVER` the saved value
/// changes but the environment's stays in use (and so does the session).
pub async fn switch_server(state: &AppState, url: &str) -> Result<SettingsView, IpcError> {
    let saved = saved_form(&ServerUrl::parse(url)?);
    let mut next = state.settings();
    next.server_url = Some(saved.clone());
    let after = next.effective_server_url(&state.launch);
    if let Some(credential) = state.keychain.credential()
        && credential.server != after
    {
        tracing::info!(from = %credential.server, to = %after,
            "the server changes: signing out of the old one first");
        if let Err(err) = sign_out(state).await {
            // The session is gone from memory and the engine either way; only the keyring
            // entry (named after the old server, never read for another) may be left.
            tracing::warn!(%err, "signing out of the old server did not finish");
        }
    }
    state
        .update_settings(|s| s.server_url = Some(saved))
        .await?;
    state.restart_sync().await;
    Ok(state.settings_view())
}

/// Signs out: revokes the token on the server that issued it when it can be reached
/// (offline, the token is still forgotten here), removes it from the keyring, and stops
/// syncing.
pub async fn sign_out(state: &AppState) -> Result<SettingsView, IpcError> {
    if let Some(credential) = state.keychain.credential() {
        match api(&credential.server)?.logout(credential.token()).await {
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

/// The account API and token of the server in use, or `signed_out`.
fn signed_in(state: &AppState) -> Result<(AccountApi, String), IpcError> {
    let server = state.server_url();
    let token = state.keychain.token_for(&server).ok_or_else(|| {
        IpcError::new(
            ErrorCode::SignedOut,
            "sign in to see this account's devices",
        )
    })?;
    Ok((api(&server)?, token))
}

/// An [`AccountError`] of the device calls, in words for Settings: offline is "cannot
/// reach the server", an unknown device `not_found`.
fn device_error(err: AccountError) -> IpcError {
    match err {
        AccountError::Network(err) => {
            tracing::info!(%err, "the devices call cannot reach the server");
            IpcError::new(ErrorCode::Offline, "cannot reach the server")
        }
        AccountError::NoSuchDevice(_) => {
            IpcError::not_found("no such device: it is signed out already")
        }
        AccountError::ThisDevice(_) => {
            IpcError::invalid("id", "this is this device: use Sign out to end its sign-in")
        }
        AccountError::Unauthorized(message) => IpcError::new(
            ErrorCode::Unauthorized,
            format!("the server refused this device's sign-in ({message}): sign in again"),
        ),
        other => other.into(),
    }
}

fn device_view(device: DeviceInfo) -> DeviceView {
    DeviceView {
        id: device.id,
        name: device.name,
        client_id: device.client_id,
        created_at: device.created_at,
        last_seen_at: device.last_seen_at,
        current: device.current,
    }
}

/// The account's signed-in devices at the server in use (`GET /api/devices`).
pub async fn list_devices(state: &AppState) -> Result<Vec<DeviceView>, IpcError> {
    let (api, token) = signed_in(state)?;
    devices_of(&api, &token).await
}

async fn devices_of(api: &AccountApi, token: &str) -> Result<Vec<DeviceView>, IpcError> {
    let reply = api.devices(token).await.map_err(device_error)?;
    Ok(reply.devices.into_iter().map(device_view).collect())
}

/// Signs the device `id` out (`DELETE /api/devices/{id}`: its token is revoked, its live
/// connections close) and answers the list as it is then. This device's own sign-in is
/// refused here: Sign out ends it (and forgets the token too).
pub async fn revoke_device(state: &AppState, id: &str) -> Result<Vec<DeviceView>, IpcError> {
    let id = id.trim();
    if id.is_empty() {
        return Err(IpcError::invalid("id", "a device id is required"));
    }
    let (api, token) = signed_in(state)?;
    api.revoke_other_device(&token, id)
        .await
        .map_err(device_error)?;
    tracing::info!(device = %id, "signed another device out");
    devices_of(&api, &token).await
}

/// At start: hands the saved token to the engine, then runs the development auto-login.
/// Failures are logged; the app works offline meanwhile.
pub async fn restore(state: &AppState) {
    if let Some(account) = state.settings().account {
        let in_use = state.server_url();
        // Settings of older versions do not say which server: the one in use.
        let server = account
            .server
            .as_deref()
            .and_then(|s| ServerUrl::parse(s).ok())
            .unwrap_or_else(|| in_use.clone());
        match state.keychain.load(&server, &account.email).await {
            Ok(Some(_)) => {
                if account.server.is_none() {
                    let recorded = saved_form(&server);
                    let update = state.update_settings(|s| {
                        if let Some(account) = &mut s.account {
                            account.server = Some(recorded);
                        }
                    });
                    if let Err(err) = update.await {
                        tracing::warn!(%err, "cannot record the account's server");
                    }
                }
                match state.keychain.token_for(&in_use) {
                    Some(token) => {
                        if let Err(err) = state.sync.set_token(Some(token)).await {
                            tracing::warn!(%err, "cannot hand the token to the sync engine");
                        }
                    }
                    None => tracing::warn!(account_server = %server, %in_use,
                        "signed in to another server than the one in use: sign in again"),
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
    if state.keychain.credential().is_none()
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
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::keychain::{Keychain, KeyringMode};
    use crate::settings::{Launch, Settings};
    use crate::state::{SyncSupervisor, sync_config};

    /// A server that records the `Authorization` header of every request (HTTP and the
    /// WebSocket upgrade alike) and answers 401.
    async fn recording_server() -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let record = record.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let auth = head
                        .lines()
                        .find_map(|l| {
                            let (name, value) = l.split_once(':')?;
                            name.eq_ignore_ascii_case("authorization")
                                .then(|| value.trim().to_owned())
                        })
                        .unwrap_or_default();
                    let line = head.lines().next().unwrap_or_default().to_owned();
                    record.lock().unwrap().push(format!("{line} | {auth}"));
                    let body = r#"{"error":{"code":"unauthorized","message":"no"}}"#;
                    let reply = format!(
                        "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(reply.as_bytes()).await;
                });
            }
        });
        (url, seen)
    }

    /// A real sync server on 127.0.0.1 with a temp database.
    async fn real_server(dir: &std::path::Path) -> (String, CancellationToken) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let settings = legato_server::Settings::with_database(format!(
            "sqlite://{}",
            dir.join("server.db").display()
        ));
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            legato_server::serve(listener, settings, stop)
                .await
                .unwrap();
        });
        (url, shutdown)
    }

    /// The app's state as `lib.rs` builds it, without a window: memory keyring, no env server.
    async fn app_state(dir: &std::path::Path, server: &str) -> AppState {
        let launch = Launch {
            data_dir: dir.to_path_buf(),
            data_dir_from_env: true,
            server_override: None,
            keyring: KeyringMode::Memory,
            dev_login: None,
        };
        let settings = Settings {
            server_url: Some(server.to_owned()),
            ..Settings::default()
        };
        let store = legato_store::Store::open(launch.store_path()).unwrap();
        let client_id = store.client_id().to_owned();
        let store = legato_store::StoreHandle::new(store).unwrap();
        let keychain = Keychain::new(KeyringMode::Memory, &client_id);
        let config = sync_config(server, None, &settings.strategies);
        let sync = SyncSupervisor::start(store.clone(), config, false).await;
        let crate::instance::Start::First(lock) = crate::instance::start(dir).unwrap() else {
            panic!("the data dir is locked");
        };
        AppState::new(launch, store, client_id, sync, keychain, settings, lock)
    }

    /// Switching the server signs out of the old one first: the old token is revoked there,
    /// and no request to the new server (sync's WebSocket, a batch, account calls) carries
    /// it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn switching_the_server_never_sends_the_old_token_to_the_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let (old_url, _old) = real_server(dir.path()).await;
        let (new_url, seen) = recording_server().await;
        let app_dir = dir.path().join("device");
        std::fs::create_dir_all(&app_dir).unwrap();
        let state = app_state(&app_dir, &old_url).await;

        let credentials = Credentials {
            email: "switch@example.com".into(),
            password: "correct horse battery".into(),
            device_name: None,
        };
        sign_in(&state, credentials, Mode::Register).await.unwrap();
        let old_server = ServerUrl::parse(&old_url).unwrap();
        let token = state.keychain.token_for(&old_server).expect("signed in");
        let mut status = state.sync.handle().status();
        tokio::time::timeout(
            Duration::from_secs(20),
            status.wait_for(|s| s.connection == legato_sync::ConnectionState::Connected),
        )
        .await
        .expect("syncing with the old server")
        .unwrap();

        let view = switch_server(&state, &new_url).await.unwrap();
        assert_eq!(view.server_url, new_url);
        // Give the new engine every chance to talk to the new server.
        let _ = state.sync.handle().sync_now().await;
        let _ = api(&ServerUrl::parse(&new_url).unwrap())
            .unwrap()
            .logout("probe")
            .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let seen = seen.lock().unwrap().clone();
        assert!(
            seen.iter().all(|request| !request.contains(&token)),
            "the old token reached the new server: {seen:?}"
        );
        assert!(!seen.is_empty(), "the probe reached the recording server");
        assert!(view.account.is_none(), "signed out of the old server");
        assert!(state.keychain.credential().is_none());
        assert!(
            state.sync_config().token.is_none(),
            "the new engine has no token"
        );

        // The old server revoked it.
        let revoked = reqwest::Client::new()
            .post(old_server.endpoint("api/sync/batch"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"items": []}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            revoked.status(),
            401,
            "the old token was revoked at its server"
        );

        // Back to the old server: still signed out (nothing comes back by itself).
        switch_server(&state, &old_url).await.unwrap();
        assert!(state.sync_config().token.is_none());
        state.sync.handle().shutdown(false).await;
    }

    /// Settings' devices: both sign-ins listed (this one marked), this one not revocable
    /// here, the other revoked (its token refused afterwards, the list refreshed), an unknown
    /// id `not_found`, and a server that cannot be reached `offline` in plain words.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lists_and_revokes_the_accounts_other_devices() {
        let dir = tempfile::tempdir().unwrap();
        let (url, _server) = real_server(dir.path()).await;
        let app_dir = dir.path().join("device");
        std::fs::create_dir_all(&app_dir).unwrap();
        let state = app_state(&app_dir, &url).await;
        assert_eq!(
            list_devices(&state).await.unwrap_err().code,
            ErrorCode::SignedOut
        );

        let email = "devices@example.com";
        let password = "correct horse battery";
        sign_in(
            &state,
            Credentials {
                email: email.into(),
                password: password.into(),
                device_name: Some("Desk".into()),
            },
            Mode::Register,
        )
        .await
        .unwrap();
        let other = api(&ServerUrl::parse(&url).unwrap()).unwrap();
        let login = other
            .login(&RegisterRequest {
                email: email.into(),
                password: password.into(),
                device_name: Some("Phone CLI".into()),
            })
            .await
            .unwrap();

        let devices = list_devices(&state).await.unwrap();
        let names: Vec<_> = devices
            .iter()
            .map(|d| (d.name.as_deref().unwrap_or(""), d.current))
            .collect();
        assert_eq!(names, [("Desk", true), ("Phone CLI", false)]);
        assert!(
            devices
                .iter()
                .all(|d| d.created_at > 0 && d.last_seen_at > 0)
        );

        let this = devices.iter().find(|d| d.current).unwrap().id.clone();
        let err = revoke_device(&state, &this).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::Invalid, "{err:?}");
        assert_eq!(
            revoke_device(&state, "no-such-device")
                .await
                .unwrap_err()
                .code,
            ErrorCode::NotFound
        );

        let phone = devices.iter().find(|d| !d.current).unwrap().id.clone();
        let after = revoke_device(&state, &phone).await.unwrap();
        assert_eq!(after.len(), 1);
        assert!(after[0].current);
        assert!(matches!(
            other.devices(&login.token).await,
            Err(AccountError::Unauthorized(_))
        ));
        assert_eq!(
            list_devices(&state).await.unwrap().len(),
            1,
            "still signed in here"
        );

        // Signed in to a server that is gone: offline, said plainly, no list.
        let gone_dir = dir.path().join("gone");
        std::fs::create_dir_all(&gone_dir).unwrap();
        let gone_url = "http://127.0.0.1:9";
        let gone = app_state(&gone_dir, gone_url).await;
        gone.keychain
            .save(Credential::new(
                ServerUrl::parse(gone_url).unwrap(),
                email,
                login.token.clone(),
            ))
            .await;
        let err = list_devices(&gone).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::Offline, "{err:?}");
        assert_eq!(err.message, "cannot reach the server");
        assert!(err.retryable);
        state.sync.handle().shutdown(false).await;
        gone.sync.handle().shutdown(false).await;
    }

    /// Settings and the status say when the server is plain http:// on another machine.
    #[tokio::test]
    async fn settings_and_status_warn_about_a_plain_http_remote_server() {
        for (url, insecure) in [
            ("http://sync.example.com", true),
            ("https://sync.example.com", false),
            ("http://127.0.0.1:1", false),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let state = app_state(dir.path(), url).await;
            let warning = state.settings_view().insecure_server_warning;
            assert_eq!(warning.is_some(), insecure, "{url}: {warning:?}");
            let status = crate::status::status_view(&state.sync.handle().current_status());
            assert_eq!(status.insecure_server, insecure, "{url}");
            state.sync.handle().shutdown(false).await;
        }
    }

    #[test]
    fn a_device_stays_with_the_account_that_owns_its_data() {
        assert!(may_sign_in(None, "u1"));
        assert!(may_sign_in(Some("u1"), "u1"));
        assert!(!may_sign_in(Some("u1"), "u2"));
    }
}
