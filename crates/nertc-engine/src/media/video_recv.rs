//! Remote video: RTP (tokio task) -> H.264 access units -> decoder thread -> the user's slot.
//!
//! Keyframes. The decoder can start, and restart after a loss, only at an IDR picture whose
//! access unit arrived whole. The receiver therefore hands it nothing between a loss (or the
//! stream's start) and the next whole IDR access unit ([`Assembler`] knows which units are
//! whole: begun at a known unit boundary, with no packet missing; the tail of a keyframe whose
//! start was missed is not one), and meanwhile asks the sender for a keyframe: at once, then
//! again on a timer with backoff until one comes ([`KeyframeRequests`]). Asking once is not
//! enough: the request, or the keyframe answering it, can be lost (e.g. sent before this
//! receiver's transport was up), and a sender ignores a request that comes too soon after its
//! previous one (libwebrtc: within 300 ms). A picture the decoder fails on (no parameter sets,
//! missing reference) starts the wait again.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{RecvTimeoutError, TrySendError};
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp::codec::h264::H264Packet;
use rtc::rtp::packetizer::Depacketizer;
use tokio::sync::Notify;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use nertc_protocol::Uid;

use super::reorder::Reorder;
use super::video_playout::Playout;
use super::{EventSink, SeqTracker};
use crate::codec::h264::H264Decoder;
use crate::event::EngineEvent;
use crate::frame::VideoFrame;
use crate::render::FrameSlot;

#[derive(Debug, Default)]
pub struct VideoRecvStats {
    pub bytes: AtomicU64,
    pub packets: AtomicU64,
    pub lost: AtomicU64,
    pub decoded: AtomicU64,
    pub width: AtomicU64,
    pub height: AtomicU64,
    /// Freezes and frozen time so far ([`super::freeze::FreezeMeter`]).
    pub freezes: AtomicU64,
    pub frozen_ms: AtomicU64,
    /// Packets expected so far and how many of them the network lost (before repair).
    pub expected: AtomicU64,
    pub network_lost: AtomicU64,
    /// RFC 3550 interarrival jitter of the stream's packets, ms.
    pub jitter_ms: std::sync::atomic::AtomicU32,
}

/// An access unit on its way to the decoder: its number (from 1, in the order handed over),
/// RTP timestamp, when its last packet was released in order, and its Annex-B data.
struct Unit {
    n: u64,
    ts: u32,
    complete_at: Instant,
    /// One of its packets waited in the reorder buffer (for a retransmission or a reordered
    /// packet): its completion time says more about the repair than about the network.
    repaired: bool,
    data: Bytes,
}

/// The RTP clock of video (H.264, RFC 6184).
const VIDEO_CLOCK_HZ: u32 = 90_000;

/// The first repeat of an unanswered keyframe request; longer than libwebrtc's 300 ms, within
/// which a browser sender ignores another request.
const KEYFRAME_RETRY_FIRST: Duration = Duration::from_millis(500);
/// Repeats back off (doubling) to this interval while no keyframe comes.
const KEYFRAME_RETRY_MAX: Duration = Duration::from_secs(2);

/// True when the Annex-B access unit contains an IDR slice.
fn has_idr(au: &[u8]) -> bool {
    let mut i = 0;
    while i + 3 < au.len() {
        if au[i] == 0 && au[i + 1] == 0 && au[i + 2] == 1 {
            if au[i + 3] & 0x1f == 5 {
                return true;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    false
}

/// When to ask the sender for a keyframe: only while waiting for one, at once when the wait
/// starts, then again after [`KEYFRAME_RETRY_FIRST`], doubling up to [`KEYFRAME_RETRY_MAX`],
/// until a keyframe ends the wait. Pure: the caller passes the time.
#[derive(Debug)]
struct KeyframeRequests {
    /// When the next request is due; `Some` exactly while waiting for a keyframe.
    next: Option<Instant>,
    /// The interval after the next request.
    backoff: Duration,
    /// Number of the access unit that ended the last wait (units are numbered from 1 as they
    /// are handed to the decoder); 0 before the first.
    keyframe_unit: u64,
}

impl KeyframeRequests {
    /// Waiting from the start: nothing has been decoded yet.
    fn new(now: Instant) -> Self {
        KeyframeRequests { next: Some(now), backoff: KEYFRAME_RETRY_FIRST, keyframe_unit: 0 }
    }

    /// A picture was lost or could not be decoded: wait for a keyframe, asking at once (a wait
    /// already under way keeps its schedule).
    fn lost(&mut self, now: Instant) {
        if self.next.is_none() {
            self.next = Some(now);
            self.backoff = KEYFRAME_RETRY_FIRST;
        }
    }

    /// A decodable keyframe arrived, handed to the decoder as unit `unit`: the wait is over.
    fn keyframe(&mut self, unit: u64) {
        self.next = None;
        self.keyframe_unit = unit;
    }

    /// The decoder failed on unit `unit`. From the last keyframe on, the pictures are broken
    /// until the next one; a failure before it was already repaired by it.
    fn decode_failed(&mut self, unit: u64, now: Instant) {
        if unit >= self.keyframe_unit {
            self.lost(now);
        }
    }

    fn waiting(&self) -> bool {
        self.next.is_some()
    }

    /// When [`poll`](Self::poll) next says yes; None when not waiting.
    fn deadline(&self) -> Option<Instant> {
        self.next
    }

    /// True when a request is to be sent at `now`; schedules the one after it.
    fn poll(&mut self, now: Instant) -> bool {
        match self.next {
            Some(due) if now >= due => {
                self.next = Some(now + self.backoff);
                self.backoff = (self.backoff * 2).min(KEYFRAME_RETRY_MAX);
                true
            }
            _ => false,
        }
    }
}

/// An access unit (one picture) in Annex-B.
#[derive(Debug)]
struct AccessUnit {
    data: Vec<u8>,
    /// Begun at a known unit boundary (right after the previous unit's marker packet, or at a
    /// packet that begins a unit) and no packet missing: when it holds an IDR slice the decoder
    /// can start from it.
    whole: bool,
}

/// What one RTP packet did to the [`Assembler`].
#[derive(Debug)]
struct Pushed {
    /// Packets missing just before this one.
    lost: u16,
    /// The access unit this packet completed (marker bit).
    unit: Option<AccessUnit>,
}

/// True when an H.264 RTP payload (RFC 6184) begins an access unit: its first NAL unit is an
/// SEI, a parameter set or an access unit delimiter, or the first slice of a picture
/// (`first_mb_in_slice` 0, coded as the single bit 1 right after the NAL header; constrained
/// baseline has no arbitrary slice order, so no other slice starts a picture).
fn starts_access_unit(payload: &[u8]) -> bool {
    let nal_starts = |header: u8, next: Option<&u8>| match header & 0x1f {
        1..=5 => next.is_some_and(|b| b & 0x80 != 0),
        6..=9 => true,
        _ => false,
    };
    match payload.first().map(|b| b & 0x1f) {
        None => false,
        // STAP-A: header, then 16-bit size and NAL unit for each.
        Some(24) => payload.get(3).is_some_and(|h| nal_starts(*h, payload.get(4))),
        // FU-A: indicator, FU header (start bit, NAL type), then the NAL unit's payload.
        Some(28) => payload.get(1).is_some_and(|h| h & 0x80 != 0 && nal_starts(*h, payload.get(2))),
        Some(_) => nal_starts(payload[0], payload.get(1)),
    }
}

/// Where the [`Assembler`] is in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// At the start, or after a hole: until a packet shows it begins an access unit (or a marker
    /// ends one), what arrives is the rest of a unit whose beginning is missing.
    Unknown,
    /// The last packet ended a unit, so the next one (if in sequence) begins one.
    Boundary,
    /// Inside a unit whose beginning was seen.
    InUnit,
}

/// Builds H.264 access units from one stream's RTP packets in arrival order, tracking whether
/// each is whole. A late or duplicate packet is dropped (a retransmission that arrives after
/// later packets does not repair the unit it belonged to, which was already given up).
struct Assembler {
    seqs: SeqTracker,
    depacketizer: H264Packet,
    au: Vec<u8>,
    /// The unit being built has all its packets so far, from its first.
    whole: bool,
    position: Position,
}

impl Default for Assembler {
    fn default() -> Self {
        Assembler {
            seqs: SeqTracker::default(),
            depacketizer: H264Packet::default(),
            au: Vec::new(),
            whole: false,
            position: Position::Unknown,
        }
    }
}

impl Assembler {
    /// None for a late or duplicate packet (dropped).
    fn push(&mut self, seq: u16, marker: bool, payload: &Bytes) -> Option<Pushed> {
        let lost = self.seqs.next(seq)?;
        if lost > 0 {
            self.position = Position::Unknown;
        }
        match self.position {
            Position::Boundary => {
                self.whole = true;
                self.position = Position::InUnit;
            }
            Position::Unknown if starts_access_unit(payload) => {
                self.restart();
                self.whole = true;
                self.position = Position::InUnit;
            }
            Position::Unknown if lost > 0 => self.restart(),
            Position::Unknown | Position::InUnit => {}
        }
        match self.depacketizer.depacketize(payload) {
            Ok(nals) => self.au.extend_from_slice(&nals),
            Err(e) => {
                tracing::trace!("depacketize: {e}");
                self.whole = false;
            }
        }
        if !marker {
            return Some(Pushed { lost, unit: None });
        }
        let unit = AccessUnit { data: std::mem::take(&mut self.au), whole: self.whole };
        // A fragment left open at the marker belongs to no later unit.
        self.restart();
        self.position = Position::Boundary;
        Some(Pushed { lost, unit: Some(unit) })
    }

    /// Drops what is being assembled: the unit under way, and a fragmented NAL unit (FU-A) in
    /// the depacketizer, which would otherwise be glued onto the next fragmented NAL unit.
    fn restart(&mut self) {
        self.au.clear();
        self.depacketizer = H264Packet::default();
        self.whole = false;
    }
}

/// From the decoder thread to the receive task: the latest access unit (by number) the decoder
/// failed on.
#[derive(Default)]
struct DecodeFailures {
    latest: AtomicU64,
    notify: Notify,
}

/// Receives until the track ends; spawn it on the engine runtime.
///
/// `rtt_ms` reads the current round trip to the server (None before it is measured): the
/// reorder buffer waits longer for retransmissions on a longer path. `stream_type` (main or
/// sub) goes into `onFirstVideoFrameDecoded`.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    track: Arc<dyn TrackRemote>,
    uid: Uid,
    stream_type: i32,
    slot: Arc<FrameSlot>,
    events: EventSink,
    stats: Arc<VideoRecvStats>,
    rtt_ms: impl Fn() -> Option<u32> + Send + 'static,
    key: Option<Arc<crate::crypto::MediaKey>>,
) {
    let failures = Arc::new(DecodeFailures::default());
    let decoder = {
        let events = events.clone();
        let stats = stats.clone();
        let failures = failures.clone();
        // The decoder thread ends (joined) when this task does. Decoded pictures wait for their
        // show time ([`Playout`]) in order, then go to the slot.
        super::Worker::<Unit>::spawn("nertc-video-dec", 8, move |au_rx| {
            let mut dec = match H264Decoder::new() {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!("cannot create the H.264 decoder: {e}");
                    return;
                }
            };
            let mut first = true;
            let mut freezes = super::freeze::FreezeMeter::default();
            let mut playout = Playout::default();
            let mut waiting: VecDeque<(Instant, VideoFrame)> = VecDeque::new();
            let mut mismatch = crate::crypto::Mismatch::default();
            let mut sei_seen = crate::codec::sei::Dedup::default();
            loop {
                let next = match waiting.front() {
                    Some((at, _)) => au_rx.recv_timeout(at.saturating_duration_since(Instant::now())),
                    None => au_rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                };
                let next = match next {
                    Ok(unit) => match crate::crypto::open_video(key.as_deref(), unit.data.clone()) {
                        Ok(data) => Ok(Unit { data, ..unit }),
                        Err(why) => {
                            mismatch.dropped(uid, "video", why, &events);
                            failures.latest.fetch_max(unit.n, Relaxed);
                            failures.notify.notify_one();
                            Err(RecvTimeoutError::Timeout)
                        }
                    },
                    Err(e) => Err(e),
                };
                if let Ok(unit) = &next {
                    // `sendSEIMsg` data travels in the unit as SEI NAL units.
                    // A message comes again on the keyframes of the next second: once each.
                    for (seq, data) in crate::codec::sei::messages(&unit.data) {
                        if sei_seen.fresh(seq) {
                            events.send(EngineEvent::RecvSEIMsg { uid, data });
                        }
                    }
                }
                match next {
                    Ok(unit) => match dec.decode(&unit.data) {
                        Ok(Some(frame)) => {
                            let after_previous = waiting.back().map_or(unit.complete_at, |(at, _)| *at);
                            waiting.push_back((playout.show_at(unit.ts, unit.complete_at, unit.repaired).max(after_previous), frame));
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::debug!(uid, unit = unit.n, "decode error: {e}");
                            failures.latest.fetch_max(unit.n, Relaxed);
                            failures.notify.notify_one();
                        }
                    },
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
                let now = Instant::now();
                while let Some((_, frame)) = waiting.pop_front_if(|(at, _)| *at <= now) {
                    freezes.frame(now);
                    stats.freezes.store(freezes.freezes, Relaxed);
                    stats.frozen_ms.store(freezes.frozen.as_millis() as u64, Relaxed);
                    stats.decoded.fetch_add(1, Relaxed);
                    let old = (stats.width.swap(frame.width as u64, Relaxed), stats.height.swap(frame.height as u64, Relaxed));
                    if first {
                        first = false;
                        events.send(EngineEvent::FirstVideoFrameDecoded { uid, width: frame.width, height: frame.height, stream_type });
                    } else if old != (u64::from(frame.width), u64::from(frame.height)) {
                        let (width, height) = (frame.width, frame.height);
                        events.send(EngineEvent::RemoteVideoReceiveSizeChanged { uid, stream_type, width, height });
                    }
                    slot.put(Arc::new(frame));
                }
            }
        })
    };
    let decoder = match decoder {
        Ok(worker) => worker,
        Err(e) => {
            tracing::error!("cannot start the video decoder thread: {e}");
            return;
        }
    };
    let mut order = Reorder::new(reorder_wait(None));
    let mut jitter = super::ArrivalJitter::default();
    let mut units = Units { assembler: Assembler::default(), requests: KeyframeRequests::new(Instant::now()), handed: 0, held: false };
    // Known from the first packet; keyframe requests name it.
    let mut media_ssrc: Option<u32> = None;
    let mut newest: Option<u16> = None;
    loop {
        if let Some(ssrc) = media_ssrc
            && units.requests.poll(Instant::now())
        {
            tracing::debug!(uid, "keyframe request");
            let pli = PictureLossIndication { sender_ssrc: 0, media_ssrc: ssrc };
            if let Err(e) = track.write_rtcp(vec![Box::new(pli)]).await {
                tracing::debug!(uid, "keyframe request not sent: {e}");
            }
        }
        let retry_at = units.requests.deadline().filter(|_| media_ssrc.is_some());
        let wake_at = [retry_at, order.deadline()].into_iter().flatten().min();
        let ev = tokio::select! {
            ev = track.poll() => ev,
            () = tokio::time::sleep_until(tokio::time::Instant::from_std(wake_at.unwrap_or_else(Instant::now))), if wake_at.is_some() => {
                for (seq, p) in order.poll(Instant::now()) {
                    units.packet(seq, &p, &stats, &decoder);
                }
                continue;
            }
            () = failures.notify.notified() => {
                units.requests.decode_failed(failures.latest.load(Relaxed), Instant::now());
                continue;
            }
        };
        let pkt = match ev {
            Some(TrackRemoteEvent::OnRtpPacket(pkt)) => pkt,
            Some(TrackRemoteEvent::OnEnded) | None => break,
            Some(_) => continue,
        };
        if media_ssrc.is_none() {
            media_ssrc = Some(pkt.header.ssrc);
            events.send(EngineEvent::FirstVideoDataReceived { uid });
        }
        stats.packets.fetch_add(1, Relaxed);
        stats.bytes.fetch_add(pkt.payload.len() as u64, Relaxed);
        let now = Instant::now();
        jitter.packet(pkt.header.timestamp, now, VIDEO_CLOCK_HZ);
        stats.jitter_ms.store(jitter.ms(VIDEO_CLOCK_HZ), Relaxed);
        order.set_max_wait(reorder_wait(rtt_ms()));
        let seq = pkt.header.sequence_number;
        // Behind the newest seen: a retransmission or a reordered packet that fills a hole.
        let filled_hole = newest.is_some_and(|n: u16| (seq.wrapping_sub(n) as i16) < 0);
        if !filled_hole {
            newest = Some(seq);
        }
        let item = Pkt { marker: pkt.header.marker, ts: pkt.header.timestamp, arrived: now, filled_hole, payload: pkt.payload };
        for (seq, p) in order.push(seq, item, now) {
            units.packet(seq, &p, &stats, &decoder);
        }
        let (expected, lost) = order.counts();
        stats.expected.store(expected, Relaxed);
        stats.network_lost.store(lost, Relaxed);
    }
}

/// How long a missing packet is waited for before the receiver gives up on it and resynchronises
/// on a keyframe: a few NACK rounds ([`nertc_rtc::pc::NACK_INTERVAL`] each) plus their round
/// trips — at least [`REORDER_WAIT_MIN`], and three round trips to the server (plus the NACK
/// interval and some slack) on a long path: a loss on the publisher's leg is repaired there
/// first, and a retransmission can be lost too. Capped at [`REORDER_WAIT_MAX`]. Chromium's
/// jitter buffer makes the same trade (an RTT-based budget for retransmissions); on a link
/// with a long RTT this wait is what a loss costs in latency.
fn reorder_wait(rtt_ms: Option<u32>) -> Duration {
    let by_rtt = Duration::from_millis(u64::from(rtt_ms.unwrap_or(0)) * 3 + 100);
    by_rtt.clamp(REORDER_WAIT_MIN, REORDER_WAIT_MAX)
}

const REORDER_WAIT_MIN: Duration = Duration::from_millis(400);
const REORDER_WAIT_MAX: Duration = Duration::from_millis(1500);

/// Packets in sequence order → access units → the decoder, with the keyframe logic.
struct Units {
    assembler: Assembler,
    requests: KeyframeRequests,
    /// Number of the last unit handed to the decoder.
    handed: u64,
    /// A packet of the unit under way waited in the reorder buffer or filled a hole.
    held: bool,
}

/// A packet released this long after it arrived waited in the reorder buffer.
const HELD: Duration = Duration::from_millis(2);

/// What the reorder buffer keeps of a packet.
struct Pkt {
    marker: bool,
    ts: u32,
    arrived: Instant,
    /// It came after a later packet: a retransmission or a reordered packet. (The packets
    /// behind it waited for it; it completes its picture late even though it did not wait.)
    filled_hole: bool,
    payload: Bytes,
}

impl Units {
    fn packet(&mut self, seq: u16, p: &Pkt, stats: &VideoRecvStats, decoder: &super::Worker<Unit>) {
        let now = Instant::now();
        self.held |= p.filled_hole || now.duration_since(p.arrived) > HELD;
        // A unit ends at its marker packet (whatever becomes of it below), in this call.
        let repaired = p.marker && std::mem::take(&mut self.held);
        let ts = p.ts;
        let Some(pushed) = self.assembler.push(seq, p.marker, &p.payload) else { return };
        if pushed.lost > 0 {
            stats.lost.fetch_add(u64::from(pushed.lost), Relaxed);
            self.requests.lost(Instant::now());
        }
        let Some(unit) = pushed.unit else { return };
        if self.requests.waiting() {
            if !(unit.whole && has_idr(&unit.data)) {
                return;
            }
            self.requests.keyframe(self.handed + 1);
        }
        self.handed += 1;
        let unit = Unit { n: self.handed, ts, complete_at: now, repaired, data: Bytes::from(unit.data) };
        if let Err(TrySendError::Full(_)) = decoder.input().try_send(unit) {
            // The decoder is behind: drop and resynchronise on the next keyframe.
            self.requests.lost(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RTP payload of one whole NAL unit (single NAL unit packet); a slice is the
    /// picture's first (`first_mb_in_slice` 0).
    fn nal(kind: u8, len: usize) -> Bytes {
        let mut v = vec![0x60 | kind];
        v.extend((0..len).map(|i| if i == 0 { 0x88 } else { i as u8 }));
        Bytes::from(v)
    }

    /// FU-A fragments of one slice NAL unit of `kind`: start, `middles` middles, end. The
    /// slice's first byte says whether it is the picture's first slice.
    fn slice(kind: u8, first: bool, middles: usize) -> Vec<Bytes> {
        let indicator = 0x60 | 28;
        let mut out = vec![Bytes::from(vec![indicator, 0x80 | kind, if first { 0x88 } else { 0x44 }, 2, 3])];
        for _ in 0..middles {
            out.push(Bytes::from(vec![indicator, kind, 4, 5, 6]));
        }
        out.push(Bytes::from(vec![indicator, 0x40 | kind, 7, 8, 9]));
        out
    }

    /// A P picture in one slice.
    fn p_picture() -> Vec<Bytes> {
        slice(1, true, 1)
    }

    /// A keyframe as browsers send it: SPS and PPS in a STAP-A, then an IDR slice in FU-A
    /// fragments.
    fn keyframe() -> Vec<Bytes> {
        let (sps, pps) = (nal(7, 8), nal(8, 4));
        let mut stap = vec![0x60 | 24];
        for n in [&sps, &pps] {
            stap.extend((n.len() as u16).to_be_bytes());
            stap.extend_from_slice(n);
        }
        let mut v = vec![Bytes::from(stap)];
        v.extend(slice(5, true, 3));
        v
    }

    /// Pushes `payloads` from `seq` on, the marker bit on the last one if `marker`; returns the
    /// unit completed last and the packets reported lost.
    fn push_all(a: &mut Assembler, seq: &mut u16, payloads: &[Bytes], marker: bool) -> (Option<AccessUnit>, u16) {
        let mut lost = 0;
        let mut unit = None;
        for (i, p) in payloads.iter().enumerate() {
            let pushed = a.push(*seq, marker && i + 1 == payloads.len(), p).expect("in order");
            lost += pushed.lost;
            unit = pushed.unit.or(unit);
            *seq = seq.wrapping_add(1);
        }
        (unit, lost)
    }

    /// Pushes `payloads` as one picture (marker on the last); returns its unit.
    fn picture(a: &mut Assembler, seq: &mut u16, payloads: &[Bytes]) -> (AccessUnit, u16) {
        let (unit, lost) = push_all(a, seq, payloads, true);
        (unit.expect("the marker packet ends a unit"), lost)
    }

    #[test]
    fn idr_detection() {
        assert!(has_idr(&[0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2, 0, 0, 1, 0x65, 3]));
        assert!(!has_idr(&[0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2]), "parameter sets alone are no picture");
        assert!(!has_idr(&[0, 0, 0, 1, 0x41, 0x65, 0x65]), "a P slice whose payload bytes look like a NAL header");
    }

    #[test]
    fn access_unit_starts() {
        let key = keyframe();
        assert!(starts_access_unit(&key[0]), "STAP-A with SPS first");
        assert!(starts_access_unit(&nal(7, 4)) && starts_access_unit(&nal(8, 4)) && starts_access_unit(&nal(9, 1)));
        assert!(starts_access_unit(&key[1]), "FU-A start of a picture's first slice");
        assert!(!starts_access_unit(&key[2]) && !starts_access_unit(&key[5]), "FU-A middle and end");
        assert!(!starts_access_unit(&slice(1, false, 0)[0]), "a picture's second slice");
        assert!(starts_access_unit(&nal(1, 3)), "single-NAL first slice");
        assert!(!starts_access_unit(&[0x61, 0x44, 1]), "single-NAL later slice");
        assert!(!starts_access_unit(&[]) && !starts_access_unit(&[0x6c, 0xff]), "empty, filler data");
        assert!(!starts_access_unit(&[0x7c]) && !starts_access_unit(&[0x78, 0, 9]), "truncated FU-A and STAP-A");
    }

    #[test]
    fn joining_mid_picture_the_rest_of_it_is_not_whole() {
        let mut a = Assembler::default();
        let mut seq = 65530;
        let key = keyframe();
        let (unit, _) = picture(&mut a, &mut seq, &key[2..]);
        assert!(has_idr(&unit.data), "the tail still holds IDR slice data");
        assert!(!unit.whole, "the tail of an IDR is not a keyframe to start from");
        // The next picture starts after a marker, across the sequence number wrap.
        let (unit, lost) = picture(&mut a, &mut seq, &keyframe());
        assert_eq!(lost, 0);
        assert!(unit.whole && has_idr(&unit.data));
        let (unit, _) = picture(&mut a, &mut seq, &p_picture());
        assert!(unit.whole);
    }

    #[test]
    fn joining_at_a_keyframe_it_is_whole() {
        let mut a = Assembler::default();
        let mut seq = 7;
        let (unit, _) = picture(&mut a, &mut seq, &keyframe());
        assert!(unit.whole);
        assert!(unit.data.starts_with(&[0, 0, 0, 1, 0x67]), "the parameter sets were kept when the IDR slice began");
        assert!(has_idr(&unit.data));
    }

    #[test]
    fn a_hole_spoils_only_the_unit_it_is_in_and_no_fragment_leaks() {
        let mut a = Assembler::default();
        let mut seq = 100;
        picture(&mut a, &mut seq, &p_picture());
        // A keyframe whose IDR end fragment is lost: the FU-A is left open.
        let key = keyframe();
        let (unit, _) = push_all(&mut a, &mut seq, &key[..key.len() - 1], false);
        assert!(unit.is_none(), "no marker: nothing completed");
        seq = seq.wrapping_add(1);
        // The next picture begins right after the hole: reported lost, whole, and exactly its
        // own NAL unit (the open IDR fragment was not glued onto it).
        let (unit, lost) = picture(&mut a, &mut seq, &p_picture());
        assert_eq!(lost, 1);
        assert!(unit.whole);
        assert_eq!(unit.data, [0, 0, 0, 1, 0x61, 0x88, 2, 3, 4, 5, 6, 7, 8, 9]);

        // A hole inside a keyframe (a middle fragment lost) spoils it.
        let key = keyframe();
        let (_, lost) = push_all(&mut a, &mut seq, &key[..3], false);
        assert_eq!(lost, 0);
        seq = seq.wrapping_add(1);
        let (unit, lost) = picture(&mut a, &mut seq, &key[4..]);
        assert_eq!(lost, 1);
        assert!(!unit.whole, "a keyframe with a hole is not whole");

        // A hole that took a picture's start: the rest of it is not whole, even when what
        // follows the hole is the start of its second slice.
        let mut two_slices = slice(1, true, 1);
        two_slices.extend(slice(1, false, 1));
        seq = seq.wrapping_add(1);
        let (unit, lost) = picture(&mut a, &mut seq, &two_slices[1..]);
        assert_eq!(lost, 1);
        assert!(!unit.whole);
        seq = seq.wrapping_add(3);
        let (unit, lost) = picture(&mut a, &mut seq, &two_slices[3..]);
        assert_eq!(lost, 3);
        assert!(!unit.whole);

        // A hole that took the end of the previous picture does not spoil a keyframe after it.
        let p = p_picture();
        push_all(&mut a, &mut seq, &p[..1], false);
        seq = seq.wrapping_add(p.len() as u16 - 1);
        let (unit, lost) = picture(&mut a, &mut seq, &keyframe());
        assert_eq!(lost, p.len() as u16 - 1);
        assert!(unit.whole && has_idr(&unit.data));
    }

    #[test]
    fn late_and_duplicate_packets_are_dropped() {
        let mut a = Assembler::default();
        assert!(a.push(10, true, &nal(1, 4)).is_some());
        assert!(a.push(10, true, &nal(1, 4)).is_none());
        assert!(a.push(12, true, &nal(1, 4)).is_some());
        assert!(a.push(11, true, &nal(1, 4)).is_none(), "a late retransmission");
    }

    #[test]
    fn keyframe_requests_repeat_with_backoff_until_a_keyframe() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut r = KeyframeRequests::new(t0);
        assert!(r.waiting());
        assert!(r.poll(t0), "the first request goes at once");
        assert!(!r.poll(t0), "not twice");
        assert_eq!(r.deadline(), Some(ms(500)));
        assert!(!r.poll(ms(499)));
        assert!(r.poll(ms(500)));
        assert_eq!(r.deadline(), Some(ms(1500)), "backs off to 1 s");
        assert!(r.poll(ms(1500)));
        assert_eq!(r.deadline(), Some(ms(3500)), "then 2 s");
        assert!(r.poll(ms(3600)), "a late wake-up still sends");
        assert_eq!(r.deadline(), Some(ms(5600)), "capped at 2 s, counted from the send");
        // More losses while waiting keep the schedule.
        r.lost(ms(3700));
        assert_eq!(r.deadline(), Some(ms(5600)));

        r.keyframe(1);
        assert!(!r.waiting());
        assert_eq!(r.deadline(), None);
        assert!(!r.poll(ms(10_000)), "nothing to ask for");

        // A new loss: at once, with the backoff started over.
        r.lost(ms(20_000));
        assert!(r.poll(ms(20_000)));
        assert_eq!(r.deadline(), Some(ms(20_500)));
    }

    #[test]
    fn decoder_failures_from_the_last_keyframe_on_start_a_wait() {
        let t0 = Instant::now();
        let mut r = KeyframeRequests::new(t0);
        assert!(r.poll(t0));
        r.keyframe(10);
        // A late report about a picture before the keyframe: the keyframe repaired it.
        r.decode_failed(9, t0);
        assert!(!r.waiting());
        // The keyframe itself failed (e.g. its parameter sets were missing).
        r.decode_failed(10, t0);
        assert!(r.waiting());
        assert!(r.poll(t0), "asks at once");
        r.keyframe(20);
        r.decode_failed(25, t0);
        assert!(r.waiting(), "a broken picture after the keyframe");
    }
}
