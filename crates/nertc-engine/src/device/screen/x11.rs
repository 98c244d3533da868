//! X11 screen capture with x11rb: the capture thread owns its own connection and, when the
//! server offers MIT-SHM (a local server), one SysV shared segment the size of the screen that
//! `ShmGetImage` fills without copying pixels through the socket. Every grab reads from the
//! root window, so a window is captured where it is on screen (its size and place are read at
//! each frame), clipped to the screen, and overlapping windows show as they do on screen.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use x11rb::connection::Connection;
use x11rb::protocol::randr::ConnectionExt as _;
use x11rb::protocol::shm::ConnectionExt as _;
use x11rb::protocol::xfixes::ConnectionExt as _;
use x11rb::protocol::xproto::{AtomEnum, ConnectionExt as _, ImageFormat, MapState, Window};
use x11rb::rust_connection::RustConnection;

use super::{Bgra, Rect, ScreenEvents, ScreenParams, ScreenSource, ScreenSourceInfo};
use crate::device::{DeviceError, PacedThread};
use crate::frame::VideoFrame;

fn xerr(e: impl std::fmt::Display) -> DeviceError {
    DeviceError::Backend(format!("X11: {e}"))
}

struct X {
    conn: RustConnection,
    root: Window,
    screen: Rect,
    net_client_list: u32,
    net_wm_name: u32,
    net_wm_icon: u32,
    utf8_string: u32,
    net_wm_state: u32,
    net_wm_state_hidden: u32,
}

impl X {
    fn connect() -> Result<X, DeviceError> {
        let (conn, n) = x11rb::connect(None).map_err(|e| DeviceError::Unavailable(format!("no X display: {e}")))?;
        let s = conn.setup().roots.get(n).ok_or_else(|| xerr("no such screen"))?;
        let (root, depth) = (s.root, s.root_depth);
        let screen = Rect { x: 0, y: 0, width: u32::from(s.width_in_pixels), height: u32::from(s.height_in_pixels) };
        let bpp = conn.setup().pixmap_formats.iter().find(|f| f.depth == depth).map(|f| f.bits_per_pixel);
        if !(depth == 24 || depth == 32) || bpp != Some(32) {
            return Err(DeviceError::Unavailable(format!("X screen of depth {depth} ({bpp:?} bits per pixel): only 24/32-bit screens")));
        }
        let atom =
            |name: &[u8]| -> Result<u32, DeviceError> { Ok(conn.intern_atom(false, name).map_err(xerr)?.reply().map_err(xerr)?.atom) };
        Ok(X {
            net_client_list: atom(b"_NET_CLIENT_LIST")?,
            net_wm_name: atom(b"_NET_WM_NAME")?,
            net_wm_icon: atom(b"_NET_WM_ICON")?,
            utf8_string: atom(b"UTF8_STRING")?,
            net_wm_state: atom(b"_NET_WM_STATE")?,
            net_wm_state_hidden: atom(b"_NET_WM_STATE_HIDDEN")?,
            conn,
            root,
            screen,
        })
    }

    /// RandR monitors (id = index), or the whole screen as display 0.
    fn displays(&self) -> Vec<(u64, Rect, String, bool)> {
        let monitors = self
            .conn
            .randr_query_version(1, 5)
            .ok()
            .and_then(|c| c.reply().ok())
            .and_then(|_| self.conn.randr_get_monitors(self.root, true).ok())
            .and_then(|c| c.reply().ok())
            .map(|r| r.monitors)
            .unwrap_or_default();
        if monitors.is_empty() {
            return vec![(0, self.screen, "Screen".into(), true)];
        }
        monitors
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let name = self
                    .conn
                    .get_atom_name(m.name)
                    .ok()
                    .and_then(|c| c.reply().ok())
                    .map(|r| String::from_utf8_lossy(&r.name).into_owned())
                    .unwrap_or_else(|| format!("Screen {i}"));
                let r = Rect { x: i32::from(m.x), y: i32::from(m.y), width: u32::from(m.width), height: u32::from(m.height) };
                (i as u64, r, name, m.primary)
            })
            .collect()
    }

    fn property(&self, w: Window, prop: u32, ty: u32, max_words: u32) -> Option<Vec<u8>> {
        let r = self.conn.get_property(false, w, prop, ty, 0, max_words).ok()?.reply().ok()?;
        (!r.value.is_empty()).then_some(r.value)
    }

    fn title(&self, w: Window) -> String {
        if let Some(v) = self.property(w, self.net_wm_name, self.utf8_string, 1024) {
            return String::from_utf8_lossy(&v).into_owned();
        }
        // WM_NAME is Latin-1 (STRING); each byte is its code point.
        self.property(w, AtomEnum::WM_NAME.into(), AtomEnum::STRING.into(), 1024)
            .map(|v| v.iter().map(|b| char::from(*b)).collect())
            .unwrap_or_default()
    }

    /// Top-level application windows: the window manager's client list, or (no window
    /// manager) the root's viewable, titled, not override-redirect children.
    fn windows(&self) -> Vec<Window> {
        if let Some(v) = self.property(self.root, self.net_client_list, AtomEnum::WINDOW.into(), 4096) {
            return v.chunks_exact(4).map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]])).collect();
        }
        let Some(tree) = self.conn.query_tree(self.root).ok().and_then(|c| c.reply().ok()) else { return vec![] };
        tree.children
            .into_iter()
            .filter(|w| {
                self.conn.get_window_attributes(*w).ok().and_then(|c| c.reply().ok()).is_some_and(|a| {
                    a.map_state == MapState::VIEWABLE
                        && !a.override_redirect
                        && a.class == x11rb::protocol::xproto::WindowClass::INPUT_OUTPUT
                })
            })
            .filter(|w| !self.title(*w).is_empty())
            .collect()
    }

    /// Where a window is on the screen (root coordinates) and whether it is viewable; None
    /// when it does not exist.
    fn window_rect(&self, w: Window) -> Option<(Rect, bool)> {
        let attrs = self.conn.get_window_attributes(w).ok()?.reply().ok()?;
        let geo = self.conn.get_geometry(w).ok()?.reply().ok()?;
        let pos = self.conn.translate_coordinates(w, self.root, 0, 0).ok()?.reply().ok()?;
        let r = Rect { x: i32::from(pos.dst_x), y: i32::from(pos.dst_y), width: u32::from(geo.width), height: u32::from(geo.height) };
        Some((r, attrs.map_state == MapState::VIEWABLE))
    }

    fn minimized(&self, w: Window) -> bool {
        let hidden = self
            .property(w, self.net_wm_state, AtomEnum::ATOM.into(), 64)
            .is_some_and(|v| v.chunks_exact(4).any(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]) == self.net_wm_state_hidden));
        hidden || self.window_rect(w).is_some_and(|(_, viewable)| !viewable)
    }

    /// The largest `_NET_WM_ICON` image, fitted into `max`.
    fn icon(&self, w: Window, max: (u32, u32)) -> Option<Bgra> {
        let v = self.property(w, self.net_wm_icon, AtomEnum::CARDINAL.into(), 1 << 20)?;
        let words: Vec<u32> = v.chunks_exact(4).map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]])).collect();
        let mut best: Option<(u32, u32, &[u32])> = None;
        let mut rest = &words[..];
        while rest.len() >= 2 {
            let (iw, ih) = (rest[0], rest[1]);
            let n = (iw as usize).checked_mul(ih as usize)?;
            if iw == 0 || ih == 0 || rest.len() < 2 + n {
                break;
            }
            if best.is_none_or(|(bw, _, _)| iw > bw) {
                best = Some((iw, ih, &rest[2..2 + n]));
            }
            rest = &rest[2 + n..];
        }
        let (iw, ih, px) = best?;
        // ARGB words in native order are B, G, R, A bytes on little-endian machines.
        let bgra: Vec<u8> = px.iter().flat_map(|p| p.to_le_bytes()).collect();
        let (tw, th) = super::fit(iw, ih, max.0, max.1);
        Some(Bgra { width: tw, height: th, data: super::scale_bgra(&bgra, iw as usize * 4, iw, ih, tw, th) })
    }

    /// A plain `GetImage` of a screen rectangle (thumbnails; captures without SHM).
    fn get_image(&self, r: Rect) -> Result<Vec<u8>, DeviceError> {
        let reply = self
            .conn
            .get_image(ImageFormat::Z_PIXMAP, self.root, r.x as i16, r.y as i16, r.width as u16, r.height as u16, !0)
            .map_err(xerr)?
            .reply()
            .map_err(xerr)?;
        Ok(reply.data)
    }

    fn thumb(&self, r: Rect, max: (u32, u32)) -> Option<Bgra> {
        let r = r.intersect(&self.screen);
        if r.is_empty() || max.0 == 0 || max.1 == 0 {
            return None;
        }
        let px = self.get_image(r).ok()?;
        let (tw, th) = super::fit(r.width, r.height, max.0, max.1);
        Some(Bgra { width: tw, height: th, data: super::scale_bgra(&px, r.width as usize * 4, r.width, r.height, tw, th) })
    }
}

pub(super) fn enumerate(thumb: (u32, u32), icon: (u32, u32)) -> Result<Vec<ScreenSourceInfo>, DeviceError> {
    let x = X::connect()?;
    let mut out = Vec::new();
    for (id, r, name, _primary) in x.displays() {
        out.push(ScreenSourceInfo {
            kind: super::SOURCE_SCREEN,
            source_id: id,
            display_id: id.to_string(),
            name,
            minimized: false,
            thumb: x.thumb(r, thumb),
            icon: None,
        });
    }
    for w in x.windows() {
        let title = x.title(w);
        if title.is_empty() {
            continue;
        }
        let minimized = x.minimized(w);
        let thumb = if minimized { None } else { x.window_rect(w).and_then(|(r, _)| x.thumb(r, thumb)) };
        let icon = if icon.0 > 0 && icon.1 > 0 { x.icon(w, icon) } else { None };
        out.push(ScreenSourceInfo {
            kind: super::SOURCE_WINDOW,
            source_id: u64::from(w),
            display_id: String::new(),
            name: title,
            minimized,
            thumb,
            icon,
        });
    }
    Ok(out)
}

pub(super) fn check_source(source: &ScreenSource) -> Result<(), DeviceError> {
    let x = X::connect()?;
    match source {
        ScreenSource::Display(id) => {
            if x.displays().iter().any(|d| d.0 == *id) {
                Ok(())
            } else {
                Err(DeviceError::NotFound(format!("display {id}")))
            }
        }
        ScreenSource::Window(w) => match u32::try_from(*w).ok().and_then(|w| x.window_rect(w)) {
            Some(_) => Ok(()),
            None => Err(DeviceError::NotFound(format!("window {w}"))),
        },
        ScreenSource::Rect(r) => {
            if r.intersect(&x.screen).is_empty() {
                Err(DeviceError::InvalidArgument(format!("{r:?} is off the screen {:?}", x.screen)))
            } else {
                Ok(())
            }
        }
    }
}

/// A SysV shared-memory segment attached to us and to the X server.
struct Shm {
    seg: u32,
    id: i32,
    addr: *mut u8,
    size: usize,
}

// SAFETY: the mapping is owned by this value alone (no other pointer to it is handed out
// beyond borrows of `&mut self`); moving it to the capture thread moves that ownership.
unsafe impl Send for Shm {}

impl Shm {
    fn new(conn: &RustConnection, size: usize) -> Option<Shm> {
        let reply = conn.shm_query_version().ok()?.reply().ok()?;
        tracing::debug!(major = reply.major_version, minor = reply.minor_version, "MIT-SHM");
        // SAFETY: a plain system call with no pointer arguments.
        let id = unsafe { libc::shmget(libc::IPC_PRIVATE, size, libc::IPC_CREAT | 0o600) };
        if id < 0 {
            tracing::debug!("shmget({size}): {}", std::io::Error::last_os_error());
            return None;
        }
        // SAFETY: `id` is the segment just created; a null address lets the kernel place it.
        let addr = unsafe { libc::shmat(id, std::ptr::null(), 0) };
        if addr as isize == -1 {
            // SAFETY: removes the segment created above; no pointer is passed.
            unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
            return None;
        }
        let seg = conn.generate_id().ok();
        let attached = seg.and_then(|seg| conn.shm_attach(seg, id as u32, false).ok()).and_then(|c| c.check().ok());
        // Marked for removal now: it goes away once both we and the server detach.
        // SAFETY: `id` is our segment; no pointer is passed.
        unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
        match (seg, attached) {
            (Some(seg), Some(())) => Some(Shm { seg, id, addr: addr.cast(), size }),
            _ => {
                // SAFETY: `addr` was returned by shmat above and is not used afterwards.
                unsafe { libc::shmdt(addr) };
                None
            }
        }
    }
}

impl Drop for Shm {
    fn drop(&mut self) {
        // SAFETY: `addr` came from shmat and no borrow of it outlives `&mut self`.
        unsafe { libc::shmdt(self.addr.cast()) };
        tracing::trace!(id = self.id, "shm segment detached");
    }
}

/// Grabs `r` (inside the screen) into a BGRA buffer with `r.width * 4` bytes per row: the
/// shared segment when there is one, else `buf`.
fn grab<'a>(x: &X, shm: &'a Option<Shm>, buf: &'a mut Vec<u8>, r: Rect) -> Result<&'a mut [u8], DeviceError> {
    let len = r.width as usize * r.height as usize * 4;
    if let Some(shm) = shm
        && len <= shm.size
    {
        x.conn
            .shm_get_image(x.root, r.x as i16, r.y as i16, r.width as u16, r.height as u16, !0, ImageFormat::Z_PIXMAP.into(), shm.seg, 0)
            .map_err(xerr)?
            .reply()
            .map_err(xerr)?;
        // SAFETY: the reply means the server has written the image; `len` fits the segment
        // (checked above); the slice's lifetime is tied to the `Shm`, which the capture thread
        // alone owns and does not grab into again while the slice lives.
        return Ok(unsafe { std::slice::from_raw_parts_mut(shm.addr, len) });
    }
    *buf = x.get_image(r)?;
    if buf.len() < len {
        return Err(xerr(format!("GetImage returned {} bytes for {r:?}", buf.len())));
    }
    Ok(&mut buf[..len])
}

/// Blends the cursor image (premultiplied ARGB) into `px`, a BGRA picture of screen area `r`.
fn draw_cursor(conn: &RustConnection, px: &mut [u8], r: Rect) {
    let Some(c) = conn.xfixes_get_cursor_image().ok().and_then(|c| c.reply().ok()) else { return };
    let (cx, cy) = (i32::from(c.x) - i32::from(c.xhot) - r.x, i32::from(c.y) - i32::from(c.yhot) - r.y);
    for j in 0..i32::from(c.height) {
        let y = cy + j;
        if y < 0 || y >= r.height as i32 {
            continue;
        }
        for i in 0..i32::from(c.width) {
            let x = cx + i;
            if x < 0 || x >= r.width as i32 {
                continue;
            }
            let Some(&argb) = c.cursor_image.get((j * i32::from(c.width) + i) as usize) else { return };
            let a = argb >> 24;
            if a == 0 {
                continue;
            }
            let o = (y as usize * r.width as usize + x as usize) * 4;
            for (k, shift) in [(0usize, 0u32), (1, 8), (2, 16)] {
                let s = (argb >> shift) & 0xff;
                let d = u32::from(px[o + k]);
                px[o + k] = (s + d * (255 - a) / 255).min(255) as u8;
            }
        }
    }
}

/// Paints excluded windows black where they cover `r`.
fn hide_windows(x: &X, px: &mut [u8], r: Rect, excluded: &[u64]) {
    for w in excluded {
        let Some((wr, true)) = u32::try_from(*w).ok().and_then(|w| x.window_rect(w)) else { continue };
        let o = wr.intersect(&r);
        for y in o.y..o.y + o.height as i32 {
            let row = ((y - r.y) as usize * r.width as usize + (o.x - r.x) as usize) * 4;
            px[row..row + o.width as usize * 4].fill(0);
        }
    }
}

pub(super) fn open(
    p: &ScreenParams,
    paused: Arc<AtomicBool>,
    mut on_frame: Box<dyn FnMut(VideoFrame) + Send>,
    events: Box<dyn ScreenEvents>,
) -> Result<PacedThread, DeviceError> {
    let x = X::connect()?;
    let display = match &p.source {
        ScreenSource::Display(id) => {
            Some(x.displays().into_iter().find(|d| d.0 == *id).ok_or_else(|| DeviceError::NotFound(format!("display {id}")))?.1)
        }
        ScreenSource::Window(w) => {
            u32::try_from(*w).ok().and_then(|w| x.window_rect(w)).ok_or_else(|| DeviceError::NotFound(format!("window {w}")))?;
            None
        }
        ScreenSource::Rect(r) => Some(*r),
    };
    if p.cursor {
        // XFixes needs the client's version before GetCursorImage answers.
        let ok = x.conn.xfixes_query_version(4, 0).ok().and_then(|c| c.reply().ok()).is_some();
        if !ok {
            tracing::warn!("no XFixes: the cursor is not drawn");
        }
    }
    let shm = Shm::new(&x.conn, x.screen.width as usize * x.screen.height as usize * 4);
    tracing::info!(source = ?p.source, region = ?p.region, fps = p.fps, shm = shm.is_some(), "screen capture");
    let (shm, mut buf, p) = (shm, Vec::new(), p.clone());
    let mut gone = false;
    let period = Duration::from_nanos(1_000_000_000 / u64::from(p.fps));
    PacedThread::spawn("nertc-screen", period, 0, move |_, wall_us| {
        if gone || paused.load(Relaxed) {
            return;
        }
        let source = match (&p.source, display) {
            (ScreenSource::Window(w), _) => match x.window_rect(*w as u32) {
                Some((r, true)) => r,
                Some((_, false)) => return, // unmapped (minimized): no frames until it is back
                None => {
                    gone = true;
                    tracing::warn!(window = w, "the shared window is gone");
                    events.aborted();
                    return;
                }
            },
            (_, Some(r)) => r,
            (_, None) => return,
        };
        let r = match p.region {
            Some(reg) if !reg.is_empty() => source.intersect(&Rect { x: source.x + reg.x, y: source.y + reg.y, ..reg }),
            _ => source,
        };
        let mut r = r.intersect(&x.screen);
        r.width &= !1;
        r.height &= !1;
        if r.width < 2 || r.height < 2 {
            return;
        }
        let px = match grab(&x, &shm, &mut buf, r) {
            Ok(px) => px,
            Err(e) => return tracing::debug!("screen grab failed: {e}"),
        };
        if !matches!(p.source, ScreenSource::Window(_)) && !p.excluded.is_empty() {
            hide_windows(&x, px, r, &p.excluded);
        }
        if p.cursor {
            draw_cursor(&x.conn, px, r);
        }
        emit(px, r, &p, wall_us, &mut on_frame);
    })
}

fn emit(px: &[u8], r: Rect, p: &ScreenParams, wall_us: u64, on_frame: &mut Box<dyn FnMut(VideoFrame) + Send>) {
    let (tw, th) = super::fit_even(r.width, r.height, p.max_width, p.max_height);
    let frame = if (tw, th) == (r.width, r.height) {
        super::bgra_to_i420(px, r.width as usize * 4, tw, th, wall_us)
    } else {
        let scaled = super::scale_bgra(px, r.width as usize * 4, r.width, r.height, tw, th);
        super::bgra_to_i420(&scaled, tw as usize * 4, tw, th, wall_us)
    };
    if let Some(f) = frame {
        on_frame(f);
    }
}
