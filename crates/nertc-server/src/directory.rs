//! The room directory: an actor mapping `(app key, channel)` to the room actor that owns it.
//! Rooms are created on first join and tell the directory when they close. Behind this sits
//! In cluster mode (`crate::cluster`) Redis decides which node owns a room before the conn task
//! asks here; this map holds the rooms of this node, and the heartbeat lists them to renew their
//! leases.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use tokio::sync::{mpsc, oneshot};

use crate::Shared;
use crate::room::{self, RoomCmd, RoomHandle};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoomKey {
    pub app_key: String,
    pub channel: String,
}

#[derive(Debug)]
pub enum DirCmd {
    Get {
        key: RoomKey,
        reply: oneshot::Sender<RoomHandle>,
    },
    Closed {
        key: RoomKey,
        cid: u64,
    },
    /// The rooms open on this node.
    List {
        reply: oneshot::Sender<Vec<RoomKey>>,
    },
    /// Moves a room off this node: it leaves the map at once (a later join creates a new room)
    /// and its sessions' sockets are closed with 1012, without a leave, so that clients
    /// reconnect and are placed on the room's new node.
    Migrate {
        key: RoomKey,
    },
    /// Shuts every room down; replies once they were told.
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

#[derive(Clone, Debug)]
pub struct Directory {
    tx: mpsc::UnboundedSender<DirCmd>,
}

impl Directory {
    pub fn spawn(shared: Arc<Shared>) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let self_tx = tx.clone();
        tokio::spawn(async move {
            // Room ids (NERTC's `cid`): unique within this server process; in a cluster each
            // node counts from its own random base (below 2^53, so JS reads them exactly).
            let base = if shared.config.cluster.is_some() { rand::random_range(1u64..1 << 20) << 32 } else { 0 };
            let next_cid = AtomicU64::new(base + 1);
            let mut rooms: HashMap<RoomKey, RoomHandle> = HashMap::new();
            while let Some(cmd) = rx.recv().await {
                match cmd {
                    DirCmd::Get { key, reply } => {
                        let handle = rooms
                            .entry(key.clone())
                            .or_insert_with(|| {
                                let cid = next_cid.fetch_add(1, Relaxed);
                                tracing::info!(app_key = %key.app_key, channel = %key.channel, cid, "room created");
                                room::spawn(key, cid, shared.clone(), self_tx.clone())
                            })
                            .clone();
                        let _ = reply.send(handle);
                    }
                    DirCmd::Closed { key, cid } => {
                        if rooms.get(&key).is_some_and(|r| r.cid == cid) {
                            rooms.remove(&key);
                        }
                    }
                    DirCmd::List { reply } => {
                        let _ = reply.send(rooms.keys().cloned().collect());
                    }
                    DirCmd::Migrate { key } => {
                        if let Some(r) = rooms.remove(&key) {
                            let _ = r.tx.send(RoomCmd::Migrate).await;
                        }
                    }
                    DirCmd::Shutdown { done } => {
                        for (_, r) in rooms.drain() {
                            let _ = r.tx.send(RoomCmd::Shutdown).await;
                        }
                        let _ = done.send(());
                    }
                }
            }
        });
        Directory { tx }
    }

    /// The room for `key`, created if needed. None only while the server shuts down.
    pub async fn room(&self, key: RoomKey) -> Option<RoomHandle> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(DirCmd::Get { key, reply }).ok()?;
        rx.await.ok()
    }

    /// The rooms open on this node (empty while the server shuts down).
    pub async fn list(&self) -> Vec<RoomKey> {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(DirCmd::List { reply }).is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// See [`DirCmd::Migrate`].
    pub async fn migrate(&self, key: RoomKey) {
        let _ = self.tx.send(DirCmd::Migrate { key });
    }

    pub async fn shutdown(&self) {
        let (done, rx) = oneshot::channel();
        if self.tx.send(DirCmd::Shutdown { done }).is_ok() {
            let _ = rx.await;
        }
    }
}
