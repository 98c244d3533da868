//! Devices shared by an engine and the channels made from it (`createChannel`).
//!
//! An engine and its `NERtcChannel`s each run their own session, encoders and mixer, but there
//! is one camera, one microphone and one speaker: a real camera opens once (V4L2 refuses a
//! second opener), and echo cancellation must hear everything the speaker plays. So every
//! engine opens devices through a [`DeviceHub`] that its channels share:
//!
//! - **Camera**: opened once per device id, at the largest size and the highest frame rate any
//!   holder asks for (reopened when a new holder needs more). Each holder gets frames at its own
//!   size (center-cropped and scaled) and rate.
//! - **Microphone**: opened once per device id and format; each holder's frames pass through
//!   its own volume/mute ([`DeviceGain`]).
//! - **Speaker**: opened once per device id and format; each 10 ms period sums what every
//!   holder pulls (each through its own volume), and every holder's echo reference (its echo
//!   canceller) sees that sum — what the speaker really plays.
//!
//! A holder owns a [`Lease`]; dropping it unsubscribes, and the last one closes the device
//! (joining its thread, as the device handles do). A device that goes away tells every holder
//! once; the next holder to open it opens it again.
//!
//! Locks: the registry's mutex is held while a device opens or closes (so a close and a reopen
//! of the same device never overlap); the holders' list has its own mutex, which the device's
//! thread takes for each period. A device thread never takes the registry's mutex, so closing
//! (joining that thread) under it cannot deadlock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use super::audio::{AudioCapture, AudioPlayout, DeviceGain, OnAudioFrame, PullAudio};
use super::camera::{OnLost, VideoCapture};
use super::convert::Converter;
use super::{DeviceError, open_camera_with, open_playout_with, open_record_with};
use crate::frame::{AudioFrame, VideoFrame};
use crate::shared::lock;

/// Called with what the speaker plays, 10 ms at a time (an echo canceller's reference).
pub type OnRender = Box<dyn FnMut(&[i16]) + Send>;

/// The devices of one engine and its channels. Cheap to share (`Arc`).
#[derive(Default)]
pub struct DeviceHub {
    cameras: Registry<Camera>,
    mics: Registry<Mic>,
    speakers: Registry<Speaker>,
}

impl DeviceHub {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Frames of camera `id` at `width` x `height`, at most `fps` a second.
    pub fn open_camera(
        self: &Arc<Self>,
        id: &str,
        (width, height, fps): (u32, u32, u32),
        on_frame: Box<dyn FnMut(VideoFrame) + Send>,
        on_lost: OnLost,
    ) -> Result<Lease, DeviceError> {
        let holder = CameraHolder { width, height, fps, last_us: None, scaler: Converter::new(), on_frame };
        self.cameras.join(id.to_owned(), id, holder, on_lost).map(|h| Lease::new(self, Kind::Camera, h))
    }

    /// 10 ms frames of microphone `id` through `gain`.
    pub fn open_record(
        self: &Arc<Self>,
        id: &str,
        (sample_rate, channels): (u32, u16),
        gain: DeviceGain,
        on_frame: OnAudioFrame,
        on_lost: OnLost,
    ) -> Result<Lease, DeviceError> {
        let key = format!("{id}@{sample_rate}/{channels}");
        let holder = MicHolder { format: (sample_rate, channels), gain, on_frame };
        self.mics.join(key, id, holder, on_lost).map(|h| Lease::new(self, Kind::Mic, h))
    }

    /// Plays what `pull` gives (through `gain`) on speaker `id`, mixed with the other holders';
    /// `on_render` sees the mix.
    pub fn open_playout(
        self: &Arc<Self>,
        id: &str,
        (sample_rate, channels): (u32, u16),
        gain: DeviceGain,
        pull: PullAudio,
        on_render: Option<OnRender>,
        on_lost: OnLost,
    ) -> Result<Lease, DeviceError> {
        let key = format!("{id}@{sample_rate}/{channels}");
        let holder = SpeakerHolder { format: (sample_rate, channels), gain, pull, on_render, buf: Vec::new() };
        self.speakers.join(key, id, holder, on_lost).map(|h| Lease::new(self, Kind::Speaker, h))
    }

    /// How many devices are open now (each counted once, however many hold it).
    pub fn open_devices(&self) -> usize {
        self.cameras.open() + self.mics.open() + self.speakers.open()
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Camera,
    Mic,
    Speaker,
}

/// A holder's use of a device; dropping it lets go (the last holder closes the device).
pub struct Lease {
    hub: Arc<DeviceHub>,
    kind: Kind,
    handle: Handle,
}

impl Lease {
    fn new(hub: &Arc<DeviceHub>, kind: Kind, handle: Handle) -> Self {
        Lease { hub: hub.clone(), kind, handle }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        match self.kind {
            Kind::Camera => self.hub.cameras.leave(&self.handle),
            Kind::Mic => self.hub.mics.leave(&self.handle),
            Kind::Speaker => self.hub.speakers.leave(&self.handle),
        }
    }
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Lease({:?} {})", self.kind, self.handle.key)
    }
}

/// Which registry entry and which holder in it.
struct Handle {
    key: String,
    holder: u64,
}

/// One kind of device: how to open it for its holders and hand each of them its share.
trait DeviceKind: Sized + Send + 'static {
    type Holder: Send + 'static;
    type Device: Send + 'static;
    /// The device must be (re)opened for these holders: the open one no longer fits them.
    fn stale(_device: &Self::Device, _holders: &Holders<Self>) -> bool {
        false
    }
    /// Opens device `id` for `holders` (the device's thread reads them each period).
    fn open(id: &str, holders: &Arc<Mutex<Holders<Self>>>, on_lost: OnLost) -> Result<Self::Device, DeviceError>;
}

/// The holders of one open device, in arrival order.
struct Holders<K: DeviceKind> {
    list: Vec<Holder<K>>,
}

struct Holder<K: DeviceKind> {
    id: u64,
    inner: K::Holder,
    on_lost: Option<OnLost>,
}

struct Entry<K: DeviceKind> {
    holders: Arc<Mutex<Holders<K>>>,
    device: Option<K::Device>,
    /// Set (by the device's thread) when the device went away: the next joiner reopens it.
    lost: Arc<AtomicBool>,
}

struct Registry<K: DeviceKind> {
    entries: Mutex<HashMap<String, Entry<K>>>,
    next: AtomicU64,
}

impl<K: DeviceKind> Default for Registry<K> {
    fn default() -> Self {
        Registry { entries: Mutex::new(HashMap::new()), next: AtomicU64::new(1) }
    }
}

impl<K: DeviceKind> Registry<K> {
    fn join(&self, key: String, id: &str, inner: K::Holder, on_lost: OnLost) -> Result<Handle, DeviceError> {
        let holder = self.next.fetch_add(1, Relaxed);
        let mut entries = lock(&self.entries);
        let entry = entries.entry(key.clone()).or_insert_with(|| Entry {
            holders: Arc::new(Mutex::new(Holders { list: Vec::new() })),
            device: None,
            lost: Arc::new(AtomicBool::new(false)),
        });
        lock(&entry.holders).list.push(Holder { id: holder, inner, on_lost: Some(on_lost) });
        let reopen = entry.lost.load(Relaxed) || entry.device.as_ref().is_none_or(|d| K::stale(d, &lock(&entry.holders)));
        if reopen {
            // Close first: a camera cannot be open twice.
            entry.device = None;
            entry.lost.store(false, Relaxed);
            match K::open(id, &entry.holders, fan_out_loss(&entry.holders, &entry.lost)) {
                Ok(d) => entry.device = Some(d),
                Err(e) => {
                    lock(&entry.holders).list.retain(|h| h.id != holder);
                    // Give the others back what they had (or drop the entry with nobody left).
                    if lock(&entry.holders).list.is_empty() {
                        entries.remove(&key);
                    } else if let Ok(d) = K::open(id, &entry.holders, fan_out_loss(&entry.holders, &entry.lost)) {
                        entry.device = Some(d);
                    }
                    return Err(e);
                }
            }
        }
        Ok(Handle { key, holder })
    }

    fn leave(&self, handle: &Handle) {
        let mut entries = lock(&self.entries);
        let Some(entry) = entries.get_mut(&handle.key) else { return };
        let empty = {
            let mut holders = lock(&entry.holders);
            holders.list.retain(|h| h.id != handle.holder);
            holders.list.is_empty()
        };
        if empty {
            // Dropping the device joins its thread; the holders' lock is free by now.
            entries.remove(&handle.key);
        }
    }

    fn open(&self) -> usize {
        lock(&self.entries).values().filter(|e| e.device.is_some()).count()
    }
}

/// The device's "gone" callback: flags the entry and tells every holder once.
fn fan_out_loss<K: DeviceKind>(holders: &Arc<Mutex<Holders<K>>>, lost: &Arc<AtomicBool>) -> OnLost {
    let (holders, lost) = (holders.clone(), lost.clone());
    Box::new(move |e: DeviceError| {
        lost.store(true, Relaxed);
        let callbacks: Vec<OnLost> = lock(&holders).list.iter_mut().filter_map(|h| h.on_lost.take()).collect();
        for f in callbacks {
            f(e.duplicate());
        }
    })
}

// ----- camera ---------------------------------------------------------------------------

struct Camera;

struct CameraHolder {
    width: u32,
    height: u32,
    fps: u32,
    last_us: Option<u64>,
    scaler: Converter,
    on_frame: Box<dyn FnMut(VideoFrame) + Send>,
}

impl CameraHolder {
    /// Whether a frame at `ts_us` is due for a holder asking `fps` of a `device_fps` camera:
    /// a 1/fps interval (less a fifth, for capture jitter) passed since its last one.
    fn due(&mut self, ts_us: u64, device_fps: u32) -> bool {
        if self.fps < device_fps
            && let Some(last) = self.last_us
            && ts_us.saturating_sub(last) < 800_000 / u64::from(self.fps.max(1))
        {
            return false;
        }
        self.last_us = Some(ts_us);
        true
    }
}

/// The format a camera opens with for these holders: the largest size asked (by area), the
/// highest rate.
fn camera_format(holders: &Holders<Camera>) -> (u32, u32, u32) {
    let largest = holders.list.iter().map(|h| &h.inner).max_by_key(|h| u64::from(h.width) * u64::from(h.height));
    let fps = holders.list.iter().map(|h| h.inner.fps).max().unwrap_or(1);
    largest.map_or((1, 1, fps), |h| (h.width, h.height, fps))
}

impl DeviceKind for Camera {
    type Holder = CameraHolder;
    type Device = (VideoCapture, (u32, u32, u32));

    fn stale(device: &Self::Device, holders: &Holders<Self>) -> bool {
        device.1 != camera_format(holders)
    }

    fn open(id: &str, holders: &Arc<Mutex<Holders<Self>>>, on_lost: OnLost) -> Result<Self::Device, DeviceError> {
        let format @ (w, h, fps) = camera_format(&lock(holders));
        let shared = holders.clone();
        let on_frame = Box::new(move |frame: VideoFrame| {
            let mut holders = lock(&shared);
            let n = holders.list.len();
            let mut frame = Some(frame);
            for (i, holder) in holders.list.iter_mut().enumerate() {
                let h = &mut holder.inner;
                let Some(f) = frame.as_ref() else { break };
                if !h.due(f.timestamp_us, fps) {
                    continue;
                }
                let out = if (f.width, f.height) != (h.width, h.height) {
                    h.scaler.crop_scale(f, h.width, h.height)
                } else if i + 1 == n {
                    frame.take().expect("checked Some above in this iteration")
                } else {
                    f.clone()
                };
                (h.on_frame)(out);
            }
        });
        open_camera_with(id, w, h, fps, on_frame, on_lost).map(|c| (c, format))
    }
}

// ----- microphone -----------------------------------------------------------------------

struct Mic;

struct MicHolder {
    format: (u32, u16),
    gain: DeviceGain,
    on_frame: OnAudioFrame,
}

impl DeviceKind for Mic {
    type Holder = MicHolder;
    type Device = AudioCapture;

    fn open(id: &str, holders: &Arc<Mutex<Holders<Self>>>, on_lost: OnLost) -> Result<Self::Device, DeviceError> {
        let (rate, channels) = lock(holders).list.first().map_or((48_000, 1), |h| h.inner.format);
        let shared = holders.clone();
        let on_frame = Box::new(move |frame: AudioFrame| {
            let mut holders = lock(&shared);
            let n = holders.list.len();
            let mut frame = Some(frame);
            for (i, holder) in holders.list.iter_mut().enumerate() {
                let Some(f) = frame.as_ref() else { break };
                let mut mine = if i + 1 == n { frame.take().expect("checked Some above in this iteration") } else { f.clone() };
                holder.inner.gain.apply(&mut mine.samples);
                (holder.inner.on_frame)(mine);
            }
        });
        // The device itself runs at unity gain: each holder applies its own.
        open_record_with(id, rate, channels, DeviceGain::new(), on_frame, on_lost)
    }
}

// ----- speaker --------------------------------------------------------------------------

struct Speaker;

struct SpeakerHolder {
    format: (u32, u16),
    gain: DeviceGain,
    pull: PullAudio,
    on_render: Option<OnRender>,
    /// This holder's part of the period, before mixing.
    buf: Vec<i16>,
}

/// One playout period: the sum of every holder's part (saturating), then every echo reference.
fn mix_period(holders: &mut Holders<Speaker>, out: &mut [i16]) {
    if let [only] = holders.list.as_mut_slice() {
        let h = &mut only.inner;
        (h.pull)(out);
        h.gain.apply(out);
    } else {
        out.fill(0);
        for holder in holders.list.iter_mut() {
            let h = &mut holder.inner;
            h.buf.clear();
            h.buf.resize(out.len(), 0);
            (h.pull)(&mut h.buf);
            h.gain.apply(&mut h.buf);
            out.iter_mut().zip(&h.buf).for_each(|(o, s)| *o = o.saturating_add(*s));
        }
    }
    for holder in holders.list.iter_mut() {
        if let Some(render) = holder.inner.on_render.as_mut() {
            render(out);
        }
    }
}

impl DeviceKind for Speaker {
    type Holder = SpeakerHolder;
    type Device = AudioPlayout;

    fn open(id: &str, holders: &Arc<Mutex<Holders<Self>>>, on_lost: OnLost) -> Result<Self::Device, DeviceError> {
        let (rate, channels) = lock(holders).list.first().map_or((48_000, 2), |h| h.inner.format);
        let shared = holders.clone();
        let pull = Box::new(move |out: &mut [i16]| mix_period(&mut lock(&shared), out));
        open_playout_with(id, rate, channels, DeviceGain::new(), pull, on_lost)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;
    use crate::device::{SYNTHETIC_PLAYOUT_DEVICE_ID, SYNTHETIC_RECORD_DEVICE_ID, SYNTHETIC_VIDEO_DEVICE_ID};

    /// The first `n` values (waiting up to 10 s: the machine may be busy).
    fn first_n<T>(rx: &mpsc::Receiver<T>, n: usize) -> Vec<T> {
        (0..n).map_while(|_| rx.recv_timeout(Duration::from_secs(10)).ok()).collect()
    }

    fn no_loss() -> OnLost {
        Box::new(|_| {})
    }

    #[test]
    fn one_camera_serves_each_holder_at_its_own_size_and_rate() {
        let hub = DeviceHub::new();
        let (big_tx, big) = mpsc::channel::<(u32, u32)>();
        let (small_tx, small) = mpsc::channel::<(u32, u32)>();
        let a = hub
            .open_camera(
                SYNTHETIC_VIDEO_DEVICE_ID,
                (320, 240, 10),
                Box::new(move |f| {
                    let _ = small_tx.send((f.width, f.height));
                }),
                no_loss(),
            )
            .expect("the synthetic camera opens");
        let b = hub
            .open_camera(
                SYNTHETIC_VIDEO_DEVICE_ID,
                (640, 480, 20),
                Box::new(move |f| {
                    let _ = big_tx.send((f.width, f.height));
                }),
                no_loss(),
            )
            .expect("the synthetic camera opens");
        assert_eq!(hub.open_devices(), 1, "both holders share one camera");
        // Until the larger holder has 20 frames (1 s at 20 fps; longer on a busy machine).
        let (mut big_sizes, mut small_sizes) = (Vec::new(), Vec::new());
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while big_sizes.len() < 20 && std::time::Instant::now() < deadline {
            big_sizes.extend(big.recv_timeout(Duration::from_millis(100)).ok());
            small_sizes.extend(small.try_iter());
        }
        assert!(big_sizes.len() >= 20 && !small_sizes.is_empty(), "{} / {} frames", big_sizes.len(), small_sizes.len());
        assert!(
            big_sizes.iter().all(|&s| s == (640, 480)) && small_sizes.iter().all(|&s| s == (320, 240)),
            "{big_sizes:?} {small_sizes:?}"
        );
        drop(b);
        assert_eq!(hub.open_devices(), 1, "the other holder keeps it open");
        drop(a);
        assert_eq!(hub.open_devices(), 0, "the last holder closes it");
    }

    #[test]
    fn a_holder_asking_a_lower_rate_gets_every_frame_due() {
        let mut h = CameraHolder { width: 2, height: 2, fps: 10, last_us: None, scaler: Converter::new(), on_frame: Box::new(|_| {}) };
        // A 20 fps camera: every other frame is due at 10 fps; jitter of a few ms is allowed.
        let due: Vec<bool> = [0, 50_000, 100_000, 148_000, 200_000, 252_000, 300_000].iter().map(|&t| h.due(t, 20)).collect();
        assert_eq!(due, [true, false, true, false, true, false, true]);
        // At the camera's own rate (or above it), every frame is.
        let mut all = CameraHolder { fps: 20, last_us: None, ..h };
        assert!([0, 10_000, 20_000].iter().all(|&t| all.due(t, 20)));
    }

    #[test]
    fn one_microphone_serves_each_holder_through_its_own_gain() {
        let hub = DeviceHub::new();
        let (tx_loud, loud) = mpsc::channel::<i16>();
        let (tx_muted, muted) = mpsc::channel::<i16>();
        let peak = |f: &AudioFrame| f.samples.iter().map(|s| s.saturating_abs()).max().unwrap_or(0);
        let muted_gain = DeviceGain::new();
        muted_gain.set_muted(true);
        let _a = hub
            .open_record(
                SYNTHETIC_RECORD_DEVICE_ID,
                (48_000, 1),
                DeviceGain::new(),
                Box::new(move |f| {
                    let _ = tx_loud.send(peak(&f));
                }),
                no_loss(),
            )
            .expect("the tone generator opens");
        let _b = hub
            .open_record(
                SYNTHETIC_RECORD_DEVICE_ID,
                (48_000, 1),
                muted_gain,
                Box::new(move |f| {
                    let _ = tx_muted.send(peak(&f));
                }),
                no_loss(),
            )
            .expect("the tone generator opens");
        assert_eq!(hub.open_devices(), 1);
        let (loud, muted) = (first_n(&loud, 10), first_n(&muted, 10));
        assert!(loud.len() >= 10 && muted.len() >= 10, "{} / {} frames", loud.len(), muted.len());
        assert!(loud.iter().all(|&p| p > 1000), "the tone: {loud:?}");
        assert!(muted.iter().all(|&p| p == 0), "muted: {muted:?}");
    }

    #[test]
    fn the_speaker_plays_the_sum_and_every_echo_reference_hears_it() {
        let hub = DeviceHub::new();
        let (tx, heard) = mpsc::channel::<(i16, i16)>();
        let tx2 = tx.clone();
        let first = |v: i16| -> PullAudio { Box::new(move |out: &mut [i16]| out.fill(v)) };
        let reference = |tag: i16, tx: mpsc::Sender<(i16, i16)>| -> Option<OnRender> {
            Some(Box::new(move |out: &[i16]| {
                let _ = tx.send((tag, out[0]));
            }))
        };
        let _a = hub
            .open_playout(SYNTHETIC_PLAYOUT_DEVICE_ID, (48_000, 2), DeviceGain::new(), first(1000), reference(1, tx), no_loss())
            .expect("the null speaker opens");
        let half = DeviceGain::new();
        half.set_volume(DeviceGain::MAX_VOLUME / 2 + 1);
        let _b = hub
            .open_playout(SYNTHETIC_PLAYOUT_DEVICE_ID, (48_000, 2), half, first(30_000), reference(2, tx2), no_loss())
            .expect("the null speaker opens");
        assert_eq!(hub.open_devices(), 1);
        // The first periods may have only A's part (B joins a running speaker).
        let heard = first_n(&heard, 30);
        let both: Vec<_> = heard.iter().filter(|(_, v)| *v > 1000).collect();
        assert!(both.len() >= 6, "{heard:?}");
        // 1000 + 30000 * 128/255 = 16059; both references see the same mix.
        assert!(both.iter().all(|(_, v)| (16_000..=16_120).contains(v)), "{both:?}");
        assert!(both.iter().any(|(t, _)| *t == 1) && both.iter().any(|(t, _)| *t == 2));
    }

    #[test]
    fn a_device_that_fails_to_open_leaves_nothing_behind() {
        let hub = DeviceHub::new();
        let e = hub.open_record("no-such-microphone", (48_000, 1), DeviceGain::new(), Box::new(|_| {}), no_loss());
        assert!(matches!(e, Err(DeviceError::NotFound(_))), "{e:?}");
        assert_eq!(hub.open_devices(), 0);
        assert!(lock(&hub.mics.entries).is_empty());
    }
}
