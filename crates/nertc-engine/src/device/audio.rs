//! Audio devices: the synthetic tone microphone and null speaker, and real devices via cpal.
//!
//! **Frames are 10 ms** ([`FRAME_MS`]) both ways: a capture callback receives
//! `sample_rate / 100` samples per channel (for rates that are not a multiple of 100, e.g.
//! 22050 Hz, sizes alternate so the average is exact), and a playout `pull` is asked for 10 ms
//! at a time. PCM is interleaved i16 at the rate and channel count the caller asked for; cpal
//! devices are converted (sample format, channel count, linear resampling) on the fly.
//!
//! Timestamps: a capture frame's `timestamp_us` is the wall-clock time of its first sample.
//!
//! Real devices: cpal's default host (ALSA on Linux). ALSA's own `null` PCM is never listed
//! (it does not block, so a stream on it spins a core). Set `NERTC_SYNTHETIC_DEVICES=1` to
//! hide real audio devices entirely (tests on machines that have a sound card).
//!
//! Sound servers: on a desktop with PulseAudio (or PipeWire's PulseAudio layer) and
//! libasound2-plugins, ALSA lists `pulse` ("PulseAudio Sound Server", id `alsa:pulse`), and
//! Debian's `99-pulse.conf` routes `default` to it while a server runs. That device plays to
//! the server's default sink and records its default source (the user's choice in the sound
//! settings; `PULSE_SINK` / `PULSE_SOURCE` override it for the process). Streams ask for a
//! [`DEVICE_PERIOD_MS`] period (lower capture latency than the plugin's own choice); the
//! server converts rate and channels, so the 48 kHz the engine asks for is what arrives.
//! Tested against a private PulseAudio in `tests/pulse_audio.rs`.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{Sample, SampleFormat};

use super::tone::Tone;
use super::{
    DeviceError, DeviceInfo, PacedThread, SYNTHETIC_PLAYOUT_DEVICE_ID, SYNTHETIC_PLAYOUT_DEVICE_NAME, SYNTHETIC_RECORD_DEVICE_ID,
    SYNTHETIC_RECORD_DEVICE_NAME, audio_transport,
};
use crate::frame::{AudioFrame, now_us};

/// Receives captured 10 ms frames (called on the device's thread).
pub type OnAudioFrame = Box<dyn FnMut(AudioFrame) + Send>;
/// Fills 10 ms of playout PCM (called on the device's thread).
pub type PullAudio = Box<dyn FnMut(&mut [i16]) + Send>;

/// Length of every capture frame and playout pull, in milliseconds.
pub const FRAME_MS: u32 = 10;
/// Frequency of the synthetic microphone.
pub const TONE_HZ: f32 = 440.0;
/// Amplitude of the synthetic microphone (fraction of full scale: -13.5 dBFS RMS).
pub const TONE_AMPLITUDE: f32 = 0.3;
/// Environment variable that hides real audio devices when set to `1`.
pub const SYNTHETIC_ONLY_ENV: &str = "NERTC_SYNTHETIC_DEVICES";

/// While alive, alsa-lib's error messages on this thread are dropped instead of printed to
/// stderr (probing devices on a machine without a sound card prints a dozen lines per call;
/// failures still reach us as cpal errors). Restores the previous handler on drop.
struct QuietAlsa {
    #[cfg(target_os = "linux")]
    previous: alsa_sys::snd_local_error_handler_t,
}

#[cfg(target_os = "linux")]
unsafe extern "C" fn drop_alsa_message(
    _file: *const std::ffi::c_char,
    _line: std::ffi::c_int,
    _func: *const std::ffi::c_char,
    _err: std::ffi::c_int,
    _fmt: *const std::ffi::c_char,
    _args: *mut alsa_sys::__va_list_tag,
) {
}

impl QuietAlsa {
    fn new() -> Self {
        #[cfg(target_os = "linux")]
        {
            // SAFETY: sets alsa-lib's thread-local error hook to a function with the exact
            // C signature it expects; the previous hook is restored on drop.
            let previous = unsafe { alsa_sys::snd_lib_error_set_local(Some(drop_alsa_message)) };
            QuietAlsa { previous }
        }
        #[cfg(not(target_os = "linux"))]
        QuietAlsa {}
    }
}

impl Drop for QuietAlsa {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        // SAFETY: puts back the hook that was installed before (possibly none).
        unsafe {
            alsa_sys::snd_lib_error_set_local(self.previous);
        }
    }
}

fn synthetic_only() -> bool {
    std::env::var(SYNTHETIC_ONLY_ENV).is_ok_and(|v| v == "1")
}

/// Samples per channel in 10 ms frame number `k` (exact on average for any rate).
pub(crate) fn samples_in_frame(k: u64, sample_rate: u32) -> usize {
    let sr = u64::from(sample_rate);
    ((k + 1) * sr / 100 - k * sr / 100) as usize
}

fn check_format(sample_rate: u32, channels: u16) -> Result<(), DeviceError> {
    if !(8_000..=192_000).contains(&sample_rate) || !(1..=8).contains(&channels) {
        return Err(DeviceError::InvalidArgument(format!("{sample_rate} Hz x {channels} channels")));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Enumeration

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Input,
    Output,
}

struct RealDevice {
    id: String,
    name: String,
    transport: i32,
    usable: bool,
}

fn cpal_id(d: &cpal::Device) -> Option<String> {
    d.id().ok().map(|id| id.to_string())
}

/// ALSA's `null` PCM never blocks; a stream on it spins.
fn is_alsa_null(id: &str) -> bool {
    id == "alsa:null" || id.starts_with("alsa:null:")
}

fn transport_of(d: &cpal::Device) -> i32 {
    use cpal::InterfaceType as I;
    match d.description().map(|desc| desc.interface_type()) {
        Ok(I::BuiltIn) | Ok(I::Pci) => audio_transport::BUILT_IN,
        Ok(I::Usb) => audio_transport::USB,
        Ok(I::Bluetooth) => audio_transport::BLUETOOTH,
        Ok(I::Hdmi) => audio_transport::HDMI,
        Ok(I::Thunderbolt) => audio_transport::THUNDERBOLT,
        Ok(I::Unknown) | Err(_) => audio_transport::UNKNOWN,
        Ok(_) => audio_transport::OTHER,
    }
}

fn probe(d: &cpal::Device, dir: Dir) -> bool {
    match dir {
        Dir::Input => d.default_input_config().is_ok(),
        Dir::Output => d.default_output_config().is_ok(),
    }
}

/// The audio hosts whose devices are listed, the one that owns the system default first: the
/// PulseAudio server (or PipeWire's PulseAudio layer) when one answers, then ALSA (whose `pulse`
/// device reaches that same server through libasound2-plugins). Elsewhere cpal's default host.
fn hosts() -> Vec<Arc<cpal::Host>> {
    if synthetic_only() {
        return Vec::new();
    }
    #[cfg(target_os = "linux")]
    {
        let mut hosts: Vec<Arc<cpal::Host>> = pulse_host().into_iter().collect();
        match cpal::host_from_id(cpal::HostId::Alsa) {
            Ok(h) => hosts.push(Arc::new(h)),
            Err(e) => tracing::debug!("no ALSA: {e}"),
        }
        hosts
    }
    #[cfg(not(target_os = "linux"))]
    vec![Arc::new(cpal::default_host())]
}

/// The one connection to the PulseAudio server that the whole process shares (its client
/// keeps a thread and a connection for as long as the server is up, dropped or not: one per
/// listing would pile up until the server refuses clients). Forgotten when a request on it
/// fails ([`forget_pulse_host`]), so a server that went away and came back is reached again.
#[cfg(target_os = "linux")]
static PULSE_HOST: Mutex<Option<Arc<cpal::Host>>> = Mutex::new(None);

#[cfg(target_os = "linux")]
fn pulse_host() -> Option<Arc<cpal::Host>> {
    if !cpal::available_hosts().contains(&cpal::HostId::PulseAudio) {
        return None;
    }
    let mut cached = PULSE_HOST.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(h) = &*cached {
        return Some(h.clone());
    }
    match cpal::host_from_id(cpal::HostId::PulseAudio) {
        Ok(h) => {
            let h = Arc::new(h);
            *cached = Some(h.clone());
            Some(h)
        }
        Err(e) => {
            tracing::debug!("no PulseAudio server: {e}");
            None
        }
    }
}

/// Drops the shared PulseAudio connection if `host` is it (a request on it failed: the server
/// is gone or restarted).
fn forget_pulse_host(host: &Arc<cpal::Host>) {
    #[cfg(target_os = "linux")]
    {
        let mut cached = PULSE_HOST.lock().unwrap_or_else(|p| p.into_inner());
        if cached.as_ref().is_some_and(|c| Arc::ptr_eq(c, host)) {
            tracing::info!("the PulseAudio connection failed; reconnecting at the next listing");
            *cached = None;
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = host;
}

/// The host a device id (`"<host>:<device>"`, e.g. `pulseaudio:spk`, `alsa:pulse`) belongs to.
fn host_of(id: &str) -> Option<Arc<cpal::Host>> {
    let parsed: cpal::DeviceId = id.parse().ok()?;
    hosts().into_iter().find(|h| h.id() == parsed.host())
}

fn host_devices(host: &Arc<cpal::Host>, dir: Dir) -> Vec<cpal::Device> {
    let devices = match dir {
        Dir::Input => host.input_devices().map(|d| d.collect::<Vec<_>>()),
        Dir::Output => host.output_devices().map(|d| d.collect::<Vec<_>>()),
    };
    match devices {
        Ok(list) => list.into_iter().filter(|d| cpal_id(d).is_some_and(|id| !is_alsa_null(&id))).collect(),
        Err(e) => {
            tracing::debug!("no audio devices from {:?}: {e}", host.id());
            forget_pulse_host(host);
            Vec::new()
        }
    }
}

fn cpal_devices(dir: Dir) -> Vec<cpal::Device> {
    hosts().iter().flat_map(|h| host_devices(h, dir)).collect()
}

fn real_devices(dir: Dir) -> Vec<RealDevice> {
    cpal_devices(dir)
        .iter()
        .filter_map(|d| {
            let id = cpal_id(d)?;
            let name = d.description().map(|desc| desc.name().to_owned()).unwrap_or_else(|_| id.clone());
            Some(RealDevice { transport: transport_of(d), usable: probe(d, dir), id, name })
        })
        .collect()
}

/// The system default device if it can be opened: the sound server's default sink or source
/// when a server answers, else ALSA's `default`.
fn real_default(dir: Dir) -> Option<String> {
    let host = hosts().into_iter().next()?;
    let d = match dir {
        Dir::Input => host.default_input_device(),
        Dir::Output => host.default_output_device(),
    };
    let Some(d) = d else {
        forget_pulse_host(&host);
        return None;
    };
    let id = cpal_id(&d)?;
    (!is_alsa_null(&id) && probe(&d, dir)).then_some(id)
}

/// What hot-plug watching sees of one direction: the ids of the real devices listed (nothing is
/// opened) and the sound server's default device (`None` without a server: ALSA's `default` is a
/// fixed name whose target does not change while running).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceSnapshot {
    pub ids: std::collections::BTreeSet<String>,
    pub server_default: Option<String>,
}

/// [`DeviceSnapshot`]s of the microphones and of the speakers, without opening any device.
pub fn device_snapshots() -> (DeviceSnapshot, DeviceSnapshot) {
    let _quiet = QuietAlsa::new();
    let hosts = hosts();
    let snapshot = |dir: Dir| {
        let ids = hosts.iter().flat_map(|h| host_devices(h, dir)).filter_map(|d| cpal_id(&d)).collect();
        #[cfg(target_os = "linux")]
        let server_default = hosts.iter().find(|h| h.id() == cpal::HostId::PulseAudio).and_then(|h| {
            let d = match dir {
                Dir::Input => h.default_input_device(),
                Dir::Output => h.default_output_device(),
            };
            if d.is_none() {
                forget_pulse_host(h);
            }
            cpal_id(&d?)
        });
        #[cfg(not(target_os = "linux"))]
        let server_default = None;
        DeviceSnapshot { ids, server_default }
    };
    (snapshot(Dir::Input), snapshot(Dir::Output))
}

fn enumerate(dir: Dir) -> Vec<DeviceInfo> {
    let _quiet = QuietAlsa::new();
    let (sid, sname) = match dir {
        Dir::Input => (SYNTHETIC_RECORD_DEVICE_ID, SYNTHETIC_RECORD_DEVICE_NAME),
        Dir::Output => (SYNTHETIC_PLAYOUT_DEVICE_ID, SYNTHETIC_PLAYOUT_DEVICE_NAME),
    };
    let real = real_devices(dir);
    let default = real_default(dir).filter(|id| real.iter().any(|r| &r.id == id));
    let mut list = vec![DeviceInfo {
        device_id: sid.to_owned(),
        device_name: sname.to_owned(),
        transport_type: audio_transport::VIRTUAL,
        suspected_unavailable: false,
        system_default_device: default.is_none(),
    }];
    list.extend(real.into_iter().map(|r| DeviceInfo {
        system_default_device: default.as_deref() == Some(r.id.as_str()),
        device_id: r.id,
        device_name: r.name,
        transport_type: r.transport,
        suspected_unavailable: !r.usable,
    }));
    list
}

/// Microphones: the tone generator first, then cpal input devices.
pub fn enumerate_record_devices() -> Vec<DeviceInfo> {
    enumerate(Dir::Input)
}

/// Speakers: the null speaker first, then cpal output devices.
pub fn enumerate_playout_devices() -> Vec<DeviceInfo> {
    enumerate(Dir::Output)
}

/// The system's default microphone if it opens, else [`SYNTHETIC_RECORD_DEVICE_ID`].
pub fn default_record_device() -> String {
    let _quiet = QuietAlsa::new();
    let real = real_default(Dir::Input).filter(|id| real_devices_contains(Dir::Input, id));
    real.unwrap_or_else(|| SYNTHETIC_RECORD_DEVICE_ID.to_owned())
}

/// The system's default speaker if it opens, else [`SYNTHETIC_PLAYOUT_DEVICE_ID`].
pub fn default_playout_device() -> String {
    let _quiet = QuietAlsa::new();
    let real = real_default(Dir::Output).filter(|id| real_devices_contains(Dir::Output, id));
    real.unwrap_or_else(|| SYNTHETIC_PLAYOUT_DEVICE_ID.to_owned())
}

fn real_devices_contains(dir: Dir, id: &str) -> bool {
    host_of(id).is_some_and(|h| host_devices(&h, dir).iter().any(|d| cpal_id(d).as_deref() == Some(id)))
}

fn find_cpal_device(dir: Dir, id: &str) -> Option<cpal::Device> {
    let _quiet = QuietAlsa::new();
    host_devices(&host_of(id)?, dir).into_iter().find(|d| cpal_id(d).as_deref() == Some(id))
}

// ---------------------------------------------------------------------------------------------
// Handles

/// Held only for its `Drop` (stops the thread or stream).
#[allow(dead_code)]
enum Worker {
    Paced(PacedThread),
    Cpal(CpalThread),
}

/// A running microphone; dropping it stops capture (no callback runs after `drop` returns).
pub struct AudioCapture {
    device_id: String,
    sample_rate: u32,
    channels: u16,
    gain: DeviceGain,
    _worker: Worker,
}

/// The volume and mute of a running device (NERTC's `setRecordDeviceVolume` /
/// `setRecordDeviceMute` and the playout pair), applied to the PCM on its way from the
/// microphone or to the speaker: a linear gain of `volume / 255`, zeros while muted. Takes
/// effect from the next 10 ms frame.
#[derive(Clone)]
pub struct DeviceGain(Arc<(AtomicU32, AtomicBool)>);

impl Default for DeviceGain {
    fn default() -> Self {
        DeviceGain::new()
    }
}

impl DeviceGain {
    /// NERTC's device volume scale: 0..=255, 255 is unity gain.
    pub const MAX_VOLUME: u32 = 255;

    /// Unity gain, not muted. Clones share the setting: an engine keeps one per direction and
    /// hands it to every device it opens, so the setting outlives a device change.
    pub fn new() -> Self {
        DeviceGain(Arc::new((AtomicU32::new(Self::MAX_VOLUME), AtomicBool::new(false))))
    }

    /// Clamps to 0..=255.
    pub fn set_volume(&self, volume: u32) {
        self.0.0.store(volume.min(Self::MAX_VOLUME), Relaxed);
    }

    pub fn volume(&self) -> u32 {
        self.0.0.load(Relaxed)
    }

    pub fn set_muted(&self, muted: bool) {
        self.0.1.store(muted, Relaxed);
    }

    pub fn muted(&self) -> bool {
        self.0.1.load(Relaxed)
    }

    pub(crate) fn apply(&self, pcm: &mut [i16]) {
        let volume = self.volume();
        if self.muted() || volume == 0 {
            pcm.fill(0);
        } else if volume < Self::MAX_VOLUME {
            let g = volume as f32 / Self::MAX_VOLUME as f32;
            pcm.iter_mut().for_each(|s| *s = (f32::from(*s) * g).round() as i16);
        }
    }
}

impl AudioCapture {
    /// Volume and mute of this microphone.
    pub fn gain(&self) -> &DeviceGain {
        &self.gain
    }

    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    pub fn channels(&self) -> u16 {
        self.channels
    }
}

/// A running speaker; dropping it stops playout (no pull runs after `drop` returns).
pub struct AudioPlayout {
    device_id: String,
    sample_rate: u32,
    channels: u16,
    gain: DeviceGain,
    _worker: Worker,
}

impl AudioPlayout {
    /// Volume and mute of this speaker.
    pub fn gain(&self) -> &DeviceGain {
        &self.gain
    }

    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    pub fn channels(&self) -> u16 {
        self.channels
    }
}

/// Reads a WAV file (any rate, 1-8 channels, 8-32 bit integer or float PCM) as interleaved i16
/// at `rate` x `channels` (for `startPlayoutDeviceTest`). At most 10 minutes are read.
pub fn read_sound_file(path: &str, rate: u32, channels: u16) -> Result<Vec<i16>, DeviceError> {
    let bad = |e: hound::Error| DeviceError::InvalidArgument(format!("{path}: {e}"));
    let mut reader = hound::WavReader::open(path).map_err(bad)?;
    let spec = reader.spec();
    if spec.channels == 0 || spec.channels > 8 || spec.sample_rate == 0 {
        return Err(DeviceError::InvalidArgument(format!("{path}: {} channels at {} Hz", spec.channels, spec.sample_rate)));
    }
    let limit = spec.sample_rate as usize * usize::from(spec.channels) * 600;
    let samples: Vec<i16> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, _) => reader
            .samples::<f32>()
            .take(limit)
            .map(|s| s.map(|v| (v * 32768.0).round().clamp(-32768.0, 32767.0) as i16))
            .collect::<Result<_, _>>()
            .map_err(bad)?,
        (hound::SampleFormat::Int, bits) if bits <= 16 => {
            let shift = 16 - u32::from(bits);
            reader.samples::<i16>().take(limit).map(|s| s.map(|v| v << shift)).collect::<Result<_, _>>().map_err(bad)?
        }
        (hound::SampleFormat::Int, bits) => {
            let shift = u32::from(bits).saturating_sub(16);
            reader.samples::<i32>().take(limit).map(|s| s.map(|v| (v >> shift) as i16)).collect::<Result<_, _>>().map_err(bad)?
        }
    };
    let mut conv = AudioConverter::new(spec.sample_rate, spec.channels, rate, channels);
    conv.push_i16(&samples);
    Ok(conv.take_i16())
}

/// Called once when a running device goes away.
pub type OnLost = super::camera::OnLost;

/// How long a stream may fail without delivering a period before its device counts as gone.
const LOST_AFTER: Duration = Duration::from_secs(1);
/// How long a running stream may deliver nothing (no error either) before its device counts
/// as gone, and how often that is checked.
const STALL_AFTER: Duration = Duration::from_secs(2);
const STALL_CHECK: Duration = Duration::from_millis(250);

/// Starts capture from `device_id`, calling `on_frame` with 10 ms frames of interleaved i16 at
/// `sample_rate` x `channels` (from the device's own thread; keep it short).
pub fn open_record(device_id: &str, sample_rate: u32, channels: u16, on_frame: OnAudioFrame) -> Result<AudioCapture, DeviceError> {
    open_record_with_gain(device_id, sample_rate, channels, DeviceGain::new(), on_frame)
}

/// [`open_record`] with a volume/mute setting the caller keeps (and may share).
pub fn open_record_with_gain(
    device_id: &str,
    sample_rate: u32,
    channels: u16,
    gain: DeviceGain,
    on_frame: OnAudioFrame,
) -> Result<AudioCapture, DeviceError> {
    open_record_with(device_id, sample_rate, channels, gain, on_frame, Box::new(|_| {}))
}

/// [`open_record_with_gain`], with `on_lost` called once (from the device's thread) when a real
/// device stops working (unplugged, sound server gone).
pub fn open_record_with(
    device_id: &str,
    sample_rate: u32,
    channels: u16,
    gain: DeviceGain,
    on_frame: OnAudioFrame,
    on_lost: OnLost,
) -> Result<AudioCapture, DeviceError> {
    check_format(sample_rate, channels)?;
    let mut on_frame: OnAudioFrame = {
        let (gain, mut inner) = (gain.clone(), on_frame);
        Box::new(move |mut f: AudioFrame| {
            gain.apply(&mut f.samples);
            inner(f)
        })
    };
    let worker = if device_id == SYNTHETIC_RECORD_DEVICE_ID {
        let mut tone = Tone::new(TONE_HZ, sample_rate, channels, TONE_AMPLITUDE);
        let period = Duration::from_millis(u64::from(FRAME_MS));
        // Frame k is complete at start + (k + 1) * 10 ms; it began 10 ms earlier.
        Worker::Paced(PacedThread::spawn("nertc-tone", period, 1, move |k, end_us| {
            let samples = tone.next_frame(samples_in_frame(k, sample_rate));
            let timestamp_us = end_us.saturating_sub(u64::from(FRAME_MS) * 1000);
            on_frame(AudioFrame { sample_rate, channels, samples, timestamp_us });
        })?)
    } else {
        if find_cpal_device(Dir::Input, device_id).is_none() {
            return Err(DeviceError::NotFound(device_id.to_owned()));
        }
        Worker::Cpal(CpalThread::spawn_input(device_id.to_owned(), sample_rate, channels, on_frame, on_lost)?)
    };
    Ok(AudioCapture { device_id: device_id.to_owned(), sample_rate, channels, gain, _worker: worker })
}

/// Starts playout on `device_id`; `pull` fills 10 ms of interleaved i16 at `sample_rate` x
/// `channels` each time it is called (from the device's own thread; keep it short).
pub fn open_playout(device_id: &str, sample_rate: u32, channels: u16, pull: PullAudio) -> Result<AudioPlayout, DeviceError> {
    open_playout_with_gain(device_id, sample_rate, channels, DeviceGain::new(), pull)
}

/// [`open_playout`] with a volume/mute setting the caller keeps (and may share).
pub fn open_playout_with_gain(
    device_id: &str,
    sample_rate: u32,
    channels: u16,
    gain: DeviceGain,
    pull: PullAudio,
) -> Result<AudioPlayout, DeviceError> {
    open_playout_with(device_id, sample_rate, channels, gain, pull, Box::new(|_| {}))
}

/// [`open_playout_with_gain`], with `on_lost` called once when a real device stops working.
pub fn open_playout_with(
    device_id: &str,
    sample_rate: u32,
    channels: u16,
    gain: DeviceGain,
    pull: PullAudio,
    on_lost: OnLost,
) -> Result<AudioPlayout, DeviceError> {
    check_format(sample_rate, channels)?;
    let mut pull: PullAudio = {
        let (gain, mut inner) = (gain.clone(), pull);
        Box::new(move |out: &mut [i16]| {
            inner(out);
            gain.apply(out);
        })
    };
    let worker = if device_id == SYNTHETIC_PLAYOUT_DEVICE_ID {
        let mut buf: Vec<i16> = Vec::with_capacity(sample_rate as usize / 100 * usize::from(channels) + 8);
        let period = Duration::from_millis(u64::from(FRAME_MS));
        Worker::Paced(PacedThread::spawn("nertc-null-speaker", period, 0, move |k, _| {
            buf.clear();
            buf.resize(samples_in_frame(k, sample_rate) * usize::from(channels), 0);
            pull(&mut buf);
        })?)
    } else {
        if find_cpal_device(Dir::Output, device_id).is_none() {
            return Err(DeviceError::NotFound(device_id.to_owned()));
        }
        Worker::Cpal(CpalThread::spawn_output(device_id.to_owned(), sample_rate, channels, pull, on_lost)?)
    };
    Ok(AudioPlayout { device_id: device_id.to_owned(), sample_rate, channels, gain, _worker: worker })
}

// ---------------------------------------------------------------------------------------------
// cpal streams

/// Owns a cpal stream on a thread of its own (so the handle is `Send` whatever the platform's
/// stream type is); dropping it drops the stream and joins the thread.
///
/// Bounded: a backend can block forever (ALSA's `pulse` plugin or a PulseAudio client whose
/// server was killed or stopped). Opening waits at most [`OPEN_TIMEOUT`], dropping at most
/// [`JOIN_TIMEOUT`]; a thread still stuck then is left behind (logged), its callbacks
/// disarmed first (`alive`, `on_lost`), so that `leaveChannel` and `release` always return.
struct CpalThread {
    stop: Option<mpsc::Sender<()>>,
    handle: Option<JoinHandle<()>>,
    /// Disconnected when the thread ends.
    done: mpsc::Receiver<()>,
    /// Cleared when the handle is dropped: data callbacks do nothing any more.
    alive: Arc<AtomicBool>,
    on_lost: Arc<Mutex<Option<OnLost>>>,
    /// Drops the caller's frame callback or pull (and what they hold, e.g. the sender into the
    /// encoder thread, which only exits once every sender is gone) even when the stream's own
    /// thread never returns.
    disarm: Option<Disarm>,
}

type Disarm = Box<dyn FnOnce() + Send>;

/// `f` behind a slot that [`Disarm`] empties: `(callback calling f while armed, disarm)`.
fn disarmable<F: ?Sized + Send + 'static>(f: Box<F>) -> (Arc<Mutex<Option<Box<F>>>>, Disarm) {
    let slot = Arc::new(Mutex::new(Some(f)));
    let s = slot.clone();
    (slot, Box::new(move || drop(lock_state(&s).take())))
}

/// How long opening a real device may take before it counts as unavailable.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(3);
/// How long stopping a real device may take before its thread is left behind.
pub const JOIN_TIMEOUT: Duration = Duration::from_millis(500);

impl CpalThread {
    /// Runs `build`'s stream until dropped, watching `periods` (counted by its data callback):
    /// a stream that delivers nothing for [`STALL_AFTER`] counts as a lost device (`on_lost`;
    /// some backends, like ALSA's `pulse` plugin when its sink is removed, stop without an error).
    fn spawn(
        name: &str,
        periods: Arc<AtomicU64>,
        alive: Arc<AtomicBool>,
        on_lost: Arc<Mutex<Option<OnLost>>>,
        disarm: Disarm,
        build: impl FnOnce() -> Result<cpal::Stream, DeviceError> + Send + 'static,
    ) -> Result<Self, DeviceError> {
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), DeviceError>>();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let (done_tx, done) = mpsc::channel::<()>();
        let lost_hook = on_lost.clone();
        let handle = std::thread::Builder::new().name(name.to_owned()).spawn(move || {
            let _done = done_tx;
            let _quiet = QuietAlsa::new();
            let stream = match build() {
                Ok(s) => s,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            if let Err(e) = stream.play() {
                let _ = ready_tx.send(Err(device_error(e)));
                return;
            }
            let _ = ready_tx.send(Ok(()));
            // Until the handle is dropped (the sender goes away), checking the stream moves.
            let (mut last, mut since) = (periods.load(Relaxed), Instant::now());
            while let Err(mpsc::RecvTimeoutError::Timeout) = stop_rx.recv_timeout(STALL_CHECK) {
                let now = periods.load(Relaxed);
                if now != last {
                    (last, since) = (now, Instant::now());
                } else if since.elapsed() >= STALL_AFTER {
                    let lost = on_lost.lock().unwrap_or_else(|p| p.into_inner()).take();
                    if let Some(lost) = lost {
                        tracing::error!(thread = ?std::thread::current().name(), "audio stream stalled: device lost");
                        lost(DeviceError::NotFound(format!("no audio for {STALL_AFTER:?}")));
                    }
                }
            }
            drop(stream);
        })?;
        let result = ready_rx.recv_timeout(OPEN_TIMEOUT).unwrap_or_else(|e| match e {
            mpsc::RecvTimeoutError::Timeout => Err(DeviceError::Unavailable(format!("not open after {OPEN_TIMEOUT:?}"))),
            mpsc::RecvTimeoutError::Disconnected => Err(DeviceError::Backend("audio thread ended early".into())),
        });
        let mut t = CpalThread { stop: Some(stop_tx), handle: Some(handle), done, alive, on_lost: lost_hook, disarm: Some(disarm) };
        match result {
            Ok(()) => Ok(t),
            Err(e) => {
                t.stop_and_join();
                Err(e)
            }
        }
    }

    fn stop_and_join(&mut self) {
        self.alive.store(false, Relaxed);
        self.on_lost.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(disarm) = self.disarm.take() {
            disarm();
        }
        self.stop.take();
        if let Some(h) = self.handle.take() {
            match self.done.recv_timeout(JOIN_TIMEOUT) {
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    tracing::error!(thread = ?h.thread().name(), "audio device thread stuck in its backend for {JOIN_TIMEOUT:?}; left behind");
                }
                _ => {
                    let _ = h.join();
                }
            }
        }
    }

    fn spawn_input(id: String, sample_rate: u32, channels: u16, on_frame: OnAudioFrame, on_lost: OnLost) -> Result<Self, DeviceError> {
        let on_lost = Arc::new(Mutex::new(Some(on_lost)));
        let periods = Arc::new(AtomicU64::new(0));
        let alive = Arc::new(AtomicBool::new(true));
        let live = alive.clone();
        let (slot, disarm) = disarmable(on_frame);
        let on_frame: OnAudioFrame = Box::new(move |f| {
            if let Some(cb) = lock_state(&slot).as_mut() {
                cb(f)
            }
        });
        Self::spawn("nertc-mic", periods.clone(), alive, on_lost.clone(), disarm, move || {
            let device = find_cpal_device(Dir::Input, &id).ok_or_else(|| DeviceError::NotFound(id.clone()))?;
            let cfg = pick_config(&device, Dir::Input, sample_rate, channels)?;
            let (dev_rate, dev_ch, format) = (cfg.sample_rate(), cfg.channels(), cfg.sample_format());
            tracing::info!(id, dev_rate, dev_ch, ?format, "opening microphone");
            let state = Arc::new(Mutex::new(InputState {
                conv: AudioConverter::new(dev_rate, dev_ch, sample_rate, channels),
                scratch: Vec::new(),
                pending: Vec::new(),
                k: 0,
                sample_rate,
                channels,
                on_frame,
                clock: CaptureClock::new(),
                logged_period: false,
            }));
            build_with_period(&id, "microphone", &cfg, |config| {
                let state = state.clone();
                device.build_input_stream_raw(
                    config,
                    format,
                    {
                        let (periods, live) = (periods.clone(), live.clone());
                        move |data: &cpal::Data, _: &cpal::InputCallbackInfo| {
                            periods.fetch_add(1, Relaxed);
                            if live.load(Relaxed) {
                                lock_state(&state).capture(data)
                            }
                        }
                    },
                    stream_error_logger(&id, "microphone", periods.clone(), on_lost.clone()),
                    None,
                )
            })
        })
    }

    fn spawn_output(id: String, sample_rate: u32, channels: u16, pull: PullAudio, on_lost: OnLost) -> Result<Self, DeviceError> {
        let on_lost = Arc::new(Mutex::new(Some(on_lost)));
        let periods = Arc::new(AtomicU64::new(0));
        let alive = Arc::new(AtomicBool::new(true));
        let live = alive.clone();
        let (slot, disarm) = disarmable(pull);
        let pull: PullAudio = Box::new(move |out: &mut [i16]| match lock_state(&slot).as_mut() {
            Some(pull) => pull(out),
            None => out.fill(0),
        });
        Self::spawn("nertc-speaker", periods.clone(), alive, on_lost.clone(), disarm, move || {
            let device = find_cpal_device(Dir::Output, &id).ok_or_else(|| DeviceError::NotFound(id.clone()))?;
            let cfg = pick_config(&device, Dir::Output, sample_rate, channels)?;
            let (dev_rate, dev_ch, format) = (cfg.sample_rate(), cfg.channels(), cfg.sample_format());
            tracing::info!(id, dev_rate, dev_ch, ?format, "opening speaker");
            let state = Arc::new(Mutex::new(OutputState {
                conv: AudioConverter::new(sample_rate, channels, dev_rate, dev_ch),
                chunk: Vec::new(),
                chunk_f: Vec::new(),
                k: 0,
                sample_rate,
                channels,
                dev_channels: dev_ch,
                pull,
                logged_period: false,
            }));
            build_with_period(&id, "speaker", &cfg, |config| {
                let state = state.clone();
                device.build_output_stream_raw(
                    config,
                    format,
                    {
                        let (periods, live) = (periods.clone(), live.clone());
                        move |data: &mut cpal::Data, _: &cpal::OutputCallbackInfo| {
                            periods.fetch_add(1, Relaxed);
                            if live.load(Relaxed) { lock_state(&state).play(data) } else { write_f32_to_data(&[], data) }
                        }
                    },
                    stream_error_logger(&id, "speaker", periods.clone(), on_lost.clone()),
                    None,
                )
            })
        })
    }
}

/// The period asked of real devices, in milliseconds (cpal keeps two periods of buffer). Left
/// to itself PulseAudio's `pulse` plugin picked 2048-sample periods (43 ms mono at 48 kHz) on
/// the capture side; asked for 20 ms it rounds to 640 frames (13 ms) both ways, which measured
/// free of underruns on a loaded 2-core machine. Devices that refuse the size get their own.
pub const DEVICE_PERIOD_MS: u32 = 20;

/// Builds a stream asking for a [`DEVICE_PERIOD_MS`] period, or with the device's own choice
/// when it refuses that size. `build` is called once per attempt.
fn build_with_period(
    id: &str,
    what: &str,
    cfg: &cpal::SupportedStreamConfig,
    mut build: impl FnMut(cpal::StreamConfig) -> Result<cpal::Stream, cpal::Error>,
) -> Result<cpal::Stream, DeviceError> {
    let period = cfg.sample_rate() * DEVICE_PERIOD_MS / 1000;
    let fits = match cfg.buffer_size() {
        cpal::SupportedBufferSize::Range { min, max } => (*min..=*max).contains(&period),
        cpal::SupportedBufferSize::Unknown => true,
    };
    let mut config = cfg.config();
    if fits {
        config.buffer_size = cpal::BufferSize::Fixed(period);
        match build(config) {
            Ok(stream) => return Ok(stream),
            Err(e) => tracing::debug!(id, "{what}: a {period}-frame period was refused ({e}); using the device's own"),
        }
    }
    config.buffer_size = cpal::BufferSize::Default;
    build(config).map_err(device_error)
}

/// A cpal failure as a device error.
fn device_error(e: cpal::Error) -> DeviceError {
    use cpal::ErrorKind as K;
    match e.kind() {
        K::DeviceNotAvailable | K::HostUnavailable | K::DeviceBusy => DeviceError::Unavailable(e.to_string()),
        K::PermissionDenied => DeviceError::PermissionDenied(e.to_string()),
        K::UnsupportedConfig | K::InvalidInput => DeviceError::InvalidArgument(e.to_string()),
        _ => DeviceError::Backend(e.to_string()),
    }
}

/// The error callback of a stream: under- and overruns are routine on a loaded machine (counted
/// at debug level); anything else is logged once per kind with its NERTC code (a device that
/// went away, a sound server that stopped).
/// Logs a stream's errors and decides when its device is gone: at once on "not available"
/// (the stream has ended), or when errors keep coming for [`LOST_AFTER`] while no period of
/// audio went through (`periods`, counted by the data callback, stands still). Transient
/// errors between working periods (the `pulse` plugin's occasional EIO) are only logged.
fn stream_error_logger(
    id: &str,
    what: &'static str,
    periods: Arc<AtomicU64>,
    on_lost: Arc<Mutex<Option<OnLost>>>,
) -> impl FnMut(cpal::Error) + Send + 'static {
    let id = id.to_owned();
    let mut xruns: u64 = 0;
    let mut seen: Vec<cpal::ErrorKind> = Vec::new();
    // (periods when the current run of errors began, when it began)
    let mut streak: Option<(u64, Instant)> = None;
    move |e: cpal::Error| {
        if e.kind() == cpal::ErrorKind::Xrun {
            xruns += 1;
            tracing::debug!(id, xruns, "{what}: xrun");
            return;
        }
        if !seen.contains(&e.kind()) {
            seen.push(e.kind());
            tracing::warn!(id, kind = ?e.kind(), "{what} stream error: {e}");
        }
        let now_periods = periods.load(Relaxed);
        let (since_periods, since) = match streak {
            Some((p, t)) if p == now_periods => (p, t),
            _ => (now_periods, Instant::now()),
        };
        streak = Some((since_periods, since));
        let gone = e.kind() == cpal::ErrorKind::DeviceNotAvailable;
        if gone || since.elapsed() >= LOST_AFTER {
            let lost = on_lost.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(lost) = lost {
                let err = device_error(e);
                tracing::error!(id, code = err.code(), "{what} lost: {err}");
                lost(DeviceError::NotFound(format!("{id}: {err}")));
            }
        }
    }
}

/// Locks a stream's state; a panic in a callback poisons nothing for the next one.
fn lock_state<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a capture stream's callback keeps between calls.
struct InputState {
    conv: AudioConverter,
    scratch: Vec<f32>,
    /// Converted samples not yet delivered (less than one frame).
    pending: Vec<i16>,
    /// Frame number (for the frame size at odd rates).
    k: u64,
    sample_rate: u32,
    channels: u16,
    on_frame: OnAudioFrame,
    clock: CaptureClock,
    logged_period: bool,
}

/// Timestamps of captured frames: 10 ms apart on a clock anchored at the first frame, so they
/// only grow even when a sound server delivers audio in bursts (where "now minus what is
/// buffered" jitters by a callback period, and goes backwards). When the wall clock and the
/// sample count part by more than [`CaptureClock::MAX_DRIFT_US`] (device clock drift, a
/// dropped stretch after an overrun), it re-anchors, never earlier than the last stamp.
struct CaptureClock {
    /// Wall time of frame 0 since the last anchoring, and frames since then.
    anchor_us: Option<u64>,
    frames: u64,
    last_us: u64,
}

impl CaptureClock {
    const MAX_DRIFT_US: u64 = 100_000;

    fn new() -> Self {
        CaptureClock { anchor_us: None, frames: 0, last_us: 0 }
    }

    /// The stamp of the next 10 ms frame, whose start the wall clock puts at `observed_us`.
    fn stamp(&mut self, observed_us: u64) -> u64 {
        let frame_us = u64::from(FRAME_MS) * 1000;
        let on_schedule = self.anchor_us.map(|a| a + self.frames * frame_us);
        let ts = match on_schedule {
            Some(ts) if ts.abs_diff(observed_us) <= Self::MAX_DRIFT_US => ts,
            _ => {
                let ts = if self.anchor_us.is_some() { observed_us.max(self.last_us + frame_us) } else { observed_us };
                self.anchor_us = Some(ts);
                self.frames = 0;
                ts
            }
        };
        self.frames += 1;
        self.last_us = ts;
        ts
    }
}

impl InputState {
    fn capture(&mut self, data: &cpal::Data) {
        self.scratch.clear();
        if !data_to_f32(data, &mut self.scratch) {
            return;
        }
        if !self.logged_period {
            self.logged_period = true;
            tracing::debug!(samples = data.len(), "first microphone callback");
        }
        self.conv.push(&self.scratch);
        self.pending.extend(self.conv.out.drain(..).map(|s| (s * 32767.0).round().clamp(-32768.0, 32767.0) as i16));
        let ch = usize::from(self.channels);
        loop {
            let n = samples_in_frame(self.k, self.sample_rate) * ch;
            if self.pending.len() < n {
                break;
            }
            let samples: Vec<i16> = self.pending.drain(..n).collect();
            // This frame started (its length + what is still buffered) ago.
            let buffered_us = (self.pending.len() + n) as u64 / ch as u64 * 1_000_000 / u64::from(self.sample_rate);
            let timestamp_us = self.clock.stamp(now_us().saturating_sub(buffered_us));
            (self.on_frame)(AudioFrame { sample_rate: self.sample_rate, channels: self.channels, samples, timestamp_us });
            self.k += 1;
        }
    }
}

/// What a playout stream's callback keeps between calls.
struct OutputState {
    conv: AudioConverter,
    chunk: Vec<i16>,
    chunk_f: Vec<f32>,
    k: u64,
    sample_rate: u32,
    channels: u16,
    dev_channels: u16,
    pull: PullAudio,
    logged_period: bool,
}

impl OutputState {
    fn play(&mut self, data: &mut cpal::Data) {
        let needed = data.len();
        if !self.logged_period {
            self.logged_period = true;
            tracing::debug!(samples = needed, "first speaker callback");
        }
        let ch = usize::from(self.channels);
        while self.conv.out.len() < needed {
            self.chunk.clear();
            self.chunk.resize(samples_in_frame(self.k, self.sample_rate) * ch, 0);
            self.k += 1;
            (self.pull)(&mut self.chunk);
            self.chunk_f.clear();
            self.chunk_f.extend(self.chunk.iter().map(|&s| f32::from(s) / 32768.0));
            self.conv.push(&self.chunk_f);
        }
        let dch = usize::from(self.dev_channels.max(1));
        let take = needed - needed % dch;
        write_f32_to_data(&self.conv.out[..take], data);
        self.conv.out.drain(..take);
    }
}

impl Drop for CpalThread {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// The device configuration closest to what we want: our rate and channel count if the
/// device offers them (preferring i16, then f32), else its default.
fn pick_config(device: &cpal::Device, dir: Dir, sample_rate: u32, channels: u16) -> Result<cpal::SupportedStreamConfig, DeviceError> {
    let ranges: Vec<cpal::SupportedStreamConfigRange> = match dir {
        Dir::Input => device.supported_input_configs().map(|r| r.collect()),
        Dir::Output => device.supported_output_configs().map(|r| r.collect()),
    }
    .unwrap_or_default();
    let rank = |f: SampleFormat| match f {
        SampleFormat::I16 => 0,
        SampleFormat::F32 => 1,
        _ => 2,
    };
    let mut exact: Vec<cpal::SupportedStreamConfig> =
        ranges.into_iter().filter(|r| r.channels() == channels).filter_map(|r| r.try_with_sample_rate(sample_rate)).collect();
    exact.sort_by_key(|c| rank(c.sample_format()));
    if let Some(c) = exact.into_iter().next() {
        return Ok(c);
    }
    match dir {
        Dir::Input => device.default_input_config(),
        Dir::Output => device.default_output_config(),
    }
    .map_err(device_error)
}

/// Appends the samples of `data`, whatever their format, as f32 in [-1, 1].
fn data_to_f32(data: &cpal::Data, out: &mut Vec<f32>) -> bool {
    macro_rules! conv {
        ($($t:ty),*) => {$(
            if let Some(s) = data.as_slice::<$t>() {
                out.extend(s.iter().map(|&x| x.to_sample::<f32>()));
                return true;
            }
        )*};
    }
    conv!(f32, i16, i32, u16, u8, i8, f64, u32, i64, u64);
    false
}

/// Writes f32 samples into `data` in its format (silence for anything past `src`).
fn write_f32_to_data(src: &[f32], data: &mut cpal::Data) {
    macro_rules! conv {
        ($($t:ty),*) => {$(
            if let Some(d) = data.as_slice_mut::<$t>() {
                for (i, o) in d.iter_mut().enumerate() {
                    let s = src.get(i).copied().unwrap_or(0.0).clamp(-1.0, 1.0);
                    *o = <$t as Sample>::from_sample(s);
                }
                return;
            }
        )*};
    }
    conv!(f32, i16, i32, u16, u8, i8, f64, u32, i64, u64);
}

/// Streaming channel mapping + linear resampling of interleaved PCM, continuous across
/// chunks: the last input frame is held back until the next chunk arrives, so boundaries lose
/// nothing (100 chunks of 10 ms at 16 kHz give 47997 samples at 48 kHz, the other 3 come with
/// the next chunk). Channels: same count copied, many to
/// one averaged, one to many duplicated, otherwise channel `c` takes input `c % in`.
pub struct AudioConverter {
    in_ch: usize,
    out_ch: usize,
    /// Input frames per output frame.
    step: f64,
    /// Read position in `buf`, in frames.
    pos: f64,
    /// Channel-mapped input not yet consumed (keeps one frame of history).
    buf: Vec<f32>,
    /// Converted output, interleaved `out_ch`.
    out: Vec<f32>,
}

impl AudioConverter {
    pub fn new(in_rate: u32, in_ch: u16, out_rate: u32, out_ch: u16) -> Self {
        AudioConverter {
            in_ch: usize::from(in_ch.max(1)),
            out_ch: usize::from(out_ch.max(1)),
            step: f64::from(in_rate.max(1)) / f64::from(out_rate.max(1)),
            pos: 0.0,
            buf: Vec::new(),
            out: Vec::new(),
        }
    }

    /// Feeds interleaved i16 input.
    pub fn push_i16(&mut self, input: &[i16]) {
        let f: Vec<f32> = input.iter().map(|&s| f32::from(s) / 32768.0).collect();
        self.push(&f);
    }

    /// Takes all converted output so far as interleaved i16.
    pub fn take_i16(&mut self) -> Vec<i16> {
        self.out.drain(..).map(|s| (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16).collect()
    }

    /// Feeds interleaved f32 input in [-1, 1].
    pub fn push(&mut self, input: &[f32]) {
        let (ic, oc) = (self.in_ch, self.out_ch);
        let target = if self.step == 1.0 { &mut self.out } else { &mut self.buf };
        for frame in input.chunks_exact(ic) {
            if oc == ic {
                target.extend_from_slice(frame);
            } else if oc == 1 {
                target.push(frame.iter().sum::<f32>() / ic as f32);
            } else if ic == 1 {
                target.extend(std::iter::repeat_n(frame[0], oc));
            } else {
                target.extend((0..oc).map(|c| frame[c % ic]));
            }
        }
        if self.step == 1.0 {
            return;
        }
        let frames = self.buf.len() / oc;
        while self.pos + 1.0 < frames as f64 {
            let i = self.pos as usize;
            let frac = (self.pos - i as f64) as f32;
            for c in 0..oc {
                let a = self.buf[i * oc + c];
                let b = self.buf[(i + 1) * oc + c];
                self.out.push(a + (b - a) * frac);
            }
            self.pos += self.step;
        }
        let consumed = (self.pos as usize).min(frames);
        self.buf.drain(..consumed * oc);
        self.pos -= consumed as f64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::tone::{rms_dbfs, tone_power};
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    #[test]
    fn tone_device_paces_and_stops() {
        let frames = Arc::new(Mutex::new(Vec::<AudioFrame>::new()));
        let f = frames.clone();
        let started = Instant::now();
        let cap =
            open_record(SYNTHETIC_RECORD_DEVICE_ID, 48_000, 1, Box::new(move |fr| f.lock().expect("lock").push(fr))).expect("open tone");
        assert_eq!(cap.device_id(), SYNTHETIC_RECORD_DEVICE_ID);
        std::thread::sleep(Duration::from_millis(500));
        drop(cap);
        let elapsed = started.elapsed().as_secs_f64();
        let got = frames.lock().expect("lock").clone();
        let expected = elapsed * 1000.0 / f64::from(FRAME_MS);
        assert!((got.len() as f64 - expected).abs() <= expected * 0.2, "{} frames in {elapsed:.3} s", got.len());
        assert_eq!(Arc::strong_count(&frames), 1, "capture thread joined on drop");
        let pcm: Vec<i16> = got.iter().flat_map(|f| f.samples.iter().copied()).collect();
        assert!(got.iter().all(|f| f.samples.len() == 480 && f.sample_rate == 48_000 && f.channels == 1));
        assert!((tone_power(&pcm, 48_000, 1, TONE_HZ) - rms_dbfs(&pcm)).abs() < 0.5);
        // Timestamps: 10 ms apart, near the wall clock.
        assert!(got.windows(2).all(|w| w[1].timestamp_us - w[0].timestamp_us == 10_000));
        let last = got.last().expect("frames").timestamp_us;
        assert!(now_us().abs_diff(last) < 100_000, "{}", now_us().abs_diff(last));
        let n = got.len();
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(frames.lock().expect("lock").len(), n, "no frame after drop");
    }

    #[test]
    fn tone_device_odd_rates_are_exact_on_average() {
        assert_eq!((0..100).map(|k| samples_in_frame(k, 22_050)).sum::<usize>(), 22_050);
        assert_eq!((0..100).map(|k| samples_in_frame(k, 44_100)).sum::<usize>(), 44_100);
        let total = Arc::new(AtomicUsize::new(0));
        let t = total.clone();
        let cap = open_record(
            SYNTHETIC_RECORD_DEVICE_ID,
            22_050,
            2,
            Box::new(move |fr| {
                assert_eq!(fr.channels, 2);
                assert!(fr.samples.len() == 440 || fr.samples.len() == 442, "{}", fr.samples.len());
                t.fetch_add(fr.samples.len(), Relaxed);
            }),
        )
        .expect("open");
        std::thread::sleep(Duration::from_millis(100));
        drop(cap);
        assert!(total.load(Relaxed) > 0);
    }

    #[test]
    fn null_speaker_pulls_in_real_time_and_stops() {
        let pulls = Arc::new(AtomicUsize::new(0));
        let p = pulls.clone();
        let started = Instant::now();
        let out = open_playout(
            SYNTHETIC_PLAYOUT_DEVICE_ID,
            48_000,
            2,
            Box::new(move |buf: &mut [i16]| {
                assert_eq!(buf.len(), 960);
                p.fetch_add(1, Relaxed);
            }),
        )
        .expect("open null");
        std::thread::sleep(Duration::from_millis(500));
        drop(out);
        let elapsed = started.elapsed().as_secs_f64();
        let n = pulls.load(Relaxed) as f64;
        let expected = elapsed * 100.0;
        assert!((n - expected).abs() <= expected * 0.2, "{n} pulls in {elapsed:.3} s");
        assert_eq!(Arc::strong_count(&pulls), 1, "playout thread joined on drop");
    }

    #[test]
    fn unknown_ids_and_bad_formats_fail() {
        let e = open_record("no-such-mic", 48_000, 1, Box::new(|_| {})).err().expect("error");
        assert!(matches!(e, DeviceError::NotFound(ref id) if id == "no-such-mic"), "{e}");
        let e = open_playout("no-such-speaker", 48_000, 2, Box::new(|_| {})).err().expect("error");
        assert!(matches!(e, DeviceError::NotFound(_)), "{e}");
        let e = open_record(SYNTHETIC_RECORD_DEVICE_ID, 0, 1, Box::new(|_| {})).err().expect("error");
        assert!(matches!(e, DeviceError::InvalidArgument(_)), "{e}");
        let e = open_playout(SYNTHETIC_PLAYOUT_DEVICE_ID, 48_000, 0, Box::new(|_| {})).err().expect("error");
        assert!(matches!(e, DeviceError::InvalidArgument(_)), "{e}");
        // Never listed, never opened: ALSA's busy-looping null PCM.
        assert!(enumerate_playout_devices().iter().all(|d| !is_alsa_null(&d.device_id)));
        assert!(matches!(open_playout("alsa:null", 48_000, 2, Box::new(|_| {})), Err(DeviceError::NotFound(_))));
    }

    #[test]
    fn device_volume_and_mute_scale_the_pcm() {
        let g = DeviceGain::new();
        let mut pcm = [1000i16, -1000, 32767];
        g.apply(&mut pcm);
        assert_eq!(pcm, [1000, -1000, 32767], "unity by default");
        g.set_volume(1000);
        assert_eq!(g.volume(), 255, "clamped");
        g.set_volume(51);
        g.apply(&mut pcm);
        assert_eq!(pcm, [200, -200, 6553]);
        g.set_muted(true);
        g.apply(&mut pcm);
        assert_eq!(pcm, [0, 0, 0]);
        // On a running device too: the tone microphone goes silent when muted.
        let frames = Arc::new(Mutex::new(Vec::<AudioFrame>::new()));
        let f = frames.clone();
        let cap = open_record(SYNTHETIC_RECORD_DEVICE_ID, 48_000, 1, Box::new(move |fr| f.lock().expect("lock").push(fr))).expect("open");
        cap.gain().set_muted(true);
        std::thread::sleep(Duration::from_millis(60));
        drop(cap);
        let got = frames.lock().expect("lock");
        assert!(!got.is_empty() && got.iter().all(|f| f.samples.iter().all(|&s| s == 0)));
    }

    #[test]
    fn capture_clock_only_grows_and_follows_the_wall_clock() {
        let mut c = CaptureClock::new();
        let t0 = 1_000_000_000;
        // Bursty delivery: the observed start jitters by ±15 ms around the true schedule.
        let jitter = [0i64, 15_000, -15_000, 14_000, -9_000, 0, 12_000, -15_000];
        let stamps: Vec<u64> = (0..80).map(|k| c.stamp((t0 + k * 10_000 + jitter[k as usize % 8]) as u64)).collect();
        assert!(stamps.windows(2).all(|w| w[1] - w[0] == 10_000), "{stamps:?}");
        // A 500 ms gap (frames lost in an overrun): re-anchored to the wall clock.
        let after_gap = c.stamp((t0 + 80 * 10_000 + 500_000) as u64);
        assert_eq!(after_gap, (t0 + 80 * 10_000 + 500_000) as u64);
        // The wall clock jumping back does not make stamps go back.
        let back = c.stamp(t0 as u64);
        assert!(back > after_gap, "{back} after {after_gap}");
    }

    #[test]
    fn converter_is_continuous_across_chunks() {
        let mut c = AudioConverter::new(16_000, 2, 48_000, 1);
        let mut total = 0;
        for _ in 0..100 {
            c.push_i16(&[1000; 320]);
            let out = c.take_i16();
            assert!(out.iter().all(|&s| s == 1000), "{out:?}");
            total += out.len();
        }
        // All of it but the 3 output samples that wait for the next input frame.
        assert_eq!(total, 47_997);
    }

    #[test]
    fn converter_maps_channels_and_rates() {
        // Same rate, stereo -> mono average.
        let mut c = AudioConverter::new(48_000, 2, 48_000, 1);
        c.push(&[0.5, 0.1, -0.2, -0.4]);
        assert_eq!(c.out, vec![0.3, -0.3]);
        // Mono -> stereo duplicate.
        let mut c = AudioConverter::new(48_000, 1, 48_000, 2);
        c.push(&[0.25]);
        assert_eq!(c.out, vec![0.25, 0.25]);
        // 44.1k -> 48k keeps a 440 Hz tone and the rate, across chunk boundaries.
        let mut c = AudioConverter::new(44_100, 1, 48_000, 1);
        let mut tone = Tone::new(440.0, 44_100, 1, 0.5);
        for _ in 0..100 {
            let chunk: Vec<f32> = tone.next_frame(441).iter().map(|&s| f32::from(s) / 32768.0).collect();
            c.push(&chunk);
        }
        assert!((c.out.len() as i64 - 48_000).abs() <= 2, "{}", c.out.len());
        let pcm: Vec<i16> = c.out.iter().map(|&s| (s * 32767.0) as i16).collect();
        let level = rms_dbfs(&pcm);
        assert!((tone_power(&pcm, 48_000, 1, 440.0) - level).abs() < 0.5);
        assert!(tone_power(&pcm, 48_000, 1, 480.0) < level - 40.0);
    }
}
