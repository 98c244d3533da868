//! Pacing: video at a multiple of the estimate, audio and RTCP unpaced.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use rtc::interceptor::{Interceptor, Pacer, Packet, StreamInfo, TaggedPacket};
use rtc::sansio::Protocol;
use rtc::shared::error::Error;
use rtc::shared::marshal::MarshalSize;

use super::{Bwe, INITIAL_BPS, MAX_QUEUE_TIME, PACING_FACTOR, RETRANSMIT_SHARE};

/// A packet is resent at most once per this: one NACK round of ours (the SFU's), so a request
/// repeated within a round, or by two receivers at once, costs one resend.
pub const RETRANSMIT_HOLDOFF: Duration = crate::pc::NACK_INTERVAL;
/// Resend times kept before old ones are forgotten.
const RESENT_MEMORY: usize = 1024;

/// Paces video RTP at [`PACING_FACTOR`] × the [`Bwe`] target; audio RTP and RTCP pass at once.
/// A packet's `now` is set to its release instant, so the send history below records when it
/// really left.
///
/// Retransmissions (a video packet whose sequence number is not newer than the stream's
/// newest) go at most once per [`RETRANSMIT_HOLDOFF`] per packet and get at most
/// [`RETRANSMIT_SHARE`] of the target; beyond that they are dropped here.
/// A receiver asks again for a missing packet every 40 ms: on a congested link every lost
/// packet was resent up to ten times into the queue that lost it, a storm at 5-10 × the media
/// rate that kept the link saturated long after the encoder had backed off.
pub struct PriorityPacer {
    bwe: Arc<Bwe>,
    audio: HashSet<u32>,
    bucket: Pacer,
    /// The newest sequence number sent per video stream.
    newest: HashMap<u32, u16>,
    retransmit_budget: Pacer,
    /// The instant of the last [`PriorityPacer::release`].
    last_release: Option<Instant>,
    /// When each recently resent packet was resent.
    resent: HashMap<(u32, u16), Instant>,
    /// Retransmissions dropped for want of budget.
    pub retransmits_dropped: u64,
    queue: VecDeque<TaggedPacket>,
    queued_bytes: usize,
    write_queue: VecDeque<TaggedPacket>,
    read_queue: VecDeque<TaggedPacket>,
}

impl PriorityPacer {
    pub fn new(bwe: Arc<Bwe>) -> Self {
        PriorityPacer {
            bwe,
            audio: HashSet::new(),
            bucket: Pacer::new(INITIAL_BPS * PACING_FACTOR),
            newest: HashMap::new(),
            retransmit_budget: Pacer::new(INITIAL_BPS * RETRANSMIT_SHARE),
            resent: HashMap::new(),
            last_release: None,
            retransmits_dropped: 0,
            queue: VecDeque::new(),
            queued_bytes: 0,
            write_queue: VecDeque::new(),
            read_queue: VecDeque::new(),
        }
    }

    /// The rate for now: the estimate's, raised so the queue drains within [`MAX_QUEUE_TIME`].
    fn rate(&self) -> f64 {
        let target = self.bwe.pacing_target();
        let drain = (self.queued_bytes * 8) as f64 / MAX_QUEUE_TIME.as_secs_f64();
        (target * PACING_FACTOR).max(drain)
    }

    /// Whether a video packet may go on: new media always, a retransmission within budget.
    fn admit(&mut self, now: Instant, ssrc: u32, seq: u16, bytes: usize) -> bool {
        let newest = self.newest.entry(ssrc).or_insert(seq.wrapping_sub(1));
        if (seq.wrapping_sub(*newest) as i16) > 0 {
            *newest = seq;
            return true;
        }
        // The receiver asks again every 40 ms while a packet is missing: one resend per
        // [`RETRANSMIT_HOLDOFF`] answers it, the rest would only queue behind it.
        let key = (ssrc, seq);
        if self.resent.get(&key).is_some_and(|t| now.saturating_duration_since(*t) < RETRANSMIT_HOLDOFF) {
            self.retransmits_dropped += 1;
            return false;
        }
        let target = self.bwe.pacing_target();
        self.retransmit_budget.set_target_bitrate(target * RETRANSMIT_SHARE);
        self.retransmit_budget.refill(now);
        let bits = (bytes * 8) as f64;
        if self.retransmit_budget.can_afford(bits) {
            self.retransmit_budget.consume(bits);
            if self.resent.len() > RESENT_MEMORY {
                self.resent.retain(|_, t| now.saturating_duration_since(*t) < RETRANSMIT_HOLDOFF);
            }
            self.resent.insert(key, now);
            true
        } else {
            self.retransmits_dropped += 1;
            false
        }
    }

    fn release(&mut self, now: Instant) {
        self.last_release = Some(now);
        self.bucket.set_target_bitrate(self.rate());
        self.bucket.refill(now);
        while let Some(head) = self.queue.front() {
            let bytes = packet_bytes(head);
            let bits = (bytes * 8) as f64;
            if !self.bucket.can_release(bits) {
                break;
            }
            let mut p = self.queue.pop_front().expect("front checked just above");
            self.bucket.consume(bits);
            self.queued_bytes -= bytes;
            p.now = now;
            self.write_queue.push_back(p);
        }
        self.bwe.queued_bytes.store(self.queued_bytes as u64, Relaxed);
    }
}

fn packet_bytes(p: &TaggedPacket) -> usize {
    match &p.message.packet {
        Packet::Rtp(rtp) => rtp.marshal_size(),
        _ => 0,
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for PriorityPacer {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.read_queue.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read_queue.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        match &msg.message.packet {
            Packet::Rtp(rtp) if !self.audio.contains(&rtp.header.ssrc) => {
                let now = msg.now;
                if !self.admit(now, rtp.header.ssrc, rtp.header.sequence_number, packet_bytes(&msg)) {
                    return Ok(());
                }
                self.queued_bytes += packet_bytes(&msg);
                self.queue.push_back(msg);
                self.release(now);
            }
            _ => self.write_queue.push_back(msg),
        }
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write_queue.pop_front()
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), Self::Error> {
        if !self.queue.is_empty() {
            self.release(now);
        }
        Ok(())
    }

    fn poll_timeout(&mut self) -> Option<Self::Time> {
        // Every queue change ends in `release`, which refilled the bucket and left the head
        // unaffordable; the head becomes affordable later, but rounding can put that a
        // nanosecond after the instant just handled, so a millisecond is the least wait (a
        // deadline at that instant would spin the driver).
        let head = self.queue.front()?;
        let at = self.bucket.releasable_at((packet_bytes(head) * 8) as f64)?;
        Some(self.last_release.map_or(at, |last| at.max(last + Duration::from_millis(1))))
    }
}

impl Interceptor for PriorityPacer {
    fn bind_local_stream(&mut self, info: &StreamInfo) {
        if info.mime_type.to_ascii_lowercase().starts_with("audio/") {
            self.audio.insert(info.ssrc);
        }
    }
    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        self.audio.remove(&info.ssrc);
    }
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::interceptor::AttributedPacket;
    use rtc::shared::TransportContext;

    const AUDIO: u32 = 1;
    const VIDEO: u32 = 2;

    fn rtp(now: Instant, ssrc: u32, seq: u16, payload: usize) -> TaggedPacket {
        let packet = rtc::rtp::Packet {
            header: rtc::rtp::header::Header { version: 2, ssrc, sequence_number: seq, ..Default::default() },
            payload: vec![0u8; payload].into(),
        };
        TaggedPacket { now, transport: TransportContext::default(), message: AttributedPacket::new(Packet::Rtp(packet)) }
    }

    fn pacer(target_bps: u64) -> PriorityPacer {
        let bwe = Arc::new(Bwe::default());
        bwe.target_bps.store(target_bps, Relaxed);
        let mut p = PriorityPacer::new(bwe);
        p.bind_local_stream(&StreamInfo { ssrc: AUDIO, mime_type: "audio/opus".into(), ..Default::default() });
        p.bind_local_stream(&StreamInfo { ssrc: VIDEO, mime_type: "video/H264".into(), ..Default::default() });
        p
    }

    /// Runs the pacer's timer until its queue is empty; returns when it emptied.
    fn drain(p: &mut PriorityPacer, mut now: Instant) -> (Vec<(u32, u16)>, Instant) {
        let mut sent = out(p);
        while let Some(due) = p.poll_timeout() {
            assert!(due > now, "a deadline that does not advance spins the driver");
            now = due;
            p.handle_timeout(now).expect("timeout");
            sent.extend(out(p));
        }
        (sent, now)
    }

    fn out(p: &mut PriorityPacer) -> Vec<(u32, u16)> {
        std::iter::from_fn(|| p.poll_write())
            .map(|t| match t.message.packet {
                Packet::Rtp(r) => (r.header.ssrc, r.header.sequence_number),
                _ => (0, 0),
            })
            .collect()
    }

    #[test]
    fn audio_passes_a_queued_keyframe_and_video_leaves_at_the_paced_rate() {
        let t0 = Instant::now();
        // 200 kbps × 1.1: a 12 000-byte keyframe (10 packets) takes ~0.44 s to leave.
        let mut p = pacer(200_000);
        for seq in 0..10 {
            p.handle_write(rtp(t0, VIDEO, seq, 1188)).expect("write");
        }
        let first = out(&mut p);
        assert!(first.len() < 10, "the whole keyframe left at once: {first:?}");
        p.handle_write(rtp(t0, AUDIO, 7, 80)).expect("write");
        assert_eq!(out(&mut p), vec![(AUDIO, 7)], "audio waited behind video");

        let (rest, now) = drain(&mut p, t0);
        assert_eq!(first.len() + rest.len(), 10);
        assert!(rest.iter().all(|(ssrc, _)| *ssrc == VIDEO));
        let took = now.duration_since(t0).as_secs_f64();
        let expected = (10 - first.len()) as f64 * 1200.0 * 8.0 / (200_000.0 * PACING_FACTOR);
        assert!((took - expected).abs() < 0.05, "the keyframe took {took:.3} s to leave, paced it takes {expected:.3} s");
        assert_eq!(p.poll_timeout(), None, "idle when empty");
    }

    #[test]
    fn a_packet_is_resent_once_per_holdoff_and_within_budget() {
        let t0 = Instant::now();
        let mut p = pacer(1_000_000);
        for seq in 0..20 {
            p.handle_write(rtp(t0, VIDEO, seq, 988)).expect("write");
        }
        let (sent, t1) = drain(&mut p, t0);
        assert_eq!(sent.len(), 20);
        // Two receivers ask for packet 3 on every NACK round, 10 ms apart: one resend a round.
        let mut resent = 0;
        for round in 0..10u32 {
            for offset in [0, 10] {
                let now = t1 + RETRANSMIT_HOLDOFF * round + Duration::from_millis(offset);
                p.handle_write(rtp(now, VIDEO, 3, 988)).expect("write");
                resent += drain(&mut p, now).0.len();
            }
        }
        assert_eq!(resent, 10, "packet 3 resent {resent} times in 10 rounds");
        // Many different packets asked at once: the budget (half of 1 Mbit/s, a tenth of a
        // second's burst, ~6 packets) lets a few through and refuses the rest.
        let t2 = t1 + Duration::from_secs(2);
        for seq in 4..20 {
            p.handle_write(rtp(t2, VIDEO, seq, 988)).expect("write");
        }
        let n = drain(&mut p, t2).0.len();
        assert!((4..=8).contains(&n), "{n} of 16 retransmissions let through at once");
        assert!(p.retransmits_dropped >= 10 + 8);
    }
}
