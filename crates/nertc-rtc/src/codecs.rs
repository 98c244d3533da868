//! The codecs both sides negotiate, with fixed payload types (the SFU rewrites forwarded
//! packets to these on the subscriber side).

use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_VP8, MediaEngine};
use rtc::rtp_transceiver::rtp_sender::{RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind};
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodingParameters, RTCRtpEncodingParameters};

/// Opus, 48 kHz stereo, in-band FEC.
pub const PT_OPUS: u8 = 111;
/// H.264 constrained baseline, packetization-mode 1 (what browsers and openh264 share).
pub const PT_H264: u8 = 102;
pub const PT_VP8: u8 = 96;

pub const H264_FMTP: &str = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";

/// The codec the SFU sends for `mime` (case-insensitive), with its payload type.
pub fn canonical(mime: &str) -> Option<(RTCRtpCodec, u8, RtpCodecKind)> {
    all().into_iter().find(|(c, _, _)| c.mime_type.eq_ignore_ascii_case(mime))
}

/// Every codec: (codec, payload type, kind).
pub fn all() -> Vec<(RTCRtpCodec, u8, RtpCodecKind)> {
    let video_fb = || {
        vec![
            RTCPFeedback { typ: "nack".into(), parameter: String::new() },
            RTCPFeedback { typ: "nack".into(), parameter: "pli".into() },
            RTCPFeedback { typ: "ccm".into(), parameter: "fir".into() },
        ]
    };
    vec![
        (
            RTCRtpCodec {
                mime_type: MIME_TYPE_OPUS.into(),
                clock_rate: 48_000,
                channels: 2,
                sdp_fmtp_line: "minptime=10;useinbandfec=1".into(),
                rtcp_feedback: vec![],
            },
            PT_OPUS,
            RtpCodecKind::Audio,
        ),
        (
            RTCRtpCodec {
                mime_type: MIME_TYPE_H264.into(),
                clock_rate: 90_000,
                channels: 0,
                sdp_fmtp_line: H264_FMTP.into(),
                rtcp_feedback: video_fb(),
            },
            PT_H264,
            RtpCodecKind::Video,
        ),
        (
            RTCRtpCodec {
                mime_type: MIME_TYPE_VP8.into(),
                clock_rate: 90_000,
                channels: 0,
                sdp_fmtp_line: String::new(),
                rtcp_feedback: video_fb(),
            },
            PT_VP8,
            RtpCodecKind::Video,
        ),
    ]
}

/// A media engine with our codecs registered at their fixed payload types.
pub fn media_engine() -> webrtc::error::Result<MediaEngine> {
    let mut me = MediaEngine::default();
    for (codec, pt, kind) in all() {
        me.register_codec(RTCRtpCodecParameters { rtp_codec: codec, payload_type: pt }, kind)?;
    }
    Ok(me)
}

/// A local track description with one encoding: `codec` sent with a fixed `ssrc` (the SFU's
/// down-tracks, the engine's published tracks and test/bench publishers all build this).
pub fn media_track(stream_id: String, track_id: &str, kind: RtpCodecKind, codec: RTCRtpCodec, ssrc: u32) -> MediaStreamTrack {
    MediaStreamTrack::new(
        stream_id,
        track_id.to_owned(),
        track_id.to_owned(),
        kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters { ssrc: Some(ssrc), ..Default::default() },
            codec,
            ..Default::default()
        }],
    )
}
