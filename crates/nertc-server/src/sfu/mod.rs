//! The SFU: per-session peer connections ([`peer`]), per-published-track fan-out
//! ([`forwarder`]), per-subscriber rewriting ([`munger`]) and simulcast layer choice
//! ([`simulcast`]). Codecs, peer connection setup and
//! the RTCP tap come from `nertc-rtc`, shared with the engine.

pub mod forwarder;
pub mod munger;
pub mod peer;
pub mod simulcast;

pub use forwarder::ForwarderHandle;
pub use peer::{PeerCmd, PeerHandle};
