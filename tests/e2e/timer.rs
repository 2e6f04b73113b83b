//! The practice timer and the metronome in the real app: a session survives the app being
//! killed and started again on the same data dir; the metronome's tempo per piece lands in
//! the saved entry (seen on the CLI device); Stop practice from the tray menu.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use serde_json::Value;

use crate::support::*;

/// `m:ss` or `h:mm:ss` as shown by the timer, in seconds.
fn seconds_of(shown: &str) -> anyhow::Result<u64> {
    let parts: Vec<u64> = shown
        .trim()
        .split(':')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("timer text {shown:?}"))?;
    Ok(match parts.as_slice() {
        [m, s] => m * 60 + s,
        [h, m, s] => h * 3600 + m * 60 + s,
        _ => bail!("timer text {shown:?}"),
    })
}

/// The timer's seconds now, if it is shown (no waiting).
async fn elapsed_now(app: &App) -> thirtyfour::prelude::WebDriverResult<Option<u64>> {
    let Some(timer) = app
        .all("timer", "Elapsed time", Match::Exact, None)
        .await?
        .pop()
    else {
        return Ok(None);
    };
    Ok(seconds_of(&timer.text().await?).ok())
}

async fn elapsed_shown(app: &App) -> anyhow::Result<u64> {
    seconds_of(&app.find("timer", "Elapsed time").await?.text().await?)
}

/// Waits until the page's text contains `text`.
async fn page_says(app: &App, text: &str) -> anyhow::Result<()> {
    eventually(&format!("the page to say {text:?}"), || async {
        Ok(app.page_text().await?.contains(text).then_some(()))
    })
    .await
}

/// The CLI device's entry that has a piece titled `title`, after a sync.
async fn cli_entry_with_piece(stage: &Stage, title: &str) -> anyhow::Result<Value> {
    let mut found = None;
    until(
        Duration::from_secs(30),
        "the entry on the CLI device",
        || {
            stage.cli.sync();
            found = stage.cli.entries().into_iter().find(|e| {
                e["pieces"]
                    .as_array()
                    .is_some_and(|p| p.iter().any(|p| p["title"] == title))
            });
            found.is_some()
        },
    )
    .await?;
    found.context("no entry")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts the real app: `cargo xtask test e2e` (Xvfb, WebDriver)"]
async fn the_timer_survives_a_kill_and_a_restart() {
    const TEST: &str = "timer_restart";
    let Some(stage) = Stage::start(TEST).await else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let env = AppEnv::new(data.path(), &stage.server, &stage.account);
    let mut app = App::launch(env.clone(), &stage.art).await;

    let first = async {
        app.wait_status("Synced", |t| t.starts_with("Synced"))
            .await?;
        app.open("Practice").await?;
        ensure!(elapsed_shown(&app).await? == 0, "a timer before the start");
        app.fill("Other piece", "Arpeggios").await?;
        app.button("Use this piece").await?;
        app.button("Start practice").await?;
        let started = Instant::now();
        let started_local = chrono::Local::now();
        app.find("button", "Stop practice").await?;
        // It counts.
        eventually("the timer to count", || async {
            Ok(elapsed_now(&app).await?.filter(|s| *s >= 2))
        })
        .await?;
        app.shot("timer-running").await?;
        let pieces = app
            .find("list", "Pieces this session")
            .await?
            .text()
            .await?;
        ensure!(pieces.contains("Arpeggios"), "pieces: {pieces}");
        Ok::<_, anyhow::Error>((started, started_local))
    }
    .await;
    let (started, started_local) = match first {
        Ok(values) => values,
        Err(err) => {
            app.finish(Err(err)).await;
            unreachable!()
        }
    };

    // A crash: SIGKILL, no shutdown at all.
    let pid = app.pid().expect("the app's pid");
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    app.finish(Ok(())).await;
    // Down for a while: a running timer goes on counting meanwhile (it is wall time).
    tokio::time::sleep(Duration::from_secs(4)).await;

    let mut app = App::launch(env, &stage.art).await;
    let outcome = async {
        app.open("Practice").await?;
        app.find("button", "Stop practice").await?;
        let shown = elapsed_shown(&app).await?;
        let real = started.elapsed().as_secs();
        ensure!(
            shown + 2 >= real && shown <= real + 1,
            "after the restart the timer shows {shown} s, {real} s since the start"
        );
        ensure!(real >= 4, "the app was down for 4 s");
        let pieces = app
            .find("list", "Pieces this session")
            .await?
            .text()
            .await?;
        ensure!(
            pieces.contains("Arpeggios"),
            "pieces after the restart: {pieces}"
        );
        app.shot("timer-after-restart").await?;

        // Stop: the entry form, pre-filled with the start time, the minutes and the piece.
        app.button("Stop practice").await?;
        let form = app.find("form", "Entry").await?;
        let minutes: u64 = app.value_of(Some(&form), "Minutes").await?.parse()?;
        let real_minutes = ((started.elapsed().as_secs() + 30) / 60).max(1);
        ensure!(
            minutes == real_minutes || minutes + 1 == real_minutes,
            "Minutes {minutes}, {real_minutes} expected"
        );
        let time = app.value_of(Some(&form), "Time").await?;
        ensure!(
            time == started_local.format("%H:%M").to_string()
                || time
                    == (started_local - chrono::Duration::minutes(1))
                        .format("%H:%M")
                        .to_string(),
            "Time {time}, the session started at {started_local}"
        );
        let title = app.value_of(Some(&form), "Piece title").await?;
        ensure!(title == "Arpeggios", "piece {title:?}");
        app.shot("entry-from-timer").await?;
        app.button_in(&form, "Save").await?;
        app.entry("Arpeggios").await?;
        // The session is over.
        app.open("Practice").await?;
        app.find("button", "Start practice").await?;
        ensure!(elapsed_shown(&app).await? == 0, "the timer was reset");

        let entry = cli_entry_with_piece(&stage, "Arpeggios").await?;
        ensure!(
            entry["duration"].as_u64() == Some(minutes),
            "CLI entry: {entry}"
        );
        Ok(())
    }
    .await;
    app.finish(outcome).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts the real app: `cargo xtask test e2e` (Xvfb, WebDriver)"]
async fn the_metronome_tempo_per_piece_lands_in_the_saved_entry() {
    const TEST: &str = "metronome_tempo";
    let Some(stage) = Stage::start(TEST).await else {
        return;
    };
    let piece_id = stage
        .cli
        .ok(&["repertoire", "add", "Ballade No. 1", "--composer", "Chopin"])
        .trim()
        .to_owned();
    stage.cli.sync();
    let (mut app, _data) = stage.launch().await;

    let outcome = async {
        app.wait_status("Synced", |t| t.starts_with("Synced"))
            .await?;
        app.open("Practice").await?;
        // The repertoire piece is offered (it synced from the CLI device).
        eventually("the repertoire piece offered", || async {
            let Some(select) = app
                .all("combobox", "Piece", Match::Exact, None)
                .await?
                .pop()
            else {
                return Ok(None);
            };
            Ok(select
                .text()
                .await?
                .contains("Ballade No. 1 — Chopin")
                .then_some(()))
        })
        .await?;
        app.fill("Piece", "Ballade No. 1 — Chopin").await?;
        app.button("Start practice").await?;
        app.find("button", "Stop practice").await?;

        // The metronome at 92: recorded for the Ballade as it starts, with or without audio.
        app.fill("Tempo (BPM)", "92").await?;
        app.fill("Beats per bar", "3").await?;
        app.fill("Subdivision", "Triplets").await?;
        app.button("Start metronome").await?;
        app.find("button", "Stop metronome").await?;
        page_says(&app, "92 bpm recorded for Ballade No. 1 — Chopin").await?;

        // Another piece while it plays: the tempo follows to 76 for it.
        app.fill("Other piece", "Scales in thirds").await?;
        app.button("Use this piece").await?;
        app.fill("Tempo (BPM)", "76").await?;
        page_says(&app, "76 bpm recorded for Scales in thirds").await?;
        let pieces = app
            .find("list", "Pieces this session")
            .await?
            .text()
            .await?;
        ensure!(
            pieces.contains("92 bpm") && pieces.contains("76 bpm"),
            "pieces: {pieces}"
        );

        // Screenshots of the screen in both themes.
        app.set_theme("Light", "Practice").await?;
        app.shot("practice-light").await?;
        app.set_theme("Dark", "Practice").await?;
        app.shot("practice-dark").await?;
        app.set_theme("Light", "Practice").await?;

        // The tray shows the session and stops it; the entry form opens pre-filled.
        let pid = app.pid().context("the app's pid")?;
        let (bus_name, _) = tray_item(pid).await?;
        let labels: Vec<String> = tray_menu(&bus_name)?.into_iter().map(|(_, l)| l).collect();
        ensure!(
            labels[0].starts_with("Practising ") && labels[0].ends_with("· Scales in thirds"),
            "tray menu: {labels:?}"
        );
        ensure!(labels[1] == "Stop practice", "tray menu: {labels:?}");
        app.button("Stop metronome").await?;
        app.tray_click("Stop practice").await?;
        let form = app.find("form", "Entry").await?;
        let titles = app
            .all("field", "Piece title", Match::Exact, Some(&form))
            .await?;
        ensure!(titles.len() == 2, "{} pieces in the form", titles.len());
        app.shot("entry-from-tray-stop").await?;
        until(
            Duration::from_secs(10),
            "the tray to say it stopped",
            || tray_menu(&bus_name).is_ok_and(|m| m.iter().any(|(_, l)| l == "Log practice")),
        )
        .await?;
        app.button_in(&form, "Save").await?;
        app.entry("Ballade No. 1").await?;
        until(
            Duration::from_secs(10),
            "the tray to say Start practice",
            || {
                tray_menu(&bus_name).is_ok_and(|m| {
                    m.iter().any(|(_, l)| l == "Start practice")
                        && m.iter().any(|(_, l)| l == "Not practising")
                })
            },
        )
        .await?;

        let entry = cli_entry_with_piece(&stage, "Ballade No. 1").await?;
        let pieces = entry["pieces"].as_array().context("pieces")?;
        ensure!(pieces.len() == 2, "CLI entry: {entry}");
        ensure!(
            pieces[0]["title"] == "Ballade No. 1"
                && pieces[0]["tempo"] == 92
                && pieces[0]["scoreId"] == piece_id.as_str()
                && pieces[0]["composer"] == "Chopin",
            "first piece: {}",
            pieces[0]
        );
        ensure!(
            pieces[1]["title"] == "Scales in thirds" && pieces[1]["tempo"] == 76,
            "second piece: {}",
            pieces[1]
        );
        Ok(())
    }
    .await;
    app.finish(outcome).await;
}
