//! Client-side conflict resolution of PROTOCOL.md section 4.
//!
//! Everything here is a pure function of its arguments, so two devices settling the same
//! conflict compute the same result. Choices the spec leaves open (see `docs/core-choices.md`):
//! - a field absent from a state counts as `null` when deciding what changed;
//! - a set merge keeps local order, then the new remote elements in remote order;
//! - a field rule that does not fit the values (`duration` that is not an integer on both
//!   sides, `notes` that is not text, a set field that is not an array) falls back to the
//!   last-write rule rather than inventing a value;
//! - `updatedAt` changed on both sides takes the later of the two;
//! - the remote write time is the remote state's `updatedAt`; without a parseable one the
//!   local edit wins (the user's edit is the one we are sure of).

use chrono::DateTime;
use legato_protocol::{ConflictData, FieldValue, Fields};
use serde_json::Value;

use crate::fields::{ValueSet, apply_patch, diff_fields, same_value};

/// How a client settles a conflict for one entity type.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
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
    /// This device's delete wins over the other device's edit: push the delete again, on
    /// `baseVersion = remoteVersion` (see [`delete_against_edit`]).
    Delete,
}

/// Fields merged as sets when both sides changed them (section 4, plus the goals'
/// `pieceIds`, which is the same kind of id list as `goalIds`).
pub const SET_FIELDS: [&str; 4] = ["tags", "techniques", "goalIds", "pieceIds"];

/// Separator between the local and the remote text when both sides changed `notes`.
pub const NOTES_SEPARATOR: &str = "\n\n---\n\n";

/// Three-way merge of full states: fields changed on one side take that side; fields
/// changed on both follow the field rules of section 4.
///
/// A field unchanged on the local side takes the remote value exactly (including its
/// absence), so `merge(base, base, remote) == remote`. Fields changed on both sides to the
/// same value take that value. Otherwise, by field name: `notes` concatenated
/// (`local + "\n\n---\n\n" + remote`, or the non-empty one), `duration` the larger, the
/// [`SET_FIELDS`] a three-way set merge, `updatedAt` the later time, and any other field the
/// later write: local only when `local_ts_ms > remote_ts_ms` (ties go to remote).
pub fn merge_three_way(
    base: &Fields,
    local: &Fields,
    remote: &Fields,
    local_ts_ms: i64,
    remote_ts_ms: i64,
) -> Fields {
    let clock = Clock {
        local_ts_ms,
        remote_ts_ms,
    };
    let mut names: Vec<&String> = base
        .keys()
        .chain(local.keys())
        .chain(remote.keys())
        .collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| {
            let sides = Sides {
                base: base.get(name),
                local: local.get(name),
                remote: remote.get(name),
            };
            merge_field(name, sides, clock).map(|value| (name.clone(), value))
        })
        .collect()
}

/// Fields every edit stamps. Two devices editing different fields of one entity always
/// "conflict" on these, which is bookkeeping, not a disagreement for the user to settle:
/// such a conflict is merged whatever the strategy.
pub const BOOKKEEPING_FIELDS: [&str; 1] = ["updatedAt"];

/// Settles `conflict` with `strategy`. `base` is the client's stored base (last
/// server-acknowledged) state, `local` its current full local state, `local_ts_ms` the time
/// of the local edit.
///
/// - `Local` pushes the rejected change's own fields again on the remote version: local
///   values win where this device made a change, and what other devices changed elsewhere is
///   kept (pushing the whole local state would revert their edits with stale values).
/// - `Remote` takes the server's values for the conflicting fields, and still pushes the
///   change's other fields, which conflicted with nothing (losing them would lose an edit the
///   server never disagreed with). Nothing left: `AcceptRemote`.
/// - `Merge` merges three-way (`base` None: an empty base, so every field both sides hold
///   with different values goes through the field rules) and pushes the merged fields that
///   differ from `remote`.
/// - `Manual` leaves the decision to the user.
/// - A conflict only on [`BOOKKEEPING_FIELDS`] is merged whatever the strategy.
/// - Nothing to push resolves to `AcceptRemote`.
/// - Commutative operations (`$inc`, `$addToSet`, `$pull`) of the change commute, whatever
///   the strategy: they are pushed again as operations, applied to the remote value, and
///   never replaced by a value computed from one side (that would lose the other side's
///   increment). Section 3: they never conflict.
///
/// When the remote entity was deleted, there is nothing to merge with: `Remote` accepts the
/// delete, `Manual` asks, and `Local` and `Merge` return [`Resolution::Recreate`] with the
/// local state, because an edit the user made must never be lost silently and the deleted
/// id cannot be brought back (section 2: no resurrection). A conflicted *delete* is settled
/// by [`delete_against_edit`] instead.
pub fn resolve_conflict(
    strategy: Strategy,
    base: Option<&Fields>,
    local: &Fields,
    conflict: &ConflictData,
    local_ts_ms: i64,
) -> Resolution {
    let remote = &conflict.remote;
    let strategy = if is_bookkeeping_only(conflict) && !conflict.remote_deleted {
        Strategy::Merge
    } else {
        strategy
    };
    let (ops, plain) = split_commutative(&conflict.local);
    let resolution = match strategy {
        Strategy::Manual => return Resolution::Manual,
        Strategy::Remote if conflict.remote_deleted => return Resolution::AcceptRemote,
        Strategy::Local | Strategy::Merge if conflict.remote_deleted => {
            return Resolution::Recreate {
                state: local.clone(),
            };
        }
        Strategy::Local => push_on_remote(remote, plain),
        Strategy::Remote => {
            let mut data = plain;
            data.retain(|field, _| !conflict.fields.contains(field));
            push_on_remote(remote, data)
        }
        Strategy::Merge => {
            let empty = Fields::new();
            let base = base.unwrap_or(&empty);
            // An operator's field is not a local value to merge: it takes the remote value,
            // and the operator is applied to it below.
            let mut local = local.clone();
            for name in ops.keys() {
                match base.get(name) {
                    Some(value) => local.insert(name.clone(), value.clone()),
                    None => local.remove(name),
                };
            }
            let remote_ts_ms = write_time_ms(remote).unwrap_or(i64::MIN);
            let merged = merge_three_way(base, &local, remote, local_ts_ms, remote_ts_ms);
            push_difference(remote, merged)
        }
    };
    reapply_commutative(resolution, remote, ops)
}

/// True when every conflicting field of `conflict` is a [`BOOKKEEPING_FIELDS`] field.
pub fn is_bookkeeping_only(conflict: &ConflictData) -> bool {
    conflict
        .fields
        .iter()
        .all(|field| BOOKKEEPING_FIELDS.contains(&field.as_str()))
}

/// True for the commutative operators of section 3 (`$inc`, `$addToSet`, `$pull`).
pub fn is_commutative(value: &Value) -> bool {
    matches!(
        FieldValue::classify(value),
        FieldValue::Inc(_) | FieldValue::AddToSet(_) | FieldValue::Pull(_)
    )
}

/// `data` split into its commutative operations and the rest.
fn split_commutative(data: &Fields) -> (Fields, Fields) {
    data.iter()
        .map(|(name, value)| (name.clone(), value.clone()))
        .partition(|(_, value)| is_commutative(value))
}

/// Adds the change's commutative operations to a resolution: pushed as operations, and the
/// local state shows them applied to the remote value.
fn reapply_commutative(resolution: Resolution, remote: &Fields, ops: Fields) -> Resolution {
    if ops.is_empty() {
        return resolution;
    }
    let (mut data, mut state) = match resolution {
        Resolution::Push { data, state } => (data, state),
        Resolution::AcceptRemote => (Fields::new(), remote.clone()),
        other => return other,
    };
    // An operator that does not apply to the remote value (a field whose type changed) is
    // still pushed: the server judges it, and a refusal ends in the dead letters, visible.
    let mut applied = state.clone();
    if apply_patch(&mut applied, &ops).is_ok() {
        state = applied;
    }
    data.extend(ops);
    Resolution::Push { data, state }
}

/// What a delete made on this device does against an edit another device made
/// concurrently (the server answered the delete, or an edit queued before it, with a
/// conflict). `None`: the user decides (`Manual`).
///
/// - `Local` ("keep mine"): the delete wins; it is pushed again on the remote version.
/// - `Remote`: the other device's edit wins; the entity stays.
/// - `Merge`: the edit wins too, and the user is told (an edit carries information a
///   delete does not; the user can delete again, while a lost edit is gone for good). See
///   `docs/core-choices.md`.
/// - A conflict only on [`BOOKKEEPING_FIELDS`] is no edit: the delete wins.
pub fn delete_against_edit(strategy: Strategy, conflict: &ConflictData) -> Option<DeleteRule> {
    if is_bookkeeping_only(conflict) {
        return Some(DeleteRule::DeleteWins);
    }
    match strategy {
        Strategy::Local => Some(DeleteRule::DeleteWins),
        Strategy::Remote | Strategy::Merge => Some(DeleteRule::EditWins),
        Strategy::Manual => None,
    }
}

/// The outcome of [`delete_against_edit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteRule {
    /// Push the delete again on the remote version.
    DeleteWins,
    /// Drop the delete; the entity stays with the other device's edit.
    EditWins,
}

/// Pushes `data` (a change's fields, operators allowed) on top of `remote`; only the fields
/// that would actually change anything are sent.
fn push_on_remote(remote: &Fields, data: Fields) -> Resolution {
    let mut state = remote.clone();
    if apply_patch(&mut state, &data).is_err() {
        // The server rejects such data anyway; keep what the server has.
        return Resolution::AcceptRemote;
    }
    push_difference(remote, state)
}

/// The write time of a state: its `updatedAt` in milliseconds since the epoch.
pub fn write_time_ms(state: &Fields) -> Option<i64> {
    parse_time_ms(state.get("updatedAt")?)
}

fn parse_time_ms(value: &Value) -> Option<i64> {
    let text = value.as_str()?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.timestamp_millis())
}

fn push_difference(remote: &Fields, state: Fields) -> Resolution {
    let data = diff_fields(remote, &state);
    if data.is_empty() {
        Resolution::AcceptRemote
    } else {
        Resolution::Push { data, state }
    }
}

#[derive(Debug, Clone, Copy)]
struct Clock {
    local_ts_ms: i64,
    remote_ts_ms: i64,
}

impl Clock {
    fn local_is_later(self) -> bool {
        self.local_ts_ms > self.remote_ts_ms
    }
}

/// One field's value on the three sides (`None`: absent).
#[derive(Debug, Clone, Copy)]
struct Sides<'a> {
    base: Option<&'a Value>,
    local: Option<&'a Value>,
    remote: Option<&'a Value>,
}

/// The merged value of one field; `None` leaves the field out.
fn merge_field(name: &str, sides: Sides<'_>, clock: Clock) -> Option<Value> {
    let local_changed = !same_value(sides.base, sides.local);
    let remote_changed = !same_value(sides.base, sides.remote);
    if !local_changed || (remote_changed && same_value(sides.local, sides.remote)) {
        return sides.remote.cloned();
    }
    if !remote_changed {
        return sides.local.cloned();
    }
    both_changed(name, sides).unwrap_or_else(|| later_write(sides, clock))
}

/// The section 4 rule for a field both sides changed to different values; `None` when the
/// field has no special rule or the values do not fit it.
fn both_changed(name: &str, sides: Sides<'_>) -> Option<Option<Value>> {
    match name {
        "notes" => concat_notes(sides.local, sides.remote),
        "duration" => larger(sides.local?, sides.remote?),
        "updatedAt" => later_time(sides.local?, sides.remote?),
        _ if SET_FIELDS.contains(&name) => set_merge(sides).map(Some),
        _ => None,
    }
}

fn later_write(sides: Sides<'_>, clock: Clock) -> Option<Value> {
    if clock.local_is_later() {
        sides.local.cloned()
    } else {
        sides.remote.cloned()
    }
}

/// Text of a `notes` value: `null` and absent are the empty text; `None` for a non-string.
fn note_text(value: Option<&Value>) -> Option<&str> {
    match value {
        None | Some(Value::Null) => Some(""),
        Some(Value::String(text)) => Some(text),
        Some(_) => None,
    }
}

fn concat_notes(local: Option<&Value>, remote: Option<&Value>) -> Option<Option<Value>> {
    let local_text = note_text(local)?;
    let remote_text = note_text(remote)?;
    Some(if local_text.is_empty() {
        remote.cloned()
    } else if remote_text.is_empty() {
        local.cloned()
    } else {
        Some(Value::String(format!(
            "{local_text}{NOTES_SEPARATOR}{remote_text}"
        )))
    })
}

fn larger(local: &Value, remote: &Value) -> Option<Option<Value>> {
    let winner = if local.as_i64()? > remote.as_i64()? {
        local
    } else {
        remote
    };
    Some(Some(winner.clone()))
}

/// The later of two date-times (ties to remote); if only one parses, that one.
fn later_time(local: &Value, remote: &Value) -> Option<Option<Value>> {
    let winner = match (parse_time_ms(local), parse_time_ms(remote)) {
        (Some(l), Some(r)) if l > r => local,
        (Some(_), Some(_)) | (None, Some(_)) => remote,
        (Some(_), None) => local,
        (None, None) => return None,
    };
    Some(Some(winner.clone()))
}

/// Elements of a set field: absent and `null` are the empty set; `None` for a non-array.
fn set_elements(value: Option<&Value>) -> Option<&[Value]> {
    match value {
        None | Some(Value::Null) => Some(&[]),
        Some(Value::Array(items)) => Some(items),
        Some(_) => None,
    }
}

/// Three-way set merge: an element survives if both sides have it, or if one side has it
/// and the base did not (an addition). An element of the base that either side removed is
/// gone. Order: local order, then the remote additions in remote order; no duplicates.
fn set_merge(sides: Sides<'_>) -> Option<Value> {
    // A base of the wrong type carries no set information: treat it as empty.
    let base = ValueSet::new(set_elements(sides.base).unwrap_or_default());
    let local_items = set_elements(sides.local)?;
    let remote_items = set_elements(sides.remote)?;
    let local = ValueSet::new(local_items);
    let remote = ValueSet::new(remote_items);

    let mut seen = ValueSet::new(&[]);
    let mut merged = Vec::new();
    let kept_local = local_items
        .iter()
        .filter(|item| remote.contains(item) || !base.contains(item));
    let added_remote = remote_items
        .iter()
        .filter(|item| !local.contains(item) && !base.contains(item));
    for item in kept_local.chain(added_remote) {
        if seen.insert(item) {
            merged.push(item.clone());
        }
    }
    Some(Value::Array(merged))
}

#[cfg(test)]
mod tests;
