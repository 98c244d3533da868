//! The room directory: an actor mapping `(app key, channel)` to the room actor that owns it.
//! Rooms are created on first join and tell the directory when they close. Behind this sits
//! the future scale-out `Directory` (a room lives on one node); in-process it is a map.

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
            // Room ids (NERTC's `cid`): unique within this server process.
            let next_cid = AtomicU64::new(1);
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

    pub async fn shutdown(&self) {
        let (done, rx) = oneshot::channel();
        if self.tx.send(DirCmd::Shutdown { done }).is_ok() {
            let _ = rx.await;
        }
    }
}
