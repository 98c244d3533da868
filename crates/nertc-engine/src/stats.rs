//! Periodic reports: `onRtcStats`, `onLocalVideoStats`, `onRemote{Video,Audio}Stats`,
//! `onNetworkQuality` every 2 s and the volume indications. Counters are totals kept by the
//! pipelines; rates are differences between two reports ([`Counters`]).

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use nertc_protocol::{TrackId, Uid};

use crate::actor::Actor;
use crate::event::{EngineEvent, LocalLayerStats, LocalVideoStats, NetworkQuality, RemoteAudioStats, RemoteVideoStats, RtcStats};
use crate::quality;
use crate::shared::lock;

/// Totals at one report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    /// Our video stream's original packets sent, and how many of them the server NACKed.
    pub tx_video_packets: u64,
    pub tx_video_lost: u64,
    pub tx_video: u64,
    pub tx_audio: u64,
    pub rx_video: u64,
    pub rx_audio: u64,
    pub captured: u64,
    pub encoded: u64,
    /// The low layer's (dual stream) sent bytes and encoded frames.
    pub tx_low: u64,
    pub low_encoded: u64,
    pub cpu_ticks: u64,
    /// Per received track: bytes, decoded frames, packets expected, packets the network lost.
    pub tracks: HashMap<TrackId, TrackCounters>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TrackCounters {
    pub bytes: u64,
    pub decoded: u64,
    pub expected: u64,
    pub lost: u64,
}

/// Rates between two reports `dt` apart.
#[derive(Debug, Clone, Copy)]
pub struct Rates {
    pub dt: Duration,
}

impl Rates {
    fn secs(&self) -> f64 {
        self.dt.as_secs_f64().max(0.001)
    }

    pub fn kbps(&self, now: u64, before: u64) -> u32 {
        (now.saturating_sub(before) as f64 * 8.0 / 1000.0 / self.secs()).round() as u32
    }

    pub fn per_s(&self, now: u64, before: u64) -> u32 {
        (now.saturating_sub(before) as f64 / self.secs()).round() as u32
    }

    /// Percent of the whole machine used, from process CPU clock ticks (USER_HZ = 100).
    pub fn cpu_percent(&self, now_ticks: u64, before_ticks: u64, cores: usize) -> u32 {
        (now_ticks.saturating_sub(before_ticks) as f64 / self.secs() / cores.max(1) as f64).round() as u32
    }
}

/// The previous report, to turn totals into rates; none before the first report of a session.
#[derive(Debug, Default)]
pub(crate) struct StatsState {
    last: Option<(Instant, Counters)>,
}

impl StatsState {
    pub fn reset(&mut self) {
        self.last = None;
    }
}

/// User + system CPU time of this process in clock ticks (0 where /proc is unavailable).
fn process_cpu_ticks() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0 };
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    field(11) + field(12)
}

/// Resident memory of this process in KiB (0 where /proc is unavailable).
fn process_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

impl Actor {
    pub(crate) fn report_stats(&mut self) {
        let Some(s) = &self.session else { return };
        let now = Instant::now();
        let (v, a) = (&self.shared.video, &self.shared.audio);
        let levels = self.shared.mixer.levels();
        let mut next = Counters::default();
        let (prev_at, prev) = self.stats.last.take().unwrap_or((now, Counters::default()));
        let first = prev_at == now;
        let rates = Rates { dt: now.duration_since(prev_at) };
        let mut remote_video = Vec::new();
        let mut remote_audio = Vec::new();
        // Per remote user over this interval: packets expected and lost on the way.
        let mut links: HashMap<Uid, (u64, u64)> = HashMap::new();
        // Per kind over all remote streams: (expected, lost) this interval, lost in total.
        let (mut rx_audio_loss, mut rx_video_loss) = (((0u64, 0u64), 0u64), ((0u64, 0u64), 0u64));
        let (mut rx_audio_jitter_ms, mut rx_video_jitter_ms) = (0, 0);
        for (track_id, r) in &s.remote.receiving {
            let now_counts = match (&r.video, &r.audio) {
                (Some(st), _) => TrackCounters {
                    bytes: st.bytes.load(Relaxed),
                    decoded: st.decoded.load(Relaxed),
                    expected: st.expected.load(Relaxed),
                    lost: st.network_lost.load(Relaxed),
                },
                (None, Some(st)) => {
                    let (packets, lost) = (st.packets.load(Relaxed), st.lost.load(Relaxed));
                    TrackCounters { bytes: st.bytes.load(Relaxed), decoded: 0, expected: packets + lost, lost }
                }
                (None, None) => continue,
            };
            let before = prev.tracks.get(track_id).copied().unwrap_or(now_counts);
            next.tracks.insert(track_id.clone(), now_counts);
            let link = links.entry(r.uid).or_default();
            link.0 += now_counts.expected.saturating_sub(before.expected);
            link.1 += now_counts.lost.saturating_sub(before.lost);
            let (bytes, pb) = (now_counts.bytes, before.bytes);
            let kind = if r.video.is_some() { &mut rx_video_loss } else { &mut rx_audio_loss };
            kind.0.0 += now_counts.expected.saturating_sub(before.expected);
            kind.0.1 += now_counts.lost.saturating_sub(before.lost);
            kind.1 += now_counts.lost;
            // The substream counts in the totals; onRemoteVideoStats lists main streams.
            if let Some(st) = r.video.as_ref().filter(|_| !r.sub) {
                next.rx_video += bytes;
                rx_video_jitter_ms = rx_video_jitter_ms.max(st.jitter_ms.load(Relaxed));
                remote_video.push(RemoteVideoStats {
                    uid: r.uid,
                    width: st.width.load(Relaxed) as u32,
                    height: st.height.load(Relaxed) as u32,
                    received_bitrate_kbps: rates.kbps(bytes, pb),
                    decoder_output_frame_rate: rates.per_s(now_counts.decoded, before.decoded),
                    packets_lost: st.lost.load(Relaxed),
                    frozen_ms: st.frozen_ms.load(Relaxed),
                });
            }
            if let Some(st) = &r.audio {
                next.rx_audio += bytes;
                let volume = levels.iter().find(|(u, _)| *u == r.uid).map_or(0, |(_, l)| volume_0_100(*l));
                let (expected, lost) = (now_counts.expected.saturating_sub(before.expected), now_counts.lost.saturating_sub(before.lost));
                let frozen_ms = st.frozen_ms.load(Relaxed);
                rx_audio_jitter_ms = rx_audio_jitter_ms.max(st.jitter_ms.load(Relaxed));
                let played_ms = st.played_ms();
                remote_audio.push(RemoteAudioStats {
                    uid: r.uid,
                    received_bitrate_kbps: rates.kbps(bytes, pb),
                    volume,
                    packets_lost: st.lost.load(Relaxed),
                    loss_rate_percent: (lost * 100).checked_div(expected).unwrap_or(0) as u32,
                    frozen_ms,
                    frozen_rate_percent: (frozen_ms * 100).checked_div(played_ms).unwrap_or(0).min(100) as u32,
                });
            }
        }
        next.tx_video = v.sent_bytes.load(Relaxed);
        next.tx_audio = a.sent_bytes.load(Relaxed);
        next.captured = v.captured.load(Relaxed);
        next.encoded = v.encoded.load(Relaxed);
        next.tx_low = v.low.sent_bytes.load(Relaxed);
        next.low_encoded = v.low.encoded.load(Relaxed);
        next.cpu_ticks = process_cpu_ticks();
        // Round trips to the server on each media path, from the ICE consent checks of the pub
        // (up) and sub (down) connections; the signaling ping stands in before they have one.
        let up_rtt = s.transport.path.up_rtt_ms().or(s.rtt_ms);
        let down_rtt = s.transport.path.down_rtt_ms().or(s.rtt_ms);
        // Our uplink: the video packets the server had to NACK (it NACKs every one it misses).
        let video_ssrc = lock(&self.shared.video.sink).as_ref().map(|sink| sink.ssrc);
        if let Some(ssrc) = video_ssrc {
            (next.tx_video_packets, next.tx_video_lost) = s.transport.path.uplink_counts(ssrc);
        }
        // The first report of a session has no rates to compare with.
        let base = if first { &next } else { &prev };
        let tx_video_sample = video_ssrc.map(|_| quality::LinkSample {
            expected: next.tx_video_packets.saturating_sub(base.tx_video_packets),
            lost: next.tx_video_lost.saturating_sub(base.tx_video_lost),
            rtt_ms: up_rtt,
        });
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        self.shared.emit(EngineEvent::RtcStats(RtcStats {
            duration_s: s.joined_at.elapsed().as_secs(),
            tx_bytes: next.tx_video + next.tx_audio,
            rx_bytes: next.rx_video + next.rx_audio,
            tx_video_kbps: rates.kbps(next.tx_video, base.tx_video),
            rx_video_kbps: rates.kbps(next.rx_video, base.rx_video),
            tx_audio_kbps: rates.kbps(next.tx_audio, base.tx_audio),
            rx_audio_kbps: rates.kbps(next.rx_audio, base.rx_audio),
            cpu_app_usage: rates.cpu_percent(next.cpu_ticks, base.cpu_ticks, cores),
            memory_app_usage_kb: process_rss_kb(),
            users: s.remote.users.len() as u32 + 1,
            up_rtt_ms: up_rtt.unwrap_or(0),
            down_rtt_ms: down_rtt.unwrap_or(0),
            tx_audio_bytes: next.tx_audio,
            tx_video_bytes: next.tx_video,
            rx_audio_bytes: next.rx_audio,
            rx_video_bytes: next.rx_video,
            rx_audio_loss_percent: percent(rx_audio_loss.0),
            rx_video_loss_percent: percent(rx_video_loss.0),
            rx_audio_lost: rx_audio_loss.1,
            rx_video_lost: rx_video_loss.1,
            rx_audio_jitter_ms,
            rx_video_jitter_ms,
            tx_video_loss_percent: tx_video_sample.map(|t| percent((t.expected, t.lost))),
            tx_video_lost: video_ssrc.map(|_| next.tx_video_lost),
        }));
        if crate::publish::is_live(s, nertc_protocol::TrackSource::Camera) {
            self.shared.emit(EngineEvent::LocalVideoStats(LocalVideoStats {
                width: v.last_width.load(Relaxed),
                height: v.last_height.load(Relaxed),
                capture_frame_rate: rates.per_s(next.captured, base.captured),
                encoder_output_frame_rate: rates.per_s(next.encoded, base.encoded),
                sent_bitrate_kbps: rates.kbps(next.tx_video, base.tx_video),
                target_bitrate_kbps: v.target_kbps.load(Relaxed),
                estimated_uplink_kbps: v.uplink.bwe.target_bps().map_or(0, |b| (b / 1000) as u32),
                encode_ms_avg: v.encode_us_total.load(Relaxed) as f32 / next.encoded.max(1) as f32 / 1000.0,
                low: lock(&v.sink).as_ref().is_some_and(|sink| sink.low.is_some()).then(|| LocalLayerStats {
                    width: v.low.width.load(Relaxed),
                    height: v.low.height.load(Relaxed),
                    encoder_output_frame_rate: rates.per_s(next.low_encoded, base.low_encoded),
                    sent_bitrate_kbps: rates.kbps(next.tx_low, base.tx_low),
                    target_bitrate_kbps: v.low.target_kbps.load(Relaxed),
                }),
            }));
        }
        // Nothing received, nothing to report (NERTC sends no empty lists).
        if !remote_video.is_empty() {
            self.shared.emit(EngineEvent::RemoteVideoStats(remote_video));
        }
        if !remote_audio.is_empty() {
            self.shared.emit(EngineEvent::RemoteAudioStats(remote_audio));
        }
        // Measured quality (crate::quality): each remote user's from their streams as they reach
        // us (their uplink, the SFU and our downlink; the same for tx and rx); ours: rx the
        // worst of what we receive, tx unknown (0) — the SFU's receiver reports on our tracks
        // carry no loss or round trip yet.
        let remote: Vec<(Uid, i32)> = s
            .remote
            .users
            .keys()
            .map(|uid| {
                let (expected, lost) = links.get(uid).copied().unwrap_or((0, 0));
                (*uid, quality::of(quality::LinkSample { expected, lost, rtt_ms: down_rtt }))
            })
            .collect();
        // Ours: tx from our video uplink (unknown while we publish no video: the server NACKs
        // video only), rx the worst of what we receive.
        let tx = tx_video_sample.map_or(quality::UNKNOWN, quality::of);
        let rx = remote.iter().map(|(_, q)| *q).max().unwrap_or(quality::UNKNOWN);
        let mut list = vec![NetworkQuality { uid: s.params.uid, tx_quality: tx, rx_quality: rx }];
        list.extend(remote.into_iter().map(|(uid, q)| NetworkQuality { uid, tx_quality: q, rx_quality: q }));
        self.shared.emit(EngineEvent::NetworkQuality(list));
        self.stats.last = Some((now, next));
    }

    /// Every 100 ms tick: the volume indications at the asked interval.
    pub(crate) fn volume_indication(&self, ticks: u64) {
        let Some(ms) = self.shared.settings().volume_indication_ms else { return };
        if self.session.is_none() || !ticks.is_multiple_of(u64::from((ms / 100).max(1))) {
            return;
        }
        // NERTC's 0-100 scale. Our own level is 0 while muted or not sending audio (the
        // encoder's last level would otherwise linger), and we are uid 0 among the speakers.
        let sending = self.shared.settings().wants_published().0 && lock(&self.shared.audio.sink).is_some();
        let local = if sending && !self.shared.audio.muted.load(Relaxed) { volume_0_100(self.shared.audio.level.load(Relaxed)) } else { 0 };
        let mut speakers: Vec<(Uid, u32)> = self.shared.mixer.levels().into_iter().map(|(uid, l)| (uid, volume_0_100(l))).collect();
        if sending {
            speakers.insert(0, (0, local));
        }
        let total_volume = volume_0_100(self.shared.mixer.mixed_level.load(Relaxed));
        self.shared.emit(EngineEvent::RemoteAudioVolumeIndication { speakers, total_volume });
        self.shared.emit(EngineEvent::LocalAudioVolumeIndication { volume: local });
    }
}

/// A level on the engine's 0-255 scale (`media::level_0_255`) on NERTC's 0-100 volume scale.
fn volume_0_100(level: u32) -> u32 {
    (level.min(255) * 100 + 127) / 255
}

/// `lost` of `expected` in percent (0 when nothing was expected).
fn percent((expected, lost): (u64, u64)) -> u32 {
    (lost * 100).checked_div(expected).unwrap_or(0).min(100) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_on_nertc_scale() {
        assert_eq!(volume_0_100(0), 0);
        assert_eq!(volume_0_100(255), 100);
        assert_eq!(volume_0_100(128), 50);
        assert_eq!(volume_0_100(1), 0);
        assert_eq!(volume_0_100(3), 1);
        assert_eq!(volume_0_100(1000), 100, "clamped");
    }

    #[test]
    fn rates_from_totals() {
        let r = Rates { dt: Duration::from_secs(2) };
        assert_eq!(r.kbps(250_000, 0), 1000, "250 kB in 2 s = 1000 kbit/s");
        assert_eq!(r.kbps(0, 10), 0, "a counter that went back (new session) is no negative rate");
        assert_eq!(r.per_s(60, 30), 15);
        assert_eq!(r.cpu_percent(100, 0, 2), 25, "100 ticks = 1 s of CPU in 2 s on 2 cores");
        let zero = Rates { dt: Duration::ZERO };
        assert!(zero.kbps(1000, 0) > 0, "no division by zero");
    }

    #[test]
    fn process_counters_are_read() {
        if cfg!(target_os = "linux") {
            assert!(process_rss_kb() > 0);
            let spin = Instant::now();
            while spin.elapsed() < Duration::from_millis(50) {
                std::hint::black_box(0u64);
            }
            assert!(process_cpu_ticks() > 0);
        }
    }
}
