//! Raw media as it flows between capture, codecs and renderers.

/// An I420 (YUV 4:2:0 planar) picture with tightly packed planes:
/// `y.len() == width * height`, `u.len() == v.len() == cw * ch` where `cw = (width + 1) / 2`,
/// `ch = (height + 1) / 2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoFrame {
    pub width: u32,
    pub height: u32,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
    /// Capture time, microseconds since the Unix epoch.
    pub timestamp_us: u64,
}

impl VideoFrame {
    /// Chroma plane size for a picture of `width` x `height`.
    pub fn chroma_size(width: u32, height: u32) -> (u32, u32) {
        (width.div_ceil(2), height.div_ceil(2))
    }

    /// A black frame.
    pub fn black(width: u32, height: u32) -> Self {
        let (cw, ch) = Self::chroma_size(width, height);
        VideoFrame {
            width,
            height,
            y: vec![16; (width * height) as usize],
            u: vec![128; (cw * ch) as usize],
            v: vec![128; (cw * ch) as usize],
            timestamp_us: 0,
        }
    }

    /// The `w` x `h` part at (`x`, `y`) (all even, inside the picture).
    pub fn cropped(&self, x: u32, y: u32, w: u32, h: u32) -> Self {
        let plane = |src: &[u8], stride: u32, x: u32, y: u32, w: u32, h: u32| -> Vec<u8> {
            let mut out = Vec::with_capacity((w * h) as usize);
            for r in y..y + h {
                let start = (r * stride + x) as usize;
                out.extend_from_slice(&src[start..start + w as usize]);
            }
            out
        };
        let (cw, _) = Self::chroma_size(self.width, self.height);
        let (ow, oh) = Self::chroma_size(w, h);
        VideoFrame {
            width: w,
            height: h,
            y: plane(&self.y, self.width, x, y, w, h),
            u: plane(&self.u, cw, x / 2, y / 2, ow, oh),
            v: plane(&self.v, cw, x / 2, y / 2, ow, oh),
            timestamp_us: self.timestamp_us,
        }
    }

    /// The picture flipped left to right (what a mirror shows).
    pub fn mirrored(&self) -> Self {
        let flip = |plane: &[u8], w: usize| -> Vec<u8> {
            let mut out = Vec::with_capacity(plane.len());
            for row in plane.chunks(w.max(1)) {
                out.extend(row.iter().rev());
            }
            out
        };
        let (cw, _) = Self::chroma_size(self.width, self.height);
        VideoFrame {
            width: self.width,
            height: self.height,
            y: flip(&self.y, self.width as usize),
            u: flip(&self.u, cw as usize),
            v: flip(&self.v, cw as usize),
            timestamp_us: self.timestamp_us,
        }
    }

    /// True when the plane sizes match the dimensions.
    pub fn is_consistent(&self) -> bool {
        let (cw, ch) = Self::chroma_size(self.width, self.height);
        self.width > 0
            && self.height > 0
            && self.y.len() == (self.width * self.height) as usize
            && self.u.len() == (cw * ch) as usize
            && self.v.len() == (cw * ch) as usize
    }
}

/// The centred part of a `w` x `h` picture that NERTC's `crop_mode` (1 16:9, 2 4:3, 3 1:1, in
/// the picture's own orientation; 0 none) and then `orientation_mode` (1 fixed landscape, 2
/// fixed portrait: a picture of the other orientation is cut to the mirrored aspect; 0 none)
/// keep: `(x, y, width, height)`, all even; None when that is the whole picture.
pub fn crop_rect(w: u32, h: u32, crop_mode: i32, orientation_mode: i32) -> Option<(u32, u32, u32, u32)> {
    let (mut cw, mut ch) = (u64::from(w), u64::from(h));
    let ratio = match crop_mode {
        1 => Some((16, 9)),
        2 => Some((4, 3)),
        3 => Some((1, 1)),
        _ => None,
    };
    if let Some((a, b)) = ratio {
        let (a, b) = if cw >= ch { (a, b) } else { (b, a) };
        // The largest a:b rectangle inside.
        if cw * b > ch * a {
            cw = ch * a / b;
        } else {
            ch = cw * b / a;
        }
    }
    match orientation_mode {
        1 if ch > cw => ch = cw * cw / ch,
        2 if cw > ch => cw = ch * ch / cw,
        _ => {}
    }
    let (cw, ch) = ((cw as u32) & !1, (ch as u32) & !1);
    if (cw, ch) == (w & !1, h & !1) || cw == 0 || ch == 0 {
        return None;
    }
    Some((((w - cw) / 2) & !1, ((h - ch) / 2) & !1, cw, ch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_rectangles() {
        assert_eq!(crop_rect(640, 480, 0, 0), None);
        assert_eq!(crop_rect(640, 480, 1, 0), Some((0, 60, 640, 360)), "16:9 out of 4:3");
        assert_eq!(crop_rect(640, 480, 2, 0), None, "already 4:3");
        assert_eq!(crop_rect(640, 480, 3, 0), Some((80, 0, 480, 480)));
        assert_eq!(crop_rect(480, 640, 1, 0), Some((60, 0, 360, 640)), "9:16 for a portrait picture");
        assert_eq!(crop_rect(640, 480, 0, 2), Some((140, 0, 360, 480)), "fixed portrait cuts a landscape picture");
        assert_eq!(crop_rect(640, 480, 0, 1), None, "already landscape");
        assert_eq!(crop_rect(480, 640, 0, 1), Some((0, 140, 480, 360)));
        assert_eq!(crop_rect(1280, 720, 3, 2), Some((280, 0, 720, 720)), "square is both");
    }

    #[test]
    fn cropping_keeps_the_planes_consistent() {
        let mut f = VideoFrame::black(64, 48);
        f.y[10 * 64 + 20] = 200;
        let c = f.cropped(20, 10, 16, 8);
        assert!(c.is_consistent());
        assert_eq!(c.y[0], 200);
        let m = c.mirrored();
        assert_eq!(m.y[15], 200);
    }
}

/// Interleaved 16-bit PCM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioFrame {
    pub sample_rate: u32,
    pub channels: u16,
    pub samples: Vec<i16>,
    /// Capture time, microseconds since the Unix epoch.
    pub timestamp_us: u64,
}

/// Microseconds since the Unix epoch.
pub fn now_us() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}
