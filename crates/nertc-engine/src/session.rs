//! A channel session: whether we are in a channel ([`Presence`], the one record of it), the
//! state of one joined session ([`Session`], built in one place), joining, and ending it
//! ([`Actor::end_session`], the one end-of-session sequence for leave, release, kick, a
//! failed join and a reconnect that gave up).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use nertc_protocol::{ClientMsg, Empty, JoinRequest, JoinResult, LeaveReason, PROTOCOL_VERSION, TrackId, Uid};
use nertc_signal::{Connected, RequestId, Signal, SignalError, SignalEvent};
use tokio::sync::mpsc;

use crate::actor::{Actor, Input};
use crate::error::{self, Code, EngineError, Result};
use crate::event::{ConnectionState, EngineEvent, StateReason};
use crate::publish::Publishing;
use crate::reconnect::{MediaLink, Reconnect};
use crate::shared::lock;
use crate::subscribe::Remotes;
use crate::transport::{TaskGuard, Transport, TransportEvent};

/// `joinChannel` keeps trying a server it cannot reach for this long before it fails (a lossy
/// network can lose a SYN and its retry, or the upgrade), in attempts of
/// [`JOIN_ATTEMPT_TIMEOUT`] each, [`JOIN_RETRY_PAUSE`] apart: a new attempt's SYN goes out at
/// once instead of after the kernel's 1-3 s backoff.
const JOIN_KEEP_TRYING: Duration = Duration::from_secs(15);
const JOIN_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
const JOIN_RETRY_PAUSE: Duration = Duration::from_millis(200);

/// Whether the application wants to be in a channel, with a generation per join so that the
/// end of an old session cannot clear a newer join. Written by the API (join/leave) and by
/// the actor when the server or the network ends a session.
#[derive(Debug, Default)]
pub struct Presence(AtomicU64);

impl Presence {
    const IN: u64 = 1;

    /// Not in a channel → joining; returns the new join's generation.
    pub fn begin_join(&self) -> Result<u64> {
        let mut cur = self.0.load(Relaxed);
        loop {
            if cur & Self::IN != 0 {
                return Err(EngineError::AlreadyJoined);
            }
            let generation = (cur >> 1) + 1;
            match self.0.compare_exchange(cur, (generation << 1) | Self::IN, Relaxed, Relaxed) {
                Ok(_) => return Ok(generation),
                Err(now) => cur = now,
            }
        }
    }

    /// In a channel (or joining) → not.
    pub fn begin_leave(&self) -> Result<()> {
        let cur = self.0.fetch_and(!Self::IN, Relaxed);
        if cur & Self::IN == 0 { Err(EngineError::NotJoined) } else { Ok(()) }
    }

    /// The session of join `generation` ended by itself; no effect once another join began.
    pub fn end(&self, generation: u64) {
        let _ = self.0.compare_exchange((generation << 1) | Self::IN, generation << 1, Relaxed, Relaxed);
    }

    pub fn in_channel(&self) -> bool {
        self.0.load(Relaxed) & Self::IN != 0
    }
}

/// What a join needs, kept for rejoining.
#[derive(Debug, Clone)]
pub(crate) struct JoinParams {
    pub generation: u64,
    pub url: String,
    pub token: Option<String>,
    pub channel: String,
    pub uid: Uid,
    /// The role the server knows (the join's, then each `set_role` sent); a rejoin joins with it.
    pub role: nertc_protocol::Role,
    /// The name others see in `onUserJoined` (`joinChannelWithOptions`' `custom_info`).
    pub name: String,
}

impl JoinParams {
    pub fn request(&self, app_key: &str) -> JoinRequest {
        JoinRequest {
            token: self.token.clone(),
            app_key: app_key.to_owned(),
            channel: self.channel.clone(),
            uid: self.uid,
            name: self.name.clone(),
            protocol: PROTOCOL_VERSION,
            resume: None,
            role: self.role,
        }
    }
}

/// One join (or resume) at `url`, following a cluster node's `redirect` to the node that owns
/// the room (protocol v2): one more round trip, invisible to the application.
async fn connect_following(url: &str, req: JoinRequest, opts: nertc_signal::Options) -> std::result::Result<Connected, SignalError> {
    let mut url = url.to_owned();
    for _ in 0..nertc_protocol::MAX_REDIRECTS {
        let result = nertc_signal::connect(&url, req.clone(), opts).await;
        let next = match &result {
            Err(SignalError::Refused(e)) => e.redirect_url().map(str::to_owned),
            _ => None,
        };
        match next {
            Some(next) => {
                tracing::info!(from = %url, to = %next, "the room lives on another node: following the redirect");
                url = next;
            }
            None => return result,
        }
    }
    nertc_signal::connect(&url, req, opts).await
}

/// A join on its way: the connect task and when the application asked.
pub(crate) struct Joining {
    pub params: JoinParams,
    pub attempt: u64,
    pub started: Instant,
    pub _task: TaskGuard,
}

/// A request in flight on the signaling connection, and what its response is for.
#[derive(Debug, Clone)]
pub(crate) enum Pending {
    Publish {
        source: nertc_protocol::TrackSource,
        muted: bool,
    },
    Subscribe {
        uid: Uid,
        track_id: TrackId,
    },
    /// `renew_token` with this token.
    Renew {
        token: String,
    },
    /// Only logged when it fails (unpublish, mute, unsubscribe).
    Other(&'static str),
    /// The room has handled every data message we sent over signaling before this request
    /// (see [`crate::data`]).
    DataFence,
}

pub(crate) struct Session {
    pub params: JoinParams,
    pub signal: Signal,
    pub signal_events: mpsc::Receiver<SignalEvent>,
    pub join: JoinResult,
    pub joined_at: Instant,
    pub transport: Transport,
    pub transport_events: mpsc::Receiver<TransportEvent>,
    pub publish: Publishing,
    pub remote: Remotes,
    pub pending: HashMap<RequestId, Pending>,
    /// Highest room-event `seq` seen (for a resume).
    pub last_seq: u64,
    /// Signaling round trip from the last ping/pong, ms; None before the first pong.
    pub rtt_ms: Option<u32>,
    pub reconnect: Option<Reconnect>,
    /// The peer connections' states and ICE restarts.
    pub media: MediaLink,
    /// When the session's token expires (Unix seconds; read from the token, unchecked) and
    /// whether `onPermissionKeyWillExpire` was fired for it.
    pub token_exp: Option<u64>,
    pub token_warned: bool,
    /// `setLocalPublishFallbackOption(2)`'s state for the camera's video.
    pub publish_fallback: crate::media::publish_fallback::PublishFallback,
    /// The data channel (ours and the others').
    pub data: crate::data::DataState,
}

/// `onPermissionKeyWillExpire` fires this long before the token expires (NERTC: 30 s).
pub const TOKEN_WARNING: Duration = Duration::from_secs(30);

/// The expiry a token claims (None without a token or for one that is not a JWT).
fn token_exp(token: Option<&str>) -> Option<u64> {
    nertc_protocol::token::claims_unverified(token?).ok().map(|c| c.exp)
}

/// How a session ends; decides the events.
#[derive(Debug, Clone, Copy)]
pub(crate) enum End {
    /// `leaveChannel()`.
    Left,
    /// `release()`.
    Released,
    /// The server ended it (kicked, replaced, room closed).
    Server(LeaveReason),
    /// Reconnecting gave up.
    Lost,
    /// The media path stayed down with signaling up ([`crate::reconnect::MEDIA_GIVE_UP`]).
    MediaLost,
    /// The join was refused or the server unreachable.
    JoinFailed(Code),
}

impl Session {
    /// Where a reconnect tries: the channel server, then the cluster's other nodes.
    pub fn connect_urls(&self) -> Vec<String> {
        let mut urls = vec![self.params.url.clone()];
        urls.extend(self.join.nodes.iter().filter(|u| **u != self.params.url).cloned());
        urls
    }

    /// A session on a fresh `join` (first join or a rejoin after the resume window).
    pub fn new(actor: &Actor, params: JoinParams, c: Connected) -> Session {
        let (transport, transport_events) = Transport::start(
            &actor.rt,
            c.signal.clone(),
            &params.url,
            c.join.uid,
            [actor.shared.video.clone(), actor.shared.screen.clone()],
        );
        Session {
            signal: c.signal,
            signal_events: c.events,
            last_seq: c.join.seq,
            join: c.join,
            joined_at: Instant::now(),
            transport,
            transport_events,
            publish: Publishing::default(),
            remote: Remotes::default(),
            pending: HashMap::new(),
            rtt_ms: None,
            reconnect: None,
            media: MediaLink::default(),
            token_exp: token_exp(params.token.as_deref()),
            token_warned: false,
            publish_fallback: Default::default(),
            data: Default::default(),
            params,
        }
    }

    /// Tells the server a new role (`set_role`) unless it has it already.
    pub fn send_role(&mut self, role: nertc_protocol::Role) {
        if self.params.role != role
            && self.request(ClientMsg::SetRole(nertc_protocol::SetRoleRequest { role }), Pending::Other("set_role")).is_some()
        {
            tracing::info!(?role, "role change sent to the server");
            self.params.role = role;
        }
    }

    /// Sends a request whose response comes back as a [`SignalEvent::Reply`].
    pub fn request(&mut self, msg: ClientMsg, what: Pending) -> Option<RequestId> {
        let t = msg.type_name();
        match self.signal.request(msg) {
            Ok(id) => {
                self.pending.insert(id, what);
                Some(id)
            }
            Err(e) => {
                tracing::warn!(request = t, "not sent: {e}");
                None
            }
        }
    }
}

impl Actor {
    /// `updatePermissionKey`: sends the new token; the reply ([`Actor::token_renewed`]) makes
    /// it the session's (a rejoin then uses it). Without a signaling connection (reconnecting)
    /// it becomes the token of the next join at once, checked by the server then.
    pub(crate) fn renew_token(&mut self, token: String) {
        let Some(s) = self.session.as_mut() else {
            self.shared.emit(EngineEvent::UpdatePermissionKey { key: token, code: error::ERR_NOT_JOINED, time_s: 0 });
            return;
        };
        let msg = ClientMsg::RenewToken(nertc_protocol::RenewTokenRequest { token: token.clone() });
        if s.request(msg, Pending::Renew { token: token.clone() }).is_none() {
            let time_s = token_exp(Some(&token)).map_or(0, |exp| exp.saturating_sub(nertc_protocol::token::now_secs()));
            s.token_exp = token_exp(Some(&token));
            s.token_warned = false;
            s.params.token = Some(token.clone());
            self.shared.emit(EngineEvent::UpdatePermissionKey { key: token, code: error::OK, time_s });
        }
    }

    /// The server's answer to `renew_token`.
    pub(crate) fn token_renewed(&mut self, token: String, result: std::result::Result<nertc_protocol::Reply, SignalError>) {
        let Some(s) = self.session.as_mut() else { return };
        match result {
            Ok(nertc_protocol::Reply::Renew(r)) => {
                let exp = (r.exp > 0).then_some(r.exp).or_else(|| token_exp(Some(&token)));
                let time_s = exp.map_or(0, |exp| exp.saturating_sub(nertc_protocol::token::now_secs()));
                tracing::info!(time_s, can_publish = r.can_publish, "token renewed");
                s.token_exp = exp;
                s.token_warned = false;
                s.params.token = Some(token.clone());
                let publish_changed = s.join.can_publish != r.can_publish;
                s.join.can_publish = r.can_publish;
                s.join.can_subscribe = r.can_subscribe;
                if publish_changed && !r.can_publish {
                    // The server dropped our tracks; forget them.
                    let sources: Vec<_> = s.publish.tracks.keys().copied().collect();
                    for source in sources {
                        s.publish.tracks.remove(&source);
                        s.transport.publish(crate::transport::PubCmd::Remove { source });
                    }
                    *lock(&self.shared.video.sink) = None;
                    *lock(&self.shared.screen.sink) = None;
                    *lock(&self.shared.audio.sink) = None;
                }
                self.shared.emit(EngineEvent::UpdatePermissionKey { key: token, code: error::OK, time_s });
                if publish_changed {
                    self.republish();
                }
            }
            Ok(other) => tracing::error!("renew_token answered with {other:?}"),
            Err(e) => {
                let e = EngineError::from(e);
                tracing::warn!("updatePermissionKey refused: {e}");
                self.shared.emit(EngineEvent::UpdatePermissionKey { key: token, code: e.code(), time_s: 0 });
            }
        }
    }

    /// Every 100 ms: `onPermissionKeyWillExpire` once the token is within [`TOKEN_WARNING`]
    /// of its expiry (once per token).
    pub(crate) fn token_tick(&mut self) {
        let Some(s) = self.session.as_mut() else { return };
        let Some(exp) = s.token_exp else { return };
        if !s.token_warned && nertc_protocol::token::now_secs() + TOKEN_WARNING.as_secs() >= exp {
            s.token_warned = true;
            tracing::info!(exp, "the token expires soon");
            self.shared.emit(EngineEvent::PermissionKeyWillExpire);
        }
    }

    /// `joinChannel`: starts connecting in a task; the result comes back as [`Input::Connected`].
    pub(crate) fn join(&mut self, params: JoinParams, started: Instant) {
        if self.session.is_some() || self.joining.is_some() {
            tracing::warn!("join while a session exists; ending it");
            self.dismantle();
        }
        self.shared.set_state(ConnectionState::Connecting, StateReason::Join);
        let opts = nertc_signal::Options { connect_timeout: JOIN_ATTEMPT_TIMEOUT, ..Default::default() };
        let attempt = self.connect(params.request(&self.shared.app_key), vec![params.url.clone()], opts, JOIN_KEEP_TRYING);
        self.joining = Some(Joining { params, attempt: attempt.0, started, _task: attempt.1 });
    }

    /// Connects (join or resume) in a task; returns the attempt number and the task. A server
    /// that cannot be reached (or drops the connection before answering) is tried again until
    /// `keep_trying` has passed; a refusal is final. `urls`: the channel server first, then the
    /// cluster's other nodes that the last join listed; an unreachable one moves on to the next.
    /// A cluster's `redirect` answer is followed at once (see [`connect_following`]).
    pub(crate) fn connect(
        &mut self,
        req: JoinRequest,
        urls: Vec<String>,
        opts: nertc_signal::Options,
        keep_trying: Duration,
    ) -> (u64, TaskGuard) {
        self.attempts += 1;
        let (attempt, inbox) = (self.attempts, self.inbox.clone());
        let task = TaskGuard::spawn(&self.rt, async move {
            let until = Instant::now() + keep_trying;
            let mut tried = 0usize;
            let result = loop {
                let url = &urls[tried % urls.len()];
                tried += 1;
                match connect_following(url, req.clone(), opts).await {
                    Err(e @ (SignalError::Connect { .. } | SignalError::Closed | SignalError::Timeout(_)))
                        if !tried.is_multiple_of(urls.len()) =>
                    {
                        tracing::info!("join attempt at {url} failed, trying the next node: {e}");
                    }
                    Err(e @ (SignalError::Connect { .. } | SignalError::Closed | SignalError::Timeout(_)))
                        if Instant::now() + JOIN_RETRY_PAUSE < until =>
                    {
                        tracing::info!("join attempt failed, trying again: {e}");
                        tokio::time::sleep(JOIN_RETRY_PAUSE).await;
                    }
                    result => break result,
                }
            };
            let _ = inbox.send(Input::Connected { attempt, result }).await;
        });
        (attempt, task)
    }

    /// The outcome of a first join.
    pub(crate) fn joined(&mut self, j: Joining, result: std::result::Result<Connected, nertc_signal::SignalError>) {
        let elapsed_ms = j.started.elapsed().as_millis() as u64;
        let c = match result {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(channel = %j.params.channel, uid = j.params.uid, "join failed: {e}");
                let code = EngineError::from(e).code();
                self.joining = Some(j);
                self.end_session(End::JoinFailed(code));
                return;
            }
        };
        tracing::info!(channel = %j.params.channel, uid = j.params.uid, cid = c.join.cid, "joined");
        let (cid, uid) = (c.join.cid, c.join.uid);
        let users = c.join.users.clone();
        let mut s = Session::new(self, j.params, c);
        self.shared.set_state(ConnectionState::Connected, StateReason::JoinSucceed);
        self.shared.emit(EngineEvent::JoinChannel { cid, uid, result: error::OK, elapsed_ms });
        for u in users {
            self.user_joined(&mut s, u.uid, u.name.clone());
            if u.data {
                self.remote_data(&mut s, u.uid, true);
            }
            for t in u.tracks {
                self.track_published(&mut s, u.uid, t);
            }
        }
        self.session = Some(s);
        self.republish();
    }

    /// Tears the session (or the join in flight) down without any event: sinks cleared,
    /// receivers stopped, signaling and peer connections closed. Returns the transport tasks,
    /// which end once their connections are closed.
    pub(crate) fn dismantle(&mut self) -> Vec<tokio::task::JoinHandle<()>> {
        self.joining = None;
        let Some(mut s) = self.session.take() else { return Vec::new() };
        *lock(&self.shared.video.sink) = None;
        *lock(&self.shared.screen.sink) = None;
        *lock(&self.shared.audio.sink) = None;
        for (_, r) in s.remote.receiving.drain() {
            self.shared.slots.remove(crate::render::StreamKey::Remote(r.uid));
            self.shared.slots.remove(crate::render::StreamKey::RemoteSub(r.uid));
            self.shared.mixer.remove(r.uid);
        }
        s.signal.close();
        let signal = s.signal.clone();
        let mut closing = s.transport.close();
        // The `leave` queued before the close must reach the server even when the runtime is
        // about to stop (release): whoever ends the session may wait for this too.
        closing.push(self.rt.spawn(async move { signal.closed().await }));
        closing
    }

    /// The one end-of-session sequence. Returns the closing transport tasks.
    pub(crate) fn end_session(&mut self, how: End) -> Vec<tokio::task::JoinHandle<()>> {
        let (generation, uid, started) = match (&self.session, &self.joining) {
            (Some(s), _) => (s.params.generation, s.params.uid, None),
            (None, Some(j)) => (j.params.generation, j.params.uid, Some(j.started)),
            (None, None) => return Vec::new(),
        };
        if let (End::Left | End::Released, Some(s)) = (how, &self.session) {
            // Queued before the close, so the server removes us at once instead of keeping
            // the session for a resume.
            let _ = s.signal.request(ClientMsg::Leave(Empty {}));
        }
        let closing = self.dismantle();
        self.shared.presence.end(generation);
        // The per-call settings end with the call (leaveChannel clears the data switch itself,
        // so that a switchChannel's next call is not affected).
        self.shared.mixer.reset_call_volumes();
        if !matches!(how, End::Left | End::Released) {
            self.shared.data.enabled.store(false, std::sync::atomic::Ordering::Relaxed);
        }
        self.shared.refresh_devices();
        let (cause, state) = match how {
            End::Left | End::Released => (Some(EngineEvent::LeaveChannel { result: error::OK }), StateReason::Leave),
            End::Server(reason) => {
                let (state_reason, code) = match reason {
                    LeaveReason::Replaced | LeaveReason::Kicked => (StateReason::Kicked, error::ERR_KICKED),
                    LeaveReason::ServerShutdown => (StateReason::ChannelClosed, error::ERR_ROOM_CLOSED),
                    _ => (StateReason::Timeout, error::ERR_SIGNAL_DISCONNECTED),
                };
                (Some(EngineEvent::Disconnect { reason: code }), state_reason)
            }
            End::Lost => (Some(EngineEvent::Disconnect { reason: error::ERR_SIGNAL_DISCONNECTED }), StateReason::Timeout),
            End::MediaLost => (Some(EngineEvent::Disconnect { reason: error::ERR_MEDIA_DISCONNECTED }), StateReason::Timeout),
            End::JoinFailed(code) => {
                let elapsed_ms = started.map_or(0, |t| t.elapsed().as_millis() as u64);
                let failed = EngineEvent::JoinChannel { cid: 0, uid, result: code, elapsed_ms };
                self.shared.set_state_after(ConnectionState::Failed, StateReason::JoinFailed, Some(failed));
                (None, StateReason::JoinFailed)
            }
        };
        // Disconnected before the application hears why: its handler reads the new state.
        self.shared.set_state_after(ConnectionState::Disconnected, state, cause);
        self.stats.reset();
        closing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_transitions() {
        let p = Presence::default();
        assert!(!p.in_channel());
        assert!(matches!(p.begin_leave(), Err(EngineError::NotJoined)));
        let g1 = p.begin_join().unwrap();
        assert!(p.in_channel());
        assert!(matches!(p.begin_join(), Err(EngineError::AlreadyJoined)));
        p.begin_leave().unwrap();
        assert!(!p.in_channel());
        let g2 = p.begin_join().unwrap();
        assert!(g2 > g1);
        p.end(g1); // the old session's end must not clear the new join
        assert!(p.in_channel());
        p.end(g2);
        assert!(!p.in_channel());
        p.end(g2);
        assert!(!p.in_channel());
    }
}
