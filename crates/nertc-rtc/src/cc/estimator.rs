//! The estimator: a GCC-style delay- plus loss-based bandwidth estimate from transport-wide
//! feedback (see [`Estimator`]).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use rtc::interceptor::{ArrivalGroupAccumulator, BandwidthEstimator, PacketReport, RateControlState, Usage};

use super::{ACKED_HEADROOM, Bwe, INITIAL_BPS, MAX_BPS, MIN_BPS};

/// Groups of the trendline's regression window (libwebrtc uses 20).
const TREND_WINDOW: usize = 20;
/// Smoothing of the accumulated delay before the regression.
const TREND_SMOOTHING: f64 = 0.9;
/// The slope is scaled by min(groups seen, this) × [`TREND_GAIN`] before it is compared with
/// the detector's threshold (12.5 ms at first): a queue growing by 5 % of the send interval
/// (a sender 5 % over the bottleneck) reads 12 ms once the window is full.
const TREND_MAX_GROUPS: f64 = 60.0;
const TREND_GAIN: f64 = 4.0;
/// The detector's threshold: starting value and bounds (ms of scaled trend), and how fast it
/// follows the trend up and down per ms (libwebrtc's trendline values; webrtc-rs's detector
/// keeps the Kalman filter's 0.01 / 0.00018, with which a threshold raised by one burst takes
/// tens of seconds to come back down and hides the next overuse).
const THRESHOLD_INITIAL: f64 = 12.5;
const THRESHOLD_RANGE: (f64, f64) = (6.0, 600.0);
const THRESHOLD_UP: f64 = 0.0087;
const THRESHOLD_DOWN: f64 = 0.039;
/// A trend over the threshold is overuse once it lasted this long (and grew).
const OVERUSE_TIME: Duration = Duration::from_millis(10);
/// Overuse counts only while packets wait at least this much longer than the fastest seen:
/// on a 300 kbps link one 1200-byte packet is 32 ms of serialisation, and the trend of the
/// packets queued behind it reads as overuse while the link is two-thirds used.
const OVERUSE_MIN_QUEUE_MS: f64 = 25.0;
/// Packets waiting this much longer than the fastest seen are overuse at once.
const OVERUSE_QUEUE_MS: f64 = 80.0;
/// Backing off: this fraction of what the link carries (its [`BusyRate`] while it queues, else
/// what the receiver is getting).
const BACKOFF: f64 = 0.85;
/// At most one backoff per this: the next one must see the first one's effect.
const BACKOFF_INTERVAL: Duration = Duration::from_millis(500);
/// Growth per second while no ceiling is known.
const PROBE_GROWTH: f64 = 1.25;
/// Growth per second from the start until the first backoff: libwebrtc probes at 3x and 6x its
/// 300 kbps start within the first second; without probe packets, the encoder's own output
/// is the probe, so the estimate doubles each second (300 kbps to 1.8 Mbit/s in 2.6 s) and the
/// first overuse or loss ends the phase.
const START_GROWTH: f64 = 2.0;
/// Near the last backoff's received rate, growth is additive: one 1200-byte packet per this.
const ADDITIVE_STEP_EVERY: Duration = Duration::from_millis(200);
/// A ceiling (the received rate at the last backoff) is forgotten after this long without
/// a backoff, or when the receiver gets [`CEILING_BREAK`] × it: the path has changed.
const CEILING_TTL: Duration = Duration::from_secs(3);
const CEILING_BREAK: f64 = 1.3;
/// A packet sent at least this long before the packet ahead of it arrived (less the path's
/// delay without a queue) found the bottleneck busy with it: the time between the two
/// arrivals is what the link took to serve it (and any other flow's packets that went
/// between), so bytes over those gaps measure the link's rate for us whatever the encoder
/// sends on average (see [`BusyRate`]). The margin is the receiver's clock jitter.
const BUSY_MARGIN_MS: f64 = 3.0;
/// Busy arrivals (receiver's clock) kept for the link rate.
const BUSY_WINDOW: Duration = Duration::from_secs(1);
/// The link rate is read once the window holds this much busy time.
const BUSY_MIN: Duration = Duration::from_millis(60);
/// A link rate not measured again for this long is not used: the queue is gone, the path
/// may have changed.
const BUSY_TTL: Duration = Duration::from_secs(2);
/// Loss below this lets the estimate grow; above [`LOSS_HIGH`] it is cut by half the loss.
const LOSS_LOW: f64 = 0.02;
const LOSS_HIGH: f64 = 0.10;
/// Loss over [`LOSS_LOW`] while packets wait this much longer than the fastest ever seen is a
/// full bottleneck queue dropping its tail (random loss comes without the queue): the target
/// drops to what gets through.
const QUEUE_LOSS_DELAY_MS: f64 = 40.0;
/// Loss over [`LOSS_HIGH`] cuts the target only while packets queue at least this much: loss
/// with no queue at all is the radio's (random), not the bottleneck's, and cutting for it
/// leaves a lossy but wide link at the floor (20 % random loss took video to 50 kbps).
const HIGH_LOSS_MIN_QUEUE_MS: f64 = 15.0;
/// A loss cut keeps the target at least at this share of the received rate.
const LOSS_FLOOR: f64 = 0.7;
/// Reaction to loss at most this often.
const LOSS_INTERVAL: Duration = Duration::from_millis(300);

/// libwebrtc-style trendline: the slope of the smoothed accumulated inter-group delay over the
/// last [`TREND_WINDOW`] groups, against their departure times.
#[derive(Default)]
struct Trendline {
    accumulated_ms: f64,
    smoothed_ms: f64,
    groups: f64,
    first: Option<Instant>,
    window: VecDeque<(f64, f64)>,
}

impl Trendline {
    /// Adds one group's delay delta; returns the scaled trend (ms), None until the window fills.
    fn update(&mut self, at: Instant, delta_ms: f64) -> Option<f64> {
        let first = *self.first.get_or_insert(at);
        self.groups += 1.0;
        self.accumulated_ms += delta_ms;
        self.smoothed_ms = TREND_SMOOTHING * self.smoothed_ms + (1.0 - TREND_SMOOTHING) * self.accumulated_ms;
        self.window.push_back((at.saturating_duration_since(first).as_secs_f64() * 1000.0, self.smoothed_ms));
        if self.window.len() > TREND_WINDOW {
            self.window.pop_front();
        }
        if self.window.len() < TREND_WINDOW {
            return None;
        }
        let n = self.window.len() as f64;
        let (mx, my) = self.window.iter().fold((0.0, 0.0), |(x, y), (a, b)| (x + a / n, y + b / n));
        let (num, den) = self.window.iter().fold((0.0, 0.0), |(num, den), (x, y)| (num + (x - mx) * (y - my), den + (x - mx) * (x - mx)));
        let slope = if den > 0.0 { num / den } else { 0.0 };
        Some(slope * self.groups.min(TREND_MAX_GROUPS) * TREND_GAIN)
    }
}

/// Overuse, normal or underuse from the trend, against a threshold that adapts to it (so
/// a competing TCP flow's standing queue does not read as permanent overuse).
struct Detector {
    threshold: f64,
    last_update: Option<Instant>,
    over_since: Option<Instant>,
    over_count: u32,
    previous: f64,
    usage: Usage,
}

impl Default for Detector {
    fn default() -> Self {
        Detector { threshold: THRESHOLD_INITIAL, last_update: None, over_since: None, over_count: 0, previous: 0.0, usage: Usage::Normal }
    }
}

impl Detector {
    fn update(&mut self, now: Instant, trend: f64) -> Usage {
        if trend > self.threshold {
            let since = *self.over_since.get_or_insert(now);
            self.over_count += 1;
            if now.saturating_duration_since(since) >= OVERUSE_TIME && self.over_count > 1 && trend >= self.previous {
                self.usage = Usage::Over;
            }
        } else {
            self.over_since = None;
            self.over_count = 0;
            self.usage = if trend < -self.threshold { Usage::Under } else { Usage::Normal };
        }
        self.previous = trend;
        // Adapt, except to outliers (a trend far beyond the threshold is a real change).
        let dt_ms = self.last_update.map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f64() * 1000.0).min(100.0);
        self.last_update = Some(now);
        if trend.abs() <= self.threshold + 15.0 {
            let k = if trend.abs() < self.threshold { THRESHOLD_DOWN } else { THRESHOLD_UP };
            self.threshold = (self.threshold + k * (trend.abs() - self.threshold) * dt_ms).clamp(THRESHOLD_RANGE.0, THRESHOLD_RANGE.1);
        }
        self.usage
    }
}

/// What the receiver is getting, from arrival times on its clock over the last [`RATE_WINDOW`]
/// (webrtc-rs's `RateCalculator` stamps samples with the feedback's arrival here, so a
/// window's first 100 ms batch spans no time and the rate reads 25 % high).
#[derive(Default)]
struct ArrivalRate {
    samples: VecDeque<(Duration, usize)>,
    bytes: usize,
}

/// The received rate's window.
const RATE_WINDOW: Duration = Duration::from_millis(500);

impl ArrivalRate {
    fn add(&mut self, arrival: Duration, size: usize) {
        // Feedback comes in order of transport sequence; a reordered packet counts as arriving
        // with the latest one.
        let arrival = self.samples.back().map_or(arrival, |(last, _)| arrival.max(*last));
        self.samples.push_back((arrival, size));
        self.bytes += size;
        while let Some((first, sz)) = self.samples.front().copied()
            && arrival.saturating_sub(first) > RATE_WINDOW
        {
            self.samples.pop_front();
            self.bytes -= sz;
        }
    }

    /// Bits per second over the window, None while it spans under 100 ms.
    fn bps(&self) -> Option<f64> {
        let (first, first_size) = *self.samples.front()?;
        let (last, _) = *self.samples.back()?;
        let span = last.saturating_sub(first);
        (span >= Duration::from_millis(100)).then(|| ((self.bytes - first_size) * 8) as f64 / span.as_secs_f64())
    }
}

/// The bottleneck's rate, measured while it is busy: bytes over arrival gaps of the packets that
/// waited in its queue. The received rate (what the receiver got over the last half second)
/// is what the encoder sent, not what the link carries: an encoder that undershoots its
/// target (openh264 makes ~75 % of it at 200 kbps) makes the received rate half the link's,
/// and a backoff to a share of it left a 300 kbps link at 120-185 kbps. At a sudden cap the
/// received rate still holds the faster past for half a second; the busy rate is the new
/// link's from its first queued packets.
#[derive(Default)]
struct BusyRate {
    /// (arrival, bytes, gap since the previous arrival) of packets that waited.
    samples: VecDeque<(Duration, usize, Duration)>,
    bytes: usize,
    busy: Duration,
    last_arrival: Option<Duration>,
    /// The last reading (bps) and when it was taken.
    reading: Option<(f64, Instant)>,
}

impl BusyRate {
    /// A packet that left at `departure_ms` and arrived at `arrival`, where the path without
    /// a queue takes `base_ms` (both offsets on the same clocks as [`Estimator`]'s).
    fn add(&mut self, arrival: Duration, departure_ms: f64, size: usize, base_ms: f64) {
        let arrival = self.last_arrival.map_or(arrival, |last| arrival.max(last));
        let previous = self.last_arrival.replace(arrival);
        // A gap this long is not one packet's service time on any link we would cap at.
        if let Some(previous) = previous
            && previous.as_secs_f64() * 1000.0 - (departure_ms + base_ms) >= BUSY_MARGIN_MS
            && arrival - previous <= Duration::from_millis(200)
        {
            let gap = arrival - previous;
            self.samples.push_back((arrival, size, gap));
            self.bytes += size;
            self.busy += gap;
        }
        while let Some((first, bytes, gap)) = self.samples.front().copied()
            && arrival.saturating_sub(first) > BUSY_WINDOW
        {
            self.samples.pop_front();
            self.bytes -= bytes;
            self.busy -= gap;
        }
    }

    /// Takes a reading at `now` if the window holds enough busy time.
    fn update(&mut self, now: Instant) {
        if self.busy >= BUSY_MIN {
            self.reading = Some(((self.bytes * 8) as f64 / self.busy.as_secs_f64(), now));
        }
    }

    /// The link's rate, if measured within [`BUSY_TTL`].
    fn bps(&self, now: Instant) -> Option<f64> {
        self.reading.filter(|(_, at)| now.saturating_duration_since(*at) < BUSY_TTL).map(|(bps, _)| bps)
    }
}

/// The bandwidth estimator of the engine's uplink (and the SFU's downlinks).
///
/// Delay: packets are grouped by departure burst (5 ms, webrtc-rs's
/// [`ArrivalGroupAccumulator`]); each group's inter-arrival minus inter-departure time feeds a
/// [`Trendline`] whose scaled slope goes to a [`Detector`] with an adaptive threshold. Rate control is AIMD: overuse cuts the target to [`BACKOFF`] × what the link
/// carries (the [`BusyRate`] of the packets that queued, measured within [`BUSY_TTL`], else the
/// received rate) and remembers that rate as the ceiling; normal usage grows the target by
/// [`PROBE_GROWTH`] per second far from a ceiling, by one packet per [`ADDITIVE_STEP_EVERY`]
/// near it, and by [`START_GROWTH`] while far under the busy rate; a ceiling is forgotten after [`CEILING_TTL`] or when the
/// receiver gets more than [`CEILING_BREAK`] × it (probing back up after a cap lifts).
/// Overuse needs a queue ([`OVERUSE_MIN_QUEUE_MS`]: a trend without one is jitter) and a deep
/// queue ([`OVERUSE_QUEUE_MS`]) is overuse whatever the trend. Loss: above [`LOSS_HIGH`] with
/// a queue the target is cut by half the loss (never under [`LOSS_FLOOR`] × what arrived),
/// between [`LOSS_LOW`] and [`LOSS_HIGH`] it may not grow, and with a deep queue it falls to
/// what gets through; loss without a queue (random) only stops growth. The target never
/// exceeds [`ACKED_HEADROOM`] × what the receiver acknowledges, so an application-limited
/// sender does not claim capacity it never used.
pub struct Estimator {
    groups: ArrivalGroupAccumulator,
    trend: Trendline,
    detector: Detector,
    state: RateControlState,
    received: ArrivalRate,
    link: BusyRate,
    target: f64,
    ceiling: Option<(f64, Instant)>,
    /// No backoff or loss cut yet: growth is [`START_GROWTH`].
    starting: bool,
    last_increase: Option<Instant>,
    last_backoff: Option<Instant>,
    loss: Option<f64>,
    last_loss_cut: Option<Instant>,
    /// The smallest arrival - departure offset seen (the path without a queue), ms.
    base_offset_ms: Option<f64>,
    /// Departure reference for the offsets.
    epoch: Option<Instant>,
    out: Arc<Bwe>,
}

impl Estimator {
    pub fn new(out: Arc<Bwe>) -> Self {
        out.reset();
        out.target_bps.store(INITIAL_BPS as u64, Relaxed);
        Estimator {
            groups: ArrivalGroupAccumulator::default(),
            trend: Trendline::default(),
            detector: Detector::default(),
            state: RateControlState::default(),
            received: ArrivalRate::default(),
            link: BusyRate::default(),
            target: INITIAL_BPS,
            ceiling: None,
            starting: true,
            last_increase: None,
            last_backoff: None,
            loss: None,
            last_loss_cut: None,
            base_offset_ms: None,
            epoch: None,
            out,
        }
    }

    fn control(&mut self, now: Instant, usage: Usage, received: Option<f64>, batch_loss: f64, queue_ms: f64) {
        // A rising trend with no queue behind it is jitter (an audio packet waiting behind a
        // video packet on a slow link), not a link filling up.
        let usage = if usage == Usage::Over && queue_ms < OVERUSE_MIN_QUEUE_MS {
            Usage::Normal
        } else if queue_ms > OVERUSE_QUEUE_MS {
            // A standing queue this deep is overuse whatever the trend says: after a sudden
            // drop in capacity the trend needs a window of groups to rise, and a shallow
            // bottleneck buffer overflows first.
            Usage::Over
        } else {
            usage
        };
        self.state = self.state.next(usage);
        if let (Some((c, at)), Some(r)) = (self.ceiling, received)
            && (now.saturating_duration_since(at) > CEILING_TTL || r > c * CEILING_BREAK)
        {
            self.ceiling = None;
        }
        let loss = self.loss.unwrap_or(0.0);
        let before = self.target;
        // What the link carries: its busy rate while it queues, else what the receiver gets.
        let through = self.link.bps(now).or(received);
        match self.state {
            RateControlState::Decrease => {
                if let Some(r) = through
                    && self.last_backoff.is_none_or(|t| now.saturating_duration_since(t) >= BACKOFF_INTERVAL)
                {
                    self.target = self.target.min(r * BACKOFF);
                    self.ceiling = Some((r, now));
                    self.starting = false;
                    self.last_backoff = Some(now);
                }
                self.last_increase = Some(now);
            }
            RateControlState::Hold => self.last_increase = Some(now),
            RateControlState::Increase if loss.max(batch_loss) < LOSS_LOW || loss < LOSS_LOW => {
                let dt = self.last_increase.map_or(Duration::ZERO, |t| now.saturating_duration_since(t)).min(Duration::from_secs(1));
                // Far under what the link carried while it queued (a cut for the loss of a
                // sudden cap went too deep): back there at the start's pace.
                let under_link = self.link.bps(now).is_some_and(|l| self.target < l * BACKOFF);
                let near = self.ceiling.is_some_and(|(c, _)| self.target > c * 0.8) && !under_link;
                let growth = if self.starting || under_link { START_GROWTH } else { PROBE_GROWTH };
                self.target = if near {
                    self.target + 1200.0 * 8.0 * dt.as_secs_f64() / ADDITIVE_STEP_EVERY.as_secs_f64()
                } else {
                    self.target * growth.powf(dt.as_secs_f64())
                };
                self.last_increase = Some(now);
            }
            RateControlState::Increase => self.last_increase = Some(now),
        }
        if self.last_loss_cut.is_none_or(|t| now.saturating_duration_since(t) >= LOSS_INTERVAL) {
            if loss > LOSS_HIGH && queue_ms > HIGH_LOSS_MIN_QUEUE_MS {
                // Never far under what the path delivered meanwhile: the loss that follows a
                // sudden cap (a queue full of packets sent at the old rate) is not a measure of
                // the new capacity.
                let floor = through.map_or(MIN_BPS, |r| r * LOSS_FLOOR);
                self.target = (self.target * (1.0 - 0.5 * loss)).max(floor.min(self.target));
                self.last_loss_cut = Some(now);
                self.starting = false;
            } else if loss > LOSS_LOW
                && queue_ms > QUEUE_LOSS_DELAY_MS
                && let Some(r) = through
            {
                self.target = self.target.min(r * BACKOFF.max(1.0 - loss));
                self.last_loss_cut = Some(now);
                self.starting = false;
            }
        }
        let acked_ceiling = received.map_or(MAX_BPS, |r| (r * ACKED_HEADROOM).max(INITIAL_BPS));
        self.target = self.target.min(acked_ceiling).clamp(MIN_BPS, MAX_BPS);
        if self.target < before * 0.97 {
            tracing::debug!(
                state = ?self.state,
                threshold = self.detector.threshold,
                loss,
                queue_ms,
                received,
                "uplink estimate {before:.0} -> {:.0} bps",
                self.target
            );
        }
    }
}

impl BandwidthEstimator for Estimator {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        if reports.is_empty() {
            return;
        }
        let mut usage = self.detector.usage;
        let mut lost = 0usize;
        let (mut offset_sum, mut arrived) = (0.0, 0usize);
        for r in reports {
            let Some(arrival) = r.arrival.filter(|_| r.arrived) else {
                lost += 1;
                continue;
            };
            let epoch = *self.epoch.get_or_insert(r.departure);
            let departure_ms = r.departure.saturating_duration_since(epoch).as_secs_f64() * 1000.0;
            let offset = arrival.as_secs_f64() * 1000.0 - departure_ms;
            let base = *self.base_offset_ms.insert(self.base_offset_ms.map_or(offset, |b| b.min(offset)));
            offset_sum += offset;
            arrived += 1;
            self.received.add(arrival, r.size);
            self.link.add(arrival, departure_ms, r.size, base);
            if let Some(d) = self.groups.accumulate(r)
                && let Some(trend) = self.trend.update(d.at, d.delta_ms)
            {
                usage = self.detector.update(d.at, trend);
            }
        }
        let batch_loss = lost as f64 / reports.len() as f64;
        self.loss = Some(self.loss.map_or(batch_loss, |l| 0.8 * l + 0.2 * batch_loss));
        let received = self.received.bps();
        self.link.update(now);
        let queue_ms = match (arrived, self.base_offset_ms) {
            (1.., Some(base)) => offset_sum / arrived as f64 - base,
            _ => 0.0,
        };
        self.control(now, usage, received, batch_loss, queue_ms);
        tracing::trace!(
            target = self.target as u64,
            received = received.unwrap_or(0.0) as u64,
            link = self.link.bps(now).unwrap_or(0.0) as u64,
            ?usage,
            state = ?self.state,
            threshold = self.detector.threshold,
            loss = self.loss.unwrap_or(0.0),
            batch_loss,
            queue_ms,
            "uplink estimate"
        );
        let o = &self.out;
        o.target_bps.store(self.target as u64, Relaxed);
        o.acked_bps.store(received.unwrap_or(0.0) as u64, Relaxed);
        o.loss_permille.store((self.loss.unwrap_or(0.0) * 1000.0).round() as u32, Relaxed);
        o.overuse.store(usage == Usage::Over, Relaxed);
        o.feedbacks.fetch_add(1, Relaxed);
    }

    fn target_bitrate(&self) -> f64 {
        self.target
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::rtcp::transport_feedbacks::cc_feedback_report::Ecn;

    const PACKET: usize = 1200;

    /// A bottleneck: a FIFO served at `rate_bps`, tail-dropping what would wait longer than
    /// `max_queue`, then `prop` of propagation delay.
    struct Bottleneck {
        rate_bps: f64,
        max_queue: Duration,
        prop: Duration,
        busy_until: Instant,
    }

    impl Bottleneck {
        /// When a packet sent at `t` arrives, None when dropped.
        fn send(&mut self, t: Instant, bytes: usize) -> Option<Instant> {
            let start = self.busy_until.max(t);
            if start - t > self.max_queue {
                return None;
            }
            self.busy_until = start + Duration::from_secs_f64((bytes * 8) as f64 / self.rate_bps);
            Some(self.busy_until + self.prop)
        }
    }

    struct Sent {
        id: u64,
        departure: Instant,
        arrival: Option<Instant>,
    }

    /// One second of a closed loop: a sender at min(target, `app_limit_bps`), feedback every
    /// 100 ms on what arrived (and what was lost) up to then, delivered after `prop`. Returns
    /// per 100 ms: (target, delivered bits, packets sent, packets lost).
    struct Loop {
        est: Estimator,
        link: Bottleneck,
        epoch: Instant,
        now: Instant,
        next_id: u64,
        credit: f64,
        in_flight: VecDeque<Sent>,
    }

    impl Loop {
        fn new(rate_bps: f64) -> Self {
            let epoch = Instant::now();
            Loop {
                est: Estimator::new(Arc::new(Bwe::default())),
                link: Bottleneck { rate_bps, max_queue: Duration::from_millis(250), prop: Duration::from_millis(20), busy_until: epoch },
                epoch,
                now: epoch,
                next_id: 0,
                credit: 0.0,
                in_flight: VecDeque::new(),
            }
        }

        /// Runs `secs`; returns (target after each 100 ms, delivered bps, sent, lost) per second.
        fn run(&mut self, secs: u32, app_limit_bps: f64) -> Vec<(f64, f64, u64, u64)> {
            let mut out = Vec::new();
            for _ in 0..secs {
                let (mut delivered, mut sent, mut lost) = (0usize, 0u64, 0u64);
                for _ in 0..10 {
                    // 5 ms steps for 100 ms.
                    for _ in 0..20 {
                        self.now += Duration::from_millis(5);
                        let rate = self.est.target_bitrate().min(app_limit_bps);
                        self.credit += rate * 0.005;
                        while self.credit >= (PACKET * 8) as f64 {
                            self.credit -= (PACKET * 8) as f64;
                            let arrival = self.link.send(self.now, PACKET);
                            sent += 1;
                            lost += u64::from(arrival.is_none());
                            self.in_flight.push_back(Sent { id: self.next_id, departure: self.now, arrival });
                            self.next_id += 1;
                        }
                    }
                    // Feedback generated now at the receiver covers what arrived by now - prop
                    // (and what was lost before that); it reaches the sender prop later.
                    let seen_by = self.now - self.link.prop;
                    let mut reports = Vec::new();
                    while let Some(s) = self.in_flight.front() {
                        let done = match s.arrival {
                            Some(a) => a <= self.now,
                            None => s.departure + self.link.prop <= seen_by,
                        };
                        if !done {
                            break;
                        }
                        let s = self.in_flight.pop_front().expect("front checked");
                        delivered += s.arrival.map_or(0, |_| PACKET);
                        reports.push(PacketReport {
                            ssrc: 1,
                            id: s.id,
                            rtp_sequence_number: s.id as u16,
                            is_twcc: true,
                            twcc_sequence_number: s.id as u16,
                            size: PACKET,
                            arrived: s.arrival.is_some(),
                            departure: s.departure,
                            arrival: s.arrival.map(|a| a - self.epoch),
                            ecn: Ecn::default(),
                        });
                    }
                    self.est.on_reports(self.now + self.link.prop, &reports);
                }
                out.push((self.est.target_bitrate(), (delivered * 8) as f64, sent, lost));
            }
            out
        }
    }

    #[test]
    fn a_300_kbps_bottleneck_is_found_and_used() {
        let mut l = Loop::new(300_000.0);
        // The sender wants 1.5 Mbit/s: the estimate, not the application, is the limit.
        let secs = l.run(20, 1_500_000.0);
        println!("per second (target, delivered, sent, lost): {secs:?}");
        for (t, (target, ..)) in secs.iter().enumerate().skip(5) {
            assert!(*target <= 330_000.0, "second {t}: target {target} above a 300 kbps bottleneck");
        }
        let tail = &secs[5..];
        let delivered: f64 = tail.iter().map(|s| s.1).sum::<f64>() / tail.len() as f64;
        let (sent, lost) = tail.iter().fold((0, 0), |(s, l), x| (s + x.2, l + x.3));
        assert!(delivered >= 0.8 * 300_000.0, "uses {delivered} bps of 300 kbps");
        assert!((lost as f64) < 0.02 * sent as f64, "lost {lost} of {sent}");
    }

    #[test]
    fn the_busy_rate_is_the_links_while_the_received_rate_is_the_senders() {
        // 300 kbps; audio (120 bytes every 20 ms) and video frames of two 1200-byte packets
        // sent back to back every 133 ms: the link is busy a third of the time.
        let t0 = Instant::now();
        let mut link =
            Bottleneck { rate_bps: 300_000.0, max_queue: Duration::from_millis(250), prop: Duration::from_millis(20), busy_until: t0 };
        let (mut busy, mut received) = (BusyRate::default(), ArrivalRate::default());
        let mut sent = Vec::new();
        for ms in 0..3000u64 {
            let t = t0 + Duration::from_millis(ms);
            if ms % 20 == 0 {
                sent.push((t, 120));
            }
            if ms % 133 == 0 {
                sent.extend([(t, PACKET), (t, PACKET)]);
            }
        }
        let mut base: Option<f64> = None;
        for (t, size) in sent {
            let arrival = link.send(t, size).expect("the queue never fills") - t0;
            let departure_ms = (t - t0).as_secs_f64() * 1000.0;
            let offset = arrival.as_secs_f64() * 1000.0 - departure_ms;
            let b = *base.insert(base.map_or(offset, |b: f64| b.min(offset)));
            busy.add(arrival, departure_ms, size, b);
            received.add(arrival, size);
        }
        busy.update(t0);
        let (link_bps, got) = (busy.bps(t0).expect("a reading"), received.bps().expect("a rate"));
        println!("busy rate {link_bps:.0}, received rate {got:.0}");
        assert!((link_bps - 300_000.0).abs() < 0.05 * 300_000.0, "busy rate {link_bps:.0} on a 300 kbps link");
        assert!(got < 0.7 * 300_000.0, "received {got:.0}: the sender does not fill the link");
    }

    #[test]
    fn the_estimate_climbs_back_when_the_bottleneck_widens() {
        let mut l = Loop::new(300_000.0);
        l.run(15, 1_500_000.0);
        let before = l.est.target_bitrate();
        l.link.rate_bps = 5_000_000.0;
        let after = l.run(10, 1_500_000.0);
        println!("climb after the cap is lifted (target per second): {:?}", after.iter().map(|s| s.0 as u64).collect::<Vec<_>>());
        let last = after.last().expect("10 seconds ran").0;
        assert!(last >= 2.0 * before && last >= 700_000.0, "target {before} -> {last} within 10 s of the cap lifting");
    }

    #[test]
    fn a_rising_queue_cuts_the_estimate_before_loss_does() {
        // A bottleneck with a deep (2 s) buffer never drops: only delay can say it is full.
        let mut l = Loop::new(500_000.0);
        l.link.max_queue = Duration::from_secs(2);
        l.est = Estimator::new(Arc::new(Bwe::default()));
        let secs = l.run(12, 3_000_000.0);
        assert!(secs.iter().all(|s| s.3 == 0), "the deep buffer dropped packets");
        let target = secs.last().expect("ran").0;
        assert!(target <= 550_000.0, "delay did not bring {target} under the 500 kbps bottleneck");
    }

    #[test]
    fn an_application_limited_sender_is_not_credited_with_unused_capacity() {
        let mut l = Loop::new(10_000_000.0);
        let secs = l.run(20, 200_000.0);
        let target = secs.last().expect("ran").0;
        assert!(target <= ACKED_HEADROOM * 200_000.0 * 1.1, "target {target} for a sender using 200 kbps");
        assert!(target >= 300_000.0, "target {target} fell while nothing was congested");
    }
}
