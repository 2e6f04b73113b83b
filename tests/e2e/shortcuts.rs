//! Keyboard shortcuts in the real app, pressed as real key events through WebDriver: a
//! screen switch (Ctrl+3 to Repertoire, Ctrl+1 back to the Logbook), the help (`?`) listing
//! the shortcuts from the one table, closed by Escape, and the new-entry shortcut (Ctrl+N)
//! opening the entry form. Screenshots of the help in both themes.

use anyhow::ensure;
use thirtyfour::Key;

use crate::support::*;

/// Presses `key` with Control held, on whatever has the focus.
async fn control(app: &App, key: char) -> anyhow::Result<()> {
    app.driver
        .action_chain()
        .key_down(Key::Control)
        .key_down(key)
        .key_up(key)
        .key_up(Key::Control)
        .perform()
        .await?;
    Ok(())
}

/// Presses `key` alone.
async fn press(app: &App, key: char) -> anyhow::Result<()> {
    app.driver
        .action_chain()
        .key_down(key)
        .key_up(key)
        .perform()
        .await?;
    Ok(())
}

/// Waits until the `Main` navigation marks `screen` as the current page.
async fn current(app: &App, screen: &str) -> anyhow::Result<()> {
    eventually(&format!("{screen} to be the current screen"), || async {
        let current = app
            .driver
            .execute(
                r#"return document.querySelector('nav [aria-current="page"]')?.textContent ?? null"#,
                vec![],
            )
            .await?;
        let text = current.json().as_str().unwrap_or_default().trim().to_owned();
        Ok(text.starts_with(screen).then_some(()))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts the real app: `cargo xtask test e2e` (Xvfb, WebDriver)"]
async fn shortcuts_switch_screens_open_the_help_and_a_new_entry() {
    const TEST: &str = "shortcuts";
    let Some((_stage, mut app, _data)) = Stage::with_app(TEST).await else {
        return;
    };
    let outcome = async {
        app.wait_status("Synced", |t| t.starts_with("Synced"))
            .await?;
        current(&app, "Logbook").await?;
        control(&app, '3').await?;
        current(&app, "Repertoire").await?;

        press(&app, '?').await?;
        let help = app.find("dialog", "Keyboard shortcuts").await?;
        let list = app
            .find_in(Some(&help), "table", "Shortcuts", Match::Exact)
            .await?;
        let text = list.text().await?;
        for action in ["New logbook entry", "Sync now", "Go to Repertoire"] {
            ensure!(text.contains(action), "the help lists {action:?}: {text}");
        }
        app.shot("help-light").await?;
        press(&app, Key::Escape.into()).await?;
        app.gone("dialog", "Keyboard shortcuts", Match::Exact)
            .await?;

        app.set_theme("Dark", "Repertoire").await?;
        press(&app, '?').await?;
        app.find("dialog", "Keyboard shortcuts").await?;
        // The colours' transitions end before the picture.
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        app.shot("help-dark").await?;
        press(&app, Key::Escape.into()).await?;
        app.gone("dialog", "Keyboard shortcuts", Match::Exact)
            .await?;

        control(&app, '1').await?;
        current(&app, "Logbook").await?;
        control(&app, 'n').await?;
        app.find("form", "Entry").await?;
        app.shot("new-entry-by-shortcut").await?;
        Ok(())
    }
    .await;
    app.finish(outcome).await;
}
