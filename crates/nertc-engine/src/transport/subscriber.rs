//! The `sub` peer connection's task: answers the server's offers and names each arriving track.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use nertc_protocol::{ClientMsg, MidInfo, PcKind, SdpMsg, SdpType};
use nertc_rtc::pc::{Pc, PcBuilder, PcEvent};
use tokio::sync::mpsc;
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
    /// Every mid the server has described, to name arriving tracks.
    mids: BTreeMap<String, MidInfo>,
}

pub(super) async fn run(
    mut cmds: mpsc::Receiver<SubCmd>,
    events: mpsc::Sender<TransportEvent>,
    signal: nertc_signal::Signal,
    bind: SocketAddr,
    path: std::sync::Arc<super::PathStats>,
) {
    let mut measure_tick = tokio::time::interval(super::MEASURE_EVERY);
    let mut s = Subscriber { events, signal, bind, pc: None, pc_events: None, mids: BTreeMap::new() };
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
                    let Some(pc) = &s.pc else { continue };
                    match pc.mid_of_remote(&track).await.and_then(|m| s.mids.get(&m).cloned()) {
                        Some(info) => {
                            let _ = s.events.send(TransportEvent::RemoteTrack { info, track }).await;
                        }
                        None => tracing::warn!("a remote track without a known mid"),
                    }
                }
                Some(PcEvent::State(state)) => {
                    let _ = s.events.send(TransportEvent::State { pc: PcKind::Sub, state }).await;
                }
                None => s.pc_events = None,
            },
            _ = measure_tick.tick() => super::measure(s.pc.as_ref(), &path.subscriber_rtt, None).await,
        }
    }
    if let Some(pc) = s.pc.take() {
        let _ = pc.pc.close().await;
    }
}

impl Subscriber {
    async fn answer(&mut self, offer: SdpMsg) -> Result<()> {
        if offer.fresh
            && let Some(old) = self.pc.take()
        {
            // The server replaces a connection that never came up.
            tracing::info!("sub offer for a new connection: replacing ours");
            let _ = old.pc.close().await;
            self.pc_events = None;
            self.mids.clear();
        }
        if self.pc.is_none() {
            let (pc, events) = PcBuilder { bind: Some(self.bind), ..Default::default() }.build().await.map_err(transport)?;
            self.pc = Some(pc);
            self.pc_events = Some(events);
        }
        let pc = self.pc.as_ref().expect("created just above when missing");
        self.mids.extend(offer.sub_mids.clone());
        let desc = RTCSessionDescription::offer(offer.sdp).map_err(transport)?;
        pc.pc.set_remote_description(desc).await.map_err(transport)?;
        let answer = pc.pc.create_answer(None).await.map_err(transport)?;
        pc.pc.set_local_description(answer).await.map_err(transport)?;
        let sdp = pc.local_sdp().await.ok_or_else(|| transport("no local description"))?;
        let msg = SdpMsg {
            pc: PcKind::Sub,
            kind: SdpType::Answer,
            sdp,
            neg: offer.neg,
            pub_mids: BTreeMap::new(),
            sub_mids: BTreeMap::new(),
            pub_rids: BTreeMap::new(),
            fresh: false,
        };
        self.signal.call(ClientMsg::Sdp(msg)).await?;
        Ok(())
    }
}
