//! The wire: opening the WebSocket (bearer token at the handshake) and `POST /api/sync/batch`.
//! Only IO lives here; the engine decides what to send.

use std::pin::Pin;
use std::time::Duration;

use futures_util::{Sink, Stream};
use legato_protocol::{BatchRequest, BatchResponse, Change, ErrorResponse, MAX_MESSAGE_BYTES};
use reqwest::{StatusCode, Url};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::config::{ServerUrl, SyncConfig};
use crate::error::{TooLarge, TransportError};

/// A WebSocket as the engine sees it: frames in, frames out. Boxed so the engine does not
/// care whether it is TLS, plain TCP or (in tests) something else.
pub trait WsSocket:
    Stream<Item = Result<Message, tungstenite::Error>>
    + Sink<Message, Error = tungstenite::Error>
    + Send
    + Unpin
{
}

impl<T> WsSocket for T where
    T: Stream<Item = Result<Message, tungstenite::Error>>
        + Sink<Message, Error = tungstenite::Error>
        + Send
        + Unpin
{
}

pub type Socket = Pin<Box<dyn WsSocket>>;

fn bearer(token: &str) -> Result<HeaderValue, TransportError> {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
        TransportError::Protocol("the token holds characters a header cannot".into())
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// Opens `/sync` with `Authorization: Bearer <token>`, within `timeout` (TCP, TLS and the
/// upgrade together).
pub async fn connect(url: &Url, token: &str, timeout: Duration) -> Result<Socket, TransportError> {
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|err| TransportError::Protocol(format!("bad WebSocket URL: {err}")))?;
    request.headers_mut().insert(AUTHORIZATION, bearer(token)?);
    // Section 6: no frame (and no message, fragments together) over 1 MiB either way. A
    // larger one ends the connection with `TransportError::TooLarge` before it is buffered.
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES));
    let attempt = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
    match tokio::time::timeout(timeout, attempt).await {
        Err(_) => Err(TransportError::Timeout("connecting")),
        Ok(Ok((socket, _response))) => Ok(Box::pin(socket)),
        Ok(Err(err)) => Err(handshake_error(err)),
    }
}

/// A failed read or write on an open WebSocket, typed: an oversize message or frame from the
/// server is [`TransportError::TooLarge`], not a network failure.
pub(crate) fn socket_error(err: tungstenite::Error) -> TransportError {
    match err {
        tungstenite::Error::Capacity(tungstenite::error::CapacityError::MessageTooLong {
            ..
        }) => TransportError::TooLarge(TooLarge {
            what: "WebSocket message",
            limit: MAX_MESSAGE_BYTES,
        }),
        other => TransportError::Network(other.to_string()),
    }
}

/// An error reply's body is read up to this much (its `{"error": ...}` is a few hundred
/// bytes); a larger one is ignored, the status still counts.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// Why a reply body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    TooLarge(TooLarge),
    Network(reqwest::Error),
}

/// Reads `response`'s body, at most `limit` bytes: a Content-Length over it is refused before
/// reading, and the body is counted as it streams in (a chunked or lying reply stops at the
/// first chunk past the cap), so no reply costs more than `limit` bytes of memory.
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
    what: &'static str,
) -> Result<Vec<u8>, BodyError> {
    let too_large = || BodyError::TooLarge(TooLarge { what, limit });
    let announced = response.content_length();
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(announced.map_or(0, |n| n as usize));
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Network)? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An error reply's body as text (empty when it is too large or cut off).
pub(crate) async fn error_body(response: reqwest::Response) -> String {
    match read_capped(response, ERROR_BODY_LIMIT, "error reply").await {
        Ok(body) => String::from_utf8_lossy(&body).into_owned(),
        Err(_) => String::new(),
    }
}

fn handshake_error(err: tungstenite::Error) -> TransportError {
    match err {
        tungstenite::Error::Http(response) => {
            let status = response.status().as_u16();
            if status == 401 {
                return TransportError::Unauthorized;
            }
            let body = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            http_error(status, &body)
        }
        other => TransportError::Network(other.to_string()),
    }
}

/// An HTTP error reply, with the protocol's `{"error": {code, message}}` read when present.
fn http_error(status: u16, body: &str) -> TransportError {
    match serde_json::from_str::<ErrorResponse>(body) {
        Ok(parsed) => TransportError::Http {
            status,
            code: Some(parsed.error.code),
            message: parsed.error.message,
        },
        Err(_) => TransportError::Http {
            status,
            code: None,
            message: body.chars().take(200).collect(),
        },
    }
}

/// Why a whole batch was not answered item by item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchFailure {
    /// HTTP 429: send the same batch again after this long (not a rejection of the changes).
    RateLimited(Duration),
    /// The server refused the request as a whole (400, 413): the items go one by one.
    Refused(TransportError),
    /// Network or server trouble (or 401): retry later.
    Transport(TransportError),
}

/// `POST /api/sync/batch` over a pooled client.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    batch_url: Url,
}

impl HttpClient {
    pub fn new(server: &ServerUrl, config: &SyncConfig) -> Result<Self, TransportError> {
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .tcp_nodelay(true)
            .build()
            .map_err(|err| TransportError::Network(format!("HTTP client: {err}")))?;
        Ok(HttpClient {
            client,
            batch_url: server.endpoint("api/sync/batch"),
        })
    }

    pub async fn post_batch(
        &self,
        token: &str,
        items: Vec<Change>,
    ) -> Result<BatchResponse, BatchFailure> {
        let response = self
            .client
            .post(self.batch_url.clone())
            .header(
                AUTHORIZATION,
                bearer(token).map_err(BatchFailure::Transport)?,
            )
            .json(&BatchRequest { items })
            .send()
            .await
            .map_err(|err| BatchFailure::Transport(request_error(&err)))?;
        let status = response.status();
        if status == StatusCode::OK {
            let body = match read_capped(response, MAX_MESSAGE_BYTES, "batch reply").await {
                Ok(body) => body,
                // The same request would get the same reply; smaller requests (the changes
                // one by one over the WebSocket, each answer a frame of its own) may not.
                Err(BodyError::TooLarge(too_large)) => {
                    return Err(BatchFailure::Refused(TransportError::TooLarge(too_large)));
                }
                Err(BodyError::Network(err)) => {
                    return Err(BatchFailure::Transport(request_error(&err)));
                }
            };
            return serde_json::from_slice::<BatchResponse>(&body).map_err(|err| {
                BatchFailure::Transport(TransportError::Protocol(format!("batch reply: {err}")))
            });
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = error_body(response).await;
        let error = http_error(status.as_u16(), &body);
        Err(match status {
            StatusCode::UNAUTHORIZED => BatchFailure::Transport(TransportError::Unauthorized),
            StatusCode::TOO_MANY_REQUESTS => {
                BatchFailure::RateLimited(retry_after.unwrap_or(Duration::from_secs(1)))
            }
            StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => BatchFailure::Refused(error),
            _ => BatchFailure::Transport(error),
        })
    }
}

fn request_error(err: &reqwest::Error) -> TransportError {
    if err.is_timeout() {
        TransportError::Timeout("HTTP request")
    } else {
        // Without the URL: it is ours and adds nothing; the token is never in it anyway.
        TransportError::Network(strip_url(err))
    }
}

fn strip_url(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    if let Some(url) = err.url() {
        text = text.replace(url.as_str(), "<server>");
    }
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use legato_protocol::ErrorCode;

    use super::*;

    #[test]
    fn http_errors_read_the_protocol_body() {
        let err = http_error(
            413,
            r#"{"error":{"code":"too_large","message":"body over 1 MiB"}}"#,
        );
        assert_eq!(
            err,
            TransportError::Http {
                status: 413,
                code: Some(ErrorCode::TooLarge),
                message: "body over 1 MiB".into()
            }
        );
        let plain = http_error(502, "bad gateway");
        assert!(matches!(plain, TransportError::Http { code: None, .. }));
        assert!(plain.to_string().contains("502"));
    }

    #[test]
    fn an_oversize_websocket_message_is_typed() {
        let err = socket_error(tungstenite::Error::Capacity(
            tungstenite::error::CapacityError::MessageTooLong {
                size: MAX_MESSAGE_BYTES + 1,
                max_size: MAX_MESSAGE_BYTES,
            },
        ));
        assert_eq!(
            err,
            TransportError::TooLarge(TooLarge {
                what: "WebSocket message",
                limit: MAX_MESSAGE_BYTES
            })
        );
        assert!(!err.is_retryable());
        assert!(matches!(
            socket_error(tungstenite::Error::ConnectionClosed),
            TransportError::Network(_)
        ));
    }

    #[test]
    fn bearer_headers_are_sensitive() {
        assert!(bearer("abc").unwrap().is_sensitive());
        assert!(bearer("bad\ntoken").is_err());
    }
}
