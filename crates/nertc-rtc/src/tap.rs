//! An RTCP interceptor that observes feedback from the remote peer without consuming it. It
//! sits next to the wire: it counts NACKs and keyframe requests for `/metrics` before the NACK
//! responder answers them (and passes on reception reports, which the SFU's layer choice
//! reads), and marks the RTCP packets with a PLI or FIR for delivery, so that webrtc-rs hands
//! them to the local track (where the SFU relays them to the publisher). The interceptors after
//! it pass that mark on.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use rtc::sansio::Protocol;
use rtc::shared::error::Error;

/// What the counting tap saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feedback {
    /// A NACK packet (any number of sequence numbers).
    Nack,
    /// One sequence number a NACK reported missing, of the stream `ssrc` (a receiver asks again
    /// for a packet still missing, so the same one may come several times).
    Nacked {
        ssrc: u32,
        seq: u16,
    },
    KeyframeRequest,
    /// Our NACK responder sent a packet of the stream `ssrc` again ([`crate::nack`]; only
    /// some of the sequence numbers asked for are: see there).
    Resent {
        ssrc: u32,
    },
    /// One reception report block (of a receiver or sender report) about our stream `ssrc`:
    /// the share of its packets lost since the previous report, of 256.
    Report {
        ssrc: u32,
        fraction_lost: u8,
    },
}

/// Called for each feedback packet the counting tap sees (on the peer connection's thread:
/// keep it cheap, e.g. an atomic increment).
pub type FeedbackCounter = Arc<dyn Fn(Feedback) + Send + Sync>;

pub struct RtcpTap {
    counter: Option<FeedbackCounter>,
    read_queue: VecDeque<TaggedPacket>,
    write_queue: VecDeque<TaggedPacket>,
}

impl RtcpTap {
    pub fn new(counter: Option<FeedbackCounter>) -> Self {
        RtcpTap { counter, read_queue: VecDeque::new(), write_queue: VecDeque::new() }
    }
}

/// True for PLI and FIR.
pub fn is_keyframe_request(packet: &dyn rtc::rtcp::Packet) -> bool {
    let any = packet.as_any();
    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for RtcpTap {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let count = |f| {
                if let Some(count) = &self.counter {
                    count(f);
                }
            };
            let mut keyframe_request = false;
            for p in packets {
                if let Some(nack) = p.as_any().downcast_ref::<TransportLayerNack>() {
                    count(Feedback::Nack);
                    for pair in &nack.nacks {
                        for seq in pair.packet_list() {
                            count(Feedback::Nacked { ssrc: nack.media_ssrc, seq });
                        }
                    }
                } else if is_keyframe_request(p.as_ref()) {
                    keyframe_request = true;
                    count(Feedback::KeyframeRequest);
                } else if let Some(rr) = p.as_any().downcast_ref::<ReceiverReport>() {
                    for r in &rr.reports {
                        count(Feedback::Report { ssrc: r.ssrc, fraction_lost: r.fraction_lost });
                    }
                } else if let Some(sr) = p.as_any().downcast_ref::<SenderReport>() {
                    for r in &sr.reports {
                        count(Feedback::Report { ssrc: r.ssrc, fraction_lost: r.fraction_lost });
                    }
                }
            }
            if keyframe_request {
                msg.message.add(Attribute::DeliverToApplication);
            }
        }
        self.read_queue.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read_queue.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write_queue.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write_queue.pop_front()
    }
}

impl Interceptor for RtcpTap {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}
