//! Media encryption end to end (`enableEncryption`): encoded frames are sealed before they are
//! packetised and opened after depacketisation, so the room server forwards ciphertext it
//! cannot read, and only members holding the same key see and hear each other.
//!
//! # Cipher
//! NERTC's mode 0 (`kNERtcGMCryptoSM4ECB`) names SM4, the 128-bit Chinese national block
//! cipher. Here SM4 runs in GCM (SM4-GCM, RFC 8998's AEAD) rather than ECB: every frame is
//! authenticated, so a frame sealed with another key (or not sealed, or altered) is recognised
//! and dropped instead of being decoded into garbage, and equal blocks of a frame do not give
//! equal ciphertext. NERTC's own wire format is not spoken here anyway (nor its servers), so
//! nothing is lost in compatibility. The 128-bit key is derived from the application's key
//! string with HKDF-SHA256. Each sealed unit has a fresh random 96-bit nonce.
//!
//! # What stays in the clear (what the SFU and the receive path read)
//! In the spirit of SFrame and WebRTC's insertable streams with unencrypted headers:
//! - H.264: parameter sets and delimiters (NAL types 7-12) whole; of the slices and SEI units
//!   (types 1-6), which are sealed, the NAL header byte and the first payload byte. The SFU's
//!   keyframe detection reads NAL types (`nertc-server`'s `sfu/simulcast.rs`), the receiver's
//!   access-unit assembly the first bit after a slice's header (`first_mb_in_slice` 0). A
//!   sealed NAL unit is `header, escape(first byte, MAGIC, nonce, ciphertext, tag), 0x80`: the
//!   escape is H.264's emulation prevention, so that no start code appears inside it and the
//!   packetiser splits the access unit where it should; the final byte keeps a zero off the
//!   end (where it would join the next start code).
//! - Opus: nothing; a sealed packet is `FF 00, nonce, ciphertext, tag`. `FF 00` is never a
//!   valid Opus packet (code 3 with a frame count of 0), so no plain packet looks sealed and
//!   a decoder without the key refuses it.
//!
//! # Mismatches
//! A receiver with a key drops what does not open with it; a receiver without one drops what is
//! sealed (recognised by its MAGIC and final byte). Either way it reports
//! NERTC's `kNERtcErrEncryptNotSuitable` (30113) once per received stream through `onError`
//! and logs a warning; nothing undecodable reaches the decoder or the screen.

use std::borrow::Cow;

use aes_gcm::AesGcm;
use aes_gcm::aead::consts::U12;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use bytes::Bytes;

use nertc_protocol::Uid;

use crate::codec::h264::{escape, unescape};
use crate::error::{self, EngineError};
use crate::event::{EngineEvent, Events};

/// SM4 in Galois/counter mode with a 96-bit nonce and a 128-bit tag.
type Sm4Gcm = AesGcm<sm4::Sm4, U12>;

/// NERTC's `NERtcEncryptionMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncryptionMode {
    /// `kNERtcGMCryptoSM4ECB` (0): SM4 with a 128-bit key (here SM4-GCM, see the module doc).
    Sm4,
}

impl EncryptionMode {
    /// NERTC's value; `kNERtcEncryptionModeCustom` (1, the application's own C++ packet
    /// observer) has no JavaScript side and is not supported.
    pub fn from_nertc(mode: i32) -> Result<Self, EngineError> {
        match mode {
            0 => Ok(EncryptionMode::Sm4),
            1 => Err(EngineError::NotSupported("custom encryption (kNERtcEncryptionModeCustom) needs a native packet observer")),
            m => Err(EngineError::InvalidParam(format!("encryption mode {m}"))),
        }
    }
}

/// The key of a call: set by `enableEncryption` before joining, used by every sending and
/// receiving pipeline of the session.
pub struct MediaKey {
    mode: EncryptionMode,
    cipher: Sm4Gcm,
    /// Derived from the key apart from the cipher key (HKDF, another label): tells keys apart
    /// in `Settings` comparisons without keeping the key.
    check: [u8; 8],
}

impl std::fmt::Debug for MediaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaKey").field("mode", &self.mode).finish_non_exhaustive()
    }
}

impl PartialEq for MediaKey {
    fn eq(&self, other: &Self) -> bool {
        self.mode == other.mode && self.check == other.check
    }
}

const HKDF_SALT: &[u8] = b"nertc media encryption v1";
/// Marks a sealed H.264 NAL unit (after its clear first byte): a plain unit with these 8 bytes
/// there and [`VIDEO_TRAILER`] at its end is a chance of about 2^-67 (for random bytes).
const VIDEO_MAGIC: [u8; 8] = *b"NERTCe2e";
/// Starts a sealed Opus packet: TOC code 3 with a frame count of 0, an invalid Opus packet.
const AUDIO_MAGIC: [u8; 2] = [0xff, 0x00];
/// Ends a sealed H.264 NAL unit: non-zero, so the unit never ends in a zero byte.
const VIDEO_TRAILER: u8 = 0x80;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// NAL units through this type are sealed (slices, data partitions, IDR slices, SEI).
const LAST_SEALED_NAL_TYPE: u8 = 6;

impl MediaKey {
    /// The key for NERTC's `mode` and `key` string (empty: invalid).
    pub fn new(mode: i32, key: &str) -> Result<Self, EngineError> {
        let mode = EncryptionMode::from_nertc(mode)?;
        if key.is_empty() {
            return Err(EngineError::InvalidParam("empty encryption key".into()));
        }
        let hkdf = hkdf::Hkdf::<sha2::Sha256>::new(Some(HKDF_SALT), key.as_bytes());
        let mut cipher_key = [0u8; 16];
        hkdf.expand(b"sm4-gcm key", &mut cipher_key).expect("16 bytes are within HKDF-SHA256's 8160-byte output limit");
        let mut check = [0u8; 8];
        hkdf.expand(b"key check", &mut check).expect("8 bytes are within HKDF-SHA256's 8160-byte output limit");
        Ok(MediaKey { mode, cipher: Sm4Gcm::new(&cipher_key.into()), check })
    }

    /// `nonce, ciphertext, tag` of `msg`, authenticating `aad` with it, appended to `out`.
    fn seal_into(&self, aad: &[u8], msg: &[u8], out: &mut Vec<u8>) {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let sealed = self
            .cipher
            .encrypt(GenericArray::from_slice(&nonce), Payload { msg, aad })
            .expect("GCM seals any message under 64 GiB; encoded frames are far smaller");
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
    }

    /// Opens `nonce, ciphertext, tag`.
    fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(OpenError::WrongKey);
        }
        let (nonce, msg) = sealed.split_at(NONCE_LEN);
        self.cipher.decrypt(GenericArray::from_slice(nonce), Payload { msg, aad }).map_err(|_| OpenError::WrongKey)
    }

    /// Seals an Opus packet.
    pub fn seal_audio(&self, packet: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(AUDIO_MAGIC.len() + NONCE_LEN + packet.len() + TAG_LEN);
        out.extend_from_slice(&AUDIO_MAGIC);
        self.seal_into(&AUDIO_MAGIC, packet, &mut out);
        out
    }

    /// Seals the slices and SEI units of an Annex-B access unit (4-byte start codes out).
    pub fn seal_video(&self, au: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(au.len() + 64);
        let mut body = Vec::new();
        for nal in nal_units(au) {
            out.extend_from_slice(&[0, 0, 0, 1]);
            if !is_sealed_type(nal) {
                out.extend_from_slice(nal);
                continue;
            }
            // Clear: the header and the first payload byte (authenticated with the rest).
            body.clear();
            body.push(nal[1]);
            body.extend_from_slice(&VIDEO_MAGIC);
            self.seal_into(&nal[..2], &nal[2..], &mut body);
            out.push(nal[0]);
            escape(&body, &mut out);
            out.push(VIDEO_TRAILER);
        }
        out
    }

    /// Opens a sealed Opus packet.
    pub fn open_audio(&self, packet: &[u8]) -> Result<Vec<u8>, OpenError> {
        match packet.strip_prefix(&AUDIO_MAGIC) {
            Some(sealed) => self.open(&AUDIO_MAGIC, sealed),
            None => Err(OpenError::NotSealed),
        }
    }

    /// Opens every sealed unit of an Annex-B access unit; any that does not open spoils it.
    pub fn open_video(&self, au: &[u8]) -> Result<Vec<u8>, OpenError> {
        let mut out = Vec::with_capacity(au.len());
        for nal in nal_units(au) {
            out.extend_from_slice(&[0, 0, 0, 1]);
            if !is_sealed_type(nal) {
                out.extend_from_slice(nal);
                continue;
            }
            let body = sealed_body(nal).ok_or(OpenError::NotSealed)?;
            let plain = self.open(&[nal[0], body[0]], &body[1 + VIDEO_MAGIC.len()..])?;
            out.extend_from_slice(&[nal[0], body[0]]);
            out.extend_from_slice(&plain);
        }
        Ok(out)
    }
}

/// Why a received unit was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// Encryption is on here and the unit is not sealed: the sender does not encrypt.
    NotSealed,
    /// The unit is sealed but does not open with our key: another key (or mode).
    WrongKey,
    /// Encryption is off here and the sender seals its media.
    Sealed,
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OpenError::NotSealed => "the sender does not encrypt its media, and encryption is on here",
            OpenError::WrongKey => "the media does not decrypt with this key: the sender uses another key",
            OpenError::Sealed => "the sender encrypts its media, and encryption is off here",
        })
    }
}

/// A received Opus packet as the decoder may take it: opened with `key`, or as it came when
/// there is no key and it is not sealed. An empty payload (a padding-only RTP packet, which
/// Chromium sends on its audio stream) carries no media and passes as it is either way.
pub fn open_audio<'a>(key: Option<&MediaKey>, packet: &'a [u8]) -> Result<Cow<'a, [u8]>, OpenError> {
    match key {
        _ if packet.is_empty() => Ok(Cow::Borrowed(packet)),
        Some(k) => k.open_audio(packet).map(Cow::Owned),
        None if packet.starts_with(&AUDIO_MAGIC) => Err(OpenError::Sealed),
        None => Ok(Cow::Borrowed(packet)),
    }
}

/// A received access unit as the decoder may take it (see [`open_audio`]).
pub fn open_video(key: Option<&MediaKey>, au: Bytes) -> Result<Bytes, OpenError> {
    match key {
        Some(k) => k.open_video(&au).map(Bytes::from),
        None if nal_units(&au).any(looks_sealed) => Err(OpenError::Sealed),
        None => Ok(au),
    }
}

/// Reports a stream's undecryptable media to the application: NERTC's 30113 through `onError`
/// and a log line, once per stream; drops after that are only counted (in the log at debug).
#[derive(Default)]
pub struct Mismatch {
    dropped: u64,
}

impl Mismatch {
    pub fn dropped(&mut self, uid: Uid, what: &str, why: OpenError, events: &Events) {
        self.dropped += 1;
        if self.dropped == 1 {
            tracing::warn!(uid, "{what} of user {uid} dropped: {why}");
            events.send(EngineEvent::Error {
                code: error::ERR_ENCRYPT_NOT_SUITABLE,
                msg: format!("{what} of user {uid} cannot be decrypted: {why}"),
            });
        } else {
            tracing::debug!(uid, dropped = self.dropped, "{what} of user {uid} dropped: {why}");
        }
    }
}

fn is_sealed_type(nal: &[u8]) -> bool {
    nal.len() >= 2 && (1..=LAST_SEALED_NAL_TYPE).contains(&(nal[0] & 0x1f))
}

/// The unescaped `first byte, MAGIC, nonce, ciphertext, tag` of a sealed NAL unit; None when
/// the unit is not sealed.
fn sealed_body(nal: &[u8]) -> Option<Vec<u8>> {
    let (&last, inner) = nal[1..].split_last()?;
    if last != VIDEO_TRAILER {
        return None;
    }
    let body = unescape(inner);
    (body.len() >= 1 + VIDEO_MAGIC.len() + NONCE_LEN + TAG_LEN && body[1..1 + VIDEO_MAGIC.len()] == VIDEO_MAGIC).then_some(body)
}

/// Whether a NAL unit is sealed, from its first bytes and its last (a receiver without a key
/// checks every unit: no copy of the whole unit).
fn looks_sealed(nal: &[u8]) -> bool {
    if !is_sealed_type(nal) || nal.last() != Some(&VIDEO_TRAILER) {
        return false;
    }
    // Escaping inserts at most one byte per two, so 24 escaped bytes give at least 16.
    let head = unescape(&nal[1..nal.len().min(25)]);
    head.get(1..1 + VIDEO_MAGIC.len()) == Some(&VIDEO_MAGIC[..])
}

/// The NAL units of an Annex-B byte stream (without start codes and trailing zero bytes).
fn nal_units(au: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = au;
    std::iter::from_fn(move || {
        loop {
            let start = find_start_code(rest)?;
            rest = &rest[start + 3..];
            let end = find_start_code(rest).unwrap_or(rest.len());
            let mut nal = &rest[..end];
            rest = &rest[end..];
            while let Some((&0, head)) = nal.split_last() {
                nal = head;
            }
            if !nal.is_empty() {
                return Some(nal);
            }
        }
    })
}

/// Where the next `00 00 01` begins.
fn find_start_code(b: &[u8]) -> Option<usize> {
    b.windows(3).position(|w| w == [0, 0, 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An access unit as the encoder writes it: SPS, PPS, then an IDR slice whose payload has
    /// start-code-like runs once sealed (checked below) and zeros of its own.
    fn keyframe(slice_len: usize) -> Vec<u8> {
        let mut au = vec![0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xda, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80, 0, 0, 0, 1, 0x65, 0x88];
        au.extend((0..slice_len).map(|i| if i % 7 == 0 { 0 } else { (i * 31 % 251) as u8 | 1 }));
        au.extend_from_slice(&[0x12, 0x80]);
        au
    }

    fn types(au: &[u8]) -> Vec<u8> {
        nal_units(au).map(|n| n[0] & 0x1f).collect()
    }

    #[test]
    fn a_sealed_access_unit_opens_with_the_key_only() {
        let key = MediaKey::new(0, "the right key").expect("a valid key");
        let au = keyframe(5000);
        let sealed = key.seal_video(&au);
        assert_eq!(types(&sealed), [7, 8, 5], "the same NAL units, in order, under their own headers");
        assert!(!sealed.windows(au.len().min(64)).any(|w| w == &au[au.len() - 64..]), "the slice is not in the clear");
        // Parameter sets as they were; the slice's header and first byte in the clear.
        let nals: Vec<&[u8]> = nal_units(&sealed).collect();
        assert_eq!(nals[0], [0x67, 0x42, 0xc0, 0x1f, 0xda]);
        assert_eq!(&nals[2][..2], [0x65, 0x88]);
        assert_eq!(nals[2].last(), Some(&VIDEO_TRAILER));
        // No start code inside a sealed unit: the packetiser splits where the encoder did.
        assert_eq!(nal_units(&sealed).count(), 3);
        for n in &nals {
            assert!(!n.windows(3).any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 3), "an escaped unit has no 00 00 0x (x <= 3)");
        }
        let opened = key.open_video(&sealed).expect("the same key opens it");
        assert_eq!(opened, au);
        let other = MediaKey::new(0, "another key").expect("a valid key");
        assert_eq!(other.open_video(&sealed), Err(OpenError::WrongKey));
        assert_eq!(key.open_video(&au), Err(OpenError::NotSealed), "a plain slice is refused when encrypting");
        assert_eq!(open_video(None, Bytes::from(sealed)), Err(OpenError::Sealed));
        assert_eq!(open_video(None, Bytes::from(au.clone())), Ok(Bytes::from(au)), "without a key plain units pass as they are");
    }

    /// Through webrtc-rs's H.264 packetiser (STAP-A for the parameter sets, FU-A for the long
    /// slice) and depacketiser, as on the wire: the room server still finds the keyframe's
    /// start (`nertc-server`'s check), and the far end opens what it reassembles.
    #[test]
    fn sealed_units_survive_packetisation_and_the_sfu_still_sees_keyframes() {
        use rtc::rtp::codec::h264::{H264Packet, H264Payloader};
        use rtc::rtp::packetizer::{Depacketizer, Payloader};
        let key = MediaKey::new(0, "k").expect("a valid key");
        let au = keyframe(20_000);
        for _ in 0..20 {
            let sealed = Bytes::from(key.seal_video(&au));
            let payloads = H264Payloader::default().payload(1200, &sealed).expect("packetised");
            assert!(payloads.len() > 10, "fragmented: {} packets", payloads.len());
            assert!(nertc_server::sfu::simulcast::starts_keyframe("video/H264", &payloads[0]), "the SFU sees the keyframe start");
            let mut depacketizer = H264Packet::default();
            let mut received = Vec::new();
            for p in &payloads {
                received.extend_from_slice(&depacketizer.depacketize(p).expect("depacketised"));
            }
            assert_eq!(key.open_video(&received), Ok(au.clone()));
        }
    }

    #[test]
    fn sealing_twice_gives_different_bytes_and_a_flipped_bit_is_caught() {
        let key = MediaKey::new(0, "k").expect("a valid key");
        let au = keyframe(300);
        let (a, b) = (key.seal_video(&au), key.seal_video(&au));
        assert_ne!(a, b, "a fresh nonce per unit");
        let mut tampered = a.clone();
        let n = tampered.len();
        tampered[n - 10] ^= if tampered[n - 10] == 1 { 0x40 } else { 0x01 };
        assert_eq!(key.open_video(&tampered), Err(OpenError::WrongKey));
        // The clear first byte is authenticated too.
        let at = tampered.len() - nal_units(&tampered).last().expect("three units").len() + 1;
        let mut tampered = a;
        tampered[at] ^= 0x40;
        assert_eq!(key.open_video(&tampered), Err(OpenError::WrongKey));
    }

    #[test]
    fn audio_packets_round_trip_and_never_look_like_opus() {
        let key = MediaKey::new(0, "k").expect("a valid key");
        let packet = [0xfc, 0x01, 0x02, 0x03, 0x00, 0x00, 0x00];
        let sealed = key.seal_audio(&packet);
        assert_eq!(&sealed[..2], AUDIO_MAGIC);
        assert_eq!(sealed.len(), packet.len() + 2 + NONCE_LEN + TAG_LEN);
        assert_eq!(key.open_audio(&sealed).as_deref(), Ok(&packet[..]));
        assert_eq!(MediaKey::new(0, "K").expect("valid").open_audio(&sealed), Err(OpenError::WrongKey));
        assert_eq!(key.open_audio(&packet), Err(OpenError::NotSealed));
        assert_eq!(open_audio(None, &sealed), Err(OpenError::Sealed));
        assert_eq!(open_audio(None, &packet).as_deref(), Ok(&packet[..]));
        assert_eq!(open_audio(Some(&key), &[]).as_deref(), Ok(&[][..]), "a padding-only packet is no mismatch");
        // A real decoder refuses a sealed packet (FF 00: code 3, zero frames).
        let mut dec = crate::codec::opus::OpusDecoder::new(48_000, 1).expect("an Opus decoder");
        assert!(dec.decode(&sealed).is_err(), "a sealed packet is not Opus");
    }

    #[test]
    fn escaping_round_trips() {
        let cases: [&[u8]; 5] = [&[0, 0, 0], &[0, 0, 1, 0, 0, 2, 0, 0, 3], &[0, 0, 3, 3], &[1, 2, 0, 0], &[]];
        for c in cases {
            let mut e = Vec::new();
            escape(c, &mut e);
            assert!(!e.windows(3).any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 2), "{e:?}");
            assert_eq!(unescape(&e), c);
        }
    }

    /// The vectors the web client's SM4-GCM and frame formats are checked against
    /// (`web/nertc-e2ee.js`, `__test__/webcrypt.spec.mjs`): frames sealed here, with their key
    /// strings and plaintexts. This test opens the committed file's frames (so it always holds
    /// this format); `NERTC_WRITE_E2EE_VECTORS=1` writes it afresh.
    #[test]
    fn web_client_vectors() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../__test__/fixtures/e2ee-vectors.json");
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        if std::env::var_os("NERTC_WRITE_E2EE_VECTORS").is_some() {
            // A keyframe (SPS, PPS, IDR slice with zero runs), a P frame of two slices and an SEI,
            // a short slice (header and first byte only), Opus packets.
            let mut p_frame = vec![0, 0, 0, 1, 0x06, 0x05, 0x10, 0, 0, 3, 1, 0x80, 0, 0, 0, 1, 0x41, 0x9a];
            p_frame.extend((0..300u32).map(|i| if i % 5 == 0 { 0 } else { (i * 13 % 256) as u8 }));
            p_frame.extend_from_slice(&[0, 0, 0, 1, 0x41, 0x9b, 0, 0, 3, 0, 2, 0x40]);
            let mut vectors: Vec<(&str, &str, Vec<u8>)> = vec![
                ("video", "the right key", keyframe(700)),
                ("video", "the right key", p_frame),
                ("video", "\u{5bc6}\u{94a5} key", vec![0, 0, 0, 1, 0x09, 0x10, 0, 0, 0, 1, 0x41, 0x9a]),
                ("audio", "the right key", vec![0xfc, 0xff, 0xfe, 0, 0, 0, 1, 2, 3]),
                ("audio", "k", (0..200u32).map(|i| (i * 7 % 256) as u8).collect()),
            ];
            // Random bytes (no zero, so no start code) at lengths around the block size and of
            // real keyframes: every GHASH and counter path.
            let noise = |n: usize| (0..n).map(|_| rand::random::<u8>() | 1).collect::<Vec<u8>>();
            for n in [0, 1, 14, 15, 16, 17, 31, 33, 5326, 6542] {
                let mut au = vec![0, 0, 0, 1, 0x65, 0x88];
                au.extend(noise(n));
                vectors.push(("video", "random", au));
            }
            for n in [1, 15, 16, 17, 255] {
                vectors.push(("audio", "random", noise(n)));
            }
            let entries: Vec<serde_json::Value> = vectors
                .into_iter()
                .map(|(kind, key_str, plain)| {
                    let key = MediaKey::new(0, key_str).expect("a valid key");
                    let sealed = if kind == "video" { key.seal_video(&plain) } else { key.seal_audio(&plain) };
                    serde_json::json!({ "kind": kind, "key": key_str, "plain": hex(&plain), "sealed": hex(&sealed) })
                })
                .collect();
            let text = serde_json::to_string_pretty(&serde_json::json!({
                "about": "frames sealed by crates/nertc-engine/src/crypto.rs (test web_client_vectors); hex",
                "vectors": entries,
            }))
            .expect("JSON values serialise");
            std::fs::write(path, text + "\n").expect("the fixture directory is writable");
        }
        let text = std::fs::read_to_string(path).expect("the committed vectors file");
        let json: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        let unhex = |s: &str| (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect::<Vec<u8>>();
        let vectors = json["vectors"].as_array().expect("a vectors array");
        assert!(vectors.len() >= 20);
        for v in vectors {
            let key = MediaKey::new(0, v["key"].as_str().expect("a key string")).expect("a valid key");
            let (plain, sealed) = (unhex(v["plain"].as_str().expect("hex")), unhex(v["sealed"].as_str().expect("hex")));
            let opened = if v["kind"] == "video" { key.open_video(&sealed) } else { key.open_audio(&sealed) };
            assert_eq!(opened.as_deref(), Ok(&plain[..]), "{v}");
        }
    }

    #[test]
    fn modes_and_keys() {
        assert!(matches!(MediaKey::new(1, "k"), Err(EngineError::NotSupported(_))), "custom mode: 30004");
        assert!(matches!(MediaKey::new(2, "k"), Err(EngineError::InvalidParam(_))));
        assert!(matches!(MediaKey::new(0, ""), Err(EngineError::InvalidParam(_))));
        let k = MediaKey::new(0, "secret").expect("valid");
        assert_eq!(k, MediaKey::new(0, "secret").expect("valid"));
        assert_ne!(k, MediaKey::new(0, "secret2").expect("valid"));
        assert!(!format!("{k:?}").contains("secret"));
    }
}
