//! Remote users: room events, which of their tracks we want, `subscribe` / `unsubscribe`
//! requests, and the receive pipelines of the tracks that arrive. A user's `screen` video
//! track is their substream: its own events (`onUserSubStreamVideoStart/Stop`), its own
//! subscription switch (`subscribeRemoteVideoSubStream`, off until asked) and its own frame
//! slot ([`StreamKey::RemoteSub`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use nertc_protocol::{
    ClientMsg, LeaveReason, MediaKind, MidInfo, Reply, RoomEvent, SubscribeRequest, TrackId, TrackInfo, TrackRef, TrackSource, Uid,
};
use nertc_signal::SignalError;
use webrtc::media_stream::track_remote::TrackRemote;

use crate::actor::Actor;
use crate::event::{EngineEvent, STREAM_MAIN, STREAM_SUB, UserLeftReason};
use crate::media::audio_recv::{self, AudioRecvStats};
use crate::media::video_recv::{self, VideoRecvStats};
use crate::render::StreamKey;
use crate::session::{Pending, Session};
use crate::settings::profile_of;
use crate::transport::TaskGuard;

#[derive(Debug, Default, Clone)]
pub(crate) struct RemoteUser {
    pub name: String,
    pub tracks: HashMap<TrackId, TrackInfo>,
    pub want_video: bool,
    pub want_audio: bool,
    /// The substream (their screen share).
    pub want_sub_video: bool,
    /// Left out of the audio by `setSubscribeAudioAllowlist` / `setSubscribeAudioBlocklist`
    /// (whatever `want_audio` says).
    pub audio_listed_out: bool,
    /// Subscribed or being subscribed.
    pub subscribed: HashSet<TrackId>,
    /// The layer wanted of the main video (`subscribeRemoteVideoStream`'s 0 high, 1 low) ...
    pub video_layer: u8,
    /// ... and the (layer, fallback option) last asked of the server for each video track.
    pub layer_sent: HashMap<TrackId, (u8, u8)>,
}

impl RemoteUser {
    pub fn new(want_video: bool) -> Self {
        Self::wanting(want_video, true)
    }

    pub fn wanting(want_video: bool, want_audio: bool) -> Self {
        RemoteUser { want_audio, want_video, ..Default::default() }
    }

    /// (to subscribe, to unsubscribe) for what is wanted now.
    pub fn changes(&self) -> (Vec<TrackId>, Vec<TrackId>) {
        let (mut sub, mut unsub) = (Vec::new(), Vec::new());
        for (id, t) in &self.tracks {
            let want = match (t.kind, t.source) {
                (MediaKind::Audio, _) => self.want_audio && !self.audio_listed_out,
                (MediaKind::Video, TrackSource::Screen) => self.want_sub_video,
                (MediaKind::Video, _) => self.want_video,
            };
            match (want, self.subscribed.contains(id)) {
                (true, false) => sub.push(id.clone()),
                (false, true) => unsub.push(id.clone()),
                _ => {}
            }
        }
        sub.sort();
        unsub.sort();
        (sub, unsub)
    }
}

/// A track being received.
pub(crate) struct Receiving {
    pub uid: Uid,
    /// The substream (a screen track).
    pub sub: bool,
    pub video: Option<Arc<VideoRecvStats>>,
    pub audio: Option<Arc<AudioRecvStats>>,
    _task: TaskGuard,
}

#[derive(Default)]
pub(crate) struct Remotes {
    pub users: BTreeMap<Uid, RemoteUser>,
    pub receiving: HashMap<TrackId, Receiving>,
    /// What the app wanted of users who were in the room before a rejoin and are not back
    /// yet: (video, audio), applied when they join again.
    pub remembered: HashMap<Uid, (bool, bool)>,
    /// `subscribeAllRemoteAudioStream`, once called in this call: every user's audio switch,
    /// users who join later included.
    pub all_audio: Option<bool>,
    /// `setSubscribeAudioAllowlist`: only these users' audio (None: no allowlist).
    pub audio_allow: Option<BTreeSet<Uid>>,
    /// `setSubscribeAudioBlocklist` (the main audio stream).
    pub audio_block: BTreeSet<Uid>,
}

impl Remotes {
    /// Whether the allowlist / blocklist leave `uid`'s audio out.
    pub fn audio_listed_out(&self, uid: Uid) -> bool {
        self.audio_allow.as_ref().is_some_and(|a| !a.contains(&uid)) || self.audio_block.contains(&uid)
    }

    /// A list as NERTC takes it: only the users in the room when it is set count.
    fn present(&self, uids: &[Uid]) -> BTreeSet<Uid> {
        uids.iter().copied().filter(|u| self.users.contains_key(u)).collect()
    }
}

/// An audio subscription list command (see [`Actor::audio_list`]).
#[derive(Debug, Clone)]
pub(crate) enum AudioList {
    /// `subscribeAllRemoteAudioStream`.
    All(bool),
    /// `setSubscribeAudioAllowlist`; empty cancels it.
    Allow(Vec<Uid>),
    /// `setSubscribeAudioBlocklist` (main stream); empty cancels it.
    Block(Vec<Uid>),
}

pub(crate) fn user_left_reason(r: LeaveReason) -> UserLeftReason {
    match r {
        LeaveReason::Leave => UserLeftReason::Normal,
        LeaveReason::Timeout => UserLeftReason::Timeout,
        LeaveReason::Replaced => UserLeftReason::Update,
        LeaveReason::Kicked => UserLeftReason::Kick,
        LeaveReason::ServerShutdown => UserLeftReason::Failover,
        // NERTC: a broadcaster turning audience leaves the others normally.
        LeaveReason::Audience => UserLeftReason::Normal,
    }
}

impl Actor {
    pub(crate) fn room_event(&mut self, event: RoomEvent) {
        let Some(mut s) = self.session.take() else { return };
        match event {
            RoomEvent::UserJoined { uid, name } => self.user_joined(&mut s, uid, name),
            RoomEvent::UserLeft { uid, reason } => {
                s.data.remote_on.remove(&uid);
                if let Some(u) = s.remote.users.remove(&uid) {
                    for id in u.tracks.keys() {
                        self.stop_receiving(&mut s, id);
                    }
                }
                self.shared.slots.remove(StreamKey::Remote(uid));
                self.shared.slots.remove(StreamKey::RemoteSub(uid));
                self.shared.emit(EngineEvent::UserLeft { uid, reason: user_left_reason(reason) });
            }
            RoomEvent::TrackPublished { uid, track } => self.track_published(&mut s, uid, track),
            RoomEvent::TrackUnpublished { uid, track_id } => {
                let info = s.remote.users.get_mut(&uid).and_then(|u| {
                    u.subscribed.remove(&track_id);
                    u.tracks.remove(&track_id)
                });
                self.stop_receiving(&mut s, &track_id);
                if let Some(t) = info {
                    self.shared.emit(match (t.kind, t.source) {
                        (MediaKind::Audio, _) => EngineEvent::UserAudioStop { uid },
                        (MediaKind::Video, TrackSource::Screen) => EngineEvent::UserSubStreamVideoStop { uid },
                        (MediaKind::Video, _) => EngineEvent::UserVideoStop { uid },
                    });
                }
            }
            RoomEvent::TrackMuted { uid, track_id, muted } => {
                if let Some(t) = s.remote.users.get_mut(&uid).and_then(|u| u.tracks.get_mut(&track_id)) {
                    t.muted = muted;
                    // NERTC has no substream video mute event in this SDK's set.
                    match (t.kind, t.source) {
                        (MediaKind::Audio, _) => self.shared.emit(EngineEvent::UserAudioMute { uid, muted }),
                        (MediaKind::Video, TrackSource::Screen) => {}
                        (MediaKind::Video, _) => self.shared.emit(EngineEvent::UserVideoMute { uid, muted }),
                    }
                }
            }
            RoomEvent::Subscription { .. } => {}
            RoomEvent::UserData { uid, enabled } => self.remote_data(&mut s, uid, enabled),
            other => tracing::debug!(?other, "room event not handled"),
        }
        self.session = Some(s);
    }

    pub(crate) fn user_joined(&self, s: &mut Session, uid: Uid, name: String) {
        let (auto_video, auto_audio) = {
            let s = self.shared.settings();
            (s.auto_subscribe_video, s.auto_subscribe_audio)
        };
        let remembered = s.remote.remembered.remove(&uid);
        let auto_audio = s.remote.all_audio.unwrap_or(auto_audio);
        let listed_out = s.remote.audio_listed_out(uid);
        let u = s.remote.users.entry(uid).or_insert_with(|| match remembered {
            Some((want_video, want_audio)) => RemoteUser { want_video, want_audio, ..Default::default() },
            None => RemoteUser::wanting(auto_video, auto_audio),
        });
        u.name = name.clone();
        u.audio_listed_out = listed_out;
        self.shared.emit(EngineEvent::UserJoined { uid, name });
    }

    pub(crate) fn track_published(&self, s: &mut Session, uid: Uid, track: TrackInfo) {
        let Some(u) = s.remote.users.get_mut(&uid) else { return };
        u.tracks.insert(track.track_id.clone(), track.clone());
        let h = track.layers.iter().map(|l| l.height).max().unwrap_or(0);
        match (track.kind, track.source) {
            (MediaKind::Audio, _) => self.shared.emit(EngineEvent::UserAudioStart { uid }),
            (MediaKind::Video, TrackSource::Screen) => {
                self.shared.emit(EngineEvent::UserSubStreamVideoStart { uid, max_profile: profile_of(h) });
                return self.sync_subscriptions(s, uid);
            }
            (MediaKind::Video, _) => self.shared.emit(EngineEvent::UserVideoStart { uid, max_profile: profile_of(h) }),
        }
        if track.muted {
            self.shared.emit(match track.kind {
                MediaKind::Audio => EngineEvent::UserAudioMute { uid, muted: true },
                MediaKind::Video => EngineEvent::UserVideoMute { uid, muted: true },
            });
        }
        self.sync_subscriptions(s, uid);
    }

    /// `subscribeRemote{Video,Audio}Stream`.
    pub(crate) fn want(&mut self, uid: Uid, kind: MediaKind, on: bool) {
        let Some(mut s) = self.session.take() else { return };
        let u = s.remote.users.entry(uid).or_insert_with(|| RemoteUser::new(false));
        match kind {
            MediaKind::Video => u.want_video = on,
            MediaKind::Audio => u.want_audio = on,
        }
        self.sync_subscriptions(&mut s, uid);
        self.session = Some(s);
    }

    /// `subscribeAllRemoteAudioStream`, `setSubscribeAudioAllowlist`,
    /// `setSubscribeAudioBlocklist`: the lists change, every user's audio follows.
    pub(crate) fn audio_list(&mut self, list: AudioList) {
        let Some(mut s) = self.session.take() else { return };
        match list {
            AudioList::All(on) => {
                s.remote.all_audio = Some(on);
                for u in s.remote.users.values_mut() {
                    u.want_audio = on;
                }
            }
            AudioList::Allow(uids) => s.remote.audio_allow = (!uids.is_empty()).then(|| s.remote.present(&uids)),
            AudioList::Block(uids) => s.remote.audio_block = s.remote.present(&uids),
        }
        let uids: Vec<Uid> = s.remote.users.keys().copied().collect();
        for uid in uids {
            let out = s.remote.audio_listed_out(uid);
            s.remote.users.get_mut(&uid).expect("listed just above").audio_listed_out = out;
            self.sync_subscriptions(&mut s, uid);
        }
        self.session = Some(s);
    }

    /// `subscribeRemoteVideoStream`'s stream type.
    pub(crate) fn want_layer(&mut self, uid: Uid, layer: u8) {
        let Some(mut s) = self.session.take() else { return };
        s.remote.users.entry(uid).or_insert_with(|| RemoteUser::new(false)).video_layer = layer;
        self.sync_subscriptions(&mut s, uid);
        self.session = Some(s);
    }

    /// `subscribeRemoteVideoSubStream`.
    pub(crate) fn want_sub(&mut self, uid: Uid, on: bool) {
        let Some(mut s) = self.session.take() else { return };
        s.remote.users.entry(uid).or_insert_with(|| RemoteUser::new(false)).want_sub_video = on;
        self.sync_subscriptions(&mut s, uid);
        self.session = Some(s);
    }

    /// Subscribes to / unsubscribes from `uid`'s tracks to match what is wanted.
    fn sync_subscriptions(&self, s: &mut Session, uid: Uid) {
        if !s.join.can_subscribe {
            return;
        }
        let Some((to_sub, to_unsub)) = s.remote.users.get(&uid).map(RemoteUser::changes) else { return };
        let fallback = self.shared.settings().remote_fallback.clamp(0, 2) as u8;
        let u = s.remote.users.get(&uid).expect("looked up above");
        // The main video's layer: wanted of new subscriptions, and changed on existing ones.
        let layer_of =
            |t: &TrackInfo| (t.kind == MediaKind::Video && t.source != TrackSource::Screen).then_some((u.video_layer.min(1), fallback));
        let relayer: Vec<(TrackId, (u8, u8))> = u
            .subscribed
            .iter()
            .filter_map(|id| Some((id.clone(), layer_of(u.tracks.get(id)?)?)))
            .filter(|(id, l)| u.layer_sent.get(id) != Some(l))
            .collect();
        let to_sub: Vec<(TrackId, Option<(u8, u8)>)> =
            to_sub.into_iter().map(|id| (id.clone(), u.tracks.get(&id).and_then(layer_of))).collect();
        let request = |layer: Option<(u8, u8)>| {
            let rid = |l: u8| if l == 1 { nertc_protocol::RID_LOW } else { nertc_protocol::RID_HIGH }.to_owned();
            (layer.map(|(l, _)| rid(l)), layer.map(|(_, f)| f))
        };
        for (track_id, layer) in to_sub {
            let (rid, fallback) = request(layer);
            let msg = ClientMsg::Subscribe(SubscribeRequest { track_id: track_id.clone(), layer: rid, fallback });
            if s.request(msg, Pending::Subscribe { uid, track_id: track_id.clone() }).is_some() {
                let u = s.remote.users.get_mut(&uid).expect("looked up above");
                if let Some(l) = layer {
                    u.layer_sent.insert(track_id.clone(), l);
                }
                u.subscribed.insert(track_id);
            }
        }
        for (track_id, layer) in relayer {
            let (rid, fallback) = request(Some(layer));
            let msg = ClientMsg::Subscribe(SubscribeRequest { track_id: track_id.clone(), layer: rid, fallback });
            if s.request(msg, Pending::Other("subscribe")).is_some() {
                s.remote.users.get_mut(&uid).expect("looked up above").layer_sent.insert(track_id, layer);
            }
        }
        for track_id in to_unsub {
            s.request(ClientMsg::Unsubscribe(TrackRef { track_id: track_id.clone() }), Pending::Other("unsubscribe"));
            let u = s.remote.users.get_mut(&uid).expect("looked up above");
            u.subscribed.remove(&track_id);
            u.layer_sent.remove(&track_id);
            self.stop_receiving(s, &track_id);
        }
    }

    /// The response to a `subscribe`.
    pub(crate) fn subscribed(&mut self, uid: Uid, track_id: TrackId, result: Result<Reply, SignalError>) {
        if let Err(e) = result {
            tracing::warn!(uid, track = %track_id, "subscribe failed: {e}");
            if let Some(u) = self.session.as_mut().and_then(|s| s.remote.users.get_mut(&uid)) {
                u.subscribed.remove(&track_id);
            }
        }
    }

    /// A subscribed track arrived: start its receive pipeline.
    pub(crate) fn start_receiving(&mut self, info: MidInfo, track: Arc<dyn TrackRemote>) {
        let Some(mut s) = self.session.take() else { return };
        self.stop_receiving(&mut s, &info.track_id);
        let (events, uid) = (self.shared.events.clone(), info.uid);
        // enableEncryption's key, fixed for the call: what arrives is opened with it.
        let media_key = self.shared.settings().encryption.clone();
        let sub = s.remote.users.get(&uid).and_then(|u| u.tracks.get(&info.track_id)).is_some_and(|t| t.source == TrackSource::Screen);
        let r = match info.kind {
            MediaKind::Video => {
                let stats = Arc::new(VideoRecvStats::default());
                let (key, stream_type) = if sub { (StreamKey::RemoteSub(uid), STREAM_SUB) } else { (StreamKey::Remote(uid), STREAM_MAIN) };
                let slot = self.shared.slots.get(key);
                let path = s.transport.path.clone();
                let rtt = move || path.down_rtt_ms();
                let task =
                    TaskGuard::spawn(&self.rt, video_recv::run(track, uid, stream_type, slot, events, stats.clone(), rtt, media_key));
                Receiving { uid, sub, video: Some(stats), audio: None, _task: task }
            }
            MediaKind::Audio => {
                let stats = Arc::new(AudioRecvStats::default());
                let task =
                    TaskGuard::spawn(&self.rt, audio_recv::run(track, uid, self.shared.mixer.clone(), events, stats.clone(), media_key));
                Receiving { uid, sub: false, video: None, audio: Some(stats), _task: task }
            }
        };
        s.remote.receiving.insert(info.track_id, r);
        self.session = Some(s);
    }

    /// The server's [`nertc_protocol::TransportMsg::Fallback`]: a video subscription of ours
    /// stopped (audio only, `setRemoteSubscribeFallbackOption(2)` on a downlink too narrow
    /// for its low layer) or resumed.
    pub(crate) fn subscribe_fallback(&mut self, m: nertc_protocol::FallbackMsg) {
        let Some(s) = &self.session else { return };
        let Some((uid, t)) = s.remote.users.iter().find_map(|(uid, u)| {
            let t = u.tracks.get(&m.track_id).filter(|t| t.kind == MediaKind::Video && u.subscribed.contains(&m.track_id))?;
            Some((*uid, t))
        }) else {
            return;
        };
        let stream_type = if t.source == TrackSource::Screen { STREAM_SUB } else { STREAM_MAIN };
        tracing::info!(uid, track_id = %m.track_id, audio_only = m.audio_only, "subscription fallback to audio only");
        self.shared.emit(EngineEvent::RemoteSubscribeFallbackToAudioOnly { uid, is_fallback: m.audio_only, stream_type });
    }

    pub(crate) fn stop_receiving(&self, s: &mut Session, track_id: &str) {
        if let Some(r) = s.remote.receiving.remove(track_id) {
            if r.video.is_some() {
                self.shared.slots.get(if r.sub { StreamKey::RemoteSub(r.uid) } else { StreamKey::Remote(r.uid) }).clear();
            }
            if r.audio.is_some() {
                self.shared.mixer.remove(r.uid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(id: &str, kind: MediaKind) -> TrackInfo {
        let source = if kind == MediaKind::Audio { TrackSource::Mic } else { TrackSource::Camera };
        TrackInfo { track_id: id.into(), kind, source, muted: false, layers: vec![], codec: "audio/opus".into() }
    }

    #[test]
    fn the_substream_has_its_own_switch() {
        let mut u = RemoteUser::new(true);
        u.tracks.insert("v".into(), track("v", MediaKind::Video));
        let screen = TrackInfo { source: TrackSource::Screen, ..track("s", MediaKind::Video) };
        u.tracks.insert("s".into(), screen);
        assert_eq!(u.changes().0, vec!["v".to_string()], "the camera by the main switch, the screen not without asking");
        u.want_sub_video = true;
        u.want_video = false;
        assert_eq!(u.changes().0, vec!["s".to_string()]);
    }

    #[test]
    fn subscription_changes_follow_what_is_wanted() {
        let mut u = RemoteUser::new(false);
        u.tracks.insert("a".into(), track("a", MediaKind::Audio));
        u.tracks.insert("v".into(), track("v", MediaKind::Video));
        assert_eq!(u.changes(), (vec!["a".to_string()], vec![]), "audio by default, video by hand");
        u.subscribed.insert("a".into());
        u.want_video = true;
        assert_eq!(u.changes(), (vec!["v".to_string()], vec![]));
        u.subscribed.insert("v".into());
        u.want_audio = false;
        assert_eq!(u.changes(), (vec![], vec!["a".to_string()]));
    }
}
