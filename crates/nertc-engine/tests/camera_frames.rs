//! Camera frame conversion on real sample frames (tests/data/camera, made with ffmpeg: see its
//! README): MJPEG, YUYV and NV12 of one picture converted to I420 must match ffmpeg's own
//! I420 of it; scaled and cropped results must match ffmpeg's scale and crop filters. Match is
//! measured as PSNR per plane, so a swapped plane, a shifted crop, a range mix-up or a wrong
//! chroma siting fails.

use nertc_engine::device::convert::{Converter, RawFormat, RawFrame, to_i420};
use nertc_engine::frame::VideoFrame;

fn data(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/camera").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn i420(name: &str, w: u32, h: u32) -> VideoFrame {
    to_i420(RawFormat::I420, &data(name), w, h).expect("reference I420")
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "plane sizes");
    let mse = a.iter().zip(b).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum::<f64>() / a.len() as f64;
    if mse == 0.0 { 99.0 } else { 10.0 * (255.0 * 255.0 / mse).log10() }
}

/// (Y, U, V) PSNR in dB.
fn compare(got: &VideoFrame, want: &VideoFrame) -> (f64, f64, f64) {
    assert_eq!((got.width, got.height), (want.width, want.height), "size");
    (psnr(&got.y, &want.y), psnr(&got.u, &want.u), psnr(&got.v, &want.v))
}

#[test]
fn camera_formats_convert_like_ffmpeg() {
    let want = i420("frame_160x120.i420", 160, 120);
    // (file, format, min luma PSNR, min chroma PSNR). NV12 is a reshuffle: exact. YUYV's
    // chroma is averaged over two rows where ffmpeg filters: close. MJPEG is lossy (the JPEG's
    // own error at q 3, 4:2:2); a full/limited range mix-up would cost its luma ~15 dB.
    for (file, format, min_y, min_c) in [
        ("frame_160x120.yuyv", RawFormat::Yuyv, 99.0, 38.0),
        ("frame_160x120.nv12", RawFormat::Nv12, 99.0, 99.0),
        ("frame_160x120.mjpeg", RawFormat::Mjpeg, 40.0, 28.0),
    ] {
        let got = to_i420(format, &data(file), 160, 120).unwrap_or_else(|e| panic!("{file}: {e}"));
        let (y, u, v) = compare(&got, &want);
        println!("camera_frames: {format:?} -> I420 vs ffmpeg: PSNR Y {y:.1} U {u:.1} V {v:.1} dB");
        assert!(y >= min_y && u >= min_c && v >= min_c, "{format:?}: Y {y:.1} U {u:.1} V {v:.1} dB");
    }
}

#[test]
fn scaling_and_cropping_match_ffmpeg() {
    let mut conv = Converter::new();
    // Same aspect, half size: ffmpeg's bilinear scale.
    let yuyv = data("frame_160x120.yuyv");
    let raw = RawFrame { format: RawFormat::Yuyv, data: &yuyv, width: 160, height: 120 };
    let scaled = conv.convert(raw, 80, 60, 7).expect("scale");
    assert_eq!(scaled.timestamp_us, 7);
    let (y, u, v) = compare(&scaled, &i420("scaled_80x60.i420", 80, 60));
    println!("camera_frames: 160x120 -> 80x60 vs ffmpeg scale: PSNR Y {y:.1} U {u:.1} V {v:.1} dB");
    assert!(y >= 28.0 && u >= 28.0 && v >= 28.0, "scaled: Y {y:.1} U {u:.1} V {v:.1}");
    // A 160x120 camera asked for 120x120 keeps the middle 120 columns.
    let (w, h) = (120, 120);
    let nv12 = data("frame_160x120.nv12");
    let raw = RawFrame { format: RawFormat::Nv12, data: &nv12, width: 160, height: 120 };
    let cropped = conv.convert(raw, w, h, 0).expect("crop");
    let want = i420("cropped_120x120.i420", 120, 120);
    let (y, u, v) = compare(&cropped, &want);
    println!("camera_frames: 160x120 -> 120x120 (1:1 crop) vs ffmpeg crop: PSNR Y {y:.1} U {u:.1} V {v:.1} dB");
    assert!(y >= 40.0 && u >= 40.0 && v >= 40.0, "cropped: Y {y:.1} U {u:.1} V {v:.1}");
    // Shifted by 4 columns it must not match as well: the check sees where the crop is.
    let mut shifted = want.clone();
    for row in 0..120 {
        shifted.y[row * 120..row * 120 + 116].copy_from_slice(&want.y[row * 120 + 4..row * 120 + 120]);
    }
    assert!(psnr(&cropped.y, &shifted.y) < y - 10.0, "a 4-column shift is visible");
}
