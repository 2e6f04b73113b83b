//! The desktop edges on a private session bus (`dbus-run-session -- keyctl session -`): the
//! tray's StatusNotifierItem and dbusmenu, desktop notifications through dunst, and the
//! token in the Secret Service (gnome-keyring, unlocked with a throw-away password).
//!
//! The app is started directly here (no WebDriver): what the tests look at is on the bus,
//! on the server (`legato_ws_connections`) and in the data dir.

use std::time::Duration;

use anyhow::{Context as _, ensure};
use serde_json::json;

use crate::support::*;

/// The server's count of open sync connections reaches `want`.
async fn connections(server: &Server, want: f64, what: &str) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let now = server.metric("legato_ws_connections").await.unwrap_or(-1.0);
        if now == want {
            return Ok(());
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "{what}: legato_ws_connections is {now}, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The tray icon's picture as the tray host reads it (the PNG file its `IconName` names).
async fn tray_icon(pid: u32) -> anyhow::Result<Vec<u8>> {
    let (_, item) = tray_item(pid).await?;
    let path = item["IconName"]["data"]
        .as_str()
        .context("no IconName")?
        .to_owned();
    std::fs::read(&path).with_context(|| format!("reading {path}"))
}

async fn until_async<F, Fut>(timeout: Duration, what: &str, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + timeout;
    while !check().await {
        ensure!(
            std::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts the real app: `cargo xtask test e2e` (Xvfb, private D-Bus session)"]
async fn tray_menu_is_exported_on_the_bus_and_its_items_work() {
    const TEST: &str = "tray_menu";
    if skip_unless_runnable(TEST, &[Needs::SessionBus]) {
        return;
    }
    let _one = exclusive().await;
    let art = artifacts(TEST);
    let server = Server::start(&art.join("server.log"));
    let data = tempfile::tempdir().unwrap();
    let env = AppEnv::new(data.path(), &server, &email(TEST));
    let mut app = DirectApp::start(env.clone(), &art, "app");

    let outcome = async {
        let (bus_name, item) = tray_item(app.pid()).await?;
        ensure!(
            item["Status"]["data"] == json!("Active"),
            "tray status: {item}"
        );
        ensure!(
            item["Id"]["data"]
                .as_str()
                .is_some_and(|id| id.contains("legato")),
            "tray id: {item}"
        );
        ensure!(
            item["Menu"]["data"] == json!(format!("{TRAY_PATH}/Menu")),
            "tray menu path: {item}"
        );
        let labels: Vec<String> = tray_menu(&bus_name)?.into_iter().map(|(_, l)| l).collect();
        ensure!(
            labels
                == [
                    "Not practising",
                    "Start practice",
                    "",
                    "Open Legato",
                    "Sync now",
                    "Pause sync",
                    "",
                    "Quit"
                ],
            "tray menu: {labels:?}"
        );

        // The icon files are the device's own (not in a directory every process shares).
        let icon_dir = data.path().join("tray-icon");
        ensure!(
            item["IconThemePath"]["data"] == json!(icon_dir.display().to_string()),
            "tray icon dir: {item}"
        );

        // Signed in through the development login: one sync connection on the server.
        connections(&server, 1.0, "the app connects").await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let synced_icon = tray_icon(app.pid()).await?;

        // "Pause sync" disconnects, is remembered, and the item turns into "Resume sync".
        click_tray_item(&bus_name, "Pause sync")?;
        connections(&server, 0.0, "paused from the tray").await?;
        until(
            Duration::from_secs(10),
            "syncPaused in settings.json",
            || env.settings_json()["syncPaused"] == json!(true),
        )
        .await?;
        until(
            Duration::from_secs(10),
            "the item to read Resume sync",
            || tray_menu(&bus_name).is_ok_and(|m| m.iter().any(|(_, l)| l == "Resume sync")),
        )
        .await?;

        // The icon follows: another picture while paused (offline), the same again once synced.
        let pid = app.pid();
        let synced = &synced_icon;
        until_async(Duration::from_secs(10), "the paused icon", || async move {
            let now = tray_icon(pid).await.unwrap_or_default();
            !now.is_empty() && now != *synced
        })
        .await?;

        click_tray_item(&bus_name, "Resume sync")?;
        connections(&server, 1.0, "resumed from the tray").await?;
        until_async(
            Duration::from_secs(15),
            "the synced icon again",
            || async move { tray_icon(pid).await.unwrap_or_default() == *synced },
        )
        .await?;
        until(Duration::from_secs(10), "syncPaused false", || {
            env.settings_json()["syncPaused"] == json!(false)
        })
        .await?;

        // "Sync now" runs a sync (the app logs its report).
        click_tray_item(&bus_name, "Sync now")?;
        until(
            Duration::from_secs(15),
            "the tray's sync in the log",
            || env.log_text().contains("sync now (tray)"),
        )
        .await?;

        // "Open Legato" keeps it running; "Quit" ends it cleanly.
        click_tray_item(&bus_name, "Open Legato")?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        ensure!(app.exited().is_none(), "Open Legato ended the app");
        click_tray_item(&bus_name, "Quit")?;
        let mut status = None;
        until(Duration::from_secs(15), "the app to quit", || {
            status = app.exited();
            status.is_some()
        })
        .await?;
        ensure!(
            status.is_some_and(|s| s.success()),
            "Quit exited with {status:?}"
        );
        connections(&server, 0.0, "after Quit").await?;
        Ok(())
    }
    .await;
    let _ = std::fs::write(art.join("app.log"), env.log_text());
    drop(app);
    outcome.expect("the tray scenario");
}

/// Prepares the app's device with the CLI (same store format): an entry with 45 tags and a
/// goal, synced to device B too; then, offline on both, A adds 5 tags and edits the goal's
/// notes while B adds 5 other tags and edits the same notes and syncs. When the app starts on
/// A's data: the goal conflicts under `manual` (a notification), and the merged tags (55,
/// over the limit of 50) are refused for good (a dead letter, a notification).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts the real app: `cargo xtask test e2e` (Xvfb, private D-Bus session)"]
async fn a_conflict_and_a_dead_letter_show_desktop_notifications() {
    const TEST: &str = "notifications";
    if skip_unless_runnable(TEST, &[Needs::SessionBus]) {
        return;
    }
    let _one = exclusive().await;
    let art = artifacts(TEST);
    let server = Server::start(&art.join("server.log"));
    let account = email(TEST);
    let data = tempfile::tempdir().unwrap();
    let a = |args: &[&str]| {
        run_ok(
            CliDevice::command_in(data.path(), &server.url, args)
                .output()
                .unwrap(),
            args,
        )
    };
    let b = CliDevice::new(&server);
    b.register(&account);
    let tags: Vec<String> = (0..45).map(|i| format!("t{i}")).collect();
    let mut add = vec!["--duration", "30", "--piece", "Tag-heavy etude"];
    for tag in &tags {
        add.extend(["--tag", tag]);
    }
    let entry = b.add(&add);
    let goal = b
        .ok(&["goal", "add", "Scales every day", "--notes", "base"])
        .trim()
        .to_owned();
    b.sync();
    a(&[
        "account",
        "login",
        "--email",
        &account,
        "--password",
        PASSWORD,
    ]);
    a(&["sync", "--timeout", "20"]);
    // Offline edits on A (not synced), then B's, synced first.
    a(&[
        "log",
        "edit",
        &entry,
        "--add-tag",
        "a1",
        "--add-tag",
        "a2",
        "--add-tag",
        "a3",
        "--add-tag",
        "a4",
        "--add-tag",
        "a5",
    ]);
    a(&["goal", "edit", &goal, "--notes", "notes from A"]);
    b.ok(&[
        "log",
        "edit",
        &entry,
        "--add-tag",
        "b1",
        "--add-tag",
        "b2",
        "--add-tag",
        "b3",
        "--add-tag",
        "b4",
        "--add-tag",
        "b5",
    ]);
    b.ok(&["goal", "edit", &goal, "--notes", "notes from B"]);
    b.sync();
    std::fs::write(
        data.path().join("settings.json"),
        serde_json::to_string_pretty(&json!({
            "strategies": {"logbook": "merge", "repertoire": "merge", "goals": "manual"}
        }))
        .unwrap(),
    )
    .unwrap();
    let before = last_notification_id();

    let env = AppEnv::new(data.path(), &server, &account);
    let app = DirectApp::start(env.clone(), &art, "app");
    let outcome = async {
        let mut seen = Vec::new();
        let conflict = |n: &Notification| {
            n.app == "Legato"
                && n.summary == "Legato: a conflict needs you"
                && n.body
                    .starts_with("A goal was changed on another device too")
        };
        let dead = |n: &Notification| {
            n.app == "Legato"
                && n.summary == "Legato: a change could not be synced"
                && n.body.contains("a logbook entry")
                && n.body.contains("retry or discard")
        };
        let found = until(Duration::from_secs(90), "both notifications", || {
            seen = notifications();
            seen.retain(|n| n.id > before);
            seen.iter().any(conflict) && seen.iter().any(dead)
        })
        .await;
        std::fs::write(
            art.join("dunst-history.json"),
            serde_json::to_string_pretty(&seen).unwrap(),
        )?;
        found.with_context(|| format!("new notifications: {seen:#?}"))
    }
    .await;
    let _ = std::fs::write(art.join("app.log"), env.log_text());
    drop(app);
    outcome.expect("the notifications scenario");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts the real app: `cargo xtask test e2e` (Xvfb, private D-Bus session)"]
async fn the_token_is_kept_in_the_secret_service_and_nowhere_else() {
    const TEST: &str = "keyring";
    if skip_unless_runnable(TEST, &[Needs::SessionBus]) {
        return;
    }
    let _one = exclusive().await;
    ensure_secret_service();
    let art = artifacts(TEST);
    let server = Server::start(&art.join("server.log"));
    let data = tempfile::tempdir().unwrap();
    let mut env = AppEnv::new(data.path(), &server, &email(TEST));
    env.keyring = "os";
    let mut app = DirectApp::start(env.clone(), &art, "app");

    let outcome = async {
        connections(&server, 1.0, "signed in").await?;
        let account = env.settings_json()["account"].clone();
        ensure!(account["userId"].is_string(), "settings.json: {account}");

        let mut tokens = Vec::new();
        until(
            Duration::from_secs(10),
            "a legato item in the Secret Service",
            || {
                tokens = secret_service_tokens().unwrap_or_default();
                !tokens.is_empty()
            },
        )
        .await?;
        ensure!(
            tokens.len() == 1,
            "items: {:?}",
            tokens.iter().map(|t| &t.0).collect::<Vec<_>>()
        );
        let (attributes, token) = &tokens[0];
        // Tied to the server and the account: `<server>|<email>|<client id>`.
        let server_prefix = format!("{}|", server.url.trim_end_matches('/'));
        ensure!(
            attributes.get("username").is_some_and(|u| {
                u.starts_with(&server_prefix) && u.split('|').count() == 3 && u.contains('@')
            }),
            "attributes: {attributes:?}"
        );
        ensure!(token.len() >= 16, "a token, not {token:?}");
        // Not in the database (WAL included), settings.json or the logs.
        let leaks = files_containing(data.path(), token);
        ensure!(leaks.is_empty(), "the token is in {leaks:?}");

        // Quit (tray), start again without the development login: signed in from the
        // keyring, connected again.
        let (bus_name, _) = tray_item(app.pid()).await?;
        click_tray_item(&bus_name, "Quit")?;
        until(Duration::from_secs(15), "the app to quit", || {
            app.exited().is_some()
        })
        .await?;
        connections(&server, 0.0, "after Quit").await?;
        let mut again = env.clone();
        again.login = None;
        let second = DirectApp::start(again, &art, "app-restarted");
        connections(&server, 1.0, "signed in again from the keyring").await?;
        drop(second);
        let log = env.log_text();
        ensure!(
            !log.contains("cannot read the token") && !log.contains("the keyring has no token"),
            "the restart did not read the token"
        );
        let leaks = files_containing(data.path(), token);
        ensure!(leaks.is_empty(), "the token is in {leaks:?}");
        Ok(())
    }
    .await;
    let _ = std::fs::write(art.join("app.log"), env.log_text());
    drop(app);
    outcome.expect("the keyring scenario");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts the real app: `cargo xtask test e2e` (Xvfb, private D-Bus session)"]
async fn without_a_keyring_service_the_app_still_works_and_says_so() {
    const TEST: &str = "no_keyring";
    if skip_unless_runnable(TEST, &[Needs::SessionBus, Needs::WebDriver]) {
        return;
    }
    let _one = exclusive().await;
    let art = artifacts(TEST);
    let mut server = Server::start(&art.join("server.log"));
    let data = tempfile::tempdir().unwrap();
    let mut env = AppEnv::new(data.path(), &server, &email(TEST));
    env.keyring = "os";
    // No session bus for the app at all: no Secret Service (nor tray host, nor notifications).
    env.extra.push((
        "DBUS_SESSION_BUS_ADDRESS".into(),
        "unix:path=/nonexistent/legato-e2e-bus".into(),
    ));
    let mut app = App::launch(env.clone(), &art).await;
    let outcome = async {
        // Signed in for the session and syncing.
        app.wait_status("Synced", |t| t.starts_with("Synced"))
            .await?;
        // It says so in Settings.
        app.open("Settings").await?;
        let text = eventually("Settings to mention the keyring", || async {
            let text = app.page_text().await?;
            Ok(text.to_lowercase().contains("keyring").then_some(text))
        })
        .await?;
        app.shot("settings-without-keyring").await?;
        ensure!(
            text.contains("No keyring service: you stay signed in until the app quits"),
            "Settings does not say the sign-in is for this session only: {text}"
        );
        // Offline, it keeps working: an entry saved while the server is down.
        server.stop();
        app.wait_status("Offline", |t| {
            t.starts_with("Offline") || t.starts_with("Connecting")
        })
        .await?;
        app.open("Logbook").await?;
        app.button("New entry").await?;
        let form = app.find("form", "Entry").await?;
        app.fill_in(Some(&form), "Minutes", "15").await?;
        app.add_piece(&form, "Offline without keyring", None)
            .await?;
        app.button_in(&form, "Save").await?;
        app.entry("Offline without keyring").await?;
        app.wait_status("1 pending", |t| pending(t) == Some(1))
            .await?;
        app.shot("offline-without-keyring").await?;
        Ok(())
    }
    .await;
    let log = env.log_text();
    let outcome = outcome.and_then(|()| {
        ensure!(
            log.contains("the sign-in lasts for this session only"),
            "the log does not say the sign-in is for the session only"
        );
        let token_files = files_containing(data.path(), "Bearer");
        ensure!(token_files.is_empty(), "{token_files:?}");
        Ok(())
    });
    app.finish(outcome).await;
}
