//! The quickest proof that the real app works end to end: start it (WebDriver through
//! `tauri-driver`, Xvfb) against a real `legato-server`, add an entry through the form, see it
//! listed and synced. The full scenarios are in `tests/e2e/` and share its harness
//! (`tests/e2e/support.rs`): see there for what is needed and how it is found.
//!
//! `cargo xtask test e2e` runs it (`cargo test` lists it as ignored). Without a prerequisite
//! it skips, unless `REQUIRE_E2E=1`: then a missing piece is a failure.

#[path = "e2e/support.rs"]
mod support;

use anyhow::ensure;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts the real app: `cargo xtask test e2e` (Xvfb, WebDriver)"]
async fn adds_an_entry_through_the_ui_and_sees_it_listed_and_synced() {
    const TEST: &str = "app_smoke";
    if skip_unless_runnable(TEST, &[Needs::WebDriver]) {
        return;
    }
    let _one = exclusive().await;
    let art = artifacts(TEST);
    let server = Server::start(&art.join("server.log"));
    let data = tempfile::tempdir().expect("data dir");
    let mut app = App::launch(AppEnv::new(data.path(), &server, &email(TEST)), &art).await;

    let outcome = async {
        app.button("New entry").await?;
        let form = app.find("form", "Entry").await?;
        app.fill_in(Some(&form), "Minutes", "25").await?;
        app.add_piece(&form, "Etude op. 10 no. 3", None).await?;
        app.fill_in(Some(&form), "Notes", "slow practice, hands apart")
            .await?;
        app.button_in(&form, "Save").await?;

        let listed = app.entry("Etude op. 10 no. 3").await?;
        let text = listed.text().await?;
        ensure!(text.contains("25 min"), "listed entry: {text}");
        // Signed in through the development login, the app syncs it.
        app.wait_status("Synced, nothing pending", synced_idle)
            .await?;
        app.shot("synced").await?;
        Ok(())
    }
    .await;
    app.finish(outcome).await;
}
