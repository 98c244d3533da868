//! The `sub` peer connection's task: answers the server's offers and names each arriving track.
//! The connection is built when the task starts (at join), so that the first offer, which the
//! first subscription brings, finds it ready; an offer marked `fresh` replaces it. The data
//! channel the server opens on it (protocol 4, [`crate::data`]) is handed to a task of its own,
//! whose events go to the actor. A connection not up on this side 10 s after its first offer
//! was applied is reported to the server, which replaces it ([`ClientMsg::Replace`]): under loss
//! the DTLS handshake can end done on the server's side only, and the server, seeing its side
//! connected, would not replace it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;

use nertc_protocol::{ClientMsg, MidInfo, PcKind, ReplaceMsg, SdpMsg};
use nertc_rtc::pc::{Pc, PcBuilder, PcEvent};
use nertc_rtc::recovery::AnswerSide;
use tokio::sync::mpsc;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::RTCSessionDescription;

use super::TransportEvent;
use crate::error::{Result, transport};

pub(crate) enum SubCmd {
    /// A `sub` offer from the server.
    Offer(SdpMsg),
    /// The signaling connection was replaced (resume).
    Signal(nertc_signal::Signal),
}

struct Subscriber {
    events: mpsc::Sender<TransportEvent>,
    signal: nertc_signal::Signal,
    bind: SocketAddr,
    pc: Option<Pc>,
    pc_events: Option<mpsc::Receiver<PcEvent>>,
    /// Every track the server has described, by track id, to name arriving tracks.
    described: BTreeMap<String, MidInfo>,
    /// Every remote track webrtc-rs has handed us, by its track id (the server's `msid` track
    /// id: our track id). webrtc-rs routes packets to a remote track object by that id, not by
    /// transceiver: after an unsubscribe the server may put a track on another (reused)
    /// transceiver, and its packets then arrive on the object first made for that track id,
    /// with no new `on_track`. So that object is handed out again (see [`Subscriber::answer`]).
    tracks: BTreeMap<String, Arc<dyn TrackRemote>>,
    /// The track ids the last offer sent media for (its `sub_mids`).
    active: BTreeSet<String>,
    started: std::time::Instant,
    tcp: super::TcpDialer,
    /// The current connection's set-up on this side: the server is asked to replace it when
    /// it does not come up here, however it looks there.
    setup: AnswerSide,
}

pub(super) async fn run(
    mut cmds: mpsc::Receiver<SubCmd>,
    events: mpsc::Sender<TransportEvent>,
    signal: nertc_signal::Signal,
    bind: SocketAddr,
    path: std::sync::Arc<super::PathStats>,
) {
    let mut measure_tick = tokio::time::interval(super::MEASURE_EVERY);
    let mut s = Subscriber {
        events,
        signal,
        bind,
        pc: None,
        pc_events: None,
        described: BTreeMap::new(),
        tracks: BTreeMap::new(),
        active: BTreeSet::new(),
        started: std::time::Instant::now(),
        tcp: super::TcpDialer::default(),
        setup: AnswerSide::default(),
    };
    if let Err(e) = s.build_pc().await {
        tracing::warn!("sub connection not built at join (built at the first offer): {e:?}");
    }
    loop {
        tokio::select! {
            cmd = cmds.recv() => match cmd {
                None => break,
                Some(SubCmd::Signal(sig)) => s.signal = sig,
                Some(SubCmd::Offer(offer)) => {
                    if let Err(error) = s.answer(offer).await {
                        let _ = s.events.send(TransportEvent::Failed { pc: PcKind::Sub, error }).await;
                    }
                }
            },
            ev = super::next_pc_event(&mut s.pc_events) => match ev {
                Some(PcEvent::Track(track)) => {
                    let id = track.track_id().await;
                    match s.described.get(&id).cloned() {
                        Some(info) => {
                            s.tracks.insert(id, track.clone());
                            let _ = s.events.send(TransportEvent::RemoteTrack { info, track }).await;
                        }
                        None => tracing::warn!(track = %id, "a remote track the server did not describe"),
                    }
                }
                Some(PcEvent::DataChannel(dc)) => s.data_channel(dc).await,
                Some(PcEvent::State(state)) => {
                    tracing::debug!(%state, ms = s.started.elapsed().as_millis(), "sub connection state");
                    s.setup.set(state);
                    let _ = s.events.send(TransportEvent::State { pc: PcKind::Sub, state }).await;
                }
                None => s.pc_events = None,
            },
            _ = measure_tick.tick() => {
                super::measure(s.pc.as_ref(), &path.subscriber_rtt, None).await;
                s.ask_replacement_if_stuck();
            }
        }
    }
    if let Some(pc) = s.pc.take() {
        let _ = pc.pc.close().await;
    }
}

impl Subscriber {
    /// The server's data channel: its events go to the actor, in order, from a task of its own
    /// (so that a slow actor holds up the channel, not this connection's negotiation).
    async fn data_channel(&mut self, dc: Arc<dyn webrtc::data_channel::DataChannel>) {
        if dc.label().await.ok().as_deref() != Some(nertc_protocol::DATA_CHANNEL_LABEL) {
            tracing::debug!("a data channel we do not know; closed");
            let _ = dc.close().await;
            return;
        }
        let mut link = nertc_rtc::pc::DataLink::spawn(dc);
        let events = self.events.clone();
        tokio::spawn(async move {
            while let Some(ev) = link.recv().await {
                if events.send(TransportEvent::Data(ev)).await.is_err() {
                    break;
                }
            }
        });
    }

    async fn build_pc(&mut self) -> Result<()> {
        let tcp_bind = Some(SocketAddr::new(self.bind.ip(), 0));
        let (pc, events) = PcBuilder { bind: Some(self.bind), tcp_bind, ..Default::default() }.build().await.map_err(transport)?;
        self.pc = Some(pc);
        self.pc_events = Some(events);
        self.tcp = super::TcpDialer::default();
        self.setup = AnswerSide::default();
        Ok(())
    }

    /// Asks the server to replace the connection when this side has not come up in time
    /// (once per connection; the server's `fresh` offer builds the next one).
    fn ask_replacement_if_stuck(&mut self) {
        let Some(neg) = self.setup.ask(std::time::Instant::now()) else { return };
        tracing::warn!(
            failed = self.setup.failed(),
            neg,
            "sub connection not up here after its first offer: asking the server to replace it"
        );
        if let Err(e) = self.signal.send(ClientMsg::Replace(ReplaceMsg { pc: PcKind::Sub, neg })) {
            tracing::debug!("sub replacement not asked for: {e}");
        }
    }

    async fn answer(&mut self, offer: SdpMsg) -> Result<()> {
        tracing::debug!(neg = offer.neg, tracks = offer.sub_mids.len(), ms = self.started.elapsed().as_millis(), "sub offer received");
        if offer.fresh
            && let Some(old) = self.pc.take()
        {
            // The server replaces a connection that never came up.
            tracing::info!("sub offer for a new connection: replacing ours");
            let _ = old.pc.close().await;
            self.pc_events = None;
            self.described.clear();
            self.tracks.clear();
            self.active.clear();
        }
        if self.pc.is_none() {
            self.build_pc().await?;
        }
        let pc = self.pc.as_ref().expect("created just above when missing");
        // Tracks that carry media again after a pause, whose packets webrtc-rs will route to
        // the object it made for them the first time: hand that out again.
        let mut reused: Vec<(MidInfo, Arc<dyn TrackRemote>)> = Vec::new();
        for (mid, info) in &offer.sub_mids {
            self.described.insert(info.track_id.clone(), info.clone());
            if !self.active.contains(&info.track_id)
                && let Some(track) = self.tracks.get(&info.track_id)
            {
                tracing::debug!(%mid, track = %info.track_id, "a track carries media again");
                reused.push((info.clone(), track.clone()));
            }
        }
        self.active = offer.sub_mids.values().map(|i| i.track_id.clone()).collect();
        let desc = RTCSessionDescription::offer(offer.sdp.clone()).map_err(transport)?;
        pc.pc.set_remote_description(desc).await.map_err(transport)?;
        let answer = pc.pc.create_answer(None).await.map_err(transport)?;
        pc.pc.set_local_description(answer).await.map_err(transport)?;
        self.tcp.dial(pc, &offer.sdp).await;
        let sdp = pc.local_sdp().await.ok_or_else(|| transport("no local description"))?;
        self.setup.applied(offer.neg, std::time::Instant::now());
        let msg = SdpMsg::answer(PcKind::Sub, sdp, offer.neg);
        tracing::debug!(neg = offer.neg, ms = self.started.elapsed().as_millis(), "sub answer sent");
        self.signal.call(ClientMsg::Sdp(msg)).await?;
        for (info, track) in reused {
            let _ = self.events.send(TransportEvent::RemoteTrack { info, track }).await;
        }
        Ok(())
    }
}
