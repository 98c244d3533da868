//! Frame delivery to renderers: one "latest frame" slot per video stream.
//!
//! Decoders and the local capture path `put` frames; renderers (the JS binding's frame pump)
//! ask for the newest frame newer than the one they drew. Latest wins: a slow renderer skips
//! frames, memory never grows.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use nertc_protocol::Uid;

use crate::frame::VideoFrame;

/// Which stream a canvas shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKey {
    Local,
    Remote(Uid),
    /// Our substream (screen share).
    LocalSub,
    /// A remote user's substream.
    RemoteSub(Uid),
}

#[derive(Debug, Default)]
pub struct FrameSlot {
    latest: Mutex<Option<Arc<VideoFrame>>>,
    seq: AtomicU64,
    /// Draw mirrored (local preview in mirror mode).
    pub mirrored: AtomicBool,
}

impl FrameSlot {
    pub fn put(&self, frame: Arc<VideoFrame>) {
        let mut g = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        *g = Some(frame);
        self.seq.fetch_add(1, Relaxed);
    }

    /// The newest frame if it is newer than `seen`, with its sequence number.
    pub fn newer_than(&self, seen: u64) -> Option<(u64, Arc<VideoFrame>)> {
        let seq = self.seq.load(Relaxed);
        if seq == seen {
            return None;
        }
        let g = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        g.clone().map(|f| (seq, f))
    }

    pub fn clear(&self) {
        let mut g = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        *g = None;
        self.seq.fetch_add(1, Relaxed);
    }

    /// Frames put so far.
    pub fn count(&self) -> u64 {
        self.seq.load(Relaxed)
    }
}

/// All slots of one engine, shared by the engine (writers) and the binding (readers).
#[derive(Debug, Default)]
pub struct Slots {
    map: Mutex<HashMap<StreamKey, Arc<FrameSlot>>>,
}

impl Slots {
    pub fn get(&self, key: StreamKey) -> Arc<FrameSlot> {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(key).or_default().clone()
    }

    pub fn remove(&self, key: StreamKey) {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = m.remove(&key) {
            s.clear();
        }
    }
}
