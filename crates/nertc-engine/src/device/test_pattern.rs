//! The synthetic camera picture: colour bars, moving content and a machine-readable stamp.
//!
//! Layout of a `w` x `h` picture (BT.601 limited-range YUV):
//! ```text
//! +------------+------------------------------------------+  0
//! | stamp      |  75% colour bars: white yellow cyan green |
//! | 12x8 cells |  magenta red blue (7 equal columns)       |
//! +------------+          [moving 2x2 checker box]         |  h/4 .. h/4 + h/6
//! |                                                       |  h/2: bar colours sampled here
//! +-------------------------------------------------------+  3h/5
//! |  luma ramp scrolling left, chroma ramp top to bottom  |
//! +-------------------------------------------------------+  h
//! ```
//! The box bounces left/right and the ramp scrolls, so every frame differs and the encoder has
//! real motion to code.
//!
//! **Stamp**: 96 bits in a grid of 12 x 8 square cells in the top-left corner, row-major,
//! most significant bit first: sync byte `0xB4`, frame number (32 bits), capture time in
//! milliseconds since the Unix epoch (48 bits), CRC-8 (polynomial 0x07) over the previous 11
//! bytes. A 1 is a white cell (Y 235), a 0 a black one (Y 16), chroma neutral. The cell size is
//! [`stamp_cell_size`]: a multiple of 4 pixels, about 1/40 of the smaller side (4 px at 160x90,
//! 12 at 640x480, 16 at 1280x720, 24 at 1920x1080), so cells sit on the 4x4 transform grid and
//! survive H.264 at low bitrates; a reader samples the middle half of each cell.
//!
//! A horizontally mirrored picture (a local preview with mirror mode on) has its stamp in the
//! top-right corner, flipped: [`read_stamp`] rejects it (sync byte and CRC fail) and
//! [`read_stamp_mirrored`] reads it; likewise [`looks_like_pattern`] vs
//! [`looks_like_mirrored_pattern`] for the bars.

use crate::frame::VideoFrame;

/// Stamp grid columns.
pub const STAMP_COLS: u32 = 12;
/// Stamp grid rows.
pub const STAMP_ROWS: u32 = 8;
const SYNC: u8 = 0xB4;
const BLACK: u8 = 16;
const WHITE: u8 = 235;
const TIME_MASK: u64 = (1 << 48) - 1;

/// 75% colour bars (Y, U, V), left to right.
const BARS: [(u8, u8, u8); 7] = [
    (180, 128, 128), // white
    (162, 44, 142),  // yellow
    (131, 156, 44),  // cyan
    (112, 72, 58),   // green
    (84, 184, 198),  // magenta
    (65, 100, 212),  // red
    (35, 212, 114),  // blue
];

/// What a stamp says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stamp {
    pub frame_no: u32,
    /// Capture time, ms since the Unix epoch (the low 48 bits, i.e. exact until year 10889).
    pub capture_time_ms: u64,
}

/// Side of one stamp cell in pixels for a picture of this size.
pub fn stamp_cell_size(width: u32, height: u32) -> u32 {
    ((width.min(height) / 40) & !3).clamp(4, 32)
}

/// True when a picture of this size has room for the stamp.
pub fn has_stamp(width: u32, height: u32) -> bool {
    let s = stamp_cell_size(width, height);
    STAMP_COLS * s <= width && STAMP_ROWS * s <= height
}

fn crc8(bytes: &[u8]) -> u8 {
    let mut crc = 0u8;
    for &b in bytes {
        crc ^= b;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 { (crc << 1) ^ 0x07 } else { crc << 1 };
        }
    }
    crc
}

fn stamp_bytes(frame_no: u32, capture_time_ms: u64) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[0] = SYNC;
    b[1..5].copy_from_slice(&frame_no.to_be_bytes());
    b[5..11].copy_from_slice(&(capture_time_ms & TIME_MASK).to_be_bytes()[2..]);
    b[11] = crc8(&b[..11]);
    b
}

/// Geometry and the parts of the picture that do not change from frame to frame.
struct Cache {
    width: u32,
    height: u32,
    /// Y plane with the bars drawn (the bottom is overwritten per frame).
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
    /// One period of the luma ramp followed by one picture width more, to slide a window over.
    ramp: Vec<u8>,
    ramp_period: usize,
    bars_end: usize,
}

impl Cache {
    fn new(width: u32, height: u32) -> Self {
        let (w, h) = (width as usize, height as usize);
        let (cw, ch) = VideoFrame::chroma_size(width, height);
        let (cw, ch) = (cw as usize, ch as usize);
        let bars_end = (h * 3 / 5) & !1;
        let bar_of = |x: usize| (x * 7 / w.max(1)).min(6);
        let bar_y: Vec<u8> = (0..w).map(|x| BARS[bar_of(x)].0).collect();
        let bar_u: Vec<u8> = (0..cw).map(|cx| BARS[bar_of(cx * 2)].1).collect();
        let bar_v: Vec<u8> = (0..cw).map(|cx| BARS[bar_of(cx * 2)].2).collect();
        let mut y = vec![BLACK; w * h];
        for row in y.chunks_exact_mut(w.max(1)).take(bars_end) {
            row.copy_from_slice(&bar_y);
        }
        let mut u = vec![128; cw * ch];
        let mut v = vec![128; cw * ch];
        let bottom_rows = ch.saturating_sub(bars_end / 2).max(1);
        for cy in 0..ch {
            let (ru, rv) = (&mut u[cy * cw..(cy + 1) * cw], &mut v[cy * cw..(cy + 1) * cw]);
            if cy * 2 < bars_end {
                ru.copy_from_slice(&bar_u);
                rv.copy_from_slice(&bar_v);
            } else {
                let t = (cy - bars_end / 2) * 255 / bottom_rows;
                ru.iter_mut().for_each(|p| *p = (64 + t / 2) as u8);
                rv.iter_mut().for_each(|p| *p = (192 - t / 2) as u8);
            }
        }
        let ramp_period = (w / 2).max(2);
        let ramp = (0..ramp_period + w).map(|i| (16 + (i % ramp_period) * 219 / ramp_period) as u8).collect();
        Cache { width, height, y, u, v, ramp, ramp_period, bars_end }
    }
}

/// Renders test-pattern frames; keeps per-size tables so a frame costs a few copies.
#[derive(Default)]
pub struct TestPattern {
    cache: Option<Cache>,
}

impl TestPattern {
    pub fn new() -> Self {
        TestPattern { cache: None }
    }

    /// Renders frame `frame_no` (which positions the moving parts and goes into the stamp) with
    /// `capture_time_us` (µs since the Unix epoch) as its timestamp and, in ms, in the stamp.
    pub fn render(&mut self, width: u32, height: u32, frame_no: u32, capture_time_us: u64) -> VideoFrame {
        if width == 0 || height == 0 {
            let mut f = VideoFrame::black(width, height);
            f.timestamp_us = capture_time_us;
            return f;
        }
        let cache = match self.cache.take() {
            Some(c) if c.width == width && c.height == height => c,
            _ => Cache::new(width, height),
        };
        let (w, h) = (width as usize, height as usize);
        let (cw, _) = VideoFrame::chroma_size(width, height);
        let cw = cw as usize;
        let mut y = cache.y.clone();
        let mut u = cache.u.clone();
        let mut v = cache.v.clone();

        // Scrolling luma ramp below the bars.
        let speed = (w / 64).max(2);
        let off = (frame_no as usize).wrapping_mul(speed) % cache.ramp_period;
        for row in y.chunks_exact_mut(w).skip(cache.bars_end) {
            row.copy_from_slice(&cache.ramp[off..off + w]);
        }

        // Bouncing 2x2 checker box over the bars.
        let bs = ((h / 6) & !1).max(4);
        let y0 = (h / 4) & !1;
        if bs < w && y0 + bs <= cache.bars_end {
            let travel = w - bs;
            let pos = (frame_no as usize).wrapping_mul(speed) % (2 * travel);
            let x0 = (if pos <= travel { pos } else { 2 * travel - pos }) & !1;
            let half = bs / 2;
            let top: Vec<u8> = (0..bs).map(|i| if i < half { WHITE } else { BLACK }).collect();
            let bottom: Vec<u8> = (0..bs).map(|i| if i < half { BLACK } else { WHITE }).collect();
            for r in 0..bs {
                let src = if r < half { &top } else { &bottom };
                let at = (y0 + r) * w + x0;
                y[at..at + bs].copy_from_slice(src);
            }
            let neutral = vec![128u8; half];
            for cr in y0 / 2..(y0 + bs) / 2 {
                let at = cr * cw + x0 / 2;
                u[at..at + half].copy_from_slice(&neutral);
                v[at..at + half].copy_from_slice(&neutral);
            }
        }

        // The stamp.
        if has_stamp(width, height) {
            let s = stamp_cell_size(width, height) as usize;
            let bytes = stamp_bytes(frame_no, capture_time_us / 1000);
            let white = vec![WHITE; s];
            let black = vec![BLACK; s];
            for bit in 0..(STAMP_COLS * STAMP_ROWS) as usize {
                let on = bytes[bit / 8] & (0x80 >> (bit % 8)) != 0;
                let (cx, cy) = (bit % STAMP_COLS as usize, bit / STAMP_COLS as usize);
                for r in 0..s {
                    let at = (cy * s + r) * w + cx * s;
                    y[at..at + s].copy_from_slice(if on { &white } else { &black });
                }
            }
            let neutral = vec![128u8; STAMP_COLS as usize * s / 2];
            for cr in 0..STAMP_ROWS as usize * s / 2 {
                u[cr * cw..cr * cw + neutral.len()].copy_from_slice(&neutral);
                v[cr * cw..cr * cw + neutral.len()].copy_from_slice(&neutral);
            }
        }

        self.cache = Some(cache);
        VideoFrame { width, height, y, u, v, timestamp_us: capture_time_us }
    }
}

/// Mean luma of the rectangle `[x0, x1) x [y0, y1)`, x mirrored when asked.
fn mean_luma(f: &VideoFrame, x0: usize, x1: usize, y0: usize, y1: usize, mirrored: bool) -> u32 {
    let w = f.width as usize;
    let (x0, x1) = if mirrored { (w - x1, w - x0) } else { (x0, x1) };
    let mut sum = 0u32;
    for row in y0..y1 {
        sum += f.y[row * w + x0..row * w + x1].iter().map(|&p| u32::from(p)).sum::<u32>();
    }
    sum / ((x1 - x0) * (y1 - y0)).max(1) as u32
}

fn read_stamp_impl(f: &VideoFrame, mirrored: bool) -> Option<Stamp> {
    if !f.is_consistent() || !has_stamp(f.width, f.height) {
        return None;
    }
    let s = stamp_cell_size(f.width, f.height) as usize;
    let (m0, m1) = (s / 4, s - s / 4);
    let mut bytes = [0u8; 12];
    for bit in 0..(STAMP_COLS * STAMP_ROWS) as usize {
        let (cx, cy) = (bit % STAMP_COLS as usize, bit / STAMP_COLS as usize);
        let mean = mean_luma(f, cx * s + m0, cx * s + m1, cy * s + m0, cy * s + m1, mirrored);
        if mean * 2 >= u32::from(BLACK) + u32::from(WHITE) {
            bytes[bit / 8] |= 0x80 >> (bit % 8);
        }
    }
    if bytes[0] != SYNC || crc8(&bytes[..11]) != bytes[11] {
        return None;
    }
    let mut fno = [0u8; 4];
    fno.copy_from_slice(&bytes[1..5]);
    let mut t = [0u8; 8];
    t[2..].copy_from_slice(&bytes[5..11]);
    Some(Stamp { frame_no: u32::from_be_bytes(fno), capture_time_ms: u64::from_be_bytes(t) })
}

/// Reads the stamp of an (upright, unmirrored) test-pattern frame; None when there is none or
/// its sync byte or checksum is wrong.
pub fn read_stamp(frame: &VideoFrame) -> Option<Stamp> {
    read_stamp_impl(frame, false)
}

/// Reads the stamp of a horizontally mirrored test-pattern frame.
pub fn read_stamp_mirrored(frame: &VideoFrame) -> Option<Stamp> {
    read_stamp_impl(frame, true)
}

fn bars_match(f: &VideoFrame, mirrored: bool) -> bool {
    if !f.is_consistent() || f.width < 14 || f.height < 8 {
        return false;
    }
    let (w, h) = (f.width as usize, f.height as usize);
    let (cw, _) = VideoFrame::chroma_size(f.width, f.height);
    let cw = cw as usize;
    let px = (w / 7 / 6).max(1);
    let py = (h / 30).max(1);
    let cy = h / 2;
    BARS.iter().enumerate().all(|(i, &(ey, eu, ev))| {
        let i = if mirrored { 6 - i } else { i };
        let cx = (2 * i + 1) * w / 14;
        let (x0, x1, y0, y1) = (cx - px, cx + px, cy - py, cy + py);
        let my = mean_luma(f, x0, x1, y0, y1, false);
        let (mut su, mut sv, mut n) = (0u32, 0u32, 0u32);
        for r in y0 / 2..y1.div_ceil(2) {
            for c in x0 / 2..x1.div_ceil(2) {
                su += u32::from(f.u[r * cw + c]);
                sv += u32::from(f.v[r * cw + c]);
                n += 1;
            }
        }
        let n = n.max(1);
        let close = |a: u32, b: u8| a.abs_diff(u32::from(b)) <= 28;
        close(my, ey) && close(su / n, eu) && close(sv / n, ev)
    })
}

/// True when the frame shows the colour bars of the test pattern the right way round
/// (survives lossy coding: each bar's middle is compared with a tolerance).
pub fn looks_like_pattern(frame: &VideoFrame) -> bool {
    bars_match(frame, false)
}

/// True when the frame shows the test pattern mirrored left to right.
pub fn looks_like_mirrored_pattern(frame: &VideoFrame) -> bool {
    bars_match(frame, true)
}

/// Mirrors a frame left to right (what a mirrored local preview shows); for tests and tools.
pub fn mirror_horizontally(frame: &VideoFrame) -> VideoFrame {
    let flip = |plane: &[u8], w: usize| -> Vec<u8> {
        let mut out = plane.to_vec();
        if w > 0 {
            out.chunks_exact_mut(w).for_each(|row| row.reverse());
        }
        out
    };
    let (cw, _) = VideoFrame::chroma_size(frame.width, frame.height);
    VideoFrame {
        width: frame.width,
        height: frame.height,
        y: flip(&frame.y, frame.width as usize),
        u: flip(&frame.u, cw as usize),
        v: flip(&frame.v, cw as usize),
        timestamp_us: frame.timestamp_us,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZES: [(u32, u32); 6] = [(160, 90), (320, 180), (640, 480), (1280, 720), (1920, 1080), (321, 241)];

    #[test]
    fn stamp_reads_back_at_all_sizes() {
        let mut p = TestPattern::new();
        for (w, h) in SIZES {
            for n in [0u32, 1, 77, u32::MAX] {
                let t_us = 1_767_225_600_123_456 + u64::from(n);
                let f = p.render(w, h, n, t_us);
                assert!(f.is_consistent(), "{w}x{h}");
                assert_eq!(f.timestamp_us, t_us);
                assert_eq!(read_stamp(&f), Some(Stamp { frame_no: n, capture_time_ms: t_us / 1000 }), "{w}x{h} #{n}");
                assert!(looks_like_pattern(&f), "{w}x{h}");
                assert!(!looks_like_mirrored_pattern(&f), "{w}x{h}");
            }
        }
    }

    #[test]
    fn mirrored_frames_are_told_apart() {
        let mut p = TestPattern::new();
        for (w, h) in SIZES {
            let f = p.render(w, h, 1234, 1_700_000_000_000_000);
            let m = mirror_horizontally(&f);
            assert_eq!(read_stamp(&m), None, "{w}x{h}");
            assert_eq!(read_stamp_mirrored(&m).map(|s| s.frame_no), Some(1234), "{w}x{h}");
            assert_eq!(read_stamp_mirrored(&f), None, "{w}x{h}");
            assert!(!looks_like_pattern(&m), "{w}x{h}");
            assert!(looks_like_mirrored_pattern(&m), "{w}x{h}");
        }
    }

    #[test]
    fn content_moves_and_corruption_is_detected() {
        let mut p = TestPattern::new();
        let a = p.render(640, 480, 10, 0);
        let b = p.render(640, 480, 11, 0);
        // Beyond the stamp, the box and ramp moved.
        let s = (STAMP_ROWS * stamp_cell_size(640, 480)) as usize * 640;
        let differing = a.y[s..].iter().zip(&b.y[s..]).filter(|(x, y)| x != y).count();
        assert!(differing > 640 * 480 / 10, "{differing} pixels changed");
        // Flip one stamp cell: CRC rejects it.
        let mut c = a.clone();
        let cell = stamp_cell_size(640, 480) as usize;
        let (x, yy) = (5 * cell + cell / 2, 3 * cell + cell / 2);
        let px = &mut c.y[yy * 640 + x - 2..yy * 640 + x + 2];
        let flip = if px[0] > 128 { BLACK } else { WHITE };
        for r in 0..cell / 2 {
            let at = (3 * cell + cell / 4 + r) * 640 + 5 * cell + cell / 4;
            c.y[at..at + cell / 2].iter_mut().for_each(|p| *p = flip);
        }
        assert_eq!(read_stamp(&c), None);
        // Not the pattern at all.
        assert_eq!(read_stamp(&VideoFrame::black(640, 480)), None);
        assert!(!looks_like_pattern(&VideoFrame::black(640, 480)));
        let mut grey = VideoFrame::black(640, 480);
        grey.y.iter_mut().for_each(|p| *p = 235);
        assert_eq!(read_stamp(&grey), None);
        // Too small for a stamp, still a picture.
        let tiny = p.render(32, 18, 1, 0);
        assert!(tiny.is_consistent());
        assert_eq!(read_stamp(&tiny), None);
        assert!(p.render(0, 0, 0, 0).y.is_empty());
    }

    #[test]
    fn crc8_known_value() {
        // CRC-8/SMBUS check value.
        assert_eq!(crc8(b"123456789"), 0xF4);
    }
}
