//! The SFU: per-session peer connections ([`peer`]), per-published-track fan-out
//! ([`forwarder`]), per-subscriber rewriting ([`munger`]) and simulcast layer choice
//! ([`simulcast`]). Codecs, peer connection setup and
//! the RTCP tap come from `nertc-rtc`, shared with the engine. The `sub` connections (media
//! to subscribers) are driven in place (`subpc`, `nertc_rtc::direct`: a forwarder writes each
//! packet through the connection's interceptors and SRTP onto its socket), the `pub` ones by
//! webrtc-rs's driver task. With `rtc.udp_port` set, every
//! peer connection's UDP goes through one shared socket ([`udpmux`]: webrtc-rs's runtime seam,
//! demultiplexed by ICE ufrag, then by remote address; `udpbatch` sends with `sendmmsg` and
//! receives with `recvmmsg`); with `rtc.tcp_port`, ICE-TCP passive
//! candidates of every connection share one TCP port ([`tcpmux`]: streams routed by the ufrag
//! of their first binding request).

pub mod forwarder;
pub mod munger;
pub mod peer;
pub mod simulcast;
mod subpc;
pub mod tcpmux;
mod udpbatch;
pub mod udpmux;

pub use forwarder::ForwarderHandle;
pub use peer::{PeerCmd, PeerHandle};
