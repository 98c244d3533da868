//! Simulcast: which layer a packet belongs to, where a subscriber may switch layers (the first
//! packet of a keyframe), and the per-subscriber downlink fallback that picks the layer a
//! subscriber gets from the one it asked for — or, with NERTC's audio-only option, no video
//! at all while its downlink cannot carry the lowest layer (retried on a doubling timer, since
//! nothing comes back about a stream that is not sent).
//!
//! With `rtc.downlink_estimate` (on by default), the downlink is judged first by its estimate
//! ([`Downlink`]): the server's `sub` connection to each subscriber puts transport-wide
//! sequence numbers on what it forwards, and the subscriber's TWCC feedback drives an
//! estimate-only congestion controller ([`nertc_rtc::cc::configure_estimate_only`]: the
//! engine's trendline/AIMD/loss estimator, nothing paced). Only while one of the subscriber's
//! video subscriptions has a use for it (a layer to choose, or the audio-only option) does
//! a down track [demand](nertc_rtc::cc::Bwe::demand) it: otherwise packets go unnumbered and
//! no feedback comes. A subscription falls a step when the link is congested (the delay detector
//! sees a queue, the feedback shows loss, or less arrives than is sent) and the estimate, less
//! what the subscriber's other subscriptions get, cannot carry its layer's measured bitrate +
//! [`NEED_MARGIN`] for [`SHORT_HOLD`]; it goes back up when the estimate can carry the high
//! layer + [`ROOM_MARGIN`] for [`ROOM_HOLD`], or (since an estimate never runs far ahead of
//! what is sent: see `ACKED_HEADROOM`) by a timed try as before. Receiver-report loss stays
//! the second signal ([`LayerChoice::report`]).
//!
//! Layers are indexed [`HIGH`] (0) and [`LOW`] (1), NERTC's `NERtcRemoteVideoStreamType`.
//! A publisher sends them either as one m-line per layer (our engine: the layer comes from the
//! offer's `pub_rids`) or as rids on one m-line (browsers: the layer comes from the rid of each
//! SSRC, `f`/`h`/empty high, `l`/`q` low; with three layers `h` is the middle one and ignored).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use nertc_rtc::cc::{Bwe, BweSnapshot};

/// The high (full size) layer.
pub const HIGH: usize = 0;
/// The low layer.
pub const LOW: usize = 1;
/// Layers a track can have.
pub const LAYERS: usize = 2;

/// The layer of a rid and its rank within the layer (the higher rank wins when a publisher
/// sends two rids of one layer, e.g. `f` and `h`).
pub fn layer_of_rid(rid: &str) -> Option<(usize, u8)> {
    match rid {
        "f" => Some((HIGH, 2)),
        "h" => Some((HIGH, 1)),
        "" => Some((HIGH, 0)),
        "l" | "q" => Some((LOW, 0)),
        _ => None,
    }
}

/// The rid a layer is announced as ([`nertc_protocol::RID_HIGH`], [`nertc_protocol::RID_LOW`]).
pub fn rid_of_layer(layer: usize) -> &'static str {
    if layer == LOW { nertc_protocol::RID_LOW } else { nertc_protocol::RID_HIGH }
}

/// The layer a `subscribe`'s `layer` names (absent: high).
pub fn layer_of_request(rid: Option<&str>) -> usize {
    rid.and_then(layer_of_rid).map_or(HIGH, |(l, _)| l)
}

/// Whether an RTP payload of `mime` (`video/H264`, `video/VP8`) starts a keyframe that a
/// decoder can start from: for H.264 the packet carrying the sequence parameter set (alone or
/// first in a STAP-A), so that a switch to a layer of another size brings its SPS and PPS.
pub fn starts_keyframe(mime: &str, payload: &[u8]) -> bool {
    if mime.eq_ignore_ascii_case("video/H264") {
        match payload.first().map(|b| b & 0x1f) {
            Some(7) => true,
            Some(24) => payload.get(3).is_some_and(|b| b & 0x1f == 7),
            _ => false,
        }
    } else if mime.eq_ignore_ascii_case("video/VP8") {
        vp8_starts_keyframe(payload)
    } else {
        false
    }
}

/// RFC 7741: the payload descriptor (start of partition 0), then the VP8 frame tag's P bit.
fn vp8_starts_keyframe(p: &[u8]) -> bool {
    let Some(&b0) = p.first() else { return false };
    if b0 & 0x10 == 0 || b0 & 0x0f != 0 {
        return false;
    }
    let mut at = 1;
    if b0 & 0x80 != 0 {
        let Some(&x) = p.get(1) else { return false };
        at = 2;
        if x & 0x80 != 0 {
            // PictureID: one or two bytes.
            at += if p.get(at).is_some_and(|b| b & 0x80 != 0) { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            at += 1; // TL0PICIDX
        }
        if x & 0x30 != 0 {
            at += 1; // TID / KEYIDX
        }
    }
    p.get(at).is_some_and(|b| b & 0x01 == 0)
}

/// NERTC's `NERtcStreamFallbackOption` for `setRemoteSubscribeFallbackOption`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// Keep the layer asked for whatever the downlink.
    Disabled,
    /// Fall back to the low layer when the downlink cannot carry the high one.
    VideoLow,
    /// As [`Fallback::VideoLow`], then stop the video (audio only) when the downlink cannot
    /// carry the low layer either (or the only layer of a track without one).
    AudioOnly,
}

impl Fallback {
    /// A `subscribe`'s `fallback` (absent: 1, NERTC's default).
    pub fn of_request(option: Option<u8>) -> Self {
        match option {
            Some(0) => Fallback::Disabled,
            Some(2) => Fallback::AudioOnly,
            _ => Fallback::VideoLow,
        }
    }
}

/// Loss (RTCP receiver report's fraction lost, of 256) over which the downlink counts as
/// unable to carry what it gets ...
const LOSSY: u8 = 26; // ~10 %
/// ... and under which it counts as clean.
const CLEAN: u8 = 5; // ~2 %
/// Consecutive lossy reports that make a subscriber fall back (a layer, or to audio only).
const LOSSY_REPORTS: u32 = 2;
/// How long the low layer must be clean before the high one is tried again; doubled each time
/// the try fails, up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_secs(10);
const RETRY_MAX: Duration = Duration::from_secs(80);
/// How long a subscription stays audio only before its video is tried again (nothing comes
/// back about a stream that is not sent, so the try is the probe); doubled each time the try
/// fails, up to [`RETRY_MAX`].
const PAUSE_RETRY_FIRST: Duration = Duration::from_secs(5);
/// A try (of the high layer, or of the video after audio only) that sees loss this soon after
/// it started failed.
const TRY_WINDOW: Duration = Duration::from_secs(6);

/// The estimate must exceed the forwarded layer's bitrate by this factor ...
pub const NEED_MARGIN: f64 = 1.15;
/// ... or, for this long on a congested link, the subscription steps down.
pub const SHORT_HOLD: Duration = Duration::from_millis(1000);
/// The estimate must exceed the high layer's bitrate by this factor ...
pub const ROOM_MARGIN: f64 = 1.3;
/// ... for this long on an uncongested link before the high layer is tried again.
pub const ROOM_HOLD: Duration = Duration::from_secs(4);
/// How often a subscription looks at its downlink's estimate.
pub const ESTIMATE_EVERY: Duration = Duration::from_millis(250);
/// Bytes a forwarded packet takes besides its payload (RTP header and extensions, SRTP tag,
/// UDP, IPv4): rates are compared with an estimate of what crosses the link.
pub const PACKET_OVERHEAD: u64 = 50;
/// How long after a subscription's first estimate, or the start of a try, an under-delivery
/// is not taken for congestion: the acknowledged rate needs a feedback round and its half-second
/// window to catch up with a new sending rate.
pub const DELIVERY_SETTLE: Duration = Duration::from_secs(2);
/// The link counts as congested when less than this share of what is sent arrives ...
const DELIVERED_SHARE: f64 = 0.8;
/// ... or the feedback shows this much loss (per mille), or the delay detector sees overuse.
const CONGESTED_LOSS_PERMILLE: u32 = 50;

/// One subscriber's downlink as the server sees it: the estimate from its TWCC feedback on the
/// `sub` connection (kept across a replaced connection: a new estimator starts it afresh), and
/// what its subscriptions send on it. Shared by the subscriber's down tracks.
#[derive(Debug, Default)]
pub struct Downlink {
    pub bwe: Arc<Bwe>,
    sent_bytes: AtomicU64,
}

impl Downlink {
    /// A packet of `payload` bytes was sent towards the subscriber.
    pub fn sent(&self, payload: usize) {
        self.sent_bytes.fetch_add(payload as u64 + PACKET_OVERHEAD, Relaxed);
    }

    pub fn sent_bytes(&self) -> u64 {
        self.sent_bytes.load(Relaxed)
    }
}

/// What a subscription knows of its downlink at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DownlinkView {
    /// The estimate (bps).
    pub estimate_bps: f64,
    /// The estimate less what the subscriber's other subscriptions get.
    pub budget_bps: f64,
    /// The feedback shows loss.
    pub loss: bool,
    /// The delay detector sees a queue. Also what the keyframe that starts a subscription or a
    /// switch to a higher layer looks like (a burst of a few hundred milliseconds' worth):
    /// [`LayerChoice::estimate`] ignores it for [`DELIVERY_SETTLE`] after the subscription
    /// starts or tries a higher layer.
    pub queue: bool,
    /// Less arrives than is sent. Also what a rise of the sending rate looks like for a while
    /// (acknowledgements trail what is sent): ignored like [`DownlinkView::queue`].
    pub under_delivered: bool,
    /// Each layer's bitrate as it arrives from the publisher, with packet overhead (0: not
    /// flowing).
    pub layer_bps: [f64; LAYERS],
}

/// The rate of a byte counter, smoothed over its last readings.
#[derive(Debug, Default)]
struct Rate {
    last: Option<(Instant, u64)>,
    bps: f64,
}

impl Rate {
    /// Reads `total` at `now`; a counter that went back (a new source) starts over.
    fn update(&mut self, now: Instant, total: u64) -> f64 {
        if let Some((at, before)) = self.last
            && total >= before
        {
            let dt = now.duration_since(at).as_secs_f64();
            if dt > 0.0 {
                let bps = (total - before) as f64 * 8.0 / dt;
                self.bps = if self.bps == 0.0 { bps } else { 0.7 * self.bps + 0.3 * bps };
            }
        }
        self.last = Some((now, total));
        self.bps
    }
}

/// Turns a subscription's counters into a [`DownlinkView`] (call it every [`ESTIMATE_EVERY`]).
#[derive(Debug, Default)]
pub struct DownlinkMeter {
    total: Rate,
    mine: Rate,
    layers: [Rate; LAYERS],
}

impl DownlinkMeter {
    /// `bwe`: the downlink's estimate; `total`: bytes sent on the downlink; `mine`: bytes this
    /// subscription sent; `layers`: bytes the publisher sent per layer. None before feedback.
    pub fn view(&mut self, now: Instant, bwe: BweSnapshot, total: u64, mine: u64, layers: [u64; LAYERS]) -> Option<DownlinkView> {
        let sent = self.total.update(now, total);
        let mine = self.mine.update(now, mine);
        let layer_bps = std::array::from_fn(|l| self.layers[l].update(now, layers[l]));
        if bwe.feedbacks == 0 {
            return None;
        }
        let estimate = bwe.target_bps as f64;
        let others = (sent - mine).max(0.0);
        let loss = bwe.loss_permille >= CONGESTED_LOSS_PERMILLE;
        let under_delivered = sent > 0.0 && bwe.acked_bps > 0 && (bwe.acked_bps as f64) < DELIVERED_SHARE * sent;
        Some(DownlinkView { estimate_bps: estimate, budget_bps: estimate - others, loss, queue: bwe.overuse, under_delivered, layer_bps })
    }
}

/// One subscription's layer choice: what it asked for, lowered while its downlink (judged by
/// its estimate, [`LayerChoice::estimate`], and its receiver reports, [`LayerChoice::report`])
/// cannot carry it — to the low layer, then (with [`Fallback::AudioOnly`]) to no video at all.
#[derive(Debug)]
pub struct LayerChoice {
    requested: usize,
    fallback: Fallback,
    /// Fallen back to the low layer because of the downlink.
    fallen: bool,
    /// The video is not forwarded (audio only) since then.
    paused: Option<Instant>,
    lossy_run: u32,
    clean_since: Option<Instant>,
    retry_after: Duration,
    pause_retry: Duration,
    /// When the current try (of the high layer, or of the video after a pause) started.
    trying_since: Option<Instant>,
    /// The current try is of the video after a pause: it fails on [`LOSSY_REPORTS`] lossy
    /// reports, not on one (the first report after a resume counts the packets lost just
    /// before the pause, which the resumed stream's sequence numbers follow).
    resume_try: bool,
    /// Since when the downlink estimate cannot carry the current layer / can carry the high
    /// one ([`LayerChoice::estimate`]).
    short_since: Option<Instant>,
    roomy_since: Option<Instant>,
    /// The first downlink estimate this subscription saw.
    first_estimate: Option<Instant>,
}

impl LayerChoice {
    pub fn new(requested: usize, fallback: Fallback) -> Self {
        LayerChoice {
            requested,
            fallback,
            fallen: false,
            paused: None,
            lossy_run: 0,
            clean_since: None,
            retry_after: RETRY_FIRST,
            pause_retry: PAUSE_RETRY_FIRST,
            trying_since: None,
            resume_try: false,
            short_since: None,
            roomy_since: None,
            first_estimate: None,
        }
    }

    /// The layer to forward now (while [`LayerChoice::paused`], the one the video resumes
    /// with).
    pub fn layer(&self) -> usize {
        if self.fallen { LOW } else { self.requested }
    }

    /// No video is forwarded (fallen back to audio only).
    pub fn paused(&self) -> bool {
        self.paused.is_some()
    }

    pub fn requested(&self) -> usize {
        self.requested
    }

    pub fn fallback(&self) -> Fallback {
        self.fallback
    }

    /// Whether the subscriber gets a lower layer than it asked for.
    pub fn fallen_back(&self) -> bool {
        self.fallen && self.requested == HIGH
    }

    /// A new request (`subscribe` again with another layer, or another fallback option).
    pub fn request(&mut self, requested: usize, fallback: Fallback) {
        self.requested = requested;
        self.fallback = fallback;
        if fallback == Fallback::Disabled || requested == LOW {
            self.fallen = false;
        }
        if fallback != Fallback::AudioOnly {
            self.paused = None;
        }
        if !self.fallen && self.paused.is_none() {
            self.trying_since = None;
        }
    }

    /// A receiver report's fraction lost (of 256) for the forwarded stream; `has_low`: the
    /// track has a low layer. Returns whether the layer to forward or the pause changed.
    pub fn report(&mut self, fraction_lost: u8, has_low: bool, now: Instant) -> bool {
        let before = (self.layer(), self.paused());
        if self.paused.is_some() {
            // About the last packets before the pause, or about nothing: the resume is timed
            // ([`LayerChoice::tick`]).
            return false;
        }
        if fraction_lost >= LOSSY {
            self.lossy_run += 1;
            self.clean_since = None;
        } else {
            self.lossy_run = 0;
            if fraction_lost <= CLEAN {
                self.clean_since.get_or_insert(now);
            } else {
                self.clean_since = None;
            }
        }
        let may_fall = self.fallback != Fallback::Disabled && self.requested == HIGH && has_low;
        let may_pause = self.fallback == Fallback::AudioOnly;
        if !may_fall {
            self.fallen = false;
        }
        let failed_try = self.trying_since.is_some_and(|t| now.duration_since(t) < TRY_WINDOW);
        if self.lossy_run >= LOSSY_REPORTS || (failed_try && !self.resume_try && fraction_lost >= LOSSY) {
            self.step_down(may_fall, may_pause, failed_try, now);
        } else if self.trying_since.is_some_and(|t| now.duration_since(t) >= TRY_WINDOW) {
            self.trying_since = None; // the try held
        } else if self.fallen && self.trying_since.is_none() && self.clean_since.is_some_and(|t| now.duration_since(t) >= self.retry_after)
        {
            self.fallen = false;
            self.trying_since = Some(now);
            self.resume_try = false;
            self.clean_since = None;
        }
        (self.layer(), self.paused()) != before
    }

    /// One step down (high -> low, or the lowest layer -> audio only) if the options allow;
    /// `failed_try`: the step ends a try, whose next one then waits twice as long.
    fn step_down(&mut self, may_fall: bool, may_pause: bool, failed_try: bool, now: Instant) {
        let before = (self.layer(), self.paused());
        if may_fall && !self.fallen {
            // High -> low.
            if failed_try {
                self.retry_after = (self.retry_after * 2).min(RETRY_MAX);
            } else if self.trying_since.is_none() {
                self.retry_after = RETRY_FIRST;
            }
            self.fallen = true;
        } else if may_pause {
            // The lowest layer there is -> audio only.
            if failed_try {
                self.pause_retry = (self.pause_retry * 2).min(RETRY_MAX);
            } else if self.trying_since.is_none() {
                self.pause_retry = PAUSE_RETRY_FIRST;
            }
            self.paused = Some(now);
        }
        if (self.layer(), self.paused()) != before {
            self.trying_since = None;
            self.lossy_run = 0;
            self.clean_since = None;
            self.short_since = None;
            self.roomy_since = None;
        }
    }

    /// The downlink estimate at `now` (every [`ESTIMATE_EVERY`]); `has_low`: the track has a
    /// low layer. Steps down when the link is congested (a queue or an under-delivery counts
    /// only once settled, see [`DELIVERY_SETTLE`]) and the budget cannot carry the layer
    /// forwarded now (+ [`NEED_MARGIN`]) for [`SHORT_HOLD`] (at once during a try of the high
    /// layer); tries the high layer again when the budget carries it (+ [`ROOM_MARGIN`]) on an
    /// uncongested link for [`ROOM_HOLD`]. Returns whether the layer or the pause changed.
    pub fn estimate(&mut self, v: &DownlinkView, has_low: bool, now: Instant) -> bool {
        if self.paused.is_some() {
            return false; // nothing is learnt about a stream not sent: the resume is timed
        }
        let before = (self.layer(), self.paused());
        let started = *self.first_estimate.get_or_insert(now);
        let recent = |t: Instant| now.duration_since(t) < DELIVERY_SETTLE;
        let settling = recent(started) || self.trying_since.is_some_and(recent);
        let congested = v.loss || ((v.queue || v.under_delivered) && !settling);
        let cur = if has_low { self.layer() } else { HIGH };
        let need = v.layer_bps[cur] * NEED_MARGIN;
        let short = congested && need > 0.0 && v.budget_bps < need;
        if short {
            self.short_since.get_or_insert(now);
        } else {
            self.short_since = None;
        }
        let may_fall = self.fallback != Fallback::Disabled && self.requested == HIGH && has_low;
        let may_pause = self.fallback == Fallback::AudioOnly;
        let failed_try = self.trying_since.is_some_and(|t| now.duration_since(t) < TRY_WINDOW);
        let held = self.short_since.is_some_and(|t| now.duration_since(t) >= SHORT_HOLD);
        if held || (short && failed_try && !self.resume_try) {
            self.step_down(may_fall, may_pause, failed_try, now);
            return (self.layer(), self.paused()) != before;
        }
        let room = self.fallen && may_fall && !congested && v.layer_bps[HIGH] > 0.0 && v.budget_bps >= v.layer_bps[HIGH] * ROOM_MARGIN;
        if !room {
            self.roomy_since = None;
        } else if self.trying_since.is_none() && now.duration_since(*self.roomy_since.get_or_insert(now)) >= ROOM_HOLD {
            self.fallen = false;
            self.trying_since = Some(now);
            self.resume_try = false;
            self.clean_since = None;
            self.roomy_since = None;
        }
        (self.layer(), self.paused()) != before
    }

    /// Time passing: a pause that has lasted its retry delay ends (the video is tried again,
    /// at the low layer when there is one). Returns whether it did.
    pub fn tick(&mut self, has_low: bool, now: Instant) -> bool {
        let Some(since) = self.paused else { return false };
        if now.duration_since(since) < self.pause_retry {
            return false;
        }
        self.paused = None;
        self.fallen = self.fallback != Fallback::Disabled && self.requested == HIGH && has_low;
        self.trying_since = Some(now);
        self.resume_try = true;
        self.lossy_run = 0;
        self.clean_since = None;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rids_map_to_layers() {
        assert_eq!(layer_of_rid("h"), Some((HIGH, 1)));
        assert_eq!(layer_of_rid("f"), Some((HIGH, 2)));
        assert_eq!(layer_of_rid("q"), Some((LOW, 0)));
        assert_eq!(layer_of_rid("l"), Some((LOW, 0)));
        assert_eq!(layer_of_rid("m"), None);
        assert_eq!(layer_of_request(Some("l")), LOW);
        assert_eq!(layer_of_request(None), HIGH);
        assert_eq!(rid_of_layer(LOW), "l");
    }

    #[test]
    fn h264_keyframes_start_at_the_sps() {
        let sps = [0x67, 0x42, 0xc0, 0x1f];
        let stap_a = [0x78, 0x00, 0x04, 0x67, 0x42, 0xc0, 0x1f, 0x00, 0x02, 0x68, 0xce];
        let idr_fu_start = [0x7c, 0x85, 0x88];
        let p_slice = [0x41, 0x9a];
        assert!(starts_keyframe("video/H264", &sps));
        assert!(starts_keyframe("video/h264", &stap_a));
        assert!(!starts_keyframe("video/H264", &idr_fu_start));
        assert!(!starts_keyframe("video/H264", &p_slice));
        assert!(!starts_keyframe("video/H264", &[]));
        assert!(!starts_keyframe("audio/opus", &sps));
    }

    #[test]
    fn vp8_keyframes_start_partition_zero_with_p_clear() {
        // S=1, PID=0, no extension; frame tag P=0: keyframe.
        assert!(starts_keyframe("video/VP8", &[0x10, 0x00, 0x9d]));
        // Inter frame.
        assert!(!starts_keyframe("video/VP8", &[0x10, 0x01]));
        // Not the start of partition 0.
        assert!(!starts_keyframe("video/VP8", &[0x00, 0x00]));
        // X=1 with a two-byte PictureID (I=1, M=1) and TL0PICIDX (L=1).
        assert!(starts_keyframe("video/VP8", &[0x90, 0xc0, 0x80, 0x01, 0x05, 0x00]));
        assert!(!starts_keyframe("video/VP8", &[0x90, 0xc0, 0x80, 0x01, 0x05, 0x01]));
    }

    #[test]
    fn loss_makes_a_high_subscriber_fall_back_and_clean_reports_bring_it_back() {
        let t0 = Instant::now();
        let s = |n: u64| t0 + Duration::from_secs(n);
        let mut c = LayerChoice::new(HIGH, Fallback::VideoLow);
        assert!(!c.report(60, true, s(1)), "one lossy report is not enough");
        assert!(c.report(60, true, s(2)));
        assert_eq!(c.layer(), LOW);
        assert!(c.fallen_back());
        // Clean for less than the retry delay: stays low.
        for n in 3..12 {
            assert!(!c.report(0, true, s(n)));
        }
        assert!(c.report(0, true, s(13)), "10 s clean: the high layer is tried");
        assert_eq!(c.layer(), HIGH);
        // The try fails at once: low again, and the next try waits twice as long.
        assert!(c.report(80, true, s(14)));
        assert_eq!(c.layer(), LOW);
        for n in 15..34 {
            assert!(!c.report(0, true, s(n)), "retry at {n} s is too early");
        }
        assert!(c.report(0, true, s(36)));
        assert_eq!(c.layer(), HIGH);
    }

    #[test]
    fn no_fallback_when_disabled_or_already_low() {
        let t0 = Instant::now();
        let mut c = LayerChoice::new(HIGH, Fallback::Disabled);
        for n in 0..5 {
            assert!(!c.report(200, true, t0 + Duration::from_secs(n)));
        }
        assert_eq!(c.layer(), HIGH);
        let mut c = LayerChoice::new(LOW, Fallback::VideoLow);
        for n in 0..5 {
            c.report(200, true, t0 + Duration::from_secs(n));
        }
        assert_eq!(c.layer(), LOW);
        assert!(!c.fallen_back());
        // Asking for high starts from high.
        c.request(HIGH, Fallback::VideoLow);
        assert_eq!(c.layer(), HIGH);
    }

    #[test]
    fn audio_only_pauses_below_the_low_layer_and_retries_on_a_timer() {
        let t0 = Instant::now();
        let s = |ms: u64| t0 + Duration::from_millis(ms);
        let mut c = LayerChoice::new(HIGH, Fallback::AudioOnly);
        // Lossy on the high layer: the low one first.
        assert!(!c.report(60, true, s(1000)));
        assert!(c.report(60, true, s(2000)));
        assert_eq!((c.layer(), c.paused()), (LOW, false));
        // Still lossy on the low layer: audio only.
        assert!(!c.report(60, true, s(3000)));
        assert!(c.report(60, true, s(4000)));
        assert!(c.paused());
        // Reports while paused change nothing; the pause ends on the timer, at the low layer.
        assert!(!c.report(200, true, s(5000)));
        assert!(!c.tick(true, s(8500)));
        assert!(c.tick(true, s(9000)), "5 s of audio only: the video is tried again");
        assert_eq!((c.layer(), c.paused()), (LOW, false));
        // The try fails (two lossy reports: the first alone may count what was lost just
        // before the pause): paused again, and the next try waits twice as long.
        assert!(!c.report(60, true, s(9_500)));
        assert!(c.report(60, true, s(10_000)));
        assert!(c.paused());
        assert!(!c.tick(true, s(19_900)));
        assert!(c.tick(true, s(20_000)));
        assert!(!c.paused());
        // This try holds (clean reports for the try window), and 10 s after the reports
        // turned clean the high layer is tried again.
        for n in 21..31 {
            assert!(!c.report(0, true, s(n * 1000)), "at {n} s");
        }
        assert!(c.report(0, true, s(31_000)));
        assert_eq!((c.layer(), c.paused()), (HIGH, false));
    }

    #[test]
    fn audio_only_on_a_single_layer_track_and_leaving_the_option_resumes() {
        let t0 = Instant::now();
        let s = |n: u64| t0 + Duration::from_secs(n);
        let mut c = LayerChoice::new(HIGH, Fallback::AudioOnly);
        // No low layer: straight to audio only.
        assert!(!c.report(60, false, s(1)));
        assert!(c.report(60, false, s(2)));
        assert!(c.paused());
        assert_eq!(c.layer(), HIGH);
        // Option 1 instead: the video comes back at once.
        c.request(HIGH, Fallback::VideoLow);
        assert!(!c.paused());
        // Option 1 never pauses.
        for n in 3..10 {
            c.report(200, true, s(n));
        }
        assert!(!c.paused());
        assert_eq!(c.layer(), LOW);
        assert_eq!(Fallback::of_request(Some(2)), Fallback::AudioOnly);
        assert_eq!(Fallback::of_request(None), Fallback::VideoLow);
        assert_eq!(Fallback::of_request(Some(0)), Fallback::Disabled);
    }

    fn view(budget_kbps: f64, congested: bool) -> DownlinkView {
        let budget_bps = budget_kbps * 1000.0;
        DownlinkView {
            estimate_bps: budget_bps,
            budget_bps,
            loss: congested,
            queue: false,
            under_delivered: false,
            layer_bps: [800_000.0, 160_000.0],
        }
    }

    /// Acknowledgements trail a rise of the sending rate, and the keyframe that starts it is a
    /// burst: an under-delivery or a queue in the first [`DELIVERY_SETTLE`] of a subscription or
    /// of a try is no congestion; later, or with loss, it is.
    #[test]
    fn an_under_delivery_or_a_queue_right_after_a_rise_in_rate_is_not_congestion() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let lagging = |budget_kbps: f64| DownlinkView { under_delivered: true, queue: true, ..view(budget_kbps, false) };
        let mut c = LayerChoice::new(HIGH, Fallback::VideoLow);
        // The start: 2 s of acknowledgements trailing the new stream keep the high layer.
        for n in 0..8 {
            assert!(!c.estimate(&lagging(300.0), true, ms(n * 250)), "at {n}");
        }
        // Settled: an under-delivery that holds a second is congestion.
        for n in 8..12 {
            assert!(!c.estimate(&lagging(300.0), true, ms(n * 250)), "at {n}");
        }
        assert!(c.estimate(&lagging(300.0), true, ms(3000)));
        assert_eq!(c.layer(), LOW);
        // Room again: the try starts; acknowledgements trailing it do not end it ...
        for n in 0..16 {
            assert!(!c.estimate(&view(1100.0, false), true, ms(3250 + n * 250)));
        }
        assert!(c.estimate(&view(1100.0, false), true, ms(7250)));
        assert_eq!(c.layer(), HIGH);
        for n in 1..8 {
            assert!(!c.estimate(&lagging(400.0), true, ms(7250 + n * 250)), "at {n}");
        }
        assert_eq!(c.layer(), HIGH);
        // ... loss does, at once.
        assert!(c.estimate(&view(400.0, true), true, ms(9000)));
        assert_eq!(c.layer(), LOW);
    }

    #[test]
    fn an_estimate_under_the_layer_on_a_congested_link_steps_down_and_room_brings_the_high_layer_back() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut c = LayerChoice::new(HIGH, Fallback::VideoLow);
        // An estimate still climbing from its start (nothing congested) is no reason to fall.
        for n in 0..20 {
            assert!(!c.estimate(&view(300.0, false), true, ms(n * 250)));
        }
        assert_eq!(c.layer(), HIGH);
        // Congested and under 800 kbps + margin for a second: low.
        assert!(!c.estimate(&view(400.0, true), true, ms(5000)));
        assert!(!c.estimate(&view(950.0, true), true, ms(5250)), "950 kbps carries 800 + 15 %: the hold restarts");
        for n in 0..4 {
            assert!(!c.estimate(&view(400.0, true), true, ms(5500 + n * 250)));
        }
        assert!(c.estimate(&view(400.0, true), true, ms(6500)));
        assert_eq!(c.layer(), LOW);
        // Room for the high layer (+ 30 %) on a clean link for 4 s: tried again.
        for n in 0..16 {
            assert!(!c.estimate(&view(1100.0, false), true, ms(7000 + n * 250)), "at {n}");
        }
        assert!(c.estimate(&view(1100.0, false), true, ms(11_000)));
        assert_eq!(c.layer(), HIGH);
        // The try meets a congested link at once: low again without waiting for the hold.
        assert!(c.estimate(&view(500.0, true), true, ms(11_250)));
        assert_eq!(c.layer(), LOW);
        // Disabled: the estimate changes nothing.
        let mut c = LayerChoice::new(HIGH, Fallback::Disabled);
        for n in 0..20 {
            assert!(!c.estimate(&view(100.0, true), true, ms(n * 250)));
        }
        assert_eq!((c.layer(), c.paused()), (HIGH, false));
    }

    #[test]
    fn an_estimate_under_the_low_layer_pauses_with_the_audio_only_option() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut c = LayerChoice::new(HIGH, Fallback::AudioOnly);
        let mut changed = vec![];
        for n in 0..20 {
            if c.estimate(&view(90.0, true), true, ms(n * 250)) {
                changed.push((n, c.layer(), c.paused()));
            }
        }
        assert_eq!(changed, vec![(4, LOW, false), (9, LOW, true)], "one step per hold (the next starts after a step)");
        // Paused: the estimate says nothing; the timer resumes.
        assert!(!c.estimate(&view(90.0, true), true, ms(6000)));
        assert!(!c.tick(true, ms(2250 + 4900)));
        assert!(c.tick(true, ms(2250 + 5000)));
    }

    #[test]
    fn the_meter_measures_rates_and_the_budget_leaves_out_other_subscriptions() {
        let t0 = Instant::now();
        let s = |n: u64| t0 + Duration::from_secs(n);
        let mut m = DownlinkMeter::default();
        let bwe = BweSnapshot { target_bps: 1_000_000, acked_bps: 500_000, feedbacks: 1, ..Default::default() };
        assert!(m.view(s(0), BweSnapshot::default(), 0, 0, [0, 0]).is_none(), "no feedback yet");
        // 1 s: 100 kB sent in all, 25 kB of them by this subscription; layers 100 kB and 20 kB.
        let v = m.view(s(1), bwe, 100_000, 25_000, [100_000, 20_000]).expect("feedback");
        assert_eq!(v.layer_bps, [800_000.0, 160_000.0]);
        assert_eq!(v.budget_bps, 1_000_000.0 - 600_000.0);
        assert!(v.under_delivered && !v.queue && !v.loss, "500 kbps arrive of 800 kbps sent");
        let v = m.view(s(2), BweSnapshot { acked_bps: 790_000, ..bwe }, 200_000, 50_000, [200_000, 40_000]).expect("feedback");
        assert!(!v.under_delivered && !v.queue && !v.loss);
        let v =
            m.view(s(3), BweSnapshot { acked_bps: 790_000, overuse: true, ..bwe }, 300_000, 75_000, [300_000, 60_000]).expect("feedback");
        assert!(v.queue && !v.loss, "the delay detector's overuse");
        let v = m
            .view(s(4), BweSnapshot { acked_bps: 790_000, loss_permille: 80, ..bwe }, 400_000, 100_000, [400_000, 80_000])
            .expect("feedback");
        assert!(v.loss && !v.queue, "8 % lost");
    }
}
