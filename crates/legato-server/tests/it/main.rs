//! Integration tests of `legato-server`: one binary, real servers on 127.0.0.1:0, real HTTP
//! and WebSocket clients; the PostgreSQL backend on a throw-away cluster (`pg.rs`).

mod abuse;
mod apply;
mod auth;
mod budgets;
mod catchup;
mod isolation;
mod limits;
mod multinode;
mod ops;
mod pg;
mod postgres;
mod prune;
mod sessions;
mod support;
