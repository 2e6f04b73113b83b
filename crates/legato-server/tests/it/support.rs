//! Test fixture: a real server on 127.0.0.1:0 over a temp-dir database, real HTTP and
//! WebSocket clients.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use legato_server::{Database, Server, Settings, SqliteDatabase, serve};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

pub const PASSWORD: &str = "correct horse battery";
const RECV_TIMEOUT: Duration = Duration::from_secs(10);

/// A running server; shut down (without waiting) when dropped, or awaited with [`stop`].
pub struct TestServer {
    pub addr: SocketAddr,
    _dir: Arc<TempDir>,
    pub http: reqwest::Client,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
    /// The `legato-server` process, for a server started by [`TestServer::spawn_binary`].
    process: Option<std::process::Child>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(configure: impl FnOnce(&mut Settings)) -> Self {
        Self::start_in(Arc::new(tempfile::tempdir().unwrap()), configure).await
    }

    /// Starts a server on the database in `dir` (reused across restarts).
    pub async fn start_in(dir: Arc<TempDir>, configure: impl FnOnce(&mut Settings)) -> Self {
        let db_path: PathBuf = dir.path().join("legato.db");
        let mut settings = Settings::with_database(format!("sqlite://{}", db_path.display()));
        configure(&mut settings);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let task = tokio::spawn(async move {
            serve(listener, settings, token)
                .await
                .expect("server failed");
        });
        TestServer {
            addr,
            _dir: dir,
            http: reqwest::Client::new(),
            shutdown,
            task: Some(task),
            process: None,
        }
    }

    /// Starts a server on a database opened here, and returns a handle on that database
    /// too (for what no endpoint does, such as running the pruning now).
    pub async fn start_with_database(
        configure: impl FnOnce(&mut Settings),
    ) -> (Self, SqliteDatabase) {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let db_path: PathBuf = dir.path().join("legato.db");
        let db = SqliteDatabase::open(&db_path).await.unwrap();
        let mut settings = Settings::with_database(format!("sqlite://{}", db_path.display()));
        configure(&mut settings);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let server = Server::with_database(db.clone(), settings);
        let task = tokio::spawn(async move {
            server.serve(listener, token).await.expect("server failed");
        });
        let server = TestServer {
            addr,
            _dir: dir,
            http: reqwest::Client::new(),
            shutdown,
            task: Some(task),
            process: None,
        };
        (server, db)
    }

    /// Serves `server` (built by the caller, e.g. to keep a handle on its bus) on
    /// 127.0.0.1:0.
    pub async fn serve<D: Database>(server: Server<D>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let task = tokio::spawn(async move {
            server.serve(listener, token).await.expect("server failed");
        });
        TestServer {
            addr,
            _dir: Arc::new(tempfile::tempdir().unwrap()),
            http: reqwest::Client::new(),
            shutdown,
            task: Some(task),
            process: None,
        }
    }

    /// Runs the real `legato-server` binary (its own process, so its memory can be measured
    /// apart from the tests running beside it) on a temp-dir database, with `args` added.
    pub async fn spawn_binary(args: &[&str]) -> Self {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let database = format!("sqlite://{}", dir.path().join("legato.db").display());
        Self::spawn_binary_on(&database, dir, args).await
    }

    /// Runs the real `legato-server` binary on `database` (a URL), with `args` added.
    pub async fn spawn_binary_on(database: &str, dir: Arc<TempDir>, args: &[&str]) -> Self {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_legato-server"))
            .args(["--listen", "127.0.0.1:0", "--database", database])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("cannot start legato-server");
        let stdout = child.stdout.take().unwrap();
        let addr = tokio::task::spawn_blocking(move || {
            let mut lines = std::io::BufReader::new(stdout).lines();
            let addr = lines.by_ref().map_while(Result::ok).find_map(|line| {
                line.strip_prefix("listening on http://")?
                    .trim()
                    .parse()
                    .ok()
            });
            // Nothing else is printed; keep the pipe drained anyway.
            std::thread::spawn(move || for _ in lines {});
            addr
        })
        .await
        .unwrap()
        .expect("legato-server ended before listening");
        TestServer {
            addr,
            _dir: dir,
            http: reqwest::Client::new(),
            shutdown: CancellationToken::new(),
            task: None,
            process: Some(child),
        }
    }

    /// The server process's memory, from `/proc/PID/status` (a server started by
    /// [`TestServer::spawn_binary`]).
    #[cfg(target_os = "linux")]
    pub fn memory(&self) -> ProcessMemory {
        let pid = self.process.as_ref().expect("a server process").id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let kib = |key: &str| -> u64 {
            status
                .lines()
                .find_map(|line| line.strip_prefix(key))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
        };
        ProcessMemory {
            rss: kib("VmRSS:") * 1024,
            peak: kib("VmHWM:") * 1024,
        }
    }

    /// SIGKILLs the server process (a server started by [`TestServer::spawn_binary`]):
    /// nothing is drained, its sockets just end.
    pub fn kill(&mut self) {
        let child = self.process.as_mut().expect("a server process");
        child.kill().expect("SIGKILL the server");
        child.wait().expect("reap the server");
    }

    /// Shuts down and waits until the server has drained and closed its database.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(15), task)
                .await
                .expect("server did not stop in time")
                .expect("server task panicked");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn register(&self, email: &str) -> User {
        let response = self
            .http
            .post(self.url("/api/auth/register"))
            .json(&json!({"email": email, "password": PASSWORD, "deviceName": "test"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "register {email}");
        let body: Value = response.json().await.unwrap();
        User {
            id: body["userId"].as_str().unwrap().to_owned(),
            token: body["token"].as_str().unwrap().to_owned(),
        }
    }

    /// Logs in to an account [`TestServer::register`] made; a new token (device) of it.
    pub async fn login(&self, email: &str, device_name: &str) -> User {
        let response = self
            .http
            .post(self.url("/api/auth/login"))
            .json(&json!({"email": email, "password": PASSWORD, "deviceName": device_name}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "login {email}");
        let body: Value = response.json().await.unwrap();
        User {
            id: body["userId"].as_str().unwrap().to_owned(),
            token: body["token"].as_str().unwrap().to_owned(),
        }
    }

    /// A request with `token` as its bearer; the status and the JSON body (`Null` if none).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn batch(&self, token: &str, items: Vec<Value>) -> Value {
        let response = self.post_batch(token, json!({ "items": items })).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["results"].clone()
    }

    pub async fn post_batch(&self, token: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url("/api/sync/batch"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn changes(&self, token: &str, query: &str) -> Value {
        let response = self
            .http
            .get(self.url(&format!("/api/sync/changes?{query}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "changes?{query}");
        response.json().await.unwrap()
    }

    /// All entities of the user, by `GET /api/sync/changes` from 0, page after page.
    pub async fn all_changes(&self, token: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut since = 0;
        loop {
            let body = self
                .changes(token, &format!("since={since}&limit=1000"))
                .await;
            all.extend(body["changes"].as_array().unwrap().iter().cloned());
            since = body["seq"].as_u64().unwrap();
            if body["hasMore"] != json!(true) {
                return all;
            }
        }
    }

    pub async fn connect(&self, token: &str) -> WsClient {
        WsClient::connect(
            self.addr,
            &[("authorization", &format!("Bearer {token}"))],
            "/sync",
        )
        .await
        .expect("handshake")
    }

    /// Connects, says hello with `client_id` and subscribes from `since`; returns the
    /// client, the catch-up updates and the `sync_complete` seq.
    pub async fn device(
        &self,
        token: &str,
        client_id: &str,
        since: u64,
    ) -> (WsClient, Vec<Value>, u64) {
        let mut ws = self.connect(token).await;
        ws.hello(client_id).await;
        let (updates, seq) = ws.subscribe(since).await;
        (ws, updates, seq)
    }

    pub async fn metrics(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(child) = &mut self.process {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Resident memory of a process, in bytes: now, and the most it ever held.
#[derive(Debug, Clone, Copy)]
pub struct ProcessMemory {
    pub rss: u64,
    pub peak: u64,
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub token: String,
}

pub struct WsClient {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// The HTTP status of a refused WebSocket handshake.
pub async fn handshake_status(addr: SocketAddr, headers: &[(&str, &str)], path: &str) -> u16 {
    match WsClient::connect(addr, headers, path).await {
        Ok(_) => 101,
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("handshake failed oddly: {other}"),
    }
}

impl WsClient {
    pub async fn connect(
        addr: SocketAddr,
        headers: &[(&str, &str)],
        path: &str,
    ) -> Result<Self, tungstenite::Error> {
        let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
        for (name, value) in headers {
            request.headers_mut().insert(
                tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let (stream, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(WsClient { stream })
    }

    pub async fn send(&mut self, message: Value) {
        self.send_text(&message.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.stream.send(Message::text(text)).await.unwrap();
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.stream.send(message).await.unwrap();
    }

    /// The next text message as JSON; panics on close or after 10 s.
    pub async fn recv(&mut self) -> Value {
        loop {
            let next = tokio::time::timeout(RECV_TIMEOUT, self.stream.next())
                .await
                .expect("no message within 10 s");
            match next {
                Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected a text message, got {other:?}"),
            }
        }
    }

    /// The next raw event of the socket.
    pub async fn next_event(&mut self) -> Option<Result<Message, tungstenite::Error>> {
        self.stream.next().await
    }

    /// Asserts nothing arrives for `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        if let Ok(next) = tokio::time::timeout(wait, self.stream.next()).await {
            panic!("expected silence, got {next:?}");
        }
    }

    /// Waits for the server's close frame; returns its code and reason.
    pub async fn expect_close(&mut self) -> (u16, String) {
        loop {
            let next = tokio::time::timeout(RECV_TIMEOUT, self.stream.next())
                .await
                .expect("no close within 10 s");
            match next {
                Some(Ok(Message::Close(Some(frame)))) => {
                    return (u16::from(frame.code), frame.reason.to_string());
                }
                Some(Ok(Message::Close(None))) => return (1005, String::new()),
                Some(Ok(_)) => continue,
                Some(Err(err)) => panic!("error instead of a close frame: {err}"),
                None => panic!("stream ended without a close frame"),
            }
        }
    }

    pub async fn hello(&mut self, client_id: &str) {
        self.send(json!({"type": "hello", "clientId": client_id, "protocol": 1}))
            .await;
    }

    /// Subscribes to every type from `since`; collects the catch-up until `sync_complete`.
    pub async fn subscribe(&mut self, since: u64) -> (Vec<Value>, u64) {
        self.send(json!({"type": "subscribe", "entities": ["logbook", "repertoire", "goals"], "since": since}))
            .await;
        self.collect_catch_up().await
    }

    pub async fn collect_catch_up(&mut self) -> (Vec<Value>, u64) {
        let mut updates = Vec::new();
        loop {
            let message = self.recv().await;
            match message["type"].as_str() {
                Some("update") => updates.push(message["data"].clone()),
                Some("sync_complete") => return (updates, message["seq"].as_u64().unwrap()),
                _ => panic!("unexpected message during catch-up: {message}"),
            }
        }
    }

    /// Pushes one change and returns the server's answer (ack, conflict or error).
    pub async fn sync(&mut self, change: Value) -> Value {
        self.send(json!({"type": "sync", "data": change})).await;
        self.recv().await
    }

    /// A round trip proving the connection still answers.
    pub async fn ping(&mut self) {
        self.send(json!({"type": "ping"})).await;
        assert_eq!(self.recv().await["type"], "pong");
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A change (PROTOCOL.md section 3) from device `client`.
pub fn change(
    change_id: &str,
    entity_type: &str,
    entity_id: &str,
    operation: &str,
    data: Value,
    base_version: u64,
    client: &str,
) -> Value {
    json!({
        "changeId": change_id,
        "entityType": entity_type,
        "entityId": entity_id,
        "operation": operation,
        "data": data,
        "baseVersion": base_version,
        "clientId": client,
        "timestamp": now_ms(),
    })
}

pub fn create_goal(change_id: &str, entity_id: &str, title: &str, client: &str) -> Value {
    change(
        change_id,
        "goals",
        entity_id,
        "create",
        json!({"title": title}),
        0,
        client,
    )
}

pub fn update_goal(
    change_id: &str,
    entity_id: &str,
    data: Value,
    base: u64,
    client: &str,
) -> Value {
    change(change_id, "goals", entity_id, "update", data, base, client)
}

/// Reads a counter or gauge value from the metrics text (`name` with labels, exactly).
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            let rest = line.strip_prefix(name)?;
            rest.strip_prefix(' ')?.trim().parse().ok()
        })
        .unwrap_or(0.0)
}
