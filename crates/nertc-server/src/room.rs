//! The room actor: one task per room owns all of its state (sessions, tracks, subscriptions,
//! event rings). Connections talk to it with [`RoomCmd`]s; peer actors report [`MediaEvent`]s;
//! it writes frames into each session's bounded outbound queue and never awaits a client.
//!
//! Data messages (docs/protocol.md §13.2) come in over signaling (`data`) or a session's SCTP
//! data channel ([`MediaEvent::Data`]); the room decides who gets each one (`subscribe_data`,
//! audience members included) and writes it to every receiver's data channel when that is open,
//! else to its socket. The room asks a version-4 session's peer for the channel
//! ([`PeerCmd::OpenData`]) once the session sends data or someone it would receive from does:
//! a room where nobody uses data has no SCTP association at all.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use nertc_protocol::token::Permissions;
use nertc_protocol::{
    ClientMsg, ErrorBody, ErrorCode, JoinRequest, JoinResult, Layer, LeaveReason, MediaKind, PROTOCOL_VERSION, PcKind, PublishRequest,
    PublishResult, Resumed, Role, RoomEvent, SdpType, ServerFrame, SubscribeResult, SubscriptionState, TrackId, TrackInfo, TrackSource,
    TransportMsg, Uid, UserInfo,
};

use crate::Shared;
use crate::directory::{DirCmd, RoomKey};
use crate::metrics::DataPath;
use crate::sfu::peer::{self, MediaEvent, PeerEnv, SessionKey};
use crate::sfu::simulcast::{self, Fallback};
use crate::sfu::{ForwarderHandle, PeerCmd, PeerHandle};
use nertc_rtc::pc::DataSender;

/// Most tracks one session may publish.
const MAX_TRACKS_PER_SESSION: usize = 8;

/// What a connection task receives from the room.
#[derive(Debug)]
pub enum Outbound {
    Text(String),
    Close(u16, &'static str),
}

/// A connection's outbound queue, tagged with the connection's id so that a stale connection
/// (replaced or resumed elsewhere) cannot act on the session.
#[derive(Debug, Clone)]
pub struct ConnLink {
    pub conn_id: u64,
    pub tx: mpsc::Sender<Outbound>,
}

#[derive(Debug)]
pub enum RoomCmd {
    Join {
        req: JoinRequest,
        perms: Permissions,
        link: ConnLink,
        reply: oneshot::Sender<Result<JoinResult, ErrorBody>>,
    },
    Request {
        uid: Uid,
        conn_id: u64,
        id: Option<u64>,
        msg: ClientMsg,
    },
    /// The connection went away (socket closed, ping timeout, rate limit).
    Detach {
        uid: Uid,
        conn_id: u64,
    },
    /// The room moves to another node (see `DirCmd::Migrate`).
    Migrate,
    Shutdown,
}

#[derive(Debug, Clone)]
pub struct RoomHandle {
    pub cid: u64,
    pub tx: mpsc::Sender<RoomCmd>,
}

struct Session {
    key: SessionKey,
    name: String,
    /// Audience members are invisible to the others and cannot publish.
    role: Role,
    resume_token: String,
    perms: Permissions,
    link: Option<ConnLink>,
    detached_since: Option<Instant>,
    seq: u64,
    ring: VecDeque<(u64, RoomEvent)>,
    peer: PeerHandle,
    subs: BTreeSet<TrackId>,
    /// The layer and fallback option of each subscription (absent: high, fallback allowed).
    sub_layers: HashMap<TrackId, (usize, Fallback)>,
    next_track: u32,
    /// The sub offer awaiting the client's answer, re-sent after a resume (it may have been
    /// lost with the old socket).
    unanswered_sub_offer: Option<nertc_protocol::SdpMsg>,
    /// `neg` of the last `pub` offer passed to the peer; the next must be higher.
    last_pub_neg: u64,
    /// `set_audio_subscribers`: who may receive this session's audio (None: everyone).
    audio_only_by: Option<BTreeSet<Uid>>,
    /// The data channel is on (`enable_data`).
    data: bool,
    /// Users whose data messages this session does not want (`subscribe_data`).
    data_unsub: BTreeSet<Uid>,
    /// The client's protocol version (the data channel needs [`nertc_protocol::DATA_CHANNEL_VERSION`]).
    protocol: u32,
    /// The data channel was asked of the peer ([`PeerCmd::OpenData`]) / is open.
    data_asked: bool,
    data_tx: Option<DataSender>,
}

impl Session {
    /// Queues a frame; false when the client's queue is full (it is then detached).
    fn push(&mut self, frame: &ServerFrame) -> bool {
        let Some(link) = &self.link else { return true };
        match link.tx.try_send(Outbound::Text(frame.to_json())) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => false,
            // The connection task is gone; its Detach is on the way.
            Err(mpsc::error::TrySendError::Closed(_)) => true,
        }
    }

    fn event(&mut self, ev: RoomEvent, ring_cap: usize) -> bool {
        self.seq += 1;
        self.ring.push_back((self.seq, ev.clone()));
        while self.ring.len() > ring_cap {
            self.ring.pop_front();
        }
        self.push(&ServerFrame::Event { seq: self.seq, event: ev })
    }

    fn respond(&mut self, id: Option<u64>, result: Result<serde_json::Value, ErrorBody>) -> bool {
        match (id, result) {
            (Some(re), result) => self.push(&ServerFrame::Response { re, result }),
            (None, Err(e)) => self.push(&ServerFrame::Transport(TransportMsg::Error(e))),
            (None, Ok(_)) => true,
        }
    }

    fn close_link(&mut self, code: u16, reason: &'static str) {
        if let Some(link) = self.link.take() {
            let _ = link.tx.try_send(Outbound::Close(code, reason));
        }
    }
}

struct Track {
    owner: Uid,
    kind: MediaKind,
    source: TrackSource,
    muted: bool,
    layers: Vec<Layer>,
    /// Set once media flows; until then the track is invisible to others.
    live: Option<ForwarderHandle>,
}

impl Track {
    fn info(&self, track_id: &str) -> TrackInfo {
        TrackInfo {
            track_id: track_id.to_owned(),
            kind: self.kind,
            source: self.source,
            muted: self.muted,
            codec: self.live.as_ref().map(|f| f.codec.clone()).unwrap_or_default(),
            layers: self.layers.clone(),
        }
    }
}

struct Room {
    key: RoomKey,
    cid: u64,
    shared: Arc<Shared>,
    peer_env: PeerEnv,
    media_tx: mpsc::UnboundedSender<MediaEvent>,
    sessions: HashMap<Uid, Session>,
    tracks: BTreeMap<TrackId, Track>,
    /// Sessions whose queue overflowed during the current command; detached after it.
    overflowed: Vec<Uid>,
    had_session: bool,
}

fn random_hex(bytes: usize) -> String {
    (0..bytes).map(|_| format!("{:02x}", rand::random::<u8>())).collect()
}

/// Starts a room actor.
pub fn spawn(key: RoomKey, cid: u64, shared: Arc<Shared>, directory: mpsc::UnboundedSender<DirCmd>) -> RoomHandle {
    let (tx, mut rx) = mpsc::channel::<RoomCmd>(1024);
    let (media_tx, mut media_rx) = mpsc::unbounded_channel();
    let peer_env = shared.peer_env.clone();
    let mut room = Room {
        key,
        cid,
        shared,
        peer_env,
        media_tx,
        sessions: HashMap::new(),
        tracks: BTreeMap::new(),
        overflowed: Vec::new(),
        had_session: false,
    };
    room.shared.metrics.rooms.fetch_add(1, Relaxed);
    tokio::spawn(async move {
        let period = Duration::from_millis(250);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        let created = Instant::now();
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(RoomCmd::Shutdown) | None => {
                        let uids: Vec<Uid> = room.sessions.keys().copied().collect();
                        for uid in uids {
                            room.remove_session(uid, LeaveReason::ServerShutdown);
                        }
                        break;
                    }
                    Some(RoomCmd::Migrate) => {
                        for (uid, mut s) in room.sessions.drain() {
                            tracing::info!(uid, channel = %room.key.channel, "room moves to another node: closing the socket for a rejoin there");
                            s.close_link(crate::conn::CLOSE_SERVICE_RESTART, "room moved to another node");
                            room.shared.metrics.users.fetch_sub(1, Relaxed);
                        }
                        break;
                    }
                    Some(cmd) => room.command(cmd),
                },
                Some(ev) = media_rx.recv() => room.media(ev),
                _ = tick.tick() => {
                    room.reap();
                    // Empty rooms close; a new one never joined closes after a grace period.
                    if room.sessions.is_empty() && (room.had_session || created.elapsed() > Duration::from_secs(10)) {
                        break;
                    }
                }
            }
            room.detach_overflowed();
        }
        tracing::info!(channel = %room.key.channel, cid = room.cid, "room closed");
        room.shared.metrics.rooms.fetch_sub(1, Relaxed);
        let _ = directory.send(DirCmd::Closed { key: room.key.clone(), cid: room.cid });
    });
    RoomHandle { cid, tx }
}

impl Room {
    fn ring_cap(&self) -> usize {
        self.shared.config.limits.replay_events
    }

    fn command(&mut self, cmd: RoomCmd) {
        match cmd {
            RoomCmd::Join { req, perms, link, reply } => {
                let result = self.join(req, perms, link);
                if let Err(e) = &result {
                    self.shared.metrics.join_failed(e.code);
                }
                let _ = reply.send(result);
            }
            RoomCmd::Request { uid, conn_id, id, msg } => {
                let current = self.sessions.get(&uid).and_then(|s| s.link.as_ref()).map(|l| l.conn_id);
                if current == Some(conn_id) {
                    self.request(uid, id, msg);
                }
            }
            RoomCmd::Detach { uid, conn_id } => {
                if let Some(s) = self.sessions.get_mut(&uid)
                    && s.link.as_ref().map(|l| l.conn_id) == Some(conn_id)
                {
                    tracing::info!(uid, channel = %self.key.channel, "session detached; awaiting resume");
                    s.link = None;
                    s.detached_since = Some(Instant::now());
                }
            }
            RoomCmd::Migrate | RoomCmd::Shutdown => {}
        }
    }

    /// Sends a room event to every session but `except`.
    fn broadcast(&mut self, except: Uid, ev: RoomEvent) {
        let cap = self.ring_cap();
        for (uid, s) in self.sessions.iter_mut() {
            if *uid != except && !s.event(ev.clone(), cap) {
                self.overflowed.push(*uid);
            }
        }
    }

    fn send_event(&mut self, uid: Uid, ev: RoomEvent) {
        let cap = self.ring_cap();
        if let Some(s) = self.sessions.get_mut(&uid)
            && !s.event(ev, cap)
        {
            self.overflowed.push(uid);
        }
    }

    fn respond(&mut self, uid: Uid, id: Option<u64>, result: Result<serde_json::Value, ErrorBody>) {
        if let Some(s) = self.sessions.get_mut(&uid)
            && !s.respond(id, result)
        {
            self.overflowed.push(uid);
        }
    }

    /// A client that let its queue fill is cut off; the session may still resume.
    fn detach_overflowed(&mut self) {
        for uid in std::mem::take(&mut self.overflowed) {
            if let Some(s) = self.sessions.get_mut(&uid)
                && s.link.is_some()
            {
                tracing::warn!(uid, "outbound queue full; disconnecting the client");
                // Dropping the sender ends the connection task's queue; it then closes.
                s.link = None;
                s.detached_since = Some(Instant::now());
            }
        }
    }

    /// Whether `sub` may receive `t`'s media: not when `t` is audio whose owner let only others
    /// hear it (`set_audio_subscribers`).
    fn may_receive(&self, sub: Uid, t: &Track) -> bool {
        t.kind != MediaKind::Audio || self.sessions.get(&t.owner).and_then(|o| o.audio_only_by.as_ref()).is_none_or(|l| l.contains(&sub))
    }

    /// `set_audio_subscribers`: subscribers let out stop receiving `uid`'s audio, those let
    /// in (back) receive it; their subscriptions stay.
    fn set_audio_subscribers(&mut self, uid: Uid, uids: Vec<Uid>) {
        let list: Option<BTreeSet<Uid>> =
            (!uids.is_empty()).then(|| uids.into_iter().filter(|u| *u != uid && self.sessions.contains_key(u)).collect());
        let s = self.sessions.get_mut(&uid).expect("requests come only from sessions in the room");
        let old = std::mem::replace(&mut s.audio_only_by, list.clone());
        let audio: Vec<(TrackId, Option<ForwarderHandle>)> = self
            .tracks
            .iter()
            .filter(|(_, t)| t.owner == uid && t.kind == MediaKind::Audio)
            .map(|(id, t)| (id.clone(), t.live.clone()))
            .collect();
        let hears = |l: &Option<BTreeSet<Uid>>, sub: Uid| l.as_ref().is_none_or(|l| l.contains(&sub));
        for (sub, s) in self.sessions.iter().filter(|(sub, _)| **sub != uid) {
            let (before, after) = (hears(&old, *sub), hears(&list, *sub));
            for (track_id, live) in audio.iter().filter(|(id, _)| s.subs.contains(id)) {
                match (before, after, live) {
                    (true, false, _) => s.peer.send(PeerCmd::RemoveDown { track_id: track_id.clone() }),
                    (false, true, Some(forwarder)) => {
                        let (layer, fallback) = s.sub_layers.get(track_id).copied().unwrap_or((simulcast::HIGH, Fallback::VideoLow));
                        s.peer.send(PeerCmd::AddDown {
                            track_id: track_id.clone(),
                            owner: uid,
                            forwarder: forwarder.clone(),
                            layer,
                            fallback,
                        })
                    }
                    _ => {}
                }
            }
        }
    }

    /// A data message from `uid` (in over `path`) goes to every other session that has not
    /// unsubscribed from `uid`'s: on its data channel when that is open, else on its socket
    /// (the JSON frame is made once, for the first receiver that needs it).
    fn relay_data(&mut self, uid: Uid, data: &[u8], path: DataPath) {
        let m = &self.shared.metrics;
        m.data_in(path);
        let mut sctp: Option<bytes::Bytes> = None;
        let mut json: Option<ServerFrame> = None;
        for (to, s) in self.sessions.iter_mut() {
            if *to == uid || s.data_unsub.contains(&uid) {
                continue;
            }
            if let Some(tx) = &s.data_tx {
                let frame = sctp.get_or_insert_with(|| nertc_protocol::data_frame(uid, data).into());
                if tx.send(frame.clone()) {
                    m.data_out(DataPath::Sctp);
                    continue;
                }
                if !tx.is_closed() {
                    // Like a full socket queue, a receiver that does not read loses out.
                    tracing::warn!(uid = *to, "data channel queue full; data message dropped");
                    continue;
                }
                // Its connection is gone (a new one is being set up): signaling meanwhile.
                s.data_tx = None;
            }
            let frame = json.get_or_insert_with(|| ServerFrame::Transport(TransportMsg::Data { uid, data: data.to_vec() }));
            m.data_out(DataPath::Signaling);
            if !s.push(frame) {
                self.overflowed.push(*to);
            }
        }
    }

    /// A data message from `uid` over either path: refused (as an `error` transport message)
    /// beyond the size limit or before `enable_data`.
    fn data_in(&mut self, uid: Uid, data: &[u8], path: DataPath) -> Result<(), ErrorBody> {
        if data.is_empty() || data.len() > nertc_protocol::MAX_DATA_BYTES {
            return Err(ErrorBody::new(
                ErrorCode::BadRequest,
                format!("data of {} bytes (1 to {})", data.len(), nertc_protocol::MAX_DATA_BYTES),
            ));
        }
        if !self.sessions[&uid].data {
            return Err(ErrorBody::new(ErrorCode::BadRequest, "data before enable_data"));
        }
        self.relay_data(uid, data, path);
        Ok(())
    }

    /// Asks for the data channel of every version-4 session that needs one and has none: one
    /// that sends data, or that would receive from someone who does.
    fn open_data_channels(&mut self) {
        let senders: Vec<Uid> = self.sessions.values().filter(|s| s.data).map(|s| s.key.uid).collect();
        if senders.is_empty() {
            return;
        }
        for (uid, s) in self.sessions.iter_mut() {
            let needs = s.data || senders.iter().any(|from| from != uid && !s.data_unsub.contains(from));
            if needs && !s.data_asked && s.protocol >= nertc_protocol::DATA_CHANNEL_VERSION && s.perms.subscribe {
                s.data_asked = true;
                s.peer.send(PeerCmd::OpenData);
            }
        }
    }

    fn users_except(&self, uid: Uid) -> Vec<UserInfo> {
        let mut users: Vec<UserInfo> = self
            .sessions
            .values()
            .filter(|s| s.key.uid != uid && s.role == Role::Broadcaster)
            .map(|s| UserInfo {
                uid: s.key.uid,
                name: s.name.clone(),
                tracks: self.tracks.iter().filter(|(_, t)| t.owner == s.key.uid && t.live.is_some()).map(|(id, t)| t.info(id)).collect(),
                data: s.data,
            })
            .collect();
        users.sort_by_key(|u| u.uid);
        users
    }

    fn join_result(&self, uid: Uid, resumed: Option<Resumed>) -> JoinResult {
        let s = &self.sessions[&uid];
        let t = &self.shared.config.timeouts;
        JoinResult {
            protocol: PROTOCOL_VERSION,
            session_id: s.key.session_id.to_string(),
            resume_token: s.resume_token.clone(),
            resume_window_ms: t.resume_window_ms,
            ping_interval_ms: t.ping_interval_ms,
            ping_timeout_ms: t.ping_timeout_ms,
            cid: self.cid,
            channel: self.key.channel.clone(),
            uid,
            users: self.users_except(uid),
            seq: s.seq,
            resumed,
            can_publish: s.perms.publish,
            can_subscribe: s.perms.subscribe,
            nodes: Vec::new(),
        }
    }

    fn join(&mut self, req: JoinRequest, perms: Permissions, link: ConnLink) -> Result<JoinResult, ErrorBody> {
        let uid = req.uid;
        if let Some(r) = &req.resume {
            let resume_failed = |msg: &str| ErrorBody::new(ErrorCode::ResumeFailed, msg);
            let s = self
                .sessions
                .get_mut(&uid)
                .filter(|s| *s.key.session_id == *r.session_id && s.resume_token == r.resume_token)
                .ok_or_else(|| resume_failed("no such session (it may have timed out)"))?;
            if r.last_seq > s.seq {
                return Err(resume_failed("last_seq is ahead of the server"));
            }
            let first_kept = s.ring.front().map_or(s.seq + 1, |(q, _)| *q);
            if r.last_seq + 1 < first_kept {
                return Err(resume_failed("missed events are no longer buffered"));
            }
            s.close_link(crate::conn::CLOSE_NORMAL, "resumed elsewhere");
            s.link = Some(link);
            s.detached_since = None;
            s.peer.send(PeerCmd::Resumed);
            let replay: Vec<ServerFrame> =
                s.ring.iter().filter(|(q, _)| *q > r.last_seq).map(|(q, ev)| ServerFrame::Event { seq: *q, event: ev.clone() }).collect();
            for f in &replay {
                s.push(f);
            }
            if let Some(offer) = s.unanswered_sub_offer.clone() {
                s.push(&ServerFrame::Transport(TransportMsg::Sdp(offer)));
            }
            tracing::info!(uid, channel = %self.key.channel, replayed = replay.len(), "session resumed");
            let resumed = Resumed { from: r.last_seq + 1, to: s.seq };
            return Ok(self.join_result(uid, Some(resumed)));
        }

        if self.sessions.contains_key(&uid) {
            self.remove_session(uid, LeaveReason::Replaced);
        }
        let key = SessionKey { uid, session_id: random_hex(8).into() };
        // A session that may subscribe gets its `sub` connection built now, before its first
        // subscription needs it (the first frame of a user already publishing comes sooner).
        let peer = peer::spawn(key.clone(), self.peer_env.clone(), self.media_tx.clone(), perms.subscribe);
        self.sessions.insert(
            uid,
            Session {
                key,
                name: req.name.clone(),
                role: req.role,
                resume_token: random_hex(16),
                perms,
                link: Some(link),
                detached_since: None,
                seq: 0,
                ring: VecDeque::new(),
                peer,
                subs: BTreeSet::new(),
                sub_layers: HashMap::new(),
                next_track: 0,
                unanswered_sub_offer: None,
                last_pub_neg: 0,
                audio_only_by: None,
                data: false,
                data_unsub: BTreeSet::new(),
                protocol: req.protocol,
                data_asked: false,
                data_tx: None,
            },
        );
        self.open_data_channels();
        self.had_session = true;
        self.shared.metrics.users.fetch_add(1, Relaxed);
        self.shared.metrics.joins.fetch_add(1, Relaxed);
        tracing::info!(uid, channel = %self.key.channel, cid = self.cid, role = ?req.role, "joined");
        if req.role == Role::Broadcaster {
            self.broadcast(uid, RoomEvent::UserJoined { uid, name: req.name });
        }
        Ok(self.join_result(uid, None))
    }

    fn remove_session(&mut self, uid: Uid, reason: LeaveReason) {
        let Some(mut s) = self.sessions.remove(&uid) else { return };
        if s.link.is_some() && reason != LeaveReason::Leave {
            s.push(&ServerFrame::Transport(TransportMsg::Leave { reason }));
        }
        let why = match reason {
            LeaveReason::Leave => "leave",
            LeaveReason::Timeout => "timeout",
            LeaveReason::Replaced => "replaced",
            LeaveReason::Kicked => "kicked",
            LeaveReason::ServerShutdown => "server shutdown",
            // Not a way to leave the room (only a role change's user_left says it).
            LeaveReason::Audience => "audience",
        };
        s.close_link(crate::conn::CLOSE_NORMAL, why);
        let owned: Vec<TrackId> = self.tracks.iter().filter(|(_, t)| t.owner == uid).map(|(id, _)| id.clone()).collect();
        for id in owned {
            self.unpublish(&id);
        }
        self.shared.metrics.users.fetch_sub(1, Relaxed);
        tracing::info!(uid, channel = %self.key.channel, reason = why, "left");
        if s.role == Role::Broadcaster {
            self.broadcast(uid, RoomEvent::UserLeft { uid, reason });
        }
        // Dropping `s.peer` closes the session's peer connections.
    }

    /// `set_role`: an audience member's tracks are unpublished and it leaves the others' view
    /// (`user_left` with reason `audience`); a new broadcaster appears (`user_joined`).
    fn set_role(&mut self, uid: Uid, role: Role) {
        let s = self.sessions.get_mut(&uid).expect("requests come only from sessions in the room");
        if s.role == role {
            return;
        }
        s.role = role;
        // An audience member has no data channel (it is invisible to the others).
        s.data &= role == Role::Broadcaster;
        let name = s.name.clone();
        tracing::info!(uid, channel = %self.key.channel, ?role, "role changed");
        match role {
            Role::Audience => {
                let owned: Vec<TrackId> = self.tracks.iter().filter(|(_, t)| t.owner == uid).map(|(id, _)| id.clone()).collect();
                for id in owned {
                    self.unpublish(&id);
                }
                self.broadcast(uid, RoomEvent::UserLeft { uid, reason: LeaveReason::Audience });
            }
            Role::Broadcaster => self.broadcast(uid, RoomEvent::UserJoined { uid, name }),
        }
    }

    /// Removes a track: others hear `track_unpublished`, its subscribers `subscription ended`.
    fn unpublish(&mut self, track_id: &TrackId) {
        let Some(t) = self.tracks.remove(track_id) else { return };
        if let Some(owner) = self.sessions.get(&t.owner) {
            owner.peer.send(PeerCmd::StopPublished { track_id: track_id.clone() });
        }
        if let Some(fwd) = t.live {
            fwd.close();
            self.shared.metrics.published_tracks.fetch_sub(1, Relaxed);
            self.broadcast(t.owner, RoomEvent::TrackUnpublished { uid: t.owner, track_id: track_id.clone() });
        }
        // Subscriptions end whether or not the track ever went live.
        let subscribers: Vec<Uid> = self.sessions.values().filter(|s| s.subs.contains(track_id)).map(|s| s.key.uid).collect();
        for uid in subscribers {
            if let Some(s) = self.sessions.get_mut(&uid) {
                s.subs.remove(track_id);
                s.sub_layers.remove(track_id);
                s.peer.send(PeerCmd::RemoveDown { track_id: track_id.clone() });
                // A resume replays the unanswered offer: not with the ended track in it.
                if let Some(o) = s.unanswered_sub_offer.as_mut() {
                    o.sub_mids.retain(|_, m| m.track_id != *track_id);
                }
            }
            self.send_event(uid, RoomEvent::Subscription { track_id: track_id.clone(), state: SubscriptionState::Ended });
        }
    }

    fn reap(&mut self) {
        let window = self.shared.config.timeouts.resume_window();
        let expired: Vec<Uid> =
            self.sessions.values().filter(|s| s.detached_since.is_some_and(|t| t.elapsed() >= window)).map(|s| s.key.uid).collect();
        for uid in expired {
            self.remove_session(uid, LeaveReason::Timeout);
        }
    }

    fn request(&mut self, uid: Uid, id: Option<u64>, msg: ClientMsg) {
        let result = self.handle_request(uid, id, msg);
        match result {
            Ok(Some(d)) => self.respond(uid, id, Ok(d)),
            Ok(None) => {} // answered later (by the peer actor) or not at all
            Err(e) => {
                tracing::debug!(uid, code = %e.code, "request refused: {}", e.msg);
                self.respond(uid, id, Err(e));
            }
        }
    }

    /// Ok(Some(d)): respond now with d; Ok(None): the response comes later or never.
    fn handle_request(&mut self, uid: Uid, id: Option<u64>, msg: ClientMsg) -> Result<Option<serde_json::Value>, ErrorBody> {
        let bad = |msg: String| ErrorBody::new(ErrorCode::BadRequest, msg);
        let not_found = |id: &str| ErrorBody::new(ErrorCode::TrackNotFound, format!("no track {id:?}"));
        match msg {
            ClientMsg::Join(_) => Err(ErrorBody::new(ErrorCode::AlreadyJoined, "this socket has joined already")),
            ClientMsg::Leave(_) => {
                self.respond(uid, id, Ok(serde_json::json!({})));
                self.remove_session(uid, LeaveReason::Leave);
                Ok(None)
            }
            ClientMsg::Publish(PublishRequest { kind, source, layers, muted, .. }) => {
                let s = self.sessions.get_mut(&uid).expect("requests come only from sessions in the room");
                if !s.perms.publish {
                    return Err(ErrorBody::new(ErrorCode::PermissionDenied, "the token does not allow publishing"));
                }
                if s.role == Role::Audience {
                    return Err(ErrorBody::new(
                        ErrorCode::PermissionDenied,
                        "an audience member cannot publish (set_role broadcaster first)",
                    ));
                }
                let owned = self.tracks.values().filter(|t| t.owner == uid).count();
                if owned >= MAX_TRACKS_PER_SESSION {
                    return Err(bad(format!("at most {MAX_TRACKS_PER_SESSION} tracks per session")));
                }
                s.next_track += 1;
                let track_id = format!("{uid}-{}", s.next_track);
                self.tracks.insert(track_id.clone(), Track { owner: uid, kind, source, muted, layers, live: None });
                Ok(Some(serde_json::to_value(PublishResult { track_id }).expect("PublishResult always serialises")))
            }
            ClientMsg::Unpublish(r) => {
                match self.tracks.get(&r.track_id) {
                    Some(t) if t.owner == uid => {}
                    _ => return Err(not_found(&r.track_id)),
                }
                self.unpublish(&r.track_id);
                Ok(Some(serde_json::json!({})))
            }
            ClientMsg::Mute(m) => {
                let t = match self.tracks.get_mut(&m.track_id) {
                    Some(t) if t.owner == uid => t,
                    _ => return Err(not_found(&m.track_id)),
                };
                let changed = t.muted != m.muted;
                t.muted = m.muted;
                if changed && t.live.is_some() {
                    self.broadcast(uid, RoomEvent::TrackMuted { uid, track_id: m.track_id, muted: m.muted });
                }
                Ok(Some(serde_json::json!({})))
            }
            ClientMsg::Subscribe(r) => {
                let s = &self.sessions[&uid];
                if !s.perms.subscribe {
                    return Err(ErrorBody::new(ErrorCode::PermissionDenied, "the token does not allow subscribing"));
                }
                let t = self.tracks.get(&r.track_id).ok_or_else(|| not_found(&r.track_id))?;
                if t.owner == uid {
                    return Err(bad("cannot subscribe to your own track".into()));
                }
                let (owner, live, allowed) = (t.owner, t.live.clone(), self.may_receive(uid, t));
                let s = self.sessions.get_mut(&uid).expect("checked above");
                let layer = simulcast::layer_of_request(r.layer.as_deref());
                let fallback = Fallback::of_request(r.fallback);
                s.sub_layers.insert(r.track_id.clone(), (layer, fallback));
                if s.subs.insert(r.track_id.clone()) {
                    if allowed && let Some(forwarder) = live {
                        s.peer.send(PeerCmd::AddDown { track_id: r.track_id, owner, forwarder, layer, fallback });
                    }
                } else {
                    // Subscribed already: a new layer or fallback option (protocol 3).
                    s.peer.send(PeerCmd::SetLayer { track_id: r.track_id, layer, fallback });
                }
                Ok(Some(
                    serde_json::to_value(SubscribeResult { state: SubscriptionState::Pending }).expect("SubscribeResult always serialises"),
                ))
            }
            ClientMsg::Unsubscribe(r) => {
                let s = self.sessions.get_mut(&uid).expect("requests come only from sessions in the room");
                if !s.subs.remove(&r.track_id) {
                    return Err(not_found(&r.track_id));
                }
                s.sub_layers.remove(&r.track_id);
                s.peer.send(PeerCmd::RemoveDown { track_id: r.track_id });
                Ok(Some(serde_json::json!({})))
            }
            ClientMsg::Sdp(m) => {
                if m.sdp.len() > self.shared.config.limits.max_frame_bytes {
                    return Err(ErrorBody::new(ErrorCode::BadSdp, "sdp too large"));
                }
                match (m.pc, m.kind) {
                    (PcKind::Pub, SdpType::Offer) => {
                        if let Some((mid, tid)) = m.pub_mids.iter().find(|(_, t)| self.tracks.get(*t).is_none_or(|t| t.owner != uid)) {
                            return Err(bad(format!("pub_mids[{mid:?}] names {tid:?}, which is not a track you published")));
                        }
                        check_pub_mids(&m.sdp, &m.pub_mids).map_err(bad)?;
                        let s = self.sessions.get_mut(&uid).expect("requests come only from sessions in the room");
                        if m.neg <= s.last_pub_neg {
                            return Err(bad(format!(
                                "pub offer neg {} is not higher than the previous pub offer's ({})",
                                m.neg, s.last_pub_neg
                            )));
                        }
                        s.last_pub_neg = m.neg;
                        self.sessions[&uid].peer.send(PeerCmd::PubOffer {
                            id,
                            sdp: m.sdp,
                            neg: m.neg,
                            mids: m.pub_mids,
                            rids: m.pub_rids,
                            fresh: m.fresh,
                        });
                        Ok(None)
                    }
                    (PcKind::Sub, SdpType::Answer) => {
                        let s = self.sessions.get_mut(&uid).expect("requests come only from sessions in the room");
                        if s.unanswered_sub_offer.as_ref().is_some_and(|o| o.neg == m.neg) {
                            s.unanswered_sub_offer = None;
                        }
                        self.sessions[&uid].peer.send(PeerCmd::SubAnswer { id, sdp: m.sdp, neg: m.neg });
                        Ok(None)
                    }
                    (pc, kind) => {
                        Err(bad(format!("{kind:?} on the {pc:?} connection is not accepted (pub: client offers, sub: client answers)")))
                    }
                }
            }
            ClientMsg::Ice(ice) => {
                if !ice.end {
                    let candidate = webrtc::peer_connection::RTCIceCandidateInit {
                        candidate: ice.candidate,
                        sdp_mid: ice.sdp_mid,
                        sdp_mline_index: ice.sdp_mline_index,
                        ..Default::default()
                    };
                    self.sessions[&uid].peer.send(PeerCmd::Ice { pc: ice.pc, candidate });
                }
                Ok(None)
            }
            // Answered by the connection task; never reaches the room.
            ClientMsg::Ping(_) => Ok(None),
            ClientMsg::Replace(r) => {
                if r.pc != PcKind::Sub {
                    return Err(bad("replace: only the sub connection (the server offers on it) can be asked for".into()));
                }
                self.sessions[&uid].peer.send(PeerCmd::ReplaceSub { neg: r.neg });
                Ok(None)
            }
            ClientMsg::RenewToken(r) => {
                let now = nertc_protocol::token::now_secs();
                let (perms, exp) = crate::auth::renew(&self.shared.config, &self.key.app_key, &self.key.channel, uid, &r.token, now)?;
                let s = self.sessions.get_mut(&uid).expect("requests come only from sessions in the room");
                s.perms = perms;
                tracing::info!(uid, channel = %self.key.channel, exp, publish = perms.publish, subscribe = perms.subscribe, "token renewed");
                if !perms.publish {
                    let owned: Vec<TrackId> = self.tracks.iter().filter(|(_, t)| t.owner == uid).map(|(id, _)| id.clone()).collect();
                    for id in owned {
                        self.unpublish(&id);
                    }
                }
                let result = nertc_protocol::RenewResult { exp, can_publish: perms.publish, can_subscribe: perms.subscribe };
                Ok(Some(serde_json::to_value(result).expect("RenewResult always serialises")))
            }
            ClientMsg::SetRole(r) => {
                self.set_role(uid, r.role);
                Ok(Some(serde_json::json!({})))
            }
            ClientMsg::SetAudioSubscribers(r) => {
                self.set_audio_subscribers(uid, r.uids);
                Ok(Some(serde_json::json!({})))
            }
            ClientMsg::EnableData(r) => {
                let s = self.sessions.get_mut(&uid).expect("requests come only from sessions in the room");
                if r.enabled && s.role == Role::Audience {
                    return Err(ErrorBody::new(ErrorCode::PermissionDenied, "an audience member has no data channel"));
                }
                let changed = std::mem::replace(&mut s.data, r.enabled) != r.enabled;
                if changed {
                    self.broadcast(uid, RoomEvent::UserData { uid, enabled: r.enabled });
                    self.open_data_channels();
                }
                Ok(Some(serde_json::json!({})))
            }
            ClientMsg::SubscribeData(r) => {
                let s = self.sessions.get_mut(&uid).expect("requests come only from sessions in the room");
                if r.subscribe {
                    s.data_unsub.remove(&r.uid);
                    self.open_data_channels();
                } else {
                    s.data_unsub.insert(r.uid);
                }
                Ok(Some(serde_json::json!({})))
            }
            ClientMsg::Data(m) => {
                self.data_in(uid, &m.data, DataPath::Signaling)?;
                Ok(Some(serde_json::json!({})))
            }
            _ => Err(ErrorBody::new(ErrorCode::UnknownType, "unsupported message")),
        }
    }

    fn media(&mut self, ev: MediaEvent) {
        let key = match &ev {
            MediaEvent::Respond { key, .. }
            | MediaEvent::SubOffer { key, .. }
            | MediaEvent::SubActive { key, .. }
            | MediaEvent::TrackLive { key, .. }
            | MediaEvent::TrackEnded { key, .. }
            | MediaEvent::LayerDemand { key, .. }
            | MediaEvent::SubFallback { key, .. }
            | MediaEvent::DataOpen { key, .. }
            | MediaEvent::Replace { key, .. }
            | MediaEvent::Data { key, .. } => key,
        };
        // Ignore what a replaced session's peer says.
        if self.sessions.get(&key.uid).is_none_or(|s| s.key != *key) {
            return;
        }
        match ev {
            MediaEvent::Respond { key, id, result } => self.respond(key.uid, id, result),
            MediaEvent::SubOffer { key, mut msg } => {
                if let Some(s) = self.sessions.get_mut(&key.uid) {
                    // The peer built the offer from its own state, which may trail the room's:
                    // a subscription that ended (and was announced) since is not listed, its
                    // m-line carries nothing and goes in the next offer.
                    msg.sub_mids.retain(|_, m| s.subs.contains(&m.track_id));
                    s.unanswered_sub_offer = Some(msg.clone());
                    if !s.push(&ServerFrame::Transport(TransportMsg::Sdp(msg))) {
                        self.overflowed.push(key.uid);
                    }
                }
            }
            MediaEvent::SubActive { key, track_ids } => {
                for track_id in track_ids {
                    let subscribed = self.sessions[&key.uid].subs.contains(&track_id);
                    if subscribed {
                        self.send_event(key.uid, RoomEvent::Subscription { track_id, state: SubscriptionState::Active });
                    }
                }
            }
            MediaEvent::TrackLive { key, track_id, forwarder } => {
                let Some(t) = self.tracks.get_mut(&track_id).filter(|t| t.owner == key.uid) else {
                    forwarder.close();
                    return;
                };
                // A second forwarder for a live track: the publisher replaced its connection.
                // Others already know the track; their subscriptions move to the new one.
                if let Some(old) = t.live.replace(forwarder.clone()) {
                    old.close();
                    tracing::info!(uid = key.uid, %track_id, "track moved to a new connection");
                } else {
                    self.shared.metrics.published_tracks.fetch_add(1, Relaxed);
                    let info = t.info(&track_id);
                    tracing::info!(uid = key.uid, %track_id, codec = %info.codec, "track published");
                    self.broadcast(key.uid, RoomEvent::TrackPublished { uid: key.uid, track: info });
                }
                let t = &self.tracks[&track_id];
                for s in self.sessions.values() {
                    if s.subs.contains(&track_id) && self.may_receive(s.key.uid, t) {
                        let (layer, fallback) = s.sub_layers.get(&track_id).copied().unwrap_or((simulcast::HIGH, Fallback::VideoLow));
                        s.peer.send(PeerCmd::AddDown {
                            track_id: track_id.clone(),
                            owner: key.uid,
                            forwarder: forwarder.clone(),
                            layer,
                            fallback,
                        });
                    }
                }
            }
            MediaEvent::LayerDemand { key, track_id, active } => {
                if let Some(s) = self.sessions.get_mut(&key.uid) {
                    tracing::debug!(uid = key.uid, %track_id, ?active, "layers wanted");
                    if !s.push(&ServerFrame::Transport(TransportMsg::Layers(nertc_protocol::LayersMsg { track_id, active }))) {
                        self.overflowed.push(key.uid);
                    }
                }
            }
            MediaEvent::Replace { key, pc, neg } => {
                // Version 4 (earlier clients may not know the message).
                if let Some(s) = self.sessions.get_mut(&key.uid).filter(|s| s.protocol >= nertc_protocol::DATA_CHANNEL_VERSION)
                    && !s.push(&ServerFrame::Transport(TransportMsg::Replace(nertc_protocol::ReplaceMsg { pc, neg })))
                {
                    self.overflowed.push(key.uid);
                }
            }
            MediaEvent::SubFallback { key, track_id, audio_only } => {
                if let Some(s) = self.sessions.get_mut(&key.uid).filter(|s| s.subs.contains(&track_id)) {
                    let msg = nertc_protocol::FallbackMsg { track_id, audio_only };
                    if !s.push(&ServerFrame::Transport(TransportMsg::Fallback(msg))) {
                        self.overflowed.push(key.uid);
                    }
                }
            }
            MediaEvent::DataOpen { key, sender } => {
                if let Some(s) = self.sessions.get_mut(&key.uid) {
                    tracing::debug!(uid = key.uid, channel = %self.key.channel, "data channel open");
                    s.data_tx = Some(sender);
                    // After every `data` sent on the socket so far: the client holds what the
                    // channel brings until it sees this.
                    if !s.push(&ServerFrame::Transport(TransportMsg::DataChannel {})) {
                        self.overflowed.push(key.uid);
                    }
                }
            }
            MediaEvent::Data { key, data } => {
                if let Err(e) = self.data_in(key.uid, &data, DataPath::Sctp) {
                    tracing::debug!(uid = key.uid, "data channel message refused: {}", e.msg);
                    self.respond(key.uid, None, Err(e));
                }
            }
            MediaEvent::TrackEnded { key, track_id } => {
                if self.tracks.get(&track_id).is_some_and(|t| t.owner == key.uid) {
                    self.unpublish(&track_id);
                }
            }
        }
    }
}

/// Checks that `pub_mids` names every m-line the offer sends media on; the error says which
/// one is missing. Sending: an `audio` or `video` m-line that is not rejected (port 0 without
/// `a=bundle-only`) and whose direction (its own `a=`, else the session's, else `sendrecv`) is
/// `sendrecv` or `sendonly`. SDP that does not parse is left to the SDP layer (`bad_sdp`).
pub(crate) fn check_pub_mids(sdp: &str, pub_mids: &BTreeMap<String, TrackId>) -> Result<(), String> {
    struct MLine<'a> {
        index: usize,
        media: &'a str,
        rejected: bool,
        bundle_only: bool,
        mid: Option<&'a str>,
        direction: Option<&'a str>,
    }
    const DIRECTIONS: [&str; 4] = ["sendrecv", "sendonly", "recvonly", "inactive"];
    let mut session_direction = None;
    let mut mlines: Vec<MLine> = Vec::new();
    for line in sdp.lines().map(str::trim_end) {
        if let Some(m) = line.strip_prefix("m=") {
            let mut fields = m.split_ascii_whitespace();
            let media = fields.next().unwrap_or("");
            let rejected = fields.next().is_some_and(|port| port == "0" || port.starts_with("0/"));
            mlines.push(MLine { index: mlines.len(), media, rejected, bundle_only: false, mid: None, direction: None });
            continue;
        }
        let Some(attr) = line.strip_prefix("a=") else { continue };
        let direction = DIRECTIONS.iter().find(|d| **d == attr).copied();
        match mlines.last_mut() {
            None => session_direction = direction.or(session_direction),
            Some(ml) => {
                if let Some(mid) = attr.strip_prefix("mid:") {
                    ml.mid = Some(mid.trim());
                } else if attr == "bundle-only" {
                    ml.bundle_only = true;
                } else if direction.is_some() {
                    ml.direction = direction;
                }
            }
        }
    }
    for ml in &mlines {
        let sends = matches!(ml.direction.or(session_direction).unwrap_or("sendrecv"), "sendrecv" | "sendonly");
        if !sends || !matches!(ml.media, "audio" | "video") || (ml.rejected && !ml.bundle_only) {
            continue;
        }
        match ml.mid {
            None => return Err(format!("m-line {} ({}) sends media but has no a=mid", ml.index, ml.media)),
            Some(mid) if !pub_mids.contains_key(mid) => {
                return Err(format!(
                    "m-line {} ({}, mid {mid:?}) sends media but pub_mids has no entry for mid {mid:?}: name its track_id",
                    ml.index, ml.media
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod pub_mids_tests {
    use super::*;

    fn mids(list: &[&str]) -> BTreeMap<String, TrackId> {
        list.iter().map(|m| (m.to_string(), format!("1-{m}"))).collect()
    }

    const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1 2 3\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=sendrecv\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\na=inactive\r\n\
        m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:3\r\n";

    #[test]
    fn every_sending_mline_needs_an_entry() {
        assert_eq!(check_pub_mids(OFFER, &mids(&["0", "1"])), Ok(()));
        let e = check_pub_mids(OFFER, &mids(&["0"])).unwrap_err();
        assert!(e.contains("mid \"1\"") && e.contains("video"), "{e}");
        let e = check_pub_mids(OFFER, &mids(&["1"])).unwrap_err();
        assert!(e.contains("mid \"0\""), "{e}");
        // No direction attribute means sendrecv; a session-level direction is the default.
        let bare = "v=0\r\nm=audio 9 RTP/AVP 0\r\na=mid:a\r\n";
        assert!(check_pub_mids(bare, &mids(&[])).is_err());
        let session_recvonly = "v=0\r\na=recvonly\r\nm=audio 9 RTP/AVP 0\r\na=mid:a\r\n";
        assert_eq!(check_pub_mids(session_recvonly, &mids(&[])), Ok(()));
        // A rejected m-line does not send; a bundle-only one does.
        assert_eq!(check_pub_mids("v=0\nm=video 0 RTP/AVP 96\na=mid:v\n", &mids(&[])), Ok(()));
        assert!(check_pub_mids("v=0\nm=video 0 RTP/AVP 96\na=bundle-only\na=mid:v\n", &mids(&[])).is_err());
        // No mid at all on a sending m-line.
        assert!(check_pub_mids("v=0\nm=video 9 RTP/AVP 96\na=sendonly\n", &mids(&["0"])).unwrap_err().contains("no a=mid"));
        // Garbage has no m-lines: the SDP layer refuses it later.
        assert_eq!(check_pub_mids("v=0 garbage", &mids(&[])), Ok(()));
    }
}
