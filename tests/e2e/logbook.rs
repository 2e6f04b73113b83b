//! The logbook through the UI: create, edit, delete and undo an entry; each step also
//! reaches the other device (the CLI) through the server.

use anyhow::{Context as _, ensure};

use crate::support::*;

const PIECE: &str = "Etude op. 10 no. 3";

/// Whether a notification (toast) covers the account line at the bottom of the navigation;
/// `null` while there is no notification, or while one is still sliding in (measured
/// mid-animation it may overlap for a few frames).
const TOAST_OVER_ACCOUNT: &str = r#"
const account = document.querySelector('nav[aria-label="Main"] .account');
const region = document.querySelector('[aria-label="Notifications"]');
const notices = document.querySelectorAll('[aria-label="Notifications"] [role="status"], [aria-label="Notifications"] [role="alert"]');
if (!account || !region || notices.length === 0) return null;
if (region.getAnimations({ subtree: true }).some((a) => a.playState === 'running')) return null;
const a = account.getBoundingClientRect();
return Array.from(notices).some((n) => {
  const r = n.getBoundingClientRect();
  return r.left < a.right && r.right > a.left && r.top < a.bottom && r.bottom > a.top;
});
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts the real app: `cargo xtask test e2e` (Xvfb, WebDriver)"]
async fn creates_edits_deletes_and_undoes_an_entry() {
    const TEST: &str = "logbook_crud";
    let Some(stage) = Stage::start(TEST).await else {
        return;
    };
    // Something already on the account, so the logbook has more than one day.
    stage.cli.add(&[
        "--duration",
        "45",
        "--piece",
        "Sonata K. 545",
        "--composer",
        "Mozart",
        "--instrument",
        "piano",
        "--at",
        "2026-11-20T17:30:00Z",
    ]);
    stage.cli.sync();
    let (mut app, _data) = stage.launch().await;

    let outcome = async {
        app.wait_status("Synced", |t| t.starts_with("Synced"))
            .await?;
        app.entry("Sonata K. 545").await?;

        // Create.
        app.button("New entry").await?;
        let form = app.find("form", "Entry").await?;
        app.fill_in(Some(&form), "Minutes", "25").await?;
        // A new entry ends now: its start follows Minutes (now - 25 min, to the minute).
        let start = app.value_of(Some(&form), "Time").await?;
        let expected: Vec<String> = [25, 26]
            .iter()
            .map(|ago| {
                (chrono::Local::now() - chrono::Duration::minutes(*ago))
                    .format("%H:%M")
                    .to_string()
            })
            .collect();
        ensure!(
            expected.contains(&start),
            "a 25-minute entry starts at {start}, not one of {expected:?}"
        );
        app.fill_in(Some(&form), "Type", "Practice").await?;
        app.fill_in(Some(&form), "Instrument", "Piano").await?;
        app.add_piece(&form, PIECE, Some("Chopin")).await?;
        app.fill_in(Some(&form), "Techniques", "legato, voicing")
            .await?;
        app.fill_in(Some(&form), "Notes", "slow practice, hands apart")
            .await?;
        app.fill_in(Some(&form), "Tags", "etude, chopin").await?;
        app.shot("entry-form-new").await?;
        app.button_in(&form, "Save").await?;
        // The "Entry added" notification leaves the account line visible.
        let covered = eventually("a notification beside the account line", || async {
            let covered = app.driver.execute(TOAST_OVER_ACCOUNT, vec![]).await?;
            Ok(covered.json().as_bool())
        })
        .await?;
        ensure!(!covered, "a notification covers the account line");

        let entry = app.entry(PIECE).await?;
        let text = entry.text().await?;
        ensure!(text.contains("25 min"), "listed entry: {text}");
        ensure!(
            text.to_lowercase().contains("piano"),
            "listed entry: {text}"
        );
        app.wait_status("Synced, nothing pending", synced_idle)
            .await?;
        app.shot("logbook-with-entries").await?;

        // Details.
        entry.click().await?;
        let details = app.find("complementary", "Entry details").await?;
        let shown = details.text().await?;
        for expected in [
            "Chopin",
            "slow practice, hands apart",
            "etude",
            "voicing",
            "25",
        ] {
            ensure!(
                shown.contains(expected),
                "details lack {expected:?}: {shown}"
            );
        }
        app.shot("entry-details").await?;

        // The other device gets it.
        app.wait_status("Synced", |t| t.starts_with("Synced"))
            .await?;
        stage.cli.sync();
        let id = stage
            .cli
            .entries()
            .into_iter()
            .find(|e| e["pieces"][0]["title"] == PIECE)
            .and_then(|e| e["id"].as_str().map(str::to_owned))
            .context("the CLI device has the new entry")?;

        // Edit.
        app.button_in(&details, "Edit").await?;
        let form = app.find("form", "Entry").await?;
        ensure!(
            app.value_of(Some(&form), "Piece title").await? == PIECE,
            "the edit form is filled in"
        );
        app.fill_in(Some(&form), "Minutes", "40").await?;
        app.fill_in(Some(&form), "Notes", "hands together now")
            .await?;
        app.shot("entry-form-edit").await?;
        app.button_in(&form, "Save").await?;
        eventually("the edited entry", || async {
            Ok(match app.entry_now(PIECE).await? {
                Some(e) => e.text().await?.contains("40 min").then_some(()),
                None => None,
            })
        })
        .await?;
        let details = app.find("complementary", "Entry details").await?;
        let shown = details.text().await?;
        ensure!(
            shown.contains("hands together now"),
            "details after edit: {shown}"
        );
        app.wait_status("Synced", synced_idle).await?;
        stage.cli.sync();
        let edited = stage
            .cli
            .entry(&id)
            .context("the entry on the CLI device")?;
        ensure!(edited["duration"] == 40, "{edited}");
        ensure!(edited["notes"] == "hands together now", "{edited}");

        // Delete, then undo.
        app.button_in(&details, "Delete").await?;
        app.no_entry(PIECE).await?;
        let notices = app.find("region", "Notifications").await?;
        let deleted = app
            .find_in(Some(&notices), "status", "Entry deleted", Match::Prefix)
            .await?;
        app.shot("entry-deleted").await?;
        app.wait_status("Synced", synced_idle).await?;
        stage.cli.sync();
        ensure!(
            stage.cli.entry(&id).is_none(),
            "the CLI device still has the deleted entry"
        );

        app.button_in(&deleted, "Undo").await?;
        let back = app.entry(PIECE).await?;
        let text = back.text().await?;
        ensure!(text.contains("40 min"), "restored entry: {text}");
        app.wait_status("Synced", synced_idle).await?;
        stage.cli.sync();
        let restored = stage
            .cli
            .entries()
            .into_iter()
            .find(|e| e["pieces"][0]["title"] == PIECE)
            .context("the restored entry on the CLI device")?;
        ensure!(restored["notes"] == "hands together now", "{restored}");
        app.shot("entry-restored").await?;
        Ok(())
    }
    .await;
    app.finish(outcome).await;
}
