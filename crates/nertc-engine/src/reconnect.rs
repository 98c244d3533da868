//! Recovery. Signaling: after the connection drops, a resume while the server keeps the
//! session (invisible to the others: same session, missed events replayed), else a fresh join
//! that rebuilds the session; retries with growing delays; gives up after [`GIVE_UP`] (30205).
//! Media: each peer connection's state is followed ([`MediaLink`]); the one we offer on
//! (`pub`) gets an ICE restart when it fails, or stays disconnected for
//! [`nertc_rtc::recovery::DISCONNECTED_GRACE`] (the server does the same for `sub`, which it offers on); a media
//! path down for [`MEDIA_GIVE_UP`] while signaling works ends the session (30204).
//!
//! What the application sees: `onReconnectingStart` and `onConnectionStateChange(4, 9 signal |
//! 8 media)` when either path goes down, and `onRejoinChannel` plus `(3, 7)` once both are up
//! again — a resume that finds the media path still down waits for it.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use nertc_protocol::{ClientMsg, ErrorCode, PcKind, Resume, Uid};
use nertc_signal::{Connected, SignalError};
use webrtc::peer_connection::RTCPeerConnectionState;

use crate::actor::Actor;
use crate::error;
use crate::event::{ConnectionState, EngineEvent, StateReason, UserLeftReason};
use crate::session::{End, Session};
use crate::subscribe::RemoteUser;
use crate::transport::{PubCmd, TaskGuard};
use nertc_rtc::recovery::PcLink;

/// A media path down this long while signaling works ends the session (30204).
pub const MEDIA_GIVE_UP: Duration = Duration::from_secs(30);

/// The media path of a session: both peer connections, and whether the application was told
/// that the session is reconnecting.
#[derive(Debug, Default)]
pub(crate) struct MediaLink {
    pub publisher: PcLink,
    pub subscriber: PcLink,
    /// Since when the media path has been down with signaling up (reset by a resume).
    pub down_with_signal_since: Option<Instant>,
    /// `onReconnectingStart` was emitted (and when), and `onRejoinChannel` is owed.
    pub reported_down: Option<Instant>,
}

impl MediaLink {
    pub fn down(&self) -> bool {
        self.publisher.down() || self.subscriber.down()
    }
}

/// Retry delays (ms) between the starts of attempt 1, 2, ...; the last repeats. Capped low so
/// that a server (or network) that comes back is found within 1 s: a retry is one cheap TCP
/// connect, and a refused one costs the server nothing (the old schedule grew to 7 s, so video
/// came back ~7 s after a 10 s outage). Attempts overlap (up to [`MAX_IN_FLIGHT`]): one whose
/// SYN was lost in a partition waits for the kernel's retransmission 1 s later, so a network
/// that returns just after an attempt started is found by the next one.
const RETRY_MS: [u64; 4] = [0, 200, 400, 500];
/// Connect attempts running at once.
const MAX_IN_FLIGHT: usize = 3;
/// Random extra delay per attempt, so clients dropped together do not retry together.
const JITTER_MS: u64 = 200;
/// Give up reconnecting after this long.
pub const GIVE_UP: Duration = Duration::from_secs(60);
/// How long one attempt may wait for the TCP and WebSocket handshakes. Short, so that attempts
/// keep coming while the network is down: a SYN sent into a partition is retransmitted only
/// after 1 s, 3 s, 7 s, so a long wait would find a returning network seconds late.
const ATTEMPT_CONNECT_TIMEOUT: Duration = Duration::from_millis(1500);

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

/// Resume until the server refuses it (it no longer keeps the session: its resume window,
/// counted from when *it* noticed the loss, passed, or it restarted), then rejoin. The client
/// cannot tell when the server's window ends (the server may notice the loss up to its ping
/// timeout later than the client), so it asks.
pub fn next(elapsed: Duration, resume_refused: bool) -> Next {
    if elapsed > GIVE_UP {
        Next::GiveUp
    } else if !resume_refused {
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
    /// The connect tasks of the attempts in flight, with their attempt numbers.
    pub in_flight: Vec<(u64, TaskGuard)>,
}

impl Actor {
    pub(crate) fn start_reconnect(&mut self) {
        let Some(s) = self.session.as_mut() else { return };
        if s.reconnect.is_some() {
            return;
        }
        let now = Instant::now();
        s.reconnect = Some(Reconnect { since: now, attempt: 0, next_at: now, resume_refused: false, in_flight: Vec::new() });
        self.shared.set_state(ConnectionState::Reconnecting, StateReason::SignalDisconnected);
        self.report_link();
    }

    /// Tells the application when the session starts or stops being "reconnecting": either
    /// path down starts it, both up ends it.
    pub(crate) fn report_link(&mut self) {
        let Some(s) = self.session.as_mut() else { return };
        let (cid, uid) = (s.join.cid, s.params.uid);
        let down = s.reconnect.is_some() || s.media.down();
        match (down, s.media.reported_down) {
            (true, None) => {
                s.media.reported_down = Some(Instant::now());
                if s.reconnect.is_none() {
                    tracing::warn!("media connection down; restarting ICE");
                    self.shared.set_state(ConnectionState::Reconnecting, StateReason::MediaDisconnected);
                }
                self.shared.emit(EngineEvent::ReconnectingStart { cid, uid });
            }
            (false, Some(since)) => {
                s.media.reported_down = None;
                let elapsed_ms = since.elapsed().as_millis() as u64;
                tracing::info!(elapsed_ms, "signaling and media connections are up again");
                self.shared.set_state(ConnectionState::Connected, StateReason::RejoinSucceed);
                self.shared.emit(EngineEvent::RejoinChannel { cid, uid, result: error::OK, elapsed_ms });
            }
            _ => {}
        }
    }

    /// A peer connection changed state.
    pub(crate) fn pc_state(&mut self, pc: PcKind, state: RTCPeerConnectionState) {
        let Some(s) = self.session.as_mut() else { return };
        tracing::debug!(?pc, %state, "peer connection state");
        let now = Instant::now();
        let link = match pc {
            PcKind::Pub => &mut s.media.publisher,
            PcKind::Sub => &mut s.media.subscriber,
        };
        let was_down = link.down();
        link.set(state, now);
        if pc == PcKind::Pub && was_down && state == RTCPeerConnectionState::Connected {
            // Subscribers lost the stream for a while: a keyframe now instead of when they ask.
            self.shared.video.force_keyframe.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        if s.media.down() {
            s.media.down_with_signal_since.get_or_insert(now);
        } else {
            s.media.down_with_signal_since = None;
        }
        self.media_tick();
        self.report_link();
    }

    /// An ICE restart we offered finished (`ok`) or could not be negotiated.
    pub(crate) fn restart_done(&mut self, ok: bool) {
        if let Some(s) = self.session.as_mut() {
            s.media.publisher.restart_pending = false;
            if !ok {
                // Try again at the next tick rather than after RESTART_EVERY.
                s.media.publisher.last_restart = None;
            }
        }
    }

    /// Called every 100 ms: ICE restarts of `pub` when due, and giving up on a media path
    /// that stays down while signaling works.
    pub(crate) fn media_tick(&mut self) {
        let Some(s) = self.session.as_mut() else { return };
        if s.reconnect.is_some() {
            return; // Nothing can be negotiated; the resume resets the clocks.
        }
        let now = Instant::now();
        if s.media.publisher.restart_due(now) {
            tracing::info!(state = %s.media.publisher.state, "pub connection down: restarting ICE");
            s.media.publisher.last_restart = Some(now);
            s.media.publisher.restart_pending = true;
            s.transport.publish(PubCmd::RestartIce);
        }
        if s.media.down_with_signal_since.is_some_and(|t| now.duration_since(t) > MEDIA_GIVE_UP) {
            tracing::error!("media connection down for {MEDIA_GIVE_UP:?} with signaling up; giving up");
            self.end_session(End::MediaLost);
        }
    }

    /// Called every 100 ms: starts the next attempt when it is due.
    pub(crate) fn reconnect_tick(&mut self) {
        let Some(s) = self.session.as_ref() else { return };
        let Some(r) = s.reconnect.as_ref() else { return };
        if r.in_flight.len() >= MAX_IN_FLIGHT || Instant::now() < r.next_at {
            return;
        }
        let mut req = s.params.request(&self.shared.app_key);
        match next(r.since.elapsed(), r.resume_refused) {
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
        let urls = s.connect_urls();
        let opts = nertc_signal::Options { connect_timeout: ATTEMPT_CONNECT_TIMEOUT, ..Default::default() };
        let (attempt, task) = self.connect(req, urls, opts, Duration::ZERO);
        let r = self.session.as_mut().and_then(|s| s.reconnect.as_mut()).expect("checked at the top; connect() keeps it");
        r.attempt += 1;
        r.next_at = Instant::now() + retry_delay(r.attempt + 1, rand::random());
        r.in_flight.push((attempt, task));
    }

    /// The outcome of reconnect attempt `attempt`.
    pub(crate) fn reconnected(&mut self, attempt: u64, result: Result<Connected, SignalError>) {
        let Some(s) = self.session.as_mut() else { return };
        let Some(r) = s.reconnect.as_mut() else { return };
        r.in_flight.retain(|(a, _)| *a != attempt);
        let since = r.since;
        let c = match result {
            Ok(c) => c,
            Err(e) => {
                tracing::info!(attempt, "reconnect attempt failed: {e}");
                if matches!(&e, SignalError::Refused(b) if b.code == ErrorCode::ResumeFailed) {
                    r.resume_refused = true;
                    r.next_at = Instant::now();
                }
                return;
            }
        };
        if c.join.resumed.is_some() {
            let elapsed_ms = since.elapsed().as_millis() as u64;
            s.transport.set_signal(&c.signal);
            s.signal.close();
            s.signal = c.signal;
            s.signal_events = c.events;
            s.reconnect = None;
            // The media path gets its own time from here; a restart is due at once if down.
            let now = Instant::now();
            s.media.down_with_signal_since = s.media.down().then_some(now);
            s.media.publisher.last_restart = None;
            s.media.publisher.restart_pending = false;
            tracing::info!(elapsed_ms, media_down = s.media.down(), "signaling resumed");
            // A `set_role` may have been lost with the old socket; the server keeps the
            // session's role, so saying it again is harmless.
            let role = s.params.role;
            s.request(ClientMsg::SetRole(nertc_protocol::SetRoleRequest { role }), crate::session::Pending::Other("set_role"));
            self.media_tick();
            self.report_link();
            return;
        }
        tracing::info!("rejoined with a new session");
        let elapsed_ms = s.media.reported_down.unwrap_or(since).elapsed().as_millis() as u64;
        let old_users = s.remote.users.clone();
        let old_remembered = std::mem::take(&mut s.remote.remembered);
        let data = std::mem::take(&mut s.data);
        let lists = (s.remote.all_audio, s.remote.audio_allow.take(), std::mem::take(&mut s.remote.audio_block));
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
        let remote_on = data.remote_on.iter().filter(|u| present.contains(u)).copied().collect();
        fresh.data = crate::data::DataState { remote_on, enabled: data.enabled, unsub: data.unsub, ..Default::default() };
        Actor::resend_data_state(&mut fresh);
        fresh.remote.all_audio = lists.0;
        fresh.remote.audio_allow = lists.1;
        fresh.remote.audio_block = lists.2;
        for u in users {
            let (want_video, want_audio) = old_users.get(&u.uid).map_or((false, true), |o| (o.want_video, o.want_audio));
            if !old_users.contains_key(&u.uid) {
                self.shared.emit(EngineEvent::UserJoined { uid: u.uid, name: u.name.clone() });
            }
            let audio_listed_out = fresh.remote.audio_listed_out(u.uid);
            fresh
                .remote
                .users
                .insert(u.uid, RemoteUser { name: u.name.clone(), want_video, want_audio, audio_listed_out, ..Default::default() });
            self.remote_data(&mut fresh, u.uid, u.data);
            for t in u.tracks {
                self.track_published(&mut fresh, u.uid, t);
            }
        }
        // The new session's connections are new: nothing is down; the rejoin is reported now.
        fresh.media.reported_down = None;
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
        assert_eq!(retry_delay(4, 0), Duration::from_millis(500));
        assert_eq!(retry_delay(60, 0), Duration::from_millis(500));
        assert_eq!(retry_delay(2, 199), Duration::from_millis(399));
        assert_eq!(retry_delay(2, 200), Duration::from_millis(200), "jitter wraps below {JITTER_MS} ms");
        let worst = (1..100).flat_map(|a| (0..JITTER_MS).map(move |j| retry_delay(a, j))).max().expect("delays");
        assert!(worst < Duration::from_secs(1), "a returning server is found within 1 s ({worst:?})");
    }

    #[test]
    fn resume_then_rejoin_then_give_up() {
        assert_eq!(next(Duration::from_secs(1), false), Next::Resume);
        assert_eq!(next(Duration::from_secs(40), false), Next::Resume, "the server decides when its window is over");
        assert_eq!(next(Duration::from_secs(1), true), Next::Rejoin, "after the server refused a resume");
        assert_eq!(next(GIVE_UP + Duration::from_millis(1), false), Next::GiveUp);
    }
}
