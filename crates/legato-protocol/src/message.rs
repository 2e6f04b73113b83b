//! Messages and payloads of sections 3 to 6.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{EntityId, EntityType, Fields};

/// What a change does to its entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Create,
    Update,
    Delete,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
        }
    }
}

/// One change pushed by a client (section 3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub change_id: String,
    pub entity_type: EntityType,
    pub entity_id: EntityId,
    pub operation: Operation,
    /// Full state for `create`, only the changed fields for `update`, `{}` for `delete`.
    #[serde(default)]
    pub data: Fields,
    #[serde(default)]
    pub base_version: u64,
    pub client_id: String,
    /// When the user made the edit: milliseconds since the Unix epoch, client clock.
    pub timestamp: i64,
}

/// A change as applied by the server: `update` messages and the items of
/// `GET /api/sync/changes` (section 5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateData {
    pub entity_type: EntityType,
    pub entity_id: EntityId,
    pub data: Fields,
    pub version: u64,
    pub deleted: bool,
    pub seq: u64,
    pub timestamp: i64,
    pub user_id: String,
    pub client_id: String,
    pub change_id: String,
    /// `true`: `data` is the whole state (catch-up). `false`: only the changed fields, to be
    /// applied on version `version - 1`.
    pub full: bool,
}

/// A change that was not applied (section 4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConflictData {
    pub change_id: String,
    pub entity_type: EntityType,
    pub entity_id: EntityId,
    pub base_version: u64,
    pub remote_version: u64,
    pub remote_deleted: bool,
    /// The pushed data.
    pub local: Fields,
    /// The server's full current state (for a deleted entity: the last state before the delete).
    pub remote: Fields,
    pub fields: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AckStatus {
    Applied,
    Duplicate,
}

/// Error codes of section 6.
///
/// `internal` is this project's addition for a server fault (HTTP 500): the spec lists no code
/// for it. `change_id_reused` is another: a seen `changeId` pushed again with different
/// content (a device restored from a copy of another's data can do that), refused rather
/// than answered `duplicate`, which would silently drop the new content. Codes this version does not know parse as [`ErrorCode::Unknown`] so an older client
/// survives a newer server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    Unauthorized,
    Invalid,
    NotFound,
    TooLarge,
    RateLimited,
    EmailTaken,
    Conflict,
    Internal,
    ChangeIdReused,
    /// The account's storage quota is used up: the change is kept and sent again later
    /// (transient), when something was deleted or the quota raised.
    QuotaExceeded,
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Invalid => "invalid",
            ErrorCode::NotFound => "not_found",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::EmailTaken => "email_taken",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Internal => "internal",
            ErrorCode::ChangeIdReused => "change_id_reused",
            ErrorCode::QuotaExceeded => "quota_exceeded",
            ErrorCode::Unknown => "unknown",
        }
    }

    /// The code named `name` (its wire form); [`ErrorCode::Unknown`] for any other name.
    pub fn from_name(name: &str) -> ErrorCode {
        [
            ErrorCode::Unauthorized,
            ErrorCode::Invalid,
            ErrorCode::NotFound,
            ErrorCode::TooLarge,
            ErrorCode::RateLimited,
            ErrorCode::EmailTaken,
            ErrorCode::Conflict,
            ErrorCode::Internal,
            ErrorCode::ChangeIdReused,
            ErrorCode::QuotaExceeded,
        ]
        .into_iter()
        .find(|code| code.as_str() == name)
        .unwrap_or(ErrorCode::Unknown)
    }

    /// The HTTP status that carries this code (section 6).
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::Unauthorized => 401,
            ErrorCode::Invalid => 400,
            ErrorCode::NotFound => 404,
            ErrorCode::TooLarge => 413,
            ErrorCode::QuotaExceeded => 507,
            ErrorCode::RateLimited => 429,
            ErrorCode::EmailTaken => 409,
            ErrorCode::Conflict | ErrorCode::ChangeIdReused => 409,
            ErrorCode::Internal | ErrorCode::Unknown => 500,
        }
    }

    /// Whether the same request may succeed later without being changed (a client queue
    /// retries these and never dead-letters them).
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorCode::RateLimited
                | ErrorCode::Internal
                | ErrorCode::QuotaExceeded
                | ErrorCode::Unknown
        )
    }
}

#[cfg(test)]
mod error_code_tests {
    use super::ErrorCode;

    #[test]
    fn names_read_back_as_their_code_and_agree_with_serde() {
        for name in [
            "unauthorized",
            "invalid",
            "not_found",
            "too_large",
            "rate_limited",
            "email_taken",
            "conflict",
            "internal",
            "change_id_reused",
            "quota_exceeded",
            "something_new",
        ] {
            let code = ErrorCode::from_name(name);
            let serde: ErrorCode = serde_json::from_value(serde_json::json!(name)).unwrap();
            assert_eq!(code, serde, "{name}");
            if code != ErrorCode::Unknown {
                assert_eq!(code.as_str(), name);
            }
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Messages a client sends over the WebSocket (section 5.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum ClientMessage {
    Hello {
        client_id: String,
        protocol: u32,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        compress: bool,
    },
    Subscribe {
        entities: Vec<EntityType>,
        since: u64,
    },
    Sync {
        data: Change,
    },
    Ping,
}

/// Messages the server sends over the WebSocket (section 5.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum ServerMessage {
    Update {
        data: UpdateData,
    },
    Ack {
        change_id: String,
        status: AckStatus,
        version: u64,
        seq: u64,
        data: Fields,
        /// The change wrote nothing (rule 6), also when answered `duplicate`: `seq` is then
        /// the entity's last change, possibly another device's, not one of the client's own,
        /// so a client must not count it as such (its cursor would step over an update it
        /// has not applied). Omitted when false, so every other ack is the same bytes as
        /// before the field existed, and an older server's acks read as `false`.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        unchanged: bool,
    },
    Conflict {
        data: ConflictData,
    },
    SyncComplete {
        seq: u64,
        timestamp: i64,
    },
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        change_id: Option<String>,
    },
    Pong,
}

const CLIENT_TYPES: &[&str] = &["hello", "subscribe", "sync", "ping"];
const SERVER_TYPES: &[&str] = &[
    "update",
    "ack",
    "conflict",
    "sync_complete",
    "error",
    "pong",
];

/// Why a frame is not a message: every case maps to the `invalid` error code, with a message
/// that names the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("malformed JSON: {0}")]
    Malformed(String),
    #[error("a message must be a JSON object with a string field `type`")]
    MissingType,
    #[error("unknown message type `{0}`")]
    UnknownType(String),
    #[error("invalid `{kind}` message: {detail}")]
    InvalidFields { kind: String, detail: String },
}

/// The `type` of a frame, read without building the rest: the other fields are skipped
/// (still checked to be JSON), so a frame is parsed into its message in one more pass only,
/// instead of a `Value` tree plus serde's buffered copy of it.
struct Tag(Option<Value>);

impl<'de> Deserialize<'de> for Tag {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Tag;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Tag, A::Error> {
                let mut kind = None;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key == "type" {
                        // The last one wins, as in a `Value` parse.
                        kind = Some(map.next_value::<Value>()?);
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(Tag(kind))
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

/// Checks the frame is JSON with a known `type`; returns the type.
fn frame_type(text: &str, known: &[&'static str]) -> Result<&'static str, MessageError> {
    let kind = match serde_json::from_str::<Tag>(text) {
        Ok(Tag(kind)) => kind,
        // Valid JSON that is not an object.
        Err(e) if e.classify() == serde_json::error::Category::Data => None,
        Err(e) => return Err(MessageError::Malformed(e.to_string())),
    };
    let kind = kind
        .as_ref()
        .and_then(Value::as_str)
        .ok_or(MessageError::MissingType)?;
    known
        .iter()
        .find(|k| **k == kind)
        .copied()
        .ok_or_else(|| MessageError::UnknownType(kind.to_owned()))
}

fn invalid(kind: &str) -> impl FnOnce(serde_json::Error) -> MessageError + '_ {
    move |e| MessageError::InvalidFields {
        kind: kind.to_owned(),
        detail: e.to_string(),
    }
}

/// `{"type": ..., "data": ...}` frames parsed straight into their payload: the hot ones
/// (`update` on clients, `sync` on the server) skip serde's buffering of tagged enums.
#[derive(Deserialize)]
struct DataFrame<T> {
    data: T,
}

impl ClientMessage {
    /// Parses one text frame. Never panics; every failure is a typed [`MessageError`].
    pub fn parse(text: &str) -> Result<Self, MessageError> {
        let kind = frame_type(text, CLIENT_TYPES)?;
        if kind == "sync" {
            let frame: DataFrame<Change> = serde_json::from_str(text).map_err(invalid(kind))?;
            return Ok(ClientMessage::Sync { data: frame.data });
        }
        serde_json::from_str(text).map_err(invalid(kind))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("protocol types always serialize")
    }
}

impl ServerMessage {
    /// Parses one text frame. Never panics; every failure is a typed [`MessageError`].
    pub fn parse(text: &str) -> Result<Self, MessageError> {
        let kind = frame_type(text, SERVER_TYPES)?;
        if kind == "update" {
            let frame: DataFrame<UpdateData> = serde_json::from_str(text).map_err(invalid(kind))?;
            return Ok(ServerMessage::Update { data: frame.data });
        }
        serde_json::from_str(text).map_err(invalid(kind))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("protocol types always serialize")
    }

    pub fn error(code: ErrorCode, message: impl Into<String>, change_id: Option<String>) -> Self {
        ServerMessage::Error {
            code,
            message: message.into(),
            change_id,
        }
    }
}

/// `POST /api/auth/register` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterRequest {
    pub email: String,
    pub password: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
}

/// `POST /api/auth/login` body (same shape as register).
pub type LoginRequest = RegisterRequest;

/// `POST /api/auth/password` body: the current password again, and the new one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

/// One signed-in device of `GET /api/devices`: a live token of the account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceInfo {
    /// The device's public id (`DELETE /api/devices/{id}`); not the token.
    pub id: String,
    /// The device name given at login or registration.
    #[serde(default)]
    pub name: Option<String>,
    /// The `clientId` of the last WebSocket `hello` made with this token.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Milliseconds since the Unix epoch, server clock.
    pub created_at: i64,
    pub last_seen_at: i64,
    /// The token of this request.
    pub current: bool,
}

/// Reply to `GET /api/devices`, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DevicesResponse {
    pub devices: Vec<DeviceInfo>,
}

/// Reply to register and login.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthResponse {
    pub user_id: String,
    pub token: String,
}

/// `POST /api/sync/batch` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchRequest {
    pub items: Vec<Change>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BatchItemStatus {
    Applied,
    Duplicate,
    Conflict,
    Error,
}

/// One result of a batch, in item order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResult {
    pub change_id: String,
    pub status: BatchItemStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Fields>,
    /// As [`ServerMessage::Ack`]'s `unchanged`: the change wrote nothing (rule 6) and `seq`
    /// is not the client's own. Omitted when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unchanged: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict: Option<ConflictData>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchResponse {
    pub results: Vec<BatchResult>,
}

/// `GET /api/sync/changes` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangesResponse {
    pub changes: Vec<UpdateData>,
    /// The `since` of the next call.
    pub seq: u64,
    pub has_more: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

/// Every HTTP error body: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub error: ErrorBody,
}

impl ErrorResponse {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorResponse {
            error: ErrorBody {
                code,
                message: message.into(),
            },
        }
    }
}
