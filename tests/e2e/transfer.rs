//! Export & import in the real app: entries logged on a CLI device reach the app; the app
//! exports a full backup to a file (the path typed into the `Export file` box: a native
//! dialog cannot be driven by WebDriver), previews and imports another app's CSV (two rows
//! created, one skipped with its line and reason), then re-imports both files: all
//! unchanged, nothing written. The CLI device ends with every entry once. Screenshots of the
//! preview in both themes.

use anyhow::ensure;
use serde_json::Value;

use crate::support::*;

/// Another practice app's CSV (no ids): two sessions and a row with a bad duration.
const OTHER_APP_CSV: &str = "Date,Start Time,Duration (minutes),Piece,Composer,Instrument,Notes\n\
    2026-11-20,18:30,45,Ballade No. 1,Chopin,Piano,from the other app\n\
    2026-11-21,07:15,20,Etude Op. 10 No. 1,Chopin,Piano,\n\
    2026-11-22,19:00,abc,Etude Op. 10 No. 1,Chopin,Piano,\n";

/// The preview's four counts, as shown.
async fn counts(app: &App) -> thirtyfour::prelude::WebDriverResult<[String; 4]> {
    let script = r#"
        const region = document.querySelector('[aria-label="Import preview"]');
        if (!region) return null;
        return ["created", "updated", "unchanged", "skipped"].map(
            (name) => region.querySelector(`dd[data-count="${name}"]`)?.textContent.trim() ?? "");
    "#;
    let value = app.driver.execute(script, vec![]).await?;
    let list: Vec<String> = match value.json() {
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect(),
        _ => Vec::new(),
    };
    Ok(list.try_into().unwrap_or_default())
}

async fn wait_counts(app: &App, expected: [&str; 4]) -> anyhow::Result<()> {
    let found = eventually(&format!("the preview counts {expected:?}"), || async {
        Ok((counts(app).await? == expected.map(str::to_owned)).then_some(()))
    })
    .await;
    if found.is_err() {
        let shown = counts(app).await.unwrap_or_default();
        anyhow::bail!("the preview shows {shown:?}, not {expected:?}");
    }
    Ok(())
}

async fn preview(app: &App, path: &str) -> anyhow::Result<()> {
    app.fill("Import file", path).await?;
    app.button("Preview import").await?;
    app.find("region", "Import preview").await?;
    Ok(())
}

/// Scrolls the Settings body so the Export & import section is in view.
async fn show_section(app: &App) -> anyhow::Result<()> {
    app.driver
        .execute(
            "document.getElementById('s-transfer')?.scrollIntoView({block: 'start'});",
            vec![],
        )
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts the real app: `cargo xtask test e2e` (Xvfb, WebDriver)"]
async fn export_then_import_round_trip_shows_the_counts_and_never_duplicates() {
    const TEST: &str = "transfer";
    let Some(stage) = Stage::start(TEST).await else {
        return;
    };
    for (minutes, piece) in [("30", "Invention 8"), ("15", "Scales"), ("40", "Nocturne")] {
        stage.cli.add(&["--duration", minutes, "--piece", piece]);
    }
    stage.cli.sync();
    let (mut app, _data) = stage.launch().await;
    let files = tempfile::tempdir().unwrap();
    let backup = files.path().join("legato-backup.json");
    let csv = files.path().join("other-app.csv");
    std::fs::write(&csv, OTHER_APP_CSV).unwrap();
    let (backup_path, csv_path) = (backup.display().to_string(), csv.display().to_string());

    let outcome = async {
        app.wait_status("Synced", |t| t.starts_with("Synced"))
            .await?;
        eventually("the CLI's entries in the app", || async {
            Ok(app.entry_now("Nocturne").await?.map(|_| ()))
        })
        .await?;
        app.open("Settings").await?;

        // Export a full backup to a typed path.
        app.fill(
            "Export format",
            "Export full backup (entries, pieces and goals (JSON))",
        )
        .await?;
        app.fill("Export file", &backup_path).await?;
        app.button("Export").await?;
        eventually("the export's status", || async {
            Ok(app
                .page_text()
                .await?
                .contains(&format!("Exported to {backup_path}"))
                .then_some(()))
        })
        .await?;
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&backup)?)?;
        ensure!(
            doc["format"] == "legato-export" && doc["contents"] == "backup",
            "{doc}"
        );
        ensure!(doc["logbook"].as_array().map(Vec::len) == Some(3), "{doc}");

        // Another app's CSV: two to create, one skipped with its line and reason.
        preview(&app, &csv_path).await?;
        wait_counts(&app, ["2", "0", "0", "1"]).await?;
        let skipped = app.find("list", "Skipped rows").await?.text().await?;
        ensure!(
            skipped.contains("Line 4") && skipped.contains("abc"),
            "skipped rows: {skipped}"
        );
        show_section(&app).await?;
        app.shot("import-preview-light").await?;
        app.button("Import").await?;
        eventually("the import's result", || async {
            Ok(app
                .page_text()
                .await?
                .contains("2 created, 0 updated, 0 unchanged, 1 skipped")
                .then_some(()))
        })
        .await?;
        app.gone("region", "Import preview", Match::Exact).await?;

        // The backup again: everything unchanged, Import disabled, Cancel drops it.
        preview(&app, &backup_path).await?;
        wait_counts(&app, ["0", "0", "3", "0"]).await?;
        let import = app.find("button", "Import").await?;
        ensure!(
            !import.is_enabled().await?,
            "Import is enabled with nothing to write"
        );
        app.button("Cancel import").await?;
        app.gone("region", "Import preview", Match::Exact).await?;

        // The CSV again: the same two entries (derived ids), unchanged.
        preview(&app, &csv_path).await?;
        wait_counts(&app, ["0", "0", "2", "1"]).await?;
        app.apply_theme("Dark").await?;
        // The colours' transitions end before the picture.
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        show_section(&app).await?;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        app.shot("import-preview-dark").await?;
        app.button("Cancel import").await?;

        // Through the server, the CLI device has every entry once.
        app.wait_status("Synced", synced_idle).await?;
        eventually("five entries on the CLI device", || async {
            stage.cli.sync();
            Ok((stage.cli.entries().len() == 5).then_some(()))
        })
        .await?;
        let entries = stage.cli.entries();
        let from_csv = entries
            .iter()
            .filter(|e| e["notes"] == "from the other app")
            .count();
        ensure!(from_csv == 1, "{entries:?}");
        app.open("Logbook").await?;
        app.entry("Ballade No. 1").await?;
        Ok(())
    }
    .await;
    app.finish(outcome).await;
}
