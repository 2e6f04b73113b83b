//! Request extractors that answer in the protocol's error shape: bearer authentication,
//! the WebSocket Origin allowlist, and JSON bodies with field paths in their errors.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, ORIGIN};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::auth::TokenHash;
use crate::db::{Database, TokenRecord, UserId};
use crate::error::ApiError;
use crate::sessions::token_touch_interval;
use crate::sync::now_ms;

/// The authenticated user of a request (`Authorization: Bearer <token>`).
///
/// A token unused for longer than `settings.token_idle_timeout` is revoked here and
/// refused (`unauthorized`, "expired"); a use records itself (`last_used_at`) when the last
/// record is older than [`token_touch_interval`], so a token in use never expires and the
/// writer sees at most one such write per token and interval.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: UserId,
    pub token_hash: TokenHash,
    /// The token's public id (`GET /api/devices`).
    pub device_id: String,
    /// The client id recorded for the token (last WebSocket `hello`).
    pub client_id: Option<String>,
}

impl<D: Database> FromRequestParts<AppState<D>> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState<D>) -> Result<Self, ApiError> {
        // Refused even when valid: URLs end up in logs, proxies and browser history.
        if query_has_token(parts.uri.query()) {
            return Err(ApiError::unauthorized(
                "tokens in the URL are refused; send an Authorization: Bearer header",
            ));
        }
        let token = bearer_token(&parts.headers)?;
        let token_hash = TokenHash::of(token);
        let Some(record) = state.sync.db.user_for_token(token_hash).await? else {
            return Err(ApiError::unauthorized("invalid or revoked token"));
        };
        let now = now_ms();
        match check_token_use(&record, now, state.settings.token_idle_timeout) {
            TokenUse::Fresh => {}
            TokenUse::Touch => state.sync.db.touch_token(token_hash, now, None).await?,
            TokenUse::Expired => {
                state.sync.db.revoke_token(token_hash, now).await?;
                state.sessions.end(token_hash);
                tracing::info!(user_id = %record.user_id, "token expired after being idle");
                return Err(ApiError::unauthorized(
                    "this sign-in expired after being unused for too long; sign in again",
                ));
            }
        }
        Ok(AuthUser {
            user_id: record.user_id,
            token_hash,
            device_id: record.device_id,
            client_id: record.client_id,
        })
    }
}

/// The peer's IP address, when the server runs with connect info (`serve` does; a router
/// driven in process has none).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip()),
        ))
    }
}

/// What a use of a live token at `now_ms` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenUse {
    /// Used recently and recorded recently: nothing to write.
    Fresh,
    /// Still valid; record this use.
    Touch,
    /// Unused for longer than the idle timeout: revoke it.
    Expired,
}

pub fn check_token_use(record: &TokenRecord, now_ms: i64, idle: Option<Duration>) -> TokenUse {
    let unused = Duration::from_millis(u64::try_from(now_ms - record.last_used_ms).unwrap_or(0));
    if idle.is_some_and(|idle| unused > idle) {
        TokenUse::Expired
    } else if unused >= token_touch_interval(idle) {
        TokenUse::Touch
    } else {
        TokenUse::Fresh
    }
}

pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer token"))?;
    let malformed =
        || ApiError::unauthorized("malformed Authorization header; expected `Bearer <token>`");
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(malformed());
    }
    Ok(token)
}

fn query_has_token(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&').any(|pair| {
            let key = pair.split('=').next().unwrap_or_default();
            key.eq_ignore_ascii_case("token") || key.eq_ignore_ascii_case("access_token")
        })
    })
}

/// Passes requests without `Origin` (native clients) and browser requests from an allowed
/// origin; refuses others with 403.
#[derive(Debug, Clone, Copy)]
pub struct OriginAllowed;

impl<D: Database> FromRequestParts<AppState<D>> for OriginAllowed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState<D>) -> Result<Self, ApiError> {
        let Some(origin) = parts.headers.get(ORIGIN) else {
            return Ok(OriginAllowed);
        };
        let allowed = origin.to_str().is_ok_and(|origin| {
            state
                .settings
                .allowed_origins
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(origin))
        });
        if allowed {
            Ok(OriginAllowed)
        } else {
            Err(ApiError::new(
                legato_protocol::ErrorCode::Unauthorized,
                "origin not allowed",
            )
            .with_status(StatusCode::FORBIDDEN))
        }
    }
}

/// A JSON body. Over 1 MiB: 413 `too_large`; malformed or mistyped: 400 `invalid` naming
/// the field path (`items[3].baseVersion: invalid type ...`). The content type is not checked.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<D: Database, T: DeserializeOwned> FromRequest<AppState<D>> for JsonBody<T> {
    type Rejection = ApiError;

    /// The whole body must arrive within `settings.body_timeout` (`408` otherwise), so a
    /// client trickling a body cannot hold a connection and its buffer for long.
    async fn from_request(req: Request, state: &AppState<D>) -> Result<Self, ApiError> {
        let timeout = state.settings.body_timeout;
        let read = tokio::time::timeout(timeout, Bytes::from_request(req, state));
        let bytes = read
            .await
            .map_err(|_| {
                ApiError::invalid(format!(
                    "the request body did not arrive within {} s",
                    timeout.as_secs_f64()
                ))
                .with_status(StatusCode::REQUEST_TIMEOUT)
            })?
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::too_large("request body larger than 1 MiB")
                } else {
                    ApiError::invalid(rejection.body_text())
                }
            })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Deserializes JSON with the failing field's path in the error message.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(json_error)?;
    de.end()
        .map_err(|e| ApiError::invalid(format!("malformed JSON: {e}")))?;
    Ok(value)
}

fn json_error(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    if inner.is_syntax() || inner.is_eof() {
        ApiError::invalid(format!("malformed JSON: {inner}"))
    } else if path == "." {
        ApiError::invalid(inner.to_string())
    } else {
        ApiError::invalid(format!("{path}: {inner}"))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use serde::Deserialize;

    use super::*;

    #[test]
    fn bearer_tokens_are_parsed_strictly() {
        let mut headers = HeaderMap::new();
        assert!(bearer_token(&headers).is_err());
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert_eq!(bearer_token(&headers).unwrap(), "abc");
        headers.insert(AUTHORIZATION, HeaderValue::from_static("bearer  abc "));
        assert_eq!(bearer_token(&headers).unwrap(), "abc");
        for bad in ["Basic abc", "Bearer", "Bearer ", "abc"] {
            headers.insert(AUTHORIZATION, HeaderValue::from_static(bad));
            assert!(bearer_token(&headers).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_in_the_query_are_spotted() {
        assert!(query_has_token(Some("token=x")));
        assert!(query_has_token(Some("since=1&access_token=x")));
        assert!(query_has_token(Some("TOKEN")));
        assert!(!query_has_token(Some("since=1&types=goals")));
        assert!(!query_has_token(Some("tokens=1")));
        assert!(!query_has_token(None));
    }

    #[test]
    fn json_errors_name_the_path() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Body {
            items: Vec<Item>,
        }
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Item {
            n: u32,
        }
        let err = parse_json::<Body>(br#"{"items":[{"n":1},{"n":"x"}]}"#).unwrap_err();
        assert!(
            err.message.starts_with("items[1].n: invalid type"),
            "{}",
            err.message
        );
        let err = parse_json::<Body>(b"{\"items\":").unwrap_err();
        assert!(err.message.starts_with("malformed JSON"), "{}", err.message);
        let err = parse_json::<Body>(b"{}").unwrap_err();
        assert!(
            err.message.contains("missing field `items`"),
            "{}",
            err.message
        );
        let err = parse_json::<Body>(br#"{"items":[]} trailing"#).unwrap_err();
        assert!(err.message.starts_with("malformed JSON"), "{}", err.message);
    }
}
