//! Codecs: H.264 (openh264, constrained baseline, Annex-B) and Opus (libopus, 48 kHz, 20 ms).
//!
//! Both are thin, synchronous wrappers meant to run on the engine's own encoder/decoder
//! threads (never on the async runtime): [`h264::H264Encoder`] / [`h264::H264Decoder`] and
//! [`opus::OpusEncoder`] / [`opus::OpusDecoder`]. All of them report failures as one
//! [`CodecError`].

pub mod h264;
pub mod opus;
pub mod sei;

/// A codec failure.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The caller passed something the codec cannot take (bad size, rate, channel count...).
    #[error("invalid codec input: {0}")]
    InvalidInput(String),
    /// openh264 reported an error.
    #[error("H.264: {0}")]
    H264(String),
    /// libopus reported an error.
    #[error("Opus: {0}")]
    Opus(String),
}

impl From<::openh264::Error> for CodecError {
    fn from(e: ::openh264::Error) -> Self {
        CodecError::H264(e.to_string())
    }
}

impl From<::opus::Error> for CodecError {
    fn from(e: ::opus::Error) -> Self {
        CodecError::Opus(e.to_string())
    }
}
