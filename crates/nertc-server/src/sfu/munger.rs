//! Per-subscriber RTP rewriting: the subscriber sees one SSRC, one payload type and continuous
//! sequence numbers and timestamps, even when the source stream behind it changes (a publisher
//! restarting its encoder, or a new source SSRC after a reconnect).

/// Rewrites packets of one forwarded stream.
#[derive(Debug)]
pub struct Munger {
    ssrc: u32,
    payload_type: u8,
    clock_rate: u32,
    src_ssrc: Option<u32>,
    seq_offset: u16,
    ts_offset: u32,
    last_seq: u16,
    last_ts: u32,
    last_at: Option<std::time::Instant>,
}

impl Munger {
    pub fn new(ssrc: u32, payload_type: u8, clock_rate: u32) -> Self {
        Munger { ssrc, payload_type, clock_rate, src_ssrc: None, seq_offset: 0, ts_offset: 0, last_seq: 0, last_ts: 0, last_at: None }
    }

    /// The next packet starts a new run of the stream even if its source SSRC is the same (a
    /// cached keyframe, or the live stream after one): it is numbered right after the last
    /// packet sent, as for a new source.
    pub fn resync(&mut self) {
        self.src_ssrc = None;
    }

    /// Rewrites `header` in place (SSRC, payload type, sequence number, timestamp) and strips
    /// header extensions, whose ids were negotiated on the publisher's leg, not this one.
    pub fn rewrite(&mut self, header: &mut rtc::rtp::header::Header, now: std::time::Instant) {
        if self.src_ssrc != Some(header.ssrc) {
            match self.last_at {
                // A new source after an earlier one: continue right after what we last sent,
                // advancing the timestamp by the wall-clock gap so players keep their timing.
                Some(at) => {
                    let gap = now.saturating_duration_since(at).as_secs_f64();
                    let ticks = (gap * self.clock_rate as f64).max(1.0) as u32;
                    self.seq_offset = self.last_seq.wrapping_add(1).wrapping_sub(header.sequence_number);
                    self.ts_offset = self.last_ts.wrapping_add(ticks).wrapping_sub(header.timestamp);
                }
                None => {
                    self.seq_offset = 0;
                    self.ts_offset = 0;
                }
            }
            self.src_ssrc = Some(header.ssrc);
        }
        header.ssrc = self.ssrc;
        header.payload_type = self.payload_type;
        header.sequence_number = header.sequence_number.wrapping_add(self.seq_offset);
        header.timestamp = header.timestamp.wrapping_add(self.ts_offset);
        header.extension = false;
        header.extensions.clear();
        header.extension_profile = 0;
        // The padding the parser found after the publisher's extensions: a stale value would
        // misalign an extension added on this leg (the TWCC sequence number).
        header.extensions_padding = 0;
        self.last_seq = header.sequence_number;
        self.last_ts = header.timestamp;
        self.last_at = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::rtp::header::Header;
    use std::time::{Duration, Instant};

    fn hdr(ssrc: u32, seq: u16, ts: u32) -> Header {
        Header { ssrc, sequence_number: seq, timestamp: ts, payload_type: 100, ..Default::default() }
    }

    #[test]
    fn first_source_passes_through_with_our_ssrc_and_pt() {
        let mut m = Munger::new(42, 102, 90_000);
        let t0 = Instant::now();
        let mut h = hdr(7, 1000, 5000);
        m.rewrite(&mut h, t0);
        assert_eq!((h.ssrc, h.payload_type, h.sequence_number, h.timestamp), (42, 102, 1000, 5000));
    }

    #[test]
    fn a_resync_continues_after_the_last_packet_sent() {
        let mut m = Munger::new(42, 102, 90_000);
        let t0 = Instant::now();
        // A cached keyframe (seq 500-501, ts 9000), then the live stream from its next
        // keyframe (seq 620, ts 90_000) of the same source, 40 ms later.
        for (i, seq) in [500u16, 501].into_iter().enumerate() {
            let mut h = hdr(7, seq, 9000);
            if i == 0 {
                m.resync();
            }
            m.rewrite(&mut h, t0);
            assert_eq!((h.sequence_number, h.timestamp), (seq, 9000));
        }
        m.resync();
        let mut h = hdr(7, 620, 90_000);
        m.rewrite(&mut h, t0 + Duration::from_millis(40));
        assert_eq!((h.sequence_number, h.timestamp), (502, 9000 + 3600));
        let mut h = hdr(7, 621, 93_000);
        m.rewrite(&mut h, t0 + Duration::from_millis(73));
        assert_eq!((h.sequence_number, h.timestamp), (503, 9000 + 3600 + 3000));
    }

    #[test]
    fn source_switch_stays_continuous() {
        let mut m = Munger::new(42, 102, 90_000);
        let t0 = Instant::now();
        for i in 0..3u16 {
            let mut h = hdr(7, 65534u16.wrapping_add(i), 3000 * i as u32);
            m.rewrite(&mut h, t0);
        }
        // Last out: seq 0 (wrapped), ts 6000. New source 100 ms later with unrelated numbers.
        let mut h = hdr(9, 17, 777_777);
        m.rewrite(&mut h, t0 + Duration::from_millis(100));
        assert_eq!(h.ssrc, 42);
        assert_eq!(h.sequence_number, 1);
        assert_eq!(h.timestamp, 6000 + 9000);
        let mut h = hdr(9, 18, 777_777 + 3000);
        m.rewrite(&mut h, t0 + Duration::from_millis(133));
        assert_eq!((h.sequence_number, h.timestamp), (2, 18_000));
    }
}
