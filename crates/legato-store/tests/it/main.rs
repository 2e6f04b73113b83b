//! Integration tests of the client store (one binary, one module per area).

mod conflicts;
mod durability;
mod edits;
mod handle;
mod invariant;
mod queries;
mod remote;
mod support;
mod sync;
