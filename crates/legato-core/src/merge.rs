//! Client-side conflict resolution of PROTOCOL.md section 4.

use legato_protocol::{ConflictData, Fields};

/// How a client settles a conflict for one entity type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    Local,
    Remote,
    #[default]
    Merge,
    Manual,
}

/// What the client does about one conflict.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// Push an `update` with these fields (only those that differ from `remote`), on
    /// `baseVersion = remoteVersion`. The local state becomes `state`.
    Push { data: Fields, state: Fields },
    /// Take the server's state as is (nothing to push).
    AcceptRemote,
    /// The remote entity was deleted but the user's edit must not be lost: re-create it
    /// under a new id with this state (the caller picks the id).
    Recreate { state: Fields },
    /// Store the conflict and ask the user.
    Manual,
}

/// Three-way merge of full states: fields changed on one side take that side; fields
/// changed on both follow the field rules of section 4.
pub fn merge_three_way(base: &Fields, local: &Fields, remote: &Fields, local_ts_ms: i64, remote_ts_ms: i64) -> Fields {
    let _ = (base, local, remote, local_ts_ms, remote_ts_ms);
    todo!("core helper")
}

/// Settles `conflict` with `strategy`. `base` is the client's stored base (last
/// server-acknowledged) state, `local` its current full local state, `local_ts_ms` the time
/// of the local edit.
pub fn resolve_conflict(strategy: Strategy, base: Option<&Fields>, local: &Fields, conflict: &ConflictData, local_ts_ms: i64) -> Resolution {
    let _ = (strategy, base, local, conflict, local_ts_ms);
    todo!("core helper")
}
