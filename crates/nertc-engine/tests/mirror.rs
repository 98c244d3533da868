//! `setVideoConfig`'s picture shaping, seen by the receiver: `mirror_mode` mirrors the encoded
//! video (what the others see) and leaves the local preview's mirror (`setLocalVideoMirrorMode`)
//! alone; `crop_mode` and `orientation_mode` cut the captured picture (preview and sent).

mod common;

use std::time::{Duration, Instant};

use common::video_call;
use nertc_engine::device::test_pattern;
use nertc_engine::render::StreamKey;
use nertc_engine::{Engine, VideoConfig, error};

/// Of B's next `n` readable pictures of uid 1: (upright stamps, mirrored stamps).
fn stamps(b: &Engine, n: usize) -> (usize, usize) {
    let slot = b.slot(StreamKey::Remote(1));
    let (mut seen, mut upright, mut mirrored) = (slot.newer_than(0).map_or(0, |(s, _)| s), 0, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while upright + mirrored < n && Instant::now() < deadline {
        if let Some((seq, f)) = slot.newer_than(seen) {
            seen = seq;
            if test_pattern::read_stamp(&f).is_some() {
                upright += 1;
            } else if test_pattern::read_stamp_mirrored(&f).is_some() {
                mirrored += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(15));
    }
    (upright, mirrored)
}

#[test]
fn mirror_mode_mirrors_what_others_see_not_the_preview() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(nertc_server::start(nertc_server::ServerConfig::embedded())).expect("server starts");
    let ((a, _a_rx), (b, _b_rx)) = video_call(&server.url(), "engine-mirror");
    assert_eq!(stamps(&b, 10), (10, 0), "sent as captured by default");

    assert_eq!(a.set_local_video_mirror_mode(2), error::OK);
    let preview = a.slot(StreamKey::Local);
    let cfg = |mirror_mode| VideoConfig { max_profile: -1, width: 640, height: 480, framerate: 15, mirror_mode, ..Default::default() };
    assert_eq!(a.set_video_config(&cfg(1)), error::OK);
    // A few pictures for the switch to reach B, then every one is mirrored.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(stamps(&b, 10), (0, 10), "mirror_mode 1: B sees the mirror image");
    // A's preview: still the captured picture, and still not drawn mirrored (mode 2 kept).
    let (_, local) = preview.newer_than(0).expect("A has a preview picture");
    assert!(test_pattern::read_stamp(&local).is_some(), "the preview is not mirrored by mirror_mode");
    assert!(!preview.mirrored.load(std::sync::atomic::Ordering::Relaxed), "setVideoConfig kept setLocalVideoMirrorMode(2)");

    assert_eq!(a.set_video_config(&cfg(2)), error::OK);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(stamps(&b, 10), (10, 0), "mirror_mode 2: as captured again");

    b.release();
    a.release();
    rt.block_on(server.shutdown());
}

/// The size of B's newest picture of uid 1 once it is `want` (None if it never becomes that).
fn size_reaches(b: &Engine, want: (u32, u32)) -> Option<(u32, u32)> {
    let slot = b.slot(StreamKey::Remote(1));
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = None;
    while Instant::now() < deadline {
        if let Some((_, f)) = slot.newer_than(0) {
            last = Some((f.width, f.height));
            if last == Some(want) {
                return last;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("B's picture of A never became {want:?}; last {last:?}");
}

#[test]
fn crop_mode_and_orientation_mode_cut_the_picture() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(nertc_server::start(nertc_server::ServerConfig::embedded())).expect("server starts");
    let ((a, _a_rx), (b, _b_rx)) = video_call(&server.url(), "engine-crop");
    let cfg = |crop_mode, orientation_mode| VideoConfig {
        max_profile: -1,
        width: 640,
        height: 480,
        framerate: 15,
        crop_mode,
        orientation_mode,
        ..Default::default()
    };
    assert_eq!(a.set_video_config(&VideoConfig { crop_mode: 4, ..cfg(0, 0) }), error::ERR_INVALID_PARAM);
    assert_eq!(a.set_video_config(&VideoConfig { orientation_mode: 3, ..cfg(0, 0) }), error::ERR_INVALID_PARAM);
    for (crop, orientation, want) in [(1, 0, (640, 360)), (3, 0, (480, 480)), (0, 2, (360, 480)), (0, 1, (640, 480)), (0, 0, (640, 480))] {
        assert_eq!(a.set_video_config(&cfg(crop, orientation)), error::OK);
        size_reaches(&b, want);
        // The preview is cut the same way.
        let (_, local) = a.slot(StreamKey::Local).newer_than(0).expect("A has a preview");
        std::thread::sleep(Duration::from_millis(200));
        let (_, local2) = a.slot(StreamKey::Local).newer_than(0).expect("A has a preview");
        assert!((local.width, local.height) == want || (local2.width, local2.height) == want, "crop {crop} orientation {orientation}");
        println!("crop_mode {crop}, orientation_mode {orientation}: B decodes {want:?}");
    }
    b.release();
    a.release();
    rt.block_on(server.shutdown());
}
