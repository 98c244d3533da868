//! WebRTC building blocks shared by the engine (client) and the room server (SFU), on
//! webrtc-rs: the codecs both sides negotiate with fixed payload types ([`codecs`]), one way
//! to build a peer connection ([`pc::PcBuilder`]; driven by webrtc-rs's task, or in place by
//! its writers over the sans-IO core: [`direct`]) and an RTCP tap that counts feedback and
//! hands keyframe requests to the application ([`tap`]), a NACK responder that paces its
//! retransmissions by the round trip ([`nack`]), when to restart ICE on a
//! connection that went down ([`recovery`]), and send-side congestion control for a sending
//! connection ([`cc`]: TWCC, the bandwidth estimator, pacing).

pub mod cc;
pub mod codecs;
pub mod direct;
pub mod nack;
pub mod pc;
pub mod recovery;
pub mod tap;
