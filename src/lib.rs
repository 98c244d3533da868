//! `nertc-electron-sdk`: the N-API addon (the NERtcEngine binding) lives here.
//!
//! The room server it talks to is `crates/nertc-server`; the signaling schema is
//! `crates/nertc-protocol`. The engine and its binding arrive with the engine issue.
