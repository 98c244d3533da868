//! Recovery decisions for the side that offers on a peer connection (the engine on `pub`, the
//! server on `sub`). Pure: the owner feeds states and the clock.
//!
//! - [`PcLink`]: when to restart ICE on a connection that was up: at once when it failed,
//!   after [`DISCONNECTED_GRACE`] when it is only disconnected (consent checks continue; a
//!   short outage heals by itself), and at most every [`RESTART_EVERY`] while it stays down.
//! - [`FirstConnect`]: when to replace a connection that never came up. An ICE restart cannot
//!   help there: under heavy loss the DTLS handshake may give up (webrtc-rs retransmits a
//!   flight every second, 7 times), and DTLS outlives ICE restarts. A new connection, offered
//!   with `fresh` set, starts a new handshake.

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

/// A connection not up this long after its first offer is replaced by a new one.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The set-up of one peer connection, from its first offer until it first connects.
#[derive(Debug, Default, Clone, Copy)]
pub struct FirstConnect {
    pub offered_at: Option<Instant>,
    pub connected: bool,
    pub failed: bool,
}

impl FirstConnect {
    /// An offer for this connection went out (only the first one counts).
    pub fn offered(&mut self, now: Instant) {
        self.offered_at.get_or_insert(now);
    }

    pub fn set(&mut self, state: RTCPeerConnectionState) {
        self.connected |= state == RTCPeerConnectionState::Connected;
        self.failed = !self.connected && state == RTCPeerConnectionState::Failed;
    }

    /// When the connection is to be replaced if it has not connected by then; None once it
    /// has connected (or before it was offered).
    pub fn replace_at(&self) -> Option<Instant> {
        let offered = self.offered_at.filter(|_| !self.connected)?;
        Some(if self.failed { offered } else { offered + CONNECT_TIMEOUT })
    }

    pub fn replace_due(&self, now: Instant) -> bool {
        self.replace_at().is_some_and(|at| now >= at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_that_never_comes_up_is_replaced() {
        use RTCPeerConnectionState::*;
        let t0 = Instant::now();
        let mut f = FirstConnect::default();
        assert!(!f.replace_due(t0 + CONNECT_TIMEOUT * 2), "not before it was offered");
        f.offered(t0);
        f.offered(t0 + CONNECT_TIMEOUT / 2);
        f.set(Connecting);
        assert!(!f.replace_due(t0 + CONNECT_TIMEOUT / 2));
        assert!(f.replace_due(t0 + CONNECT_TIMEOUT), "counted from the first offer");
        f.set(Failed);
        assert!(f.replace_due(t0), "at once when it failed");
        f.set(Connected);
        f.set(Failed);
        assert!(f.replace_at().is_none(), "a connection that was up is ICE-restarted instead");
    }

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
