//! When to restart ICE on a peer connection, for the side that offers on it (the engine on
//! `pub`, the server on `sub`): at once when it failed, after [`DISCONNECTED_GRACE`] when it
//! is only disconnected (consent checks continue; a short outage heals by itself), and at most
//! every [`RESTART_EVERY`] while it stays down. Pure: the owner feeds states and the clock.

use std::time::{Duration, Instant};

use webrtc::peer_connection::RTCPeerConnectionState;

/// A disconnected connection gets this long to come back by itself before ICE restarts.
pub const DISCONNECTED_GRACE: Duration = Duration::from_secs(2);
/// ICE restarts are at least this far apart while a connection stays down.
pub const RESTART_EVERY: Duration = Duration::from_secs(3);

/// One peer connection's state as far as recovery cares.
#[derive(Debug, Default, Clone, Copy)]
pub struct PcLink {
    pub state: RTCPeerConnectionState,
    pub ever_connected: bool,
    /// Since when it has been down.
    pub down_since: Option<Instant>,
    pub last_restart: Option<Instant>,
    /// A restart is under way (asked for, not yet negotiated): no other is due.
    pub restart_pending: bool,
}

impl PcLink {
    /// It had connected and is not connected now (a restart's checks count as down).
    pub fn down(&self) -> bool {
        self.ever_connected
            && matches!(
                self.state,
                RTCPeerConnectionState::Connecting | RTCPeerConnectionState::Disconnected | RTCPeerConnectionState::Failed
            )
    }

    pub fn set(&mut self, state: RTCPeerConnectionState, now: Instant) {
        self.state = state;
        if state == RTCPeerConnectionState::Connected {
            self.ever_connected = true;
            self.down_since = None;
        } else if self.down() {
            self.down_since.get_or_insert(now);
        }
    }

    /// When the next ICE restart is due; None while up or while one is pending. `at_once`
    /// skips the disconnected grace (a resume found it down).
    pub fn restart_at(&self, at_once: bool) -> Option<Instant> {
        let since = self.down_since.filter(|_| self.down() && !self.restart_pending)?;
        let grace = if self.state == RTCPeerConnectionState::Failed || at_once { Duration::ZERO } else { DISCONNECTED_GRACE };
        Some(self.last_restart.map_or(since + grace, |t| (since + grace).max(t + RESTART_EVERY)))
    }

    /// Whether an ICE restart is due at `now`.
    pub fn restart_due(&self, now: Instant) -> bool {
        self.restart_at(false).is_some_and(|at| now >= at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ice_restarts_after_failure_or_a_disconnected_grace_and_are_spaced() {
        use RTCPeerConnectionState::*;
        let t0 = Instant::now();
        let mut l = PcLink::default();
        l.set(Connecting, t0);
        assert!(!l.down() && !l.restart_due(t0), "a first connection attempt is not an outage");
        l.set(Connected, t0);
        l.set(Disconnected, t0);
        assert!(l.down());
        assert!(!l.restart_due(t0 + DISCONNECTED_GRACE / 2), "disconnected may heal by itself");
        assert!(l.restart_due(t0 + DISCONNECTED_GRACE));
        l.last_restart = Some(t0 + DISCONNECTED_GRACE);
        l.set(Failed, t0 + DISCONNECTED_GRACE * 2);
        assert!(!l.restart_due(t0 + DISCONNECTED_GRACE * 2), "restarts are spaced");
        assert!(l.restart_due(t0 + DISCONNECTED_GRACE + RESTART_EVERY));
        l.restart_pending = true;
        assert!(!l.restart_due(t0 + DISCONNECTED_GRACE + RESTART_EVERY), "one at a time");
        l.restart_pending = false;
        l.set(Connected, t0 + RESTART_EVERY * 2);
        assert!(!l.down() && l.down_since.is_none() && !l.restart_due(t0 + RESTART_EVERY * 3));
    }
}
