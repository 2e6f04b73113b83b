//! Several server nodes on one PostgreSQL database: the bus between them
//! (docs/server-choices.md, "Several nodes").
//!
//! Every commit that writes sends, in its own transaction, a `NOTIFY` on [`POKE_CHANNEL`]
//! carrying `"<user id> <seq>"` (the user's seq after the commit), and every token revoke
//! one on [`REVOKE_CHANNEL`] carrying the token's hash in hex; PostgreSQL delivers them at
//! the commit, and only if it commits. Each node `LISTEN`s on both on one connection of its
//! own ([`spawn`]). A poke is only a hint: the [`Hub`] asks for a pull when one of its
//! connections lacks changes, and the puller reads them from the database (the truth) and
//! hands them out, so a poke missed, coalesced or stale costs latency, never a change. When
//! the listening connection drops, it is made again with backoff, and then every user with a
//! connection on this node is pulled (pokes may have been missed meanwhile). A revoke ends
//! the token's sessions on every node.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_postgres::{AsyncMessage, NoTls};
use tokio_util::sync::CancellationToken;

use crate::auth::TokenHash;
use crate::db::{Database, DbError, UserId};
use crate::hub::Hub;
use crate::sessions::Sessions;

/// The channel of commit pokes: payload `"<user id> <seq>"`.
pub const POKE_CHANNEL: &str = "legato_poke";
/// The channel of revoked tokens: payload the token's SHA-256 in lowercase hex.
pub const REVOKE_CHANNEL: &str = "legato_revoke";
/// `application_name` of the listening connection (seen in `pg_stat_activity`).
pub const APPLICATION_NAME: &str = "legato-bus";

/// Pulls running at once on a node (each holds a pooled connection while it reads a page).
pub const MAX_PULLS: usize = 4;
/// First wait before making the listening connection again; doubled up to [`MAX_BACKOFF`].
pub const MIN_BACKOFF: Duration = Duration::from_millis(50);
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Wait before a failed pull of a user is tried again.
const PULL_RETRY: Duration = Duration::from_millis(500);

/// The payload of a commit's poke.
pub fn poke_payload(user: &UserId, seq: u64) -> String {
    format!("{user} {seq}")
}

/// A poke's user and seq; `None` for a payload that is not one.
pub fn parse_poke(payload: &str) -> Option<(UserId, u64)> {
    let (user, seq) = payload.split_once(' ')?;
    if user.is_empty() {
        return None;
    }
    Some((UserId(user.to_owned()), seq.parse().ok()?))
}

/// The payload of a revoke's notification.
pub fn revoke_payload(hash: &TokenHash) -> String {
    hex::encode(hash.0)
}

fn parse_revoke(payload: &str) -> Option<TokenHash> {
    let bytes = hex::decode(payload).ok()?;
    bytes.try_into().ok().map(TokenHash)
}

/// How a node reaches the bus: the database's connection settings.
#[derive(Debug, Clone)]
pub struct BusConfig {
    config: tokio_postgres::Config,
}

impl BusConfig {
    /// The bus on the database `config` connects to; the listening connection is named
    /// [`APPLICATION_NAME`] and uses TCP keepalives, so a peer that vanished is noticed.
    pub fn new(mut config: tokio_postgres::Config) -> Self {
        config
            .application_name(APPLICATION_NAME)
            .connect_timeout(Duration::from_secs(10))
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(10))
            .keepalives_interval(Duration::from_secs(5))
            .keepalives_retries(3)
            .tcp_user_timeout(Duration::from_secs(30));
        BusConfig { config }
    }
}

/// A handle on a node's bus: how often it got to listen, and a fault to inject in tests.
#[derive(Debug, Clone)]
pub struct BusControl {
    inner: Arc<ControlInner>,
}

#[derive(Debug)]
struct ControlInner {
    /// Times `LISTEN` succeeded (1 after the start, one more per reconnect).
    listens: watch::Sender<u64>,
    drop_pokes: AtomicBool,
}

impl Default for BusControl {
    fn default() -> Self {
        BusControl {
            inner: Arc::new(ControlInner {
                listens: watch::Sender::new(0),
                drop_pokes: AtomicBool::new(false),
            }),
        }
    }
}

impl BusControl {
    /// Times the node started listening (after its start, and after each reconnect).
    pub fn listens(&self) -> u64 {
        *self.inner.listens.borrow()
    }

    /// Waits until the node has started listening at least `times` times.
    pub async fn wait_listens(&self, times: u64) {
        let mut rx = self.inner.listens.subscribe();
        // The sender lives as long as `self`: this cannot fail.
        let _ = rx.wait_for(|n| *n >= times).await;
    }

    /// Fault injection for tests: while set, the pokes this node receives are dropped, as
    /// if they had never arrived (revokes still go through).
    pub fn set_dropping_pokes(&self, drop: bool) {
        self.inner.drop_pokes.store(drop, Ordering::SeqCst);
    }

    fn listened(&self) {
        self.inner.listens.send_modify(|n| *n += 1);
    }

    fn dropping_pokes(&self) -> bool {
        self.inner.drop_pokes.load(Ordering::SeqCst)
    }
}

/// Runs the node's bus until `stop`: the listening connection (made again with backoff
/// when it drops) and the puller, which reads what the hub asks for and hands it out.
pub fn spawn<D: Database>(
    bus: BusConfig,
    control: BusControl,
    db: D,
    hub: Arc<Hub>,
    sessions: Arc<Sessions>,
    page_size: usize,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let listener = listen(&bus, &control, &hub, &sessions, &stop);
        let puller = pull_loop(&db, &hub, page_size.max(1), &stop);
        tokio::join!(listener, puller);
    })
}

/// Why the listening connection ended.
#[derive(Debug, thiserror::Error)]
enum Lost {
    #[error("{0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("the server closed the connection")]
    Closed,
    #[error("LISTEN took longer than {0:?}")]
    Timeout(Duration),
}

async fn listen(
    bus: &BusConfig,
    control: &BusControl,
    hub: &Hub,
    sessions: &Sessions,
    stop: &CancellationToken,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let mut listened = false;
        let ended = tokio::select! {
            () = stop.cancelled() => return,
            ended = session(bus, control, hub, sessions, &mut listened) => ended,
        };
        if listened {
            backoff = MIN_BACKOFF;
        }
        tracing::warn!(error = %ended, retry_in = ?backoff, "the bus's LISTEN connection ended");
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One listening connection, until it ends (it never ends well: the caller stops it).
async fn session(
    bus: &BusConfig,
    control: &BusControl,
    hub: &Hub,
    sessions: &Sessions,
    listened: &mut bool,
) -> Lost {
    const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
    let (client, mut connection) = match bus.config.connect(NoTls).await {
        Ok(connected) => connected,
        Err(err) => return err.into(),
    };
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    let sql = format!("LISTEN {POKE_CHANNEL}; LISTEN {REVOKE_CHANNEL}");
    let statement = tokio::time::timeout(LISTEN_TIMEOUT, client.batch_execute(&sql));
    tokio::pin!(statement);
    // The connection must be driven for the statement to go through.
    loop {
        tokio::select! {
            done = &mut statement => match done {
                Ok(Ok(())) => break,
                Ok(Err(err)) => return err.into(),
                Err(_) => return Lost::Timeout(LISTEN_TIMEOUT),
            },
            message = messages.next() => {
                if let Err(lost) = on_message(message, control, hub, sessions) {
                    return lost;
                }
            }
        }
    }
    *listened = true;
    control.listened();
    tracing::info!("listening for other nodes' commits and revokes");
    // Pokes sent before the LISTEN (since the last connection, or since this node's start)
    // were not heard: every user with a connection here may lack changes.
    hub.poke_all();
    loop {
        if let Err(lost) = on_message(messages.next().await, control, hub, sessions) {
            return lost;
        }
    }
}

fn on_message(
    message: Option<Result<AsyncMessage, tokio_postgres::Error>>,
    control: &BusControl,
    hub: &Hub,
    sessions: &Sessions,
) -> Result<(), Lost> {
    match message {
        None => Err(Lost::Closed),
        Some(Err(err)) => Err(err.into()),
        Some(Ok(AsyncMessage::Notification(note))) => {
            match note.channel() {
                POKE_CHANNEL if control.dropping_pokes() => {}
                POKE_CHANNEL => match parse_poke(note.payload()) {
                    Some((user, seq)) => hub.poke(&user, seq),
                    None => tracing::warn!(payload = note.payload(), "a malformed poke"),
                },
                REVOKE_CHANNEL => match parse_revoke(note.payload()) {
                    Some(hash) => {
                        let closed = sessions.end(hash);
                        if closed > 0 {
                            tracing::info!(closed, "a token revoked on another node");
                        }
                    }
                    None => tracing::warn!("a malformed revoke notification"),
                },
                other => tracing::debug!(channel = other, "a notification of another channel"),
            }
            Ok(())
        }
        Some(Ok(AsyncMessage::Notice(notice))) => {
            tracing::debug!(message = notice.message(), "a notice on the bus connection");
            Ok(())
        }
        Some(Ok(_)) => Ok(()),
    }
}

/// Pulls the users the hub asks for, at most [`MAX_PULLS`] at once and one at a time per
/// user (a user asked for again while being pulled is pulled once more afterwards).
async fn pull_loop<D: Database>(
    db: &D,
    hub: &Arc<Hub>,
    page_size: usize,
    stop: &CancellationToken,
) {
    let mut running: JoinSet<UserId> = JoinSet::new();
    let mut in_flight: HashSet<UserId> = HashSet::new();
    let mut again: HashSet<UserId> = HashSet::new();
    let mut queue: VecDeque<UserId> = VecDeque::new();
    let mut queued: HashSet<UserId> = HashSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => {
                running.abort_all();
                return;
            }
            users = hub.wanted() => {
                for user in users {
                    if in_flight.contains(&user) {
                        again.insert(user);
                    } else if queued.insert(user.clone()) {
                        queue.push_back(user);
                    }
                }
            }
            Some(done) = running.join_next() => {
                // A panicked pull is a bug; the user is pulled again at its next poke.
                if let Ok(user) = done {
                    in_flight.remove(&user);
                    if again.remove(&user) && queued.insert(user.clone()) {
                        queue.push_back(user);
                    }
                }
            }
        }
        while running.len() < MAX_PULLS
            && let Some(user) = queue.pop_front()
        {
            queued.remove(&user);
            in_flight.insert(user.clone());
            let (db, hub) = (db.clone(), Arc::clone(hub));
            running.spawn(async move {
                if let Err(err) = pull(&db, &hub, &user, page_size).await {
                    tracing::warn!(user_id = %user, error = %err, "reading changes for a poke");
                    let (hub, user) = (Arc::clone(&hub), user.clone());
                    tokio::spawn(async move {
                        tokio::time::sleep(PULL_RETRY).await;
                        hub.want(&user);
                    });
                }
                user
            });
        }
    }
}

/// Reads `user`'s changes after what its connections here have, page by page as a
/// catch-up does, and hands each page to the hub.
pub async fn pull<D: Database>(
    db: &D,
    hub: &Hub,
    user: &UserId,
    page_size: usize,
) -> Result<(), DbError> {
    while let Some(since) = hub.pull_from(user) {
        let page = db.changes_since(user, &[], since, page_size).await?;
        let updates = page
            .changes
            .iter()
            .map(|update| update.to_update_data().map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        let more = page.has_more && !updates.is_empty();
        let last = updates.last().map_or(since, |update| update.seq);
        let upto = if more {
            last
        } else {
            page.latest_seq.max(last)
        };
        hub.publish_pulled(user, since, &updates, upto);
        if !more {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        let user = UserId::generate();
        assert_eq!(
            parse_poke(&poke_payload(&user, 42)),
            Some((user.clone(), 42))
        );
        for bad in ["", "nospace", " 5", "u x", "u -1", "u 1 2"] {
            assert_eq!(parse_poke(bad), None, "{bad:?}");
        }
        let hash = TokenHash::of("a token");
        let payload = revoke_payload(&hash);
        assert_eq!(payload.len(), 64);
        assert_eq!(parse_revoke(&payload), Some(hash));
        assert_eq!(parse_revoke("abcd"), None);
        assert_eq!(parse_revoke("zz"), None);
    }
}
