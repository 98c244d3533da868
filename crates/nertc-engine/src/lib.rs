//! nertc media engine — no napi types; `src/` at the repository root binds it for Node.
//!
//! # Threads, tasks and queues
//! ```text
//!  JS thread ── Engine (api.rs): validate, update Settings, return a NERTC code at once
//!     │ try_send Cmd [bounded 256; full → ERR_BUSY]          │ wake [bounded 1; coalesces]
//!     ▼                                                      ▼
//!  actor task (actor.rs, tokio, 2 workers)           device thread (local.rs, "nertc-devices")
//!   owns the Session: presence, remote users,         opens/closes camera, mic, speaker and
//!   publications, pending requests, reconnect.        starts/stops the encoder threads to
//!   Handlers never await; work runs in tasks:         match Settings + Presence (a Plan)
//!   ├ connect task (join/resume) ──Input [16]──▶ actor
//!   ├ signaling driver (nertc-signal) ──SignalEvent [1024, back-pressure]──▶ actor
//!   │   ◀── request(msg) → RequestId; the Reply comes back as an event
//!   ├ publisher task (transport/) owns the pub PeerConnection: add/remove track, offer,
//!   │   await the answer ──TransportEvent [64]──▶ actor
//!   └ subscriber task (transport/) owns the sub PeerConnection: answer the server's offers,
//!       name arriving tracks ──TransportEvent──▶ actor
//!   (each PeerConnection reports to its task through a bounded queue of 64 its webrtc-rs
//!   callbacks never wait on; codec threads are `media::Worker`s, joined when dropped)
//! ```
//! # A frame's way
//! ```text
//! camera / test pattern / JS push ─[bounded 2, latest wins]─▶ video encoder thread (openh264)
//!     ├─▶ local preview FrameSlot                 └─▶ VideoSink ─▶ publish track (webrtc-rs)
//! mic / tone / JS push ─[bounded 50, drop when 1 s behind]─▶ audio encoder thread (mic only:
//!     AEC/NS/AGC, audio_processing.rs, far-end = the playout mix; Opus) ─▶ track
//!     (each 20 ms frame passes the [`audio_mixing::SendHook`] first: voice effects, earback,
//!     mixing and effects, the recording tap; the speaker's pull adds their playout side)
//! remote video RTP ─▶ receive task (whole pictures; keyframe requests retried until one
//!     decodes) ─[bounded 8; full → wait for a keyframe]─▶ decoder thread ─▶ FrameSlot
//! remote audio RTP ─▶ receive task ─▶ jitter buffer per user (audio_jitter.rs) ◀─ Mixer: Opus
//!     decode, FEC, PLC, time-stretch to an adaptive delay, at the playout thread's pull
//! ```
//! Renderers read the newest frame of each stream from its [`render::FrameSlot`] (latest wins:
//! slow readers skip frames, memory stays bounded).
//! A live stream task ([`live`], `addLiveStreamTask`) is one more reader: its "nertc-live"
//! thread composes the newest frames of the users it lists at 15 fps, takes audio from the
//! send hook and the mixer (per remote user) through a bounded queue, encodes H.264 + AAC, and
//! hands FLV tag bodies [bounded 256; full → dropped, next picture an IDR] to its RTMP task on
//! the actor's runtime (network only, no encoding there).
//! With `enableEncryption` each encoded access unit and Opus packet is sealed right before it
//! goes to its track, and opened by the decoder thread (video) or the receive task (audio)
//! before anything reads it ([`crypto`]).
//!
//! # Recovery (reconnect.rs)
//! Signaling: a server silent for 2 ping intervals + 1 s is dropped; connect attempts (up to 3
//! at once, ≤ 0.7 s apart) resume the session, or rejoin when the server refuses; 60 s → 30205.
//! Media: each connection's state is followed; the engine restarts ICE on `pub` (the server on
//! `sub`) when it fails or stays disconnected 2 s; 30 s down with signaling up → 30204. The
//! application sees one `onReconnectingStart` … `onRejoinChannel` pair for both paths.
//!
//! # Events
//! Every part emits [`EngineEvent`]s into one bounded queue ([`event::Events`], 4096; when the
//! consumer is that far behind new events are dropped and counted); the user receives them from
//! the `crossbeam_channel::Receiver` returned by [`Engine::new`]. The enum is exhaustive: a new
//! event fails to compile in the binding until it is converted there.
//!
//! # Errors
//! Leaf errors (devices, signaling, webrtc, threads) roll into [`error::EngineError`]; the API
//! maps it to NERTC's numeric codes in one place ([`error::EngineError::code`]).
//!
//! # Modules
//! [`api`] the facade, `actor` the loop, `session` joining/ending and presence, `publish`,
//! `subscribe`, `reconnect`, `stats`, `transport` the peer-connection tasks, `local` the device
//! thread, `settings`, `media` pipelines, [`codec`] H.264/Opus, [`device`] real and
//! synthetic devices, [`render`] frame slots, [`event`] events, [`error`] codes,
//! [`logging`] log files, [`audio_mixing`] mixing/effects/voice effects/earback (symphonia
//! decodes the files), [`recording`] `startAudioRecording` and dumps (WAV via hound),
//! [`crypto`] `enableEncryption`: frames sealed (SM4-GCM) before packetisation, opened after,
//! [`live`] `addLiveStreamTask`: the engine composes the layout (its preview and the frames it
//! decodes), encodes H.264 + AAC and pushes FLV over RTMP (`rml_rtmp`) on a thread and a task
//! of its own per stream (the server has no decoders: composing is the engine's).
//!
//! # The substream (screen share)
//! `startScreenCapture*` puts a `ScreenShare` in the settings; the device thread
//! runs a screen capture ([`device::screen`]) into a second encoder thread (its own
//! `VideoCtl`, `Shared::screen`) whose preview goes to [`render::StreamKey::LocalSub`]; the
//! actor publishes it as its own track with `source: screen`. Remote `screen` tracks are
//! substreams: `onUserSubStreamVideoStart/Stop`, `subscribeRemoteVideoSubStream`, frames in
//! [`render::StreamKey::RemoteSub`].

pub mod api;
pub mod audio_mixing;
pub mod audio_processing;
pub mod codec;
pub mod crypto;
pub mod device;
pub mod error;
pub mod event;
pub mod frame;
pub mod live;
pub mod logging;
mod media;
pub mod render;
mod settings;

mod actor;
mod data;
mod local;
mod publish;
mod quality;
mod reconnect;
pub mod recording;
mod session;
mod shared;
mod stats;
mod subscribe;
mod transport;

pub use api::{Engine, EngineOptions, ExternalVideoFrame, PixelFormat, ScreenCaptureParams, version};
pub use event::EngineEvent;
pub use settings::VideoConfig;
