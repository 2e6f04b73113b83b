//! Conflicts and refusals through the UI: a same-field conflict under the manual strategy
//! (chosen in Settings) is settled in the dialog and the choice reaches the other device;
//! a change the server refuses for good shows as a dead letter that can be discarded.

use std::time::Duration;

use anyhow::{Context as _, ensure};
use thirtyfour::prelude::*;

use crate::support::*;

/// Pause (Settings), or resume.
async fn set_paused(app: &App, paused: bool) -> anyhow::Result<()> {
    app.open("Settings").await?;
    app.button(if paused { "Pause sync" } else { "Resume sync" })
        .await?;
    app.find("button", if paused { "Resume sync" } else { "Pause sync" })
        .await?;
    Ok(())
}

/// Opens the entry's details and its edit form.
async fn edit_entry(app: &App, piece: &str) -> anyhow::Result<WebElement> {
    app.open("Logbook").await?;
    app.entry(piece).await?.click().await?;
    let details = app.find("complementary", "Entry details").await?;
    app.button_in(&details, "Edit").await?;
    app.find("form", "Entry").await
}

/// Clicks a radio (WebDriver's click; a script click when the input is styled away).
async fn choose_radio(app: &App, scope: &WebElement, name: &str) -> anyhow::Result<()> {
    let radio = app
        .find_in(Some(scope), "radio", name, Match::Exact)
        .await?;
    if radio.click().await.is_err() {
        app.driver
            .execute("arguments[0].click();", vec![radio.to_json()?])
            .await?;
    }
    ensure!(
        radio.is_selected().await?,
        "the radio {name:?} is not checked"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts the real app: `cargo xtask test e2e` (Xvfb, WebDriver)"]
async fn a_manual_conflict_is_resolved_in_the_dialog_and_reaches_the_other_device() {
    const TEST: &str = "manual_conflict";
    if skip_unless_runnable(TEST, &[Needs::WebDriver, Needs::SessionBus]) {
        return;
    }
    let Stage {
        _one,
        art,
        server,
        account,
        cli,
    } = Stage::new(TEST).await;
    let id = cli.add(&[
        "--duration",
        "30",
        "--piece",
        "Nocturne op. 9 no. 2",
        "--instrument",
        "piano",
        "--notes",
        "first notes",
    ]);
    cli.sync();
    let data = tempfile::tempdir().unwrap();
    let env = AppEnv::new(data.path(), &server, &account);
    let mut app = App::launch(env.clone(), &art).await;
    let notes_before = last_notification_id();

    let outcome = async {
        app.wait_status("Synced", |t| t.starts_with("Synced"))
            .await?;
        app.entry("Nocturne").await?;

        // The logbook strategy, chosen in Settings.
        app.open("Settings").await?;
        app.fill("Logbook conflicts", "Ask me").await?;
        until(
            Duration::from_secs(15),
            "strategies.logbook = manual",
            || env.settings_json()["strategies"]["logbook"] == "manual",
        )
        .await?;
        app.wait_status("Synced", |t| t.starts_with("Synced"))
            .await?;
        app.shot("settings").await?;

        // Offline on both: the app paused (from the tray, over D-Bus), the CLI not syncing;
        // the same field edited.
        app.tray_click("Pause sync").await?;
        app.wait_status("Paused", |t| t.starts_with("Paused"))
            .await?;
        let form = edit_entry(&app, "Nocturne").await?;
        app.fill_in(Some(&form), "Notes", "notes from the app")
            .await?;
        app.button_in(&form, "Save").await?;
        app.wait_status("1 pending", |t| pending(t) == Some(1))
            .await?;
        cli.ok(&["log", "edit", &id, "--notes", "notes from the CLI"]);
        cli.sync();

        // Back online (the tray again): the app's change meets the CLI's, and waits for the
        // user.
        app.tray_click("Resume sync").await?;
        app.wait_status("Conflict needs you", |t| {
            t.starts_with("Conflict needs you")
        })
        .await?;
        let nav = app.find("navigation", "Main").await?;
        app.find_in(Some(&nav), "button", "Conflicts (1)", Match::Exact)
            .await?;
        app.open("Conflicts").await?;
        let waiting = app.find("list", "Waiting conflicts").await?;
        app.shot("conflicts-list").await?;
        app.button_in(&waiting, "Resolve").await?;

        let dialog = app.find("dialog", "Resolve conflict").await?;
        ensure!(
            dialog.attr("aria-modal").await?.as_deref() == Some("true"),
            "the dialog is not modal"
        );
        let text = dialog.text().await?;
        ensure!(
            text.contains("notes from the app") && text.contains("notes from the CLI"),
            "the dialog shows both values: {text}"
        );
        let notes = app
            .find_in(Some(&dialog), "group", "notes", Match::Exact)
            .await?;
        app.shot("conflict-dialog").await?;
        choose_radio(&app, &notes, "Edit").await?;
        app.fill_in(Some(&dialog), "Merged value for notes", "merged by hand")
            .await?;
        app.shot("conflict-dialog-edit").await?;
        app.button_in(&dialog, "Apply choices").await?;
        app.gone("dialog", "Resolve conflict", Match::Exact).await?;

        app.wait_status("Synced after resolving", synced_idle)
            .await?;
        app.find_in(Some(&nav), "button", "Conflicts", Match::Exact)
            .await
            .context("the Conflicts badge is gone")?;

        // The choice reaches the other device.
        cli.sync();
        let entry = cli.entry(&id).context("the entry on the CLI device")?;
        ensure!(
            entry["notes"] == "merged by hand",
            "the CLI device has {entry}"
        );

        // And the conflict was a desktop notification too.
        {
            let all = notifications();
            ensure!(
                all.iter().any(|n| n.id > notes_before
                    && n.summary == "Legato: a conflict needs you"
                    && n.body.starts_with("A logbook entry")),
                "no conflict notification in {all:#?}"
            );
        }
        Ok(())
    }
    .await;
    app.finish(outcome).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts the real app: `cargo xtask test e2e` (Xvfb, WebDriver)"]
async fn a_refused_change_shows_as_a_dead_letter_and_can_be_discarded() {
    const TEST: &str = "dead_letter";
    let Some(stage) = Stage::start(TEST).await else {
        return;
    };
    let tags: Vec<String> = (0..45).map(|i| format!("t{i}")).collect();
    let mut add = vec!["--duration", "30", "--piece", "Tag-heavy etude"];
    for tag in &tags {
        add.extend(["--tag", tag]);
    }
    let id = stage.cli.add(&add);
    stage.cli.sync();
    let (mut app, _data) = stage.launch().await;

    let outcome = async {
        app.wait_status("Synced", |t| t.starts_with("Synced"))
            .await?;
        // Paused, the app fills the entry up to the limit (50 tags); the CLI adds 5 other
        // tags and syncs. The merge keeps both sides' additions: 55 tags, which the server
        // refuses every time.
        set_paused(&app, true).await?;
        let form = edit_entry(&app, "Tag-heavy etude").await?;
        let mut all: Vec<String> = tags.clone();
        all.extend((1..=5).map(|i| format!("a{i}")));
        app.fill_in(Some(&form), "Tags", &all.join(", ")).await?;
        app.button_in(&form, "Save").await?;
        app.wait_status("1 pending", |t| pending(t) == Some(1))
            .await?;
        let mut edit = vec!["log", "edit", id.as_str()];
        let extra: Vec<String> = (1..=5).map(|i| format!("b{i}")).collect();
        for tag in &extra {
            edit.extend(["--add-tag", tag]);
        }
        stage.cli.ok(&edit);
        stage.cli.sync();
        set_paused(&app, false).await?;

        let status = eventually_for(Duration::from_secs(90), "a dead letter", || async {
            let text = app.status_text().await.unwrap_or_default();
            Ok(text.starts_with("Some changes failed").then_some(text))
        })
        .await?;
        // The status bar says it in plain words (the server's own stays in its tooltip).
        ensure!(status.contains("The server refused a change"), "{status}");
        app.button("Dead letters (1)").await?;
        let letters = app.find("region", "Dead letters").await?;
        let text = letters.text().await?;
        ensure!(
            text.contains("invalid") || text.contains("tags"),
            "dead letters: {text}"
        );
        app.find_in(Some(&letters), "button", "Retry", Match::Exact)
            .await?;
        app.shot("dead-letters").await?;

        // Discard: the entry goes back to the server's version (the CLI's 50 tags).
        app.button_in(&letters, "Discard").await?;
        app.wait_status("Synced without dead letters", |t| t.starts_with("Synced"))
            .await?;
        app.gone("button", "Dead letters", Match::Prefix).await?;
        app.open("Logbook").await?;
        app.entry("Tag-heavy etude").await?.click().await?;
        let details = app.find("complementary", "Entry details").await?;
        let shown = details.text().await?;
        ensure!(
            shown.contains("b5") && !shown.contains("a5"),
            "details: {shown}"
        );
        app.shot("after-discard").await?;
        Ok(())
    }
    .await;
    app.finish(outcome).await;
}
