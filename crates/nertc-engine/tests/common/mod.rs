//! Helpers shared by the engine's integration tests.

use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use nertc_engine::EngineEvent;

/// Waits for the first event matching `pred` (earlier ones are dropped); panics after `within`.
pub fn wait(rx: &Receiver<EngineEvent>, what: &str, within: Duration, pred: impl Fn(&EngineEvent) -> bool) {
    let deadline = Instant::now() + within;
    while let Ok(ev) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if pred(&ev) {
            return;
        }
    }
    panic!("timed out waiting for {what}");
}
