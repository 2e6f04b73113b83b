//! Typed access over `legato_core::model`: save and load [`LogbookEntry`],
//! [`RepertoireItem`] and [`Goal`] values, and edits with a rule beyond "set these fields".
//!
//! Saving diffs the *canonical* forms (`from_fields(stored).to_fields()` against
//! `edited.to_fields()`), as the model prescribes: a field another client spelled
//! differently (`...00Z` for `...00.000Z`, absent for `[]`) is not pushed as an edit the
//! user never made. Unknown fields survive in the models' `extra`.

use legato_core::model::PieceStatus;
use legato_core::{Goal, LogbookEntry, ModelError, RepertoireItem};
use legato_protocol::{EntityId, EntityType, Fields};
use serde_json::{Value, json};

use crate::edit::overlay_diff;
use crate::entity;
use crate::error::{Result, StoreError};
use crate::store::Store;
use crate::time::rfc3339_ms;

/// A typed entity of `legato_core::model`.
pub trait TypedEntity: Sized {
    const ENTITY_TYPE: EntityType;
    fn id(&self) -> &EntityId;
    fn to_fields(&self) -> Fields;
    fn from_fields(id: EntityId, fields: &Fields) -> Result<Self, ModelError>;
}

macro_rules! typed_entity {
    ($model:ty, $entity_type:expr) => {
        impl TypedEntity for $model {
            const ENTITY_TYPE: EntityType = $entity_type;
            fn id(&self) -> &EntityId {
                &self.id
            }
            fn to_fields(&self) -> Fields {
                <$model>::to_fields(self)
            }
            fn from_fields(id: EntityId, fields: &Fields) -> Result<Self, ModelError> {
                <$model>::from_fields(id, fields)
            }
        }
    };
}

typed_entity!(LogbookEntry, EntityType::Logbook);
typed_entity!(RepertoireItem, EntityType::Repertoire);
typed_entity!(Goal, EntityType::Goals);

impl Store {
    /// Saves a typed entity: creates it if its id is new, else queues the canonical
    /// difference (nothing if there is none). Returns the change id carrying the edit.
    pub fn save<T: TypedEntity>(&mut self, entity: &T, now_ms: i64) -> Result<Option<String>> {
        let exists = entity::load(&self.conn, T::ENTITY_TYPE, entity.id().as_str())?.is_some();
        if !exists {
            let edit = self.create_with_id(
                T::ENTITY_TYPE,
                entity.id().clone(),
                entity.to_fields(),
                now_ms,
            )?;
            return Ok(Some(edit.change_id));
        }
        let id = entity.id().clone();
        let edited = entity.to_fields();
        self.edit(T::ENTITY_TYPE, entity.id(), now_ms, |current| {
            let canonical = T::from_fields(id, current)?.to_fields();
            Ok(overlay_diff(current, &canonical, &edited))
        })
    }

    /// Loads a typed entity; `None` when it does not exist or is deleted.
    pub fn load<T: TypedEntity>(&self, id: &EntityId) -> Result<Option<T>> {
        match self.get(T::ENTITY_TYPE, id)? {
            Some(e) if !e.deleted => Ok(Some(T::from_fields(e.id, &e.state)?)),
            _ => Ok(None),
        }
    }

    /// Saves a logbook entry (see [`Store::save`]).
    pub fn save_logbook(&mut self, entry: &LogbookEntry, now_ms: i64) -> Result<Option<String>> {
        self.save(entry, now_ms)
    }

    /// Moves a repertoire item to `status` and records the move in its `statusHistory`
    /// (`{at, from, to}`), in one change. The history entry travels as `$addToSet`, which
    /// never conflicts: status moves made on two devices are both kept. `None` when the item
    /// already has that status.
    pub fn set_piece_status(
        &mut self,
        id: &EntityId,
        status: PieceStatus,
        now_ms: i64,
    ) -> Result<Option<String>> {
        let item: RepertoireItem = self.load(id)?.ok_or_else(|| StoreError::NotFound {
            entity_type: EntityType::Repertoire,
            id: id.to_string(),
        })?;
        if item.status == status {
            return Ok(None);
        }
        let entry =
            json!({"at": rfc3339_ms(now_ms), "from": item.status.as_str(), "to": status.as_str()});
        let mut patch = Fields::new();
        patch.insert(
            "status".to_owned(),
            Value::String(status.as_str().to_owned()),
        );
        patch.insert("statusHistory".to_owned(), json!({ "$addToSet": [entry] }));
        self.patch(EntityType::Repertoire, id, patch, now_ms)
    }
}
