//! Several server nodes on one PostgreSQL database (issue 13 item 2), on the throw-away
//! cluster (`pg.rs`): a change on one node reaches devices on the others live, a SIGKILLed
//! node's devices move to another node losing and repeating nothing, one user's writes
//! through two nodes at once stay ordered and exactly once, a revoke on one node closes the
//! token's sockets on the others within a second, and a missed poke loses nothing.
//!
//! Nodes are in-process servers (each with its own pool and its own listening connection)
//! where the test needs the bus's handle, and `legato-server` processes where it kills one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use legato_server::cluster::{APPLICATION_NAME, BusControl};
use legato_server::{PostgresDatabase, Server, Settings};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::pg::cluster;
use crate::support::{PASSWORD, TestServer, WsClient, create_goal, update_goal};

/// How long a live change may take from one node's ack to another node's device (it takes
/// milliseconds: a NOTIFY and one read; the bound is for a loaded 2-core machine).
const LIVE_WITHIN: Duration = Duration::from_secs(3);
/// How fast a token revoked on one node must lose its sockets on the others.
const CLOSE_WITHIN: Duration = Duration::from_secs(1);
/// How long a device that should hear nothing is watched.
const QUIET: Duration = Duration::from_millis(700);

/// An in-process node on the database `url`, once its bus listens.
async fn node(url: &str) -> (TestServer, BusControl) {
    let db = PostgresDatabase::open(url).await.unwrap();
    let server = Server::with_database(db, Settings::with_database(url));
    let bus = server
        .bus_control()
        .expect("the PostgreSQL backend has a bus");
    let node = TestServer::serve(server).await;
    within(
        Duration::from_secs(10),
        "the bus to listen",
        bus.wait_listens(1),
    )
    .await;
    (node, bus)
}

async fn within<T>(limit: Duration, what: &str, work: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, work)
        .await
        .unwrap_or_else(|_| panic!("waited {limit:?} for {what}"))
}

fn assert_update(message: &Value, seq: u64, entity: &str) {
    assert_eq!(
        (
            message["type"].as_str(),
            message["data"]["seq"].as_u64(),
            message["data"]["entityId"].as_str()
        ),
        (Some("update"), Some(seq), Some(entity)),
        "{message}"
    );
}

fn assert_applied(ack: &Value, seq: u64) {
    assert_eq!(
        (
            ack["type"].as_str(),
            ack["status"].as_str(),
            ack["seq"].as_u64()
        ),
        (Some("ack"), Some("applied"), Some(seq)),
        "{ack}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_one_node_reaches_devices_on_the_others_live() {
    let Some(pg) = cluster("a_change_on_one_node_reaches_devices_on_the_others_live") else {
        return;
    };
    let url = pg.database("multinode_live");
    let (a, _) = node(&url).await;
    let (b, _) = node(&url).await;
    let (c, _) = node(&url).await;
    let ann = a.register("ann@example.com").await;
    let (mut on_a, _, _) = a.device(&ann.token, "dev-a", 0).await;
    let (mut on_b, _, _) = b.device(&ann.token, "dev-b", 0).await;
    let (mut on_c, _, _) = c.device(&ann.token, "dev-c", 0).await;

    let started = Instant::now();
    let ack = on_a.sync(create_goal("c1", "g1", "Scales", "dev-a")).await;
    assert_applied(&ack, 1);
    for ws in [&mut on_c, &mut on_b] {
        let update = ws.recv().await;
        assert_update(&update, 1, "g1");
        assert_eq!(update["data"]["data"]["title"], "Scales");
    }
    let took = started.elapsed();
    eprintln!("node A to devices on B and C: {took:?}");
    assert!(took < LIVE_WITHIN, "took {took:?}");

    // And from C to the others, on top of what they have.
    let started = Instant::now();
    let ack = on_c
        .sync(update_goal(
            "c2",
            "g1",
            json!({"title": "Arpeggios"}),
            1,
            "dev-c",
        ))
        .await;
    assert_applied(&ack, 2);
    for ws in [&mut on_a, &mut on_b] {
        let update = ws.recv().await;
        assert_update(&update, 2, "g1");
        assert_eq!(update["data"]["data"]["title"], "Arpeggios");
        assert_eq!(update["data"]["version"], 2);
    }
    let took = started.elapsed();
    assert!(took < LIVE_WITHIN, "took {took:?}");
    // Nothing twice.
    for ws in [&mut on_a, &mut on_b, &mut on_c] {
        ws.expect_silence(Duration::from_millis(200)).await;
    }
}

/// Two nodes take one user's batches at the same time, each batch also carrying a change
/// (the same one, same id) that both get: the seqs handed out are exactly 1..N, every
/// shared change is applied once and answered `duplicate` by the other node with the same
/// seq, and devices on a third node and on a writing node receive every seq once, in
/// order, live. The writing node A hears no pokes: the other node's changes reach A's
/// device only because A's own next commit does not follow on from what the device has
/// and waits for the gap to be read (the last change, through A, brings the rest).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_users_writes_through_two_nodes_stay_ordered_and_exactly_once() {
    let Some(pg) = cluster("one_users_writes_through_two_nodes_stay_ordered_and_exactly_once")
    else {
        return;
    };
    const ROUNDS: usize = 12;
    const PER_BATCH: usize = 4;
    let url = pg.database("multinode_order");
    let (a, bus_a) = node(&url).await;
    let (b, _) = node(&url).await;
    let (c, _) = node(&url).await;
    bus_a.set_dropping_pokes(true);
    let ann = a.register("ann@example.com").await;
    let (mut on_a, _, _) = a.device(&ann.token, "watch-a", 0).await;
    let (mut on_c, _, _) = c.device(&ann.token, "watch-c", 0).await;

    // Built once, so both nodes get the very same change (a new timestamp would make it
    // another change under a used id).
    let shared: Vec<Value> = (0..ROUNDS)
        .map(|r| {
            create_goal(
                &format!("shared-{r}"),
                &format!("shared-{r}"),
                "both",
                "both",
            )
        })
        .collect();
    let write = |node: &TestServer, tag: &'static str| {
        let (node_http, url, token, shared) = (
            node.http.clone(),
            node.url("/api/sync/batch"),
            ann.token.clone(),
            shared.clone(),
        );
        async move {
            let mut answers: Vec<(String, Value)> = Vec::new();
            for (r, shared) in shared.into_iter().enumerate() {
                let mut items: Vec<Value> = (0..PER_BATCH)
                    .map(|i| {
                        let id = format!("{tag}-{r}-{i}");
                        create_goal(&id, &id, tag, tag)
                    })
                    .collect();
                items.insert(r % (PER_BATCH + 1), shared);
                let response = node_http
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({ "items": items }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                let body: Value = response.json().await.unwrap();
                let results = body["results"].as_array().unwrap().clone();
                assert_eq!(results.len(), items.len());
                // One batch is one transaction: its seqs go up in item order.
                let seqs: Vec<u64> = results
                    .iter()
                    .filter(|r| r["status"] == "applied")
                    .map(|r| r["seq"].as_u64().unwrap())
                    .collect();
                assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
                for (item, result) in items.iter().zip(results) {
                    answers.push((item["changeId"].as_str().unwrap().to_owned(), result));
                }
            }
            answers
        }
    };
    let (mut from_a, from_b) = tokio::join!(write(&a, "wa"), write(&b, "wb"));
    let last = a
        .batch(&ann.token, vec![create_goal("last", "last", "last", "wa")])
        .await;
    from_a.push(("last".to_owned(), last[0].clone()));

    let mut applied: BTreeMap<u64, String> = BTreeMap::new();
    let mut shared_answers: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    for (change_id, result) in from_a.iter().chain(&from_b) {
        let status = result["status"].as_str().unwrap().to_owned();
        let seq = result["seq"].as_u64().unwrap();
        if change_id.starts_with("shared-") {
            shared_answers
                .entry(change_id.clone())
                .or_default()
                .push((status.clone(), seq));
        } else {
            assert_eq!(status, "applied", "{change_id}: {result}");
        }
        if status == "applied" {
            assert!(
                applied.insert(seq, change_id.clone()).is_none(),
                "seq {seq} handed out twice"
            );
        }
    }
    let total = ROUNDS * (2 * PER_BATCH + 1) + 1;
    let expected: Vec<u64> = (1..=total as u64).collect();
    assert_eq!(
        applied.keys().copied().collect::<Vec<_>>(),
        expected,
        "seqs 1..{total}, no gap, none twice"
    );
    for (change_id, mut answers) in shared_answers {
        answers.sort();
        assert_eq!(answers.len(), 2, "{change_id}");
        assert_eq!(
            (answers[0].0.as_str(), answers[1].0.as_str()),
            ("applied", "duplicate"),
            "{change_id}: {answers:?}"
        );
        assert_eq!(answers[0].1, answers[1].1, "{change_id}: the same seq");
    }

    // Every device got every change once, in seq order.
    for ws in [&mut on_a, &mut on_c] {
        let mut seen = Vec::new();
        while seen.len() < total {
            let update = ws.recv().await;
            assert_eq!(update["type"], "update", "{update}");
            let seq = update["data"]["seq"].as_u64().unwrap();
            assert_eq!(
                update["data"]["entityId"].as_str(),
                Some(applied[&seq].as_str()),
                "seq {seq}"
            );
            seen.push(seq);
        }
        assert_eq!(seen, expected);
        ws.expect_silence(Duration::from_millis(200)).await;
    }
    let all = c.all_changes(&ann.token).await;
    assert_eq!(all.len(), total);
}

/// Waits for `ws` to be closed for its revoked token; returns when.
async fn closed_as_revoked(mut ws: WsClient) -> Instant {
    let (code, reason) = ws.expect_close().await;
    let at = Instant::now();
    assert_eq!(code, 1008, "{reason}");
    at
}

/// Logout, a device revoked and a password change, all on node A, close the tokens'
/// sockets on B and C within a second (a connection's own re-check of its token comes
/// only every minute), and leave the others open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_on_one_node_loses_its_sockets_on_the_others_within_a_second() {
    let Some(pg) = cluster("a_token_revoked_on_one_node_loses_its_sockets_on_the_others") else {
        return;
    };
    let url = pg.database("multinode_revoke");
    let (a, _) = node(&url).await;
    let (b, _) = node(&url).await;
    let (c, _) = node(&url).await;
    let ann = a.register("ann@example.com").await;
    let phone = a.login("ann@example.com", "phone").await;
    let tablet = a.login("ann@example.com", "tablet").await;
    let watch = a.login("ann@example.com", "watch").await;

    // Logout on A of a token whose socket is on B.
    let (phone_ws, _, _) = b.device(&phone.token, "phone", 0).await;
    let closed = tokio::spawn(closed_as_revoked(phone_ws));
    let (status, _) = a
        .call(Method::POST, "/api/auth/logout", &phone.token, None)
        .await;
    let answered = Instant::now();
    assert_eq!(status, 204);
    let at = closed.await.unwrap();
    assert!(
        at.saturating_duration_since(answered) < CLOSE_WITHIN,
        "closed {:?} after the logout",
        at - answered
    );

    // A device revoked on A, its socket on C.
    let (tablet_ws, _, _) = c.device(&tablet.token, "tablet", 0).await;
    let closed = tokio::spawn(closed_as_revoked(tablet_ws));
    let (_, list) = a
        .call(Method::GET, "/api/devices", &tablet.token, None)
        .await;
    let tablet_id = list["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = a
        .call(
            Method::DELETE,
            &format!("/api/devices/{tablet_id}"),
            &ann.token,
            None,
        )
        .await;
    let answered = Instant::now();
    assert_eq!(status, 204);
    let at = closed.await.unwrap();
    assert!(
        at.saturating_duration_since(answered) < CLOSE_WITHIN,
        "closed {:?} after the revoke",
        at - answered
    );

    // A password change on A: the other device's socket on B closes, this one's on C not.
    let (watch_ws, _, _) = b.device(&watch.token, "watch", 0).await;
    let (mut laptop_ws, _, _) = c.device(&ann.token, "laptop", 0).await;
    let closed = tokio::spawn(closed_as_revoked(watch_ws));
    let (status, _) = a
        .call(
            Method::POST,
            "/api/auth/password",
            &ann.token,
            Some(json!({"currentPassword": PASSWORD, "newPassword": "a new long password"})),
        )
        .await;
    let answered = Instant::now();
    assert_eq!(status, 204);
    let at = closed.await.unwrap();
    assert!(
        at.saturating_duration_since(answered) < CLOSE_WITHIN,
        "closed {:?} after the password change",
        at - answered
    );
    laptop_ws.ping().await;
}

/// Terminates the listening connections of the nodes on `url`'s database.
async fn drop_bus_connections(url: &str) -> u64 {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let rows = client
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = $1 AND datname = current_database()",
            &[&APPLICATION_NAME],
        )
        .await
        .unwrap();
    rows.len() as u64
}

/// A poke is a hint: one that never arrives costs latency, not the change. Missed, then a
/// later poke brings both changes (read from the database); missed with no later poke, the
/// listening connection's reconnect brings it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_poke_loses_nothing() {
    let Some(pg) = cluster("a_missed_poke_loses_nothing") else {
        return;
    };
    let url = pg.database("multinode_missed");
    let (a, _) = node(&url).await;
    let (c, bus_c) = node(&url).await;
    let ann = a.register("ann@example.com").await;
    let (mut on_a, _, _) = a.device(&ann.token, "dev-a", 0).await;
    let (mut on_c, _, _) = c.device(&ann.token, "dev-c", 0).await;

    bus_c.set_dropping_pokes(true);
    assert_applied(
        &on_a.sync(create_goal("c1", "g1", "Scales", "dev-a")).await,
        1,
    );
    on_c.expect_silence(QUIET).await;
    bus_c.set_dropping_pokes(false);
    assert_applied(
        &on_a.sync(create_goal("c2", "g2", "Etudes", "dev-a")).await,
        2,
    );
    let first = on_c.recv().await;
    assert_update(&first, 1, "g1");
    assert_eq!(first["data"]["data"]["title"], "Scales");
    assert_update(&on_c.recv().await, 2, "g2");

    // No later poke: the reconnect of the listening connection catches it.
    bus_c.set_dropping_pokes(true);
    assert_applied(
        &on_a.sync(create_goal("c3", "g3", "Chorale", "dev-a")).await,
        3,
    );
    on_c.expect_silence(QUIET).await;
    bus_c.set_dropping_pokes(false);
    let listens = bus_c.listens();
    assert!(drop_bus_connections(&url).await >= 2, "both nodes listen");
    within(
        Duration::from_secs(10),
        "the bus to listen again",
        bus_c.wait_listens(listens + 1),
    )
    .await;
    assert_update(&on_c.recv().await, 3, "g3");
    on_c.expect_silence(Duration::from_millis(200)).await;
}

/// A device speaking the protocol as a client does: its cursor, every seq it received
/// (over all its connections), the entities it knows, its changes not acknowledged yet.
struct Device {
    name: String,
    token: String,
    ws: WsClient,
    cursor: u64,
    seqs: Vec<u64>,
    entities: BTreeSet<String>,
    pending: BTreeMap<String, Value>,
    answers: BTreeMap<&'static str, usize>,
}

impl Device {
    async fn connect(node: &TestServer, token: &str, name: &str) -> Device {
        let ws = node.connect(token).await;
        let mut device = Device {
            name: name.to_owned(),
            token: token.to_owned(),
            ws,
            cursor: 0,
            seqs: Vec::new(),
            entities: BTreeSet::new(),
            pending: BTreeMap::new(),
            answers: BTreeMap::new(),
        };
        device.start().await;
        device
    }

    /// Hello, subscribe from the cursor, the catch-up, then what waits to be sent again.
    async fn start(&mut self) {
        self.ws.hello(&self.name).await;
        self.ws
            .send(json!({"type": "subscribe", "entities": [], "since": self.cursor}))
            .await;
        loop {
            let message = self.ws.recv().await;
            match message["type"].as_str() {
                Some("update") => self.on_update(&message),
                Some("sync_complete") => {
                    self.cursor = self.cursor.max(message["seq"].as_u64().unwrap());
                    break;
                }
                _ => panic!("{}: during the catch-up: {message}", self.name),
            }
        }
        let resend: Vec<Value> = self.pending.values().cloned().collect();
        for change in resend {
            self.ws.send(json!({"type": "sync", "data": change})).await;
        }
    }

    async fn reconnect(&mut self, node: &TestServer) {
        self.ws = node.connect(&self.token).await;
        self.start().await;
    }

    fn on_update(&mut self, message: &Value) {
        let seq = message["data"]["seq"].as_u64().unwrap();
        if let Some(last) = self.seqs.last() {
            assert!(seq > *last, "{}: seq {seq} after {last}", self.name);
        }
        self.seqs.push(seq);
        self.cursor = self.cursor.max(seq);
        self.entities
            .insert(message["data"]["entityId"].as_str().unwrap().to_owned());
    }

    fn on_message(&mut self, message: &Value) {
        match message["type"].as_str() {
            Some("update") => self.on_update(message),
            Some("ack") => {
                let change_id = message["changeId"].as_str().unwrap();
                let change = self
                    .pending
                    .remove(change_id)
                    .unwrap_or_else(|| panic!("{}: an ack of nothing pending", self.name));
                let status = match message["status"].as_str() {
                    Some("applied") => "applied",
                    Some("duplicate") => "duplicate",
                    other => panic!("{}: ack {other:?}", self.name),
                };
                *self.answers.entry(status).or_default() += 1;
                self.entities
                    .insert(change["entityId"].as_str().unwrap().to_owned());
            }
            _ => panic!("{}: unexpected {message}", self.name),
        }
    }

    /// Sends new goals `names` without waiting for their acks.
    async fn push(&mut self, names: impl IntoIterator<Item = String>) {
        for name in names {
            let change = create_goal(&name, &name, &name, &self.name);
            self.pending.insert(name, change.clone());
            self.ws.send(json!({"type": "sync", "data": change})).await;
        }
    }

    /// Reads until every change sent is answered.
    async fn settle(&mut self) {
        while !self.pending.is_empty() {
            let message = self.ws.recv().await;
            self.on_message(&message);
        }
    }

    /// Reads what arrives until the socket ends (its node was killed).
    async fn read_until_gone(&mut self) {
        loop {
            let next = within(
                Duration::from_secs(10),
                "the socket to end",
                self.ws.next_event(),
            )
            .await;
            match next {
                Some(Ok(Message::Text(text))) => {
                    let message: Value = serde_json::from_str(&text).unwrap();
                    self.on_message(&message);
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            }
        }
    }

    /// Reads updates until the device knows `all` the entities.
    async fn catch(&mut self, all: &BTreeSet<String>) {
        while self.entities != *all {
            let message = self.ws.recv().await;
            self.on_message(&message);
        }
        assert!(self.pending.is_empty());
    }
}

fn goals(device: &str, from: usize, to: usize) -> impl Iterator<Item = String> {
    let device = device.to_owned();
    (from..to).map(move |i| format!("{device}-{i}"))
}

/// Three `legato-server` processes on one database, a device on each; the one on B keeps
/// writing when B is SIGKILLed, reconnects to C, catches up from its cursor and sends its
/// unanswered changes again. In the end every device knows every entity, each received seq
/// came once and in order, and the account's seqs are exactly 1..N for its N entities (no
/// change applied twice, none lost).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_nodes_devices_move_to_another_node_losing_and_repeating_nothing() {
    let Some(pg) = cluster("a_killed_nodes_devices_move_to_another_node") else {
        return;
    };
    let url = pg.database("multinode_kill");
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let a = TestServer::spawn_binary_on(&url, Arc::clone(&dir), &[]).await;
    let mut b = TestServer::spawn_binary_on(&url, Arc::clone(&dir), &[]).await;
    let c = TestServer::spawn_binary_on(&url, Arc::clone(&dir), &[]).await;
    a.register("ann@example.com").await;
    let mut d1 = Device::connect(&a, &a.login("ann@example.com", "d1").await.token, "d1").await;
    let mut d2 = Device::connect(&b, &a.login("ann@example.com", "d2").await.token, "d2").await;
    let mut d3 = Device::connect(&c, &a.login("ann@example.com", "d3").await.token, "d3").await;

    for device in [&mut d1, &mut d2, &mut d3] {
        let name = device.name.clone();
        device.push(goals(&name, 0, 10)).await;
    }
    for device in [&mut d1, &mut d2, &mut d3] {
        device.settle().await;
    }
    // d2 writes on and B dies under it; the others write meanwhile.
    d2.push(goals("d2", 10, 40)).await;
    d1.push(goals("d1", 10, 20)).await;
    b.kill();
    d3.push(goals("d3", 10, 20)).await;
    d2.read_until_gone().await;
    let unanswered = d2.pending.len();
    d2.reconnect(&c).await;
    for device in [&mut d1, &mut d2, &mut d3] {
        device.settle().await;
    }
    d1.push(goals("d1", 20, 25)).await;
    d2.push(goals("d2", 40, 45)).await;
    for device in [&mut d1, &mut d2, &mut d3] {
        device.settle().await;
    }

    let all: BTreeSet<String> = goals("d1", 0, 25)
        .chain(goals("d2", 0, 45))
        .chain(goals("d3", 0, 20))
        .collect();
    for device in [&mut d1, &mut d2, &mut d3] {
        device.catch(&all).await;
        device.ws.expect_silence(Duration::from_millis(200)).await;
    }
    eprintln!(
        "d2: {unanswered} changes unanswered when B died; answers {:?}",
        d2.answers
    );
    let applied: usize = [&d1, &d2, &d3]
        .iter()
        .map(|d| d.answers.get("applied").copied().unwrap_or(0))
        .sum();
    let duplicates = d2.answers.get("duplicate").copied().unwrap_or(0);
    assert_eq!(applied + duplicates, all.len(), "one answer per change");

    let stored = c.all_changes(&d3.token).await;
    let ids: BTreeSet<String> = stored
        .iter()
        .map(|e| e["entityId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, all);
    let mut seqs: Vec<u64> = stored.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=all.len() as u64).collect::<Vec<_>>(),
        "one seq per entity: nothing applied twice, no gap"
    );
    let latest = c.changes(&d3.token, &format!("since={}", all.len())).await;
    assert_eq!(latest["seq"].as_u64(), Some(all.len() as u64));
}
