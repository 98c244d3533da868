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
    /// the low layer on a poor downlink (default), 2 as 1 and then audio only.
    pub remote_fallback: i32,
    /// `setLocalPublishFallbackOption`: 0 disabled (default), 2 audio only
    /// ([`crate::media::publish_fallback`]).
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
    /// The microphone and speaker in use: the default device until the application picks one
    /// (`*_pinned`); an unpinned one follows the sound server's default
    /// ([`crate::device::audio_watch`]).
    pub record_device: String,
    pub playout_device: String,
    pub record_pinned: bool,
    pub playout_pinned: bool,
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
    /// `enableEncryption`: the media key of the next call (set before joining; cleared when
    /// the application leaves, as NERTC does). Every pipeline of the call seals or opens its
    /// frames with it ([`crate::crypto`]).
    pub encryption: Option<std::sync::Arc<crate::crypto::MediaKey>>,
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
            encode: default_encode(),
            dual_stream: false,
            remote_fallback: 1,
            local_fallback: 0,
            mirror_mode: 0,
            encode_mirror: false,
            crop_mode: 0,
            orientation_mode: 0,
            record_device: device::default_record_device(),
            playout_device: device::default_playout_device(),
            record_pinned: false,
            playout_pinned: false,
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
            encryption: None,
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

    /// `setRecordDevice`: this microphone until it goes away, whatever the default.
    pub fn pin_record_device(&mut self, id: String) {
        self.record_device = id;
        self.record_pinned = true;
    }

    /// `setPlayoutDevice`: this speaker until it goes away, whatever the default.
    pub fn pin_playout_device(&mut self, id: String) {
        self.playout_device = id;
        self.playout_pinned = true;
    }

    /// The audio device of `device_type` (1 record, 2 playout) and whether it is pinned.
    pub fn audio_device(&self, device_type: i32) -> (&str, bool) {
        match device_type {
            device::audio_watch::RECORD => (&self.record_device, self.record_pinned),
            _ => (&self.playout_device, self.playout_pinned),
        }
    }

    /// Moves `device_type` from `from` to `to`, unpinned (the default followed, or the fallback
    /// from a device that went away). False when the application changed the device meanwhile.
    pub fn switch_audio_device(&mut self, device_type: i32, from: &str, to: &str) -> bool {
        let (id, pinned) = match device_type {
            device::audio_watch::RECORD => (&mut self.record_device, &mut self.record_pinned),
            _ => (&mut self.playout_device, &mut self.playout_pinned),
        };
        if id != from {
            return false;
        }
        *id = to.to_owned();
        *pinned = false;
        true
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

/// NERTC's default `max_profile`: `kNERtcVideoProfileStandard`.
pub const DEFAULT_PROFILE: i32 = 2;

/// What is encoded before any `setVideoConfig`: NERTC's default profile (Standard, 640x480 at
/// 30 fps) with its default bitrate.
pub fn default_encode() -> EncodeParams {
    resolve_video_config(&VideoConfig { max_profile: -1, ..Default::default() })
        .expect("an empty video config resolves: it is NERTC's default profile")
}

/// Size and frame rate for NERTC's `max_profile` 0..=4 (`NERtcVideoProfileType`: Lowest
/// 160x90 and Low 320x180 at 15 fps, Standard 640x480, HD720P and HD1080P at 30 fps; a
/// `crop_mode` of 16:9 crops Standard to 640x360).
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

/// The encoder parameters a `setVideoConfig` asks for. Unset fields take NERTC's defaults:
/// the Standard profile, the profile's frame rate (`framerate` 0 is
/// `kNERtcVideoFramerateFpsDefault`), a bitrate for that size and rate.
///
/// `min_framerate` is a floor on the encoded frame rate: a `framerate` (or a profile's rate)
/// under it is raised to it, and the degradation preferences that lower the frame rate when
/// the uplink starves the picture stop at it ([`EncodeParams::min_fps`]). 0
/// (`kNERtcVideoFramerateFpsDefault`) is no floor.
pub fn resolve_video_config(cfg: &VideoConfig) -> Result<EncodeParams> {
    let bad = |why: &str| Err(EngineError::InvalidParam(format!("setVideoConfig: {why}")));
    let profile = if cfg.max_profile == -1 { DEFAULT_PROFILE } else { cfg.max_profile };
    let (mut w, mut h, mut fps) = match profile_size(profile) {
        Some(s) => s,
        None => return Err(EngineError::InvalidVideoProfile(profile)),
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
    if cfg.min_framerate > 60 {
        return bad("min_framerate must be at most 60");
    }
    let fps = fps.max(cfg.min_framerate);
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
    Ok(EncodeParams { width: w, height: h, fps, bitrate_kbps, min_fps: cfg.min_framerate, degradation })
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
        assert_eq!((p.width, p.height, p.fps), (640, 480, 30));
        assert_eq!(p.bitrate_kbps, default_bitrate_kbps(640, 480, 30));
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
        assert_eq!(p.fps, 30);
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
            VideoConfig { min_framerate: 61, ..cfg() },
            VideoConfig { mirror_mode: 3, ..cfg() },
            VideoConfig { crop_mode: 4, ..cfg() },
            VideoConfig { bitrate_kbps: 20_001, ..cfg() },
        ] {
            assert!(matches!(resolve_video_config(&bad), Err(EngineError::InvalidParam(_))), "{bad:?}");
        }
    }

    #[test]
    fn nertc_profile_defaults() {
        // NERtcVideoProfileType: Lowest and Low at 15 fps, Standard, 720p and 1080p at 30 fps.
        let expect = [(0, 160, 90, 15), (1, 320, 180, 15), (2, 640, 480, 30), (3, 1280, 720, 30), (4, 1920, 1080, 30)];
        for (profile, w, h, fps) in expect {
            let p = resolve_video_config(&VideoConfig { max_profile: profile, ..Default::default() }).unwrap();
            assert_eq!((p.width, p.height, p.fps), (w, h, fps), "profile {profile}");
            assert_eq!(p.bitrate_kbps, default_bitrate_kbps(w, h, fps), "profile {profile}: the bitrate follows size and rate");
            // framerate 0 is kNERtcVideoFramerateFpsDefault: the profile's.
            let with_zero = VideoConfig { max_profile: profile, framerate: 0, ..Default::default() };
            assert_eq!(resolve_video_config(&with_zero).unwrap().fps, fps);
        }
        // No setVideoConfig at all, or one that sets nothing: the Standard profile.
        let standard = resolve_video_config(&VideoConfig { max_profile: DEFAULT_PROFILE, ..Default::default() }).unwrap();
        assert_eq!(Settings::new(String::new()).encode, standard);
        assert_eq!(default_encode(), standard);
        assert_eq!((standard.width, standard.height, standard.fps), (640, 480, 30));
        assert_eq!(standard.degradation, Degradation::Default);
        assert_eq!(standard.min_fps, 0, "no floor by default");
    }

    #[test]
    fn min_framerate_is_a_floor() {
        // A frame rate under the floor is raised to it, explicit or the profile's.
        let p = resolve_video_config(&VideoConfig { framerate: 10, min_framerate: 15, ..cfg() }).unwrap();
        assert_eq!((p.fps, p.min_fps), (15, 15));
        let p = resolve_video_config(&VideoConfig { max_profile: 1, min_framerate: 24, ..Default::default() }).unwrap();
        assert_eq!((p.fps, p.min_fps), (24, 24), "Low's 15 fps under a 24 fps floor");
        assert_eq!(p.bitrate_kbps, default_bitrate_kbps(320, 180, 24), "bits for the rate that is sent");
        let p = resolve_video_config(&VideoConfig { framerate: 30, min_framerate: 10, ..cfg() }).unwrap();
        assert_eq!((p.fps, p.min_fps), (30, 10), "above the floor: as asked");
        // Under any uplink, whatever the degradation preference, the encoder's shape never goes
        // under the floor (it may halve the size instead); without a floor MaintainQuality and
        // Balanced do lower the rate, so the floor is what holds it.
        use crate::media::video_send::{Shape, shape};
        for min_framerate in [0, 7, 10, 15, 24] {
            for degradation_preference in 0..=3 {
                let p = resolve_video_config(&VideoConfig { framerate: 30, min_framerate, degradation_preference, ..cfg() }).unwrap();
                let mut current = Shape { fps: p.fps, halved: false };
                let mut lowest = current.fps;
                // Down from 2 Mbps to 20 kbps and back up.
                let sweep: Vec<u32> = (0..100).map(|i| 2000 - i * 20).chain((0..100).map(|i| 20 + i * 20)).collect();
                for kbps in sweep {
                    current = shape(&p, kbps, current);
                    lowest = lowest.min(current.fps);
                    assert!(current.fps >= min_framerate, "{p:?} at {kbps} kbps: {current:?}");
                }
                assert_eq!(current.fps, 30, "{p:?}: back to the full rate once the uplink recovers");
                match (min_framerate, degradation_preference) {
                    (0, 2) => assert!(lowest <= 10, "MaintainQuality without a floor lowers the rate: {lowest}"),
                    (24, 2 | 3) => assert_eq!(lowest, 24, "held at the floor"),
                    (_, 0 | 1) => assert_eq!(lowest, 30, "these preferences keep the rate"),
                    _ => {}
                }
            }
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
