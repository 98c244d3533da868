//! The NACK responder: answers a receiver's NACKs from a cache of what was sent, in the
//! interceptor chain where webrtc-rs's own would sit ([`rtc::interceptor::Slot::NackResponder`]).
//!
//! webrtc-rs's responder resends every sequence number of every NACK. A receiver asks again for
//! a packet still missing on a timer (ours every 40 ms, up to ten times), and on a congested
//! link the round trip is the queue's depth, hundreds of milliseconds: each lost packet went out
//! up to ten more times, into the queue that lost it. On a downlink capped at 300 kbit/s the
//! retransmissions kept it overfull after the server had fallen back to the low layer (which
//! fits), and the subscriber decoded 3 of its 15 frames a second. So, as libwebrtc's sender
//! does, this one
//! - answers the first request for a packet at once, and does not send it again within one
//!   round trip of its last retransmission (the receiver could not have seen that yet). The
//!   round trip is measured from the receivers' reports (RFC 3550 §6.4.1: the sender report
//!   they echo, less the time they held it); before the first, repeats are not held back.
//!   (Counting from the original sending too, with a 5 ms floor, held back most first requests:
//!   the engine asks the moment it sees a gap, a millisecond after the packet left on
//!   loopback, and its next request came 40 ms later: +40 ms glass-to-glass at 5 % loss);
//! - spends on retransmissions at most [`RETRANSMIT_SHARE`] of the bytes it sends new (a
//!   budget that what it sends fills and retransmissions drain, up to [`BUDGET_MAX`]).
//!
//! Retransmissions go out with [`Attribute::Retransmission`] (as RTX when the stream has an
//! RTX SSRC), wire-ward through congestion control and pacing like webrtc-rs's.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use rtc::interceptor::{Attribute, AttributedPacket, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use rtc::sansio::Protocol;
use rtc::shared::TransportContext;
use rtc::shared::error::Error;

use crate::tap::{Feedback, FeedbackCounter};

/// Retransmitted bytes at most, as a share of the bytes sent new.
pub const RETRANSMIT_SHARE: f64 = 0.5;
/// The retransmission budget saved up at most (bytes): a burst of losses (a keyframe's
/// packets) is answered at once.
const BUDGET_MAX: f64 = 150_000.0;
/// Sender reports remembered for matching the receivers' echoes.
const SENT_REPORTS: usize = 16;

/// Builds [`NackResponder`]s.
#[derive(Clone)]
pub struct NackResponderBuilder {
    size: u16,
    counter: Option<FeedbackCounter>,
}

impl NackResponderBuilder {
    /// `size`: packets kept per stream (rounded up to a power of two).
    pub fn new(size: u16) -> Self {
        NackResponderBuilder { size, counter: None }
    }

    /// Tells `counter` of each retransmission ([`Feedback::Resent`]).
    pub fn with_counter(mut self, counter: Option<FeedbackCounter>) -> Self {
        self.counter = counter;
        self
    }

    pub fn build(self) -> NackResponder {
        NackResponder {
            size: usize::from(self.size.max(1)).next_power_of_two(),
            streams: HashMap::new(),
            sent_reports: VecDeque::new(),
            rtt: None,
            budget: BUDGET_MAX / 4.0,
            counter: self.counter,
            read_queue: VecDeque::new(),
            write_queue: VecDeque::new(),
        }
    }
}

/// A sent packet, kept for retransmission.
struct Kept {
    pkt: rtc::rtp::Packet,
    /// When it was last sent again.
    resent_at: Option<Instant>,
}

/// One outgoing stream that negotiated NACK.
struct Stream {
    /// Indexed by sequence number modulo its length (a power of two).
    cache: Vec<Option<Kept>>,
    rtx: Option<(u32, u8)>,
    rtx_seq: u16,
}

pub struct NackResponder {
    size: usize,
    streams: HashMap<u32, Stream>,
    /// The middle 32 bits of each recent sender report's NTP time, and when it went out.
    sent_reports: VecDeque<(u32, Instant)>,
    /// Smoothed round trip, from the receivers' reports.
    rtt: Option<Duration>,
    /// Bytes that may be retransmitted now.
    budget: f64,
    counter: Option<FeedbackCounter>,
    read_queue: VecDeque<TaggedPacket>,
    write_queue: VecDeque<TaggedPacket>,
}

impl NackResponder {
    /// The round trip retransmissions are spaced by.
    pub fn rtt(&self) -> Duration {
        self.rtt.unwrap_or_default()
    }

    fn handle_nack(&mut self, now: Instant, nack: &TransportLayerNack) {
        let spacing = self.rtt();
        let Some(stream) = self.streams.get_mut(&nack.media_ssrc) else { return };
        let mask = stream.cache.len() - 1;
        for seq in nack.nacks.iter().flat_map(|pair| pair.packet_list()) {
            let Some(kept) = stream.cache[usize::from(seq) & mask].as_mut().filter(|k| k.pkt.header.sequence_number == seq) else {
                continue; // older than the cache
            };
            if kept.resent_at.is_some_and(|t| now.duration_since(t) < spacing) {
                continue; // the last retransmission may still be on its way
            }
            let bytes = kept.pkt.payload.len() as f64;
            if bytes > self.budget {
                continue;
            }
            self.budget -= bytes;
            kept.resent_at = Some(now);
            if let Some(count) = &self.counter {
                count(Feedback::Resent { ssrc: nack.media_ssrc });
            }
            let pkt = match stream.rtx {
                Some((ssrc, payload_type)) => {
                    // RFC 4588: the original sequence number, then the original payload.
                    let original = &kept.pkt;
                    let mut payload = Vec::with_capacity(2 + original.payload.len());
                    payload.extend_from_slice(&seq.to_be_bytes());
                    payload.extend_from_slice(&original.payload);
                    stream.rtx_seq = stream.rtx_seq.wrapping_add(1);
                    rtc::rtp::Packet {
                        header: rtc::rtp::header::Header {
                            version: 2,
                            ssrc,
                            payload_type,
                            sequence_number: stream.rtx_seq,
                            timestamp: original.header.timestamp,
                            marker: original.header.marker,
                            ..Default::default()
                        },
                        payload: payload.into(),
                    }
                }
                None => kept.pkt.clone(),
            };
            self.write_queue.push_back(TaggedPacket {
                now,
                transport: TransportContext::default(),
                message: AttributedPacket::new(Packet::Rtp(pkt)).with(Attribute::Retransmission),
            });
        }
    }

    /// A reception report's echo of one of our sender reports gives the round trip.
    fn handle_report(&mut self, now: Instant, last_sr: u32, delay: u32) {
        if last_sr == 0 {
            return; // no sender report received yet
        }
        let Some(&(_, sent_at)) = self.sent_reports.iter().find(|(ntp, _)| *ntp == last_sr) else { return };
        // `delay`: how long the receiver held our report, in 1/65536 s.
        let held = Duration::from_secs_f64(f64::from(delay) / 65_536.0);
        let rtt = now.duration_since(sent_at).saturating_sub(held);
        self.rtt = Some(match self.rtt {
            None => rtt,
            Some(old) => old.mul_f64(0.75) + rtt.mul_f64(0.25),
        });
        tracing::trace!(sample_ms = rtt.as_secs_f64() * 1000.0, held_ms = held.as_secs_f64() * 1000.0, smoothed = ?self.rtt, "NACK responder: round trip");
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for NackResponder {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            for p in packets {
                let any = p.as_any();
                if let Some(nack) = any.downcast_ref::<TransportLayerNack>() {
                    self.handle_nack(msg.now, nack);
                    continue;
                }
                let blocks = match (any.downcast_ref::<ReceiverReport>(), any.downcast_ref::<SenderReport>()) {
                    (Some(rr), _) => &rr.reports,
                    (_, Some(sr)) => &sr.reports,
                    _ => continue,
                };
                for r in blocks {
                    if self.streams.contains_key(&r.ssrc) {
                        self.handle_report(msg.now, r.last_sender_report, r.delay);
                    }
                }
            }
        }
        self.read_queue.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read_queue.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        match &msg.message.packet {
            Packet::Rtp(pkt) => {
                if let Some(stream) = self.streams.get_mut(&pkt.header.ssrc) {
                    let mask = stream.cache.len() - 1;
                    stream.cache[usize::from(pkt.header.sequence_number) & mask] = Some(Kept { pkt: pkt.clone(), resent_at: None });
                    self.budget = (self.budget + RETRANSMIT_SHARE * pkt.payload.len() as f64).min(BUDGET_MAX);
                }
            }
            Packet::Rtcp(packets) => {
                for sr in packets.iter().filter_map(|p| p.as_any().downcast_ref::<SenderReport>()) {
                    // The middle 32 bits of the NTP timestamp, as a report block echoes them.
                    let ntp = (sr.ntp_time >> 16) as u32;
                    if self.sent_reports.len() == SENT_REPORTS {
                        self.sent_reports.pop_front();
                    }
                    self.sent_reports.push_back((ntp, msg.now));
                }
            }
            _ => {}
        }
        self.write_queue.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write_queue.pop_front()
    }
}

impl Interceptor for NackResponder {
    fn bind_local_stream(&mut self, info: &StreamInfo) {
        if info.rtcp_feedback.iter().any(|fb| fb.typ == "nack" && fb.parameter.is_empty()) {
            let rtx = info.ssrc_rtx.zip(info.payload_type_rtx);
            let cache = std::iter::repeat_with(|| None).take(self.size).collect();
            self.streams.insert(info.ssrc, Stream { cache, rtx, rtx_seq: 0 });
        }
    }
    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        self.streams.remove(&info.ssrc);
    }
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::interceptor::RTCPFeedback;
    use rtc::rtcp::reception_report::ReceptionReport;
    use rtc::rtcp::transport_feedbacks::transport_layer_nack::NackPair;

    const SSRC: u32 = 0x1234;

    fn responder() -> NackResponder {
        let mut r = NackResponderBuilder::new(64).build();
        let info = StreamInfo {
            ssrc: SSRC,
            rtcp_feedback: vec![RTCPFeedback { typ: "nack".into(), parameter: String::new() }],
            ..Default::default()
        };
        r.bind_local_stream(&info);
        r
    }

    fn tagged(now: Instant, packet: Packet) -> TaggedPacket {
        TaggedPacket { now, transport: TransportContext::default(), message: AttributedPacket::new(packet) }
    }

    fn send(r: &mut NackResponder, now: Instant, seq: u16, bytes: usize) {
        let pkt = rtc::rtp::Packet {
            header: rtc::rtp::header::Header { version: 2, ssrc: SSRC, sequence_number: seq, ..Default::default() },
            payload: vec![0u8; bytes].into(),
        };
        r.handle_write(tagged(now, Packet::Rtp(pkt))).expect("write");
        assert!(r.poll_write().is_some());
    }

    fn nack(r: &mut NackResponder, now: Instant, seqs: &[u16]) -> Vec<u16> {
        let nacks = seqs.iter().map(|&s| NackPair { packet_id: s, lost_packets: 0 }).collect();
        let n = TransportLayerNack { sender_ssrc: 1, media_ssrc: SSRC, nacks };
        r.handle_read(tagged(now, Packet::Rtcp(vec![Box::new(n)]))).expect("read");
        assert!(r.poll_read().is_some());
        std::iter::from_fn(|| r.poll_write())
            .map(|m| match m.message.packet {
                Packet::Rtp(p) => {
                    assert!(m.message.attributes.iter().any(|a| matches!(a, Attribute::Retransmission)));
                    p.header.sequence_number
                }
                _ => panic!("only retransmissions"),
            })
            .collect()
    }

    /// Our sender report at `sent`, echoed by the receiver at `back` after holding it `held`.
    fn round_trip(r: &mut NackResponder, sent: Instant, back: Instant, held: Duration) {
        let ntp = 0x0123_4567_89ab_cdef_u64;
        let sr = SenderReport { ssrc: SSRC, ntp_time: ntp, ..Default::default() };
        r.handle_write(tagged(sent, Packet::Rtcp(vec![Box::new(sr)]))).expect("write");
        assert!(r.poll_write().is_some());
        let block = ReceptionReport {
            ssrc: SSRC,
            last_sender_report: (ntp >> 16) as u32,
            delay: (held.as_secs_f64() * 65_536.0) as u32,
            ..Default::default()
        };
        let rr = ReceiverReport { ssrc: 1, reports: vec![block], ..Default::default() };
        r.handle_read(tagged(back, Packet::Rtcp(vec![Box::new(rr)]))).expect("read");
        assert!(r.poll_read().is_some());
    }

    #[test]
    fn a_packet_goes_out_again_once_per_round_trip() {
        let t0 = Instant::now();
        let mut r = responder();
        round_trip(&mut r, t0, t0 + Duration::from_millis(250), Duration::from_millis(50));
        assert!(r.rtt().abs_diff(Duration::from_millis(200)) < Duration::from_millis(1), "{:?}", r.rtt());
        for seq in 0..10 {
            send(&mut r, t0 + Duration::from_millis(300), seq, 1000);
        }
        let at = |ms| t0 + Duration::from_millis(ms);
        // The first request is answered at once.
        assert_eq!(nack(&mut r, at(301), &[3, 4]), vec![3, 4]);
        // The receiver asks again every 40 ms; the retransmission is still on its way.
        for ms in [341, 381, 421, 461] {
            assert_eq!(nack(&mut r, at(ms), &[3, 4]), Vec::<u16>::new(), "at {ms} ms");
        }
        assert_eq!(nack(&mut r, at(511), &[4]), vec![4]);
        // Not in the cache (never sent, or long gone): nothing.
        assert_eq!(nack(&mut r, at(800), &[40]), Vec::<u16>::new());
    }

    #[test]
    fn before_any_report_every_request_is_answered() {
        let t0 = Instant::now();
        let mut r = responder();
        send(&mut r, t0, 7, 500);
        for ms in [1, 41, 81] {
            assert_eq!(nack(&mut r, t0 + Duration::from_millis(ms), &[7]), vec![7], "at {ms} ms");
        }
    }

    #[test]
    fn retransmissions_stay_within_their_share_of_what_is_sent() {
        let t0 = Instant::now();
        let mut r = responder();
        r.budget = 0.0;
        // 40 packets of 1000 bytes sent: 20 000 bytes of retransmissions allowed.
        for seq in 0..40 {
            send(&mut r, t0, seq, 1000);
        }
        let all: Vec<u16> = (0..40).collect();
        let resent = nack(&mut r, t0 + Duration::from_secs(1), &all);
        assert_eq!(resent, (0..20).collect::<Vec<u16>>());
        // More new packets sent: more room.
        for seq in 40..44 {
            send(&mut r, t0 + Duration::from_secs(1), seq, 1000);
        }
        assert_eq!(nack(&mut r, t0 + Duration::from_secs(2), &all).len(), 2);
    }
}
