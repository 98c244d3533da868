//! The estimate of a path a connection forwards on without pacing (the SFU's connection to a
//! subscriber), in one interceptor: [`EstimateOnly`]. webrtc-rs's pair for this
//! (`TwccSenderInterceptor` + `CongestionControlInterceptor`) costs a forwarding server more
//! than the forwarding's own chain work: per packet a freshly allocated extension value, a
//! hash-map look-up per interceptor and three hash-map inserts into the send history, and per
//! feedback a clone of every RTCP packet read, a vector of acknowledgements and a walk over the
//! whole history. Here a packet costs a binary search over the bound streams, a shared
//! extension value and a push onto a ring of send records ([`SendHistory`]) that feedback
//! indexes by sequence number; feedback is walked in place and consumed (the rest of the chain
//! never sees it).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::interceptor::{BandwidthEstimator, Interceptor, Packet, PacketReport, StreamInfo, TaggedPacket};
use rtc::rtcp::transport_feedbacks::cc_feedback_report::Ecn;
use rtc::rtcp::transport_feedbacks::transport_layer_cc::{PacketStatusChunk, SymbolTypeTcc, TransportLayerCc};
use rtc::sansio::Protocol;
use rtc::shared::error::Error;
use rtc::shared::marshal::MarshalSize;

use super::{Bwe, Estimator};

/// How long a sent packet waits for feedback before it is written off (webrtc-rs's horizon):
/// several round trips on any path worth estimating, many feedback intervals.
pub const FEEDBACK_HORIZON: Duration = Duration::from_secs(2);
/// Send records kept at most, whatever their age: under half the sequence space, so a
/// sequence number names one record (2 s of 16 Mbit/s in 1000-byte packets).
pub const MAX_RECORDS: usize = 4096;

/// TWCC's reference time counts 64 ms ticks on the receiver's clock.
const REFERENCE_TICK: Duration = Duration::from_millis(64);

/// Every transport-wide sequence number as the two big-endian bytes of its header extension,
/// so that numbering a packet hands it a slice of this table instead of allocating a value.
static SEQUENCE_BYTES: [u8; 2 << 16] = {
    let mut table = [0u8; 2 << 16];
    let mut seq = 0;
    while seq < 1 << 16 {
        table[2 * seq] = (seq >> 8) as u8;
        table[2 * seq + 1] = seq as u8;
        seq += 1;
    }
    table
};

/// The header extension value carrying `seq` (no allocation).
fn sequence_extension(seq: u16) -> bytes::Bytes {
    let at = 2 * seq as usize;
    bytes::Bytes::from_static(&SEQUENCE_BYTES[at..at + 2])
}

/// One packet sent, and what the feedback said about it.
#[derive(Debug, Clone, Copy)]
struct Sent {
    departure: Instant,
    size: u32,
    ssrc: u32,
    rtp_seq: u16,
    arrived: bool,
    arrival: Option<Duration>,
}

/// Send records in transport-wide sequence order: a ring that feedback indexes by sequence
/// number (the number less the oldest record's). Records leave from the front, reported
/// (everything up to the newest arrival the feedback named, the rest of them as lost) or
/// written off after [`FEEDBACK_HORIZON`].
#[derive(Debug, Default)]
pub struct SendHistory {
    /// The sequence number of `records[0]`.
    first: u16,
    records: VecDeque<Sent>,
    /// Index of the newest record reported as arrived since the last [`SendHistory::take`].
    newest_arrived: Option<usize>,
}

impl SendHistory {
    /// Records a packet numbered `seq` (the number after the last one recorded) leaving at
    /// `departure`. Records older than [`FEEDBACK_HORIZON`] are written off first.
    pub fn push(&mut self, seq: u16, departure: Instant, size: usize, ssrc: u32, rtp_seq: u16) {
        self.prune(departure.checked_sub(FEEDBACK_HORIZON).unwrap_or(departure));
        let expected = self.first.wrapping_add(self.records.len() as u16);
        if self.records.len() >= MAX_RECORDS || (!self.records.is_empty() && seq != expected) {
            // Out of room, or a gap in the numbering: what is recorded can no longer be told
            // apart from what is new.
            self.clear();
        }
        if self.records.is_empty() {
            self.first = seq;
        }
        self.records.push_back(Sent { departure, size: size as u32, ssrc, rtp_seq, arrived: false, arrival: None });
    }

    /// Writes off the records of packets sent before `cutoff`.
    fn prune(&mut self, cutoff: Instant) {
        let stale = self.records.iter().take_while(|s| s.departure < cutoff).count();
        if stale > 0 {
            self.records.drain(..stale);
            self.first = self.first.wrapping_add(stale as u16);
            self.newest_arrived = self.newest_arrived.and_then(|n| n.checked_sub(stale));
        }
    }

    fn clear(&mut self) {
        self.records.clear();
        self.newest_arrived = None;
    }

    /// The feedback says packet `seq` arrived, at `arrival` on the receiver's clock (None: it
    /// did not say when). Unknown numbers (written off, or never sent) are ignored.
    pub fn arrived(&mut self, seq: u16, arrival: Option<Duration>) {
        let at = seq.wrapping_sub(self.first) as usize;
        if let Some(r) = self.records.get_mut(at) {
            r.arrived = true;
            r.arrival = arrival;
            self.newest_arrived = Some(self.newest_arrived.map_or(at, |n| n.max(at)));
        }
    }

    /// Moves the records up to the newest arrival reported since the last call into `out`,
    /// in send order (those not reported as arrived count as lost).
    pub fn take(&mut self, out: &mut Vec<PacketReport>) {
        let Some(newest) = self.newest_arrived.take() else { return };
        let first = self.first;
        out.extend(self.records.drain(..=newest).enumerate().map(|(i, s)| {
            let seq = first.wrapping_add(i as u16);
            PacketReport {
                ssrc: s.ssrc,
                id: u64::from(seq),
                rtp_sequence_number: s.rtp_seq,
                is_twcc: true,
                twcc_sequence_number: seq,
                size: s.size as usize,
                arrived: s.arrived,
                departure: s.departure,
                arrival: s.arrival,
                ecn: Ecn::NotEct,
            }
        }));
        self.first = first.wrapping_add(newest as u16 + 1);
    }

    /// Records waiting for feedback.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Applies one TWCC feedback packet (draft-holmer-rmcat-transport-wide-cc-extensions-01
    /// §3.1): `packet_status_count` statuses from `base_sequence_number` on, in run-length
    /// and status-vector chunks; each received packet with a delta advances the arrival
    /// time, which starts at the reference time.
    pub fn apply_feedback(&mut self, fb: &TransportLayerCc) {
        let mut arrival = REFERENCE_TICK * fb.reference_time;
        let mut deltas = fb.recv_deltas.iter();
        let mut seq = fb.base_sequence_number;
        let mut left = fb.packet_status_count;
        let mut status = |symbol: SymbolTypeTcc| {
            match symbol {
                SymbolTypeTcc::PacketNotReceived => {}
                SymbolTypeTcc::PacketReceivedWithoutDelta => self.arrived(seq, None),
                SymbolTypeTcc::PacketReceivedSmallDelta | SymbolTypeTcc::PacketReceivedLargeDelta => match deltas.next() {
                    Some(d) => {
                        // Microseconds; negative when the packet arrived before the previous one.
                        let step = Duration::from_micros(d.delta.unsigned_abs());
                        arrival = if d.delta < 0 { arrival.saturating_sub(step) } else { arrival + step };
                        self.arrived(seq, Some(arrival));
                    }
                    None => self.arrived(seq, None),
                },
            }
            seq = seq.wrapping_add(1);
        };
        for chunk in &fb.packet_chunks {
            match chunk {
                PacketStatusChunk::RunLengthChunk(run) => {
                    let n = run.run_length.min(left);
                    left -= n;
                    for _ in 0..n {
                        status(run.packet_status_symbol);
                    }
                }
                PacketStatusChunk::StatusVectorChunk(vector) => {
                    // The last chunk may hold more symbols than there are packets.
                    for &symbol in vector.symbol_list.iter().take(left as usize) {
                        left -= 1;
                        status(symbol);
                    }
                }
            }
        }
    }
}

/// Numbers what a connection sends with transport-wide sequence numbers (only while its [`Bwe`]
/// is [demanded](Bwe::demand)), records when each packet left, and drives an [`Estimator`] into
/// the `Bwe` from the remote's TWCC feedback, which it consumes. Nothing is delayed.
///
/// Wire-most in the chain (`Slot::CongestionControl`): retransmissions from the NACK
/// responder are numbered and recorded too, and nothing after it holds a packet back.
pub struct EstimateOnly {
    bwe: Arc<Bwe>,
    estimator: Estimator,
    /// The TWCC extension id of each bound local stream, sorted by SSRC.
    streams: Vec<(u32, u8)>,
    next_seq: u16,
    sent: SendHistory,
    /// The last packet was numbered (the estimate was in demand).
    numbering: bool,
    /// When the last packet was numbered.
    last_numbered: Option<Instant>,
    /// Reused for each feedback's reports.
    reports: Vec<PacketReport>,
    read_queue: VecDeque<TaggedPacket>,
    write_queue: VecDeque<TaggedPacket>,
}

impl EstimateOnly {
    pub fn new(bwe: Arc<Bwe>) -> Self {
        EstimateOnly {
            estimator: Estimator::new(bwe.clone()),
            bwe,
            streams: Vec::new(),
            next_seq: 0,
            sent: SendHistory::default(),
            numbering: false,
            last_numbered: None,
            reports: Vec::new(),
            read_queue: VecDeque::new(),
            write_queue: VecDeque::new(),
        }
    }

    /// Send records waiting for feedback.
    pub fn outstanding(&self) -> usize {
        self.sent.len()
    }

    fn ext_id(&self, ssrc: u32) -> Option<u8> {
        self.streams.binary_search_by_key(&ssrc, |s| s.0).ok().map(|i| self.streams[i].1)
    }

    fn number(&mut self, now: Instant, rtp: &mut rtc::rtp::Packet) {
        let Some(id) = self.ext_id(rtp.header.ssrc) else { return };
        if !self.bwe.demanded() {
            self.numbering = false;
            return;
        }
        if !self.numbering && self.last_numbered.is_none_or(|t| now.saturating_duration_since(t) > FEEDBACK_HORIZON) {
            // Demanded again after a pause that outlived every record: what the estimator
            // knew (its groups, trend and rates) is from another time; start afresh.
            self.estimator = Estimator::new(self.bwe.clone());
            self.sent.clear();
        }
        self.numbering = true;
        self.last_numbered = Some(now);
        let seq = self.next_seq;
        if rtp.header.set_extension(id, sequence_extension(seq)).is_err() {
            return; // an id the header's profile cannot carry: not numbered
        }
        self.next_seq = seq.wrapping_add(1);
        let size = rtp.header.marshal_size() + rtp.payload.len();
        self.sent.push(seq, now, size, rtp.header.ssrc, rtp.header.sequence_number);
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for EstimateOnly {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &mut msg.message.packet {
            let before = packets.len();
            packets.retain(|p| match p.as_any().downcast_ref::<TransportLayerCc>() {
                Some(fb) => {
                    self.sent.apply_feedback(fb);
                    false
                }
                None => true,
            });
            if packets.len() < before {
                self.sent.take(&mut self.reports);
                if !self.reports.is_empty() {
                    self.estimator.on_reports(msg.now, &self.reports);
                    self.reports.clear();
                }
                if packets.is_empty() {
                    return Ok(()); // it was all feedback, and the feedback was for us
                }
            }
        }
        self.read_queue.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read_queue.pop_front()
    }

    fn handle_write(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        let now = msg.now;
        if let Packet::Rtp(rtp) = &mut msg.message.packet {
            self.number(now, rtp);
        }
        self.write_queue.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write_queue.pop_front()
    }

    fn handle_timeout(&mut self, _now: Instant) -> Result<(), Self::Error> {
        Ok(())
    }

    /// No timer: records are written off as new ones come.
    fn poll_timeout(&mut self) -> Option<Self::Time> {
        None
    }
}

impl Interceptor for EstimateOnly {
    fn bind_local_stream(&mut self, info: &StreamInfo) {
        let Some(id) = info.rtp_header_extensions.iter().find(|e| e.uri == rtc::sdp::extmap::TRANSPORT_CC_URI).map(|e| e.id as u8) else {
            return;
        };
        if id == 0 {
            return;
        }
        match self.streams.binary_search_by_key(&info.ssrc, |s| s.0) {
            Ok(i) => self.streams[i].1 = id,
            Err(i) => self.streams.insert(i, (info.ssrc, id)),
        }
    }

    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        if let Ok(i) = self.streams.binary_search_by_key(&info.ssrc, |s| s.0) {
            self.streams.remove(i);
        }
    }

    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::interceptor::{AttributedPacket, RTPHeaderExtension, TwccReceiverBuilder};
    use rtc::rtcp::receiver_report::ReceiverReport;
    use rtc::rtcp::transport_feedbacks::transport_layer_cc::{
        RecvDelta, RunLengthChunk, StatusChunkTypeTcc, StatusVectorChunk, SymbolSizeTypeTcc,
    };
    use rtc::shared::TransportContext;
    use rtc::shared::marshal::{Marshal, Unmarshal};

    use SymbolTypeTcc::{
        PacketNotReceived as Lost, PacketReceivedLargeDelta as Large, PacketReceivedSmallDelta as Small,
        PacketReceivedWithoutDelta as NoDelta,
    };

    const EXT_ID: u16 = 5;
    const VIDEO: u32 = 0xabc;

    fn vector(symbols: &[SymbolTypeTcc]) -> PacketStatusChunk {
        PacketStatusChunk::StatusVectorChunk(StatusVectorChunk {
            type_tcc: StatusChunkTypeTcc::StatusVectorChunk,
            symbol_size: SymbolSizeTypeTcc::TwoBit,
            symbol_list: symbols.to_vec(),
        })
    }

    fn run(symbol: SymbolTypeTcc, n: u16) -> PacketStatusChunk {
        PacketStatusChunk::RunLengthChunk(RunLengthChunk {
            type_tcc: StatusChunkTypeTcc::RunLengthChunk,
            packet_status_symbol: symbol,
            run_length: n,
        })
    }

    fn feedback(base: u16, count: u16, reference: u32, chunks: Vec<PacketStatusChunk>, deltas_us: &[i64]) -> TransportLayerCc {
        TransportLayerCc {
            base_sequence_number: base,
            packet_status_count: count,
            reference_time: reference,
            packet_chunks: chunks,
            recv_deltas: deltas_us.iter().map(|&delta| RecvDelta { type_tcc_packet: Small, delta }).collect(),
            ..Default::default()
        }
    }

    fn fates(reports: &[PacketReport]) -> Vec<(u16, bool, Option<u64>)> {
        reports.iter().map(|r| (r.twcc_sequence_number, r.arrived, r.arrival.map(|a| a.as_micros() as u64))).collect()
    }

    #[test]
    fn every_sequence_number_is_its_two_big_endian_bytes() {
        assert_eq!(sequence_extension(0).as_ref(), &[0, 0]);
        assert_eq!(sequence_extension(0x1234).as_ref(), &[0x12, 0x34]);
        assert_eq!(sequence_extension(0x00ff).as_ref(), &[0x00, 0xff]);
        assert_eq!(sequence_extension(u16::MAX).as_ref(), &[0xff, 0xff]);
    }

    #[test]
    fn feedback_finds_its_records_by_sequence_number_across_the_wrap() {
        let t0 = Instant::now();
        let mut h = SendHistory::default();
        for i in 0..6u16 {
            h.push(65_533u16.wrapping_add(i), t0 + Duration::from_millis(u64::from(i)), 1000 + usize::from(i), VIDEO, 700 + i);
        }
        // Six statuses in a two-bit vector whose seventh symbol is padding, deltas of
        // 1 ms, 0.25 ms, -0.5 ms (reordered) and 2 ms from a reference of 2 x 64 ms.
        h.apply_feedback(&feedback(
            65_533,
            6,
            2,
            vec![vector(&[Small, Lost, Small, Large, NoDelta, Small, Lost])],
            &[1000, 250, -500, 2000],
        ));
        let mut out = vec![];
        h.take(&mut out);
        let base = 128_000;
        assert_eq!(
            fates(&out),
            vec![
                (65_533, true, Some(base + 1000)),
                (65_534, false, None),
                (65_535, true, Some(base + 1250)),
                (0, true, Some(base + 750)),
                (1, true, None),
                (2, true, Some(base + 2750)),
            ]
        );
        assert_eq!((out[3].size, out[3].ssrc, out[3].rtp_sequence_number), (1003, VIDEO, 703));
        assert_eq!(out[5].departure, t0 + Duration::from_millis(5));
        assert!(h.is_empty());
        // The numbering goes on after the wrap.
        h.push(3, t0 + Duration::from_millis(6), 1000, VIDEO, 706);
        h.apply_feedback(&feedback(3, 1, 3, vec![run(Small, 1)], &[500]));
        out.clear();
        h.take(&mut out);
        assert_eq!(fates(&out), vec![(3, true, Some(192_500))]);
    }

    #[test]
    fn packets_are_reported_up_to_the_newest_arrival_the_rest_wait() {
        let t0 = Instant::now();
        let mut h = SendHistory::default();
        for seq in 100..106u16 {
            h.push(seq, t0, 1200, VIDEO, seq);
        }
        // 100..=102 arrived; a run length longer than the status count stops at the count.
        h.apply_feedback(&feedback(100, 3, 0, vec![run(Small, 10)], &[250, 250, 250]));
        let mut out = vec![];
        h.take(&mut out);
        assert_eq!(out.iter().map(|r| r.twcc_sequence_number).collect::<Vec<_>>(), vec![100, 101, 102]);
        assert_eq!(h.len(), 3);
        // Only 104 is named: 103 is lost, 105 still waits.
        h.apply_feedback(&feedback(104, 1, 0, vec![run(Small, 1)], &[1000]));
        out.clear();
        h.take(&mut out);
        assert_eq!(fates(&out), vec![(103, false, None), (104, true, Some(1000))]);
        assert_eq!(h.len(), 1);
        // Feedback saying only "lost" reports nothing yet.
        h.apply_feedback(&feedback(105, 1, 0, vec![run(Lost, 1)], &[]));
        out.clear();
        h.take(&mut out);
        assert!(out.is_empty());
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn records_older_than_the_horizon_are_written_off_and_unknown_numbers_ignored() {
        let t0 = Instant::now();
        let mut h = SendHistory::default();
        for seq in 0..3u16 {
            h.push(seq, t0, 1200, VIDEO, seq);
        }
        h.push(3, t0 + FEEDBACK_HORIZON + Duration::from_millis(1), 1200, VIDEO, 3);
        assert_eq!(h.len(), 1);
        h.apply_feedback(&feedback(0, 4, 0, vec![run(Small, 4)], &[250, 250, 250, 250]));
        let mut out = vec![];
        h.take(&mut out);
        assert_eq!(fates(&out), vec![(3, true, Some(1000))]);
        // Numbers never sent change nothing.
        h.apply_feedback(&feedback(40_000, 2, 0, vec![run(Small, 2)], &[250, 250]));
        out.clear();
        h.take(&mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn the_ring_is_bounded() {
        let t0 = Instant::now();
        let mut h = SendHistory::default();
        for i in 0..(MAX_RECORDS + 10) {
            h.push(i as u16, t0, 100, VIDEO, i as u16);
        }
        assert!(h.len() <= MAX_RECORDS);
        // The newest record is still found by its number.
        let newest = (MAX_RECORDS + 9) as u16;
        h.apply_feedback(&feedback(newest, 1, 0, vec![run(Small, 1)], &[250]));
        let mut out = vec![];
        h.take(&mut out);
        assert_eq!(out.last().map(|r| (r.twcc_sequence_number, r.arrived)), Some((newest, true)));
    }

    fn info(ssrc: u32) -> StreamInfo {
        StreamInfo {
            ssrc,
            mime_type: "video/H264".into(),
            rtp_header_extensions: vec![RTPHeaderExtension { uri: rtc::sdp::extmap::TRANSPORT_CC_URI.into(), id: EXT_ID }],
            ..Default::default()
        }
    }

    fn tagged(now: Instant, packet: Packet) -> TaggedPacket {
        TaggedPacket { now, transport: TransportContext::default(), message: AttributedPacket::new(packet) }
    }

    /// Writes one 1000-byte RTP packet of `ssrc` through `e`; returns it as the remote
    /// parses it off the wire.
    fn send(e: &mut EstimateOnly, now: Instant, ssrc: u32, seq: u16) -> rtc::rtp::Packet {
        let header = rtc::rtp::header::Header { version: 2, ssrc, sequence_number: seq, payload_type: 102, ..Default::default() };
        e.handle_write(tagged(now, Packet::Rtp(rtc::rtp::Packet { header, payload: vec![7u8; 1000].into() }))).expect("writes pass");
        let Some(TaggedPacket { message: AttributedPacket { packet: Packet::Rtp(p), .. }, .. }) = e.poll_write() else {
            panic!("the packet passes at once")
        };
        let wire = p.marshal().expect("a numbered packet marshals");
        rtc::rtp::Packet::unmarshal(&mut wire.as_ref()).expect("and parses")
    }

    fn twcc_seq(p: &rtc::rtp::Packet) -> Option<u16> {
        p.header.get_extension(EXT_ID as u8).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    #[test]
    fn packets_are_numbered_while_demanded_and_a_twcc_receivers_feedback_drives_the_estimate() {
        let bwe = Arc::new(Bwe::default());
        let mut e = EstimateOnly::new(bwe.clone());
        e.bind_local_stream(&info(VIDEO));
        // A stream that did not negotiate the extension is never numbered.
        e.bind_local_stream(&StreamInfo { ssrc: 9, ..Default::default() });
        let t0 = Instant::now();
        assert_eq!(twcc_seq(&send(&mut e, t0, VIDEO, 1)), None, "nobody demands the estimate");

        let demand = bwe.demand();
        assert!(bwe.demanded());
        let mut receiver = TwccReceiverBuilder::new().with_interval(Duration::from_millis(100)).build();
        receiver.bind_remote_stream(&info(VIDEO));
        let mut feedbacks = 0;
        // 1 s of 100 packets/s (800 kbit/s of payload), 20 ms across the path, feedback every
        // 100 ms with a receiver report in the same compound packet.
        for i in 0..100u16 {
            let sent = t0 + Duration::from_millis(10 * u64::from(i) + 10);
            let p = send(&mut e, sent, VIDEO, 2 + i);
            assert_eq!(twcc_seq(&p), Some(i));
            assert_eq!(twcc_seq(&send(&mut e, sent, 9, 2 + i)), None);
            let arrived = sent + Duration::from_millis(20);
            receiver.handle_read(tagged(arrived, Packet::Rtp(p))).expect("the receiver records it");
            while receiver.poll_read().is_some() {}
            receiver.handle_timeout(arrived).expect("feedback timer");
            while let Some(fb) = receiver.poll_write() {
                let Packet::Rtcp(mut packets) = fb.message.packet else { panic!("feedback is RTCP") };
                feedbacks += 1;
                if feedbacks % 2 == 0 {
                    // Alone: consumed whole.
                    e.handle_read(tagged(arrived, Packet::Rtcp(packets))).expect("reads pass");
                    assert!(e.poll_read().is_none(), "feedback goes no further");
                } else {
                    packets.push(Box::new(ReceiverReport { ssrc: 77, ..Default::default() }));
                    e.handle_read(tagged(arrived, Packet::Rtcp(packets))).expect("reads pass");
                    let Some(TaggedPacket { message: AttributedPacket { packet: Packet::Rtcp(rest), .. }, .. }) = e.poll_read() else {
                        panic!("the receiver report goes on")
                    };
                    assert_eq!(rest.len(), 1);
                    assert!(rest[0].as_any().downcast_ref::<ReceiverReport>().is_some());
                }
            }
        }
        assert!(feedbacks >= 9, "{feedbacks} feedback packets");
        let s = bwe.snapshot();
        assert_eq!(s.feedbacks, feedbacks);
        assert_eq!(s.loss_permille, 0);
        // What arrived: 1000 bytes + header every 10 ms.
        assert!((700_000..1_000_000).contains(&s.acked_bps), "acked {} bps", s.acked_bps);
        assert!(e.outstanding() < 12, "{} records wait", e.outstanding());

        drop(demand);
        let later = t0 + Duration::from_millis(1100);
        assert_eq!(twcc_seq(&send(&mut e, later, VIDEO, 200)), None, "the demand ended");
        // A demand again after more than the horizon: the estimate starts afresh, the
        // numbering goes on.
        let _demand = bwe.demand();
        let p = send(&mut e, later + FEEDBACK_HORIZON, VIDEO, 201);
        assert_eq!(twcc_seq(&p), Some(100));
        assert_eq!(bwe.snapshot().feedbacks, 0);
        assert_eq!(e.outstanding(), 1);
    }
}
