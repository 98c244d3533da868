//! Live streaming end to end: `addLiveStreamTask` composes the call and pushes it over RTMP to
//! a real nginx with the RTMP module (apt `nginx libnginx-mod-rtmp`, started here on a
//! loopback port), and ffmpeg (apt) pulls it back.
//!
//! Engines A (uid 1) and B (uid 2) are in a call, both sending the test pattern (640x480) and
//! their synthetic microphone tone (A 440 Hz; B 660 Hz through `setLocalVoicePitch(1.5)`). A
//! adds a task: a 640x360 canvas, A's picture on the left, B's (as A decodes it) on the right,
//! 44.1 kHz stereo AAC. Pulled back: H.264 640x360 and AAC 44.1 kHz stereo; each half shows
//! the colour bars, the strip above them is the background colour; the sound holds A's 440 Hz
//! and B's 660 Hz. An update puts B's picture on the left without its sound and keeps A's
//! sound without its picture: the right half turns to background, 660 Hz leaves the stream.
//! Removing the task ends the stream (the pull ends on its own) with onRemoveLiveStreamTask and
//! onLiveStreamState(511). Refusals: a non-RTMP URL and a rectangle past the canvas (30003,
//! the latter with onAddLiveStreamTask(1501)), a duplicate id (30003 + 1403), an unknown id
//! (30003 + 1404), outside a channel (30005); an unreachable server: 506. An audio-only task
//! (32 kHz mono) carries AAC only, with B's tone; leaveChannel stops it (511).
//!
//! Skips (with a message) when nginx or its RTMP module is missing. Run it inside
//! `scripts/netns.sh` (it opens sockets).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::wait;
use crossbeam_channel::Receiver;
use nertc_engine::device::test_pattern::looks_like_pattern;
use nertc_engine::device::tone::tone_power;
use nertc_engine::frame::VideoFrame;
use nertc_engine::live::{LiveConfig, LiveLayout, LiveTaskInfo, LiveUser};
use nertc_engine::{Engine, EngineEvent, EngineOptions, VideoConfig, error};

const RTMP_MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";
const W: u32 = 640;
const H: u32 = 360;
/// Background colour and its BT.601 luma.
const BACKGROUND: u32 = 0x204060;

fn nginx_binary() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"].iter().map(PathBuf::from).find(|p| p.exists())
}

/// nginx with the RTMP module, on 127.0.0.1:`port`, killed when dropped.
struct Nginx {
    child: Child,
    port: u16,
}

impl Nginx {
    fn start(dir: &Path) -> Option<Nginx> {
        let Some(bin) = nginx_binary() else {
            println!("SKIP: no nginx binary (apt-get install nginx libnginx-mod-rtmp)");
            return None;
        };
        if !Path::new(RTMP_MODULE).exists() {
            println!("SKIP: no nginx RTMP module at {RTMP_MODULE} (apt-get install libnginx-mod-rtmp)");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("its address").port();
        let conf = dir.join("nginx.conf");
        let d = dir.display();
        std::fs::write(
            &conf,
            format!(
                "load_module {RTMP_MODULE};\n\
                 daemon off; master_process off; worker_processes 1;\n\
                 pid {d}/nginx.pid; error_log {d}/error.log info;\n\
                 events {{ worker_connections 64; }}\n\
                 rtmp {{ server {{ listen 127.0.0.1:{port}; chunk_size 4096;\n\
                   application live {{ live on; record off; wait_key on; wait_video on; idle_streams off; }}\n\
                   application sound {{ live on; record off; idle_streams off; }} }} }}\n"
            ),
        )
        .expect("write nginx.conf");
        let child = Command::new(bin)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nginx");
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx does not listen on {port}: {}",
                std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Nginx { child, port })
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ffmpeg` copying the stream at `url` into `out` (FLV); `secs` None: until the stream ends.
fn pull(url: &str, out: &Path, secs: Option<u32>) -> Child {
    let mut cmd = Command::new("ffmpeg");
    // A live source: probe 0.5 s, not ffmpeg's default 5 s.
    cmd.args(["-y", "-loglevel", "error", "-rw_timeout", "8000000", "-analyzeduration", "500000", "-i", url]);
    if let Some(s) = secs {
        cmd.args(["-t", &s.to_string()]);
    }
    cmd.args(["-c", "copy", "-f", "flv"]).arg(out).stdin(Stdio::null()).spawn().expect("ffmpeg runs (apt ffmpeg)")
}

fn finish(mut child: Child, within: Duration, what: &str) {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("wait ffmpeg") {
            assert!(status.success(), "{what}: ffmpeg failed ({status})");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what}: ffmpeg still running after {within:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// ffprobe's `codec_name,width,height,sample_rate,channels,profile` per stream.
fn probe(file: &Path) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_name,width,height,sample_rate,channels,profile", "-of", "compact"])
        .arg(file)
        .output()
        .expect("ffprobe runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The last picture of `file` as I420.
fn last_picture(file: &Path) -> VideoFrame {
    let out = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-sseof", "-0.4", "-i"])
        .arg(file)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"])
        .output()
        .expect("ffmpeg decodes");
    let (cw, ch) = VideoFrame::chroma_size(W, H);
    let (ys, cs) = ((W * H) as usize, (cw * ch) as usize);
    assert_eq!(out.stdout.len(), ys + 2 * cs, "one {W}x{H} picture: {}", String::from_utf8_lossy(&out.stderr));
    let d = out.stdout;
    VideoFrame { width: W, height: H, y: d[..ys].to_vec(), u: d[ys..ys + cs].to_vec(), v: d[ys + cs..].to_vec(), timestamp_us: 0 }
}

/// The sound of `file`, 48 kHz mono.
fn sound(file: &Path) -> Vec<i16> {
    let out = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-i"])
        .arg(file)
        .args(["-vn", "-ac", "1", "-ar", "48000", "-f", "s16le", "-"])
        .output()
        .expect("ffmpeg decodes");
    out.stdout.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect()
}

fn mean_luma(f: &VideoFrame, x: u32, y: u32, w: u32, h: u32) -> f64 {
    let mut sum = 0u64;
    for r in y..y + h {
        for c in x..x + w {
            sum += u64::from(f.y[(r * f.width + c) as usize]);
        }
    }
    sum as f64 / f64::from(w * h)
}

fn user(uid: u64, x: i64) -> LiveUser {
    LiveUser { uid, video_push: true, adaption: 1, x, y: 60, width: 320, height: 240, audio_push: true }
}

fn task(id: &str, url: &str, users: Vec<LiveUser>) -> LiveTaskInfo {
    LiveTaskInfo {
        task_id: id.into(),
        stream_url: url.into(),
        layout: LiveLayout { width: W, height: H, background_color: BACKGROUND, users, bg_image: None },
        config: LiveConfig { sample_rate: 44_100, channels: 2, audio_bitrate: 96, ..Default::default() },
        ..Default::default()
    }
}

fn live_state(rx: &Receiver<EngineEvent>, id: &str, want: i32, within: Duration) {
    wait(
        rx,
        &format!("{id}: onLiveStreamState({want})"),
        within,
        |e| matches!(e, EngineEvent::LiveStreamState { task_id, state, .. } if task_id == id && *state == want),
    );
}

/// The test's directory (nginx's files, the pulled streams), removed when dropped, also when
/// the test fails.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_task_composes_the_call_and_pushes_it_over_rtmp() {
    let tmp = TempDir(std::env::temp_dir().join(format!("nertc-live-{}", std::process::id())));
    let dir = tmp.0.clone();
    std::fs::create_dir_all(&dir).expect("temp dir");
    // Declared after `tmp`: nginx stops before its directory goes.
    let Some(nginx) = Nginx::start(&dir) else { return };
    let started = Instant::now();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(nertc_server::start(nertc_server::ServerConfig::embedded())).expect("server");
    let opts = || EngineOptions { app_key: "live".into(), server_url: server.url() };
    let (a, a_rx) = Engine::new(opts()).expect("engine A");
    let (b, b_rx) = Engine::new(opts()).expect("engine B");
    let url = format!("rtmp://127.0.0.1:{}/live/call", nginx.port);
    assert_eq!(a.add_live_stream_task(task("early", &url, vec![user(1, 0)])), error::ERR_INVALID_STATE, "not in a channel");

    let cfg = VideoConfig { max_profile: -1, width: 640, height: 480, framerate: 15, ..Default::default() };
    for e in [&a, &b] {
        assert_eq!(e.set_video_config(&cfg), error::OK);
        assert_eq!(e.enable_local_video(true), error::OK);
    }
    assert_eq!(b.set_local_voice_pitch(1.5), error::OK);
    assert_eq!(a.join_channel(None, "live", 1), error::OK);
    wait(&a_rx, "A joined", Duration::from_secs(10), |e| matches!(e, EngineEvent::JoinChannel { result: 0, .. }));
    assert_eq!(b.join_channel(None, "live", 2), error::OK);
    wait(&a_rx, "B's video", Duration::from_secs(10), |e| matches!(e, EngineEvent::UserVideoStart { uid: 2, .. }));
    assert_eq!(a.subscribe_remote_video_stream(2, 0, true), error::OK);
    wait(&a_rx, "A decodes B", Duration::from_secs(15), |e| matches!(e, EngineEvent::FirstVideoFrameDecoded { uid: 2, .. }));

    // Refusals.
    assert_eq!(a.add_live_stream_task(task("bad", "http://127.0.0.1/live/x", vec![])), error::ERR_INVALID_PARAM);
    assert_eq!(a.add_live_stream_task(task("bad", &url, vec![user(1, 400)])), error::ERR_INVALID_PARAM, "past the right edge");
    wait(
        &a_rx,
        "layout refused",
        Duration::from_secs(2),
        |e| matches!(e, EngineEvent::AddLiveStreamTask { task_id, error: 1501, .. } if task_id == "bad"),
    );

    // The call, side by side.
    assert_eq!(a.add_live_stream_task(task("call", &url, vec![user(1, 0), user(2, 320)])), error::OK);
    wait(
        &a_rx,
        "added",
        Duration::from_secs(2),
        |e| matches!(e, EngineEvent::AddLiveStreamTask { task_id, error: 0, .. } if task_id == "call"),
    );
    live_state(&a_rx, "call", 505, Duration::from_secs(5));
    assert_eq!(a.add_live_stream_task(task("call", &url, vec![user(1, 0)])), error::ERR_INVALID_PARAM, "duplicate id");
    wait(
        &a_rx,
        "duplicate",
        Duration::from_secs(2),
        |e| matches!(e, EngineEvent::AddLiveStreamTask { task_id, error: 1403, .. } if task_id == "call"),
    );

    let first = dir.join("first.flv");
    let pulled_at = Instant::now();
    finish(pull(&url, &first, Some(2)), Duration::from_secs(30), "first pull");
    println!("pulled 2 s in {:?}", pulled_at.elapsed());
    let streams = probe(&first);
    println!("ffprobe: {}", streams.replace('\n', " | "));
    assert!(streams.contains("codec_name=h264") && streams.contains(&format!("width={W}|height={H}")), "H.264 {W}x{H}: {streams}");
    assert!(streams.contains("codec_name=aac|profile=LC|sample_rate=44100|channels=2"), "AAC-LC 44.1 kHz stereo: {streams}");
    let pic = last_picture(&first);
    let bg_luma = mean_luma(&pic, 0, 0, W, 56);
    let (a_half, b_half) = (pic.cropped(0, 60, 320, 240), pic.cropped(320, 60, 320, 240));
    println!(
        "picture: background strip Y {bg_luma:.1} (expected {}), A's half bars {}, B's half bars {}",
        nertc_engine::live::compose::rgb_to_yuv(BACKGROUND).0,
        looks_like_pattern(&a_half),
        looks_like_pattern(&b_half)
    );
    assert!((bg_luma - f64::from(nertc_engine::live::compose::rgb_to_yuv(BACKGROUND).0)).abs() < 4.0, "background: {bg_luma}");
    assert!(looks_like_pattern(&a_half), "A's picture on the left");
    assert!(looks_like_pattern(&b_half), "B's picture on the right");
    let pcm = sound(&first);
    let secs = pcm.len() as f32 / 48_000.0;
    let tail = &pcm[pcm.len() / 3..];
    let (p440, p660, p1000) = (tone_power(tail, 48_000, 1, 440.0), tone_power(tail, 48_000, 1, 660.0), tone_power(tail, 48_000, 1, 1000.0));
    println!("sound: {secs:.2} s; 440 Hz (A) {p440:.1} dBFS, 660 Hz (B) {p660:.1} dBFS, 1 kHz (none) {p1000:.1} dBFS");
    assert!(secs > 1.5, "2 s of sound: {secs}");
    assert!(p660 > p1000 + 20.0, "B's 660 Hz is in the stream");
    assert!(p440 > p1000 + 20.0, "A's own 440 Hz is in the stream");

    // B's picture on the left without its sound, A's sound without its picture: the right half
    // becomes background, 660 Hz leaves the stream.
    assert_eq!(a.update_live_stream_task(task("nope", &url, vec![])), error::ERR_INVALID_PARAM);
    wait(&a_rx, "unknown id", Duration::from_secs(2), |e| matches!(e, EngineEvent::UpdateLiveStreamTask { error: 1404, .. }));
    let moved = vec![LiveUser { audio_push: false, ..user(2, 0) }, LiveUser { video_push: false, ..user(1, 320) }];
    assert_eq!(a.update_live_stream_task(task("call", &url, moved)), error::OK);
    wait(
        &a_rx,
        "updated",
        Duration::from_secs(2),
        |e| matches!(e, EngineEvent::UpdateLiveStreamTask { task_id, error: 0, .. } if task_id == "call"),
    );
    let second = dir.join("second.flv");
    let ffmpeg = pull(&url, &second, None);
    // ~1.5 s of the stream (~55 kB/s) in the file, however long ffmpeg takes to start.
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::metadata(&second).map_or(0, |m| m.len()) < 80_000 {
        assert!(Instant::now() < deadline, "the second pull receives nothing");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Removing it ends the stream: the pull ends by itself.
    assert_eq!(a.remove_live_stream_task("call"), error::OK);
    wait(
        &a_rx,
        "removed",
        Duration::from_secs(2),
        |e| matches!(e, EngineEvent::RemoveLiveStreamTask { task_id, error: 0 } if task_id == "call"),
    );
    live_state(&a_rx, "call", 511, Duration::from_secs(3));
    let removed_at = Instant::now();
    finish(ffmpeg, Duration::from_secs(6), "the pull after the removal");
    println!("the pull ended {:?} after the removal", removed_at.elapsed());
    let pic = last_picture(&second);
    let (left, right) = (pic.cropped(0, 60, 320, 240), pic.cropped(320, 60, 320, 240));
    let right_luma = mean_luma(&pic, 320, 60, 320, 240);
    println!("after the update: left bars {}, right half Y {right_luma:.1}", looks_like_pattern(&left));
    assert!(looks_like_pattern(&left), "B moved to the left");
    assert!(!looks_like_pattern(&right) && (right_luma - bg_luma).abs() < 4.0, "the right half is background");
    let pcm = sound(&second);
    let tail = &pcm[pcm.len() / 2..];
    let (p440, p660, p1000) = (tone_power(tail, 48_000, 1, 440.0), tone_power(tail, 48_000, 1, 660.0), tone_power(tail, 48_000, 1, 1000.0));
    println!("sound after the update: 440 Hz (A) {p440:.1} dBFS, 660 Hz (B) {p660:.1} dBFS, 1 kHz (none) {p1000:.1} dBFS");
    assert!(p440 > p1000 + 20.0, "A's sound stays");
    assert!(p660 < p440 - 30.0, "B's sound left with its audio_push");
    assert_eq!(a.remove_live_stream_task("call"), error::ERR_INVALID_PARAM, "already removed");
    wait(&a_rx, "unknown id", Duration::from_secs(2), |e| matches!(e, EngineEvent::RemoveLiveStreamTask { error: 1404, .. }));

    // Nothing listens on port 1: 506.
    assert_eq!(a.add_live_stream_task(task("nowhere", "rtmp://127.0.0.1:1/live/x", vec![user(1, 0)])), error::OK);
    live_state(&a_rx, "nowhere", 506, Duration::from_secs(7));
    assert_eq!(a.remove_live_stream_task("nowhere"), error::ERR_INVALID_PARAM, "a failed task is gone");

    // Audio only (ls_mode 1, mono 32 kHz, no canvas); leaveChannel stops it.
    let sound_url = format!("rtmp://127.0.0.1:{}/sound/call", nginx.port);
    let mut audio_only = task("again", &sound_url, vec![user(2, 0)]);
    audio_only.ls_mode = 1;
    audio_only.layout.width = 0;
    audio_only.config = LiveConfig { sample_rate: 32_000, channels: 1, audio_bitrate: 48, ..Default::default() };
    assert_eq!(a.add_live_stream_task(audio_only), error::OK);
    live_state(&a_rx, "again", 505, Duration::from_secs(5));
    let third = dir.join("third.flv");
    finish(pull(&sound_url, &third, Some(1)), Duration::from_secs(30), "audio-only pull");
    let streams = probe(&third);
    println!("audio only: {}", streams.replace('\n', " | "));
    assert!(!streams.contains("h264"), "no video: {streams}");
    assert!(streams.contains("codec_name=aac|profile=LC|sample_rate=32000|channels=1"), "AAC-LC 32 kHz mono: {streams}");
    let pcm = sound(&third);
    let (p660, p1000) = (tone_power(&pcm, 48_000, 1, 660.0), tone_power(&pcm, 48_000, 1, 1000.0));
    println!("audio only: {:.2} s, 660 Hz (B) {p660:.1} dBFS, 1 kHz {p1000:.1} dBFS", pcm.len() as f32 / 48_000.0);
    assert!(p660 > p1000 + 20.0, "B's sound");
    assert_eq!(a.leave_channel(), error::OK);
    live_state(&a_rx, "again", 511, Duration::from_secs(3));
    println!("live stream test: {:?}", started.elapsed());
    drop(b_rx);
    a.release();
    b.release();
    drop(nginx);
}
