//! Publishing our tracks: which kinds should be published (from the settings), the `publish`
//! request per kind, then the publisher task puts the track on the connection and the encoder
//! threads start writing into it.

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
use crate::media::video_send::VideoSink;
use crate::session::{Pending, Session};
use crate::shared::{Shared, lock};
use crate::transport::PubCmd;

/// One kind's publication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PubState {
    /// `publish` sent, no track id yet.
    Requested(RequestId),
    /// The server knows the track as this id.
    Live(TrackId),
}

#[derive(Debug, Default)]
pub(crate) struct Publishing {
    pub tracks: HashMap<MediaKind, PubState>,
}

/// What to do for one kind, given what is wanted and what exists.
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

fn muted_now(actor: &Actor, kind: MediaKind) -> bool {
    match kind {
        MediaKind::Audio => actor.shared.audio.muted.load(Relaxed),
        MediaKind::Video => actor.shared.video.muted.load(Relaxed),
    }
}

impl Actor {
    /// Brings the publications in line with the settings.
    pub(crate) fn republish(&mut self) {
        let ((want_audio, want_video), encode) = {
            let s = self.shared.settings();
            (s.wants_published(), s.encode)
        };
        let (muted_audio, muted_video) = (muted_now(self, MediaKind::Audio), muted_now(self, MediaKind::Video));
        let Some(s) = self.session.as_mut() else { return };
        if !s.join.can_publish {
            return;
        }
        for (kind, want, muted) in [(MediaKind::Audio, want_audio, muted_audio), (MediaKind::Video, want_video, muted_video)] {
            match step(want, s.publish.tracks.get(&kind)) {
                Step::Publish => {
                    let (source, layers) = match kind {
                        MediaKind::Audio => (TrackSource::Mic, vec![]),
                        MediaKind::Video => (
                            TrackSource::Camera,
                            vec![Layer {
                                rid: "h".into(),
                                width: encode.width,
                                height: encode.height,
                                max_bps: encode.bitrate_kbps * 1000,
                            }],
                        ),
                    };
                    let msg = ClientMsg::Publish(PublishRequest { kind, source, codec: None, layers, muted });
                    if let Some(id) = s.request(msg, Pending::Publish { kind, muted }) {
                        s.publish.tracks.insert(kind, PubState::Requested(id));
                    }
                }
                Step::Unpublish(track_id) => {
                    s.publish.tracks.remove(&kind);
                    clear_sink(&self.shared, kind);
                    s.transport.publish(PubCmd::Remove { kind });
                    s.request(ClientMsg::Unpublish(TrackRef { track_id }), Pending::Other("unpublish"));
                }
                Step::Cancel => {
                    s.publish.tracks.remove(&kind);
                }
                Step::Nothing => {}
            }
        }
    }

    /// The response to a `publish`.
    pub(crate) fn published(&mut self, kind: MediaKind, muted_then: bool, result: Result<Reply, SignalError>) {
        let muted = muted_now(self, kind);
        let Some(s) = self.session.as_mut() else { return };
        let track_id = match result {
            Ok(Reply::Publish(p)) => p.track_id,
            Ok(other) => return tracing::error!(?kind, "publish answered with {other:?}"),
            Err(e) => {
                let e = EngineError::from(e);
                tracing::error!(?kind, "publish failed: {e}");
                s.publish.tracks.remove(&kind);
                self.shared.emit(EngineEvent::Error { code: e.code(), msg: format!("publish {kind:?}: {e}") });
                return;
            }
        };
        if !matches!(s.publish.tracks.get(&kind), Some(PubState::Requested(_))) {
            // Cancelled while in flight.
            s.request(ClientMsg::Unpublish(TrackRef { track_id }), Pending::Other("unpublish"));
            return;
        }
        s.publish.tracks.insert(kind, PubState::Live(track_id.clone()));
        if muted != muted_then {
            s.request(ClientMsg::Mute(MuteRequest { track_id: track_id.clone(), muted }), Pending::Other("mute"));
        }
        s.transport.publish(PubCmd::Add { kind, track_id });
    }

    /// The publisher task put our track on the connection: media may flow.
    pub(crate) fn track_added(&mut self, kind: MediaKind, track_id: TrackId, track: Arc<TrackLocalStaticSample>, ssrc: u32) {
        let Some(s) = &self.session else { return };
        if s.publish.tracks.get(&kind) != Some(&PubState::Live(track_id)) {
            return; // unpublished meanwhile
        }
        let rt = self.rt.clone();
        match kind {
            MediaKind::Video => *lock(&self.shared.video.sink) = Some(VideoSink { track, ssrc, rt }),
            MediaKind::Audio => *lock(&self.shared.audio.sink) = Some(AudioSink { track, ssrc, rt }),
        }
    }

    /// `muteLocal{Audio,Video}Stream` reaching the server.
    pub(crate) fn mute(&mut self, kind: MediaKind, muted: bool) {
        let Some(s) = self.session.as_mut() else { return };
        if let Some(PubState::Live(track_id)) = s.publish.tracks.get(&kind) {
            let msg = ClientMsg::Mute(MuteRequest { track_id: track_id.clone(), muted });
            s.request(msg, Pending::Other("mute"));
        }
    }
}

fn clear_sink(shared: &Shared, kind: MediaKind) {
    match kind {
        MediaKind::Video => *lock(&shared.video.sink) = None,
        MediaKind::Audio => *lock(&shared.audio.sink) = None,
    }
}

/// Is a publication of `kind` live in this session (for stats)?
pub(crate) fn is_live(s: &Session, kind: MediaKind) -> bool {
    matches!(s.publish.tracks.get(&kind), Some(PubState::Live(_)))
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
