//! The SFU: per-session peer connections ([`peer`]), per-published-track fan-out
//! ([`forwarder`]) and per-subscriber rewriting ([`munger`]). Codecs, peer connection setup and
//! the RTCP tap come from `nertc-rtc`, shared with the engine.

pub mod forwarder;
pub mod munger;
pub mod peer;

pub use forwarder::ForwarderHandle;
pub use peer::{PeerCmd, PeerHandle};
