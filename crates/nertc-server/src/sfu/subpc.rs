//! A session's `sub` connection, on either driver: webrtc-rs's task ([`Pc`]) or the one here
//! ([`DirectPc`]: forwarders write in place, no task hop per packet and subscriber). The direct
//! driver is used unless `rtc.direct_sub` is off, or the connection needs what it lacks: ICE
//! over TCP (`rtc.tcp_port`) or host candidates for a wildcard `rtc.bind_ip`.

use std::sync::Arc;

use rtc::media_stream::MediaStreamTrack;
use rtc::rtp_transceiver::RTCRtpSenderId;
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::peer_connection::{RTCIceCandidateInit, RTCSessionDescription};
use webrtc::rtp_transceiver::RtpSender;

use nertc_rtc::direct::DirectPc;
use nertc_rtc::pc::{DataEvent, DataLink, Pc};

use crate::sfu::forwarder::DownOut;

pub(super) enum SubPc {
    Webrtc(Pc),
    Direct(DirectPc),
}

/// A subscription's sender on the `sub` connection.
pub(super) enum SubSender {
    Webrtc(Arc<dyn RtpSender>),
    Direct(RTCRtpSenderId),
}

impl SubPc {
    pub(super) async fn add_ice_candidate(&self, candidate: RTCIceCandidateInit) -> Result<(), String> {
        match self {
            SubPc::Webrtc(p) => p.pc.add_ice_candidate(candidate).await.map_err(|e| e.to_string()),
            SubPc::Direct(d) => d.add_ice_candidate(candidate).map_err(|e| e.to_string()),
        }
    }

    /// Adds a track to send; negotiated by the next offer.
    pub(super) async fn add_track(&self, track: MediaStreamTrack) -> Result<(SubSender, DownOut), String> {
        match self {
            SubPc::Webrtc(p) => {
                let local = Arc::new(TrackLocalStaticRTP::new(track));
                let sender = p.pc.add_track(local.clone() as Arc<dyn TrackLocal>).await.map_err(|e| e.to_string())?;
                Ok((SubSender::Webrtc(sender), DownOut::Webrtc(local)))
            }
            SubPc::Direct(d) => {
                let t = d.add_track(track).map_err(|e| e.to_string())?;
                Ok((SubSender::Direct(t.sender_id()), DownOut::Direct(t)))
            }
        }
    }

    pub(super) async fn remove_track(&self, sender: &SubSender) {
        let result = match (self, sender) {
            (SubPc::Webrtc(p), SubSender::Webrtc(s)) => p.pc.remove_track(s).await.map_err(|e| e.to_string()),
            (SubPc::Direct(d), SubSender::Direct(id)) => d.remove_track(*id).map_err(|e| e.to_string()),
            _ => Err("sender of another connection".into()),
        };
        if let Err(e) = result {
            tracing::debug!("remove_track: {e}");
        }
    }

    /// The mid of `sender`'s transceiver (once negotiated).
    pub(super) async fn mid_of(&self, sender: &SubSender) -> Option<String> {
        match (self, sender) {
            (SubPc::Webrtc(p), SubSender::Webrtc(s)) => p.mid_of_sender(s.id()).await,
            (SubPc::Direct(d), SubSender::Direct(id)) => d.mid_of_sender(*id),
            _ => None,
        }
    }

    /// An offer has been made on this connection.
    pub(super) async fn offered(&self) -> bool {
        match self {
            SubPc::Webrtc(p) => p.pc.local_description().await.is_some(),
            SubPc::Direct(d) => d.local_sdp().is_some(),
        }
    }

    /// The data channel's events ([`DataEvent`]), the first its opening.
    pub(super) async fn create_data_channel(&self, label: &str) -> Result<mpsc::Receiver<DataEvent>, String> {
        match self {
            SubPc::Webrtc(p) => p.create_data_channel(label).await.map(DataLink::spawn).map_err(|e| e.to_string()),
            SubPc::Direct(d) => d.create_data_channel(label).map_err(|e| e.to_string()),
        }
    }

    /// Creates an offer (an ICE restart when `restart`) and applies it.
    pub(super) async fn offer(&self, restart: bool) -> Result<(), String> {
        match self {
            SubPc::Webrtc(p) if restart => p.offer_ice_restart().await.map_err(|e| e.to_string()),
            SubPc::Webrtc(p) => {
                let offer = p.pc.create_offer(None).await.map_err(|e| e.to_string())?;
                p.pc.set_local_description(offer).await.map_err(|e| e.to_string())
            }
            SubPc::Direct(d) => d.offer(restart).map_err(|e| e.to_string()),
        }
    }

    /// The local description as it leaves (candidates gathered).
    pub(super) async fn local_sdp(&self) -> Option<String> {
        match self {
            SubPc::Webrtc(p) => p.local_sdp().await,
            SubPc::Direct(d) => d.local_sdp(),
        }
    }

    pub(super) async fn apply_answer(&self, sdp: String) -> Result<(), String> {
        match self {
            SubPc::Webrtc(p) => {
                let answer = RTCSessionDescription::answer(sdp).map_err(|e| e.to_string())?;
                p.pc.set_remote_description(answer).await.map_err(|e| e.to_string())
            }
            SubPc::Direct(d) => d.set_remote_answer(sdp).map_err(|e| e.to_string()),
        }
    }

    pub(super) async fn close(&self) {
        match self {
            SubPc::Webrtc(p) => {
                let _ = p.pc.close().await;
            }
            SubPc::Direct(d) => d.close(),
        }
    }
}
