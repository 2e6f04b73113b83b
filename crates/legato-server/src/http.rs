//! The router and its handlers (PROTOCOL.md 5.2). Handlers are thin: extract, call the
//! store or the [`SyncService`](crate::sync::SyncService), shape the reply.

use std::collections::HashMap;
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use legato_protocol::{
    AuthResponse, BatchItemStatus, BatchResult, Change, ChangePasswordRequest, DeviceInfo,
    DevicesResponse, EntityType, ErrorBody, ErrorCode, MAX_BATCH_ITEMS, MAX_MESSAGE_BYTES,
    RegisterRequest,
};
use serde::Deserialize;
use serde_json::Value;
use tracing::Instrument;

use crate::AppState;
use crate::auth::{self, Token, TokenHash};
use crate::db::{ChangeOutcome, Database, DbError, FullUpdate, NewToken, NewUser, UserId};
use crate::error::{ApiError, ErrorMarker};
use crate::extract::{AuthUser, ClientIp, JsonBody, OriginAllowed};
use crate::ratelimit::retry_after_secs;
use crate::sync::now_ms;
use crate::ws::{Connection, WsConfig};

/// Default and largest `limit` of `GET /api/sync/changes`.
pub const DEFAULT_CHANGES_LIMIT: usize = 500;
pub const MAX_CHANGES_LIMIT: usize = 1000;

/// Per-connection WebSocket buffers: small, so an idle connection costs little. Frames and
/// messages are capped at the protocol's 1 MiB.
const WS_READ_BUFFER: usize = 4 * 1024;
const WS_MAX_WRITE_BUFFER: usize = 4 * MAX_MESSAGE_BYTES;

pub fn router<D: Database>(state: AppState<D>) -> Router {
    Router::new()
        .route("/api/auth/register", post(register::<D>))
        .route("/api/auth/login", post(login::<D>))
        .route("/api/auth/logout", post(logout::<D>))
        .route("/api/auth/password", post(change_password::<D>))
        .route("/api/devices", get(devices::<D>))
        .route("/api/devices/{id}", delete(revoke_device::<D>))
        .route("/api/sync/batch", post(batch::<D>))
        .route("/api/sync/changes", get(changes::<D>))
        .route("/sync", get(websocket::<D>))
        .route("/healthz", get(healthz::<D>))
        .route("/metrics", get(metrics::<D>))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_MESSAGE_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), observe::<D>))
        .with_state(state)
}

/// Logs every request at debug (path only: a query string may carry a refused token) and
/// counts error replies by code.
async fn observe<D: Database>(
    State(state): State<AppState<D>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    if let Some(ErrorMarker(code)) = response.extensions().get::<ErrorMarker>() {
        state.sync.count_error(*code);
    }
    let status = response.status().as_u16();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    if response.status().is_server_error() {
        tracing::warn!(%method, path, status, elapsed_ms, "request failed");
    } else {
        tracing::debug!(%method, path, status, elapsed_ms, "request");
    }
    response
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::invalid(format!("method {method} not allowed on {}", uri.path()))
        .with_status(StatusCode::METHOD_NOT_ALLOWED)
}

/// Takes one password attempt from the peer's budget (see [`crate::guard`]).
fn attempt<D: Database>(state: &AppState<D>, ip: ClientIp) -> Result<(), ApiError> {
    state
        .guard
        .attempt_from(ip.0, std::time::Instant::now())
        .map_err(too_many_attempts)
}

fn too_many_attempts(wait: std::time::Duration) -> ApiError {
    let secs = retry_after_secs(wait);
    ApiError::rate_limited(secs)
        .with_message(format!("too many sign-in attempts; try again in {secs} s"))
}

async fn register<D: Database>(
    State(state): State<AppState<D>>,
    ip: ClientIp,
    JsonBody(request): JsonBody<RegisterRequest>,
) -> Result<(StatusCode, Json<AuthResponse>), ApiError> {
    if !state.settings.open_registration {
        return Err(ApiError::unauthorized(
            "registration is closed on this server; ask its administrator for an account",
        )
        .with_status(StatusCode::FORBIDDEN));
    }
    attempt(&state, ip)?;
    let email = auth::normalize_email(&request.email)
        .map_err(|m| ApiError::invalid(format!("field `email`: {m}")))?;
    auth::check_new_password(&request.password)
        .map_err(|m| ApiError::invalid(format!("field `password`: {m}")))?;
    let password_hash = state
        .blocking_crypto(move || auth::hash_password(&request.password))
        .await?
        .map_err(|err| {
            tracing::error!(error = %err, "hashing a password");
            ApiError::internal()
        })?;
    let user_id = UserId::generate();
    let token = Token::generate();
    let now = now_ms();
    let created = state
        .sync
        .db
        .create_user(
            NewUser {
                id: user_id.clone(),
                email,
                password_hash,
                created_at_ms: now,
            },
            NewToken {
                hash: token.hash(),
                user_id: user_id.clone(),
                device_name: auth::clean_device_name(request.device_name.as_deref()),
                created_at_ms: now,
            },
        )
        .await;
    match created {
        Ok(()) => {}
        Err(DbError::EmailTaken) => {
            return Err(ApiError::new(
                ErrorCode::EmailTaken,
                "an account with this email already exists",
            ));
        }
        Err(err) => return Err(err.into()),
    }
    tracing::info!(user_id = %user_id, "registered");
    Ok((
        StatusCode::CREATED,
        Json(AuthResponse {
            user_id: user_id.0,
            token: token.into_string(),
        }),
    ))
}

async fn login<D: Database>(
    State(state): State<AppState<D>>,
    ip: ClientIp,
    JsonBody(request): JsonBody<RegisterRequest>,
) -> Result<Json<AuthResponse>, ApiError> {
    let wrong = || ApiError::unauthorized("wrong email or password");
    attempt(&state, ip)?;
    // A malformed email cannot have an account; answer like any wrong credentials.
    let email = auth::normalize_email(&request.email).ok();
    // Failed logins lock the email (known or not, so the answer tells nothing) for longer
    // and longer; checked before argon2 runs.
    let account = email.clone().unwrap_or_default();
    state
        .guard
        .account_open(&account, std::time::Instant::now())
        .map_err(too_many_attempts)?;
    let credentials = match &email {
        Some(email) => state.sync.db.credentials(email).await?,
        None => None,
    };
    let stored = credentials.as_ref().map(|c| c.password_hash.clone());
    let password = request.password;
    let verified = state
        .blocking_crypto(move || auth::verify_password(&password, stored.as_deref()))
        .await?;
    let Some(credentials) = credentials.filter(|_| verified) else {
        state.guard.failed(&account, std::time::Instant::now());
        return Err(wrong());
    };
    state.guard.succeeded(&account);
    let token = Token::generate();
    state
        .sync
        .db
        .insert_token(NewToken {
            hash: token.hash(),
            user_id: credentials.user_id.clone(),
            device_name: auth::clean_device_name(request.device_name.as_deref()),
            created_at_ms: now_ms(),
        })
        .await?;
    tracing::info!(user_id = %credentials.user_id, "logged in");
    Ok(Json(AuthResponse {
        user_id: credentials.user_id.0,
        token: token.into_string(),
    }))
}

async fn logout<D: Database>(
    State(state): State<AppState<D>>,
    user: AuthUser,
) -> Result<StatusCode, ApiError> {
    state
        .sync
        .db
        .revoke_token(user.token_hash, now_ms())
        .await?;
    let closed = state.sessions.end(user.token_hash);
    tracing::info!(user_id = %user.user_id, closed, "logged out");
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/devices`: the account's signed-in devices (live tokens), oldest first.
async fn devices<D: Database>(
    State(state): State<AppState<D>>,
    user: AuthUser,
) -> Result<Json<DevicesResponse>, ApiError> {
    let devices = state.sync.db.devices(&user.user_id).await?;
    Ok(Json(DevicesResponse {
        devices: devices
            .into_iter()
            .map(|device| DeviceInfo {
                current: device.token_hash == user.token_hash,
                id: device.id,
                name: device.name,
                client_id: device.client_id,
                created_at: device.created_ms,
                last_seen_at: device.last_used_ms,
            })
            .collect(),
    }))
}

/// `DELETE /api/devices/{id}`: signs that device out (its token is revoked and its live
/// connections close at once). `404` for an id the account has no live device under.
async fn revoke_device<D: Database>(
    State(state): State<AppState<D>>,
    user: AuthUser,
    Path(device_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let Some(hash) = state
        .sync
        .db
        .revoke_device(&user.user_id, &device_id, now_ms())
        .await?
    else {
        return Err(ApiError::not_found("no signed-in device with this id"));
    };
    let closed = state.sessions.end(hash);
    tracing::info!(user_id = %user.user_id, closed, "device revoked");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/auth/password`: checks the current password, sets the new one, and signs
/// every other device out (this one stays signed in).
async fn change_password<D: Database>(
    State(state): State<AppState<D>>,
    ip: ClientIp,
    user: AuthUser,
    JsonBody(request): JsonBody<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    attempt(&state, ip)?;
    // A stolen token must not be a way to guess the password without delays.
    let account = format!("user:{}", user.user_id);
    state
        .guard
        .account_open(&account, std::time::Instant::now())
        .map_err(too_many_attempts)?;
    auth::check_new_password(&request.new_password)
        .map_err(|m| ApiError::invalid(format!("field `newPassword`: {m}")))?;
    let stored = state.sync.db.password_hash(&user.user_id).await?;
    let current = request.current_password;
    let verified = state
        .blocking_crypto(move || auth::verify_password(&current, stored.as_deref()))
        .await?;
    if !verified {
        state.guard.failed(&account, std::time::Instant::now());
        return Err(ApiError::unauthorized("the current password is wrong"));
    }
    state.guard.succeeded(&account);
    let new = request.new_password;
    let password_hash = state
        .blocking_crypto(move || auth::hash_password(&new))
        .await?
        .map_err(|err| {
            tracing::error!(error = %err, "hashing a password");
            ApiError::internal()
        })?;
    let revoked = state
        .sync
        .db
        .change_password(&user.user_id, password_hash, user.token_hash, now_ms())
        .await?;
    let closed: usize = revoked.iter().map(|hash| state.sessions.end(*hash)).sum();
    tracing::info!(
        user_id = %user.user_id,
        revoked = revoked.len(),
        closed,
        "password changed"
    );
    Ok(StatusCode::NO_CONTENT)
}

/// A batch body before its items are checked one by one (public for the fuzz targets, which
/// parse bodies exactly as the handler does: `extract::parse_json`, then [`parse_item`]).
#[derive(Debug, Deserialize)]
pub struct RawBatch {
    pub items: Vec<Value>,
}

async fn batch<D: Database>(
    State(state): State<AppState<D>>,
    user: AuthUser,
    JsonBody(body): JsonBody<RawBatch>,
) -> Result<Json<legato_protocol::BatchResponse>, ApiError> {
    let span = tracing::info_span!("batch", user_id = %user.user_id, items = body.items.len());
    async move {
        if body.items.len() > MAX_BATCH_ITEMS {
            return Err(ApiError::too_large(format!(
                "a batch holds at most {MAX_BATCH_ITEMS} items, got {}",
                body.items.len()
            )));
        }
        if let Err(wait) = state.sync.check_rate(&user.user_id, body.items.len()) {
            return Err(ApiError::rate_limited(retry_after_secs(wait)));
        }
        // Items that do not parse are answered in place; the others are applied in order.
        let mut results: Vec<Option<BatchResult>> = Vec::with_capacity(body.items.len());
        let mut changes = Vec::with_capacity(body.items.len());
        for (index, item) in body.items.into_iter().enumerate() {
            match parse_item(index, item) {
                Ok(change) => {
                    results.push(None);
                    changes.push(change);
                }
                Err((change_id, error)) => {
                    state.sync.count_error(ErrorCode::Invalid);
                    results.push(Some(error_result(change_id, error)));
                }
            }
        }
        let change_ids: Vec<String> = changes.iter().map(|c| c.change_id.clone()).collect();
        let outcomes = state.sync.apply(&user.user_id, changes).await?;
        let mut outcomes = change_ids.into_iter().zip(outcomes);
        let results = results
            .into_iter()
            .map(|slot| match slot {
                Some(result) => result,
                None => {
                    let (change_id, outcome) = outcomes.next().expect("one outcome per change");
                    batch_result(change_id, outcome)
                }
            })
            .collect();
        Ok(Json(legato_protocol::BatchResponse { results }))
    }
    .instrument(span)
    .await
}

/// Reads one batch item; on failure, its change id (if any) and the `invalid` error.
pub fn parse_item(index: usize, item: Value) -> Result<Change, (String, ErrorBody)> {
    let change_id = item
        .get("changeId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    serde_path_to_error::deserialize::<_, Change>(item).map_err(|err| {
        let path = err.path().to_string();
        let message = if path == "." {
            format!("items[{index}]: {}", err.inner())
        } else {
            format!("items[{index}].{path}: {}", err.inner())
        };
        (
            change_id,
            ErrorBody {
                code: ErrorCode::Invalid,
                message,
            },
        )
    })
}

fn error_result(change_id: String, error: ErrorBody) -> BatchResult {
    BatchResult {
        change_id,
        status: BatchItemStatus::Error,
        version: None,
        seq: None,
        data: None,
        unchanged: false,
        conflict: None,
        error: Some(error),
    }
}

fn batch_result(change_id: String, outcome: ChangeOutcome) -> BatchResult {
    let result = |status| BatchResult {
        change_id,
        status,
        version: None,
        seq: None,
        data: None,
        unchanged: false,
        conflict: None,
        error: None,
    };
    match outcome {
        ChangeOutcome::Applied {
            version,
            seq,
            touched,
            unchanged,
            ..
        } => BatchResult {
            version: Some(version),
            seq: Some(seq),
            data: Some(touched),
            unchanged,
            ..result(BatchItemStatus::Applied)
        },
        ChangeOutcome::Duplicate {
            version,
            seq,
            touched,
            unchanged,
        } => BatchResult {
            version: Some(version),
            seq: Some(seq),
            data: Some(touched),
            unchanged,
            ..result(BatchItemStatus::Duplicate)
        },
        ChangeOutcome::Conflict(conflict) => BatchResult {
            conflict: Some(conflict),
            ..result(BatchItemStatus::Conflict)
        },
        ChangeOutcome::Rejected { code, message } => BatchResult {
            error: Some(ErrorBody { code, message }),
            ..result(BatchItemStatus::Error)
        },
    }
}

async fn changes<D: Database>(
    State(state): State<AppState<D>>,
    user: AuthUser,
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ChangesReply>, ApiError> {
    let Query(query) = query.map_err(|r| ApiError::invalid(r.body_text()))?;
    if let Err(wait) = state.sync.check_read_rate(&user.user_id) {
        return Err(ApiError::rate_limited(retry_after_secs(wait))
            .with_message("too many change pages read; slow down"));
    }
    let since = match query
        .get("since")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        None => 0,
        Some(s) => s.parse::<u64>().map_err(|_| {
            ApiError::invalid(format!(
                "query `since`: expected a non-negative integer, got `{s}`"
            ))
        })?,
    };
    let limit = match query
        .get("limit")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        None => DEFAULT_CHANGES_LIMIT,
        Some(s) => match s.parse::<usize>() {
            Ok(0) | Err(_) => {
                return Err(ApiError::invalid(format!(
                    "query `limit`: expected an integer from 1 to {MAX_CHANGES_LIMIT}, got `{s}`"
                )));
            }
            Ok(n) => n.min(MAX_CHANGES_LIMIT),
        },
    };
    let types = query
        .get("types")
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| t.parse::<EntityType>())
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
        .map_err(|e| ApiError::invalid(format!("query `types`: {e}")))?
        .unwrap_or_default();
    let page = state
        .sync
        .db
        .changes_since(&user.user_id, &types, since, limit)
        .await?;
    let seq = match (page.has_more, page.changes.last()) {
        (true, Some(last)) => last.seq,
        _ => page.latest_seq,
    };
    Ok(Json(ChangesReply {
        changes: page.changes,
        seq,
        has_more: page.has_more,
    }))
}

/// [`ChangesResponse`](legato_protocol::ChangesResponse) with the stored states passed
/// through unparsed: same fields, same order.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ChangesReply {
    changes: Vec<FullUpdate>,
    seq: u64,
    has_more: bool,
}

async fn websocket<D: Database>(
    State(state): State<AppState<D>>,
    _origin: OriginAllowed,
    user: AuthUser,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let upgrade = upgrade.map_err(|r| ApiError::invalid(r.body_text()).with_status(r.status()))?;
    let settings = &state.settings;
    let config = WsConfig {
        idle_timeout: settings.idle_timeout,
        write_timeout: settings.write_timeout,
        page_size: settings.catchup_page_size,
        outbound_queue: settings.outbound_queue,
    };
    let sync = state.sync.clone();
    let shutdown = state.shutdown.clone();
    let tracker = state.tracker.clone();
    let session = state
        .sessions
        .open(
            user.token_hash,
            &user.user_id,
            settings.max_connections_per_user,
        )
        .map_err(|err| ApiError::rate_limited(5).with_message(err.to_string()))?;
    let idle = settings.token_idle_timeout;
    Ok(upgrade
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(WS_MAX_WRITE_BUFFER)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| {
            tracker.track_future(
                Connection::new(socket, sync, user.user_id, config, shutdown)
                    .with_session(session, idle, user.client_id)
                    .run(),
            )
        }))
}

async fn healthz<D: Database>(State(state): State<AppState<D>>) -> Response {
    match state.sync.db.health().await {
        Ok(()) => (StatusCode::OK, Json(serde_json::json!({"status": "ok"}))).into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "health check failed");
            ApiError::new(ErrorCode::Internal, "store unavailable")
                .with_status(StatusCode::SERVICE_UNAVAILABLE)
                .into_response()
        }
    }
}

async fn metrics<D: Database>(State(state): State<AppState<D>>, headers: HeaderMap) -> Response {
    if let Some(expected) = &state.settings.metrics_token {
        // Compared as SHA-256 digests: the time taken says nothing about the token.
        match crate::extract::bearer_token(&headers) {
            Ok(token) if TokenHash::of(token) == *expected => {}
            Ok(_) => return ApiError::unauthorized("wrong metrics token").into_response(),
            Err(err) => return err.into_response(),
        }
    }
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        state.sync.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use legato_protocol::{ChangesResponse, EntityId, UpdateData};
    use serde_json::value::RawValue;

    use super::*;

    #[test]
    fn changes_reply_serializes_as_changes_response() {
        let stored = FullUpdate {
            entity_type: EntityType::Goals,
            entity_id: EntityId::new("g1").unwrap(),
            data: RawValue::from_string(r#"{"a":[1,2.5],"title":"é"}"#.to_owned()).unwrap(),
            version: 2,
            deleted: false,
            seq: 7,
            timestamp: 1,
            user_id: "ann".into(),
            client_id: "dev".into(),
            change_id: "c1".into(),
        };
        let update: UpdateData = stored.to_update_data().unwrap();
        let reply = ChangesReply {
            changes: vec![stored],
            seq: 7,
            has_more: true,
        };
        let expected = ChangesResponse {
            changes: vec![update],
            seq: 7,
            has_more: true,
        };
        assert_eq!(
            serde_json::to_string(&reply).unwrap(),
            serde_json::to_string(&expected).unwrap()
        );
    }
}
