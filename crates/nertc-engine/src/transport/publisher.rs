//! The `pub` peer connection's task: our tracks in, offers out, the server's answers applied.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use nertc_protocol::{ClientMsg, MediaKind, PcKind, Reply, SdpMsg, SdpType, TrackId, TrackSource, Uid};
use nertc_rtc::pc::{Pc, PcBuilder, PcEvent};
use nertc_rtc::recovery::{CONNECT_TIMEOUT, FirstConnect};
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::peer_connection::RTCSessionDescription;
use webrtc::rtp_transceiver::RtpSender;

use super::{TaskGuard, TransportEvent};
use crate::error::{EngineError, Result, transport};
use crate::media::video_send::VideoCtl;

pub(crate) enum PubCmd {
    /// Put a track for `source` (announced to the server as `track_id`) on the connection.
    Add {
        source: TrackSource,
        track_id: TrackId,
        /// A video track with a low layer too (dual stream; its own m-line).
        dual: bool,
    },
    Remove {
        source: TrackSource,
    },
    /// The signaling connection was replaced (resume).
    Signal(nertc_signal::Signal),
    /// Offer an ICE restart (the connection is disconnected or failed).
    RestartIce,
    /// The server's side of the connection did not come up (its last offer applied there was
    /// `neg`; [`nertc_protocol::TransportMsg::Replace`]): replace it unless done since.
    Replace {
        neg: u64,
    },
}

/// What the commands applied since the last offer ask of the next one (the larger wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Change {
    None,
    Tracks,
    RestartIce,
}

struct LocalTrack {
    track_id: TrackId,
    sender: Arc<dyn RtpSender>,
    /// The low layer's sender (dual stream).
    low: Option<Arc<dyn RtpSender>>,
    _low_feedback: Option<TaskGuard>,
    /// Turns keyframe requests from the server into a forced keyframe (video only).
    _feedback: Option<TaskGuard>,
}

struct Publisher {
    events: mpsc::Sender<TransportEvent>,
    signal: nertc_signal::Signal,
    bind: SocketAddr,
    uid: Uid,
    /// The encoders' controls: the camera's main stream, the screen's substream.
    video: [Arc<VideoCtl>; 2],
    path: Arc<super::PathStats>,
    pc: Option<Pc>,
    pc_events: Option<mpsc::Receiver<PcEvent>>,
    /// The current connection's set-up: replaced when it does not come up; and its first
    /// offer's `neg`.
    setup: FirstConnect,
    first_neg: u64,
    tracks: HashMap<TrackSource, LocalTrack>,
    neg: u64,
    tcp: super::TcpDialer,
}

/// What an offer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Offer {
    Tracks,
    RestartIce,
    /// The first offer of a connection that replaces one that never came up.
    Fresh,
}

pub(super) async fn run(
    mut cmds: mpsc::Receiver<PubCmd>,
    events: mpsc::Sender<TransportEvent>,
    signal: nertc_signal::Signal,
    bind: SocketAddr,
    uid: Uid,
    video: [Arc<VideoCtl>; 2],
    path: Arc<super::PathStats>,
) {
    let mut measure_tick = tokio::time::interval(super::MEASURE_EVERY);
    let mut p = Publisher {
        events,
        signal,
        bind,
        uid,
        video,
        path: path.clone(),
        pc: None,
        pc_events: None,
        setup: FirstConnect::default(),
        first_neg: 0,
        tracks: HashMap::new(),
        neg: 0,
        tcp: super::TcpDialer::default(),
    };
    loop {
        tokio::select! {
            cmd = cmds.recv() => {
                let Some(cmd) = cmd else { break };
                let mut change = p.apply(cmd).await;
                // Coalesce what is already queued into one negotiation.
                while let Ok(cmd) = cmds.try_recv() {
                    change = change.max(p.apply(cmd).await);
                }
                let restart = change == Change::RestartIce;
                // A restart also when nothing is published any more: the connection stays.
                if change != Change::None && (!p.tracks.is_empty() || restart && p.pc.is_some()) {
                    match p.negotiate(if restart { Offer::RestartIce } else { Offer::Tracks }).await {
                        Ok(()) => p.report(TransportEvent::PubNegotiated { restart }).await,
                        Err(error) if restart => p.report(TransportEvent::RestartFailed { pc: PcKind::Pub, error }).await,
                        Err(error) => p.report(TransportEvent::Failed { pc: PcKind::Pub, error }).await,
                    }
                }
            }
            ev = super::next_pc_event(&mut p.pc_events) => match ev {
                Some(PcEvent::State(state)) => {
                    p.setup.set(state);
                    p.report(TransportEvent::State { pc: PcKind::Pub, state }).await;
                }
                Some(PcEvent::Track(_)) => {}
                // The server opens the data channel on `sub`, never here.
                Some(PcEvent::DataChannel(dc)) => {
                    let _ = dc.close().await;
                }
                None => p.pc_events = None,
            },
            _ = measure_tick.tick() => {
                super::measure(p.pc.as_ref(), &path.publisher_rtt, Some(&path)).await;
                if p.setup.replace_due(Instant::now()) {
                    tracing::warn!(failed = p.setup.failed, "pub connection not up {CONNECT_TIMEOUT:?} after its offer: replacing it");
                    p.replace().await;
                }
            }
        }
    }
    p.tracks.clear();
    if let Some(pc) = p.pc.take() {
        let _ = pc.pc.close().await;
    }
}

impl Publisher {
    async fn report(&self, ev: TransportEvent) {
        // The session is gone when this fails; the task ends once its commands stop.
        let _ = self.events.send(ev).await;
    }

    /// Applies a command; says what the next offer must do.
    async fn apply(&mut self, cmd: PubCmd) -> Change {
        match cmd {
            PubCmd::Signal(s) => {
                self.signal = s;
                Change::None
            }
            PubCmd::RestartIce => Change::RestartIce,
            PubCmd::Replace { neg } => {
                if self.pc.is_some() && neg >= self.first_neg {
                    tracing::warn!(neg, "pub connection not up on the server: replacing it");
                    self.replace().await;
                }
                Change::None
            }
            PubCmd::Add { source, track_id, dual } => match self.add(source, track_id, dual).await {
                Ok(()) => Change::Tracks,
                Err(error) => {
                    self.report(TransportEvent::Failed { pc: PcKind::Pub, error }).await;
                    Change::None
                }
            },
            PubCmd::Remove { source } => {
                let Some(t) = self.tracks.remove(&source) else { return Change::None };
                if let Some(pc) = &self.pc {
                    for sender in std::iter::once(&t.sender).chain(t.low.as_ref()) {
                        if let Err(e) = pc.pc.remove_track(sender).await {
                            tracing::warn!(?source, "remove_track: {e}");
                        }
                    }
                }
                Change::Tracks
            }
        }
    }

    async fn add(&mut self, source: TrackSource, track_id: TrackId, dual: bool) -> Result<()> {
        let kind = crate::publish::kind_of(source);
        if self.pc.is_none() {
            let path = self.path.clone();
            let feedback: nertc_rtc::tap::FeedbackCounter = Arc::new(move |f| match f {
                nertc_rtc::tap::Feedback::Nacked { ssrc, seq } => path.nacked(ssrc, seq),
                nertc_rtc::tap::Feedback::Resent { ssrc } => path.resent(ssrc),
                _ => {}
            });
            let builder = PcBuilder {
                bind: Some(self.bind),
                tcp_bind: Some(SocketAddr::new(self.bind.ip(), 0)),
                feedback_counter: Some(feedback),
                congestion: Some(self.video[0].uplink.bwe.clone()), // one estimate for the camera and the screen
                ..Default::default()
            };
            let (pc, events) = builder.build().await.map_err(transport)?;
            self.pc = Some(pc);
            self.pc_events = Some(events);
            self.setup = FirstConnect::default();
            self.tcp = super::TcpDialer::default();
        }
        let pc = self.pc.as_ref().expect("created just above when missing");
        let (mime, rtc_kind) = match kind {
            MediaKind::Audio => ("audio/opus", RtpCodecKind::Audio),
            MediaKind::Video => ("video/H264", RtpCodecKind::Video),
        };
        let (codec, _, _) = nertc_rtc::codecs::canonical(mime).ok_or_else(|| transport(format!("codec {mime} missing")))?;
        let ssrc = rand::random::<u32>();
        let stream_id = format!("nertc-{}", self.uid);
        let track = Arc::new(
            TrackLocalStaticSample::new(
                Instant::now(),
                nertc_rtc::codecs::media_track(stream_id, &track_id, rtc_kind, codec.clone(), ssrc),
            )
            .map_err(transport)?,
        );
        let sender = pc.pc.add_track(track.clone() as Arc<dyn TrackLocal>).await.map_err(transport)?;
        let ctl = match source {
            TrackSource::Screen => Some(&self.video[1]),
            TrackSource::Camera => Some(&self.video[0]),
            TrackSource::Mic | TrackSource::ScreenAudio => None,
        };
        let feedback = ctl.map(|ctl| keyframe_requests(track.clone(), ctl.clone(), false));
        // Dual stream: the low layer on its own m-line (`pub_rids` tells the server).
        let (mut low, mut low_sender, mut low_feedback) = (None, None, None);
        if let Some(ctl) = ctl.filter(|_| dual) {
            let ssrc = rand::random::<u32>();
            let low_track = Arc::new(
                TrackLocalStaticSample::new(
                    Instant::now(),
                    nertc_rtc::codecs::media_track(format!("nertc-{}", self.uid), &format!("{track_id}-l"), rtc_kind, codec.clone(), ssrc),
                )
                .map_err(transport)?,
            );
            low_sender = Some(pc.pc.add_track(low_track.clone() as Arc<dyn TrackLocal>).await.map_err(transport)?);
            low_feedback = Some(keyframe_requests(low_track.clone(), ctl.clone(), true));
            low = Some(crate::media::video_send::LowSink { track: low_track, ssrc });
        }
        self.tracks.insert(
            source,
            LocalTrack { track_id: track_id.clone(), sender, low: low_sender, _low_feedback: low_feedback, _feedback: feedback },
        );
        self.report(TransportEvent::TrackAdded { source, track_id, track, ssrc, low }).await;
        Ok(())
    }

    /// Replaces a connection that did not come up ([`FirstConnect`]) with a new one carrying
    /// the same tracks (each re-announced to the actor as added, so media flows into the new
    /// one), offered `fresh`. On failure the next try is [`CONNECT_TIMEOUT`] later.
    async fn replace(&mut self) {
        let published: Vec<(TrackSource, TrackId, bool)> =
            self.tracks.drain().map(|(source, t)| (source, t.track_id, t.low.is_some())).collect();
        if let Some(old) = self.pc.take() {
            let _ = old.pc.close().await;
        }
        self.pc_events = None;
        self.setup = FirstConnect::default();
        for (source, track_id, dual) in published {
            if let Err(e) = self.add(source, track_id, dual).await {
                tracing::warn!(?source, "replacing the pub connection: {e}");
            }
        }
        // Nothing left to offer: the next track added negotiates. Otherwise the offer counts
        // as the new connection's first (the next try is due from it, even if it fails).
        if !self.tracks.is_empty()
            && let Err(e) = self.negotiate(Offer::Fresh).await
        {
            tracing::warn!("replacing the pub connection: {e}");
        }
    }

    async fn negotiate(&mut self, offer: Offer) -> Result<()> {
        let restart_ice = offer == Offer::RestartIce;
        if self.setup.offered_at.is_none() {
            self.first_neg = self.neg + 1;
        }
        self.setup.offered(Instant::now());
        let pc = self.pc.as_ref().ok_or_else(|| transport("no publish connection"))?;
        if restart_ice {
            pc.offer_ice_restart().await.map_err(transport)?;
        } else {
            let offer = pc.pc.create_offer(None).await.map_err(transport)?;
            pc.pc.set_local_description(offer).await.map_err(transport)?;
        }
        let started = Instant::now();
        let sdp = pc.local_sdp().await.ok_or_else(|| transport("no local description"))?;
        tracing::debug!(restart_ice, gathering_ms = started.elapsed().as_millis() as u64, "pub offer ready");
        let (mut pub_mids, mut pub_rids) = (BTreeMap::new(), BTreeMap::new());
        for t in self.tracks.values() {
            let high = pc.mid_of_sender(t.sender.id()).await;
            if let Some(mid) = &high {
                pub_mids.insert(mid.clone(), t.track_id.clone());
            }
            if let Some(low) = &t.low
                && let Some(mid) = pc.mid_of_sender(low.id()).await
            {
                pub_mids.insert(mid.clone(), t.track_id.clone());
                pub_rids.insert(mid, nertc_protocol::RID_LOW.to_owned());
                if let Some(mid) = high {
                    pub_rids.insert(mid, nertc_protocol::RID_HIGH.to_owned());
                }
            }
        }
        self.neg += 1;
        let msg = SdpMsg {
            pc: PcKind::Pub,
            kind: SdpType::Offer,
            sdp,
            neg: self.neg,
            pub_mids,
            sub_mids: BTreeMap::new(),
            pub_rids,
            fresh: offer == Offer::Fresh,
        };
        let answer = match self.signal.call(ClientMsg::Sdp(msg)).await? {
            Reply::PubAnswer(a) => a,
            other => return Err(EngineError::Transport(format!("pub offer answered with {other:?}"))),
        };
        let desc = RTCSessionDescription::answer(answer.sdp.clone()).map_err(transport)?;
        pc.pc.set_remote_description(desc).await.map_err(transport)?;
        self.tcp.dial(pc, &answer.sdp).await;
        tracing::debug!(restart_ice, total_ms = started.elapsed().as_millis() as u64, "pub answer applied");
        for v in &self.video {
            v.force_keyframe.store(true, Relaxed);
            v.low_force_keyframe.store(true, Relaxed);
        }
        Ok(())
    }
}

/// Turns keyframe requests from the server for `track` into a forced keyframe of `video`'s
/// encoder (its low layer's when `low`).
fn keyframe_requests(track: Arc<TrackLocalStaticSample>, video: Arc<VideoCtl>, low: bool) -> TaskGuard {
    TaskGuard::spawn(&tokio::runtime::Handle::current(), async move {
        loop {
            match track.poll().await {
                Some(TrackLocalEvent::OnRtcpPacket(p)) => {
                    if p.iter().any(|p| nertc_rtc::tap::is_keyframe_request(p.as_ref())) {
                        (if low { &video.low_force_keyframe } else { &video.force_keyframe }).store(true, Relaxed);
                    }
                }
                Some(_) => {}
                None => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
}
