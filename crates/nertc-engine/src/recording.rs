//! `startAudioRecording(WithConfig)` and `startAudioDump`: the call's audio into a WAV or AAC
//! file.
//!
//! Two taps feed a writer thread through a bounded queue (2 s; full → the block is dropped,
//! never waited for): what is sent (microphone after voice effects, plus mixing and effects;
//! the audio encoder's hook) and what is played (the remote users' mix; the speaker's pull).
//! Both are 48 kHz mono; the writer converts to the asked rate. Position (NERTC's
//! `NERtcAudioRecordingPosition`): 0 both mixed (the speaker's pulls pace it; what was sent is
//! added from a FIFO), 1 only what is sent, 2 only what is played. The file's name picks the
//! format: `.wav` 16-bit PCM, `.aac` mono AAC-LC in ADTS frames (aac.rs; the quality picks the
//! bit rate: 32/64/96 kb/s). `.aac` needs the default `aac` feature (Fraunhofer's FDK encoder,
//! C++); built without it `.aac` is refused with NERTC's "unsupported type".
//! A dump's file is created with its first audio (none outside a channel: no empty file).
//! A cycle time N keeps the last N seconds in memory and writes them at the stop.
//! `onAudioRecording(code, path)`: 3 started, 5 finished, 1 unsupported type, 2 cannot create
//! the file, 4 write error (NERTC's `NERtcAudioRecordingCode`).

use std::collections::VecDeque;
use std::sync::Mutex;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::device::AudioConverter;
use crate::event::{EngineEvent, Events};
use crate::shared::lock;

#[cfg(feature = "aac")]
pub mod aac;

/// NERTC's `NERtcAudioRecordingCode`.
pub mod recording_code {
    pub const UNSUPPORTED_TYPE: i32 = 1;
    pub const OPEN_FILE_FAILED: i32 = 2;
    pub const START: i32 = 3;
    pub const ERROR: i32 = 4;
    pub const FINISH: i32 = 5;
}

/// NERTC's `NERtcAudioRecordingPosition`.
pub mod position {
    pub const MIXED: i32 = 0;
    pub const RECORDING: i32 = 1;
    pub const PLAYBACK: i32 = 2;
}

/// `NERtcAudioRecordingConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingConfig {
    pub file_path: String,
    /// 16000, 32000, 44100 or 48000.
    pub sample_rate: u32,
    /// 0 low, 1 medium, 2 high: AAC's bit rate (32, 64, 96 kb/s mono); a WAV is always
    /// 16-bit PCM.
    pub quality: i32,
    pub position: i32,
    /// NERTC's cycle time (0, 10, 60, 360, 900 s): 0 writes the whole call as it comes; N
    /// keeps only the last N seconds (in memory, at most 900 s × the rate × 2 bytes) and
    /// writes them when the recording stops.
    pub cycle_time: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    InvalidParam(String),
    /// `.aac` in a build without the `aac` feature.
    Unsupported(String),
    NotRecording,
}

enum Tap {
    Sent(Vec<i16>),
    Played(Vec<i16>),
}

struct Active {
    tx: Sender<Tap>,
    position: i32,
}

/// One recorder (the engine has two: `startAudioRecording` and `startAudioDump`).
pub struct Recording {
    active: Mutex<Option<Active>>,
    /// Writer threads, joined at release (each ends when its queue's sender is dropped).
    writers: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// None: no events (the dump).
    events: Option<Events>,
}

impl Recording {
    pub fn new(events: Option<Events>) -> Self {
        Recording { active: Mutex::new(None), writers: Mutex::new(Vec::new()), events }
    }

    pub fn start(&self, cfg: RecordingConfig) -> Result<(), RecordError> {
        let ext = std::path::Path::new(&cfg.file_path).extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("wav") => {}
            // Dumps only: raw 16-bit little-endian mono PCM (NERTC's kNERtcAudioDumpTypePCM).
            Some("dump") if self.events.is_none() => {}
            #[cfg(feature = "aac")]
            Some("aac") => {}
            #[cfg(not(feature = "aac"))]
            Some("aac") => {
                if let Some(ev) = &self.events {
                    ev.send(EngineEvent::AudioRecording { code: recording_code::UNSUPPORTED_TYPE, file_path: cfg.file_path.clone() });
                }
                return Err(RecordError::Unsupported(format!("{}: built without the `aac` feature", cfg.file_path)));
            }
            _ => return Err(RecordError::InvalidParam(format!("{}: the file must end in .wav or .aac", cfg.file_path))),
        }
        if ![16_000, 32_000, 44_100, 48_000].contains(&cfg.sample_rate) {
            return Err(RecordError::InvalidParam(format!("sample rate {}", cfg.sample_rate)));
        }
        if !(0..=2).contains(&cfg.quality) || !(0..=2).contains(&cfg.position) {
            return Err(RecordError::InvalidParam(format!("quality {} / position {}", cfg.quality, cfg.position)));
        }
        if ![0, 10, 60, 360, 900].contains(&cfg.cycle_time) {
            return Err(RecordError::InvalidParam(format!("cycle time {}", cfg.cycle_time)));
        }
        let _ = self.stop();
        let (tx, rx) = crossbeam_channel::bounded(200);
        let events = self.events.clone();
        let position = cfg.position;
        let handle = std::thread::Builder::new()
            .name("nertc-recording".into())
            .spawn(move || write_loop(rx, cfg, events))
            .map_err(|e| RecordError::InvalidParam(format!("cannot start the recording thread: {e}")))?;
        let mut writers = lock(&self.writers);
        writers.retain(|h| !h.is_finished());
        writers.push(handle);
        *lock(&self.active) = Some(Active { tx, position });
        Ok(())
    }

    /// Ends the recording; the writer finishes the file and fires "finished" on its own.
    pub fn stop(&self) -> Result<(), RecordError> {
        lock(&self.active).take().map(|_| ()).ok_or(RecordError::NotRecording)
    }

    pub fn is_recording(&self) -> bool {
        lock(&self.active).is_some()
    }

    /// Waits for every writer (release).
    pub fn release(&self) {
        let _ = self.stop();
        for h in lock(&self.writers).drain(..) {
            let _ = h.join();
        }
    }

    fn tap(&self, want: i32, make: impl FnOnce() -> Tap) {
        let active = lock(&self.active);
        let Some(a) = active.as_ref() else { return };
        if a.position != position::MIXED && a.position != want {
            return;
        }
        if let Err(TrySendError::Full(_)) = a.tx.try_send(make()) {
            tracing::trace!("recording writer behind; block dropped");
        }
    }

    /// What is sent (48 kHz mono).
    pub fn tap_local(&self, pcm: &[i16]) {
        self.tap(position::RECORDING, || Tap::Sent(pcm.to_vec()));
    }

    /// What is played: interleaved 48 kHz `channels` (averaged to mono).
    pub fn tap_remote(&self, pcm: &[i16], channels: usize) {
        let ch = channels.max(1);
        self.tap(position::PLAYBACK, || {
            Tap::Played(pcm.chunks_exact(ch).map(|f| (f.iter().map(|&s| i32::from(s)).sum::<i32>() / ch as i32) as i16).collect())
        });
    }
}

/// The file being written: a WAV, an ADTS stream (`.aac`), or raw PCM (a dump's `.dump`).
enum Sink {
    Wav(hound::WavWriter<std::io::BufWriter<std::fs::File>>),
    #[cfg(feature = "aac")]
    Aac(aac::AacWriter<std::io::BufWriter<std::fs::File>>),
    Raw(std::io::BufWriter<std::fs::File>),
}

impl Sink {
    fn create(cfg: &RecordingConfig) -> Result<Sink, String> {
        let path = &cfg.file_path;
        let file = || std::fs::File::create(path).map(std::io::BufWriter::new).map_err(|e| e.to_string());
        if path.ends_with(".dump") {
            return file().map(Sink::Raw);
        }
        #[cfg(feature = "aac")]
        if std::path::Path::new(path).extension().is_some_and(|e| e.eq_ignore_ascii_case("aac")) {
            return aac::AacWriter::new(file()?, cfg.sample_rate, cfg.quality).map(Sink::Aac);
        }
        let spec =
            hound::WavSpec { channels: 1, sample_rate: cfg.sample_rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
        hound::WavWriter::create(path, spec).map(Sink::Wav).map_err(|e| e.to_string())
    }

    fn write(&mut self, pcm: &[i16]) -> Result<(), String> {
        match self {
            Sink::Wav(w) => pcm.iter().try_for_each(|&s| w.write_sample(s)).map_err(|e| e.to_string()),
            #[cfg(feature = "aac")]
            Sink::Aac(w) => w.write(pcm),
            Sink::Raw(w) => {
                let bytes: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
                std::io::Write::write_all(w, &bytes).map_err(|e| e.to_string())
            }
        }
    }

    fn finalize(self) -> Result<(), String> {
        match self {
            Sink::Wav(w) => w.finalize().map_err(|e| e.to_string()),
            #[cfg(feature = "aac")]
            Sink::Aac(w) => w.finish().map(drop),
            Sink::Raw(mut w) => std::io::Write::flush(&mut w).map_err(|e| e.to_string()),
        }
    }
}

fn write_loop(rx: Receiver<Tap>, cfg: RecordingConfig, events: Option<Events>) {
    let emit = |code: i32| {
        if let Some(ev) = &events {
            ev.send(EngineEvent::AudioRecording { code, file_path: cfg.file_path.clone() });
        }
    };
    // A dump (no events) creates its file with the first audio: a dump started with nothing
    // flowing (outside a channel) leaves no empty file behind.
    let mut first = None;
    if events.is_none() {
        match rx.recv() {
            Ok(tap) => first = Some(tap),
            Err(_) => return,
        }
    }
    let mut w = match Sink::create(&cfg) {
        Ok(w) => w,
        Err(e) => {
            tracing::error!("audio recording: cannot create {}: {e}", cfg.file_path);
            emit(recording_code::OPEN_FILE_FAILED);
            return;
        }
    };
    tracing::info!("audio recording to {} ({} Hz, position {})", cfg.file_path, cfg.sample_rate, cfg.position);
    emit(recording_code::START);
    let mut conv = AudioConverter::new(48_000, 1, cfg.sample_rate, 1);
    let mut sent: VecDeque<i16> = VecDeque::new();
    // With a cycle time: the last `keep` samples, written at the end.
    let keep = (cfg.cycle_time > 0).then(|| cfg.cycle_time as usize * cfg.sample_rate as usize);
    let mut ring: VecDeque<i16> = VecDeque::new();
    for tap in first.into_iter().chain(rx.iter()) {
        let block = match (cfg.position, tap) {
            (position::MIXED, Tap::Sent(p)) => {
                sent.extend(p);
                let over = sent.len().saturating_sub(9600);
                sent.drain(..over);
                continue;
            }
            (position::MIXED, Tap::Played(p)) => {
                p.iter().map(|&r| (i32::from(r) + i32::from(sent.pop_front().unwrap_or(0))).clamp(-32768, 32767) as i16).collect()
            }
            (_, Tap::Sent(p) | Tap::Played(p)) => p,
        };
        conv.push_i16(&block);
        let out = conv.take_i16();
        if let Some(keep) = keep {
            ring.extend(out);
            let over = ring.len().saturating_sub(keep);
            ring.drain(..over);
            continue;
        }
        if let Err(e) = w.write(&out) {
            tracing::error!("audio recording: write to {} failed: {e}", cfg.file_path);
            emit(recording_code::ERROR);
            return;
        }
    }
    if let Err(e) = w.write(ring.make_contiguous()) {
        tracing::error!("audio recording: write to {} failed: {e}", cfg.file_path);
        emit(recording_code::ERROR);
        return;
    }
    match w.finalize() {
        Ok(()) => emit(recording_code::FINISH),
        Err(e) => {
            tracing::error!("audio recording: finishing {} failed: {e}", cfg.file_path);
            emit(recording_code::ERROR);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn wait_code(rx: &crossbeam_channel::Receiver<EngineEvent>, want: i32) {
        loop {
            match rx.recv_timeout(Duration::from_secs(5)).expect("an event in time") {
                EngineEvent::AudioRecording { code, .. } if code == want => return,
                _ => {}
            }
        }
    }

    fn wav_len(path: &std::path::Path) -> (u32, Vec<i16>) {
        let mut r = hound::WavReader::open(path).expect("open");
        let rate = r.spec().sample_rate;
        (rate, r.samples::<i16>().map(|s| s.expect("sample")).collect())
    }

    #[test]
    fn positions_mix_and_resample_and_the_cycle_time_keeps_the_tail() {
        let (events, rx) = Events::channel();
        let rec = Recording::new(Some(events));
        let dir = std::env::temp_dir();
        let path = dir.join(format!("nertc-rec-unit-{}.wav", std::process::id()));
        let cfg = |position, cycle_time| RecordingConfig {
            file_path: path.to_string_lossy().into_owned(),
            sample_rate: 16_000,
            quality: 0,
            position,
            cycle_time,
        };
        // Mixed: sent 1000 + played 2000 in each sample.
        rec.start(cfg(position::MIXED, 0)).expect("start");
        wait_code(&rx, recording_code::START);
        for _ in 0..100 {
            rec.tap_local(&[1000; 480]);
            rec.tap_remote(&[2000; 960], 2);
        }
        rec.stop().expect("stop");
        wait_code(&rx, recording_code::FINISH);
        let (rate, pcm) = wav_len(&path);
        assert_eq!(rate, 16_000);
        assert!((pcm.len() as i64 - 16_000).abs() <= 2, "1 s at 16 kHz: {}", pcm.len());
        assert!(pcm[100..pcm.len() - 100].iter().all(|&s| s == 3000), "sent + played");
        // Sent only: the played side is left out.
        rec.start(cfg(position::RECORDING, 0)).expect("start");
        wait_code(&rx, recording_code::START);
        for _ in 0..10 {
            rec.tap_local(&[1000; 480]);
            rec.tap_remote(&[2000; 960], 2);
        }
        rec.stop().expect("stop");
        wait_code(&rx, recording_code::FINISH);
        let (_, pcm) = wav_len(&path);
        assert!(pcm[10..pcm.len() - 10].iter().all(|&s| s == 1000));
        // A 10 s cycle over 12 s of played audio (a ramp of block numbers): the last 10 s.
        rec.start(cfg(position::PLAYBACK, 10)).expect("start");
        wait_code(&rx, recording_code::START);
        for i in 0..1200 {
            rec.tap_remote(&[i as i16; 480], 1);
            if i % 50 == 0 {
                // The writer's queue holds 2 s: let it drain.
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        rec.stop().expect("stop");
        wait_code(&rx, recording_code::FINISH);
        let (_, pcm) = wav_len(&path);
        assert_eq!(pcm.len(), 160_000, "exactly 10 s kept");
        assert_eq!(pcm[pcm.len() - 1], 1199, "ends with the last block");
        assert!((199..=201).contains(&pcm[0]), "starts 10 s before the end: block {}", pcm[0]);
        let aac_path = dir.join(format!("nertc-rec-unit-{}.aac", std::process::id()));
        let aac_cfg =
            |position, cycle_time| RecordingConfig { file_path: aac_path.to_string_lossy().into_owned(), ..cfg(position, cycle_time) };
        #[cfg(not(feature = "aac"))]
        {
            assert_eq!(
                rec.start(aac_cfg(0, 0)),
                Err(RecordError::Unsupported(format!("{}: built without the `aac` feature", aac_path.display())))
            );
            wait_code(&rx, recording_code::UNSUPPORTED_TYPE);
        }
        // AAC, 32 kHz, with a 10 s cycle over 12 s of played audio: 1 kHz for the first 6 s,
        // then 1.5 kHz; the file (decoded back) holds the last 10 s, the second tone last.
        #[cfg(feature = "aac")]
        {
            use crate::device::tone::{Tone, tone_power};
            rec.start(RecordingConfig { sample_rate: 32_000, quality: 1, ..aac_cfg(position::PLAYBACK, 10) }).expect("start aac");
            wait_code(&rx, recording_code::START);
            let (mut low, mut high) = (Tone::new(1000.0, 48_000, 1, 0.3), Tone::new(1500.0, 48_000, 1, 0.3));
            for i in 0..1200 {
                rec.tap_remote(&if i < 600 { low.next_frame(480) } else { high.next_frame(480) }, 1);
                if i % 50 == 0 {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            rec.stop().expect("stop");
            wait_code(&rx, recording_code::FINISH);
            let pcm = crate::audio_mixing::decode::decode_file(&aac_path).expect("the .aac decodes");
            let secs = pcm.len() as f32 / 48_000.0;
            // The encoder's priming and last frame add up to ~3 frames of 1024 samples.
            println!("AAC cycle 10 s: decoded {secs:.3} s");
            assert!((10.0..10.15).contains(&secs), "10 s kept: {secs} s");
            let (first, last) = (&pcm[48_000..96_000], &pcm[pcm.len() - 96_000..pcm.len() - 48_000]);
            assert!(tone_power(first, 48_000, 1, 1000.0) > tone_power(first, 48_000, 1, 1500.0) + 20.0, "starts with 1 kHz");
            assert!(tone_power(last, 48_000, 1, 1500.0) > tone_power(last, 48_000, 1, 1000.0) + 20.0, "ends with 1.5 kHz");
            let _ = std::fs::remove_file(&aac_path);
        }
        assert!(matches!(rec.start(cfg(0, 5)), Err(RecordError::InvalidParam(_))), "5 s is not a NERTC cycle time");
        rec.release();
        let _ = std::fs::remove_file(&path);
    }
}
