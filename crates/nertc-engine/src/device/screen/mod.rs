//! Screen capture for the substream (NERTC's `startScreenCapture*`): what can be shared
//! ([`enumerate_sources`]), and a paced capture thread ([`open_screen`]) turning BGRA pixels
//! of a display, a window or a rectangle into I420 frames no larger than the asked size.
//!
//! Back ends: X11 on Linux ([`x11`]: MIT-SHM `XShmGetImage` into a shared segment, plain
//! `GetImage` when the server has no SHM; RandR monitors are the displays, `_NET_CLIENT_LIST`
//! or the root's mapped children the windows; XFixes draws the cursor). Elsewhere (macOS,
//! Windows, Wayland without an X server) every call fails with [`DeviceError::Unavailable`],
//! which the API reports as 30004.
//!
//! Ids: a display's id is its index in the RandR monitor list (0 is the whole screen when
//! RandR lists none); a window's id is its X window id.

#[cfg(target_os = "linux")]
mod x11;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::DeviceError;
use crate::frame::VideoFrame;

/// A rectangle in pixels (NERTC's `NERtcRectangle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
}

impl Rect {
    pub fn is_empty(&self) -> bool {
        self.width == 0 || self.height == 0
    }

    /// The overlap of two rectangles (empty when they do not meet). Any values: the
    /// arithmetic is done in i64, so huge sizes from an application cannot overflow.
    pub fn intersect(&self, o: &Rect) -> Rect {
        let (x, y) = (self.x.max(o.x), self.y.max(o.y));
        let x1 = (i64::from(self.x) + i64::from(self.width)).min(i64::from(o.x) + i64::from(o.width));
        let y1 = (i64::from(self.y) + i64::from(self.height)).min(i64::from(o.y) + i64::from(o.height));
        if x1 <= i64::from(x) || y1 <= i64::from(y) {
            Rect { x, y, width: 0, height: 0 }
        } else {
            // Both ends lie within one of the rectangles, so each span fits a u32.
            Rect { x, y, width: (x1 - i64::from(x)) as u32, height: (y1 - i64::from(y)) as u32 }
        }
    }
}

/// What is shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScreenSource {
    Display(u64),
    Window(u64),
    /// A rectangle of the whole (virtual) screen.
    Rect(Rect),
}

/// How a capture runs; a change of any field reopens it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenParams {
    pub source: ScreenSource,
    /// Part of the source to share, relative to its top-left corner; None: all of it.
    pub region: Option<Rect>,
    /// Frames larger than this are scaled down (aspect kept).
    pub max_width: u32,
    pub max_height: u32,
    pub fps: u32,
    pub cursor: bool,
    /// Windows painted black where they cover a shared display or rectangle.
    pub excluded: Vec<u64>,
}

/// A BGRA picture (thumbnails, icons).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bgra {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

/// NERTC's source types in `enumerateScreenCaptureSourceInfo`.
pub const SOURCE_SCREEN: i32 = 1;
pub const SOURCE_WINDOW: i32 = 2;

/// One entry of `enumerateScreenCaptureSourceInfo` (NERTC's fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenSourceInfo {
    /// [`SOURCE_SCREEN`] or [`SOURCE_WINDOW`].
    pub kind: i32,
    pub source_id: u64,
    /// The display's id as a string for screens, empty for windows.
    pub display_id: String,
    pub name: String,
    pub minimized: bool,
    pub thumb: Option<Bgra>,
    pub icon: Option<Bgra>,
}

/// A running capture; dropping it stops and joins its thread.
pub struct ScreenCapture {
    _worker: super::PacedThread,
}

/// Capture status changes the capture thread reports by itself.
pub trait ScreenEvents: Send + 'static {
    /// The shared window went away: no more frames.
    fn aborted(&self);
}

/// Starts capturing `p` at `p.fps`; `on_frame` runs on the capture thread with each frame
/// (not while `paused`).
pub fn open_screen(
    p: &ScreenParams,
    paused: Arc<AtomicBool>,
    on_frame: Box<dyn FnMut(VideoFrame) + Send>,
    events: Box<dyn ScreenEvents>,
) -> Result<ScreenCapture, DeviceError> {
    if p.fps == 0 || p.max_width < 2 || p.max_height < 2 {
        return Err(DeviceError::InvalidArgument(format!("{}x{} at {} fps", p.max_width, p.max_height, p.fps)));
    }
    #[cfg(target_os = "linux")]
    {
        x11::open(p, paused, on_frame, events).map(|w| ScreenCapture { _worker: w })
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (paused, on_frame, events);
        Err(DeviceError::Unavailable("screen capture is implemented for X11 only".into()))
    }
}

/// How long the API (on the JS thread) waits for the display server to answer a query.
pub const QUERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs a display-server query on its own thread and waits at most [`QUERY_TIMEOUT`]: a hung X
/// server must not hold the caller (the JS thread) longer. A query that times out ends on its
/// own once its connection fails.
#[cfg(target_os = "linux")]
fn bounded<T: Send + 'static>(what: &str, f: impl FnOnce() -> Result<T, DeviceError> + Send + 'static) -> Result<T, DeviceError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new().name("nertc-screen-query".into()).spawn(move || {
        let _ = tx.send(f());
    })?;
    rx.recv_timeout(QUERY_TIMEOUT)
        .unwrap_or_else(|_| Err(DeviceError::Unavailable(format!("{what}: the display server did not answer within {QUERY_TIMEOUT:?}"))))
}

/// Checks that a source exists now (the API refuses an unknown display or window at once).
pub fn check_source(source: &ScreenSource) -> Result<(), DeviceError> {
    #[cfg(target_os = "linux")]
    {
        let source = source.clone();
        bounded("checking the screen source", move || x11::check_source(&source))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = source;
        Err(DeviceError::Unavailable("screen capture is implemented for X11 only".into()))
    }
}

/// Displays, then windows (titled, top-level), with thumbnails fitted into `thumb` and icons
/// into `icon` (width, height; 0 leaves them out).
pub fn enumerate_sources(thumb: (u32, u32), icon: (u32, u32)) -> Result<Vec<ScreenSourceInfo>, DeviceError> {
    #[cfg(target_os = "linux")]
    {
        bounded("listing screens and windows", move || x11::enumerate(thumb, icon))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (thumb, icon);
        Err(DeviceError::Unavailable("screen capture is implemented for X11 only".into()))
    }
}

/// The size a `w` x `h` picture is scaled to so that it fits `max_w` x `max_h` (aspect kept,
/// never enlarged), rounded down to even sides for I420 (at least 2x2).
pub fn fit_even(w: u32, h: u32, max_w: u32, max_h: u32) -> (u32, u32) {
    let (mut tw, mut th) = (w, h);
    if w > max_w || h > max_h {
        // Compare w/max_w with h/max_h without floats.
        if u64::from(w) * u64::from(max_h) >= u64::from(h) * u64::from(max_w) {
            tw = max_w;
            th = (u64::from(h) * u64::from(max_w) / u64::from(w)) as u32;
        } else {
            th = max_h;
            tw = (u64::from(w) * u64::from(max_h) / u64::from(h)) as u32;
        }
    }
    ((tw & !1).max(2), (th & !1).max(2))
}

/// The size a thumbnail of `w` x `h` gets for a `max_w` x `max_h` target: scaled so that it
/// fits (aspect kept), never enlarged (NERTC's rule).
pub fn fit(w: u32, h: u32, max_w: u32, max_h: u32) -> (u32, u32) {
    if w <= max_w && h <= max_h {
        return (w, h);
    }
    let (tw, th) = fit_even(w, h, max_w, max_h);
    (tw.max(1), th.max(1))
}

/// Nearest-neighbour scaling of a BGRA picture with `stride` bytes per row.
pub fn scale_bgra(src: &[u8], stride: usize, w: u32, h: u32, tw: u32, th: u32) -> Vec<u8> {
    let mut out = vec![0u8; tw as usize * th as usize * 4];
    let xs: Vec<usize> = (0..tw).map(|x| (u64::from(x) * u64::from(w) / u64::from(tw)) as usize * 4).collect();
    for (ty, row) in out.chunks_exact_mut(tw as usize * 4).enumerate() {
        let sy = (ty as u64 * u64::from(h) / u64::from(th)) as usize;
        let line = &src[sy * stride..];
        for (px, sx) in row.chunks_exact_mut(4).zip(&xs) {
            px.copy_from_slice(&line[*sx..*sx + 4]);
        }
    }
    out
}

/// BGRA (`stride` bytes per row, alpha ignored) to an I420 frame of `w` x `h` (even sides),
/// BT.601 limited range as H.264 decoders assume without colour information.
pub fn bgra_to_i420(bgra: &[u8], stride: usize, w: u32, h: u32, timestamp_us: u64) -> Option<VideoFrame> {
    use dcv_color_primitives::{ColorSpace, ImageFormat, PixelFormat, convert_image};
    if w == 0
        || h == 0
        || !w.is_multiple_of(2)
        || !h.is_multiple_of(2)
        || stride < w as usize * 4
        || bgra.len() < stride * (h as usize - 1) + w as usize * 4
    {
        return None;
    }
    let (cw, ch) = VideoFrame::chroma_size(w, h);
    let mut y = vec![0u8; (w * h) as usize];
    let mut u = vec![0u8; (cw * ch) as usize];
    let mut v = vec![0u8; (cw * ch) as usize];
    let src = ImageFormat { pixel_format: PixelFormat::Bgra, color_space: ColorSpace::Rgb, num_planes: 1 };
    let dst = ImageFormat { pixel_format: PixelFormat::I420, color_space: ColorSpace::Bt601, num_planes: 3 };
    let strides = [w as usize, cw as usize, cw as usize];
    let converted = convert_image(w, h, &src, Some(&[stride]), &[bgra], &dst, Some(&strides), &mut [&mut y[..], &mut u[..], &mut v[..]]);
    if let Err(e) = converted {
        tracing::warn!("BGRA to I420 ({w}x{h}): {e}");
        return None;
    }
    Some(VideoFrame { width: w, height: h, y, u, v, timestamp_us })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitting_keeps_the_aspect_and_even_sides() {
        assert_eq!(fit_even(1920, 1080, 1920, 1080), (1920, 1080));
        assert_eq!(fit_even(1920, 1080, 1280, 720), (1280, 720));
        assert_eq!(fit_even(2560, 1440, 1920, 1080), (1920, 1080));
        assert_eq!(fit_even(1001, 2001, 640, 480), (240, 480));
        assert_eq!(fit_even(641, 481, 1920, 1080), (640, 480), "odd sides are cropped, never enlarged");
        assert_eq!(fit(100, 50, 320, 180), (100, 50), "a thumbnail is never enlarged");
        assert_eq!(fit(1920, 1080, 320, 320), (320, 180));
    }

    #[test]
    fn bgra_colours_convert_to_bt601_limited() {
        // Pure red, green, blue, white and black 4x2 blocks -> their BT.601 limited Y'CbCr.
        for (bgra, (ey, eu, ev)) in [
            ([0u8, 0, 255, 0], (81u8, 90u8, 240u8)),
            ([0, 255, 0, 0], (145, 54, 34)),
            ([255, 0, 0, 0], (41, 240, 110)),
            ([255, 255, 255, 0], (235, 128, 128)),
            ([0, 0, 0, 0], (16, 128, 128)),
        ] {
            let px: Vec<u8> = bgra.iter().copied().cycle().take(4 * 2 * 4).collect();
            let f = bgra_to_i420(&px, 16, 4, 2, 7).expect("converts");
            assert!(f.is_consistent());
            let near = |a: u8, b: u8| (a as i32 - b as i32).abs() <= 2;
            assert!(near(f.y[0], ey) && near(f.u[0], eu) && near(f.v[0], ev), "{bgra:?} -> {} {} {}", f.y[0], f.u[0], f.v[0]);
        }
        assert!(bgra_to_i420(&[0; 8], 8, 4, 2, 0).is_none(), "short buffer refused");
        assert!(bgra_to_i420(&[0; 48], 12, 3, 2, 0).is_none(), "odd width refused");
    }

    #[test]
    fn nearest_scaling_picks_source_pixels() {
        // 4x2: left half red, right half blue -> 2x1 keeps one of each.
        let mut src = Vec::new();
        for _ in 0..2 {
            for x in 0..4 {
                src.extend_from_slice(if x < 2 { &[0, 0, 255, 0] } else { &[255, 0, 0, 0] });
            }
        }
        assert_eq!(scale_bgra(&src, 16, 4, 2, 2, 1), vec![0, 0, 255, 0, 255, 0, 0, 0]);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_query_that_hangs_is_abandoned_after_the_timeout() {
        let started = std::time::Instant::now();
        let r = bounded("hanging", || {
            std::thread::sleep(QUERY_TIMEOUT * 2);
            Ok(1)
        });
        assert!(matches!(r, Err(DeviceError::Unavailable(_))), "{r:?}");
        let waited = started.elapsed();
        assert!(waited >= QUERY_TIMEOUT && waited < QUERY_TIMEOUT * 2, "waited {waited:?}");
        assert_eq!(bounded("quick", || Ok(7)).expect("answers"), 7);
    }

    #[test]
    fn rectangles_intersect() {
        let a = Rect { x: 0, y: 0, width: 100, height: 100 };
        assert_eq!(a.intersect(&Rect { x: 50, y: -10, width: 100, height: 30 }), Rect { x: 50, y: 0, width: 50, height: 20 });
        assert!(a.intersect(&Rect { x: 100, y: 0, width: 5, height: 5 }).is_empty());
        let huge = Rect { x: i32::MAX, y: i32::MAX, width: u32::MAX, height: u32::MAX };
        assert!(a.intersect(&huge).is_empty(), "no overflow");
        let all = Rect { x: i32::MIN, y: i32::MIN, width: u32::MAX, height: u32::MAX };
        assert_eq!(a.intersect(&all), a);
    }
}
