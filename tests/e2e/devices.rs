//! The account's devices in Settings: both sign-ins listed (this one marked, without
//! Revoke), the CLI device revoked after a confirmation, and its next sync refused.

use anyhow::ensure;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts the real app: `cargo xtask test e2e` (Xvfb, WebDriver)"]
async fn another_device_is_listed_and_revoked_in_settings() {
    const TEST: &str = "devices_revoke";
    let Some((stage, mut app, _data)) = Stage::with_app(TEST).await else {
        return;
    };

    let outcome = async {
        app.wait_status("Synced", |t| t.starts_with("Synced"))
            .await?;
        // The CLI device of the stage is signed in to the same account and synced once.
        stage.cli.sync();
        let cli_name = format!("legato cli ({})", std::env::consts::OS);
        let app_name = format!("Legato desktop ({}) (this device)", std::env::consts::OS);

        app.open("Settings").await?;
        let list = app.find("list", "Devices").await?;
        let this = app
            .find_in(Some(&list), "listitem", &app_name, Match::Exact)
            .await?;
        let other = app
            .find_in(Some(&list), "listitem", &cli_name, Match::Exact)
            .await?;
        let this_text = this.text().await?;
        ensure!(
            this_text.contains("This device") && this_text.contains("Last seen"),
            "this device's item: {this_text}"
        );
        ensure!(
            app.all("button", "Revoke", Match::Exact, Some(&this))
                .await?
                .is_empty(),
            "this device has no Revoke button"
        );
        let other_text = other.text().await?;
        ensure!(
            other_text.contains("Last seen") && other_text.contains("signed in"),
            "the CLI device's item: {other_text}"
        );
        app.shot("two-devices").await?;

        // Revoke asks first; Cancel keeps it.
        app.button_in(&other, "Revoke").await?;
        let confirm = app.find("group", &format!("Revoke {cli_name}?")).await?;
        app.shot("confirm-revoke").await?;
        app.button_in(&confirm, "Cancel").await?;
        app.gone("group", &format!("Revoke {cli_name}?"), Match::Exact)
            .await?;
        let other = app
            .find_in(Some(&list), "listitem", &cli_name, Match::Exact)
            .await?;
        app.button_in(&other, "Revoke").await?;
        let confirm = app.find("group", &format!("Revoke {cli_name}?")).await?;
        app.button_in(&confirm, "Yes, revoke").await?;

        // The list is read again: only this device is left.
        app.gone("listitem", &cli_name, Match::Exact).await?;
        app.find("listitem", &app_name).await?;
        app.shot("revoked").await?;

        // The CLI device's token is refused from now on.
        let args = ["sync", "--timeout", "20"];
        let output = stage.cli.output(&args);
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout)
        );
        ensure!(
            !output.status.success(),
            "the revoked CLI device still syncs: {said}"
        );
        let lower = said.to_lowercase();
        ensure!(
            lower.contains("refused this device's login"),
            "the CLI's sync failed for another reason: {said}"
        );
        Ok(())
    }
    .await;
    app.finish(outcome).await;
}
