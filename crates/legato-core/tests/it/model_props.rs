//! Properties of the typed model: every valid state reads, and writes back valid.

use legato_core::model::{Goal, LogbookEntry, RepertoireItem};
use legato_core::validate_state;
use legato_protocol::{EntityId, EntityType};
use proptest::prelude::*;

use crate::config;
use crate::strategies::{any_fields, logbook_state};

proptest! {
    #![proptest_config(config())]

    #[test]
    fn valid_logbook_states_read_and_round_trip(state in logbook_state()) {
        let id = EntityId::new("e").unwrap();
        let entry = LogbookEntry::from_fields(id.clone(), &state).unwrap();
        let written = entry.to_fields();
        validate_state(EntityType::Logbook, &written).unwrap();
        prop_assert_eq!(LogbookEntry::from_fields(id, &written).unwrap(), entry);
        for (name, value) in &state {
            if name == "x-custom" {
                prop_assert_eq!(&written[name], value);
            }
        }
    }

    /// Any state that validates converts to the typed model: `from_fields` fails only with
    /// the validation error, never with a panic or a state validation accepted.
    #[test]
    fn from_fields_succeeds_exactly_on_valid_states(state in any_fields()) {
        let id = EntityId::new("e").unwrap();
        let pairs = [
            (EntityType::Logbook, LogbookEntry::from_fields(id.clone(), &state).map(|e| e.to_fields())),
            (EntityType::Repertoire, RepertoireItem::from_fields(id.clone(), &state).map(|e| e.to_fields())),
            (EntityType::Goals, Goal::from_fields(id.clone(), &state).map(|e| e.to_fields())),
        ];
        for (entity_type, converted) in pairs {
            let valid = validate_state(entity_type, &state).is_ok();
            prop_assert_eq!(converted.is_ok(), valid, "{}: {:?}", entity_type, converted);
            if let Ok(written) = converted {
                prop_assert!(validate_state(entity_type, &written).is_ok());
            }
        }
    }
}
