//! Integration tests of the sync engine against a real server (one binary, one module per
//! area). Each test starts its own server on 127.0.0.1:0 with a temp database and registers
//! its own account, so tests run in parallel without sharing state.

mod conflicts;
mod convergence;
mod hostile;
mod live;
mod network;
mod outbox;
mod pruning;
mod support;
mod zero_loss;
