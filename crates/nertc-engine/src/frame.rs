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
