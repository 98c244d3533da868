//! The live stream's picture: the layout's canvas filled with the background colour, each
//! listed user's newest frame scaled into its rectangle (NERTC's `adaption`: 0 fit — the whole
//! picture, letterboxed in the background colour; 1 crop-fill — the rectangle filled, the
//! overflow cut from both sides). A user without a frame yet leaves the background.
//! Rectangles are snapped to even pixels (4:2:0 chroma); later users are drawn over earlier
//! ones (NERTC's order).

use crate::device::convert::Converter;
use crate::frame::VideoFrame;

/// NERTC's `NERtcLiveStreamVideoScaleMode`.
pub const SCALE_FIT: i32 = 0;
pub const SCALE_CROP_FILL: i32 = 1;

/// Where a frame goes on the canvas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    pub adaption: i32,
}

/// BT.601 limited-range Y, Cb, Cr of NERTC's `background_color` (`R << 16 | G << 8 | B`).
pub fn rgb_to_yuv(rgb: u32) -> (u8, u8, u8) {
    let (r, g, b) = (f64::from((rgb >> 16) & 0xff), f64::from((rgb >> 8) & 0xff), f64::from(rgb & 0xff));
    let y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0;
    let u = 128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0;
    let v = 128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0;
    let q = |c: f64| c.round().clamp(0.0, 255.0) as u8;
    (q(y), q(u), q(v))
}

/// The even-aligned part of `(x, y, w, h)` inside a `cw` x `ch` canvas; None when empty.
fn snap(x: u32, y: u32, w: u32, h: u32, cw: u32, ch: u32) -> Option<(u32, u32, u32, u32)> {
    let (x, y) = (x & !1, y & !1);
    let w = w.min(cw.saturating_sub(x)) & !1;
    let h = h.min(ch.saturating_sub(y)) & !1;
    (w >= 2 && h >= 2).then_some((x, y, w, h))
}

/// The size and offset of a `sw` x `sh` picture fitted (whole, aspect kept) into `w` x `h`.
fn fit(sw: u32, sh: u32, w: u32, h: u32) -> (u32, u32, u32, u32) {
    let (sw, sh) = (u64::from(sw.max(1)), u64::from(sh.max(1)));
    let (fw, fh) = if sw * u64::from(h) > sh * u64::from(w) {
        (u64::from(w), (u64::from(w) * sh / sw).max(2))
    } else {
        ((u64::from(h) * sw / sh).max(2), u64::from(h))
    };
    let (fw, fh) = ((fw as u32).min(w) & !1, (fh as u32).min(h) & !1);
    (((w - fw) / 2) & !1, ((h - fh) / 2) & !1, fw, fh)
}

pub struct Compositor {
    scaler: Converter,
}

impl Default for Compositor {
    fn default() -> Self {
        Compositor::new()
    }
}

impl Compositor {
    pub fn new() -> Self {
        Compositor { scaler: Converter::new() }
    }

    /// A `width` x `height` canvas (even) in `background`, with each `(placement, frame)`
    /// drawn in order.
    pub fn compose(&mut self, width: u32, height: u32, background: u32, users: &[(Placement, &VideoFrame)]) -> VideoFrame {
        let (width, height) = (width & !1, height & !1);
        let (by, bu, bv) = rgb_to_yuv(background);
        let (cw, ch) = VideoFrame::chroma_size(width, height);
        let mut canvas = VideoFrame {
            width,
            height,
            y: vec![by; (width * height) as usize],
            u: vec![bu; (cw * ch) as usize],
            v: vec![bv; (cw * ch) as usize],
            timestamp_us: 0,
        };
        for (p, frame) in users {
            if frame.width < 2 || frame.height < 2 || !frame.is_consistent() {
                continue;
            }
            let Some((x, y, w, h)) = snap(p.x, p.y, p.width, p.height, width, height) else { continue };
            let (x, y, w, h) = if p.adaption == SCALE_FIT {
                let (ox, oy, fw, fh) = fit(frame.width, frame.height, w, h);
                (x + ox, y + oy, fw, fh)
            } else {
                (x, y, w, h)
            };
            if w < 2 || h < 2 {
                continue;
            }
            // Crop-fill: centre-cropped to the rectangle's aspect; fit: the aspect is already
            // the frame's, so nothing is cut.
            let scaled = if (frame.width, frame.height) == (w, h) { (*frame).clone() } else { self.scaler.crop_scale(frame, w, h) };
            blit(&mut canvas, &scaled, x, y);
        }
        canvas
    }
}

/// Copies `src` onto `dst` at (`x`, `y`) (even; `src` fits).
fn blit(dst: &mut VideoFrame, src: &VideoFrame, x: u32, y: u32) {
    let copy = |d: &mut [u8], dstride: u32, s: &[u8], sw: u32, sh: u32, x: u32, y: u32| {
        for r in 0..sh {
            let at = ((y + r) * dstride + x) as usize;
            let from = (r * sw) as usize;
            d[at..at + sw as usize].copy_from_slice(&s[from..from + sw as usize]);
        }
    };
    copy(&mut dst.y, dst.width, &src.y, src.width, src.height, x, y);
    let (dcw, _) = VideoFrame::chroma_size(dst.width, dst.height);
    let (scw, sch) = VideoFrame::chroma_size(src.width, src.height);
    copy(&mut dst.u, dcw, &src.u, scw, sch, x / 2, y / 2);
    copy(&mut dst.v, dcw, &src.v, scw, sch, x / 2, y / 2);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(w: u32, h: u32, yuv: (u8, u8, u8)) -> VideoFrame {
        let (cw, ch) = VideoFrame::chroma_size(w, h);
        VideoFrame {
            width: w,
            height: h,
            y: vec![yuv.0; (w * h) as usize],
            u: vec![yuv.1; (cw * ch) as usize],
            v: vec![yuv.2; (cw * ch) as usize],
            timestamp_us: 0,
        }
    }

    fn luma(f: &VideoFrame, x: u32, y: u32) -> u8 {
        f.y[(y * f.width + x) as usize]
    }

    #[test]
    fn background_colours() {
        assert_eq!(rgb_to_yuv(0x000000), (16, 128, 128));
        assert_eq!(rgb_to_yuv(0xffffff), (235, 128, 128));
        assert_eq!(rgb_to_yuv(0xff0000), (81, 90, 240));
        assert_eq!(rgb_to_yuv(0x0000ff), (41, 240, 110));
    }

    #[test]
    fn users_land_in_their_rectangles_fit_and_fill() {
        let mut c = Compositor::new();
        let white = solid(160, 90, (235, 128, 128));
        let grey = solid(100, 100, (126, 128, 128));
        let place = |x, y, w, h, adaption| Placement { x, y, width: w, height: h, adaption };
        // A 16:9 picture fitted into a 100x100 box: letterboxed (bars above and below);
        // a square one crop-filled into 120x60: all of the box.
        let out = c.compose(
            320,
            180,
            0x000000,
            &[(place(0, 0, 100, 100, SCALE_FIT), &white), (place(180, 100, 120, 60, SCALE_CROP_FILL), &grey)],
        );
        assert_eq!((out.width, out.height), (320, 180));
        assert!(out.is_consistent());
        assert_eq!(luma(&out, 50, 50), 235, "the fitted picture's middle");
        assert_eq!(luma(&out, 50, 10), 16, "letterbox bar in the background colour");
        assert_eq!(luma(&out, 150, 50), 16, "outside every rectangle");
        assert_eq!(luma(&out, 181, 101), 126, "crop-fill covers its corner");
        assert_eq!(luma(&out, 299, 159), 126);
        assert_eq!(luma(&out, 301, 161), 16, "and stops at its edge");
        // Odd coordinates snap to even ones; a rectangle past the canvas is clipped.
        let out = c.compose(64, 64, 0xffffff, &[(place(33, 33, 40, 40, SCALE_CROP_FILL), &grey)]);
        assert_eq!((luma(&out, 31, 31), luma(&out, 32, 32), luma(&out, 63, 63)), (235, 126, 126));
    }

    #[test]
    fn fit_keeps_the_aspect() {
        assert_eq!(fit(160, 90, 100, 100), (0, 22, 100, 56));
        assert_eq!(fit(90, 160, 100, 100), (22, 0, 56, 100));
        assert_eq!(fit(100, 100, 100, 100), (0, 0, 100, 100));
    }
}
