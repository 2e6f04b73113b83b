//! The Tauri commands: thin async adapters. Each deserializes its arguments, calls one
//! store, sync or session operation (SQLite runs on the store's thread through
//! `StoreHandle::call`), and maps the error to an [`IpcError`](crate::ipc::error::IpcError).
//! The list of commands, with their argument and result types, is `crate::ipc::contract`.

pub mod account;
pub mod conflicts;
pub mod goals;
pub mod logbook;
pub mod repertoire;
pub mod settings;
pub mod stats;
pub mod sync;
pub mod timer;
pub mod transfer;

use chrono::{DateTime, FixedOffset, Local, Utc};

/// The clock of the commands: now, and the device's current UTC offset (local days).
pub(crate) fn now() -> (DateTime<Utc>, FixedOffset) {
    (Utc::now(), *Local::now().offset())
}
