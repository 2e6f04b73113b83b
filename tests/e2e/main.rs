//! The real app, end to end (issue 5): the app under WebDriver against a real
//! `legato-server`, with the `legato` CLI as a second device of the same account, and the
//! desktop edges (tray, notifications, keyring) on a private session bus.
//!
//! Run with `cargo xtask test e2e` (also part of `cargo xtask test`): Xvfb, `dbus-run-session`,
//! `keyctl session -`, the UI and the app built with `custom-protocol`, the CLI and the server
//! built, `REQUIRE_E2E=1`. `cargo test` lists these as ignored. One app at a time
//! (`--test-threads=1`, and a lock in [`support::exclusive`]).
//!
//! Screenshots: `target/e2e-artifacts/<test>/NN-<step>.png` (plus `app.log`, `driver.log`,
//! `server.log`, and on failure `failure.png` / `failure.html`).

mod conflicts;
mod desktop;
mod devices;
mod logbook;
mod repertoire;
mod shortcuts;
mod statistics;
mod support;
mod sync;
mod timer;
mod transfer;
