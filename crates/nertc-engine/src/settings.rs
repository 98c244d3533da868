//! What the application asked for: video profile, devices, local media switches, role. Written
//! by the API (JS thread), read by the device thread and the actor. Pure functions only here.

use crate::device;
use crate::error::{EngineError, Result};
use crate::media::video_send::{Degradation, EncodeParams};

/// `setVideoConfig`. Zero (or -1 for `max_profile`) leaves a field unset.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VideoConfig {
    pub max_profile: i32,
    pub width: u32,
    pub height: u32,
    pub framerate: u32,
    pub min_framerate: u32,
    pub bitrate_kbps: u32,
    pub min_bitrate_kbps: u32,
    pub mirror_mode: i32,
    /// NERTC's `NERtcVideoCropMode`: 0 the asked size, 1 16:9, 2 4:3, 3 1:1 (camera capture is
    /// cropped to it, [`crate::device::convert::target_size`]).
    pub crop_mode: i32,
    /// NERTC's `NERtcDegradationPreference` (0..=3): what gives way after the bitrate when
    /// the uplink estimate is below what the configuration needs.
    pub degradation_preference: i32,
    /// NERTC's `NERtcVideoOutputOrientationMode`: 0 as captured, 1 fixed landscape, 2 fixed portrait.
    pub orientation_mode: i32,
}

/// `setChannelProfile` (NERTC's `NERtcChannelProfileType`). Set before joining; kept after
/// leaving. Roles apply in the live profile only: in the communication profile everyone is a
/// broadcaster ([`Settings::role`]). The join carries the role that applies, not the profile
/// (NERTC refuses a join whose profile differs from the room's, 20102; rooms here have none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelProfile {
    Communication = 0,
    LiveBroadcasting = 1,
}

impl ChannelProfile {
    pub fn from_nertc(profile: i32) -> Option<Self> {
        match profile {
            0 => Some(ChannelProfile::Communication),
            1 => Some(ChannelProfile::LiveBroadcasting),
            _ => None,
        }
    }
}

/// `setClientRole` (NERTC's `NERtcClientRole` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Broadcaster = 0,
    Audience = 1,
}

impl Role {
    /// The role as the server knows it.
    pub fn wire(self) -> nertc_protocol::Role {
        match self {
            Role::Broadcaster => nertc_protocol::Role::Broadcaster,
            Role::Audience => nertc_protocol::Role::Audience,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub channel_profile: ChannelProfile,
    /// The role that applies: [`Settings::client_role`] in the live profile, always
    /// broadcaster in the communication profile. Publishing follows it. Set with
    /// [`Settings::set_role`].
    pub role: Role,
    /// What `setClientRole` asked for (kept while the profile is communication, applied when
    /// it becomes live).
    pub client_role: Role,
    pub encode: EncodeParams,
    /// `enableDualStreamMode`: the camera is published with a low layer too (from its next
    /// publication).
    pub dual_stream: bool,
    /// `setRemoteSubscribeFallbackOption` (NERTC's `NERtcStreamFallbackOption`): 0 disabled, 1
    /// the low layer on a poor downlink (default), 2 audio only (not built: taken as 1).
    pub remote_fallback: i32,
    /// `setLocalPublishFallbackOption`: 0 disabled (default), 2 audio only (not built: the
    /// uplink estimate lowers the video instead, and video is never dropped).
    pub local_fallback: i32,
    /// The local preview's mirror mode (`setLocalVideoMirrorMode`): 0 auto (mirror the
    /// preview), 1 mirror, 2 never.
    pub mirror_mode: i32,
    /// `setVideoConfig`'s `mirror_mode` 1: the encoded video (what the others see) is
    /// mirrored; 0 (auto) and 2 send it as captured. Independent of the preview's.
    pub encode_mirror: bool,
    /// `setVideoConfig`'s crop and orientation modes (camera stream).
    pub crop_mode: i32,
    pub orientation_mode: i32,
    pub record_device: String,
    pub playout_device: String,
    pub video_device: String,
    pub external_video: bool,
    /// `(sample_rate, channels)` of the external audio source when enabled.
    pub external_audio: Option<(u32, u16)>,
    pub local_video: bool,
    pub local_audio: bool,
    pub preview: bool,
    pub volume_indication_ms: Option<u32>,
    /// `startRecordDeviceTest(interval)`: the microphone runs and its level is reported.
    pub record_test_ms: Option<u32>,
    /// `startAudioDeviceLoopbackTest(interval)`: the microphone plays on the speaker too.
    pub loopback_test_ms: Option<u32>,
    /// `startPlayoutDeviceTest(path)`: the speaker plays this WAV file in a loop.
    pub playout_test: Option<String>,
    pub server_url: String,
    pub auto_subscribe_video: bool,
    /// NERTC's `auto_subscribe_audio` (default true).
    pub auto_subscribe_audio: bool,
    /// The screen share (`startScreenCapture*`) while it runs.
    pub screen: Option<ScreenShare>,
}

/// A screen share: what is captured and how the substream is encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenShare {
    pub capture: device::screen::ScreenParams,
    pub encode: EncodeParams,
}

impl Settings {
    pub fn new(server_url: String) -> Self {
        Settings {
            channel_profile: ChannelProfile::Communication,
            role: Role::Broadcaster,
            client_role: Role::Broadcaster,
            encode: EncodeParams { bitrate_kbps: default_bitrate_kbps(640, 480, 15), ..EncodeParams::default() },
            dual_stream: false,
            remote_fallback: 1,
            local_fallback: 0,
            mirror_mode: 0,
            encode_mirror: false,
            crop_mode: 0,
            orientation_mode: 0,
            record_device: device::default_record_device(),
            playout_device: device::default_playout_device(),
            video_device: device::default_video_device(),
            external_video: false,
            external_audio: None,
            local_video: false,
            local_audio: true,
            preview: false,
            volume_indication_ms: None,
            record_test_ms: None,
            loopback_test_ms: None,
            playout_test: None,
            server_url,
            auto_subscribe_video: false,
            auto_subscribe_audio: true,
            screen: None,
        }
    }

    /// Sets the profile and/or the requested role and derives the role that applies.
    pub fn set_role(&mut self, profile: ChannelProfile, client_role: Role) {
        self.channel_profile = profile;
        self.client_role = client_role;
        self.role = match profile {
            ChannelProfile::LiveBroadcasting => client_role,
            ChannelProfile::Communication => Role::Broadcaster,
        };
    }

    /// Whether the local preview is drawn mirrored.
    pub fn preview_mirrored(&self) -> bool {
        mirrored(self.mirror_mode)
    }

    /// Whether the substream (screen share) is published.
    pub fn wants_screen_published(&self) -> bool {
        self.role == Role::Broadcaster && self.screen.is_some()
    }

    /// What to publish: (audio, video).
    pub fn wants_published(&self) -> (bool, bool) {
        let b = self.role == Role::Broadcaster;
        (b && self.local_audio, b && self.local_video)
    }
}

/// Mirror mode 0 (auto) and 1 mirror the local preview; 2 never does.
pub fn mirrored(mirror_mode: i32) -> bool {
    mirror_mode != 2
}

/// Size and frame rate for NERTC's `max_profile` 0..=4.
pub fn profile_size(profile: i32) -> Option<(u32, u32, u32)> {
    match profile {
        0 => Some((160, 90, 15)),
        1 => Some((320, 180, 15)),
        2 => Some((640, 480, 30)),
        3 => Some((1280, 720, 30)),
        4 => Some((1920, 1080, 30)),
        _ => None,
    }
}

/// A reasonable H.264 bitrate for a size and frame rate (≈0.07 bits per pixel).
pub fn default_bitrate_kbps(w: u32, h: u32, fps: u32) -> u32 {
    ((w as u64 * h as u64 * fps as u64 * 7 / 100 / 1000) as u32).clamp(80, 4000)
}

/// NERTC's max_profile for a published layer's height (what `onUserVideoStart` reports).
pub fn profile_of(height: u32) -> i32 {
    match height {
        0 => 2,
        1..=90 => 0,
        91..=180 => 1,
        181..=480 => 2,
        481..=720 => 3,
        _ => 4,
    }
}

/// The encoder parameters a `setVideoConfig` asks for.
pub fn resolve_video_config(cfg: &VideoConfig) -> Result<EncodeParams> {
    let bad = |why: &str| Err(EngineError::InvalidParam(format!("setVideoConfig: {why}")));
    let (mut w, mut h, mut fps) = match cfg.max_profile {
        -1 => (640, 480, 15),
        p => match profile_size(p) {
            Some(s) => s,
            None => return Err(EngineError::InvalidVideoProfile(p)),
        },
    };
    if cfg.width > 0 || cfg.height > 0 {
        if cfg.width == 0 || cfg.height == 0 || cfg.width > 3840 || cfg.height > 2160 || cfg.width % 2 == 1 || cfg.height % 2 == 1 {
            return bad("width and height must both be even and at most 3840x2160");
        }
        (w, h) = (cfg.width, cfg.height);
    }
    if cfg.framerate > 0 {
        if cfg.framerate > 60 {
            return bad("framerate must be at most 60");
        }
        fps = cfg.framerate;
    }
    if !(0..=2).contains(&cfg.mirror_mode) {
        return bad("mirror_mode must be 0..=2");
    }
    if !(0..=3).contains(&cfg.crop_mode) {
        return bad("crop_mode must be 0..=3");
    }
    if !(0..=2).contains(&cfg.orientation_mode) {
        return bad("orientation_mode must be 0..=2");
    }
    if cfg.bitrate_kbps > 20_000 {
        return bad("bitrate must be at most 20000 kbps");
    }
    let bitrate_kbps = if cfg.bitrate_kbps > 0 { cfg.bitrate_kbps.max(cfg.min_bitrate_kbps) } else { default_bitrate_kbps(w, h, fps) };
    let Some(degradation) = Degradation::from_nertc(cfg.degradation_preference) else {
        return bad("degradation_preference must be 0..=3");
    };
    Ok(EncodeParams { width: w, height: h, fps, bitrate_kbps, min_fps: cfg.min_framerate.min(fps), degradation })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> VideoConfig {
        VideoConfig { max_profile: -1, ..Default::default() }
    }

    #[test]
    fn video_config_resolution() {
        let p = resolve_video_config(&cfg()).unwrap();
        assert_eq!((p.width, p.height, p.fps), (640, 480, 15));
        assert_eq!(p.bitrate_kbps, default_bitrate_kbps(640, 480, 15));
        let p = resolve_video_config(&VideoConfig { max_profile: 3, ..Default::default() }).unwrap();
        assert_eq!((p.width, p.height, p.fps), (1280, 720, 30));
        let p = resolve_video_config(&VideoConfig {
            width: 320,
            height: 240,
            framerate: 10,
            bitrate_kbps: 100,
            min_bitrate_kbps: 150,
            ..cfg()
        })
        .unwrap();
        assert_eq!((p.width, p.height, p.fps, p.bitrate_kbps), (320, 240, 10, 150));
        let p = resolve_video_config(&VideoConfig { degradation_preference: 2, min_framerate: 7, ..cfg() }).unwrap();
        assert_eq!((p.degradation, p.min_fps), (Degradation::MaintainQuality, 7));
        assert!(resolve_video_config(&VideoConfig { degradation_preference: 4, ..cfg() }).is_err());
        for p in [5, 9, -2] {
            let r = resolve_video_config(&VideoConfig { max_profile: p, ..Default::default() });
            assert!(matches!(r, Err(EngineError::InvalidVideoProfile(_))), "max_profile {p}: NERTC's 30010");
        }
        for bad in [
            VideoConfig { width: 321, height: 240, ..cfg() },
            VideoConfig { width: 320, ..cfg() },
            VideoConfig { width: 4000, height: 2000, ..cfg() },
            VideoConfig { framerate: 61, ..cfg() },
            VideoConfig { mirror_mode: 3, ..cfg() },
            VideoConfig { crop_mode: 4, ..cfg() },
            VideoConfig { bitrate_kbps: 20_001, ..cfg() },
        ] {
            assert!(matches!(resolve_video_config(&bad), Err(EngineError::InvalidParam(_))), "{bad:?}");
        }
    }

    #[test]
    fn profiles_and_bitrates() {
        assert_eq!(profile_of(0), 2);
        assert_eq!(profile_of(90), 0);
        assert_eq!(profile_of(180), 1);
        assert_eq!(profile_of(480), 2);
        assert_eq!(profile_of(720), 3);
        assert_eq!(profile_of(1080), 4);
        for p in 0..=4 {
            let (_, h, _) = profile_size(p).unwrap();
            assert_eq!(profile_of(h), p, "profile {p} round trips");
        }
        assert_eq!(default_bitrate_kbps(160, 90, 1), 80, "floor");
        assert_eq!(default_bitrate_kbps(3840, 2160, 60), 4000, "cap");
    }

    #[test]
    fn roles_apply_in_the_live_profile_only() {
        let mut s = Settings::new(String::new());
        s.local_video = true;
        s.set_role(ChannelProfile::Communication, Role::Audience);
        assert_eq!((s.role, s.client_role), (Role::Broadcaster, Role::Audience), "communication: everyone broadcasts");
        assert_eq!(s.wants_published(), (true, true));
        s.set_role(ChannelProfile::LiveBroadcasting, s.client_role);
        assert_eq!(s.role, Role::Audience, "the kept request applies once the profile is live");
        assert_eq!(s.wants_published(), (false, false));
        s.set_role(ChannelProfile::LiveBroadcasting, Role::Broadcaster);
        assert_eq!(s.wants_published(), (true, true));
    }

    #[test]
    fn publishing_follows_role_and_switches() {
        let mut s = Settings::new(String::new());
        s.local_video = true;
        assert_eq!(s.wants_published(), (true, true));
        s.role = Role::Audience;
        assert_eq!(s.wants_published(), (false, false));
        assert!(mirrored(0) && mirrored(1) && !mirrored(2));
    }
}
