//! Wire types of the Legato sync protocol, version 1 (`shared/PROTOCOL.md`, mirrored with the
//! project's own choices in `docs/PROTOCOL-NOTES.md`).
//!
//! This crate is the only place that defines what goes on the wire. It holds serde types with
//! the exact JSON names of the spec, a parser for client/server messages that turns unknown
//! message types into a typed error, and the value encodings of section 3 (`$inc`,
//! `$addToSet`, `$pull`, `$deflate`). It does no IO and knows nothing of storage.

mod entity;
mod message;
mod value;

pub use entity::{EntityId, EntityIdError, EntityType, UnknownEntityType};
pub use message::{
    AckStatus, AuthResponse, BatchItemStatus, BatchRequest, BatchResponse, BatchResult, Change,
    ChangePasswordRequest, ChangesResponse, ClientMessage, ConflictData, DeviceInfo,
    DevicesResponse, ErrorBody, ErrorCode, ErrorResponse, LoginRequest, MessageError, Operation,
    RegisterRequest, ServerMessage, UpdateData,
};
pub use value::{
    FieldInflateError, FieldValue, InflateError, MAX_INFLATED_BYTES_PER_CHANGE,
    check_inflate_budget, deflate_string, has_deflated, inflate_fields, inflate_string,
};

/// The protocol version this crate speaks (`hello.protocol`).
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest HTTP body or WebSocket frame either side accepts (section 6).
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// Largest number of changes in one `POST /api/sync/batch` (section 5.2).
pub const MAX_BATCH_ITEMS: usize = 500;

/// Strings above this many characters are worth sending as `$deflate` (section 3).
pub const DEFLATE_THRESHOLD_CHARS: usize = 1000;

/// The fields of an entity state, or the changed fields of an update: a JSON object.
/// Unknown fields are kept verbatim, so this is a map rather than a struct.
pub type Fields = serde_json::Map<String, serde_json::Value>;
