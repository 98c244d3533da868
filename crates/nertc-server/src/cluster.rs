//! Cluster mode: several room-server nodes share one Redis, which says which node owns which
//! room. Without a `[cluster]` table none of this runs.
//!
//! # Redis keys (all under the `nertc:` prefix)
//! ```text
//! nertc:nodes                  sorted set  node id -> last heartbeat (unix ms); listing only
//! nertc:node:<id>              hash        url, rooms, pending, users, pps, cpu, draining,
//!                                          started, ts; expires after lease_ms (liveness)
//! nertc:node:<id>:rooms        set         the room keys the node renewed at its last heartbeat
//! nertc:room:<len>:<app>:<ch>  string      owner node id; expires after lease_ms (the lease)
//! ```
//! `<len>` is the app key's length in bytes, so that an app key holding `:` stays unambiguous.
//!
//! # How a room is placed
//! A join reaches any node. The conn task asks [`Cluster::place`]: when the room key names a
//! live node, that node owns the room (this one: serve it; another: redirect the client to its
//! `url`). When the key is missing, or names a node whose record expired (it died), the node
//! picks the least-loaded live node that is not draining and claims the room for it with one
//! Lua script (set-if-absent-or-owner-dead, and `pending += 1` on the chosen node so that joins
//! placed between two heartbeats see it). Load score: `4·(rooms + pending) + users + pps/1000
//! + cpu/25` (cpu in % of one core; 100 % weighs as much as one room).
//!
//! # Heartbeat
//! Every `heartbeat_ms` one Lua script writes the node record (and its expiry), renews the lease
//! of every room the directory holds (re-creating a lease that expired, e.g. while Redis was
//! away), releases the rooms closed since the last heartbeat, and returns the rooms that Redis
//! says belong to another node. Those lost rooms (two nodes claimed the room while Redis was
//! unreachable) are migrated: their sessions' sockets are closed (1012) and the clients, which
//! reconnect on their own, are redirected to the owner.
//!
//! # Redis trouble
//! Every call has a short timeout. While Redis is unreachable the node keeps its rooms, places
//! new rooms on itself (a warning each time) and counts the failed renewals; the next good
//! heartbeat re-asserts its leases, which is where a split shows up and is settled.
//!
//! The scripts touch keys they compute (node records named by a room's value), so this layout
//! needs one Redis (or a primary with replicas), not a sharded Redis Cluster.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::{OnceCell, watch};

use crate::config::ClusterConfig;
use crate::directory::{Directory, RoomKey};
use crate::metrics::Metrics;

/// Where a join for a room is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Here: this node owns the room (or Redis is unreachable and it serves it anyway).
    Local,
    /// On the node at this `public_url`.
    Remote(String),
}

/// One live node, as its record in Redis says.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    pub id: String,
    pub url: String,
    pub rooms: u64,
    pub pending: u64,
    pub users: u64,
    pub pps: u64,
    pub cpu: u64,
    pub draining: bool,
    pub started_ms: u64,
    pub heartbeat_ms: u64,
    /// The room keys it renewed at its last heartbeat (filled by [`status`] only).
    pub room_keys: Vec<String>,
}

impl NodeInfo {
    /// Lower is less loaded (see the module doc).
    pub fn score(&self) -> u64 {
        4 * (self.rooms + self.pending) + self.users + self.pps / 1000 + self.cpu / 25
    }
}

const PREFIX: &str = "nertc:";
/// How long one Redis call may take before the node treats Redis as unreachable.
const REDIS_TIMEOUT: Duration = Duration::from_millis(400);

pub fn nodes_key() -> String {
    format!("{PREFIX}nodes")
}
pub fn node_key(id: &str) -> String {
    format!("{PREFIX}node:{id}")
}
fn node_rooms_key(id: &str) -> String {
    format!("{PREFIX}node:{id}:rooms")
}
/// Set by `nertc-server drain`: the node drains and exits.
pub fn drain_key(id: &str) -> String {
    format!("{PREFIX}drain:{id}")
}
pub fn room_key(key: &RoomKey) -> String {
    format!("{PREFIX}room:{}:{}:{}", key.app_key.len(), key.app_key, key.channel)
}

/// Claims `KEYS[1]` (a room) for node `ARGV[1]` unless a live node holds it (a node `ARGV[4]`
/// that is moving its rooms away does not count); returns the owner. `KEYS[2]` is the chosen
/// node's record (its `pending` count goes up).
const CLAIM: &str = r#"
local v = redis.call('GET', KEYS[1])
if v and v ~= ARGV[4] and redis.call('EXISTS', ARGV[3] .. v) == 1 then return v end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('HINCRBY', KEYS[2], 'pending', 1) end
return ARGV[1]
"#;

/// The heartbeat. KEYS: node record, nodes set, node's room set, drain request, then the rooms
/// it holds. ARGV: id, lease ms, now ms, url, users, pps, cpu, draining, started ms, count of
/// released rooms, released room keys... Returns {drain requested (0/1), then {room key, owner}
/// pairs for the rooms another node owns}.
const HEARTBEAT: &str = r#"
local id, lease = ARGV[1], ARGV[2]
local held = #KEYS - 4
redis.call('HSET', KEYS[1], 'url', ARGV[4], 'rooms', held, 'pending', 0, 'users', ARGV[5], 'pps', ARGV[6],
  'cpu', ARGV[7], 'draining', ARGV[8], 'started', ARGV[9], 'ts', ARGV[3])
redis.call('PEXPIRE', KEYS[1], lease)
redis.call('ZADD', KEYS[2], ARGV[3], id)
redis.call('DEL', KEYS[3])
local lost = {tostring(redis.call('EXISTS', KEYS[4]))}
for i = 5, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v == id then
    redis.call('PEXPIRE', KEYS[i], lease)
    redis.call('SADD', KEYS[3], KEYS[i])
  elseif not v then
    redis.call('SET', KEYS[i], id, 'PX', lease)
    redis.call('SADD', KEYS[3], KEYS[i])
  else
    table.insert(lost, KEYS[i])
    table.insert(lost, v)
  end
end
redis.call('PEXPIRE', KEYS[3], lease)
for i = 11, 10 + tonumber(ARGV[10]) do
  if redis.call('GET', ARGV[i]) == id then redis.call('DEL', ARGV[i]) end
end
return lost
"#;

/// Releases every room key in KEYS still owned by `ARGV[1]`.
const RELEASE: &str = r#"
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end
end
return 1
"#;

struct Inner {
    cfg: ClusterConfig,
    node_id: String,
    public_url: String,
    started_ms: u64,
    conn: OnceCell<ConnectionManager>,
    client: redis::Client,
    /// The last Redis call succeeded (placement skips Redis while it is away).
    redis_ok: AtomicBool,
    draining: AtomicBool,
    /// Draining and moving the remaining rooms away: this node's own leases no longer count.
    migrating: AtomicBool,
    /// Turns true when `nertc-server drain` asked this node to drain.
    drain_requested: watch::Sender<bool>,
    metrics: Arc<Metrics>,
    /// The other live nodes' URLs, from the last heartbeat.
    peers: watch::Sender<Vec<String>>,
}

/// This node's view of the cluster; cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("node_id", &self.inner.node_id).field("public_url", &self.inner.public_url).finish()
    }
}

/// Unix time in ms (the heartbeat's clock).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn random_node_id() -> String {
    format!("node-{:08x}", rand::random::<u32>())
}

impl Cluster {
    /// Sets this node up; `addr` is the bound listen address (the default `public_url`). Redis
    /// need not be up: the connection is made (and re-made) when needed.
    pub fn new(cfg: ClusterConfig, addr: std::net::SocketAddr, metrics: Arc<Metrics>) -> Result<Cluster, redis::RedisError> {
        let client = redis::Client::open(cfg.redis_url.as_str())?;
        let node_id = cfg.node_id.clone().unwrap_or_else(random_node_id);
        let public_url = cfg.public_url.clone().unwrap_or_else(|| format!("ws://{addr}"));
        let (peers, _) = watch::channel(Vec::new());
        let inner = Inner {
            cfg,
            node_id,
            public_url,
            started_ms: now_ms(),
            conn: OnceCell::new(),
            client,
            redis_ok: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            migrating: AtomicBool::new(false),
            drain_requested: watch::channel(false).0,
            metrics,
            peers,
        };
        Ok(Cluster { inner: Arc::new(inner) })
    }

    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    pub fn public_url(&self) -> &str {
        &self.inner.public_url
    }

    /// The other live nodes' URLs (for [`nertc_protocol::JoinResult::nodes`]).
    pub fn peer_urls(&self) -> Vec<String> {
        self.inner.peers.borrow().clone()
    }

    pub fn draining(&self) -> bool {
        self.inner.draining.load(Relaxed)
    }

    async fn conn(&self) -> redis::RedisResult<ConnectionManager> {
        let client = self.inner.client.clone();
        let conn = self
            .inner
            .conn
            .get_or_try_init(|| async move {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(REDIS_TIMEOUT))
                    .set_response_timeout(Some(REDIS_TIMEOUT))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(200));
                ConnectionManager::new_with_config(client, config).await
            })
            .await?;
        Ok(conn.clone())
    }

    /// Runs one Redis operation with the timeout; records whether Redis answered.
    async fn redis<T, F, Fut>(&self, what: &str, op: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let result = tokio::time::timeout(REDIS_TIMEOUT * 2, async {
            let conn = self.conn().await?;
            op(conn).await
        })
        .await;
        let m = &self.inner.metrics.cluster;
        match result {
            Ok(Ok(v)) => {
                if !self.inner.redis_ok.swap(true, Relaxed) {
                    tracing::info!(node = %self.inner.node_id, "redis reachable");
                }
                m.redis_up.store(1, Relaxed);
                Some(v)
            }
            Ok(Err(e)) => {
                if self.inner.redis_ok.swap(false, Relaxed) {
                    tracing::warn!(node = %self.inner.node_id, "redis error during {what}: {e}");
                }
                m.redis_up.store(0, Relaxed);
                None
            }
            Err(_) => {
                if self.inner.redis_ok.swap(false, Relaxed) {
                    tracing::warn!(node = %self.inner.node_id, "redis did not answer {what} within {:?}", REDIS_TIMEOUT * 2);
                }
                m.redis_up.store(0, Relaxed);
                None
            }
        }
    }

    /// Decides where a join for `key` is served, claiming the room when nobody holds it.
    pub async fn place(&self, key: &RoomKey) -> Placement {
        let m = &self.inner.metrics.cluster;
        if !self.inner.redis_ok.load(Relaxed) {
            m.placed_unsynced.fetch_add(1, Relaxed);
            tracing::warn!(channel = %key.channel, "redis unreachable: serving the room on this node; reconciled when redis returns");
            return Placement::Local;
        }
        let rkey = room_key(key);
        let me = self.inner.node_id.clone();
        // The usual case first: the room exists and its owner is alive.
        let k = rkey.clone();
        let owner: Option<Option<(String, Option<String>)>> = self
            .redis("room lookup", |mut c| async move {
                let owner: Option<String> = c.get(&k).await?;
                let Some(owner) = owner else { return Ok(None) };
                let url: Option<String> = c.hget(node_key(&owner), "url").await?;
                Ok(Some((owner, url)))
            })
            .await;
        let Some(owner) = owner else { return self.unsynced(key) };
        match owner {
            Some((owner, _)) if owner == me && !self.inner.migrating.load(Relaxed) => return Placement::Local,
            Some((owner, Some(url))) if owner != me => {
                m.redirects.fetch_add(1, Relaxed);
                return Placement::Remote(url);
            }
            // No owner, an owner whose record expired, or this node moving its rooms away:
            // place it.
            _ => {}
        }
        let Some(nodes) = self.live_nodes().await else { return self.unsynced(key) };
        let chosen = choose(&nodes, &me, self.draining());
        if chosen == me && self.inner.migrating.load(Relaxed) {
            // Nowhere else to go: serve it here after all.
            return Placement::Local;
        }
        let lease = self.inner.cfg.lease_ms;
        let (k, chosen_id, me_id, migrating) = (rkey.clone(), chosen.clone(), me.clone(), self.inner.migrating.load(Relaxed));
        let winner: Option<String> = self
            .redis("room claim", |mut c| async move {
                redis::Script::new(CLAIM)
                    .key(&k)
                    .key(node_key(&chosen_id))
                    .arg(&chosen_id)
                    .arg(lease)
                    .arg(format!("{PREFIX}node:"))
                    .arg(if migrating { me_id.as_str() } else { "" })
                    .invoke_async(&mut c)
                    .await
            })
            .await;
        let Some(winner) = winner else { return self.unsynced(key) };
        tracing::info!(channel = %key.channel, node = %winner, "room placed");
        if winner == me {
            m.rooms_claimed.fetch_add(1, Relaxed);
            return Placement::Local;
        }
        let url = nodes.iter().find(|n| n.id == winner).map(|n| n.url.clone());
        let url = match url {
            Some(u) => Some(u),
            None => self.redis("owner lookup", |mut c| async move { c.hget(node_key(&winner), "url").await }).await.flatten(),
        };
        match url {
            Some(url) => {
                m.redirects.fetch_add(1, Relaxed);
                Placement::Remote(url)
            }
            None => self.unsynced(key),
        }
    }

    fn unsynced(&self, key: &RoomKey) -> Placement {
        self.inner.metrics.cluster.placed_unsynced.fetch_add(1, Relaxed);
        tracing::warn!(channel = %key.channel, "redis unreachable: serving the room on this node; reconciled when redis returns");
        Placement::Local
    }

    /// Every node whose record has not expired.
    async fn live_nodes(&self) -> Option<Vec<NodeInfo>> {
        self.redis("node list", |mut c| async move { read_nodes(&mut c, false).await }).await
    }

    /// Starts the heartbeat task; it runs until `stop` turns true, then releases this node's
    /// rooms and record.
    pub fn spawn_heartbeat(&self, directory: Directory, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(this.inner.cfg.heartbeat());
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut load = LoadProbe::new(this.inner.metrics.clone());
            let mut held: HashSet<String> = HashSet::new();
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
                // A node moving its rooms away renews none of them (and so releases them all).
                let rooms = if this.inner.migrating.load(Relaxed) { Vec::new() } else { directory.list().await };
                let keys: HashSet<String> = rooms.iter().map(room_key).collect();
                let released: Vec<String> = held.difference(&keys).cloned().collect();
                let lost = this.heartbeat(&keys, &released, load.sample()).await;
                let Some((drain, lost)) = lost else {
                    this.inner.metrics.cluster.lease_failures.fetch_add(1, Relaxed);
                    // Released rooms are released again next time.
                    held = keys.union(&held).cloned().collect();
                    continue;
                };
                this.inner.metrics.cluster.lease_renewals.fetch_add(1, Relaxed);
                this.inner.metrics.cluster.rooms_owned.store(keys.len() as i64, Relaxed);
                held = keys;
                if drain && !*this.inner.drain_requested.borrow() {
                    tracing::info!(node = %this.inner.node_id, "drain requested through redis");
                    this.inner.drain_requested.send_replace(true);
                }
                for (rkey, owner) in lost {
                    if let Some(room) = rooms.iter().find(|r| room_key(r) == rkey) {
                        tracing::warn!(channel = %room.channel, owner = %owner, "room owned by another node since redis returned: moving its users there");
                        this.inner.metrics.cluster.rooms_migrated.fetch_add(1, Relaxed);
                        directory.migrate(room.clone()).await;
                        held.remove(&rkey);
                    }
                }
                if let Some(nodes) = this.live_nodes().await {
                    this.inner.metrics.cluster.nodes_seen.store(nodes.len() as i64, Relaxed);
                    let urls = nodes.iter().filter(|n| n.id != this.inner.node_id && !n.draining).map(|n| n.url.clone()).collect();
                    this.inner.peers.send_replace(urls);
                }
            }
            this.leave(&held).await;
        })
    }

    /// One heartbeat; None when Redis did not answer. Returns the rooms another node owns.
    async fn heartbeat(&self, held: &HashSet<String>, released: &[String], load: Load) -> Option<(bool, Vec<(String, String)>)> {
        let i = &self.inner;
        let (id, url) = (i.node_id.clone(), i.public_url.clone());
        let (lease, started, draining) = (i.cfg.lease_ms, i.started_ms, self.draining() as u8);
        self.redis("heartbeat", |mut c| async move {
            let script = redis::Script::new(HEARTBEAT);
            let mut inv = script.key(node_key(&id));
            inv.key(nodes_key()).key(node_rooms_key(&id)).key(drain_key(&id));
            for k in held {
                inv.key(k);
            }
            inv.arg(&id).arg(lease).arg(now_ms()).arg(&url).arg(load.users).arg(load.pps).arg(load.cpu).arg(draining).arg(started);
            inv.arg(released.len());
            for k in released {
                inv.arg(k);
            }
            let flat: Vec<String> = inv.invoke_async(&mut c).await?;
            let drain = flat.first().is_some_and(|d| d == "1");
            let lost = flat.get(1..).unwrap_or_default().chunks(2).filter_map(|p| Some((p.first()?.clone(), p.get(1)?.clone()))).collect();
            Ok((drain, lost))
        })
        .await
    }

    /// Turns true when `nertc-server drain` asked this node (through Redis) to drain.
    pub fn drain_requested(&self) -> watch::Receiver<bool> {
        self.inner.drain_requested.subscribe()
    }

    /// Stops placing new rooms here: this node's record says `draining` from the next
    /// heartbeat on, and [`Self::place`] picks other nodes. Rooms already here stay.
    pub fn start_draining(&self) {
        if !self.inner.draining.swap(true, Relaxed) {
            tracing::info!(node = %self.inner.node_id, "draining: new rooms go to other nodes");
        }
    }

    /// Moves the rooms `keys` away: from now on joins for them are placed on other nodes even
    /// though this node still holds their leases, which are then released.
    pub async fn release_for_migration(&self, keys: &[RoomKey]) {
        self.start_draining();
        self.inner.migrating.store(true, Relaxed);
        self.inner.metrics.cluster.rooms_migrated.fetch_add(keys.len() as u64, Relaxed);
        let keys: Vec<String> = keys.iter().map(room_key).collect();
        let (id, node) = (self.inner.node_id.clone(), node_key(&self.inner.node_id));
        self.redis("drain", |mut c| async move {
            let _: () = c.hset(&node, "draining", 1).await?;
            for k in &keys {
                let _: i64 = redis::Script::new(RELEASE).key(k).arg(&id).invoke_async(&mut c).await?;
            }
            Ok(())
        })
        .await;
    }

    /// On shutdown: releases the rooms still held and removes this node's record.
    async fn leave(&self, held: &HashSet<String>) {
        let (id, held) = (self.inner.node_id.clone(), held.iter().cloned().collect::<Vec<_>>());
        self.redis("leave", |mut c| async move {
            for k in &held {
                let _: i64 = redis::Script::new(RELEASE).key(k).arg(&id).invoke_async(&mut c).await?;
            }
            let _: () = c.del(&[node_key(&id), node_rooms_key(&id), drain_key(&id)]).await?;
            let _: () = c.zrem(nodes_key(), &id).await?;
            Ok(())
        })
        .await;
        tracing::info!(node = %self.inner.node_id, "left the cluster");
    }

    /// Registers this node at once (the first heartbeat), so that it takes rooms from its
    /// first join. False when Redis is unreachable (the node starts anyway).
    pub async fn register(&self) -> bool {
        let ok = self.heartbeat(&HashSet::new(), &[], Load::default()).await.is_some();
        if ok {
            tracing::info!(node = %self.inner.node_id, url = %self.inner.public_url, "joined the cluster");
        } else {
            tracing::warn!(node = %self.inner.node_id, "redis unreachable at start: serving alone until it answers");
        }
        ok
    }
}

/// The least-loaded live node that takes rooms (ties broken at random); this node when it is
/// the only candidate or Redis listed none.
fn choose(nodes: &[NodeInfo], me: &str, me_draining: bool) -> String {
    let candidates: Vec<&NodeInfo> = nodes.iter().filter(|n| !(n.draining || (me_draining && n.id == me))).collect();
    let Some(best) = candidates.iter().map(|n| n.score()).min() else { return me.to_owned() };
    let tied: Vec<&&NodeInfo> = candidates.iter().filter(|n| n.score() == best).collect();
    tied[rand::random_range(0..tied.len())].id.clone()
}

/// Reads the live nodes (with their room keys when `rooms`), dropping expired ones from the
/// listing set.
async fn read_nodes(c: &mut ConnectionManager, rooms: bool) -> redis::RedisResult<Vec<NodeInfo>> {
    let ids: Vec<String> = c.zrange(nodes_key(), 0, -1).await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for id in &ids {
        pipe.hgetall(node_key(id));
        if rooms {
            pipe.smembers(node_rooms_key(id));
        }
    }
    let values: Vec<redis::Value> = pipe.query_async(c).await?;
    let per = if rooms { 2 } else { 1 };
    let value = |i: usize| values.get(i).cloned().unwrap_or(redis::Value::Nil);
    let mut nodes = Vec::new();
    let mut dead = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let fields: std::collections::HashMap<String, String> = redis::from_redis_value(value(i * per)).unwrap_or_default();
        if fields.is_empty() {
            dead.push(id.clone());
            continue;
        }
        let num = |k: &str| fields.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let mut room_keys: Vec<String> = if rooms { redis::from_redis_value(value(i * per + 1)).unwrap_or_default() } else { Vec::new() };
        room_keys.sort();
        nodes.push(NodeInfo {
            id: id.clone(),
            url: fields.get("url").cloned().unwrap_or_default(),
            rooms: num("rooms"),
            pending: num("pending"),
            users: num("users"),
            pps: num("pps"),
            cpu: num("cpu"),
            draining: num("draining") != 0,
            started_ms: num("started"),
            heartbeat_ms: num("ts"),
            room_keys,
        });
    }
    if !dead.is_empty() {
        let _: i64 = c.zrem(nodes_key(), &dead).await?;
    }
    Ok(nodes)
}

/// `nertc-server drain --node-id ID`: asks that node, through Redis, to drain and exit.
pub async fn request_drain(redis_url: &str, node_id: &str) -> Result<(), String> {
    let client = redis::Client::open(redis_url).map_err(|e| format!("{redis_url}: {e}"))?;
    let config = ConnectionManagerConfig::new().set_connection_timeout(Some(Duration::from_secs(2))).set_number_of_retries(0);
    let mut c = ConnectionManager::new_with_config(client, config).await.map_err(|e| format!("{redis_url}: {e}"))?;
    let alive: bool = c.exists(node_key(node_id)).await.map_err(|e| format!("{redis_url}: {e}"))?;
    if !alive {
        return Err(format!("no live node {node_id:?} in {redis_url}"));
    }
    let _: () = c.set_ex(drain_key(node_id), 1, 3600).await.map_err(|e| format!("{redis_url}: {e}"))?;
    Ok(())
}

/// `nertc-server cluster status`: the live nodes, their load and rooms, from Redis.
pub async fn status(redis_url: &str) -> Result<Vec<NodeInfo>, String> {
    let client = redis::Client::open(redis_url).map_err(|e| format!("{redis_url}: {e}"))?;
    let config = ConnectionManagerConfig::new().set_connection_timeout(Some(Duration::from_secs(2))).set_number_of_retries(0);
    let mut c = ConnectionManager::new_with_config(client, config).await.map_err(|e| format!("{redis_url}: {e}"))?;
    let mut nodes = read_nodes(&mut c, true).await.map_err(|e| format!("{redis_url}: {e}"))?;
    nodes.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(nodes)
}

/// What the heartbeat reports of this node's load.
#[derive(Debug, Default, Clone, Copy)]
struct Load {
    users: u64,
    pps: u64,
    cpu: u64,
}

/// Turns counters into rates between two heartbeats.
struct LoadProbe {
    metrics: Arc<Metrics>,
    at: Instant,
    forwarded: u64,
    cpu_ticks: Option<u64>,
}

impl LoadProbe {
    fn new(metrics: Arc<Metrics>) -> Self {
        let forwarded = metrics.rtp_forwarded.load(Relaxed);
        LoadProbe { metrics, at: Instant::now(), forwarded, cpu_ticks: cpu_ticks() }
    }

    fn sample(&mut self) -> Load {
        let dt = self.at.elapsed().as_secs_f64().max(1e-3);
        let forwarded = self.metrics.rtp_forwarded.load(Relaxed);
        let ticks = cpu_ticks();
        let cpu = match (ticks, self.cpu_ticks) {
            // USER_HZ is 100 on Linux: one tick is 10 ms of CPU time.
            (Some(now), Some(then)) => (now.saturating_sub(then) as f64 * 10.0 / (dt * 1000.0) * 100.0) as u64,
            _ => 0,
        };
        let load = Load {
            users: self.metrics.users.load(Relaxed).max(0) as u64,
            pps: (forwarded.saturating_sub(self.forwarded) as f64 / dt) as u64,
            cpu,
        };
        self.metrics.cluster.forwarded_pps.store(load.pps as i64, Relaxed);
        (self.at, self.forwarded, self.cpu_ticks) = (Instant::now(), forwarded, ticks);
        load
    }
}

/// This process's user + system CPU time in clock ticks (Linux), from `/proc/self/stat`.
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces; fields after its closing ')' are plain.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line: 11 and 12 after the ')'.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, rooms: u64, users: u64, draining: bool) -> NodeInfo {
        NodeInfo {
            id: id.into(),
            url: format!("ws://{id}"),
            rooms,
            pending: 0,
            users,
            pps: 0,
            cpu: 0,
            draining,
            started_ms: 0,
            heartbeat_ms: 0,
            room_keys: Vec::new(),
        }
    }

    #[test]
    fn placement_prefers_the_least_loaded_node_that_takes_rooms() {
        let nodes = [node("a", 3, 6, false), node("b", 1, 2, false), node("c", 0, 0, true)];
        assert_eq!(choose(&nodes, "a", false), "b");
        assert_eq!(choose(&nodes, "c", true), "b", "a draining node places elsewhere");
        assert_eq!(choose(&[node("a", 0, 0, true)], "a", true), "a", "alone and draining: still serves");
        assert_eq!(choose(&[], "me", false), "me");
    }

    #[test]
    fn room_keys_are_unambiguous() {
        let a = room_key(&RoomKey { app_key: "a:b".into(), channel: "c".into() });
        let b = room_key(&RoomKey { app_key: "a".into(), channel: "b:c".into() });
        assert_ne!(a, b);
        assert_eq!(a, "nertc:room:3:a:b:c");
    }

    #[test]
    fn cpu_time_is_readable() {
        if cfg!(target_os = "linux") {
            assert!(cpu_ticks().is_some());
        }
    }
}
