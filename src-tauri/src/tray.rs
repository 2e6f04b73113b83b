//! The tray icon: its menu (ids below), an icon per sync badge, and a tooltip
//! "N pending · last sync HH:MM". While a practice timer exists, its line
//! ("Practising 42 min · Etude", [`crate::timer::tray_line`]) heads the tooltip and the
//! menu (a disabled item, "Not practising" otherwise), and the practice item says what it
//! will do: Start practice, Stop practice, Log practice. Closing the window only hides it while `closeToTray` is
//! on; the tray's "Quit" ends the app (after a short flush of pending changes).
//!
//! Linux shows the icon through libayatana-appindicator (loaded at run time; a desktop
//! without a tray host simply shows nothing) and ignores tooltips and clicks on the icon:
//! the menu is the way in there. The icon goes to the tray host as a PNG file: those files
//! are written in the device's data dir (`tray-icon/`), not in a directory shared by every
//! process (`$XDG_RUNTIME_DIR/tray-icon` or `/tmp/tray-icon`, the library's default), where
//! two devices on one machine would overwrite each other's icon files.

use std::sync::Mutex;

use chrono::Local;
use tauri::image::Image;
use tauri::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager};

use crate::ipc::types::{SyncBadge, SyncStatusView};
use crate::state::AppState;
use crate::status;

pub const TRAY_ID: &str = "legato";
pub const MENU_OPEN: &str = "open";
pub const MENU_SYNC_NOW: &str = "sync-now";
pub const MENU_TOGGLE_PAUSE: &str = "toggle-pause";
pub const MENU_QUIT: &str = "quit";
pub const MENU_PRACTICE: &str = "practice";
pub const MENU_TIMER_LINE: &str = "timer-line";
/// The timer line's text while no session exists.
pub const NOT_PRACTISING: &str = "Not practising";

/// The main window's label (as in `tauri.conf.json`).
pub const MAIN_WINDOW: &str = "main";

/// The pause item's text for the current state.
pub fn pause_label(paused: bool) -> &'static str {
    if paused { "Resume sync" } else { "Pause sync" }
}

/// The icon for a badge (PNG, from `icons/tray/`).
pub fn icon_png(badge: SyncBadge) -> &'static [u8] {
    match badge {
        SyncBadge::Synced => include_bytes!("../../icons/tray/synced.png"),
        SyncBadge::Syncing => include_bytes!("../../icons/tray/syncing.png"),
        SyncBadge::Offline => include_bytes!("../../icons/tray/offline.png"),
        SyncBadge::Conflict => include_bytes!("../../icons/tray/conflict.png"),
        SyncBadge::Error => include_bytes!("../../icons/tray/error.png"),
    }
}

/// What the tray shows, to skip updates that change nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shown {
    badge: SyncBadge,
    paused: bool,
    tooltip: String,
}

/// The tooltip: the timer's line (if any) over the sync tooltip.
pub fn tooltip_text(timer_line: Option<&str>, sync: &str) -> String {
    match timer_line {
        Some(line) => format!("{line}\n{sync}"),
        None => sync.to_owned(),
    }
}

/// What the tray shows of the practice timer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct TimerShown {
    line: Option<String>,
    action: &'static str,
    /// The sync part of the tooltip, as last shown.
    sync_tooltip: String,
}

/// The tray icon and the menu items whose text changes. Managed by Tauri.
pub struct Tray {
    icon: TrayIcon,
    pause: MenuItem<tauri::Wry>,
    practice: MenuItem<tauri::Wry>,
    timer_line: MenuItem<tauri::Wry>,
    shown: Mutex<Option<Shown>>,
    timer: Mutex<TimerShown>,
}

impl std::fmt::Debug for Tray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tray")
            .field("shown", &self.shown)
            .finish_non_exhaustive()
    }
}

impl Tray {
    /// Shows `view` (icon, tooltip, pause item), changing only what differs.
    pub fn update(&self, view: &SyncStatusView, paused: bool) {
        let sync_tooltip = status::tooltip(view, *Local::now().offset());
        let tooltip = {
            let mut timer = self.timer.lock().unwrap_or_else(|e| e.into_inner());
            timer.sync_tooltip.clone_from(&sync_tooltip);
            tooltip_text(timer.line.as_deref(), &sync_tooltip)
        };
        let next = Shown {
            badge: view.badge,
            paused,
            tooltip,
        };
        let mut shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
        let before = shown.replace(next.clone());
        if before.as_ref().is_none_or(|b| b.badge != next.badge) {
            match Image::from_bytes(icon_png(next.badge)) {
                Ok(image) => log_err(self.icon.set_icon(Some(image)), "icon"),
                Err(err) => tracing::warn!(%err, "tray icon image"),
            }
        }
        if before.as_ref().is_none_or(|b| b.tooltip != next.tooltip) {
            log_err(self.icon.set_tooltip(Some(&next.tooltip)), "tooltip");
        }
        if before.as_ref().is_none_or(|b| b.paused != next.paused) {
            log_err(self.pause.set_text(pause_label(next.paused)), "pause item");
        }
    }
}

impl Tray {
    /// Shows the practice timer: its line (`None`: no session) and the practice item's
    /// action, changing only what differs.
    pub fn set_timer(&self, line: Option<String>, action: &'static str) {
        let (before, sync_tooltip) = {
            let mut timer = self.timer.lock().unwrap_or_else(|e| e.into_inner());
            let before = timer.clone();
            timer.line.clone_from(&line);
            timer.action = action;
            (before, timer.sync_tooltip.clone())
        };
        if before.action != action {
            log_err(self.practice.set_text(action), "practice item");
        }
        if before.line != line {
            log_err(
                self.timer_line
                    .set_text(line.as_deref().unwrap_or(NOT_PRACTISING)),
                "timer line",
            );
            let tooltip = tooltip_text(line.as_deref(), &sync_tooltip);
            let mut shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(shown) = shown.as_mut() {
                shown.tooltip.clone_from(&tooltip);
            }
            log_err(self.icon.set_tooltip(Some(&tooltip)), "tooltip");
        }
    }
}

fn log_err(result: tauri::Result<()>, what: &str) {
    if let Err(err) = result {
        tracing::warn!(%err, what, "cannot update the tray");
    }
}

/// Builds the tray and registers it as managed state.
pub fn build(app: &AppHandle, paused: bool) -> tauri::Result<()> {
    let open = MenuItem::with_id(app, MENU_OPEN, "Open Legato", true, None::<&str>)?;
    let sync_now = MenuItem::with_id(app, MENU_SYNC_NOW, "Sync now", true, None::<&str>)?;
    let pause = MenuItem::with_id(
        app,
        MENU_TOGGLE_PAUSE,
        pause_label(paused),
        true,
        None::<&str>,
    )?;
    let quit = MenuItem::with_id(app, MENU_QUIT, "Quit", true, None::<&str>)?;
    let timer_line = MenuItem::with_id(app, MENU_TIMER_LINE, NOT_PRACTISING, false, None::<&str>)?;
    let practice = MenuItem::with_id(
        app,
        MENU_PRACTICE,
        crate::timer::tray_action_label(None),
        true,
        None::<&str>,
    )?;
    let separator = PredefinedMenuItem::separator(app)?;
    let timer_separator = PredefinedMenuItem::separator(app)?;
    let menu = Menu::with_items(
        app,
        &[
            &timer_line,
            &practice,
            &timer_separator,
            &open,
            &sync_now,
            &pause,
            &separator,
            &quit,
        ],
    )?;
    let icon_dir = app.state::<AppState>().launch.data_dir.join("tray-icon");
    let icon = TrayIconBuilder::with_id(TRAY_ID)
        .temp_dir_path(icon_dir)
        .icon(Image::from_bytes(icon_png(SyncBadge::Offline))?)
        .tooltip("Legato")
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(on_menu_event)
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                show_main_window(tray.app_handle());
            }
        })
        .build(app)?;
    app.manage(Tray {
        icon,
        pause,
        practice,
        timer_line,
        shown: Mutex::new(None),
        timer: Mutex::new(TimerShown {
            action: crate::timer::tray_action_label(None),
            ..TimerShown::default()
        }),
    });
    // The session may have survived a restart: show it at once.
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let state = app.state::<AppState>();
        if let Err(err) = crate::timer::current(&state).await {
            tracing::warn!(?err, "cannot read the practice timer for the tray");
        }
    });
    Ok(())
}

fn on_menu_event(app: &AppHandle, event: MenuEvent) {
    match event.id().as_ref() {
        MENU_OPEN => show_main_window(app),
        MENU_SYNC_NOW => {
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                let handle = app.state::<AppState>().sync.handle();
                match handle.sync_now().await {
                    Ok(report) => tracing::info!(?report, "sync now (tray)"),
                    Err(err) => tracing::info!(%err, "sync now (tray) did not complete"),
                }
            });
        }
        MENU_TOGGLE_PAUSE => {
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                let state = app.state::<AppState>();
                let paused = !state.settings().sync_paused;
                if let Err(err) = state.set_paused(paused).await {
                    tracing::warn!(%err, paused, "cannot change pause from the tray");
                }
            });
        }
        MENU_PRACTICE => {
            let app = app.clone();
            tauri::async_runtime::spawn(async move { crate::timer::tray_toggle(&app).await });
        }
        MENU_QUIT => app.exit(0),
        other => tracing::debug!(id = other, "unknown tray menu item"),
    }
}

/// Shows, un-minimizes and focuses the main window.
pub fn show_main_window(app: &AppHandle) {
    if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_badge_has_its_own_png_icon() {
        let badges = [
            SyncBadge::Synced,
            SyncBadge::Syncing,
            SyncBadge::Offline,
            SyncBadge::Conflict,
            SyncBadge::Error,
        ];
        for (i, a) in badges.iter().enumerate() {
            assert!(icon_png(*a).starts_with(b"\x89PNG"), "{a:?}");
            for b in &badges[i + 1..] {
                assert_ne!(icon_png(*a), icon_png(*b), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn the_pause_item_says_what_it_will_do() {
        assert_eq!(pause_label(false), "Pause sync");
        assert_eq!(pause_label(true), "Resume sync");
    }

    #[test]
    fn the_timer_line_heads_the_tooltip() {
        assert_eq!(tooltip_text(None, "2 pending"), "2 pending");
        assert_eq!(
            tooltip_text(Some("Practising 5 min"), "2 pending"),
            "Practising 5 min\n2 pending"
        );
    }

    #[test]
    fn menu_ids_are_distinct() {
        let ids = [
            MENU_OPEN,
            MENU_SYNC_NOW,
            MENU_TOGGLE_PAUSE,
            MENU_QUIT,
            MENU_PRACTICE,
            MENU_TIMER_LINE,
        ];
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
    }
}
