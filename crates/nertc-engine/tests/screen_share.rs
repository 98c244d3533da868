//! Screen sharing on the substream, for real: the test starts its own X server (Xvfb, 1920x1080,
//! 24 bits) and draws a window with known content (left half one colour, right half another)
//! with x11rb. Engine A shares that window while its test-pattern camera keeps publishing;
//! engine B receives the share as A's substream (`onUserSubStreamVideoStart`,
//! `subscribeRemoteVideoSubStream`, `onFirstVideoFrameDecoded` with stream type 1, frames in
//! the `RemoteSub` slot) and its colours are checked in the decoded frames, next to the main
//! stream's. Then region, pause/resume, stop, errors, a window going away, and the capture
//! cost of a whole 1080p display at 15 fps (CPU time of the capture thread).
//!
//! Needs `Xvfb` (apt `xvfb`, installed by scripts/setup.sh). Run:
//! `./scripts/netns.sh cargo test -p nertc-engine --test screen_share -- --nocapture`

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use common::wait;
use crossbeam_channel::Receiver;
use nertc_engine::device::screen::{self, Rect, ScreenEvents, ScreenParams, ScreenSource};
use nertc_engine::event::{STREAM_MAIN, STREAM_SUB, screen_status};
use nertc_engine::frame::VideoFrame;
use nertc_engine::render::StreamKey;
use nertc_engine::{Engine, EngineEvent, EngineOptions, ScreenCaptureParams, VideoConfig, error};
use x11rb::connection::Connection;
use x11rb::protocol::Event;
use x11rb::protocol::xproto::{AtomEnum, ConnectionExt as _, CreateGCAux, CreateWindowAux, EventMask, PropMode, Rectangle, WindowClass};
use x11rb::wrapper::ConnectionExt as _;

/// The shared window's colours (0xRRGGBB) and size.
const LEFT: u32 = 0xC0_30_20;
const RIGHT: u32 = 0x20_60_E0;
const WIN_W: u16 = 320;
const WIN_H: u16 = 240;
const TITLE: &str = "nertc screen share test";

/// An Xvfb on a free display number, killed when dropped.
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start(width: u32, height: u32) -> Xvfb {
        let n = (90..190).find(|n| !std::path::Path::new(&format!("/tmp/.X{n}-lock")).exists()).expect("a free X display number");
        let display = format!(":{n}");
        let child = Command::new("Xvfb")
            // -wr: a white root window (no stipple), so a shared display has known content too.
            .args([&display, "-screen", "0", &format!("{width}x{height}x24"), "-wr", "-nolisten", "tcp", "-noreset"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb runs (apt install xvfb; scripts/setup.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while x11rb::connect(Some(&display)).is_err() {
            assert!(Instant::now() < deadline, "Xvfb {display} did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        Xvfb { child, display }
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        // SIGTERM, so that Xvfb removes its lock file and socket (SIGKILL would leave them and
        // use up display numbers run after run).
        // SAFETY: signals our own child, whose pid stays valid until we wait for it below.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// A mapped top-level window: left half [`LEFT`], right half [`RIGHT`].
struct TestWindow {
    conn: x11rb::rust_connection::RustConnection,
    id: u32,
}

impl TestWindow {
    fn open(display: &str, x: i16, y: i16) -> TestWindow {
        let (conn, n) = x11rb::connect(Some(display)).expect("connect to Xvfb");
        let root = conn.setup().roots[n].root;
        let id = conn.generate_id().expect("window id");
        let aux = CreateWindowAux::new().background_pixel(LEFT).event_mask(EventMask::EXPOSURE);
        conn.create_window(0, id, root, x, y, WIN_W, WIN_H, 0, WindowClass::INPUT_OUTPUT, 0, &aux).expect("create_window");
        conn.change_property8(PropMode::REPLACE, id, AtomEnum::WM_NAME, AtomEnum::STRING, TITLE.as_bytes()).expect("WM_NAME");
        conn.map_window(id).expect("map");
        conn.flush().expect("flush");
        loop {
            if let Event::Expose(_) = conn.wait_for_event().expect("X event") {
                break;
            }
        }
        let gc = conn.generate_id().expect("gc id");
        conn.create_gc(gc, id, &CreateGCAux::new().foreground(RIGHT)).expect("create_gc");
        let half = Rectangle { x: (WIN_W / 2) as i16, y: 0, width: WIN_W / 2, height: WIN_H };
        conn.poly_fill_rectangle(id, gc, &[half]).expect("fill");
        conn.get_input_focus().expect("sync").reply().expect("sync reply");
        TestWindow { conn, id }
    }

    fn destroy(self) {
        self.conn.destroy_window(self.id).expect("destroy");
        self.conn.get_input_focus().expect("sync").reply().expect("sync reply");
    }
}

fn atom(conn: &impl Connection, name: &str) -> u32 {
    conn.intern_atom(false, name.as_bytes()).expect("intern_atom").reply().expect("atom").atom
}

/// BT.601 limited-range Y'CbCr of 0xRRGGBB.
fn yuv(rgb: u32) -> (f64, f64, f64) {
    let (r, g, b) = (f64::from((rgb >> 16) & 0xff), f64::from((rgb >> 8) & 0xff), f64::from(rgb & 0xff));
    (
        16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0,
        128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0,
        128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0,
    )
}

/// Mean (Y, U, V) of the frame's block around (fx, fy) (fractions of its size).
fn sample(f: &VideoFrame, fx: f64, fy: f64) -> (f64, f64, f64) {
    let (cx, cy) = ((fx * f64::from(f.width)) as usize, (fy * f64::from(f.height)) as usize);
    let cw = f.width.div_ceil(2) as usize;
    let (mut y, mut u, mut v, mut n) = (0.0, 0.0, 0.0, 0.0);
    for yy in cy - 8..cy + 8 {
        for xx in cx - 8..cx + 8 {
            y += f64::from(f.y[yy * f.width as usize + xx]);
            u += f64::from(f.u[(yy / 2) * cw + xx / 2]);
            v += f64::from(f.v[(yy / 2) * cw + xx / 2]);
            n += 1.0;
        }
    }
    (y / n, u / n, v / n)
}

fn assert_colour(f: &VideoFrame, fx: f64, fy: f64, rgb: u32, what: &str) {
    let (got, want) = (sample(f, fx, fy), yuv(rgb));
    let d = (got.0 - want.0).abs().max((got.1 - want.1).abs()).max((got.2 - want.2).abs());
    assert!(d <= 8.0, "{what}: YUV {got:.1?}, want {want:.1?} (0x{rgb:06x})");
}

/// The newest frame in `key`'s slot once more than `after` frames were put, within `within`.
fn next_frame(e: &Engine, key: StreamKey, after: u64, within: Duration) -> (u64, Arc<VideoFrame>) {
    let slot = e.slot(key);
    let deadline = Instant::now() + within;
    loop {
        if let Some((seq, f)) = slot.newer_than(after).filter(|(seq, _)| *seq > after) {
            return (seq, f);
        }
        assert!(Instant::now() < deadline, "no new frame in {key:?} after #{after} within {within:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until `key`'s frames show `pred`, within `within` (a new capture setting takes a few
/// frames to come through).
fn frame_where(e: &Engine, key: StreamKey, within: Duration, what: &str, pred: impl Fn(&VideoFrame) -> bool) -> Arc<VideoFrame> {
    let deadline = Instant::now() + within;
    let mut seen = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "{what}: not seen within {within:?}");
        let (seq, f) = next_frame(e, key, seen, left);
        if pred(&f) {
            return f;
        }
        seen = seq;
    }
}

/// CPU time (user + system) of this process's thread named `name`, in clock ticks.
fn thread_cpu_ticks(name: &str) -> Option<u64> {
    for t in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = t.ok()?.path();
        if std::fs::read_to_string(dir.join("comm")).ok()?.trim() == name {
            return proc_stat_ticks(&std::fs::read_to_string(dir.join("stat")).ok()?);
        }
    }
    None
}

/// utime + stime of a /proc stat line.
fn proc_stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn clock_ticks_per_s() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

struct NoEvents;
impl ScreenEvents for NoEvents {
    fn aborted(&self) {}
}

/// Captures the whole 1080p display at 15 fps for 6 s: frames delivered, and the CPU the
/// capture thread (grab + BGRA to I420) and the X server spent, as a share of one core.
fn measure_1080p_capture(xvfb: &Xvfb) {
    let params = ScreenParams {
        source: ScreenSource::Display(0),
        region: None,
        max_width: 1920,
        max_height: 1080,
        fps: 15,
        cursor: false,
        excluded: vec![],
    };
    let frames = Arc::new(AtomicU64::new(0));
    let size_ok = Arc::new(AtomicBool::new(true));
    let (f, ok) = (frames.clone(), size_ok.clone());
    let cap = screen::open_screen(
        &params,
        Arc::new(AtomicBool::new(false)),
        Box::new(move |frame| {
            if (frame.width, frame.height) != (1920, 1080) || !frame.is_consistent() {
                ok.store(false, Relaxed);
            }
            f.fetch_add(1, Relaxed);
        }),
        Box::new(NoEvents),
    )
    .expect("capture the display");
    std::thread::sleep(Duration::from_secs(1)); // warm up (first SHM grab, page faults)
    let x_stat = || proc_stat_ticks(&std::fs::read_to_string(format!("/proc/{}/stat", xvfb.child.id())).expect("Xvfb stat"));
    let (t0, x0, n0, at) = (thread_cpu_ticks("nertc-screen").expect("capture thread"), x_stat(), frames.load(Relaxed), Instant::now());
    std::thread::sleep(Duration::from_secs(6));
    let (t1, x1, n1) = (thread_cpu_ticks("nertc-screen").expect("capture thread"), x_stat(), frames.load(Relaxed));
    let secs = at.elapsed().as_secs_f64();
    drop(cap);
    let hz = clock_ticks_per_s();
    let ours = (t1 - t0) as f64 / hz / secs * 100.0;
    let server = (x1.expect("Xvfb ticks") - x0.expect("Xvfb ticks")) as f64 / hz / secs * 100.0;
    let fps = (n1 - n0) as f64 / secs;
    println!(
        "1080p screen capture at 15 fps: {fps:.1} fps delivered, capture thread {ours:.1}% of a core (grab + BGRA->I420), X server {server:.1}%"
    );
    assert!(size_ok.load(Relaxed), "every frame is a consistent 1920x1080 I420 picture");
    assert!(fps > 12.0, "{fps:.1} fps delivered of 15");
    assert!(ours < 15.0, "capture thread at {ours:.1}% of a core (target < 15%)");
}

fn engine(url: &str) -> (Engine, Receiver<EngineEvent>) {
    Engine::new(EngineOptions { app_key: "screen".into(), server_url: url.into() }).expect("engine")
}

#[test]
fn a_shared_window_arrives_on_the_substream_next_to_the_camera() {
    let xvfb = Xvfb::start(1920, 1080);
    // SAFETY: set before this test starts any thread that reads the environment (the engines,
    // the runtime, the capture threads come after); it is this binary's only test.
    unsafe { std::env::set_var("DISPLAY", &xvfb.display) };

    measure_1080p_capture(&xvfb);

    let win = TestWindow::open(&xvfb.display, 100, 100);
    // A 16x16 opaque green _NET_WM_ICON (ARGB words after width and height).
    let icon: Vec<u32> = [16, 16].into_iter().chain(std::iter::repeat_n(0xFF00_FF00, 256)).collect();
    win.conn.change_property32(PropMode::REPLACE, win.id, atom(&win.conn, "_NET_WM_ICON"), AtomEnum::CARDINAL, &icon).expect("icon");
    win.conn.get_input_focus().expect("sync").reply().expect("sync reply");
    // The window is listed, with its title, its icon and a thumbnail showing its colours.
    let sources = screen::enumerate_sources((160, 160), (32, 32)).expect("enumerate");
    assert_eq!(sources[0].kind, screen::SOURCE_SCREEN);
    let thumb = sources[0].thumb.as_ref().expect("display thumbnail");
    assert_eq!((thumb.width, thumb.height), (160, 90), "1920x1080 fitted into 160x160");
    let listed = sources.iter().find(|s| s.source_id == u64::from(win.id)).expect("the test window is listed");
    assert_eq!((listed.kind, listed.name.as_str(), listed.minimized), (screen::SOURCE_WINDOW, TITLE, false));
    let t = listed.thumb.as_ref().expect("window thumbnail");
    assert_eq!((t.width, t.height), (160, 120));
    let px = |x: u32, y: u32| {
        let o = ((y * t.width + x) * 4) as usize;
        u32::from(t.data[o + 2]) << 16 | u32::from(t.data[o + 1]) << 8 | u32::from(t.data[o])
    };
    assert_eq!((px(20, 60), px(140, 60)), (LEFT, RIGHT), "thumbnail pixels are the window's");
    let i = listed.icon.as_ref().expect("window icon");
    assert_eq!((i.width, i.height, &i.data[..4]), (16, 16, &[0, 255, 0, 255][..]), "16x16 green, never enlarged to 32");
    // With a window manager's _NET_CLIENT_LIST, only its clients are listed: a second window
    // left out of the list is not offered.
    let other = TestWindow::open(&xvfb.display, 600, 100);
    let window_ids =
        |s: &[screen::ScreenSourceInfo]| s.iter().filter(|s| s.kind == screen::SOURCE_WINDOW).map(|s| s.source_id).collect::<Vec<_>>();
    let both = window_ids(&screen::enumerate_sources((0, 0), (0, 0)).expect("enumerate"));
    assert!(both.contains(&u64::from(win.id)) && both.contains(&u64::from(other.id)), "no window manager: mapped titled children {both:?}");
    let root = win.conn.setup().roots[0].root;
    let client_list = atom(&win.conn, "_NET_CLIENT_LIST");
    win.conn.change_property32(PropMode::REPLACE, root, client_list, AtomEnum::WINDOW, &[win.id]).expect("client list");
    win.conn.get_input_focus().expect("sync").reply().expect("sync reply");
    assert_eq!(window_ids(&screen::enumerate_sources((0, 0), (0, 0)).expect("enumerate")), vec![u64::from(win.id)]);
    win.conn.delete_property(root, client_list).expect("delete");
    other.destroy();

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(nertc_server::start(nertc_server::ServerConfig::embedded())).expect("server");
    let url = server.url();
    let (a, a_rx) = engine(&url);
    let (b, b_rx) = engine(&url);
    let params = ScreenCaptureParams { profile: 3, width: 1920, height: 1080, frame_rate: 15, ..Default::default() };
    assert_eq!(a.start_screen_capture(ScreenSource::Window(u64::from(win.id)), Rect::default(), &params), error::ERR_NOT_JOINED);
    assert_eq!(a.pause_screen_capture(true), error::ERR_SCREEN_STATE, "nothing to pause");
    let cfg = VideoConfig { max_profile: -1, width: 640, height: 480, framerate: 15, ..Default::default() };
    assert_eq!(a.set_video_config(&cfg), error::OK);
    assert_eq!(a.enable_local_video(true), error::OK);
    assert_eq!(a.join_channel(None, "screen", 1), error::OK);
    wait(&a_rx, "A joined", Duration::from_secs(10), |e| matches!(e, EngineEvent::JoinChannel { result: 0, .. }));
    assert_eq!(b.join_channel(None, "screen", 2), error::OK);
    wait(&b_rx, "A's camera", Duration::from_secs(10), |e| matches!(e, EngineEvent::UserVideoStart { uid: 1, .. }));
    assert_eq!(b.subscribe_remote_video_stream(1, 0, true), error::OK);
    wait(&b_rx, "B decodes A's camera", Duration::from_secs(15), |e| {
        matches!(e, EngineEvent::FirstVideoFrameDecoded { uid: 1, stream_type: STREAM_MAIN, .. })
    });

    // Bad sources and parameters fail at once with NERTC's desktop-capture codes.
    assert_eq!(a.start_screen_capture(ScreenSource::Window(0x7fff_fff0), Rect::default(), &params), error::ERR_SCREEN_PARAM);
    assert_eq!(a.start_screen_capture(ScreenSource::Display(7), Rect::default(), &params), error::ERR_SCREEN_PARAM);
    let bad = ScreenCaptureParams { profile: 9, ..Default::default() };
    assert_eq!(a.start_screen_capture(ScreenSource::Display(0), Rect::default(), &bad), error::ERR_INVALID_PARAM);

    // Share the window.
    assert_eq!(a.start_screen_capture(ScreenSource::Window(u64::from(win.id)), Rect::default(), &params), error::OK);
    wait(&a_rx, "capture started", Duration::from_secs(5), |e| {
        matches!(e, EngineEvent::ScreenCaptureStatus { status: screen_status::START })
    });
    wait(&b_rx, "A's substream", Duration::from_secs(10), |e| matches!(e, EngineEvent::UserSubStreamVideoStart { uid: 1, .. }));
    assert!(b.slot(StreamKey::RemoteSub(1)).newer_than(0).is_none(), "not received before subscribing");
    assert_eq!(b.subscribe_remote_video_substream(1, true), error::OK);
    wait(&b_rx, "B decodes A's substream", Duration::from_secs(15), |e| {
        matches!(e, EngineEvent::FirstVideoFrameDecoded { uid: 1, stream_type: STREAM_SUB, width: 320, height: 240 })
    });
    let main_before = b.slot(StreamKey::Remote(1)).count();
    let shared = frame_where(&b, StreamKey::RemoteSub(1), Duration::from_secs(5), "the window's picture", |f| {
        (f.width, f.height) == (u32::from(WIN_W), u32::from(WIN_H))
    });
    assert_colour(&shared, 0.25, 0.5, LEFT, "left half of the shared window");
    assert_colour(&shared, 0.75, 0.5, RIGHT, "right half of the shared window");
    // A's own substream preview shows it too.
    let (_, local) = next_frame(&a, StreamKey::LocalSub, 0, Duration::from_secs(2));
    assert_eq!((local.width, local.height), (u32::from(WIN_W), u32::from(WIN_H)));
    // The camera keeps flowing on the main stream, in its own slot, at its own size.
    std::thread::sleep(Duration::from_secs(2));
    let (main_after, main) = next_frame(&b, StreamKey::Remote(1), main_before, Duration::from_secs(2));
    assert!(main_after >= main_before + 20, "main stream: {} frames in 2 s while sharing", main_after - main_before);
    assert_eq!((main.width, main.height), (640, 480), "the main stream is the camera, not the screen");

    // Only the right half: the region is relative to the window.
    assert_eq!(a.update_screen_capture_region(Rect { x: 160, y: 0, width: 160, height: 240 }), error::OK);
    let right = frame_where(&b, StreamKey::RemoteSub(1), Duration::from_secs(5), "the right half", |f| (f.width, f.height) == (160, 240));
    assert_colour(&right, 0.5, 0.5, RIGHT, "region = right half");
    assert_eq!(a.update_screen_capture_region(Rect::default()), error::OK);
    frame_where(&b, StreamKey::RemoteSub(1), Duration::from_secs(5), "the whole window again", |f| f.width == u32::from(WIN_W));

    // Paused: no new pictures; resumed: they come again.
    assert_eq!(a.pause_screen_capture(true), error::OK);
    wait(&a_rx, "paused", Duration::from_secs(2), |e| matches!(e, EngineEvent::ScreenCaptureStatus { status: screen_status::PAUSE }));
    std::thread::sleep(Duration::from_millis(700)); // frames already on their way arrive
    let paused_at = a.slot(StreamKey::LocalSub).count();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(a.slot(StreamKey::LocalSub).count(), paused_at, "no capture while paused");
    assert_eq!(a.pause_screen_capture(false), error::OK);
    wait(&a_rx, "resumed", Duration::from_secs(2), |e| matches!(e, EngineEvent::ScreenCaptureStatus { status: screen_status::RESUME }));
    let sub_now = b.slot(StreamKey::RemoteSub(1)).count();
    next_frame(&b, StreamKey::RemoteSub(1), sub_now, Duration::from_secs(3));

    // Muted (muteLocalVideoStreamWithType(1)): no pictures reach B; the camera goes on.
    assert_eq!(a.mute_local_substream_video(true), error::OK);
    std::thread::sleep(Duration::from_millis(700)); // pictures already on their way arrive
    let muted_at = b.slot(StreamKey::RemoteSub(1)).count();
    let main_at = b.slot(StreamKey::Remote(1)).count();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(b.slot(StreamKey::RemoteSub(1)).count(), muted_at, "nothing sent while muted");
    assert!(b.slot(StreamKey::Remote(1)).count() > main_at, "the camera still flows");
    assert_eq!(a.mute_local_substream_video(false), error::OK);
    next_frame(&b, StreamKey::RemoteSub(1), muted_at, Duration::from_secs(3));

    // Stopped: the substream is unpublished; the camera goes on.
    assert_eq!(a.stop_screen_capture(), error::OK);
    wait(&a_rx, "stopped", Duration::from_secs(2), |e| matches!(e, EngineEvent::ScreenCaptureStatus { status: screen_status::STOP }));
    wait(&b_rx, "A's substream stops", Duration::from_secs(10), |e| matches!(e, EngineEvent::UserSubStreamVideoStop { uid: 1 }));
    assert!(b.slot(StreamKey::RemoteSub(1)).newer_than(0).is_none(), "the substream's slot is cleared");
    let main_now = b.slot(StreamKey::Remote(1)).count();
    next_frame(&b, StreamKey::Remote(1), main_now, Duration::from_secs(2));

    // A display share: the excluded window is painted black over the white root; without the
    // exclusion the window shows; the cursor (Xvfb's, at the centre) is drawn when asked.
    let full = ScreenCaptureParams {
        profile: 3,
        width: 1920,
        height: 1080,
        frame_rate: 15,
        capture_mouse_cursor: false,
        excluded_windows: vec![u64::from(win.id)],
        ..Default::default()
    };
    assert_eq!(a.start_screen_capture(ScreenSource::Display(0), Rect::default(), &full), error::OK);
    wait(&b_rx, "A's display share", Duration::from_secs(10), |e| matches!(e, EngineEvent::UserSubStreamVideoStart { uid: 1, .. }));
    let (wx, wy) = ((100.0 + 80.0) / 1920.0, (100.0 + 120.0) / 1080.0); // the window's left half
    let near = |f: &VideoFrame, fx: f64, fy: f64, rgb: u32| {
        let (g, w) = (sample(f, fx, fy), yuv(rgb));
        (g.0 - w.0).abs().max((g.1 - w.1).abs()).max((g.2 - w.2).abs()) <= 8.0
    };
    let hidden = frame_where(&b, StreamKey::RemoteSub(1), Duration::from_secs(10), "the display, window hidden", |f| {
        (f.width, f.height) == (1920, 1080) && near(f, wx, wy, 0)
    });
    assert_colour(&hidden, wx, wy, 0x000000, "the excluded window is black");
    assert_colour(&hidden, 0.75, 0.75, 0xFFFFFF, "the white root around it");
    assert_colour(&hidden, 0.5, 0.5, 0xFFFFFF, "no cursor unless asked");
    assert_eq!(a.set_exclude_window_list(vec![]), error::OK);
    frame_where(&b, StreamKey::RemoteSub(1), Duration::from_secs(10), "the window shown again", |f| near(f, wx, wy, LEFT));
    assert_eq!(a.set_screen_capture_mouse_cursor(true), error::OK);
    let with_cursor =
        frame_where(&b, StreamKey::RemoteSub(1), Duration::from_secs(10), "the cursor drawn", |f| sample(f, 0.5, 0.5).0 < 200.0);
    assert_colour(&with_cursor, 0.75, 0.75, 0xFFFFFF, "the rest unchanged");
    assert_eq!(a.set_exclude_window_list(vec![0; 257]), error::ERR_INVALID_PARAM, "at most 256 excluded windows");

    // Sharing the window again, then the window goes away: onScreenCaptureStatus(6).
    // (A running share is replaced in place: same substream, new pictures.)
    assert_eq!(a.start_screen_capture(ScreenSource::Window(u64::from(win.id)), Rect::default(), &params), error::OK);
    frame_where(&b, StreamKey::RemoteSub(1), Duration::from_secs(10), "the window again", |f| f.width == u32::from(WIN_W));
    win.destroy();
    wait(&a_rx, "capture aborted", Duration::from_secs(3), |e| {
        matches!(e, EngineEvent::ScreenCaptureStatus { status: screen_status::ABORT })
    });

    // A display share (the whole 1080p screen, scaled to the 720p profile).
    let hd = ScreenCaptureParams { profile: 1, ..Default::default() };
    assert_eq!(a.start_screen_capture(ScreenSource::Display(0), Rect::default(), &hd), error::OK);
    frame_where(&b, StreamKey::RemoteSub(1), Duration::from_secs(10), "the display at 1280x720", |f| (f.width, f.height) == (1280, 720));

    assert_eq!(a.leave_channel(), error::OK);
    wait(&a_rx, "leaving stops the share", Duration::from_secs(2), |e| {
        matches!(e, EngineEvent::ScreenCaptureStatus { status: screen_status::STOP })
    });
    wait(&b_rx, "A's substream stops with A", Duration::from_secs(10), |e| {
        matches!(e, EngineEvent::UserSubStreamVideoStop { uid: 1 } | EngineEvent::UserLeft { uid: 1, .. })
    });
    drop((a, b));
}
