//! Real audio devices on a real sound server: a private, user-mode PulseAudio with two null
//! sinks, `mic` (fed a 440 Hz tone: the "microphone") and `spk` (the "speaker"), reached the
//! way a desktop app reaches it — through cpal's ALSA backend and ALSA's `pulse` device
//! (libasound2-plugins).
//!
//! **How devices are selected.** Like a user would: the engine lists the ALSA `pulse` device
//! ("PulseAudio Sound Server", id `alsa:pulse`) in `enumerateRecordDevices` and
//! `enumeratePlayoutDevices`; the test picks it by that id with `setRecordDevice` /
//! `setPlayoutDevice`. Which PulseAudio source and sink the `pulse` device uses is PulseAudio's
//! choice, i.e. the server's default source and sink (what a user picks in the sound
//! settings): the test sets them with `pactl set-default-source mic.monitor` and
//! `set-default-sink spk`. The only environment variable is `PULSE_SERVER`, pointing this
//! process at the private server's socket.
//!
//! What is checked:
//! 1. the devices directly: `open_playout` on `alsa:pulse` plays a 1 kHz tone that `parec`
//!    reads back from `spk.monitor` (6 dB lower at device volume 128 of 255, silent when
//!    muted); `open_record` on `alsa:pulse` delivers 10 ms frames of the 440 Hz tone that
//!    `pacat` plays into `mic` (zeros when muted);
//! 2. a call: engine A records `mic.monitor` and publishes; engine B subscribes and plays out
//!    to `spk`; `spk.monitor` carries 440 Hz (±5 Hz) at about the level that was fed in;
//! 3. that it can fail: with B's playback volume at 0 `spk` falls silent (so the tone came
//!    through B's playout), back at 100 it returns, and once the feed into `mic` stops `spk`
//!    falls silent again (so it came from A's real microphone, not the synthetic 440 Hz one).
//!
//! 4. the device API without a channel: `startRecordDeviceTest` reports the tone's level, which
//!    follows `setRecordDeviceVolume` (0, 128: -6 dB) and `setRecordDeviceMute`, and stops with
//!    `stopRecordDeviceTest`; `startAudioDeviceLoopbackTest` plays `mic` on `spk` (440 Hz found
//!    there), silenced by `setPlayoutDeviceMute`, gone after the stop; `startPlayoutDeviceTest`
//!    plays a 44.1 kHz stereo WAV file's 1 kHz tone on `spk` until stopped (a missing file is
//!    30003, an unreadable one `onError(30003)`).
//!
//! 5. echo cancellation on a real echo path: B's microphone records B's own speaker (what A
//!    sends, played by B); B's captured level without processing, with AEC alone (>= 10 dB
//!    lower) and with the default AEC+NS+AGC (>= 20 dB lower);
//! 6. devices that stop: the `spk` sink is suspended under B's speaker and microphone (which
//!    records `spk.monitor`), their streams stall, and B reports `onAudioDeviceStateChanged`
//!    for both.
//!
//! 7. hot-plug and default devices, with PulseAudio's own devices (cpal's PulseAudio host: ids
//!    `pulseaudio:<sink or source>`; a third null sink `out` is the default sink here): a fresh
//!    engine uses the server's default sink and source;
//!    a sink loaded with `pactl load-module module-null-sink` is reported
//!    (`onAudioDeviceStateChanged(id, 2, 0)`, its monitor with type 1) and `set-default-sink`
//!    to it is reported (`onAudioDefaultDeviceChanged`) and followed (the playout test's tone
//!    moves to it); once the application pins a device the engine stays on it, until that sink is unloaded
//!    (reported, and the engine falls back to the default); `set-default-source` moves the
//!    record device test to the new default (its level follows). Each change within 2 s.
//! 8. the sound server killed (`kill -9`) during a call: the engine reports its devices gone
//!    (`onAudioDeviceStateChanged(.., 1)`, `onError(30008)`), stays in the call, falls back to
//!    the synthetic devices, and `leaveChannel()` and `release()` each return within 2 s.
//!
//! Skips (and passes) only when `pulseaudio` is not installed; `scripts/setup.sh` installs it.

mod common;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::wait;
use crossbeam_channel::Receiver;
use nertc_engine::device::tone::{Tone, rms_dbfs, tone_power};
use nertc_engine::device::{self, DeviceInfo};
use nertc_engine::frame::AudioFrame;
use nertc_engine::{Engine, EngineEvent, EngineOptions, error};

/// The ALSA device that goes to PulseAudio, as cpal names it.
const PULSE_DEVICE: &str = "alsa:pulse";
/// What is fed into `mic`: 440 Hz at 0.3 of full scale, -13.5 dBFS.
const FEED_HZ: f32 = 440.0;
const FEED_AMPLITUDE: f32 = 0.3;
const FEED_DBFS: f32 = -13.5;
/// Everything the test captures is 48 kHz mono.
const RATE: u32 = 48_000;
/// A window reads as silent below this (the null sinks add no noise; Opus comfort noise and
/// concealment fade out well below it).
const SILENT_DBFS: f32 = -60.0;

fn installed(cmd: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(cmd).is_file()))
}

/// A private PulseAudio server (own runtime dir, anonymous unix socket, null sinks `mic` and
/// `spk`); killed and its directory removed on drop.
struct Pulse {
    dir: PathBuf,
    socket: PathBuf,
    daemon: Child,
}

impl Pulse {
    fn start() -> Pulse {
        let dir = std::env::temp_dir().join(format!("nertc-pulse-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("pulse dir");
        let socket = dir.join("native");
        let daemon = Command::new("pulseaudio")
            .args(["--daemonize=no", "--exit-idle-time=-1", "-n", "--use-pid-file=no", "--disallow-exit", "--log-target=stderr"])
            .arg(format!("--load=module-native-protocol-unix auth-anonymous=1 socket={}", socket.display()))
            .arg("--load=module-null-sink sink_name=mic")
            .arg("--load=module-null-sink sink_name=spk")
            .env("XDG_RUNTIME_DIR", &dir)
            .env("XDG_CONFIG_HOME", &dir)
            .env("HOME", &dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(dir.join("pulseaudio.log")).expect("log file")))
            .spawn()
            .expect("start pulseaudio");
        let mut p = Pulse { dir, socket, daemon };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !p.pactl(&["info"]) {
            if let Ok(Some(status)) = p.daemon.try_wait() {
                panic!("pulseaudio exited ({status}): {}", p.log());
            }
            assert!(Instant::now() < deadline, "pulseaudio did not come up in 10 s: {}", p.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(p.pactl(&["set-default-source", "mic.monitor"]), "set-default-source");
        assert!(p.pactl(&["set-default-sink", "spk"]), "set-default-sink");
        p
    }

    fn server(&self) -> String {
        format!("unix:{}", self.socket.display())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pulseaudio.log")).unwrap_or_default()
    }

    fn command(&self, cmd: &str) -> Command {
        assert!(installed(cmd), "{cmd} not found: install pulseaudio-utils (scripts/setup.sh does)");
        let mut c = Command::new(cmd);
        c.env("PULSE_SERVER", self.server());
        c
    }

    /// How many streams `pactl list short KIND` lists (`source-outputs`: recordings,
    /// `sink-inputs`: playbacks).
    fn streams(&self, kind: &str) -> usize {
        let out = self.command("pactl").args(["list", "short", kind]).output().expect("pactl list");
        String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.trim().is_empty()).count()
    }

    fn pactl(&self, args: &[&str]) -> bool {
        self.command("pactl").args(args).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
    }

    /// Plays a continuous tone into sink `mic` (pacat fed from a thread) until dropped.
    fn feed(&self, freq: f32, amplitude: f32) -> Feed {
        let mut child = self
            .command("pacat")
            .args(["--playback", "--raw", "--format=s16le", "--rate=48000", "--channels=1", "--device=mic", "--latency-msec=50"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pacat");
        let mut stdin = child.stdin.take().expect("pacat stdin");
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let writer = std::thread::spawn(move || {
            let mut tone = Tone::new(freq, RATE, 1, amplitude);
            // The pipe blocks once pacat's buffer is full: writing paces itself.
            while !s.load(Relaxed) {
                let bytes: Vec<u8> = tone.next_frame(480).iter().flat_map(|s| s.to_le_bytes()).collect();
                if stdin.write_all(&bytes).is_err() {
                    break;
                }
            }
        });
        Feed { child, stop, writer: Some(writer) }
    }

    /// Records `source` (48 kHz mono s16) in the background until dropped.
    fn record(&self, source: &str) -> Recording {
        let mut child = self
            .command("parec")
            .args(["--raw", "--format=s16le", "--rate=48000", "--channels=1", "--latency-msec=50"])
            .arg(format!("--device={source}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start parec");
        let mut stdout = child.stdout.take().expect("parec stdout");
        let pcm = Arc::new(Mutex::new(Vec::<i16>::new()));
        let p = pcm.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4800];
            let mut odd: Option<u8> = None;
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut bytes: Vec<u8> = odd.take().into_iter().collect();
                bytes.extend_from_slice(&buf[..n]);
                if bytes.len() % 2 == 1 {
                    odd = bytes.pop();
                }
                let samples = bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]]));
                p.lock().expect("recording lock").extend(samples);
            }
        });
        Recording { child, pcm, reader: Some(reader) }
    }
}

impl Pulse {
    /// Suspends sink `name` (and so its monitor): its streams stop moving, as a device that
    /// stops delivering (pulled out mid-stream) does.
    fn suspend_sink(&self, name: &str) -> bool {
        self.pactl(&["suspend-sink", name, "1"])
    }

    /// Plugs in a device: loads a null sink `name` (and so its monitor source); returns the
    /// module index that unloads it.
    fn load_sink(&self, name: &str) -> String {
        let out = self
            .command("pactl")
            .args(["load-module", "module-null-sink", &format!("sink_name={name}")])
            .output()
            .expect("pactl load-module");
        assert!(out.status.success(), "load-module: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// `kill -9` on the server.
    fn kill(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// Waits up to 2 s until every event in `want` was seen (any order, others skipped); returns
/// how long that took.
fn within_2s(rx: &Receiver<EngineEvent>, what: &str, want: &[EngineEvent]) -> Duration {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(2);
    let mut missing: Vec<&EngineEvent> = want.iter().collect();
    let mut seen = Vec::new();
    while !missing.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "{what}: not within 2 s; missing {missing:?}; seen {seen:?}");
        if let Ok(e) = rx.recv_timeout(left) {
            missing.retain(|m| **m != e);
            if matches!(e, EngineEvent::AudioDeviceStateChanged { .. } | EngineEvent::AudioDefaultDeviceChanged { .. }) {
                seen.push(e);
            }
        }
    }
    started.elapsed()
}

/// Polls `f` until it holds (up to 2 s).
fn soon(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not within 2 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn state_changed(id: &str, device_type: i32, device_state: i32) -> EngineEvent {
    EngineEvent::AudioDeviceStateChanged { device_id: id.to_owned(), device_type, device_state }
}

fn default_changed(id: &str, device_type: i32) -> EngineEvent {
    EngineEvent::AudioDefaultDeviceChanged { device_id: id.to_owned(), device_type }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Feed {
    child: Child,
    stop: Arc<AtomicBool>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        // Killing pacat removes its stream from `mic` at once and unblocks the writer.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

struct Recording {
    child: Child,
    pcm: Arc<Mutex<Vec<i16>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Recording {
    /// Samples recorded so far.
    fn len(&self) -> usize {
        self.pcm.lock().expect("recording lock").len()
    }

    /// The next whole second recorded after sample `from` (waits for it, up to 10 s).
    fn second_after(&self, from: usize) -> Vec<i16> {
        let n = RATE as usize;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            {
                let pcm = self.pcm.lock().expect("recording lock");
                if pcm.len() >= from + n {
                    return pcm[from..from + n].to_vec();
                }
            }
            assert!(Instant::now() < deadline, "parec delivered no audio for 10 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Polls whole seconds (from now on) until one satisfies `pred`; returns it, or panics with
    /// what was measured after `within`.
    fn until(&self, what: &str, expect: f32, within: Duration, pred: impl Fn(&Measure) -> bool) -> Measure {
        let deadline = Instant::now() + within;
        let mut from = self.len();
        let mut seen = Vec::new();
        loop {
            let m = Measure::of(&self.second_after(from), expect);
            if pred(&m) {
                return m;
            }
            seen.push(m);
            assert!(Instant::now() < deadline, "{what}: not within {within:?}; measured {seen:?}");
            from += RATE as usize / 2;
        }
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

/// One second of 48 kHz mono: overall level, and the strongest frequency within 50 Hz of the
/// expected tone (to 0.25 Hz) with its level. A tone that is off by a rate mix-up (440 Hz
/// played at 44.1 kHz as 48 kHz reads 479 Hz) is found where it is, and fails `is_tone`.
#[derive(Debug, Clone, Copy)]
struct Measure {
    rms_dbfs: f32,
    peak_hz: f32,
    peak_dbfs: f32,
}

impl Measure {
    fn of(pcm: &[i16], expect: f32) -> Measure {
        let best = |freqs: &mut dyn Iterator<Item = f32>| {
            freqs.map(|f| (f, tone_power(pcm, RATE, 1, f))).max_by(|a, b| a.1.total_cmp(&b.1)).unwrap_or((0.0, f32::MIN))
        };
        let (coarse, _) = best(&mut (-20..=20).map(|k| expect + k as f32 * 2.5));
        let (peak_hz, peak_dbfs) = best(&mut (-10..=10).map(|k| coarse + k as f32 * 0.25));
        Measure { rms_dbfs: rms_dbfs(pcm), peak_hz, peak_dbfs }
    }

    /// A clean tone at `freq` (±5 Hz) carrying nearly all the energy, at a sane level.
    fn is_tone(&self, freq: f32) -> bool {
        (self.peak_hz - freq).abs() <= 5.0 && self.peak_dbfs > -40.0 && self.peak_dbfs > self.rms_dbfs - 1.5
    }

    fn is_silent(&self) -> bool {
        self.rms_dbfs < SILENT_DBFS
    }
}

fn find_pulse(list: &[DeviceInfo], what: &str) {
    let d = list
        .iter()
        .find(|d| d.device_id == PULSE_DEVICE)
        .unwrap_or_else(|| panic!("no {PULSE_DEVICE} among {what} (is libasound2-plugins installed?): {list:?}"));
    assert!(!d.suspected_unavailable, "{what}: {d:?} does not open on the private server");
}

/// Fails on any onError an engine reported so far (a device that failed to open).
fn no_errors(rx: &Receiver<EngineEvent>, who: &str) {
    for e in rx.try_iter() {
        if let EngineEvent::Error { code, msg } = &e {
            panic!("engine {who} reported error {code}: {msg}");
        }
    }
}

#[test]
fn pulse_devices_carry_a_call() {
    if !installed("pulseaudio") {
        eprintln!("pulse_audio: skipped (pulseaudio is not installed; scripts/setup.sh installs it)");
        return;
    }
    if let Ok(filter) = std::env::var("RUST_LOG") {
        // `RUST_LOG=nertc_engine::device=debug` shows the negotiated device formats and periods.
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    }
    let started = Instant::now();
    let pulse = Pulse::start();
    // SAFETY: set before this test starts any thread that could read the environment (this
    // binary has a single test; the server and engines come later).
    unsafe { std::env::set_var("PULSE_SERVER", pulse.server()) };

    // --- The devices themselves.
    let listing = Instant::now();
    let (recs, plays) = (device::enumerate_record_devices(), device::enumerate_playout_devices());
    println!(
        "pulse_audio: {} record and {} playout devices listed in {:?}: {:?}",
        recs.len(),
        plays.len(),
        listing.elapsed(),
        recs.iter().map(|d| &d.device_id).collect::<Vec<_>>()
    );
    find_pulse(&recs, "record devices");
    find_pulse(&plays, "playout devices");

    let spk = pulse.record("spk.monitor");
    let mut out_tone = Tone::new(1000.0, RATE, 2, 0.25);
    let out = device::open_playout(
        PULSE_DEVICE,
        RATE,
        2,
        Box::new(move |buf: &mut [i16]| buf.copy_from_slice(&out_tone.next_frame(buf.len() / 2))),
    )
    .expect("open playout on pulse");
    let m = spk.until("1 kHz played through open_playout", 1000.0, Duration::from_secs(8), |m| m.is_tone(1000.0));
    println!("pulse_audio: open_playout({PULSE_DEVICE}) -> spk.monitor: {m:?}");
    // The speaker's volume (128 of 255: -6 dB) and mute reach the sound server.
    let expected = m.rms_dbfs + 20.0 * (128.0f32 / 255.0).log10();
    out.gain().set_volume(128);
    let half =
        spk.until("1 kHz at volume 128", 1000.0, Duration::from_secs(5), |m| m.is_tone(1000.0) && (m.rms_dbfs - expected).abs() < 0.25);
    out.gain().set_muted(true);
    let muted = spk.until("speaker muted", 1000.0, Duration::from_secs(5), Measure::is_silent);
    println!("pulse_audio: speaker at volume 128: {half:?}; muted: {muted:?}");
    drop(out);

    let feed = pulse.feed(FEED_HZ, FEED_AMPLITUDE);
    let frames = Arc::new(Mutex::new(Vec::<AudioFrame>::new()));
    let f = frames.clone();
    let mic = device::open_record(PULSE_DEVICE, RATE, 1, Box::new(move |fr| f.lock().expect("frames lock").push(fr)))
        .expect("open record on pulse");
    let deadline = Instant::now() + Duration::from_secs(8);
    let heard = loop {
        let pcm: Vec<i16> = {
            let fr = frames.lock().expect("frames lock");
            fr.iter().rev().take(100).rev().flat_map(|f| f.samples.iter().copied()).collect()
        };
        let m = Measure::of(&pcm, FEED_HZ);
        if pcm.len() == RATE as usize && m.is_tone(FEED_HZ) {
            break m;
        }
        assert!(Instant::now() < deadline, "open_record({PULSE_DEVICE}) never heard the tone fed into mic: {m:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    // A muted microphone delivers silence (the frames keep coming).
    mic.gain().set_muted(true);
    let deadline = Instant::now() + Duration::from_secs(5);
    let n_muted = loop {
        let fr = frames.lock().expect("frames lock");
        if fr.len() >= 100 && fr[fr.len() - 100..].iter().all(|f| f.samples.iter().all(|&s| s == 0)) {
            break fr.len();
        }
        drop(fr);
        assert!(Instant::now() < deadline, "a muted microphone still delivers sound");
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(mic);
    let fr = frames.lock().expect("frames lock");
    assert!(fr.iter().all(|f| f.samples.len() == 480 && f.sample_rate == RATE && f.channels == 1), "10 ms frames at 48 kHz mono");
    assert!(fr.windows(2).all(|w| w[1].timestamp_us >= w[0].timestamp_us), "timestamps grow");
    println!("pulse_audio: mic.monitor -> open_record({PULSE_DEVICE}): {heard:?}; silent when muted, {n_muted} frames in all");
    assert!((heard.rms_dbfs - FEED_DBFS).abs() < 3.0, "recorded at the level fed in: {heard:?}");
    drop(fr);

    // --- A call: A records mic.monitor, B plays out to spk.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(nertc_server::start(nertc_server::ServerConfig::embedded())).expect("server");
    let opts = || EngineOptions { app_key: "pulse-audio".into(), server_url: server.url() };
    let (a, a_rx) = Engine::new(opts()).expect("engine A");
    let (b, b_rx) = Engine::new(opts()).expect("engine B");
    find_pulse(&a.enumerate_record_devices(), "A's record devices");
    find_pulse(&b.enumerate_playout_devices(), "B's playout devices");
    assert_eq!(a.set_record_device(PULSE_DEVICE), error::OK);
    // The tone must arrive as fed: A's microphone processing (on by default; a steady tone is
    // what noise suppression removes and gain control re-levels) is switched off, NERTC's way.
    // tests/apm_echo.rs checks the processing itself.
    let off = r#"{"audio_processing_aec_enable":false,"audio_processing_ns_enable":false,"audio_processing_agc_enable":false}"#;
    assert_eq!(a.set_parameters(off), error::OK);
    let processing = a.audio_processing();
    assert!(!processing.aec && !processing.ns && !processing.agc, "{processing:?}");
    // A hears nothing and B sends nothing, so the only way to `spk` is A's mic -> B's speaker.
    assert_eq!(a.set_playout_device(device::SYNTHETIC_PLAYOUT_DEVICE_ID), error::OK);
    assert_eq!(b.set_playout_device(PULSE_DEVICE), error::OK);
    assert_eq!(b.enable_local_audio(false), error::OK);
    assert_eq!(a.join_channel(None, "pulse-audio", 1), error::OK);
    wait(&a_rx, "A joined", Duration::from_secs(10), |e| matches!(e, EngineEvent::JoinChannel { result: 0, .. }));
    assert_eq!(b.join_channel(None, "pulse-audio", 2), error::OK);
    wait(&b_rx, "B decodes A's audio", Duration::from_secs(15), |e| matches!(e, EngineEvent::FirstAudioFrameDecoded { uid: 1 }));
    assert_eq!(a.get_record_device(), PULSE_DEVICE);
    assert_eq!(b.get_playout_device(), PULSE_DEVICE);

    let call = spk.until("440 Hz from A's mic through B's speaker", FEED_HZ, Duration::from_secs(10), |m| m.is_tone(FEED_HZ));
    println!("pulse_audio: mic -> A -> server -> B -> spk.monitor: {call:?}");
    assert!((call.rms_dbfs - FEED_DBFS).abs() < 6.0, "played at about the level fed in: {call:?}");
    no_errors(&a_rx, "A");
    no_errors(&b_rx, "B");

    // --- NERtcChannel: a second channel of A and of B (`createChannel`) shares their devices.
    // A2 sends the same microphone in room 2, B2 plays room 2 on B's speaker: the sound server
    // still sees one recording and one playback stream.
    let (one_rec, one_play) = (pulse.streams("source-outputs"), pulse.streams("sink-inputs"));
    let (a2, a2_rx) = a.new_channel(opts()).expect("A's channel engine");
    let (b2, b2_rx) = b.new_channel(opts()).expect("B's channel engine");
    assert_eq!(a2.set_record_device(PULSE_DEVICE), error::OK);
    assert_eq!(a2.set_parameters(off), error::OK);
    assert_eq!(a2.set_playout_device(device::SYNTHETIC_PLAYOUT_DEVICE_ID), error::OK);
    assert_eq!(b2.set_playout_device(PULSE_DEVICE), error::OK);
    assert_eq!(b2.enable_local_audio(false), error::OK);
    assert_eq!(b2.enable_audio_volume_indication(true, 200), error::OK);
    assert_eq!(a2.join_channel(None, "pulse-audio-2", 3), error::OK);
    wait(&a2_rx, "A2 joined", Duration::from_secs(10), |e| matches!(e, EngineEvent::JoinChannel { result: 0, .. }));
    assert_eq!(b2.join_channel(None, "pulse-audio-2", 4), error::OK);
    wait(
        &b2_rx,
        "B2 hears A2's microphone",
        Duration::from_secs(15),
        |e| matches!(e, EngineEvent::RemoteAudioVolumeIndication { speakers, .. } if speakers.iter().any(|(u, v)| *u == 3 && *v > 20)),
    );
    let shared = (pulse.streams("source-outputs"), pulse.streams("sink-inputs"));
    println!(
        "pulse_audio: recording/playback streams with one channel each: {:?}; with A2 and B2 as well: {shared:?}",
        (one_rec, one_play)
    );
    // (The test's own recorder of spk.monitor and its player into mic are streams too.)
    assert!(one_rec >= 2 && one_play >= 2, "A records and B plays: {:?}", (one_rec, one_play));
    assert_eq!(shared, (one_rec, one_play), "the channels share A's microphone and B's speaker");
    spk.until("440 Hz on spk from both rooms", FEED_HZ, Duration::from_secs(5), |m| m.is_tone(FEED_HZ));
    no_errors(&a2_rx, "A2");
    no_errors(&b2_rx, "B2");
    a2.release();
    b2.release();
    assert_eq!((pulse.streams("source-outputs"), pulse.streams("sink-inputs")), (one_rec, one_play), "A and B keep their devices");
    let after = spk.until("440 Hz from room 1 alone", FEED_HZ, Duration::from_secs(5), |m| m.is_tone(FEED_HZ));
    println!("pulse_audio: after A2 and B2 left: {after:?}");

    // --- It can fail: B's playback at 0 is silence at spk, at 100 the tone is back.
    assert_eq!(b.adjust_playback_signal_volume(0), error::OK);
    let muted = spk.until("silence with B's playback volume at 0", FEED_HZ, Duration::from_secs(5), Measure::is_silent);
    assert_eq!(b.adjust_playback_signal_volume(100), error::OK);
    let back = spk.until("the tone back at volume 100", FEED_HZ, Duration::from_secs(5), |m| m.is_tone(FEED_HZ));
    // ... and when nothing plays into `mic` any more, A records silence and so does spk.
    drop(feed);
    let fed_nothing = spk.until("silence once mic is fed nothing", FEED_HZ, Duration::from_secs(8), Measure::is_silent);
    println!("pulse_audio: B at volume 0: {muted:?}; back: {back:?}; mic fed nothing: {fed_nothing:?}");
    no_errors(&a_rx, "A");
    no_errors(&b_rx, "B");

    a.release();
    b.release();

    // --- Device tests, volume and mute through the engine API (no channel).
    let feed = pulse.feed(FEED_HZ, FEED_AMPLITUDE);
    let (c, c_rx) = Engine::new(opts()).expect("engine C");
    assert_eq!(c.set_record_device(PULSE_DEVICE), error::OK);
    assert_eq!(c.set_playout_device(PULSE_DEVICE), error::OK);
    assert_eq!(c.start_record_device_test(50), error::ERR_INVALID_PARAM, "interval below 100 ms");
    assert_eq!(c.set_record_device_volume(256), error::ERR_INVALID_PARAM);
    assert_eq!(c.set_playout_device_volume(-1), error::ERR_INVALID_PARAM);
    assert_eq!(c.start_record_device_test(200), error::OK);
    // The tone at -13.5 dBFS reads about 108 on NERTC's 0-255 scale (RMS x 2 x 255).
    let level = |what: &str, pred: &dyn Fn(u32) -> bool| local_level(&c_rx, what, pred);
    let heard = level("record test hears the tone", &|v| (95..=120).contains(&v));
    assert_eq!(c.set_record_device_volume(0), error::OK);
    assert_eq!(c.record_device_volume(), 0);
    let zero = level("record volume 0", &|v| v == 0);
    assert_eq!(c.set_record_device_volume(128), error::OK);
    let half = level("record volume 128 (-6 dB)", &|v| (48..=60).contains(&v));
    assert_eq!(c.set_record_device_mute(true), error::OK);
    assert!(c.record_device_mute());
    let muted = level("record muted", &|v| v == 0);
    assert_eq!(c.set_record_device_mute(false), error::OK);
    assert_eq!(c.set_record_device_volume(255), error::OK);
    level("the tone back", &|v| (95..=120).contains(&v));
    assert_eq!(c.stop_record_device_test(), error::OK);
    std::thread::sleep(Duration::from_millis(300));
    let _ = c_rx.try_iter().count();
    std::thread::sleep(Duration::from_millis(600));
    let after_stop = c_rx.try_iter().filter(|e| matches!(e, EngineEvent::LocalAudioVolumeIndication { .. })).count();
    assert_eq!(after_stop, 0, "levels still reported after stopRecordDeviceTest");
    println!("pulse_audio: record device test levels: tone {heard}, volume 0 -> {zero}, 128 -> {half}, muted -> {muted}");

    // Loopback: C's microphone plays on C's speaker (spk); the speaker's mute silences it.
    let before = spk.until("spk silent before the loopback test", FEED_HZ, Duration::from_secs(5), Measure::is_silent);
    assert_eq!(c.start_audio_device_loopback_test(200), error::OK);
    let looped = spk.until("440 Hz looped from mic to spk", FEED_HZ, Duration::from_secs(8), |m| m.is_tone(FEED_HZ));
    assert_eq!(c.set_playout_device_mute(true), error::OK);
    assert!(c.playout_device_mute());
    let spk_muted = spk.until("spk silent with the speaker muted", FEED_HZ, Duration::from_secs(5), Measure::is_silent);
    assert_eq!(c.set_playout_device_mute(false), error::OK);
    spk.until("the loop back after unmute", FEED_HZ, Duration::from_secs(5), |m| m.is_tone(FEED_HZ));
    assert_eq!(c.stop_audio_device_loopback_test(), error::OK);
    let stopped = spk.until("spk silent after the loopback test", FEED_HZ, Duration::from_secs(5), Measure::is_silent);
    println!("pulse_audio: loopback test: before {before:?}; looped {looped:?}; speaker muted {spk_muted:?}; stopped {stopped:?}");
    // The playout test: a WAV file (44.1 kHz stereo, so it is resampled) plays on spk.
    let wav = pulse.dir.join("test-tone.wav");
    {
        let spec = hound::WavSpec { channels: 2, sample_rate: 44_100, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
        let mut w = hound::WavWriter::create(&wav, spec).expect("create wav");
        let mut tone = Tone::new(1000.0, 44_100, 2, 0.25);
        for s in tone.next_frame(44_100) {
            w.write_sample(s).expect("write wav");
        }
        w.finalize().expect("finalize wav");
    }
    let wav = wav.to_str().expect("utf-8 path");
    assert_eq!(c.start_playout_device_test("/no/such/file.wav"), error::ERR_INVALID_PARAM);
    assert_eq!(c.start_playout_device_test(wav), error::OK);
    let played = spk.until("the WAV file's 1 kHz on spk", 1000.0, Duration::from_secs(8), |m| m.is_tone(1000.0));
    assert_eq!(c.stop_playout_device_test(), error::OK);
    let after = spk.until("spk silent after the playout test", 1000.0, Duration::from_secs(5), Measure::is_silent);
    println!("pulse_audio: playout test: {played:?}; stopped {after:?}");
    no_errors(&c_rx, "C");
    // A file that is not a WAV: accepted by the call (it exists), reported as onError(30003).
    let junk = pulse.dir.join("junk.wav");
    std::fs::write(&junk, b"not a sound file").expect("write junk");
    assert_eq!(c.start_playout_device_test(junk.to_str().expect("utf-8 path")), error::OK);
    wait(&c_rx, "onError for an unreadable sound file", Duration::from_secs(5), |e| {
        matches!(e, EngineEvent::Error { code: error::ERR_INVALID_PARAM, .. })
    });
    assert_eq!(c.stop_playout_device_test(), error::OK);
    c.release();
    drop(feed);

    // --- A real echo path: B's microphone hears B's own speaker (default source spk.monitor).
    // A sends a speech-like signal (pushed PCM); B plays it on spk and captures it back. With
    // B's processing off, B's level is the echo's; then AEC alone, then the default processing.
    assert!(pulse.pactl(&["set-default-source", "spk.monitor"]), "set-default-source");
    let (a, a_rx) = Engine::new(opts()).expect("engine A2");
    let a = Arc::new(a);
    let (b, b_rx) = Engine::new(opts()).expect("engine B2");
    assert_eq!(a.set_playout_device(device::SYNTHETIC_PLAYOUT_DEVICE_ID), error::OK);
    assert_eq!(a.set_external_audio_source(true, RATE as i32, 1), error::OK);
    assert_eq!(b.set_record_device(PULSE_DEVICE), error::OK);
    assert_eq!(b.set_playout_device(PULSE_DEVICE), error::OK);
    let aec = |on: bool| {
        format!(r#"{{"audio_processing_aec_enable":{on},"audio_processing_ns_enable":false,"audio_processing_agc_enable":false}}"#)
    };
    assert_eq!(b.set_parameters(&aec(false)), error::OK);
    assert_eq!(b.enable_audio_volume_indication(true, 100), error::OK);
    assert_eq!(a.join_channel(None, "pulse-echo", 1), error::OK);
    wait(&a_rx, "A2 joined", Duration::from_secs(10), |e| matches!(e, EngineEvent::JoinChannel { result: 0, .. }));
    let stop = Arc::new(AtomicBool::new(false));
    let pusher = {
        let (stop, a) = (stop.clone(), a.clone());
        std::thread::spawn(move || {
            let (mut seed, mut lp, mut lp2, mut n, mut gain) = (7u32, 0f32, 0f32, 0u64, 1f32);
            let start = Instant::now();
            for k in 0u64.. {
                if stop.load(Relaxed) {
                    break;
                }
                let pcm: Vec<i16> = (0..480)
                    .map(|_| {
                        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        let w = (seed >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0;
                        let pos = n % 12_000;
                        if pos == 0 {
                            gain = 0.4 + 0.6 * (w * 0.5 + 0.5);
                        }
                        n += 1;
                        lp += 0.12 * (w - lp);
                        lp2 += 0.12 * (lp - lp2);
                        let env = if pos < 9_600 { (std::f32::consts::PI * pos as f32 / 9_600.0).sin() } else { 0.0 };
                        (lp2 * env * gain * 0.3 * 8.0 * 32768.0).clamp(-32768.0, 32767.0) as i16
                    })
                    .collect();
                a.push_external_audio_frame(&pcm, RATE as i32, 1, k * 10);
                let due = start + Duration::from_millis((k + 1) * 10);
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
            }
        })
    };
    assert_eq!(b.join_channel(None, "pulse-echo", 2), error::OK);
    wait(&b_rx, "B2 decodes A2's audio", Duration::from_secs(15), |e| matches!(e, EngineEvent::FirstAudioFrameDecoded { uid: 1 }));
    // B's captured level, as power (mean of level²) over `secs` seconds of 100 ms reports.
    let power = |secs: u64| {
        let _ = b_rx.try_iter().count();
        let until = Instant::now() + Duration::from_secs(secs);
        let mut levels = Vec::new();
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            if let Ok(EngineEvent::LocalAudioVolumeIndication { volume }) = b_rx.recv_timeout(left) {
                levels.push(f64::from(volume));
            }
        }
        assert!(levels.len() >= secs as usize * 5, "only {} level reports in {secs} s", levels.len());
        (levels.iter().map(|l| l * l).sum::<f64>() / levels.len() as f64, levels)
    };
    std::thread::sleep(Duration::from_secs(2));
    let (echo, echo_levels) = power(4);
    assert_eq!(b.set_parameters(&aec(true)), error::OK);
    assert!(b.audio_processing().aec);
    std::thread::sleep(Duration::from_secs(6));
    let (residual, residual_levels) = power(4);
    let erle = 10.0 * (echo / residual.max(0.25)).log10();
    // NERTC's default: echo cancellation, noise suppression and gain control together.
    let all_on = r#"{"audio_processing_aec_enable":true,"audio_processing_ns_enable":true,"audio_processing_agc_enable":true}"#;
    assert_eq!(b.set_parameters(all_on), error::OK);
    // Time for the gain control to settle and a longer window: over 3 s and 4 s, 2 of 11 CI
    // runs read 18.8-19.7 dB, the mean pulled up by a few reports of level 5-8 in the window.
    std::thread::sleep(Duration::from_secs(6));
    let (default_residual, default_levels) = power(8);
    let reduction = 10.0 * (echo / default_residual.max(0.25)).log10();
    println!(
        "pulse_audio: echo through PulseAudio (B's speaker -> spk.monitor -> B's mic), mean level²: {echo:.0} unprocessed, {residual:.1} with AEC alone (ERLE {erle:.1} dB), {default_residual:.1} with the default AEC+NS+AGC ({reduction:.1} dB); levels off {:?}.., AEC {:?}.., default {:?}..",
        &echo_levels[..10.min(echo_levels.len())],
        &residual_levels[..10.min(residual_levels.len())],
        &default_levels[..10.min(default_levels.len())]
    );
    assert!(echo > 100.0, "no echo reached B's microphone: {echo_levels:?}");
    // The canceller alone acts on the real path (measured 18.7-27.2 dB over runs here); the
    // processing a user gets by default takes the echo down by the issue's 20 dB (18.8-33.1
    // over CI runs when it was measured 3 s after switching on, over 4 s).
    assert!(erle >= 10.0, "AEC alone on the real echo path: {erle:.1} dB");
    assert!(reduction >= 20.0, "the default processing on the real echo path: {reduction:.1} dB < 20 dB");
    no_errors(&b_rx, "B2");

    // --- B2's devices stop: the `spk` sink is suspended, which stalls B2's playback and B2's
    // recording of its monitor (no error, no audio: what a pulled-out device does to a
    // stream); both report onAudioDeviceStateChanged(alsa:pulse, 1 record / 2 playout, 1).
    // (Unloading the sink would not do: PulseAudio moves its streams to another sink.)
    assert!(pulse.suspend_sink("spk"), "suspend spk");
    let mut lost = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while lost.len() < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "devices reported lost: {lost:?}");
        if let Ok(EngineEvent::AudioDeviceStateChanged { device_id, device_type, device_state }) = b_rx.recv_timeout(left) {
            assert_eq!((device_id.as_str(), device_state), (PULSE_DEVICE, 1));
            if !lost.contains(&device_type) {
                lost.push(device_type);
            }
        }
    }
    lost.sort();
    assert_eq!(lost, vec![1, 2], "microphone and speaker");
    println!("pulse_audio: spk suspended: onAudioDeviceStateChanged for record and playout");
    stop.store(true, Relaxed);
    let _ = pusher.join();
    a.release();
    b.release();
    assert!(pulse.pactl(&["suspend-sink", "spk", "0"]), "resume spk");
    drop(spk);

    // --- Hot-plug and default devices, on PulseAudio's own sinks and sources.
    // On a sink of its own (`spk` went through a suspension above).
    pulse.load_sink("out");
    assert!(pulse.pactl(&["set-default-sink", "out"]), "set-default-sink out");
    let out = pulse.record("out.monitor");
    assert!(pulse.pactl(&["set-default-source", "mic.monitor"]), "set-default-source");
    let (d, d_rx) = Engine::new(opts()).expect("engine D");
    assert_eq!(d.get_playout_device(), "pulseaudio:out", "the server's default sink");
    assert_eq!(d.get_record_device(), "pulseaudio:mic.monitor", "the server's default source");
    assert!(d.enumerate_playout_devices().iter().any(|x| x.device_id == "pulseaudio:out" && x.system_default_device));
    assert_eq!(d.start_playout_device_test(wav), error::OK);
    out.until("the playout test on the default sink", 1000.0, Duration::from_secs(8), |m| m.is_tone(1000.0));
    let module = pulse.load_sink("hp");
    let plugged =
        within_2s(&d_rx, "a sink plugged in", &[state_changed("pulseaudio:hp", 2, 0), state_changed("pulseaudio:hp.monitor", 1, 0)]);
    assert_eq!(d.get_playout_device(), "pulseaudio:out", "a new device is not the default");
    let hp = pulse.record("hp.monitor");
    assert!(pulse.pactl(&["set-default-sink", "hp"]), "set-default-sink hp");
    let followed = within_2s(&d_rx, "the new default sink", &[default_changed("pulseaudio:hp", 2)]);
    soon("D follows the default sink", || d.get_playout_device() == "pulseaudio:hp");
    let on_hp = hp.until("the playout test moved to hp", 1000.0, Duration::from_secs(5), |m| m.is_tone(1000.0));
    out.until("out silent once D left it", 1000.0, Duration::from_secs(5), Measure::is_silent);
    // Pinned: the default moves back to out, D stays on hp ...
    assert_eq!(d.set_playout_device("pulseaudio:hp"), error::OK);
    assert!(pulse.pactl(&["set-default-sink", "out"]), "set-default-sink out");
    within_2s(&d_rx, "the default back to out", &[default_changed("pulseaudio:out", 2)]);
    // (Where the sound goes is then PulseAudio's call: since 15.0 it moves a stream to the new
    // default sink itself; the engine does not reopen anything.)
    std::thread::sleep(Duration::from_secs(1));
    let pinned = d.get_playout_device();
    assert_eq!(pinned, "pulseaudio:hp", "a pinned device stays");
    // ... until hp is unplugged: reported, and D falls back to the default.
    assert!(pulse.pactl(&["unload-module", &module]), "unload hp");
    let unplugged = within_2s(
        &d_rx,
        "the pinned sink unplugged",
        &[state_changed("pulseaudio:hp", 2, 1), state_changed("pulseaudio:hp.monitor", 1, 1)],
    );
    soon("D falls back to the default sink", || d.get_playout_device() == "pulseaudio:out");
    out.until("the playout test back on out", 1000.0, Duration::from_secs(5), |m| m.is_tone(1000.0));
    drop(hp);
    assert_eq!(d.stop_playout_device_test(), error::OK);
    out.until("out silent after the playout test", 1000.0, Duration::from_secs(5), Measure::is_silent);
    // The record device follows the default source: mic.monitor (the tone) -> out.monitor
    // (silent) -> mic.monitor.
    let feed = pulse.feed(FEED_HZ, FEED_AMPLITUDE);
    assert_eq!(d.set_parameters(off), error::OK);
    assert_eq!(d.start_record_device_test(100), error::OK);
    let level = |what: &str, pred: &dyn Fn(u32) -> bool| local_level(&d_rx, what, pred);
    let tone = level("D records the tone from mic.monitor", &|v| (95..=120).contains(&v));
    assert!(pulse.pactl(&["set-default-source", "out.monitor"]), "set-default-source out.monitor");
    soon("D follows the default source", || d.get_record_device() == "pulseaudio:out.monitor");
    let silent = level("D records out.monitor (silent)", &|v| v == 0);
    assert!(pulse.pactl(&["set-default-source", "mic.monitor"]), "set-default-source mic.monitor");
    soon("D follows the default source back", || d.get_record_device() == "pulseaudio:mic.monitor");
    level("D records the tone again", &|v| (95..=120).contains(&v));
    assert_eq!(d.stop_record_device_test(), error::OK);
    no_errors(&d_rx, "D");
    d.release();
    drop(feed);
    println!(
        "pulse_audio: hot-plug: sink plugged reported in {plugged:?}, new default followed in {followed:?} ({on_hp:?} on hp), pinned stays ({pinned:?}), unplugged reported in {unplugged:?} and fell back; record default followed (level {tone} -> {silent} -> back)"
    );

    // --- The sound server killed during a call. B4 records through ALSA's `pulse` device
    // (pinned) and plays on PulseAudio's default sink (its own protocol): both paths lose it.
    let (a, a_rx) = Engine::new(opts()).expect("engine A4");
    let (b, b_rx) = Engine::new(opts()).expect("engine B4");
    assert_eq!(a.set_record_device(device::SYNTHETIC_RECORD_DEVICE_ID), error::OK);
    assert_eq!(a.set_playout_device(device::SYNTHETIC_PLAYOUT_DEVICE_ID), error::OK);
    assert_eq!(b.set_record_device(PULSE_DEVICE), error::OK);
    assert_eq!(b.get_playout_device(), "pulseaudio:out");
    assert_eq!(a.join_channel(None, "pulse-kill", 1), error::OK);
    wait(&a_rx, "A4 joined", Duration::from_secs(10), |e| matches!(e, EngineEvent::JoinChannel { result: 0, .. }));
    assert_eq!(b.join_channel(None, "pulse-kill", 2), error::OK);
    wait(&b_rx, "B4 decodes A4's audio", Duration::from_secs(15), |e| matches!(e, EngineEvent::FirstAudioFrameDecoded { uid: 1 }));
    drop(out);
    no_errors(&b_rx, "B4");
    let mut pulse = pulse;
    pulse.kill();
    let killed = Instant::now();
    let (mut lost, mut error, mut bad) = (Vec::new(), None, Vec::new());
    let deadline = killed + Duration::from_secs(5);
    while !(lost.contains(&1) && lost.contains(&2) && error.is_some()) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "after kill -9: devices lost {lost:?}, error {error:?}, other {bad:?}");
        match b_rx.recv_timeout(left) {
            Ok(EngineEvent::AudioDeviceStateChanged { device_id, device_type, device_state: 1 })
                if device_id == PULSE_DEVICE || device_id == "pulseaudio:out" =>
            {
                lost.push(device_type)
            }
            Ok(EngineEvent::Error { code: error::ERR_DEVICE_NOT_FOUND, msg }) => error = Some((killed.elapsed(), msg)),
            Ok(e @ (EngineEvent::Disconnect { .. } | EngineEvent::LeaveChannel { .. } | EngineEvent::ConnectionStateChange { .. })) => {
                bad.push(e)
            }
            _ => {}
        }
    }
    let reported = killed.elapsed();
    assert!(bad.is_empty(), "the call must stay up: {bad:?}");
    // To the system's default without the server: ALSA's `default` if it opens, else the
    // synthetic speaker (here: no sound card).
    soon("B4 falls back from the dead server's sink", || !b.get_playout_device().starts_with("pulseaudio:"));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(b.connection_state(), 3, "B4 still connected");
    let listing = Instant::now();
    let _ = device::enumerate_record_devices();
    let listed = listing.elapsed();
    let leaving = Instant::now();
    assert_eq!(b.leave_channel(), error::OK);
    wait(&b_rx, "B4 left", Duration::from_secs(2), |e| matches!(e, EngineEvent::LeaveChannel { .. }));
    let left = leaving.elapsed();
    let releasing = Instant::now();
    b.release();
    let released = releasing.elapsed();
    println!(
        "pulse_audio: kill -9 during a call: devices lost {lost:?} and {error:?} within {reported:?}; listing without the server {listed:?}; leaveChannel {left:?}, release {released:?}"
    );
    assert!(left < Duration::from_secs(2) && released < Duration::from_secs(2), "leave {left:?}, release {released:?}");
    a.release();
    rt.block_on(server.shutdown());
    drop(pulse);
    println!("pulse_audio: done in {:.1} s", started.elapsed().as_secs_f64());
}

/// The first local level indication within 5 s that `pred` accepts; fails with the levels seen.
fn local_level(rx: &Receiver<EngineEvent>, what: &str, pred: &dyn Fn(u32) -> bool) -> u32 {
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "{what}: levels seen {seen:?}");
        if let Ok(EngineEvent::LocalAudioVolumeIndication { volume }) = rx.recv_timeout(left) {
            seen.push(volume);
            if pred(volume) {
                return volume;
            }
        }
    }
}
