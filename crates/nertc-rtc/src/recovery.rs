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
//! - [`AnswerSide`]: when the answering side asks the offerer for that replacement. Under loss
//!   the handshake can end done on the offerer's side only (the answerer's last flight lost,
//!   and not sent again), and the offerer, seeing its side connected, would never replace it.

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

/// The answering side's watch over a connection's set-up: it asks the offerer once to replace
/// a connection not up here [`CONNECT_TIMEOUT`] after the first offer it applied (at once if it
/// failed). A new connection starts a new watch.
#[derive(Debug, Default, Clone, Copy)]
pub struct AnswerSide {
    setup: FirstConnect,
    /// The last offer applied: the `neg` the request names.
    last_neg: u64,
    asked: bool,
}

impl AnswerSide {
    /// The offer `neg` was applied at `now`.
    pub fn applied(&mut self, neg: u64, now: Instant) {
        self.last_neg = neg;
        self.setup.offered(now);
    }

    pub fn set(&mut self, state: RTCPeerConnectionState) {
        self.setup.set(state);
    }

    /// When the request is due; None once the connection is up or the request was made.
    pub fn ask_at(&self) -> Option<Instant> {
        self.setup.replace_at().filter(|_| !self.asked)
    }

    /// The request, if due at `now` (once): the `neg` of the last offer applied.
    pub fn ask(&mut self, now: Instant) -> Option<u64> {
        let due = self.ask_at().is_some_and(|at| at <= now);
        self.asked |= due;
        due.then_some(self.last_neg)
    }

    /// The connection failed (rather than being still on its way).
    pub fn failed(&self) -> bool {
        self.setup.failed
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
    fn the_answerer_asks_once_for_a_connection_not_up_on_its_side() {
        use RTCPeerConnectionState::*;
        let t0 = Instant::now();
        let mut a = AnswerSide::default();
        assert_eq!(a.ask(t0 + CONNECT_TIMEOUT * 2), None, "nothing before an offer was applied");
        a.applied(1, t0);
        a.set(Connecting);
        a.applied(2, t0 + CONNECT_TIMEOUT / 2);
        assert_eq!(a.ask_at(), Some(t0 + CONNECT_TIMEOUT), "counted from the first offer");
        assert_eq!(a.ask(t0 + CONNECT_TIMEOUT / 2), None);
        assert_eq!(a.ask(t0 + CONNECT_TIMEOUT), Some(2), "names the last offer applied");
        assert_eq!(a.ask(t0 + CONNECT_TIMEOUT * 2), None, "once");
        assert_eq!(a.ask_at(), None);

        let mut a = AnswerSide::default();
        a.applied(1, t0);
        a.set(Failed);
        assert!(a.failed());
        assert_eq!(a.ask(t0), Some(1), "at once when it failed");

        let mut a = AnswerSide::default();
        a.applied(1, t0);
        a.set(Connected);
        assert_eq!(a.ask(t0 + CONNECT_TIMEOUT), None, "up: nothing to ask");
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
