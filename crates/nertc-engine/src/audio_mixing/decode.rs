//! Whole-file decoding for mixing and effects: any container/codec symphonia knows (WAV/PCM,
//! MP3, AAC in MP4/M4A or ADTS, FLAC, Ogg Vorbis) plus Ogg Opus (symphonia demuxes it, the
//! `opus` crate decodes the packets), converted to 48 kHz mono i16. Runs on a loader thread,
//! never on the JS thread.

use std::path::Path;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CODEC_TYPE_NULL, CODEC_TYPE_OPUS, DecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use crate::device::AudioConverter;

/// Output rate of [`decode_file`].
pub const RATE: u32 = 48_000;
/// Longest file kept in memory (48 kHz mono i16: 20 min = 115 MB).
pub const MAX_SECONDS: usize = 20 * 60;

/// NERTC's `NERtcAudioMixingErrorCode` values this module reports.
pub mod mixing_error {
    pub const OK: i32 = 0;
    pub const FATAL: i32 = 1;
    pub const CAN_NOT_OPEN: i32 = 2;
    pub const DECODE: i32 = 3;
    pub const N_STREAM: i32 = 8;
    pub const N_CODEC: i32 = 9;
    pub const N_MEM: i32 = 10;
    pub const IO: i32 = 15;
}

/// Why a file cannot be played: a NERtcAudioMixingErrorCode and a message for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub code: i32,
    pub msg: String,
}

fn err(code: i32, msg: impl Into<String>) -> DecodeError {
    DecodeError { code, msg: msg.into() }
}

/// Decodes `path` entirely to 48 kHz mono.
pub fn decode_file(path: &Path) -> Result<Vec<i16>, DecodeError> {
    let file = std::fs::File::open(path).map_err(|e| err(mixing_error::CAN_NOT_OPEN, format!("{}: {e}", path.display())))?;
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let probed = symphonia::default::get_probe()
        .format(&hint, mss, &FormatOptions::default(), &MetadataOptions::default())
        .map_err(|e| err(mixing_error::N_STREAM, format!("{}: unknown format: {e}", path.display())))?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| err(mixing_error::N_STREAM, format!("{}: no audio track", path.display())))?;
    let track_id = track.id;
    let params = track.codec_params.clone();
    let channels = params.channels.map(|c| c.count()).unwrap_or(1).clamp(1, 8) as u16;
    let mut out = Vec::new();
    let limit = MAX_SECONDS * RATE as usize;
    if params.codec == CODEC_TYPE_OPUS {
        let ch = if channels >= 2 { opus::Channels::Stereo } else { opus::Channels::Mono };
        let n_ch: u16 = if channels >= 2 { 2 } else { 1 };
        let mut dec = opus::Decoder::new(RATE, ch).map_err(|e| err(mixing_error::N_CODEC, format!("opus decoder: {e}")))?;
        let mut conv = AudioConverter::new(RATE, n_ch, RATE, 1);
        let mut buf = vec![0i16; 5760 * usize::from(n_ch)];
        // Opus streams start with `pre-skip` priming samples to drop.
        let mut skip = params.delay.unwrap_or(0) as usize;
        loop {
            let packet = match format.next_packet() {
                Ok(p) => p,
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(err(mixing_error::IO, format!("{}: {e}", path.display()))),
            };
            if packet.track_id() != track_id {
                continue;
            }
            let n = match dec.decode(&packet.data, &mut buf, false) {
                Ok(n) => n,
                Err(e) => {
                    tracing::debug!("opus packet skipped: {e}");
                    continue;
                }
            };
            let drop = skip.min(n);
            skip -= drop;
            conv.push_i16(&buf[drop * usize::from(n_ch)..n * usize::from(n_ch)]);
            out.extend(conv.take_i16());
            if out.len() > limit {
                return Err(err(mixing_error::N_MEM, format!("{}: longer than {MAX_SECONDS} s", path.display())));
            }
        }
    } else {
        let mut decoder = symphonia::default::get_codecs()
            .make(&params, &DecoderOptions::default())
            .map_err(|e| err(mixing_error::N_CODEC, format!("{}: unsupported codec: {e}", path.display())))?;
        let mut conv: Option<((u32, u16), AudioConverter)> = None;
        let mut decoded_any = false;
        loop {
            let packet = match format.next_packet() {
                Ok(p) => p,
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(SymError::ResetRequired) => break,
                Err(e) => return Err(err(mixing_error::IO, format!("{}: {e}", path.display()))),
            };
            if packet.track_id() != track_id {
                continue;
            }
            let decoded = match decoder.decode(&packet) {
                Ok(d) => d,
                Err(SymError::DecodeError(e)) => {
                    tracing::debug!("{}: packet skipped: {e}", path.display());
                    continue;
                }
                Err(e) => return Err(err(mixing_error::DECODE, format!("{}: {e}", path.display()))),
            };
            let spec = *decoded.spec();
            let key = (spec.rate.max(1), spec.channels.count().max(1) as u16);
            if conv.as_ref().is_none_or(|(k, _)| *k != key) {
                conv = Some((key, AudioConverter::new(key.0, key.1, RATE, 1)));
            }
            let (_, c) = conv.as_mut().expect("set just above");
            let mut sb = SampleBuffer::<i16>::new(decoded.capacity() as u64, spec);
            sb.copy_interleaved_ref(decoded);
            c.push_i16(sb.samples());
            out.extend(c.take_i16());
            decoded_any = true;
            if out.len() > limit {
                return Err(err(mixing_error::N_MEM, format!("{}: longer than {MAX_SECONDS} s", path.display())));
            }
        }
        if !decoded_any {
            return Err(err(mixing_error::DECODE, format!("{}: nothing decodable", path.display())));
        }
    }
    Ok(out)
}
