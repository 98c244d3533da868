//! Fan-out of one published track to its subscribers.
//!
//! One task per published track reads the publisher's RTP (`TrackRemote::poll`) and offers each
//! packet to every subscriber's bounded queue (`try_send`: a slow subscriber loses packets, it
//! never slows the publisher or the others). One task per subscription ("down track") rewrites
//! the packet for its subscriber ([`Munger`]) and writes it to the subscriber's peer connection,
//! whose NACK responder keeps the send cache that retransmissions are served from. Keyframe
//! requests travel the other way: subscriber RTCP -> down track -> forwarder, which throttles
//! them to one PLI per [`KEYFRAME_MIN_INTERVAL`] towards the publisher.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use nertc_protocol::{MediaKind, TrackId};

use crate::metrics::Metrics;
use crate::sfu::munger::Munger;
use crate::sfu::peer::{MediaEvent, SessionKey};
use nertc_rtc::tap::is_keyframe_request;

/// At most one keyframe request per this interval reaches a publisher.
pub const KEYFRAME_MIN_INTERVAL: Duration = Duration::from_millis(100);
/// Packets queued per subscription before the forwarder starts dropping for it.
const SINK_QUEUE: usize = 512;

enum FwdCmd {
    AddSink(u64, mpsc::Sender<rtc::rtp::Packet>),
    RemoveSink(u64),
    Keyframe,
    Close,
}

/// Commands into a forwarder; cheap to clone.
#[derive(Clone, Debug)]
pub struct ForwarderHandle {
    ctl: mpsc::UnboundedSender<FwdCmd>,
    pub kind: MediaKind,
    /// Mime type of the publisher's codec, e.g. `video/H264`.
    pub codec: String,
    pub clock_rate: u32,
}

impl std::fmt::Debug for FwdCmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FwdCmd::AddSink(..) => "AddSink",
            FwdCmd::RemoveSink(_) => "RemoveSink",
            FwdCmd::Keyframe => "Keyframe",
            FwdCmd::Close => "Close",
        })
    }
}

impl ForwarderHandle {
    /// Whether both handles lead to the same forwarder.
    pub fn same(&self, other: &ForwarderHandle) -> bool {
        self.ctl.same_channel(&other.ctl)
    }
    pub fn request_keyframe(&self) {
        let _ = self.ctl.send(FwdCmd::Keyframe);
    }
    pub fn close(&self) {
        let _ = self.ctl.send(FwdCmd::Close);
    }
    fn add_sink(&self, id: u64, tx: mpsc::Sender<rtc::rtp::Packet>) {
        let _ = self.ctl.send(FwdCmd::AddSink(id, tx));
    }
    fn remove_sink(&self, id: u64) {
        let _ = self.ctl.send(FwdCmd::RemoveSink(id));
    }
}

/// Starts forwarding `track`. The room hears `TrackLive` with the handle once the first RTP
/// packet arrives (tracks are announced only when media flows) and `TrackEnded` when it stops.
pub fn spawn(
    track: Arc<dyn TrackRemote>,
    track_id: TrackId,
    owner: SessionKey,
    kind: MediaKind,
    events: mpsc::UnboundedSender<MediaEvent>,
    metrics: Arc<Metrics>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let (ctl_tx, mut ctl_rx) = mpsc::unbounded_channel();
        let mut sinks: HashMap<u64, mpsc::Sender<rtc::rtp::Packet>> = HashMap::new();
        let mut media_ssrc = 0u32;
        let mut announced = false;
        let mut last_pli: Option<Instant> = None;
        let mut pli_pending = false;
        let pli_timer = tokio::time::sleep(Duration::from_secs(3600));
        tokio::pin!(pli_timer);
        loop {
            tokio::select! {
                biased;
                cmd = ctl_rx.recv() => match cmd {
                    // No keyframe request here: the subscriber's transport is not up yet, so it
                    // would be lost and start the throttle window. The peer asks once the
                    // subscriber can receive (transport connected, or its answer applied on a
                    // connected transport).
                    Some(FwdCmd::AddSink(id, tx)) => { sinks.insert(id, tx); }
                    Some(FwdCmd::RemoveSink(id)) => { sinks.remove(&id); }
                    Some(FwdCmd::Keyframe) => pli_pending = true,
                    Some(FwdCmd::Close) | None => break,
                },
                _ = &mut pli_timer, if pli_pending => {}
                ev = track.poll() => match ev {
                    Some(TrackRemoteEvent::OnRtpPacket(pkt)) => {
                        metrics.rtp_received.fetch_add(1, Relaxed);
                        if !announced {
                            announced = true;
                            media_ssrc = pkt.header.ssrc;
                            let codec = track.codec(media_ssrc).await;
                            let (codec, clock_rate) = codec
                                .map(|c| (c.mime_type, c.clock_rate))
                                .unwrap_or_default();
                            tracing::debug!(%track_id, %codec, "track live");
                            let handle = ForwarderHandle { ctl: ctl_tx.clone(), kind, codec, clock_rate };
                            let _ = events.send(MediaEvent::TrackLive { key: owner.clone(), track_id: track_id.clone(), forwarder: handle });
                        }
                        sinks.retain(|_, tx| match tx.try_send(pkt.clone()) {
                            Ok(()) => true,
                            Err(mpsc::error::TrySendError::Full(_)) => {
                                metrics.rtp_dropped.fetch_add(1, Relaxed);
                                true
                            }
                            Err(mpsc::error::TrySendError::Closed(_)) => false,
                        });
                    }
                    Some(TrackRemoteEvent::OnEnded) | Some(TrackRemoteEvent::OnError) | None => break,
                    Some(_) => {}
                },
            }
            // Throttled keyframe requests towards the publisher.
            if pli_pending && announced {
                let now = Instant::now();
                let due = last_pli.map_or(now, |t| t + KEYFRAME_MIN_INTERVAL);
                if now >= due {
                    pli_pending = false;
                    last_pli = Some(now);
                    metrics.keyframe_requests_out.fetch_add(1, Relaxed);
                    let pli = PictureLossIndication { sender_ssrc: 0, media_ssrc };
                    if let Err(e) = track.write_rtcp(vec![Box::new(pli)]).await {
                        tracing::debug!(%track_id, "PLI to publisher failed: {e}");
                    }
                } else {
                    pli_timer.as_mut().reset(tokio::time::Instant::from_std(due));
                }
            }
        }
        if announced {
            let _ = events.send(MediaEvent::TrackEnded { key: owner, track_id });
        }
    })
}

/// One subscription: rewrites and writes packets from the forwarder into `local`, and relays
/// the subscriber's keyframe requests. Dropping it stops both tasks and unhooks the forwarder.
/// It can be moved to another forwarder of the same track ([`DownTrack::rebind`]: the
/// publisher's connection was replaced); the subscriber sees one continuous stream.
pub struct DownTrack {
    sink_id: u64,
    /// This subscription's queue, kept so that it outlives a forwarder.
    sink: mpsc::Sender<rtc::rtp::Packet>,
    forwarder: tokio::sync::watch::Sender<ForwarderHandle>,
    tasks: [tokio::task::AbortHandle; 2],
}

impl DownTrack {
    pub fn spawn(local: Arc<TrackLocalStaticRTP>, munger: Munger, forwarder: ForwarderHandle, metrics: Arc<Metrics>) -> Self {
        static NEXT_SINK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let sink_id = NEXT_SINK.fetch_add(1, Relaxed);
        let (sink, mut rx) = mpsc::channel::<rtc::rtp::Packet>(SINK_QUEUE);
        forwarder.add_sink(sink_id, sink.clone());

        let writer = {
            let local = local.clone();
            let mut munger = munger;
            tokio::spawn(async move {
                while let Some(mut pkt) = rx.recv().await {
                    munger.rewrite(&mut pkt.header, Instant::now());
                    let bytes = pkt.payload.len() as u64;
                    match local.write_rtp(pkt).await {
                        Ok(()) => {
                            metrics.rtp_forwarded.fetch_add(1, Relaxed);
                            metrics.rtp_forwarded_bytes.fetch_add(bytes, Relaxed);
                        }
                        // Not yet bound (negotiation in flight) or closing.
                        Err(_) => {
                            metrics.rtp_dropped.fetch_add(1, Relaxed);
                        }
                    }
                }
            })
        };
        let (forwarder, fwd) = tokio::sync::watch::channel(forwarder);
        let feedback = {
            tokio::spawn(async move {
                loop {
                    match local.poll().await {
                        Some(TrackLocalEvent::OnRtcpPacket(pkts)) => {
                            if pkts.iter().any(|p| is_keyframe_request(p.as_ref())) {
                                fwd.borrow().request_keyframe();
                            }
                        }
                        Some(_) => {}
                        // Unbound until the subscriber's answer is applied.
                        None => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
            })
        };
        DownTrack { sink_id, sink, forwarder, tasks: [writer.abort_handle(), feedback.abort_handle()] }
    }

    pub fn forwarder(&self) -> ForwarderHandle {
        self.forwarder.borrow().clone()
    }

    /// Takes packets from `to` instead of the current forwarder (a no-op when it is the same).
    /// The munger sees a new source SSRC and keeps sequence numbers and timestamps continuous.
    pub fn rebind(&self, to: ForwarderHandle) {
        if self.forwarder.borrow().same(&to) {
            return;
        }
        to.add_sink(self.sink_id, self.sink.clone());
        self.forwarder.send_replace(to).remove_sink(self.sink_id);
    }
}

impl Drop for DownTrack {
    fn drop(&mut self) {
        self.forwarder.borrow().remove_sink(self.sink_id);
        for t in &self.tasks {
            t.abort();
        }
    }
}
