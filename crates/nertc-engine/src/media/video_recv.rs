//! Remote video: RTP (tokio task) -> H.264 access units -> decoder thread -> the user's slot.
//! After loss the receiver asks for a keyframe (throttled) and skips frames until one comes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::TrySendError;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp::codec::h264::H264Packet;
use rtc::rtp::packetizer::Depacketizer;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use nertc_protocol::Uid;

use super::EventSink;
use crate::codec::h264::H264Decoder;
use crate::event::EngineEvent;
use crate::render::FrameSlot;

#[derive(Debug, Default)]
pub struct VideoRecvStats {
    pub bytes: AtomicU64,
    pub packets: AtomicU64,
    pub lost: AtomicU64,
    pub decoded: AtomicU64,
    pub width: AtomicU64,
    pub height: AtomicU64,
}

const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(500);

/// True when the Annex-B access unit contains an IDR slice or SPS.
fn is_keyframe(au: &[u8]) -> bool {
    let mut i = 0;
    while i + 3 < au.len() {
        if au[i] == 0 && au[i + 1] == 0 && au[i + 2] == 1 {
            let nal = au[i + 3] & 0x1f;
            if nal == 5 || nal == 7 {
                return true;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    false
}

/// Receives until the track ends; spawn it on the engine runtime.
pub async fn run(track: Arc<dyn TrackRemote>, uid: Uid, slot: Arc<FrameSlot>, events: EventSink, stats: Arc<VideoRecvStats>) {
    let (au_tx, au_rx) = crossbeam_channel::bounded::<Bytes>(8);
    let decoder = {
        let events = events.clone();
        let stats = stats.clone();
        std::thread::Builder::new().name("nertc-video-dec".into()).spawn(move || {
            let mut dec = match H264Decoder::new() {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!("cannot create the H.264 decoder: {e}");
                    return;
                }
            };
            let mut first = true;
            while let Ok(au) = au_rx.recv() {
                match dec.decode(&au) {
                    Ok(Some(frame)) => {
                        stats.decoded.fetch_add(1, Relaxed);
                        stats.width.store(frame.width as u64, Relaxed);
                        stats.height.store(frame.height as u64, Relaxed);
                        if first {
                            first = false;
                            let _ = events.send(EngineEvent::FirstVideoFrameDecoded { uid, width: frame.width, height: frame.height });
                        }
                        slot.put(Arc::new(frame));
                    }
                    Ok(None) => {}
                    Err(e) => tracing::debug!(uid, "decode error: {e}"),
                }
            }
        })
    };
    if let Err(e) = decoder {
        tracing::error!("cannot start the video decoder thread: {e}");
        return;
    }
    let mut depacketizer = H264Packet::default();
    let mut au: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut seqs = super::SeqTracker::default();
    let mut waiting_keyframe = true;
    let mut last_pli: Option<Instant> = None;
    let mut first_packet = true;
    let mut media_ssrc = 0;
    while let Some(ev) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(pkt) = ev else {
            if matches!(ev, TrackRemoteEvent::OnEnded) {
                break;
            }
            continue;
        };
        if first_packet {
            first_packet = false;
            media_ssrc = pkt.header.ssrc;
            let _ = events.send(EngineEvent::FirstVideoDataReceived { uid });
        }
        stats.packets.fetch_add(1, Relaxed);
        stats.bytes.fetch_add(pkt.payload.len() as u64, Relaxed);
        let Some(lost) = seqs.next(pkt.header.sequence_number) else { continue };
        if lost > 0 {
            stats.lost.fetch_add(u64::from(lost), Relaxed);
            au.clear();
            waiting_keyframe = true;
        }
        match depacketizer.depacketize(&pkt.payload) {
            Ok(nals) => au.extend_from_slice(&nals),
            Err(e) => {
                tracing::trace!(uid, "depacketize: {e}");
                continue;
            }
        }
        if !pkt.header.marker {
            continue;
        }
        let unit = std::mem::take(&mut au);
        if waiting_keyframe {
            if is_keyframe(&unit) {
                waiting_keyframe = false;
            } else {
                if last_pli.is_none_or(|t| t.elapsed() >= KEYFRAME_REQUEST_INTERVAL) {
                    last_pli = Some(Instant::now());
                    let pli = PictureLossIndication { sender_ssrc: 0, media_ssrc };
                    let _ = track.write_rtcp(vec![Box::new(pli)]).await;
                }
                continue;
            }
        }
        if let Err(TrySendError::Full(_)) = au_tx.try_send(Bytes::from(unit)) {
            // The decoder is behind: drop and resynchronise on the next keyframe.
            waiting_keyframe = true;
        }
    }
}
