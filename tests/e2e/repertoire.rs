//! The repertoire and the goals in the real app: a piece's status moved in the app reaches
//! a CLI device (with its history) and a move made there comes back; the practice a CLI
//! device logged shows on the piece's page with its tempo; "Log practice" fills the entry
//! form; a goal reaching 100 % from another device's entries shows one desktop
//! notification, and `$inc` progress added in the app and on the CLI device adds up.
//! Screenshots of both screens in both themes.

use std::time::Duration;

use anyhow::{Context as _, ensure};
use serde_json::Value;

use crate::support::*;

const PIECE: &str = "Clair de lune";

/// The CLI device's repertoire piece `id`, after a sync.
fn cli_piece(stage: &Stage, id: &str) -> Option<Value> {
    stage.cli.sync();
    stage
        .cli
        .json(&["repertoire", "list", "--json"])
        .as_array()?
        .iter()
        .find(|p| p["id"] == id)
        .cloned()
}

/// The CLI device's goal titled `title`, after a sync.
fn cli_goal(stage: &Stage, title: &str) -> Option<Value> {
    stage.cli.sync();
    stage
        .cli
        .json(&["goal", "list", "--json"])
        .as_array()?
        .iter()
        .find(|g| g["title"] == title)
        .cloned()
}

/// Waits until `scope`'s text contains `text`.
async fn says(scope: &thirtyfour::WebElement, text: &str) -> anyhow::Result<()> {
    eventually(&format!("{text:?} to show"), || async {
        Ok(scope.text().await?.contains(text).then_some(()))
    })
    .await
}

/// The piece's button in the list.
async fn piece_button(app: &App, title: &str) -> anyhow::Result<thirtyfour::WebElement> {
    let list = app.find("list", "Pieces").await?;
    app.find_in(Some(&list), "button", title, Match::Prefix)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts the real app: `cargo xtask test e2e` (Xvfb, WebDriver)"]
async fn a_status_change_travels_between_the_app_and_a_cli_device() {
    const TEST: &str = "repertoire_status";
    let Some(stage) = Stage::start(TEST).await else {
        return;
    };
    let id = stage
        .cli
        .ok(&[
            "repertoire",
            "add",
            PIECE,
            "--composer",
            "Debussy",
            "--status",
            "learning",
            "--difficulty",
            "4",
            "--tag",
            "recital",
        ])
        .trim()
        .to_owned();
    stage.cli.ok(&[
        "repertoire",
        "add",
        "Arabesque No. 1",
        "--composer",
        "Debussy",
    ]);
    // Practice of the piece, title-only (no scoreId) and by id, with tempi.
    stage.cli.add(&[
        "--duration",
        "30",
        "--piece",
        "clair de lune",
        "--composer",
        "Debussy",
        "--tempo",
        "56",
        "--at",
        "2026-11-20T17:30:00Z",
    ]);
    stage.cli.add(&[
        "--duration",
        "20",
        "--piece",
        PIECE,
        "--score-id",
        &id,
        "--tempo",
        "63",
        "--at",
        "2026-11-22T17:30:00Z",
    ]);
    stage.cli.sync();
    let (mut app, _data) = stage.launch().await;

    let outcome = async {
        app.wait_status("Synced", |t| t.starts_with("Synced"))
            .await?;
        app.open("Repertoire").await?;
        let button = piece_button(&app, PIECE).await?;
        says(&button, "50 min in 2 sessions").await?;
        app.shot("repertoire-list-light").await?;
        app.click("button", "Grid view").await?;
        app.shot("repertoire-grid-light").await?;
        app.click("button", "List view").await?;

        // The piece's page: practice, history, tempo.
        piece_button(&app, PIECE).await?.click().await?;
        let details = app.find("complementary", "Piece details").await?;
        says(&details, "50 min in 2 sessions").await?;
        says(&details, "56 → 63").await?;
        ensure!(
            app.value_of(Some(&details), "Status").await? == "learning",
            "the status select shows learning"
        );
        app.shot("piece-page-light").await?;

        // A status change in the app reaches the CLI device, history included.
        app.fill_in(Some(&details), "Status", "Polished").await?;
        let history = app
            .find_in(Some(&details), "list", "Status history", Match::Exact)
            .await?;
        says(&history, "Learning → Polished").await?;
        app.wait_status("Synced, nothing pending", synced_idle)
            .await?;
        let mut seen = None;
        until(
            Duration::from_secs(30),
            "the move on the CLI device",
            || {
                seen = cli_piece(&stage, &id);
                seen.as_ref().is_some_and(|p| p["status"] == "polished")
            },
        )
        .await?;
        let seen = seen.context("the piece on the CLI device")?;
        let steps: Vec<(Value, Value)> = seen["statusHistory"]
            .as_array()
            .context("a status history")?
            .iter()
            .map(|s| (s["from"].clone(), s["to"].clone()))
            .collect();
        ensure!(
            steps
                == [
                    (Value::Null, "learning".into()),
                    ("learning".into(), "polished".into())
                ],
            "status history on the CLI device: {seen}"
        );

        // A move made on the CLI device shows in the app.
        stage
            .cli
            .ok(&["repertoire", "edit", &id, "--status", "performed"]);
        stage.cli.sync();
        let details = app.find("complementary", "Piece details").await?;
        let history = app
            .find_in(Some(&details), "list", "Status history", Match::Exact)
            .await?;
        says(&history, "Polished → Performed").await?;
        eventually("the status select to follow", || async {
            let value = app
                .driver
                .execute(
                    r#"return document.querySelector('aside[aria-label="Piece details"] select')?.value ?? null"#,
                    vec![],
                )
                .await?;
            Ok((value.json().as_str() == Some("performed")).then_some(()))
        })
        .await?;
        let button = piece_button(&app, PIECE).await?;
        says(&button, "Performed").await?;
        app.shot("piece-page-after-cli-move").await?;

        // A new piece that nearly matches an existing one is flagged (and can still be saved).
        app.button("New piece").await?;
        let form = app.find("form", "Piece").await?;
        app.fill_in(Some(&form), "Title", "Clair de Lune.").await?;
        app.fill_in(Some(&form), "Composer", "C. Debussy").await?;
        let similar = app.find("status", "Similar pieces").await?;
        says(&similar, PIECE).await?;
        app.shot("piece-form-similar-light").await?;
        app.button_in(&form, "Cancel").await?;

        // Log practice opens the entry form with the piece.
        piece_button(&app, PIECE).await?.click().await?;
        let details = app.find("complementary", "Piece details").await?;
        app.button_in(&details, "Log practice").await?;
        let entry_form = app.find("form", "Entry").await?;
        ensure!(
            app.value_of(Some(&entry_form), "Piece title").await? == PIECE,
            "the entry form has the piece"
        );
        app.fill_in(Some(&entry_form), "Minutes", "15").await?;
        app.button_in(&entry_form, "Save").await?;
        app.wait_status("Synced, nothing pending", synced_idle)
            .await?;
        let mut logged = None;
        until(
            Duration::from_secs(30),
            "the entry on the CLI device",
            || {
                stage.cli.sync();
                logged = stage
                    .cli
                    .entries()
                    .into_iter()
                    .find(|e| e["duration"] == 15);
                logged.is_some()
            },
        )
        .await?;
        let logged = logged.context("the logged entry")?;
        ensure!(
            logged["pieces"][0]["scoreId"] == id.as_str(),
            "the entry names the piece by its id: {logged}"
        );
        app.open("Repertoire").await?;
        says(&piece_button(&app, PIECE).await?, "1 h 5 min in 3 sessions").await?;

        // Dark theme.
        app.set_theme("Dark", "Repertoire").await?;
        piece_button(&app, PIECE).await?.click().await?;
        app.find("complementary", "Piece details").await?;
        app.shot("piece-page-dark").await?;
        app.click("button", "Grid view").await?;
        app.shot("repertoire-grid-dark").await?;
        app.button("New piece").await?;
        let form = app.find("form", "Piece").await?;
        app.fill_in(Some(&form), "Title", "clair de lune").await?;
        app.find("status", "Similar pieces").await?;
        app.shot("piece-form-similar-dark").await?;
        Ok(())
    }
    .await;
    app.finish(outcome).await;
}

/// Notifications from Legato about a goal reached since `before`.
fn goal_notes(before: i64, title: &str) -> Vec<Notification> {
    notifications()
        .into_iter()
        .filter(|n| {
            n.id > before
                && n.app == "Legato"
                && n.summary == "Legato: goal reached"
                && n.body.contains(title)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts the real app: `cargo xtask test e2e` (Xvfb, WebDriver, private D-Bus session)"]
async fn a_goal_reaching_100_percent_notifies_once() {
    const TEST: &str = "goal_reached";
    const DAILY: &str = "Twenty minutes today";
    const TOTAL: &str = "A hundred minutes in all";
    if skip_unless_runnable(TEST, &[Needs::WebDriver, Needs::SessionBus]) {
        return;
    }
    let stage = Stage::new(TEST).await;
    let (mut app, _data) = stage.launch().await;
    let before = last_notification_id();

    let outcome = async {
        app.wait_status("Synced", |t| t.starts_with("Synced"))
            .await?;
        app.open("Goals").await?;
        app.button("New goal").await?;
        let form = app.find("form", "Goal").await?;
        app.fill_in(Some(&form), "Title", DAILY).await?;
        app.fill_in(Some(&form), "Goal type", "Practice time")
            .await?;
        app.fill_in(Some(&form), "Minutes", "20").await?;
        app.fill_in(Some(&form), "Period", "Every day").await?;
        app.shot("goal-form-light").await?;
        app.button_in(&form, "Add goal").await?;
        let card = app.find("region", DAILY).await?;
        says(&card, "0 min of 20 min today").await?;
        app.wait_status("Synced, nothing pending", synced_idle)
            .await?;

        // Practice logged on the other device moves it: 15 of 20, then past 20.
        stage.cli.add(&["--duration", "15", "--piece", "Scales"]);
        stage.cli.sync();
        let card = app.find("region", DAILY).await?;
        says(&card, "15 min of 20 min").await?;
        let bar = app
            .find_in(
                Some(&card),
                "progressbar",
                &format!("Progress of {DAILY}"),
                Match::Exact,
            )
            .await?;
        ensure!(
            bar.prop("value").await?.as_deref() == Some("75"),
            "the bar at 75 %"
        );
        ensure!(
            goal_notes(before, DAILY).is_empty(),
            "no notification at 75 %"
        );
        stage.cli.add(&["--duration", "10", "--piece", "Arpeggios"]);
        stage.cli.sync();
        says(&card, "25 min of 20 min").await?;
        says(&card, "100 %").await?;
        let mut notes = Vec::new();
        until(
            Duration::from_secs(30),
            "the goal-reached notification",
            || {
                notes = goal_notes(before, DAILY);
                !notes.is_empty()
            },
        )
        .await?;
        ensure!(
            notes[0].body.contains("is at 100 % (25 of 20 minutes)"),
            "notification: {notes:?}"
        );
        app.shot("goals-reached-light").await?;

        // More practice the same day: still reached, no second notification.
        stage.cli.add(&["--duration", "5", "--piece", "Scales"]);
        stage.cli.sync();
        says(&card, "30 min of 20 min").await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let notes = goal_notes(before, DAILY);
        ensure!(notes.len() == 1, "one notification per reaching: {notes:?}");

        // `$inc` progress from both devices adds up (entries before the goal do not count).
        app.button("New goal").await?;
        let form = app.find("form", "Goal").await?;
        app.fill_in(Some(&form), "Title", TOTAL).await?;
        app.fill_in(Some(&form), "Minutes", "100").await?;
        app.fill_in(Some(&form), "Period", "In all").await?;
        app.button_in(&form, "Add goal").await?;
        let total = app.find("region", TOTAL).await?;
        says(&total, "0 min of 1 h 40 min").await?;
        app.fill_in(Some(&total), &format!("Add to {TOTAL}"), "30")
            .await?;
        app.button_in(&total, "Add progress").await?;
        says(&total, "30 min of 1 h 40 min").await?;
        app.wait_status("Synced, nothing pending", synced_idle)
            .await?;
        let mut goal = None;
        until(
            Duration::from_secs(30),
            "the goal on the CLI device",
            || {
                goal = cli_goal(&stage, TOTAL);
                goal.as_ref().is_some_and(|g| g["progress"] == 30)
            },
        )
        .await?;
        let goal_id = goal
            .and_then(|g| g["id"].as_str().map(str::to_owned))
            .context("the goal's id")?;
        stage
            .cli
            .ok(&["goal", "edit", &goal_id, "--add-progress", "70"]);
        stage.cli.sync();
        says(&total, "1 h 40 min of 1 h 40 min").await?;
        until(
            Duration::from_secs(30),
            "the second goal's notification",
            || !goal_notes(before, TOTAL).is_empty(),
        )
        .await?;
        ensure!(
            cli_goal(&stage, TOTAL).is_some_and(|g| g["progress"] == 100),
            "the CLI device's counter is 100"
        );
        app.shot("goals-light").await?;
        app.set_theme("Dark", "Goals").await?;
        app.find("region", TOTAL).await?;
        app.shot("goals-dark").await?;
        app.button("New goal").await?;
        app.find("form", "Goal").await?;
        app.shot("goal-form-dark").await?;
        let all = goal_notes(before, "");
        ensure!(all.len() == 2, "one notification per goal: {all:?}");
        Ok(())
    }
    .await;
    app.finish(outcome).await;
}
