//! The SFU: per-session peer connections ([`peer`]), per-published-track fan-out
//! ([`forwarder`]), per-subscriber rewriting ([`munger`]), codec setup ([`codecs`]) and the RTCP
//! tap that counts feedback and hands keyframe requests to the application ([`tap`]).

pub mod codecs;
pub mod forwarder;
pub mod munger;
pub mod peer;
pub mod tap;

pub use forwarder::ForwarderHandle;
pub use peer::{PeerCmd, PeerHandle};
