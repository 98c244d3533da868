//! Janus VideoRoom (Debian's `janus` 1.1.2) for the SFU fan-out benchmark: [`JanusProcess`] runs
//! Janus with the configs in `bench/janus`, [`JanusClient`] speaks the Janus API over WebSocket.
//! The message flow and every config choice are documented in `bench/janus/README.md`.
//!
//! **Addresses.** Janus never gathers ICE candidates on loopback interfaces, and libnice pins each
//! ICE socket to its interface (`IP_UNICAST_IF`), so Janus can only reach addresses that are local
//! to that same interface. [`JanusProcess::start`] therefore gives the loopback-only namespace a
//! veth pair ([`ICE_INTERFACE`] with [`ICE_IP`]), and the benchmark's WebRTC peers must bind their
//! media sockets to [`ICE_IP`] (not 127.0.0.1) when they talk to Janus. Packets between two local
//! addresses are still delivered through `lo`; nothing goes through the veth.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// The interface Janus gathers its one host candidate on (`ice_enforce_list` in janus.jcfg).
pub const ICE_INTERFACE: &str = "janus0";
/// Janus's candidate address; also the address the benchmark's peers bind to for Janus.
pub const ICE_IP: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);
/// Longest wait for one Janus reply (200 subscribers joining at once on 2 cores can be slow).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Janus drops a session after `session_timeout` (stock 60 s) without any request.
const KEEPALIVE_EVERY: Duration = Duration::from_secs(25);
/// Unsolicited events kept until read; later ones are dropped while the queue is full.
const EVENT_QUEUE: usize = 256;

/// A Janus process started with bench/janus configs, bound to 127.0.0.1, killed on drop.
pub struct JanusProcess {
    child: Child,
    ws_port: u16,
    /// Per-process copy of the configs (with `ws_port` filled in) and `janus.log`.
    dir: PathBuf,
}

impl JanusProcess {
    /// `config_dir`: bench/janus; `ws_port`: WebSocket transport port on 127.0.0.1;
    /// `rtp_ports`: media port range. Waits (blocking, up to 15 s) until the WebSocket transport
    /// accepts connections. Creates [`ICE_INTERFACE`] if missing, which is only done inside
    /// `scripts/netns.sh` (`NERTC_IN_NETNS=1`), never on the host network.
    pub fn start(config_dir: &Path, ws_port: u16, rtp_ports: (u16, u16)) -> io::Result<JanusProcess> {
        ensure_ice_interface()?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, ws_port));
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Err(io::Error::new(io::ErrorKind::AddrInUse, format!("{addr} is already in use")));
        }
        // Janus takes the WebSocket port only from its transport config: copy the configs.
        let dir = std::env::temp_dir().join(format!("nertc-janus-{}-{ws_port}", std::process::id()));
        fs::create_dir_all(&dir)?;
        let mut port_written = false;
        for entry in fs::read_dir(config_dir)? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()).filter(|n| n.ends_with(".jcfg")) else {
                continue;
            };
            let mut text = fs::read_to_string(&path)?;
            if name == "janus.transport.websockets.jcfg" {
                let lines = text.lines().map(|line| {
                    if line.trim_start().starts_with("ws_port") {
                        port_written = true;
                        format!("\tws_port = {ws_port}")
                    } else {
                        line.to_owned()
                    }
                });
                text = lines.collect::<Vec<_>>().join("\n");
            }
            fs::write(dir.join(name), text)?;
        }
        if !port_written {
            let _ = fs::remove_dir_all(&dir);
            let msg = format!("no `ws_port` line in {}/janus.transport.websockets.jcfg", config_dir.display());
            return Err(io::Error::new(io::ErrorKind::InvalidData, msg));
        }
        let log = fs::File::create(dir.join("janus.log"))?;
        let child = Command::new("janus")
            .arg("--configs-folder")
            .arg(&dir)
            .arg(format!("--rtp-port-range={}-{}", rtp_ports.0, rtp_ports.1))
            .arg("--disable-colors")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let mut me = JanusProcess { child, ws_port, dir };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = me.child.try_wait()? {
                return Err(io::Error::other(format!("janus exited ({status}) while starting: {}", me.log_tail())));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(me);
            }
            if Instant::now() > deadline {
                let msg = format!("janus did not listen on {addr} within 15 s: {}", me.log_tail());
                return Err(io::Error::new(io::ErrorKind::TimedOut, msg));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.ws_port)
    }

    /// Janus's stdout and stderr (warnings and errors only, see janus.jcfg).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("janus.log")
    }

    fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().filter(|l| !l.contains("has been disabled")).collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for JanusProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Gives the namespace the veth pair Janus gathers on (see the module docs).
fn ensure_ice_interface() -> io::Result<()> {
    if has_ice_ip() {
        return Ok(());
    }
    if std::env::var_os("NERTC_IN_NETNS").is_none_or(|v| v != "1") {
        return Err(io::Error::other(format!(
            "no {ICE_IP} on {ICE_INTERFACE}: run inside ./scripts/netns.sh (then it is created), \
             or create it as bench/janus/README.md shows"
        )));
    }
    let peer = format!("{ICE_INTERFACE}p");
    let mut failed = None;
    let exists = Command::new("ip").args(["link", "show", "dev", ICE_INTERFACE]).output()?.status.success();
    if !exists {
        failed = ip(&["link", "add", ICE_INTERFACE, "type", "veth", "peer", "name", &peer]).err();
    }
    for dev in [ICE_INTERFACE, peer.as_str()] {
        // No IPv6 link-local addresses, router solicitations etc. on the pair: nothing uses them.
        let _ = fs::write(format!("/proc/sys/net/ipv6/conf/{dev}/disable_ipv6"), "1");
        failed = ip(&["link", "set", dev, "up"]).err().or(failed);
    }
    failed = ip(&["addr", "add", &format!("{ICE_IP}/32"), "dev", ICE_INTERFACE]).err().or(failed);
    // A step may fail because another JanusProcess in this namespace did it first: check the result.
    match (has_ice_ip(), failed) {
        (true, _) => Ok(()),
        (false, Some(e)) => Err(e),
        (false, None) => Err(io::Error::other(format!("{ICE_IP} did not appear on {ICE_INTERFACE}"))),
    }
}

fn has_ice_ip() -> bool {
    let out = Command::new("ip").args(["-o", "-4", "addr", "show", "dev", ICE_INTERFACE]).output();
    out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(&format!("inet {ICE_IP}/")))
}

fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())))
}

/// Where each pending request's replies go, by transaction.
type Waiters = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Value>>>>;
const WAITERS_LOCK: &str = "the waiters map is only held for a non-panicking insert/get/remove/clear";

/// A failed request: Janus's or the VideoRoom's error code (0 for transport failures) and text.
struct Fail {
    code: i64,
    text: String,
}

impl Fail {
    fn closed() -> Fail {
        Fail { code: 0, text: "the Janus WebSocket is closed".into() }
    }
}

/// One Janus session over its own WebSocket (subprotocol "janus-protocol") with one VideoRoom
/// plugin handle; sends keepalives by itself; matches transactions; async events delivered
/// through [`JanusClient::next_event`] / [`JanusClient::wait_for`].
pub struct JanusClient {
    out: mpsc::UnboundedSender<Message>,
    waiters: Waiters,
    closed: Arc<AtomicBool>,
    events: tokio::sync::Mutex<mpsc::Receiver<Value>>,
    session: u64,
    handle: u64,
    next_transaction: AtomicU64,
    writer: Option<JoinHandle<()>>,
    /// Reader and keepalive tasks, aborted on drop.
    tasks: Vec<JoinHandle<()>>,
}

impl JanusClient {
    /// Opens the WebSocket, creates a session and attaches a `janus.plugin.videoroom` handle.
    pub async fn connect(url: &str) -> Result<JanusClient, String> {
        let mut request = url.into_client_request().map_err(|e| format!("bad Janus URL {url}: {e}"))?;
        request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("janus-protocol"));
        let (ws, _) = tokio::time::timeout(REQUEST_TIMEOUT, tokio_tungstenite::connect_async(request))
            .await
            .map_err(|_| format!("WebSocket connect to {url}: timed out"))?
            .map_err(|e| format!("WebSocket connect to {url}: {e}"))?;
        let (mut sink, mut stream) = ws.split();
        let (out, mut outgoing) = mpsc::unbounded_channel::<Message>();
        let writer = tokio::spawn(async move {
            while let Some(message) = outgoing.recv().await {
                let close = matches!(message, Message::Close(_));
                if sink.send(message).await.is_err() || close {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let waiters = Waiters::default();
        let closed = Arc::new(AtomicBool::new(false));
        let (event_tx, events) = mpsc::channel(EVENT_QUEUE);
        let (w, c) = (waiters.clone(), closed.clone());
        let reader = tokio::spawn(async move {
            while let Some(Ok(frame)) = stream.next().await {
                let Message::Text(text) = frame else { continue };
                let message: Value = match serde_json::from_str(text.as_str()) {
                    Ok(v) => v,
                    Err(e) => json!({ "janus": "invalid", "error": e.to_string(), "text": text.as_str() }),
                };
                let waiter = message["transaction"].as_str().and_then(|t| w.lock().expect(WAITERS_LOCK).get(t).cloned());
                match waiter {
                    Some(tx) => drop(tx.send(message)),
                    None if message["janus"] == "ack" => {} // keepalives, late acks
                    None => drop(event_tx.try_send(message)),
                }
            }
            c.store(true, Ordering::SeqCst);
            w.lock().expect(WAITERS_LOCK).clear(); // pending requests fail with "closed"
        });
        let mut client = JanusClient {
            out,
            waiters,
            closed,
            events: tokio::sync::Mutex::new(events),
            session: 0,
            handle: 0,
            next_transaction: AtomicU64::new(1),
            writer: Some(writer),
            tasks: vec![reader],
        };
        let created = client.call(json!({ "janus": "create" })).await.map_err(|f| f.text)?;
        client.session = created["data"]["id"].as_u64().ok_or_else(|| format!("no session id in {created}"))?;
        let (out, session) = (client.out.clone(), client.session);
        client.tasks.push(tokio::spawn(async move {
            for n in 1u64.. {
                tokio::time::sleep(KEEPALIVE_EVERY).await;
                let keepalive = json!({ "janus": "keepalive", "session_id": session, "transaction": format!("keepalive-{n}") });
                if out.send(Message::text(keepalive.to_string())).is_err() {
                    break;
                }
            }
        }));
        let attach = json!({ "janus": "attach", "session_id": client.session, "plugin": "janus.plugin.videoroom" });
        let attached = client.call(attach).await.map_err(|f| f.text)?;
        client.handle = attached["data"]["id"].as_u64().ok_or_else(|| format!("no handle id in {attached}"))?;
        Ok(client)
    }

    /// Creates a room for H.264 (packetization-mode 1, profile 42e01f) + Opus, no bitrate cap
    /// (`bitrate: 0` = no REMB to the publisher), no periodic keyframe requests (`fir_freq: 0`),
    /// permanent=false; Ok if it already exists (error 427).
    pub async fn create_room(&self, room: u64) -> Result<(), String> {
        let body = json!({
            "request": "create", "room": room, "permanent": false, "description": "nertc-bench fan-out",
            "audiocodec": "opus", "videocodec": "h264", "h264_profile": "42e01f", "bitrate": 0, "fir_freq": 0,
        });
        match self.message(body, None).await {
            Ok((data, _)) if data["videoroom"] == "created" => Ok(()),
            Ok((data, _)) => Err(format!("videoroom `create`: unexpected reply {data}")),
            Err(Fail { code: 427, .. }) => Ok(()),
            Err(fail) => Err(fail.text),
        }
    }

    /// Joins as publisher and publishes with the given offer (all candidates in it); returns
    /// (publisher/feed id, answer SDP). Subscribing to the feed only works once Janus has
    /// reported `webrtcup` on this handle: `wait_for("webrtcup", ..)` after applying the answer.
    pub async fn publish(&self, room: u64, display: &str, offer_sdp: &str) -> Result<(u64, String), String> {
        let body = json!({ "request": "joinandconfigure", "ptype": "publisher", "room": room, "display": display });
        let jsep = json!({ "type": "offer", "sdp": offer_sdp, "trickle": false });
        let (data, jsep) = self.message(body, Some(jsep)).await.map_err(|f| f.text)?;
        let id = data["id"].as_u64().filter(|_| data["videoroom"] == "joined");
        let id = id.ok_or_else(|| format!("videoroom `joinandconfigure`: unexpected reply {data}"))?;
        let answer = sdp_of(jsep, "answer", "joinandconfigure")?;
        for kind in ["audio", "video"] {
            let offered = offer_sdp.lines().any(|l| l.starts_with(&format!("m={kind} ")) && !l.starts_with(&format!("m={kind} 0 ")));
            if offered && answer.lines().any(|l| l.starts_with(&format!("m={kind} 0 "))) {
                return Err(format!("Janus rejected the {kind} m-line (the room takes Opus and H.264 42e01f only)"));
            }
        }
        Ok((id, answer))
    }

    /// Joins as subscriber to all streams of `feed`; returns Janus's offer SDP (all its candidates
    /// in it). Error 428 "No such feed" if the publisher is not up (`webrtcup`) yet.
    pub async fn subscribe(&self, room: u64, feed: u64) -> Result<String, String> {
        let body = json!({ "request": "join", "ptype": "subscriber", "room": room, "streams": [{ "feed": feed }] });
        let (data, jsep) = self.message(body, None).await.map_err(|f| f.text)?;
        if data["videoroom"] != "attached" {
            return Err(format!("videoroom subscriber `join`: unexpected reply {data}"));
        }
        sdp_of(jsep, "offer", "join")
    }

    /// Sends the subscriber's answer (`start`, all candidates in it); Ok once Janus confirms
    /// (`"started": "ok"`). Media flows after ICE + DTLS (`webrtcup` event).
    pub async fn start(&self, answer_sdp: &str) -> Result<(), String> {
        let jsep = json!({ "type": "answer", "sdp": answer_sdp, "trickle": false });
        let (data, _) = self.message(json!({ "request": "start" }), Some(jsep)).await.map_err(|f| f.text)?;
        if data["started"] != "ok" {
            return Err(format!("videoroom `start`: unexpected reply {data}"));
        }
        Ok(())
    }

    /// Skips events until one with `"janus": kind` (e.g. "webrtcup"); a `hangup` is an error.
    pub async fn wait_for(&self, kind: &str, timeout: Duration) -> Result<Value, String> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut events = self.events.lock().await;
        loop {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Err(_) => return Err(format!("no `{kind}` event from Janus within {timeout:?}")),
                Ok(None) => return Err(Fail::closed().text),
                Ok(Some(event)) if event["janus"] == kind => return Ok(event),
                Ok(Some(event)) if event["janus"] == "hangup" => return Err(format!("Janus hung up: {event}")),
                Ok(Some(_)) => {}
            }
        }
    }

    /// Detach + destroy the session, close the socket.
    pub async fn close(mut self) {
        let short = Duration::from_secs(2);
        let detach = json!({ "janus": "detach", "session_id": self.session, "handle_id": self.handle });
        let _ = tokio::time::timeout(short, self.call(detach)).await;
        let destroy = json!({ "janus": "destroy", "session_id": self.session });
        let _ = tokio::time::timeout(short, self.call(destroy)).await;
        let _ = self.out.send(Message::Close(None));
        if let Some(writer) = self.writer.take() {
            let _ = tokio::time::timeout(short, writer).await;
        }
    }

    /// A VideoRoom request on our handle: the plugin's `data` and the JSEP, if any.
    async fn message(&self, body: Value, jsep: Option<Value>) -> Result<(Value, Option<Value>), Fail> {
        let request = body["request"].as_str().unwrap_or("?").to_owned();
        let mut message = json!({ "janus": "message", "session_id": self.session, "handle_id": self.handle, "body": body });
        if let Some(jsep) = jsep {
            message["jsep"] = jsep;
        }
        let reply = self.call(message).await.map_err(|f| Fail { text: format!("videoroom `{request}`: {}", f.text), ..f })?;
        let data = reply["plugindata"]["data"].clone();
        if let Some(code) = data["error_code"].as_i64() {
            let text = format!("videoroom `{request}`: error {code}: {}", data["error"].as_str().unwrap_or("?"));
            return Err(Fail { code, text });
        }
        if !data.is_object() {
            return Err(Fail { code: 0, text: format!("videoroom `{request}`: no plugin data in {reply}") });
        }
        Ok((data, reply.get("jsep").cloned()))
    }

    /// Sends one Janus API request and returns its `success` or (after an `ack`) `event` reply.
    async fn call(&self, mut message: Value) -> Result<Value, Fail> {
        let transaction = format!("t{}", self.next_transaction.fetch_add(1, Ordering::Relaxed));
        message["transaction"] = Value::from(transaction.clone());
        let what = message["janus"].as_str().unwrap_or("?").to_owned();
        let (tx, mut replies) = mpsc::unbounded_channel();
        self.waiters.lock().expect(WAITERS_LOCK).insert(transaction.clone(), tx);
        let result = async {
            if self.closed.load(Ordering::SeqCst) {
                return Err(Fail::closed());
            }
            self.out.send(Message::text(message.to_string())).map_err(|_| Fail::closed())?;
            let deadline = tokio::time::Instant::now() + REQUEST_TIMEOUT;
            loop {
                let reply = tokio::time::timeout_at(deadline, replies.recv()).await;
                let reply = reply.map_err(|_| Fail { code: 0, text: format!("no reply to `{what}` within {REQUEST_TIMEOUT:?}") })?;
                let reply = reply.ok_or_else(Fail::closed)?;
                match reply["janus"].as_str() {
                    Some("ack") => {} // an asynchronous plugin request: its result follows as an event
                    Some("success" | "event") => return Ok(reply),
                    Some("error") => {
                        let code = reply["error"]["code"].as_i64().unwrap_or(0);
                        let text = format!("`{what}`: Janus error {code}: {}", reply["error"]["reason"].as_str().unwrap_or("?"));
                        return Err(Fail { code, text });
                    }
                    _ => return Err(Fail { code: 0, text: format!("`{what}`: unexpected reply {reply}") }),
                }
            }
        }
        .await;
        self.waiters.lock().expect(WAITERS_LOCK).remove(&transaction);
        result
    }
}

impl Drop for JanusClient {
    fn drop(&mut self) {
        for task in self.tasks.iter().chain(self.writer.as_ref()) {
            task.abort();
        }
    }
}

fn sdp_of(jsep: Option<Value>, kind: &str, request: &str) -> Result<String, String> {
    match jsep {
        Some(j) if j["type"] == kind && j["sdp"].is_string() => Ok(j["sdp"].as_str().unwrap_or_default().to_owned()),
        other => Err(format!("videoroom `{request}`: expected an SDP {kind}, got {other:?}")),
    }
}
