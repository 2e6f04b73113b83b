//! The client sync engine: everything a device does between its SQLite store and the sync
//! server. Decisions (what to send, when to retry, how healthy sync is) are pure functions of
//! state, table-tested here; the actor that executes them does the IO.

pub mod backoff;
pub mod health;
pub mod plan;
