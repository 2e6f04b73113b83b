//! Integration tests of `legato-server`: one binary, real servers on 127.0.0.1:0, real HTTP
//! and WebSocket clients.

mod abuse;
mod apply;
mod auth;
mod budgets;
mod catchup;
mod isolation;
mod limits;
mod ops;
mod prune;
mod sessions;
mod support;
