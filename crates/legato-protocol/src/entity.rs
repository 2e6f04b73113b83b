use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The kinds of synced records (section 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityType {
    Logbook,
    Repertoire,
    Goals,
}

impl EntityType {
    pub const ALL: [EntityType; 3] = [
        EntityType::Logbook,
        EntityType::Repertoire,
        EntityType::Goals,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntityType::Logbook => "logbook",
            EntityType::Repertoire => "repertoire",
            EntityType::Goals => "goals",
        }
    }
}

impl fmt::Display for EntityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown entity type `{0}` (expected logbook, repertoire or goals)")]
pub struct UnknownEntityType(pub String);

impl FromStr for EntityType {
    type Err = UnknownEntityType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EntityType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownEntityType(s.to_owned()))
    }
}

/// An entity id: 1 to 64 characters of `[A-Za-z0-9_-]`, chosen by the client.
///
/// Validated on construction and on deserialization, so a value of this type is always a
/// legal id (a malformed id in a message fails parsing with a clear error).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EntityId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntityIdError {
    #[error("entity id must be 1 to 64 characters, got {0}")]
    Length(usize),
    #[error("entity id may contain only A-Z, a-z, 0-9, '_' and '-'")]
    Character,
}

impl EntityId {
    pub const MAX_LEN: usize = 64;

    pub fn new(id: impl Into<String>) -> Result<Self, EntityIdError> {
        let id = id.into();
        if id.is_empty() || id.len() > Self::MAX_LEN {
            return Err(EntityIdError::Length(id.chars().count()));
        }
        if !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(EntityIdError::Character);
        }
        Ok(EntityId(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for EntityId {
    type Error = EntityIdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        EntityId::new(value)
    }
}

impl From<EntityId> for String {
    fn from(value: EntityId) -> Self {
        value.0
    }
}

impl FromStr for EntityId {
    type Err = EntityIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EntityId::new(s)
    }
}

impl AsRef<str> for EntityId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_ids_are_validated() {
        assert!(EntityId::new("0193a1b2-c3d4_x").is_ok());
        assert_eq!(EntityId::new(""), Err(EntityIdError::Length(0)));
        assert_eq!(
            EntityId::new("a".repeat(65)),
            Err(EntityIdError::Length(65))
        );
        assert!(EntityId::new("a".repeat(64)).is_ok());
        assert_eq!(EntityId::new("a b"), Err(EntityIdError::Character));
        assert_eq!(EntityId::new("é"), Err(EntityIdError::Character));
        let err = serde_json::from_str::<EntityId>("\"a/b\"").unwrap_err();
        assert!(err.to_string().contains("may contain only"), "{err}");
    }

    #[test]
    fn entity_types_parse_and_print() {
        for t in EntityType::ALL {
            assert_eq!(t.as_str().parse::<EntityType>().unwrap(), t);
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{t}\""));
        }
        assert!("goal".parse::<EntityType>().is_err());
    }
}
