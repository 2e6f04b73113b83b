//! Sync through the real server: another device's entry shows up live; edits made while the
//! server is down wait as pending and go out once it is back.

use std::time::Duration;

use anyhow::ensure;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts the real app: `cargo xtask test e2e` (Xvfb, WebDriver)"]
async fn an_entry_from_another_device_appears_live() {
    const TEST: &str = "live_sync";
    let Some((stage, mut app, _data)) = Stage::with_app(TEST).await else {
        return;
    };

    let outcome = async {
        app.wait_status("Synced", |t| t.starts_with("Synced"))
            .await?;
        app.shot("empty-logbook").await?;

        // Added on the other device and pushed: the app shows it without being touched.
        let id = stage.cli.add(&[
            "--duration",
            "35",
            "--piece",
            "Clair de lune",
            "--composer",
            "Debussy",
            "--instrument",
            "piano",
            "--notes",
            "from the CLI device",
        ]);
        stage.cli.sync();
        let entry = app.entry("Clair de lune").await?;
        let text = entry.text().await?;
        ensure!(text.contains("35 min"), "listed entry: {text}");
        app.shot("entry-from-cli").await?;

        // An edit there shows up here too, and so does a delete.
        stage.cli.ok(&["log", "edit", &id, "--duration", "50"]);
        stage.cli.sync();
        eventually("the other device's edit", || async {
            Ok(match app.entry_now("Clair de lune").await? {
                Some(e) => e.text().await?.contains("50 min").then_some(()),
                None => None,
            })
        })
        .await?;
        stage.cli.ok(&["log", "delete", &id]);
        stage.cli.sync();
        app.no_entry("Clair de lune").await?;
        Ok(())
    }
    .await;
    app.finish(outcome).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts the real app: `cargo xtask test e2e` (Xvfb, WebDriver)"]
async fn edits_wait_as_pending_while_the_server_is_down_then_sync() {
    const TEST: &str = "offline_pending";
    let Some((mut stage, mut app, _data)) = Stage::with_app(TEST).await else {
        return;
    };

    let outcome = async {
        app.wait_status("Synced", |t| t.starts_with("Synced"))
            .await?;

        stage.server.stop();
        app.wait_status("Offline", |t| {
            t.starts_with("Offline") || t.starts_with("Connecting")
        })
        .await?;

        for (minutes, piece) in [("20", "Invention no. 1"), ("30", "Invention no. 8")] {
            app.button("New entry").await?;
            let form = app.find("form", "Entry").await?;
            app.fill_in(Some(&form), "Minutes", minutes).await?;
            app.add_piece(&form, piece, Some("Bach")).await?;
            app.button_in(&form, "Save").await?;
            app.entry(piece).await?;
        }
        let status = app
            .wait_status("2 pending", |t| pending(t) == Some(2))
            .await?;
        ensure!(!status.starts_with("Synced"), "offline but: {status}");
        // A plain sentence, not the transport's words (`network: IO error: ... os error 111`).
        let status = eventually("the unreachable server said in plain words", || async {
            let text = app.status_text().await.unwrap_or_default();
            Ok(text.contains("Can't reach the sync server").then_some(text))
        })
        .await?;
        ensure!(!status.contains("os error"), "{status}");
        app.shot("offline-pending").await?;

        // Back on the same port and database: the app reconnects by itself and sends them.
        stage.server.restart();
        let status = eventually_for(
            Duration::from_secs(90),
            "Synced with nothing pending after the restart",
            || async {
                let text = app.status_text().await.unwrap_or_default();
                Ok((synced_idle(&text)).then_some(text))
            },
        )
        .await?;
        ensure!(status.contains("Last sync"), "{status}");
        app.shot("synced-after-restart").await?;
        stage.cli.sync();
        let titles: Vec<String> = stage
            .cli
            .entries()
            .iter()
            .filter_map(|e| e["pieces"][0]["title"].as_str().map(str::to_owned))
            .collect();
        ensure!(
            titles.contains(&"Invention no. 1".to_owned())
                && titles.contains(&"Invention no. 8".to_owned()),
            "the CLI device has {titles:?}"
        );
        Ok(())
    }
    .await;
    app.finish(outcome).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts the real app: `cargo xtask test e2e` (Xvfb, WebDriver)"]
async fn pausing_and_resuming_in_settings_sends_what_waited() {
    const TEST: &str = "settings_pause";
    let Some((stage, mut app, _data)) = Stage::with_app(TEST).await else {
        return;
    };

    let outcome = async {
        app.wait_status("Synced", |t| t.starts_with("Synced"))
            .await?;
        app.open("Settings").await?;
        app.button("Pause sync").await?;
        app.wait_status("Paused", |t| t.starts_with("Paused"))
            .await?;
        app.open("Logbook").await?;
        app.button("New entry").await?;
        let form = app.find("form", "Entry").await?;
        app.add_piece(&form, "Partita no. 2", Some("Bach")).await?;
        app.button_in(&form, "Save").await?;
        app.wait_status("1 pending", |t| pending(t) == Some(1))
            .await?;
        app.open("Settings").await?;
        // The theme only picks the colour scheme; every token resolves for it (app.css uses
        // `light-dark()`), on the page background as on the rest.
        let theme =
            thirtyfour::components::SelectElement::new(&app.find("combobox", "Theme").await?)
                .await?;
        for (value, background) in [("dark", "rgb(22, 23, 29)"), ("light", "rgb(245, 245, 248)")] {
            theme.select_by_value(value).await?;
            eventually(&format!("the {value} background"), || async {
                let color = app
                    .driver
                    .execute(
                        "return getComputedStyle(document.documentElement).backgroundColor",
                        vec![],
                    )
                    .await?
                    .json()
                    .clone();
                Ok((color == background).then_some(()))
            })
            .await?;
            // The settings are saved by then (controls are disabled while they are).
            eventually("the settings saved", || async {
                let buttons = app.all("button", "Resume sync", Match::Exact, None).await?;
                Ok(match buttons.first() {
                    Some(button) => button.is_enabled().await?.then_some(()),
                    None => None,
                })
            })
            .await?;
            // Buttons fade their colours (0.12 s) and the frame is composited after that.
            tokio::time::sleep(Duration::from_millis(400)).await;
            app.shot(&format!("theme-{value}")).await?;
        }
        theme.select_by_value("system").await?;
        app.button("Resume sync").await?;
        app.find("button", "Pause sync").await?;
        app.wait_status("Synced, nothing pending", synced_idle)
            .await?;
        app.shot("resumed").await?;
        stage.cli.sync();
        ensure!(
            stage
                .cli
                .entries()
                .iter()
                .any(|e| e["pieces"][0]["title"] == "Partita no. 2"),
            "the CLI device lacks the entry"
        );
        Ok(())
    }
    .await;
    app.finish(outcome).await;
}
