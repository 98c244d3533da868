//! Audio mixing, effects and recording, end to end on synthetic devices.
//!
//! 1. `decoders_read_every_format`: ffmpeg (apt) encodes a 1 kHz tone (44.1 kHz stereo, 1.5 s)
//!    to WAV, MP3, AAC (M4A and ADTS), Ogg Vorbis, Ogg Opus and FLAC; each decodes to 48 kHz
//!    mono with the tone at 1 kHz and the right length.
//! 2. `the_remote_side_hears_the_mixed_file`: through the embedded room server, engine A (uid
//!    1, its tone microphone turned down to 0) mixes a 700 Hz file into what it sends; engine
//!    B records what it plays (`startAudioRecordingWithConfig`, position 2) to a WAV and the
//!    test finds 700 Hz in it; after `setAudioMixingPitch(4)` it finds 700·2^(4/12) Hz; an
//!    effect (1 200 Hz) plays alongside; before mixing B's recording is silent. Last, B
//!    records to `.aac` (44.1 kHz, 32 kb/s) and the decoded file holds A's 660 Hz voice.
//!
//! Run it inside `scripts/netns.sh` (it opens sockets).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::wait;
use crossbeam_channel::Receiver;
use nertc_engine::audio_mixing::MixOptions;
use nertc_engine::audio_mixing::decode::decode_file;
use nertc_engine::device::tone::{Tone, rms_dbfs, tone_power};
use nertc_engine::recording::RecordingConfig;
use nertc_engine::{Engine, EngineEvent, EngineOptions, error};

fn tmp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nertc-mixing-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A WAV of a tone, written with hound.
fn write_tone_wav(path: &Path, freq: f32, rate: u32, channels: u16, secs: f32) {
    let spec = hound::WavSpec { channels, sample_rate: rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for s in Tone::new(freq, rate, channels, 0.3).next_frame((rate as f32 * secs) as usize) {
        w.write_sample(s).expect("write");
    }
    w.finalize().expect("finalize");
}

/// The strongest frequency within ±15 % of `around`, to 1 Hz, and its level.
fn peak(pcm: &[i16], around: f32) -> (f32, f32) {
    ((around * 0.85) as i32..=(around * 1.15) as i32)
        .map(|f| (f as f32, tone_power(pcm, 48_000, 1, f as f32)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((0.0, f32::MIN))
}

#[test]
fn decoders_read_every_format() {
    let dir = tmp_dir("formats");
    let src = dir.join("tone.wav");
    write_tone_wav(&src, 1000.0, 44_100, 2, 1.5);
    let formats: [(&str, &[&str]); 7] = [
        ("wav", &[]),
        ("mp3", &["-c:a", "libmp3lame", "-b:a", "128k"]),
        ("m4a", &["-c:a", "aac", "-b:a", "128k"]),
        ("aac", &["-c:a", "aac", "-b:a", "128k", "-f", "adts"]),
        ("ogg", &["-c:a", "libvorbis", "-q:a", "4"]),
        ("opus", &["-c:a", "libopus", "-b:a", "96k"]),
        ("flac", &["-c:a", "flac"]),
    ];
    for (ext, args) in formats {
        let file = if ext == "wav" {
            src.clone()
        } else {
            let out = dir.join(format!("tone.{ext}"));
            let status = Command::new("ffmpeg")
                .args(["-y", "-loglevel", "error", "-i"])
                .arg(&src)
                .args(args)
                .arg(&out)
                .status()
                .expect("ffmpeg runs (scripts/setup.sh installs it)");
            assert!(status.success(), "ffmpeg {ext}");
            out
        };
        let started = Instant::now();
        let pcm = decode_file(&file).unwrap_or_else(|e| panic!("{ext}: {e:?}"));
        let decode_time = started.elapsed();
        let secs = pcm.len() as f32 / 48_000.0;
        let mid = &pcm[pcm.len() / 4..pcm.len() * 3 / 4];
        let (f, level) = peak(mid, 1000.0);
        println!(
            "decode {ext}: {secs:.3} s at 48 kHz mono, peak {f} Hz at {level:.1} dBFS (rms {:.1}), decoded in {:?}",
            rms_dbfs(mid),
            decode_time
        );
        assert!((f - 1000.0).abs() <= 2.0, "{ext}: tone at {f} Hz");
        assert!((level - rms_dbfs(mid)).abs() < 1.0, "{ext}: the tone is nearly all the energy");
        // Encoders add priming/padding (AAC, MP3 up to ~50 ms); the length stays about 1.5 s.
        assert!((secs - 1.5).abs() < 0.08, "{ext}: {secs} s");
    }
    let missing = decode_file(&dir.join("nope.mp3")).expect_err("a missing file fails");
    assert_eq!(missing.code, 2, "kNERtcAudioMixingErrorCanNotOpen");
    let junk = dir.join("junk.mp3");
    std::fs::write(&junk, vec![0x5au8; 4096]).expect("write junk");
    assert!(decode_file(&junk).is_err(), "garbage is refused, not played as noise");
    let _ = std::fs::remove_dir_all(&dir);
}

/// B records what it plays for `secs`, then returns the samples (48 kHz mono).
fn record_playback(b: &Engine, b_rx: &Receiver<EngineEvent>, path: &Path, secs: u64) -> Vec<i16> {
    record(b, b_rx, path, secs, 2)
}

/// Records `position` (0 both, 1 sent, 2 played) for `secs`; the samples (48 kHz mono).
fn record(b: &Engine, b_rx: &Receiver<EngineEvent>, path: &Path, secs: u64, position: i32) -> Vec<i16> {
    let cfg = RecordingConfig { file_path: path.to_string_lossy().into_owned(), sample_rate: 48_000, quality: 1, position, cycle_time: 0 };
    record_with(b, b_rx, cfg, secs);
    let mut r = hound::WavReader::open(path).expect("open recording");
    assert_eq!((r.spec().sample_rate, r.spec().channels), (48_000, 1));
    r.samples::<i16>().map(|s| s.expect("sample")).collect()
}

/// Starts a recording, waits `secs`, stops it and waits for the finished file.
fn record_with(b: &Engine, b_rx: &Receiver<EngineEvent>, cfg: RecordingConfig, secs: u64) {
    let path_s = cfg.file_path.clone();
    assert_eq!(b.start_audio_recording(cfg), error::OK);
    wait(
        b_rx,
        "recording started",
        Duration::from_secs(5),
        |e| matches!(e, EngineEvent::AudioRecording { code: 3, file_path } if *file_path == path_s),
    );
    std::thread::sleep(Duration::from_secs(secs));
    assert_eq!(b.stop_audio_recording(), error::OK);
    wait(
        b_rx,
        "recording finished",
        Duration::from_secs(5),
        |e| matches!(e, EngineEvent::AudioRecording { code: 5, file_path } if *file_path == path_s),
    );
}

#[test]
fn the_remote_side_hears_the_mixed_file() {
    let dir = tmp_dir("call");
    let music = dir.join("music.wav");
    write_tone_wav(&music, 700.0, 44_100, 2, 2.0);
    let effect = dir.join("effect.wav");
    write_tone_wav(&effect, 1200.0, 48_000, 1, 0.5);

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(nertc_server::start(nertc_server::ServerConfig::embedded())).expect("server");
    let opts = || EngineOptions { app_key: "mixing".into(), server_url: server.url() };
    let (a, a_rx) = Engine::new(opts()).expect("engine A");
    let (b, b_rx) = Engine::new(opts()).expect("engine B");
    // A's microphone (the synthetic 440 Hz tone) is turned down: all B hears is the mixing.
    assert_eq!(a.adjust_recording_signal_volume(0), error::OK);
    assert_eq!(a.join_channel(None, "mixing", 1), error::OK);
    wait(&a_rx, "A joined", Duration::from_secs(10), |e| matches!(e, EngineEvent::JoinChannel { result: 0, .. }));
    assert_eq!(b.join_channel(None, "mixing", 2), error::OK);
    wait(&b_rx, "B plays A", Duration::from_secs(15), |e| matches!(e, EngineEvent::FirstAudioFrameDecoded { uid: 1 }));

    // Nothing mixed yet: silence (so what follows comes from the mixing).
    let quiet = record_playback(&b, &b_rx, &dir.join("before.wav"), 1);
    println!("before mixing: B plays {:.1} dBFS", rms_dbfs(&quiet));
    assert!(rms_dbfs(&quiet) < -60.0, "B hears nothing before the mixing");

    assert_eq!(a.audio_mixing_duration(), -30005, "no mixing yet: kNERtcErrInvalidState, negated");
    let mix = MixOptions {
        path: music.to_string_lossy().into_owned(),
        loop_count: 0,
        playback_enabled: false,
        progress_interval_ms: 500,
        ..Default::default()
    };
    assert_eq!(a.start_audio_mixing(MixOptions { send_volume: 101, ..mix.clone() }), error::ERR_INVALID_PARAM);
    assert_eq!(a.start_audio_mixing(mix), error::OK);
    wait(&a_rx, "A's mixing progresses", Duration::from_secs(5), |e| matches!(e, EngineEvent::AudioMixingTimestampUpdate { .. }));
    assert!((1995..=2005).contains(&a.audio_mixing_duration()), "2 s file: {} ms", a.audio_mixing_duration());
    assert!((0..2000).contains(&a.audio_mixing_position()));
    assert_eq!(a.audio_mixing_send_volume(), 100);

    let heard = record_playback(&b, &b_rx, &dir.join("mixed.wav"), 3);
    let tail = &heard[heard.len().saturating_sub(96_000)..];
    let (f, level) = peak(tail, 700.0);
    let full = level;
    println!("mixing 700 Hz: B hears {f} Hz at {level:.1} dBFS (rms {:.1})", rms_dbfs(tail));
    assert!((f - 700.0).abs() <= 2.0, "B hears the file's 700 Hz: {f}");
    assert!(level > -25.0 && level > rms_dbfs(tail) - 1.5, "a clean, loud tone: {level} dBFS");

    // Pitch +4 semitones: 700 -> 881.9 Hz.
    assert_eq!(a.set_audio_mixing_pitch(13), error::ERR_INVALID_PARAM);
    assert_eq!(a.set_audio_mixing_pitch(4), error::OK);
    assert_eq!(a.audio_mixing_pitch(), 4);
    let shifted = record_playback(&b, &b_rx, &dir.join("pitched.wav"), 3);
    let tail = &shifted[shifted.len().saturating_sub(96_000)..];
    let want = 700.0 * 2f32.powf(4.0 / 12.0);
    let (f, level) = peak(tail, want);
    println!("pitch +4: B hears {f} Hz at {level:.1} dBFS (exact {want:.1}; ratio {:.4} for {:.4})", f / 700.0, want / 700.0);
    assert!((f / want - 1.0).abs() <= 0.01, "shifted by 2^(4/12): {f} Hz for {want}");
    assert!(tone_power(tail, 48_000, 1, 700.0) < level - 20.0, "700 Hz is gone");

    // Send volume 50 halves the amplitude (-6 dB); an effect plays alongside.
    assert_eq!(a.set_audio_mixing_pitch(0), error::OK);
    assert_eq!(a.set_audio_mixing_send_volume(50), error::OK);
    let fx = MixOptions { path: effect.to_string_lossy().into_owned(), loop_count: 3, playback_enabled: false, ..Default::default() };
    assert_eq!(a.play_effect(7, fx), error::OK);
    let both = record_playback(&b, &b_rx, &dir.join("with-effect.wav"), 1);
    let (f_fx, level_fx) = peak(&both[24_000..], 1200.0);
    let (_, level_mix) = peak(&both[24_000..], 700.0);
    println!("effect 1200 Hz: B hears {f_fx} Hz at {level_fx:.1} dBFS; mixing at send volume 50: {level_mix:.1} dBFS");
    assert!((f_fx - 1200.0).abs() <= 3.0, "the effect is heard: {f_fx}");
    assert!((level_mix - (full - 6.02)).abs() < 1.0, "send volume 50 is -6 dB: {level_mix} vs {full}");
    wait(&a_rx, "the effect ends after 3 plays", Duration::from_secs(5), |e| {
        matches!(e, EngineEvent::AudioEffectFinished { effect_id: 7 })
    });
    assert_eq!(a.effect_duration(7), -30005, "a finished effect is gone");

    assert_eq!(a.stop_audio_mixing(), error::OK);
    assert_eq!(a.stop_audio_mixing(), error::ERR_INVALID_STATE);
    // A file that is not audio: onAudioMixingStateChanged(1 failed, a NERTC mixing error).
    let junk = dir.join("junk.mp3");
    std::fs::write(&junk, vec![0x5au8; 4096]).expect("junk");
    assert_eq!(a.start_audio_mixing(MixOptions { path: junk.to_string_lossy().into_owned(), ..Default::default() }), error::OK);
    wait(
        &a_rx,
        "mixing failed",
        Duration::from_secs(5),
        |e| matches!(e, EngineEvent::AudioMixingStateChanged { state: 1, error_code } if *error_code != 0),
    );
    // A short file played once: finished (0, 0).
    let once = MixOptions { path: effect.to_string_lossy().into_owned(), ..Default::default() };
    assert_eq!(a.start_audio_mixing(once), error::OK);
    wait(&a_rx, "mixing finished", Duration::from_secs(5), |e| {
        matches!(e, EngineEvent::AudioMixingStateChanged { state: 0, error_code: 0 })
    });

    // Voice pitch on A's microphone (the synthetic 440 Hz tone): x1.5 -> 660 Hz, in what A
    // sends (its own recording, position 1) and in what B hears.
    assert_eq!(a.adjust_recording_signal_volume(100), error::OK);
    assert_eq!(a.set_local_voice_pitch(2.5), error::ERR_INVALID_PARAM);
    assert_eq!(a.set_local_voice_pitch(1.5), error::OK);
    let sent = record(&a, &a_rx, &dir.join("sent.wav"), 1, 1);
    let (f_sent, _) = peak(&sent[24_000..], 660.0);
    let voice = record_playback(&b, &b_rx, &dir.join("voice.wav"), 2);
    let tail = &voice[voice.len().saturating_sub(48_000)..];
    let (f, level) = peak(tail, 660.0);
    println!("voice pitch x1.5: A sends {f_sent} Hz, B hears {f} Hz at {level:.1} dBFS (exact 660)");
    assert!((f_sent / 660.0 - 1.0).abs() <= 0.01 && (f / 660.0 - 1.0).abs() <= 0.01, "440 Hz x 1.5: {f_sent} / {f}");
    assert!(tone_power(tail, 48_000, 1, 440.0) < level - 20.0, "the dry 440 Hz is gone");

    // The same to an AAC file (44.1 kHz, low quality: 32 kb/s), decoded back with symphonia:
    // ADTS frames at 44.1 kHz mono, the 660 Hz tone at the WAV's level, 2 s long.
    let aac = dir.join("voice.aac");
    let cfg =
        RecordingConfig { file_path: aac.to_string_lossy().into_owned(), sample_rate: 44_100, quality: 0, position: 2, cycle_time: 0 };
    record_with(&b, &b_rx, cfg, 2);
    let bytes = std::fs::read(&aac).expect("read the .aac");
    assert_eq!(&bytes[..2], &[0xff, 0xf1], "an ADTS sync word, MPEG-4, no CRC");
    assert_eq!(((bytes[2] >> 2) & 0xf, ((bytes[2] & 1) << 2) | (bytes[3] >> 6)), (4, 1), "44.1 kHz mono");
    let decoded = decode_file(&aac).expect("the .aac decodes");
    let secs = decoded.len() as f32 / 48_000.0;
    let tail = &decoded[decoded.len().saturating_sub(48_000)..];
    let (f_aac, level_aac) = peak(tail, 660.0);
    let kbps = bytes.len() as f32 * 8.0 / secs / 1000.0;
    println!(
        "AAC recording: {secs:.3} s, {} bytes ({kbps:.1} kb/s), B hears {f_aac} Hz at {level_aac:.1} dBFS (WAV: {level:.1})",
        bytes.len()
    );
    assert!((f_aac / 660.0 - 1.0).abs() <= 0.01, "the AAC file holds 660 Hz: {f_aac}");
    assert!((level_aac - level).abs() < 2.0, "at the WAV's level: {level_aac} vs {level} dBFS");
    assert!(level_aac > rms_dbfs(tail) - 1.5, "a clean tone: {level_aac} vs rms {}", rms_dbfs(tail));
    assert!((1.9..2.4).contains(&secs), "about 2 s: {secs}");
    assert!((20.0..45.0).contains(&kbps), "32 kb/s asked: {kbps:.1}");

    a.release();
    b.release();
    let _ = std::fs::remove_dir_all(&dir);
}
