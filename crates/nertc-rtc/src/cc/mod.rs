//! Send-side congestion control for a sending peer connection. webrtc-rs 0.21 provides the
//! transport-wide feedback loop: TWCC sequence numbers on what leaves (`TwccSender`), feedback
//! on what arrives (`TwccReceiver`), and the send history that joins the remote's
//! `TransportLayerCC` with departure times and drives a `BandwidthEstimator`
//! (`CongestionControlInterceptor`). Here is what it lacks:
//!
//! - [`Estimator`]: a trendline delay detector (webrtc-rs's GCC compares its per-group Kalman
//!   estimate with a 12.5 ms threshold and does not see a sender 20 % over a bottleneck),
//!   AIMD with probing back up, and loss control — built on webrtc-rs's arrival grouping,
//!   overuse detector (adaptive threshold) and received-rate window;
//! - [`Bwe`]: its estimate, readable from any thread (the encoder reads its target there);
//! - [`PriorityPacer`]: paces video at [`PACING_FACTOR`] × the estimate while audio and RTCP
//!   pass at once (webrtc-rs's pacer is one FIFO: a keyframe would hold audio behind it).
//!
//! [`configure`] puts them into a chain at the slots webrtc-rs reserves for them.
//! [`configure_estimate_only`] is the estimate of a path a forwarding server sends on (its
//! estimate of a subscriber's downlink): no pacer, and instead of webrtc-rs's numbering and send
//! history one light interceptor, [`EstimateOnly`], that numbers packets only while someone
//! [demands](Bwe::demand) the estimate.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use rtc::interceptor::{CongestionControlBuilder, Registry, Slot, TwccReceiverBuilder, TwccSenderBuilder};
use rtc::peer_connection::configuration::media_engine::MediaEngine;
use rtc::rtp_transceiver::rtp_sender::{RTCPFeedback, RTCRtpHeaderExtensionCapability, RtpCodecKind, TYPE_RTCP_FB_TRANSPORT_CC};

mod estimate_only;
mod estimator;
mod pacer;

pub use estimate_only::{EstimateOnly, SendHistory};
pub use estimator::Estimator;
pub use pacer::PriorityPacer;

/// Where an estimate starts before any feedback: what a 640x480 call needs, and what libwebrtc
/// starts from too.
pub const INITIAL_BPS: f64 = 300_000.0;
/// The estimate's floor: audio plus a small video layer still fit.
pub const MIN_BPS: f64 = 80_000.0;
/// The estimate's ceiling.
pub const MAX_BPS: f64 = 20_000_000.0;
/// Video leaves at this multiple of the estimate: fast enough that an encoder's keyframe does
/// not wait long behind the budget, slow enough not to dump it into the bottleneck at once.
pub const PACING_FACTOR: f64 = 1.1;
/// Video queued in the pacer longer than this is released faster (the rate rises to drain the
/// queue in this time): a keyframe after a cut to a low estimate leaves over most of a second
/// rather than in a burst the bottleneck drops, but a queue that outlives that is delay the
/// call feels, not smoothing.
pub const MAX_QUEUE_TIME: Duration = Duration::from_millis(1000);
/// Retransmissions may use at most this share of the target (see [`PriorityPacer`]).
pub const RETRANSMIT_SHARE: f64 = 0.5;
/// The target is held below this multiple of the acknowledged rate.
pub const ACKED_HEADROOM: f64 = 2.0;

/// The current estimate of a connection's uplink, shared with the application. All rates in
/// bits per second; zero until the first feedback.
#[derive(Debug, Default)]
pub struct Bwe {
    target_bps: AtomicU64,
    acked_bps: AtomicU64,
    /// Smoothed loss the remote reported, per mille.
    loss_permille: AtomicU32,
    /// The delay detector's last verdict was overuse.
    overuse: AtomicBool,
    /// Feedback batches seen.
    feedbacks: AtomicU64,
    /// Video bytes waiting in the pacer.
    queued_bytes: AtomicU64,
    /// Users of an estimate-only connection's estimate ([`Bwe::demand`]).
    demand: AtomicUsize,
}

/// One user of an estimate-only connection's estimate ([`Bwe::demand`]); dropping it ends
/// the demand.
#[derive(Debug)]
pub struct EstimateDemand(Arc<Bwe>);

impl Drop for EstimateDemand {
    fn drop(&mut self) {
        self.0.demand.fetch_sub(1, Relaxed);
    }
}

/// A copy of [`Bwe`] at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BweSnapshot {
    pub target_bps: u64,
    pub overuse: bool,
    pub acked_bps: u64,
    pub loss_permille: u32,
    pub feedbacks: u64,
    pub queued_bytes: u64,
}

impl Bwe {
    pub fn snapshot(&self) -> BweSnapshot {
        BweSnapshot {
            target_bps: self.target_bps.load(Relaxed),
            overuse: self.overuse.load(Relaxed),
            acked_bps: self.acked_bps.load(Relaxed),
            loss_permille: self.loss_permille.load(Relaxed),
            feedbacks: self.feedbacks.load(Relaxed),
            queued_bytes: self.queued_bytes.load(Relaxed),
        }
    }

    /// The target, or None before any feedback arrived (the connection is new or the remote
    /// does not report).
    pub fn target_bps(&self) -> Option<u64> {
        (self.feedbacks.load(Relaxed) > 0).then(|| self.target_bps.load(Relaxed))
    }

    /// The target to pace by: [`INITIAL_BPS`] before the estimator set one.
    fn pacing_target(&self) -> f64 {
        let target = self.target_bps.load(Relaxed) as f64;
        if target > 0.0 { target } else { INITIAL_BPS }
    }

    /// How long the video waiting in the pacer takes to leave at the pacing rate.
    pub fn queue_delay(&self) -> Duration {
        Duration::from_secs_f64(self.queued_bytes.load(Relaxed) as f64 * 8.0 / (self.pacing_target() * PACING_FACTOR))
    }

    /// Someone uses the estimate (until the returned guard drops). An estimate-only connection
    /// ([`configure_estimate_only`]) numbers what it sends, and so gets feedback to estimate
    /// from, only while someone does: a server that forwards a stream with no layer to choose
    /// pays nothing for an estimate nobody reads. A demand after a pause longer than the
    /// feedback horizon starts the estimate afresh.
    pub fn demand(self: &Arc<Self>) -> EstimateDemand {
        self.demand.fetch_add(1, Relaxed);
        EstimateDemand(self.clone())
    }

    /// Whether anyone [demands](Bwe::demand) the estimate.
    pub fn demanded(&self) -> bool {
        self.demand.load(Relaxed) > 0
    }

    /// Forgets the estimate (a new connection starts from scratch); the demand stays.
    pub fn reset(&self) {
        for a in [&self.target_bps, &self.acked_bps, &self.feedbacks, &self.queued_bytes] {
            a.store(0, Relaxed);
        }
        self.loss_permille.store(0, Relaxed);
        self.overuse.store(false, Relaxed);
    }
}

/// Negotiates transport-wide CC for audio and video and adds the sending half (TWCC sequence
/// numbers, send history + [`Estimator`] into `bwe`, [`PriorityPacer`]) and the receiving half
/// (feedback on what arrives) to `registry`.
pub fn configure(registry: Registry, me: &mut MediaEngine, bwe: Arc<Bwe>) -> rtc::shared::error::Result<Registry> {
    negotiate(me)?;
    Ok(registry
        .with(Slot::CongestionControl, CongestionControlBuilder::new(Estimator::new(bwe.clone())).build())
        .with(Slot::TwccSender, TwccSenderBuilder::new().build())
        .with(Slot::Pacer, PriorityPacer::new(bwe))
        .with(Slot::TwccReceiver, TwccReceiverBuilder::new().build()))
}

/// An estimate of the path for a connection that sends media it does not encode (the SFU's
/// connection to a subscriber, which forwards what publishers send as it comes and picks a
/// layer by the estimate): while `bwe` is [demanded](Bwe::demand), what it sends gets TWCC
/// sequence numbers and the remote's feedback drives an [`Estimator`] into `bwe`
/// ([`EstimateOnly`]); nothing is delayed. Only the sending half: such a connection receives
/// no media to give feedback on.
pub fn configure_estimate_only(registry: Registry, me: &mut MediaEngine, bwe: Arc<Bwe>) -> rtc::shared::error::Result<Registry> {
    negotiate(me)?;
    Ok(registry.with(Slot::CongestionControl, EstimateOnly::new(bwe)))
}

/// Transport-wide CC feedback and its header extension, for audio and video.
fn negotiate(me: &mut MediaEngine) -> rtc::shared::error::Result<()> {
    for kind in [RtpCodecKind::Video, RtpCodecKind::Audio] {
        me.register_feedback(RTCPFeedback { typ: TYPE_RTCP_FB_TRANSPORT_CC.into(), parameter: String::new() }, kind);
        me.register_header_extension(RTCRtpHeaderExtensionCapability { uri: rtc::sdp::extmap::TRANSPORT_CC_URI.to_owned() }, kind, None)?;
    }
    Ok(())
}
