//! Cluster mode end to end: a real `redis-server` (started here on a free port, persistence off)
//! and three `nertc-server` processes sharing it; protocol clients enter through different
//! nodes, follow redirects, and exchange real WebRTC media that is checked packet by packet.
//!
//! Run in the loopback namespace: `./scripts/netns.sh cargo test -p nertc-server --test cluster
//! -- --nocapture` (the tests take turns: each starts its own four processes).

mod support;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nertc_protocol::{ErrorCode, JoinRequest, Resume, RoomEvent, SubscriptionState, TrackId, Uid};
use support::*;

/// Node timings used by every test: the defaults of `[cluster]` (so the failover test measures
/// what a deployment gets).
const HEARTBEAT_MS: u64 = 500;
const LEASE_MS: u64 = 2000;
/// The secret of app `secure`, the same on every node (other app keys are debug apps).
const SECRET: &str = "cluster-secret";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port").local_addr().expect("local addr").port()
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nertc-cluster-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A private `redis-server`: no persistence, killed on drop.
struct Redis {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Redis {
    fn start(dir: &std::path::Path) -> Redis {
        let mut r = Redis { port: free_port(), dir: dir.to_owned(), child: None };
        r.restart();
        r
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again, on the same port, empty: persistence is off).
    fn restart(&mut self) {
        let log = std::fs::File::create(self.dir.join("redis.log")).expect("redis log");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .current_dir(&self.dir)
            .stdout(log)
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (scripts/setup.sh installs it)");
        self.child = Some(child);
        let until = Instant::now() + Duration::from_secs(10);
        while redis_cmd(&self.url(), &["PING"]).as_deref() != Some("PONG") {
            assert!(Instant::now() < until, "redis-server did not answer PING");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One command through `redis-cli` (a second, independent client); its trimmed output.
fn redis_cmd(url: &str, args: &[&str]) -> Option<String> {
    let out = Command::new("redis-cli").arg("-u").arg(url).args(args).stderr(Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned()).filter(|s| !s.starts_with("Could not connect"))
}

/// One `nertc-server` process in cluster mode, killed (-9) on drop.
struct Node {
    id: String,
    addr: SocketAddr,
    child: Option<Child>,
}

impl Node {
    fn start(dir: &std::path::Path, redis_url: &str, id: &str, drain_timeout_ms: u64) -> Node {
        let config = dir.join(format!("{id}.toml"));
        std::fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:0\"\nallow_unknown_apps = true\n[apps.secure]\nsecret = \"{SECRET}\"\n[cluster]\nredis_url = \"{redis_url}\"\nnode_id = \"{id}\"\nheartbeat_ms = {HEARTBEAT_MS}\nlease_ms = {LEASE_MS}\ndrain_timeout_ms = {drain_timeout_ms}\n"
            ),
        )
        .expect("node config");
        let log = std::fs::File::create(dir.join(format!("{id}.log"))).expect("node log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_nertc-server"))
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info,webrtc=warn,rtc=warn")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("nertc-server starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = lines.next().expect("a line on stdout").expect("readable stdout");
        let addr = line.strip_prefix("nertc-server listening on http://").unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        let addr: SocketAddr = addr.parse().expect("listen address");
        let node = lines.next().expect("the node line").expect("readable stdout");
        assert_eq!(node, format!("nertc-server node {id}"));
        Node { id: id.to_owned(), addr, child: Some(child) }
    }

    fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let ok = Command::new("kill").args([sig, &pid]).status().expect("kill runs").success();
        assert!(ok, "kill {sig} {pid}");
    }

    /// Waits for the process to exit; its exit code.
    fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let child = self.child.as_mut()?;
        let until = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return status.code();
            }
            assert!(Instant::now() < until, "node {} did not exit within {within:?}", self.id);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    async fn metric(&self, name: &str) -> f64 {
        let page = http_get(self.addr, "/metrics").await;
        page.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')).and_then(|v| v.parse().ok()))
            .unwrap_or_else(|| panic!("{name} not in /metrics of {}:\n{page}", self.id))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// One cluster at a time: each test starts four processes, and they share two cores.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct Cluster {
    dir: PathBuf,
    redis: Redis,
    nodes: Vec<Node>,
    _turn: std::sync::MutexGuard<'static, ()>,
}

impl Cluster {
    /// Starts Redis and `n` nodes, and waits until every node has seen all `n` in Redis.
    async fn start(name: &str, n: usize, drain_timeout_ms: u64) -> Cluster {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        init_tracing();
        let dir = scratch_dir(name);
        let redis = Redis::start(&dir);
        let nodes = (0..n).map(|i| Node::start(&dir, &redis.url(), &format!("n{i}"), drain_timeout_ms)).collect();
        let cluster = Cluster { dir, redis, nodes, _turn: turn };
        let until = Instant::now() + Duration::from_secs(10);
        for node in &cluster.nodes {
            while node.metric("nertc_cluster_nodes").await != n as f64 {
                assert!(Instant::now() < until, "node {} did not see the {n} nodes", node.id);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        cluster
    }

    fn node_of(&self, url: &str) -> usize {
        self.nodes.iter().position(|n| n.url() == url).unwrap_or_else(|| panic!("{url} is no node of this cluster"))
    }

    /// `nertc-server cluster status` output.
    fn status(&self) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_nertc-server"))
            .args(["cluster", "status", "--redis-url", &self.redis.url()])
            .output()
            .expect("cluster status runs");
        assert!(out.status.success(), "cluster status: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            n.kill9();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("cluster logs kept in {}", self.dir.display());
        }
    }
}

/// A participant: the client, the URL it entered through, and the node that serves it.
struct Member {
    client: Client,
    entry: String,
    node_url: String,
    tracks: Option<(TrackId, TrackId)>,
}

async fn enter(entry: &str, channel: &str, uid: Uid) -> (Member, usize) {
    let (client, node_url, redirects) = Client::join_at(entry, join_req(channel, uid)).await.expect("join through the cluster");
    (Member { client, entry: entry.to_owned(), node_url, tracks: None }, redirects)
}

/// Everyone publishes audio + video and subscribes to everyone else's; waits until each
/// receives intact packets of every other track. Returns when the last member's first intact
/// video packet from the last publisher arrived.
async fn exchange_media(members: &mut [Member], min_audio: u64, min_video: u64) -> Instant {
    for m in members.iter_mut() {
        if m.tracks.is_none() {
            m.tracks = Some(m.client.publish_av().await);
        }
    }
    let published: Vec<(Uid, TrackId, TrackId)> = members
        .iter()
        .map(|m| {
            let (a, v) = m.tracks.clone().expect("published above");
            (m.client.uid, a, v)
        })
        .collect();
    for m in members.iter_mut() {
        for (uid, a, v) in &published {
            if *uid == m.client.uid {
                continue;
            }
            for tid in [a, v] {
                let t = tid.clone();
                m.client
                    .wait_event(
                        &format!("track_published {tid}"),
                        move |e| matches!(e, RoomEvent::TrackPublished { track, .. } if track.track_id == t),
                    )
                    .await;
                m.client.subscribe(tid).await.expect("subscribe accepted");
            }
        }
        for _ in 0..2 * (published.len() - 1) {
            m.client
                .wait_event("subscription active", |e| matches!(e, RoomEvent::Subscription { state: SubscriptionState::Active, .. }))
                .await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut done = true;
        let mut last_first = None::<Instant>;
        for m in members.iter() {
            for (uid, a, v) in &published {
                if *uid == m.client.uid {
                    continue;
                }
                let (ra, rv) = (m.client.received(a).await, m.client.received(v).await);
                assert!(rv.from_uid.is_none_or(|u| u == *uid), "video of {uid} came from {:?}", rv.from_uid);
                if ra.intact < min_audio || rv.intact < min_video {
                    done = false;
                }
                if let Some(t) = rv.first_at {
                    last_first = Some(last_first.map_or(t, |l| l.max(t)));
                }
            }
        }
        if done {
            return last_first.expect("video arrived");
        }
        if Instant::now() > deadline {
            let mut report = String::new();
            for m in members.iter() {
                for (uid, a, v) in &published {
                    if *uid != m.client.uid {
                        let (ra, rv) = (m.client.received(a).await, m.client.received(v).await);
                        report += &format!("\n  {} <- {uid}: audio {} video {}", m.client.uid, ra.intact, rv.intact);
                    }
                }
            }
            panic!("media did not flow everywhere within 15 s:{report}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every member still receives every other member's video: the intact count grows over 1 s.
async fn still_flowing(members: &[Member]) {
    let mut before = BTreeMap::new();
    for m in members {
        for o in members.iter().filter(|o| o.client.uid != m.client.uid) {
            let v = o.tracks.clone().expect("published").1;
            before.insert((m.client.uid, o.client.uid), m.client.received(&v).await.intact);
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for m in members {
        for o in members.iter().filter(|o| o.client.uid != m.client.uid) {
            let v = o.tracks.clone().expect("published").1;
            let now = m.client.received(&v).await.intact;
            assert!(now > before[&(m.client.uid, o.client.uid)], "video {} -> {} stalled", o.client.uid, m.client.uid);
        }
    }
}

/// Rejoins a member whose node went away, as the engine does: resume first (through its entry
/// URL, then the other nodes its join result listed, following redirects), then a fresh join
/// when the resume is refused. Retries every 100 ms until `until`.
async fn rejoin(m: &Member, until: Instant) -> (Member, bool) {
    let join = m.client.join.clone().expect("was joined");
    let mut urls = vec![m.entry.clone()];
    urls.extend(join.nodes.iter().filter(|u| **u != m.entry).cloned());
    let mut resume =
        Some(Resume { session_id: join.session_id.clone(), resume_token: join.resume_token.clone(), last_seq: m.client.last_seq });
    let mut attempt = 0usize;
    loop {
        let url = &urls[attempt % urls.len()];
        attempt += 1;
        let req = JoinRequest { resume: resume.clone(), ..join_req(&join.channel, join.uid) };
        match Client::join_at(url, req).await {
            Ok((client, node_url, _)) => {
                let resumed = client.join.as_ref().is_some_and(|j| j.resumed.is_some());
                return (Member { client, entry: m.entry.clone(), node_url, tracks: None }, resumed);
            }
            Err(e) if e.code == ErrorCode::ResumeFailed => resume = None,
            Err(e) => {
                assert!(Instant::now() < until, "uid {}: no rejoin in time; last error {e:?}", join.uid);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_entry_points_one_room_media_flows() {
    let cluster = Cluster::start("entry", 3, 30_000).await;
    let ch = "cluster-one-room";
    let mut members = Vec::new();
    let mut redirects = 0;
    for (i, uid) in [21u64, 22, 23].into_iter().enumerate() {
        let (m, r) = enter(&cluster.nodes[i].url(), ch, uid).await;
        redirects += r;
        members.push(m);
    }
    let owner = members[0].node_url.clone();
    for m in &members {
        assert_eq!(m.node_url, owner, "every entry point leads to the room's one node");
        assert_eq!(m.client.join.as_ref().map(|j| j.cid), members[0].client.join.as_ref().map(|j| j.cid), "one room");
        let nodes = &m.client.join.as_ref().expect("joined").nodes;
        assert_eq!(nodes.len(), 2, "the join result lists the other two nodes: {nodes:?}");
        assert!(!nodes.contains(&owner));
    }
    // Two of the three entered elsewhere than the owner: exactly those were redirected, once.
    assert_eq!(redirects, 2);
    let users: Vec<u64> = members[2].client.join.as_ref().expect("joined").users.iter().map(|u| u.uid).collect();
    assert_eq!(users, vec![21, 22]);
    exchange_media(&mut members, 50, 30).await;

    let o = cluster.node_of(&owner);
    let mut redirected = 0.0;
    for (i, n) in cluster.nodes.iter().enumerate() {
        redirected += n.metric("nertc_cluster_redirects_total").await;
        assert_eq!(n.metric("nertc_cluster_nodes").await, 3.0);
        assert_eq!(n.metric("nertc_cluster_redis_up").await, 1.0);
        let owned = n.metric("nertc_cluster_rooms_owned").await;
        assert_eq!(owned, if i == o { 1.0 } else { 0.0 }, "node {} owns {owned} rooms", n.id);
        assert!(n.metric("nertc_cluster_lease_renewals_total").await >= 1.0);
        assert_eq!(n.metric("nertc_cluster_lease_failures_total").await, 0.0);
    }
    assert_eq!(redirected, 2.0);
    assert!(cluster.nodes[o].metric("nertc_cluster_forwarded_pps").await > 0.0, "the owner reports its forwarding rate");
    let status = cluster.status();
    assert!(status.starts_with("3 live node(s)"), "{status}");
    let owner_line = status.lines().find(|l| l.starts_with(&cluster.nodes[o].id)).expect("owner listed");
    assert!(owner_line.contains(&owner) && owner_line.contains("serving"), "{owner_line}");
    assert!(status.contains(&format!("nertc:room:4:test:{ch}")), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_killed_everyone_back_on_a_live_node_within_5s() {
    let mut cluster = Cluster::start("failover", 3, 30_000).await;
    let ch = "cluster-failover";
    let mut members = Vec::new();
    for (i, uid) in [31u64, 32, 33].into_iter().enumerate() {
        members.push(enter(&cluster.nodes[i].url(), ch, uid).await.0);
    }
    exchange_media(&mut members, 20, 10).await;
    let owner = members[0].node_url.clone();
    let o = cluster.node_of(&owner);
    let room_key = format!("nertc:room:4:test:{ch}");
    assert_eq!(redis_cmd(&cluster.redis.url(), &["GET", &room_key]).as_deref(), Some(cluster.nodes[o].id.as_str()));

    let killed = Instant::now();
    cluster.nodes[o].kill9();
    // Lease expiry, watched from a second Redis client.
    let redis_url = cluster.redis.url();
    let dead_id = cluster.nodes[o].id.clone();
    let key = room_key.clone();
    let expiry = tokio::task::spawn_blocking(move || {
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if redis_cmd(&redis_url, &["GET", &key]).as_deref() != Some(dead_id.as_str()) {
                return Some(Instant::now());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    });
    let until = killed + Duration::from_secs(10);
    let mut back = Vec::new();
    for m in &members {
        back.push(rejoin(m, until));
    }
    let back = futures_util::future::join_all(back).await;
    let rejoined = Instant::now();
    let lease_gone = expiry.await.expect("watcher").expect("the dead node's lease ended");
    let mut fresh: Vec<Member> = Vec::new();
    for (m, resumed) in back {
        assert!(!resumed, "a resume cannot succeed: its node is dead");
        fresh.push(m);
    }
    let new_owner = fresh[0].node_url.clone();
    assert_ne!(new_owner, owner);
    assert!(fresh.iter().all(|m| m.node_url == new_owner), "everyone on one live node");
    let first_frame = exchange_media(&mut fresh, 10, 5).await;
    let ms = |t: Instant| t.duration_since(killed).as_millis();
    eprintln!(
        "failover timeline: kill -> lease gone {} ms -> all rejoined {} ms -> last first video packet {} ms (lease {LEASE_MS} ms, heartbeat {HEARTBEAT_MS} ms)",
        ms(lease_gone),
        ms(rejoined),
        ms(first_frame)
    );
    assert!(lease_gone.duration_since(killed) <= Duration::from_millis(LEASE_MS + 300), "the lease outlived its TTL");
    assert!(first_frame.duration_since(killed) < Duration::from_secs(5), "media back {} ms after the kill", ms(first_frame));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_node_moves_its_live_room() {
    // The room gets 1 s to empty, then moves.
    let mut cluster = Cluster::start("drain", 3, 1_000).await;
    let ch = "cluster-drain";
    let mut members = Vec::new();
    for (i, uid) in [41u64, 42].into_iter().enumerate() {
        members.push(enter(&cluster.nodes[i].url(), ch, uid).await.0);
    }
    exchange_media(&mut members, 20, 10).await;
    let owner = members[0].node_url.clone();
    let o = cluster.node_of(&owner);
    // Members entered through the owner reconnect to it while it drains: it must redirect them.
    cluster.nodes[o].signal("-TERM");
    // A new room is not placed on a draining node, whichever node the join reaches.
    tokio::time::sleep(Duration::from_millis(2 * HEARTBEAT_MS)).await;
    for n in 0..3 {
        let (m, _) = enter(&cluster.nodes[n].url(), &format!("cluster-drain-new-{n}"), 49).await;
        assert_ne!(m.node_url, owner, "new room placed on the draining node");
    }
    let mut fresh = Vec::new();
    for m in members.iter_mut() {
        let (code, reason) = m.client.wait_closed().await;
        assert_eq!(code, 1012, "told to reconnect elsewhere: {reason}");
    }
    for m in &members {
        fresh.push(rejoin(m, Instant::now() + Duration::from_secs(10)).await.0);
    }
    assert_eq!(cluster.nodes[o].wait_exit(Duration::from_secs(10)), Some(0), "a drained node exits cleanly");
    let new_owner = fresh[0].node_url.clone();
    assert_ne!(new_owner, owner);
    assert!(fresh.iter().all(|m| m.node_url == new_owner));
    exchange_media(&mut fresh, 20, 10).await;
    let status = cluster.status();
    assert!(status.starts_with("2 live node(s)"), "the drained node left the cluster:\n{status}");
    // `nertc-server drain` asks a node through Redis; it drains the same way and exits.
    let other = (0..3).find(|&i| i != o && cluster.nodes[i].url() != new_owner).expect("a third node");
    let out = Command::new(env!("CARGO_BIN_EXE_nertc-server"))
        .args(["drain", "--redis-url", &cluster.redis.url(), "--node-id", &cluster.nodes[other].id])
        .output()
        .expect("nertc-server drain runs");
    assert!(out.status.success(), "drain: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(cluster.nodes[other].wait_exit(Duration::from_secs(10)), Some(0));
    let status = cluster.status();
    assert!(status.starts_with("1 live node(s)"), "{status}");
    still_flowing(&fresh).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_split_room_ends_on_one_node() {
    let mut cluster = Cluster::start("split", 2, 30_000).await;
    let ch = "cluster-split";
    // A call placed while Redis is up keeps working through the outage.
    let mut call = Vec::new();
    for (i, uid) in [51u64, 52].into_iter().enumerate() {
        call.push(enter(&cluster.nodes[i].url(), "cluster-outage-call", uid).await.0);
    }
    exchange_media(&mut call, 10, 5).await;
    cluster.redis.stop();
    // Both nodes notice; the call goes on. Then each takes the new room locally: a split.
    tokio::time::sleep(Duration::from_millis(3 * HEARTBEAT_MS)).await;
    still_flowing(&call).await;
    let (a, _) = enter(&cluster.nodes[0].url(), ch, 61).await;
    let (b, _) = enter(&cluster.nodes[1].url(), ch, 62).await;
    assert_eq!(a.node_url, cluster.nodes[0].url());
    assert_eq!(b.node_url, cluster.nodes[1].url(), "without Redis each node serves the room itself");
    for n in &cluster.nodes {
        assert_eq!(n.metric("nertc_cluster_redis_up").await, 0.0);
        assert!(n.metric("nertc_cluster_rooms_unsynced_total").await >= 1.0);
    }
    cluster.redis.restart();
    // The first heartbeat after Redis returns claims the room; the other node finds it taken
    // and moves its user there.
    let mut members = [a, b];
    let mut moved = None;
    let until = Instant::now() + Duration::from_secs(10);
    while moved.is_none() {
        for (i, m) in members.iter().enumerate() {
            if m.client.closed.borrow().is_some() {
                moved = Some(i);
            }
        }
        assert!(Instant::now() < until, "no node gave the split room up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let loser = moved.expect("set above");
    let winner = 1 - loser;
    let (code, _) = members[loser].client.wait_closed().await;
    assert_eq!(code, 1012);
    let (back, _) = rejoin(&members[loser], Instant::now() + Duration::from_secs(10)).await;
    assert_eq!(back.node_url, members[winner].node_url, "the room's users end on one node");
    members[loser] = back;
    let joined = members[loser].client.join.as_ref().expect("joined").users.iter().map(|u| u.uid).collect::<Vec<_>>();
    assert_eq!(joined, vec![members[winner].client.uid]);
    exchange_media(&mut members, 10, 5).await;
    // The outage call never moved and still flows.
    for m in &call {
        assert!(m.client.closed.borrow().is_none(), "uid {} was disconnected", m.client.uid);
    }
    still_flowing(&call).await;
    let winner_idx = cluster.node_of(&members[winner].node_url);
    assert!(cluster.nodes[1 - winner_idx].metric("nertc_cluster_rooms_migrated_total").await >= 1.0);
    for n in &cluster.nodes {
        assert_eq!(n.metric("nertc_cluster_redis_up").await, 1.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_rooms_spread_evenly() {
    let cluster = Cluster::start("spread", 3, 30_000).await;
    let mut per_node: HashMap<String, usize> = HashMap::new();
    let mut members = Vec::new();
    for r in 0..30u64 {
        let entry = cluster.nodes[(r % 3) as usize].url();
        let (m, _) = enter(&entry, &format!("spread-{r}"), 100 + r).await;
        *per_node.entry(m.node_url.clone()).or_default() += 1;
        members.push(m);
    }
    eprintln!("30 rooms over 3 nodes: {per_node:?}");
    assert_eq!(per_node.len(), 3, "every node got rooms: {per_node:?}");
    for (node, n) in &per_node {
        assert!((7..=13).contains(n), "{node} got {n} rooms; even is 10 (±30 %)");
    }
    tokio::time::sleep(Duration::from_millis(2 * HEARTBEAT_MS)).await;
    let mut owned = 0.0;
    for n in &cluster.nodes {
        owned += n.metric("nertc_cluster_rooms_owned").await;
    }
    assert_eq!(owned, 30.0, "every room's lease renewed by its node");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_checked_on_every_node() {
    let cluster = Cluster::start("tokens", 3, 30_000).await;
    let ch = "cluster-tokens";
    let req = |uid: Uid, secret: &str| JoinRequest {
        token: Some(nertc_server::mint_token("secure", secret, ch, uid, nertc_server::now_secs(), 600)),
        app_key: "secure".into(),
        ..join_req(ch, uid)
    };
    let mut landed = Vec::new();
    for (i, uid) in [71u64, 72, 73].into_iter().enumerate() {
        let (c, url, _) = Client::join_at(&cluster.nodes[i].url(), req(uid, SECRET)).await.expect("a valid token joins through any node");
        assert_eq!(c.join.as_ref().map(|j| j.uid), Some(uid));
        landed.push((c, url));
    }
    assert!(landed.iter().all(|(_, u)| *u == landed[0].1), "one room");
    // A forged token is refused by the node it reaches, before any placement or redirect.
    for n in &cluster.nodes {
        let err = Client::join_at(&n.url(), req(74, "not-the-secret")).await.err().expect("a forged token is refused");
        assert_eq!(err.code, ErrorCode::TokenBadSignature);
    }
    let err = Client::join_at(&cluster.nodes[0].url(), JoinRequest { token: None, ..req(75, SECRET) }).await.err().expect("refused");
    assert_eq!(err.code, ErrorCode::TokenMissing);
}
