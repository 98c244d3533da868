//! nertc media engine — no napi types; `src/` at the repository root binds it for Node.
//!
//! # Threads and data flow
//! ```text
//! JS thread ── Engine methods (sync, return a NERTC code) ──Cmd──> actor task (tokio, 2 workers)
//!   actor: signaling client (WebSocket) + publish/subscribe peer connections (webrtc-rs)
//! camera/test pattern/JS push -> video encoder thread (openh264) -> publish track
//!                                 \-> local preview slot
//! mic/tone/JS push -> audio encoder thread (Opus) -> publish track
//! remote video RTP -> depacketizer task -> decoder thread -> latest-frame slot per user
//! remote audio RTP -> Opus decode -> mixer (per-user queues) <- playout device thread
//! ```
//! Events flow out through one `crossbeam_channel::Receiver<EngineEvent>` returned by
//! [`Engine::new`]; renderers read the latest frame of each stream from its
//! [`render::FrameSlot`] (latest wins: slow readers skip frames, memory stays bounded).
//!
//! # Modules
//! [`engine`] the API and actor, [`signaling`] the room-server client, [`media`] pipelines,
//! [`codec`] H.264/Opus, [`device`] real and synthetic devices, [`render`] frame slots,
//! [`event`] events, [`error`] result codes, [`logging`] log files.

pub mod codec;
pub mod device;
pub mod engine;
pub mod error;
pub mod event;
pub mod frame;
pub mod logging;
pub mod media;
pub mod render;
pub mod signaling;

pub use engine::{Engine, EngineOptions, ExternalVideoFrame, PixelFormat, VideoConfig, version};
pub use event::EngineEvent;
