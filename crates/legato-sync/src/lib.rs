//! The client sync engine: everything a device does between its SQLite store and the sync
//! server. Decisions (what to send, when to retry, how healthy sync is) are pure functions of
//! state, table-tested here; the actor that executes them does the IO.
//!
//! Start one with [`SyncEngine::spawn`]; drive it through the cloneable [`SyncHandle`]
//! (`notify_local_change` after every store edit, `sync_now`, `pause`/`resume`,
//! `set_token`, `shutdown`, and the dead-letter/conflict helpers); watch [`SyncStatus`]
//! (a `watch` value) and [`SyncEvent`]s (a `broadcast` stream).
//!
//! Map:
//! - [`plan`]: what to send now (throttles, batch vs WebSocket, coalescing, in-flight window);
//! - [`backoff`]: reconnect delays; [`heartbeat`]: ping/pong liveness; [`health`]: metrics;
//! - [`compress`]: `$deflate` for long strings on the wire;
//! - `engine`: the actor loop; `transport`: WebSocket and HTTP IO;
//! - [`config`], [`status`], [`error`]: the public vocabulary.
//!
//! Behaviour worth knowing (choices the protocol leaves open):
//! - **Push, then pull.** After each (re)connect the engine sends `hello`, pushes every due
//!   change (throttles ignored) and waits for their answers, and only then `subscribe`s from
//!   the cursor. A conflict is thus settled against the base the change was made on; a
//!   catch-up applied first would move the base to the server's state and make the other
//!   device's edits invisible to the three-way merge.
//! - **Catch-up** is applied in pages of [`SyncConfig::catch_up_page`] full updates, one
//!   transaction each, the cursor moving in the same transaction. Partial updates arriving
//!   during a catch-up are covered by it and skipped. A version gap (a partial update not on
//!   the stored version, or an ack showing versions this device has not seen) re-subscribes
//!   from the cursor; `GET /api/sync/changes` is not used.
//! - **Own changes and the cursor.** The server never echoes a device's own change, so the
//!   cursor steps over the seq of an own ack once every lower seq is applied (never over an
//!   ack that showed a gap).
//! - **Sending** happens only once caught up (or while pushing after a connect). Changes
//!   are marked in flight before the bytes leave; a lost connection puts them back to pending
//!   without counting an attempt. A batch answered 429 is resent whole after `Retry-After`;
//!   a batch that fails on the network is resent with backoff; a batch refused as a whole
//!   (400/413) is resent change by change over the WebSocket. Batches are split to stay under
//!   the 1 MiB body limit; a single change over 1 MiB goes straight to the dead letters.
//! - **Refusals** go to the store's `record_rejection` (exponential backoff, the dead letters
//!   on the 3rd refusal of a permanent code; transient codes retry without limit).
//! - **What a server may send** is bounded (a hostile or broken one included): WebSocket
//!   messages and frames at most [`legato_protocol::MAX_MESSAGE_BYTES`], every HTTP reply
//!   body (batch answers, sign-in answers) read with the same cap as it streams in (error
//!   bodies with 64 KiB), whatever Content-Length says; past it the request fails with
//!   [`TooLarge`] (not retryable by the same request) and nothing of it is used. An oversize
//!   batch reply sends that batch's changes one by one over the WebSocket; an oversize frame
//!   ends the connection, which reconnects with backoff. `$deflate` values of updates inflate
//!   within the per-change budget of `legato_protocol::inflate_fields` (the store decodes
//!   them through `legato_core::decode_deflated`): an update over it is refused with its
//!   page, the cursor stays before it, and the pages queued after a refused one commit
//!   nothing (their cursor would step over it); the next connection catches up from there.
//! - **Credentials.** HTTP 401 (handshake or batch) stops reconnecting: status `SignedOut`
//!   until `set_token`. Everything else is retried forever with backoff.
//! - **Metrics.** One "sync" is one WebSocket change round trip, one batch request, or one
//!   completed catch-up. Failures: refused changes, failed batch requests, and a connection
//!   lost with changes in flight. Connection attempts to an unreachable server do not count
//!   (offline is normal; the status says `offline` and when the next attempt is due).
//! - **Time.** The planner, heartbeat and backoff run on Tokio's monotonic clock (so tests
//!   may pause it); the store's retry times are wall-clock milliseconds.

pub mod account;
pub mod backoff;
pub mod compress;
pub mod config;
mod engine;
pub mod error;
mod handle;
pub mod health;
pub mod heartbeat;
pub mod plan;
pub mod problem;
pub mod status;
mod transport;

pub use config::{ConfigError, ServerUrl, SyncConfig, WallClock, is_insecure_server};
pub use engine::SyncEngine;
pub use error::{SyncError, TooLarge, TransportError};
pub use handle::SyncHandle;
pub use health::{Health, SyncMetrics};
pub use legato_core::Strategy;
pub use plan::PlanConfig;
pub use problem::{ProblemKind, SyncProblem};
pub use status::{CatchUpProgress, ConnectionState, SyncEvent, SyncReport, SyncStatus};
