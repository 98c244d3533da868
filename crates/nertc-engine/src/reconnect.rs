//! Reconnecting after the signaling connection drops: a resume within the server's window
//! (invisible to the others: same session, missed events replayed), else a fresh join that
//! rebuilds the session; retries with growing delays; gives up after [`GIVE_UP`].

use std::collections::HashSet;
use std::time::{Duration, Instant};

use nertc_protocol::{ErrorCode, Resume, Uid};
use nertc_signal::{Connected, SignalError};

use crate::actor::Actor;
use crate::error;
use crate::event::{ConnectionState, EngineEvent, StateReason, UserLeftReason};
use crate::session::{End, Session};
use crate::subscribe::RemoteUser;
use crate::transport::TaskGuard;

/// Retry delays (ms) before attempt 1, 2, ...; the last repeats. Capped low so that a server
/// (or network) that comes back is found within 1 s: a retry is one cheap TCP connect, and a
/// refused one costs the server nothing (the old schedule grew to 7 s, so video came back ~7 s
/// after a 10 s outage).
const RETRY_MS: [u64; 4] = [0, 200, 400, 800];
/// Random extra delay per attempt, so clients dropped together do not retry together.
const JITTER_MS: u64 = 200;
/// Give up reconnecting after this long.
pub const GIVE_UP: Duration = Duration::from_secs(60);

/// The delay before attempt `attempt` (1-based), given a jitter draw in 0..JITTER_MS.
pub fn retry_delay(attempt: u32, jitter_ms: u64) -> Duration {
    let i = (attempt as usize).saturating_sub(1).min(RETRY_MS.len() - 1);
    Duration::from_millis(RETRY_MS[i] + jitter_ms % JITTER_MS)
}

/// What the next attempt does.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Resume,
    Rejoin,
    GiveUp,
}

/// Resume while the server still keeps our session (and it has not refused a resume).
pub fn next(elapsed: Duration, resume_window: Duration, resume_refused: bool) -> Next {
    if elapsed > GIVE_UP {
        Next::GiveUp
    } else if elapsed < resume_window && !resume_refused {
        Next::Resume
    } else {
        Next::Rejoin
    }
}

pub(crate) struct Reconnect {
    pub since: Instant,
    pub attempt: u32,
    pub next_at: Instant,
    pub resume_refused: bool,
    /// The connect task of the attempt in flight, by attempt number.
    pub in_flight: Option<u64>,
    task: Option<TaskGuard>,
}

impl Actor {
    pub(crate) fn start_reconnect(&mut self) {
        let Some(s) = self.session.as_mut() else { return };
        if s.reconnect.is_some() {
            return;
        }
        let now = Instant::now();
        s.reconnect = Some(Reconnect { since: now, attempt: 0, next_at: now, resume_refused: false, in_flight: None, task: None });
        let (cid, uid) = (s.join.cid, s.params.uid);
        self.shared.set_state(ConnectionState::Reconnecting, StateReason::SignalDisconnected);
        self.shared.emit(EngineEvent::ReconnectingStart { cid, uid });
    }

    /// Called every 100 ms: starts the next attempt when it is due.
    pub(crate) fn reconnect_tick(&mut self) {
        let Some(s) = self.session.as_ref() else { return };
        let Some(r) = s.reconnect.as_ref() else { return };
        if r.in_flight.is_some() || Instant::now() < r.next_at {
            return;
        }
        let window = Duration::from_millis(s.join.resume_window_ms);
        let mut req = s.params.request(&self.shared.app_key);
        match next(r.since.elapsed(), window, r.resume_refused) {
            Next::GiveUp => {
                tracing::error!("could not reconnect within {GIVE_UP:?}; giving up");
                self.end_session(End::Lost);
                return;
            }
            Next::Resume => {
                req.resume =
                    Some(Resume { session_id: s.join.session_id.clone(), resume_token: s.join.resume_token.clone(), last_seq: s.last_seq })
            }
            Next::Rejoin => {}
        }
        let url = s.params.url.clone();
        let (attempt, task) = self.connect(req, &url);
        let r = self.session.as_mut().and_then(|s| s.reconnect.as_mut()).expect("checked at the top; connect() keeps it");
        r.attempt += 1;
        r.next_at = Instant::now() + retry_delay(r.attempt + 1, rand::random());
        r.in_flight = Some(attempt);
        r.task = Some(task);
    }

    /// The outcome of a reconnect attempt.
    pub(crate) fn reconnected(&mut self, result: Result<Connected, SignalError>) {
        let Some(s) = self.session.as_mut() else { return };
        let Some(r) = s.reconnect.as_mut() else { return };
        r.in_flight = None;
        r.task = None;
        let since = r.since;
        let c = match result {
            Ok(c) => c,
            Err(e) => {
                tracing::info!(attempt = r.attempt, "reconnect attempt failed: {e}");
                if matches!(&e, SignalError::Refused(b) if b.code == ErrorCode::ResumeFailed) {
                    r.resume_refused = true;
                    r.next_at = Instant::now();
                }
                return;
            }
        };
        let elapsed_ms = since.elapsed().as_millis() as u64;
        if c.join.resumed.is_some() {
            tracing::info!("session resumed");
            s.transport.set_signal(&c.signal);
            s.signal.close();
            s.signal = c.signal;
            s.signal_events = c.events;
            s.reconnect = None;
            let (cid, uid) = (s.join.cid, s.params.uid);
            self.shared.set_state(ConnectionState::Connected, StateReason::RejoinSucceed);
            self.shared.emit(EngineEvent::RejoinChannel { cid, uid, result: error::OK, elapsed_ms });
            return;
        }
        tracing::info!("rejoined with a new session");
        let old_users = s.remote.users.clone();
        let old_remembered = std::mem::take(&mut s.remote.remembered);
        let params = s.params.clone();
        self.dismantle();
        let users = c.join.users.clone();
        let (cid, uid) = (c.join.cid, c.join.uid);
        let mut fresh = Session::new(self, params, c);
        let present: HashSet<Uid> = users.iter().map(|u| u.uid).collect();
        for (gone, u) in old_users.iter().filter(|(uid, _)| !present.contains(uid)) {
            self.shared.emit(EngineEvent::UserLeft { uid: *gone, reason: UserLeftReason::Timeout });
            // They may be rejoining too (a server restart): keep what the app subscribed to.
            fresh.remote.remembered.insert(*gone, (u.want_video, u.want_audio));
        }
        fresh.remote.remembered.extend(old_remembered);
        for u in users {
            let (want_video, want_audio) = old_users.get(&u.uid).map_or((false, true), |o| (o.want_video, o.want_audio));
            if !old_users.contains_key(&u.uid) {
                self.shared.emit(EngineEvent::UserJoined { uid: u.uid, name: u.name.clone() });
            }
            fresh.remote.users.insert(u.uid, RemoteUser { name: u.name.clone(), want_video, want_audio, ..Default::default() });
            for t in u.tracks {
                self.track_published(&mut fresh, u.uid, t);
            }
        }
        self.session = Some(fresh);
        self.shared.set_state(ConnectionState::Connected, StateReason::RejoinSucceed);
        self.shared.emit(EngineEvent::RejoinChannel { cid, uid, result: error::OK, elapsed_ms });
        self.republish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_then_hold() {
        assert_eq!(retry_delay(1, 0), Duration::ZERO);
        assert_eq!(retry_delay(2, 0), Duration::from_millis(200));
        assert_eq!(retry_delay(4, 0), Duration::from_millis(800));
        assert_eq!(retry_delay(60, 0), Duration::from_millis(800));
        assert_eq!(retry_delay(2, 199), Duration::from_millis(399));
        assert_eq!(retry_delay(2, 200), Duration::from_millis(200), "jitter wraps below {JITTER_MS} ms");
        let worst = (1..100).flat_map(|a| (0..JITTER_MS).map(move |j| retry_delay(a, j))).max().expect("delays");
        assert!(worst < Duration::from_secs(1), "a returning server is found within 1 s ({worst:?})");
    }

    #[test]
    fn resume_then_rejoin_then_give_up() {
        let window = Duration::from_secs(30);
        assert_eq!(next(Duration::from_secs(1), window, false), Next::Resume);
        assert_eq!(next(Duration::from_secs(1), window, true), Next::Rejoin, "after the server refused a resume");
        assert_eq!(next(Duration::from_secs(31), window, false), Next::Rejoin);
        assert_eq!(next(GIVE_UP + Duration::from_millis(1), window, false), Next::GiveUp);
    }
}
