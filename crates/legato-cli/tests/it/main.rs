//! Integration tests of the `legato` binary: the real command run against temp data
//! directories (one per device) and, where the network matters, a real `legato-server` on
//! 127.0.0.1:0. Tokens go to files (`LEGATO_KEYRING=file`).

mod account;
mod crash;
mod entities;
mod log;
mod status;
mod support;
mod sync;
mod transfer;
mod zero_loss;
