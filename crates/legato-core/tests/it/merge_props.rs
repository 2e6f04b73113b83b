//! Properties of the three-way merge (PROTOCOL.md section 4).

use legato_core::merge_three_way;
use proptest::prelude::*;
use serde_json::Value;

use crate::config;
use crate::strategies::{EDITABLE, TAG_POOL, logbook_state, with_field_of};

fn timestamps() -> impl Strategy<Value = (i64, i64)> {
    (0..3_i64, 0..3_i64)
}

fn tags(state: &legato_core::Fields) -> Vec<Value> {
    state
        .get("tags")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn merge_is_deterministic(
        base in logbook_state(), local in logbook_state(), remote in logbook_state(),
        (lt, rt) in timestamps(),
    ) {
        let first = merge_three_way(&base, &local, &remote, lt, rt);
        let second = merge_three_way(&base.clone(), &local.clone(), &remote.clone(), lt, rt);
        prop_assert_eq!(first, second);
    }

    #[test]
    fn an_unchanged_side_yields_the_other(
        base in logbook_state(), other in logbook_state(), (lt, rt) in timestamps(),
    ) {
        prop_assert_eq!(&merge_three_way(&base, &base, &other, lt, rt), &other);
        prop_assert_eq!(&merge_three_way(&base, &other, &base, lt, rt), &other);
    }

    #[test]
    fn edits_to_different_fields_both_survive(
        base in logbook_state(), edits in logbook_state(),
        fields in prop::sample::subsequence(EDITABLE, 2).prop_shuffle(),
        (lt, rt) in timestamps(),
    ) {
        let (local_field, remote_field) = (fields[0], fields[1]);
        let local = with_field_of(&base, local_field, &edits);
        let remote = with_field_of(&base, remote_field, &edits);
        let expected = with_field_of(&local, remote_field, &edits);
        prop_assert_eq!(merge_three_way(&base, &local, &remote, lt, rt), expected);
    }

    #[test]
    fn a_set_element_removed_on_one_side_stays_removed(
        base in logbook_state(), remote_edits in logbook_state(),
        pick in any::<prop::sample::Index>(), added in prop::sample::subsequence(TAG_POOL, 0..3),
        local_removes in any::<bool>(), (lt, rt) in timestamps(),
    ) {
        let base_tags = tags(&base);
        prop_assume!(!base_tags.is_empty());
        let removed = base_tags[pick.index(base_tags.len())].clone();

        let mut remover = base.clone();
        let kept: Vec<Value> = base_tags.iter().filter(|t| **t != removed).cloned().collect();
        remover.insert("tags".into(), Value::Array(kept));

        // The other side leaves the element in place but may add tags and edit other fields.
        let mut keeper = remote_edits.clone();
        let mut keeper_tags = base_tags.clone();
        keeper_tags.extend(added.iter().map(|t| Value::from(*t)).filter(|t| *t != removed));
        keeper.insert("tags".into(), Value::Array(keeper_tags));

        let (local, remote) = if local_removes { (remover, keeper) } else { (keeper, remover) };
        let merged = merge_three_way(&base, &local, &remote, lt, rt);
        prop_assert!(!tags(&merged).contains(&removed), "{removed} came back: {merged:?}");
    }

    #[test]
    fn merged_sets_have_no_duplicates_and_keep_additions(
        base in logbook_state(), local in logbook_state(), remote in logbook_state(),
        (lt, rt) in timestamps(),
    ) {
        let merged = tags(&merge_three_way(&base, &local, &remote, lt, rt));
        let mut unique = merged.clone();
        unique.sort_by_key(ToString::to_string);
        unique.dedup();
        prop_assert_eq!(unique.len(), merged.len());
        let base_tags = tags(&base);
        for tag in tags(&local).iter().chain(tags(&remote).iter()) {
            if !base_tags.contains(tag) {
                prop_assert!(merged.contains(tag), "addition {tag} lost");
            }
        }
    }
}
