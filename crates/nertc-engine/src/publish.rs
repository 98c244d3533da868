//! Publishing our tracks: which sources should be published (from the settings: the mic, the
//! camera's main stream, the screen's substream), the `publish` request per source, then the
//! publisher task puts the track on the connection and the encoder threads start writing into
//! it. Each source is its own track; the camera and the screen are both `video`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use nertc_protocol::{ClientMsg, Layer, MediaKind, MuteRequest, PublishRequest, Reply, TrackId, TrackRef, TrackSource};
use nertc_signal::{RequestId, SignalError};
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;

use crate::actor::Actor;
use crate::error::EngineError;
use crate::event::EngineEvent;
use crate::media::audio_send::AudioSink;
use crate::media::video_send::{LowSink, VideoSink};
use crate::session::{Pending, Session};
use crate::shared::{Shared, lock};
use crate::transport::PubCmd;

/// One source's publication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PubState {
    /// `publish` sent, no track id yet.
    Requested(RequestId),
    /// The server knows the track as this id.
    Live(TrackId),
}

#[derive(Debug, Default)]
pub(crate) struct Publishing {
    pub tracks: HashMap<TrackSource, PubState>,
}

/// What to do for one source, given what is wanted and what exists.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Publish,
    /// Unpublish a live track.
    Unpublish(TrackId),
    /// Forget a `publish` still in flight (its reply then unpublishes the track).
    Cancel,
    Nothing,
}

pub(crate) fn step(want: bool, state: Option<&PubState>) -> Step {
    match (want, state) {
        (true, None) => Step::Publish,
        (false, Some(PubState::Live(id))) => Step::Unpublish(id.clone()),
        (false, Some(PubState::Requested(_))) => Step::Cancel,
        _ => Step::Nothing,
    }
}

/// The kind of a source's track.
pub(crate) fn kind_of(source: TrackSource) -> MediaKind {
    match source {
        TrackSource::Mic | TrackSource::ScreenAudio => MediaKind::Audio,
        TrackSource::Camera | TrackSource::Screen => MediaKind::Video,
    }
}

fn muted_now(actor: &Actor, source: TrackSource) -> bool {
    match source {
        TrackSource::Mic | TrackSource::ScreenAudio => actor.shared.audio.muted.load(Relaxed),
        TrackSource::Camera => actor.shared.video.muted.load(Relaxed),
        TrackSource::Screen => actor.shared.screen.muted.load(Relaxed),
    }
}

impl Actor {
    /// Brings the publications in line with the settings.
    /// The server learns a role change here: a new broadcaster's `set_role` goes before its
    /// `publish`es, a new audience member's after its `unpublish`es (the server would refuse
    /// the publishes, and unpublishes the tracks itself anyway).
    pub(crate) fn republish(&mut self) {
        let ((want_audio, want_video), want_screen, encode, screen_encode, role) = {
            let s = self.shared.settings();
            (s.wants_published(), s.wants_screen_published(), s.encode, s.screen.as_ref().map(|sc| sc.encode), s.role.wire())
        };
        let muted: Vec<bool> = [TrackSource::Mic, TrackSource::Camera, TrackSource::Screen].iter().map(|s| muted_now(self, *s)).collect();
        let Some(s) = self.session.as_mut() else { return };
        if role == nertc_protocol::Role::Broadcaster {
            s.send_role(role);
        }
        self.publish_wanted([want_audio, want_video, want_screen], muted, encode, screen_encode);
        if let Some(s) = self.session.as_mut()
            && role == nertc_protocol::Role::Audience
        {
            s.send_role(role);
        }
    }

    fn publish_wanted(
        &mut self,
        [want_audio, want_video, want_screen]: [bool; 3],
        muted: Vec<bool>,
        encode: crate::media::video_send::EncodeParams,
        screen_encode: Option<crate::media::video_send::EncodeParams>,
    ) {
        let Some(s) = self.session.as_mut() else { return };
        if !s.join.can_publish {
            return;
        }
        let wanted = [(TrackSource::Mic, want_audio), (TrackSource::Camera, want_video), (TrackSource::Screen, want_screen)];
        for ((source, want), muted) in wanted.into_iter().zip(muted) {
            let kind = kind_of(source);
            match step(want, s.publish.tracks.get(&source)) {
                Step::Publish => {
                    let layer = |rid: &str, e: crate::media::video_send::EncodeParams| Layer {
                        rid: rid.into(),
                        width: e.width,
                        height: e.height,
                        max_bps: e.bitrate_kbps * 1000,
                    };
                    let low = |e: crate::media::video_send::EncodeParams| crate::media::video_send::EncodeParams {
                        width: e.width / 2,
                        height: e.height / 2,
                        bitrate_kbps: crate::media::video_send::low_kbps(e.bitrate_kbps),
                        ..e
                    };
                    let layers = match source {
                        TrackSource::Camera if dual_now(s, &self.shared) => {
                            vec![layer(nertc_protocol::RID_HIGH, encode), layer(nertc_protocol::RID_LOW, low(encode))]
                        }
                        TrackSource::Camera => vec![layer("h", encode)],
                        TrackSource::Screen => screen_encode.map(|e| layer("h", e)).into_iter().collect(),
                        TrackSource::Mic | TrackSource::ScreenAudio => vec![],
                    };
                    let msg = ClientMsg::Publish(PublishRequest { kind, source, codec: None, layers, muted });
                    if let Some(id) = s.request(msg, Pending::Publish { source, muted }) {
                        s.publish.tracks.insert(source, PubState::Requested(id));
                    }
                }
                Step::Unpublish(track_id) => {
                    s.publish.tracks.remove(&source);
                    clear_sink(&self.shared, source);
                    s.transport.publish(PubCmd::Remove { source });
                    s.request(ClientMsg::Unpublish(TrackRef { track_id }), Pending::Other("unpublish"));
                }
                Step::Cancel => {
                    s.publish.tracks.remove(&source);
                }
                Step::Nothing => {}
            }
        }
    }

    /// The response to a `publish`.
    pub(crate) fn published(&mut self, source: TrackSource, muted_then: bool, result: Result<Reply, SignalError>) {
        let muted = muted_now(self, source);
        let Some(s) = self.session.as_mut() else { return };
        let track_id = match result {
            Ok(Reply::Publish(p)) => p.track_id,
            Ok(other) => return tracing::error!(?source, "publish answered with {other:?}"),
            Err(e) => {
                let e = EngineError::from(e);
                tracing::error!(?source, "publish failed: {e}");
                s.publish.tracks.remove(&source);
                self.shared.emit(EngineEvent::Error { code: e.code(), msg: format!("publish {source:?}: {e}") });
                return;
            }
        };
        if !matches!(s.publish.tracks.get(&source), Some(PubState::Requested(_))) {
            // Cancelled while in flight.
            s.request(ClientMsg::Unpublish(TrackRef { track_id }), Pending::Other("unpublish"));
            return;
        }
        s.publish.tracks.insert(source, PubState::Live(track_id.clone()));
        if muted != muted_then {
            s.request(ClientMsg::Mute(MuteRequest { track_id: track_id.clone(), muted }), Pending::Other("mute"));
        }
        let dual = source == TrackSource::Camera && dual_now(s, &self.shared);
        s.transport.publish(PubCmd::Add { source, track_id, dual });
    }

    /// The publisher task put our track on the connection: media may flow.
    pub(crate) fn track_added(
        &mut self,
        source: TrackSource,
        track_id: TrackId,
        track: Arc<TrackLocalStaticSample>,
        ssrc: u32,
        low: Option<LowSink>,
    ) {
        let Some(s) = &self.session else { return };
        if s.publish.tracks.get(&source) != Some(&PubState::Live(track_id)) {
            return; // unpublished meanwhile
        }
        let rt = self.rt.clone();
        let video = |ctl: &crate::media::video_send::VideoCtl, sink: VideoSink| {
            // A new publication encodes every layer until the server says otherwise.
            for p in &ctl.layer_paused {
                p.store(false, Relaxed);
            }
            *lock(&ctl.sink) = Some(sink);
        };
        // Fixed for the call: enableEncryption is refused in a channel.
        let key = self.shared.settings().encryption.clone();
        match source {
            TrackSource::Camera => video(&self.shared.video, VideoSink { track, ssrc, rt, low, key }),
            TrackSource::Screen => video(&self.shared.screen, VideoSink { track, ssrc, rt, low: None, key }),
            TrackSource::Mic | TrackSource::ScreenAudio => *lock(&self.shared.audio.sink) = Some(AudioSink { track, ssrc, rt, key }),
        }
    }

    /// The server's [`nertc_protocol::TransportMsg::Layers`]: which layers of our camera track
    /// someone receives. A layer that comes back starts with a keyframe.
    pub(crate) fn layers_wanted(&mut self, m: nertc_protocol::LayersMsg) {
        let Some(s) = &self.session else { return };
        if s.publish.tracks.get(&TrackSource::Camera) != Some(&PubState::Live(m.track_id.clone())) {
            return;
        }
        let ctl = &self.shared.video;
        for (i, rid) in [nertc_protocol::RID_HIGH, nertc_protocol::RID_LOW].into_iter().enumerate() {
            let paused = !m.active.iter().any(|a| a == rid);
            if ctl.layer_paused[i].swap(paused, Relaxed) && !paused {
                (if i == 0 { &ctl.force_keyframe } else { &ctl.low_force_keyframe }).store(true, Relaxed);
            }
        }
        tracing::debug!(active = ?m.active, "layers someone receives");
    }

    /// `muteLocal{Audio,Video}Stream` reaching the server.
    pub(crate) fn mute(&mut self, source: TrackSource, muted: bool) {
        let Some(s) = self.session.as_mut() else { return };
        if let Some(PubState::Live(track_id)) = s.publish.tracks.get(&source) {
            let msg = ClientMsg::Mute(MuteRequest { track_id: track_id.clone(), muted });
            s.request(msg, Pending::Other("mute"));
        }
    }
}

/// Whether the camera is published with a low layer: `enableDualStreamMode(true)` and a server
/// that speaks protocol 3 (it forwards layers; an older one would take the low layer's m-line
/// for a second copy of the track).
fn dual_now(s: &Session, shared: &Shared) -> bool {
    s.join.protocol >= 3 && shared.settings().dual_stream
}

fn clear_sink(shared: &Shared, source: TrackSource) {
    match source {
        TrackSource::Camera => *lock(&shared.video.sink) = None,
        TrackSource::Screen => *lock(&shared.screen.sink) = None,
        TrackSource::Mic | TrackSource::ScreenAudio => *lock(&shared.audio.sink) = None,
    }
}

/// Is a publication of `source` live in this session (for stats)?
pub(crate) fn is_live(s: &Session, source: TrackSource) -> bool {
    matches!(s.publish.tracks.get(&source), Some(PubState::Live(_)))
}

impl Actor {
    /// Every 100 ms: `setLocalPublishFallbackOption(2)` stops the camera's video while the
    /// uplink cannot carry it and tries it again later ([`crate::media::publish_fallback`]).
    pub(crate) fn publish_fallback_tick(&mut self) {
        let video = &self.shared.video;
        let Some(s) = self.session.as_mut() else {
            video.audio_only.store(false, Relaxed);
            return;
        };
        let enabled = self.shared.settings().local_fallback == 2 && lock(&video.sink).is_some() && !video.muted.load(Relaxed);
        let estimate = video.uplink.bwe.target_bps();
        s.publish_fallback.tick(std::time::Instant::now(), enabled, estimate);
        // The flag follows the state whatever changed it (a new session starts with video on).
        let audio_only = s.publish_fallback.audio_only();
        if video.audio_only.swap(audio_only, Relaxed) != audio_only {
            tracing::info!(
                audio_only,
                ?estimate,
                "local publish fallback: the camera's video {}",
                if audio_only { "stops" } else { "resumes" }
            );
            self.shared
                .emit(EngineEvent::LocalPublishFallbackToAudioOnly { is_fallback: audio_only, stream_type: crate::event::STREAM_MAIN });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps() {
        let live = PubState::Live("1-1".into());
        let requested = PubState::Requested(RequestId(3));
        assert_eq!(step(true, None), Step::Publish);
        assert_eq!(step(true, Some(&live)), Step::Nothing);
        assert_eq!(step(true, Some(&requested)), Step::Nothing, "no second publish while one is in flight");
        assert_eq!(step(false, Some(&live)), Step::Unpublish("1-1".into()));
        assert_eq!(step(false, Some(&requested)), Step::Cancel);
        assert_eq!(step(false, None), Step::Nothing);
    }
}
