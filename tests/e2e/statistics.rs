//! The Statistics screen of the real app: entries logged on another device (the CLI)
//! arrive through the server; the screen shows their totals, streaks and distribution in
//! the app's time zone (`TZ=Europe/Berlin`), follows a new entry live, and saves a chart as
//! a PNG file in the user's Downloads directory. Screenshots in both themes.

use anyhow::ensure;
use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use thirtyfour::prelude::WebDriverResult;

use crate::support::*;

const ZONE: &str = "Europe/Berlin";

/// `days_ago` days before today (in [`ZONE`]) at `hour:minute` local, as RFC 3339 UTC.
fn local_at(days_ago: i64, hour: i8, minute: i8) -> String {
    let zone = TimeZone::get(ZONE).expect("the zone");
    let today = Timestamp::now().to_zoned_datetime(zone.clone()).date();
    let day = today.checked_sub(days_ago.days()).expect("a day");
    let at = day
        .to_datetime(Time::constant(hour, minute, 0, 0))
        .to_zoned_datetime(zone)
        .expect("a local time");
    at.timestamp().to_string()
}

/// The text of the summary tile named `name` (`Today`, `In all`, ...).
async fn tile(app: &App, name: &str) -> WebDriverResult<String> {
    let script = r#"
        const region = document.querySelector('[aria-label="Summary"]');
        if (!region) return null;
        const tile = Array.from(region.querySelectorAll('dt')).find((dt) => dt.textContent.trim() === arguments[0]);
        return tile ? tile.parentElement.querySelector('dd').textContent.trim() : null;
    "#;
    let value = app
        .driver
        .execute(script, vec![serde_json::json!(name)])
        .await?;
    Ok(value.json().as_str().unwrap_or_default().to_owned())
}

async fn wait_tile(app: &App, name: &str, expected: &str) -> anyhow::Result<()> {
    let found = eventually(&format!("tile {name} = {expected}"), || async {
        Ok((tile(app, name).await? == expected).then_some(()))
    })
    .await;
    if found.is_err() {
        let shown = tile(app, name).await.unwrap_or_default();
        anyhow::bail!("tile {name} shows {shown:?}, not {expected:?}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts the real app: `cargo xtask test e2e` (Xvfb, WebDriver)"]
async fn shows_the_statistics_of_synced_entries_and_saves_a_chart_as_png() {
    const TEST: &str = "statistics";
    let Some(stage) = Stage::start(TEST).await else {
        return;
    };
    // Three days in a row ending today, a gap, one more day ten days ago.
    let today = local_at(0, 0, 5);
    let yesterday = local_at(1, 20, 0);
    let before = local_at(2, 23, 30);
    let older = local_at(10, 9, 0);
    for args in [
        &[
            "--duration",
            "30",
            "--instrument",
            "piano",
            "--piece",
            "Ballade No. 1",
            "--composer",
            "Chopin",
            "--at",
            &today,
        ][..],
        &[
            "--duration",
            "45",
            "--instrument",
            "piano",
            "--piece",
            "Invention 8",
            "--composer",
            "Bach",
            "--at",
            &yesterday,
        ],
        &[
            "--duration",
            "20",
            "--type",
            "technique",
            "--piece",
            "Scales",
            "--at",
            &before,
        ],
        &["--duration", "25", "--instrument", "violin", "--at", &older],
    ] {
        stage.cli.add(args);
    }
    stage.cli.sync();

    // The app in Berlin time, with a Downloads directory of its own (XDG user dirs).
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let downloads = home.path().join("Downloads");
    let config = home.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("user-dirs.dirs"),
        format!("XDG_DOWNLOAD_DIR=\"{}\"\n", downloads.display()),
    )
    .unwrap();
    let mut env = AppEnv::new(data.path(), &stage.server, &stage.account);
    env.extra.push(("TZ".into(), ZONE.into()));
    env.extra
        .push(("XDG_CONFIG_HOME".into(), config.display().to_string()));
    let mut app = App::launch(env, &stage.art).await;

    let outcome = async {
        app.wait_status("Synced", |t| t.starts_with("Synced"))
            .await?;
        app.open("Statistics").await?;
        app.find("region", "Summary").await?;
        wait_tile(&app, "In all", "2 h").await?;
        wait_tile(&app, "Today", "30 min").await?;
        wait_tile(&app, "Current streak", "3 days").await?;
        wait_tile(&app, "Longest streak", "3 days").await?;
        wait_tile(&app, "Practice days", "4 days").await?;
        let text = app.page_text().await?;
        ensure!(text.contains(ZONE), "the zone is named: {text}");
        for name in [
            "Practice calendar chart",
            "Trend chart",
            "Distribution chart",
            "Comparison chart",
        ] {
            app.find("img", name).await?;
        }

        // The distribution of everything, by piece.
        app.fill("Period", "All time").await?;
        let group = app.find("radiogroup", "Group by").await?;
        app.find_in(Some(&group), "radio", "Piece", Match::Exact)
            .await?
            .click()
            .await?;
        eventually("the distribution of all time", || async {
            let text = app.page_text().await?;
            Ok(text.contains("2 h in 4 sessions").then_some(()))
        })
        .await?;
        let trend = app.find("radiogroup", "Trend by").await?;
        app.find_in(Some(&trend), "radio", "Weeks", Match::Exact)
            .await?
            .click()
            .await?;
        // WebDriver's clicks scroll the control to the middle of the window, the document
        // too (it is taller than the window while the last card is centred): back to the top
        // for the picture.
        app.driver
            .execute(
                "document.scrollingElement.scrollTop = 0; document.querySelector('.statistics .content').scrollTop = 0;",
                vec![],
            )
            .await?;
        app.shot("statistics-light").await?;

        // Save a chart: a PNG in Downloads, and the app says where.
        app.button("Save trend as PNG").await?;
        let saved = eventually("the chart in Downloads", || async {
            Ok(std::fs::read_dir(&downloads)
                .ok()
                .and_then(|mut files| files.next())
                .and_then(Result::ok)
                .map(|file| file.path()))
        })
        .await?;
        let name = saved.file_name().unwrap().to_string_lossy().into_owned();
        ensure!(
            name.starts_with("legato-trend-") && name.ends_with(".png"),
            "saved as {name}"
        );
        let bytes = std::fs::read(&saved)?;
        ensure!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 1000,
            "{name} is not a PNG ({} bytes)",
            bytes.len()
        );
        let path = saved.display().to_string();
        eventually("the notice naming the file", || async {
            Ok(app
                .page_text()
                .await?
                .contains(&format!("Chart saved to {path}"))
                .then_some(()))
        })
        .await?;

        // A new entry on the other device shows up live.
        stage
            .cli
            .add(&["--duration", "10", "--at", &local_at(0, 0, 10)]);
        stage.cli.sync();
        wait_tile(&app, "In all", "2 h 10 min").await?;
        wait_tile(&app, "Today", "40 min").await?;

        app.set_theme("Dark", "Statistics").await?;
        app.find("region", "Summary").await?;
        app.shot("statistics-dark").await?;
        Ok(())
    }
    .await;
    app.finish(outcome).await;
}
