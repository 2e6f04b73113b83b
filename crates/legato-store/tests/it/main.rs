//! Integration tests of the client store (one binary, one module per area).

mod conflict_base;
mod conflicts;
mod durability;
mod edits;
mod filter;
mod goals;
mod handle;
mod invariant;
mod migrations;
mod queries;
mod remote;
mod repertoire;
mod statistics;
mod support;
mod sync;
mod undo;
