//! The codecs the SFU negotiates, with fixed payload types on the subscriber side, and the
//! construction of one webrtc-rs peer connection (media engine, interceptors, ICE settings).

use std::sync::Arc;

use rtc::interceptor::Registry;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_VP8, MediaEngine,
};
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind,
};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceCandidateType, SettingEngineBuilder,
};

use crate::config::RtcConfig;
use crate::metrics::Metrics;
use crate::sfu::tap::{RtcpTap, TapMode};

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

fn all() -> Vec<(RTCRtpCodec, u8, RtpCodecKind)> {
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

fn media_engine() -> webrtc::error::Result<MediaEngine> {
    let mut me = MediaEngine::default();
    for (codec, pt, kind) in all() {
        me.register_codec(RTCRtpCodecParameters { rtp_codec: codec, payload_type: pt }, kind)?;
    }
    Ok(me)
}

/// Builds one peer connection bound to `udp_port` (0 = ephemeral) with our codecs, the default
/// interceptors (NACK responder with its send cache, NACK generator, RTCP reports) and the tap.
pub async fn build_peer_connection(
    rtc_cfg: &RtcConfig,
    udp_port: u16,
    metrics: Arc<Metrics>,
    handler: Arc<dyn PeerConnectionEventHandler>,
) -> webrtc::error::Result<Arc<dyn PeerConnection>> {

    let mut me = media_engine()?;
    let registry = register_default_interceptors(Registry::new(), &mut me)?
        .with(rtc::interceptor::Slot::from(500), RtcpTap::new(TapMode::Count, metrics.clone()))
        .with(rtc::interceptor::Slot::from(14_000), RtcpTap::new(TapMode::DeliverKeyframeRequests, metrics));
    let mut settings = SettingEngineBuilder::new()
        .with_include_loopback_candidate(true)
        .with_ice_timeouts(
            Some(std::time::Duration::from_secs(5)),
            Some(std::time::Duration::from_secs(15)),
            Some(std::time::Duration::from_secs(2)),
        );
    if let Some(ip) = &rtc_cfg.advertised_ip {
        settings = settings.with_nat_1to1_ips(vec![ip.clone()], RTCIceCandidateType::Host);
    }
    let pc = PeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_media_engine(me)
        .with_interceptor_registry(registry)
        .with_setting_engine(settings.build())
        .with_handler(handler)
        .with_udp_addrs(vec![std::net::SocketAddr::new(rtc_cfg.bind_ip, udp_port)])
        .build()
        .await?;
    Ok(Arc::new(pc))
}
