//! Operations on field maps shared by server and client: patches with operators, diffs,
//! `$deflate` decoding.

use legato_protocol::Fields;

use crate::validate::ValidationError;

/// Replaces every `{"$deflate": ..}` value in `data` by its inflated string.
/// Error names the field whose value does not inflate to UTF-8.
pub fn decode_deflated(data: &Fields) -> Result<Fields, ValidationError> {
    let _ = data;
    todo!("core helper")
}

/// Applies a patch (plain values and `$inc`/`$addToSet`/`$pull`/`$deflate` operators) to a
/// state in place; returns the resulting values of the touched fields.
pub fn apply_patch(state: &mut Fields, patch: &Fields) -> Result<Fields, ValidationError> {
    let _ = (state, patch);
    todo!("core helper")
}

/// The fields of `new` that differ from `old` (a field absent from `new` but present in `old`
/// comes out as `null`): the `data` of an `update`.
pub fn diff_fields(old: &Fields, new: &Fields) -> Fields {
    let _ = (old, new);
    todo!("core helper")
}
