//! Pre-encoded media for load tests: a loop of H.264 frames (the engine's test pattern through
//! openh264, packetized once) and Opus frames (a tone plus a little noise), so a publisher
//! costs no encoding and every forwarded payload can be checked byte for byte.
//!
//! Every RTP payload the clip can send has a slot. The publisher writes the send time of each
//! slot when it sends it; a receiver hashes the payload it got, finds the slot (a payload that
//! is not in the clip is corrupt) and so knows how long the packet took.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Bytes;
use nertc_engine::codec::h264::{EncoderConfig, H264Encoder};
use nertc_engine::codec::opus::OpusEncoder;
use nertc_engine::device::{test_pattern::TestPattern, tone::Tone};
use rtc::rtp::codec::h264::H264Payloader;
use rtc::rtp::packetizer::Payloader;
use tokio::sync::watch;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;

/// Largest RTP payload the publisher sends.
const MTU: usize = 1200;
pub const AUDIO_FRAME: Duration = Duration::from_millis(20);

/// Where a payload sits in the clip: video payloads in order, then audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot(pub u32);

pub struct Clip {
    pub fps: u32,
    /// RTP payloads of each video frame, in order; frame 0 is an IDR with SPS/PPS.
    pub video: Vec<Vec<Bytes>>,
    /// One Opus packet per 20 ms.
    pub audio: Vec<Bytes>,
    slots: HashMap<u64, Slot>,
    /// Number of video payload slots (audio slots follow them).
    video_slots: u32,
}

fn payload_hash(p: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    p.hash(&mut h);
    h.finish()
}

impl Clip {
    /// Encodes `seconds` of test pattern at `width`x`height`@`fps` and `kbps`, and of tone.
    pub fn encode(width: u32, height: u32, fps: u32, kbps: u32, seconds: u32) -> Result<Clip, String> {
        let mut enc = H264Encoder::new(EncoderConfig { width, height, fps, bitrate_kbps: kbps }).map_err(|e| e.to_string())?;
        let mut pattern = TestPattern::new();
        let mut payloader = H264Payloader::default();
        let mut video = Vec::new();
        for n in 0..fps * seconds {
            let frame = pattern.render(width, height, n, u64::from(n) * 1_000_000 / u64::from(fps));
            let Some(coded) = enc.encode(&frame, n == 0).map_err(|e| e.to_string())? else { continue };
            let payloads = payloader.payload(MTU, &Bytes::from(coded.data)).map_err(|e| e.to_string())?;
            if !payloads.is_empty() {
                video.push(payloads);
            }
        }
        let mut opus = OpusEncoder::new(48_000, 1, 32_000).map_err(|e| e.to_string())?;
        let mut tone = Tone::new(440.0, 48_000, 1, 0.3);
        let mut noise = 0x2545_f491_u32;
        let mut audio = Vec::new();
        for _ in 0..50 * seconds {
            let mut pcm = tone.next_frame(960);
            for s in &mut pcm {
                noise = noise.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                *s = s.saturating_add((noise >> 24) as i16 - 128);
            }
            audio.push(Bytes::from(opus.encode(&pcm).map_err(|e| e.to_string())?));
        }
        let mut slots = HashMap::new();
        let mut index = 0;
        for p in video.iter().flatten() {
            slots.insert(payload_hash(p), Slot(index));
            index += 1;
        }
        let video_slots = index;
        for p in &audio {
            slots.insert(payload_hash(p), Slot(index));
            index += 1;
        }
        Ok(Clip { fps, video, audio, slots, video_slots })
    }

    /// The slot of a received payload, or `None` when it is not one the clip sends (corrupt).
    pub fn slot_of(&self, payload: &[u8]) -> Option<Slot> {
        self.slots.get(&payload_hash(payload)).copied()
    }

    pub fn slot_count(&self) -> usize {
        self.video_slots as usize + self.audio.len()
    }

    /// Video bitrate of the clip as sent, in kbit/s.
    pub fn video_kbps(&self) -> f64 {
        let bytes: usize = self.video.iter().flatten().map(Bytes::len).sum();
        bytes as f64 * 8.0 / 1000.0 / (self.video.len() as f64 / f64::from(self.fps))
    }

    /// Video + audio packets per second one subscriber receives.
    pub fn packets_per_sec(&self) -> f64 {
        let video: usize = self.video.iter().map(Vec::len).sum();
        video as f64 * f64::from(self.fps) / self.video.len() as f64 + 1000.0 / AUDIO_FRAME.as_millis() as f64
    }
}

/// Send time of every slot, in µs since `epoch` (+1, so 0 means never sent).
pub struct SendTimes {
    pub epoch: Instant,
    slots: Vec<AtomicU64>,
    /// Packets sent so far (audio + video).
    pub sent: AtomicU64,
}

impl SendTimes {
    pub fn new(clip: &Clip) -> Arc<SendTimes> {
        Arc::new(SendTimes {
            epoch: Instant::now(),
            slots: (0..clip.slot_count()).map(|_| AtomicU64::new(0)).collect(),
            sent: AtomicU64::new(0),
        })
    }

    fn mark(&self, slot: u32) {
        self.sent.fetch_add(1, Relaxed);
        self.slots[slot as usize].store(self.epoch.elapsed().as_micros() as u64 + 1, Relaxed);
    }

    /// Milliseconds since `slot` was last sent.
    pub fn age_ms(&self, slot: Slot, now: Instant) -> Option<f64> {
        let sent = self.slots.get(slot.0 as usize)?.load(Relaxed);
        (sent > 0).then(|| (now.duration_since(self.epoch).as_micros() as f64 - (sent - 1) as f64) / 1000.0)
    }
}

/// The two tracks of a publisher and how to stop it.
pub struct PublisherTracks {
    pub video: Arc<TrackLocalStaticRTP>,
    pub audio: Arc<TrackLocalStaticRTP>,
    pub video_ssrc: u32,
    pub audio_ssrc: u32,
    /// A second video layer (simulcast `l`, its own m-line) sent the same packets under its own
    /// SSRC: the SFU's worst case of a dual-stream publisher (`NERTC_BENCH_SIMULCAST=1`).
    pub low: Option<(Arc<TrackLocalStaticRTP>, u32)>,
}

/// Sends the clip in a loop in real time until `stop` turns true. A keyframe request
/// (PLI/FIR from the SFU) restarts the video loop at its IDR, as an encoder would send one.
pub async fn publish(clip: Arc<Clip>, times: Arc<SendTimes>, tracks: PublisherTracks, mut stop: watch::Receiver<bool>) {
    let keyframe = Arc::new(AtomicBool::new(false));
    let kf = keyframe.clone();
    let video_local = tracks.video.clone();
    let pli_task = tokio::spawn(async move {
        while let Some(ev) = video_local.poll().await {
            if let webrtc::media_stream::track_local::TrackLocalEvent::OnRtcpPacket(p) = ev
                && p.iter().any(|p| nertc_rtc::tap::is_keyframe_request(p.as_ref()))
            {
                kf.store(true, Relaxed);
            }
        }
    });
    let audio_slot0 = clip.video.iter().map(|f| f.len() as u32).sum::<u32>();
    let frame_slots: Vec<u32> = clip
        .video
        .iter()
        .scan(0u32, |acc, f| {
            let s = *acc;
            *acc += f.len() as u32;
            Some(s)
        })
        .collect();
    let mut vtick = tokio::time::interval(Duration::from_secs(1) / clip.fps);
    let mut atick = tokio::time::interval(AUDIO_FRAME);
    vtick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    atick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let (mut vseq, mut aseq, mut vts, mut ats) = (0u16, 0u16, 0u32, 0u32);
    let (mut frame, mut aframe) = (0usize, 0usize);
    let mut last_restart = Instant::now();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = vtick.tick() => {
                if keyframe.swap(false, Relaxed) && last_restart.elapsed() > Duration::from_millis(200) {
                    frame = 0;
                    last_restart = Instant::now();
                }
                let payloads = &clip.video[frame];
                for (i, p) in payloads.iter().enumerate() {
                    times.mark(frame_slots[frame] + i as u32);
                    let pkt = rtp(nertc_rtc::codecs::PT_H264, vseq, vts, tracks.video_ssrc, i + 1 == payloads.len(), p.clone());
                    // Before the answer is applied the track is unbound and writes fail.
                    let _ = tracks.video.write_rtp(pkt).await;
                    if let Some((low, ssrc)) = &tracks.low {
                        let _ = low.write_rtp(rtp(nertc_rtc::codecs::PT_H264, vseq, vts, *ssrc, i + 1 == payloads.len(), p.clone())).await;
                    }
                    vseq = vseq.wrapping_add(1);
                }
                vts = vts.wrapping_add(90_000 / clip.fps);
                frame = (frame + 1) % clip.video.len();
            }
            _ = atick.tick() => {
                times.mark(audio_slot0 + aframe as u32);
                let pkt = rtp(nertc_rtc::codecs::PT_OPUS, aseq, ats, tracks.audio_ssrc, true, clip.audio[aframe].clone());
                let _ = tracks.audio.write_rtp(pkt).await;
                aseq = aseq.wrapping_add(1);
                ats = ats.wrapping_add(960);
                aframe = (aframe + 1) % clip.audio.len();
            }
        }
    }
    pli_task.abort();
}

fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, marker: bool, payload: Bytes) -> rtc::rtp::Packet {
    rtc::rtp::Packet {
        header: rtc::rtp::header::Header {
            version: 2,
            marker,
            payload_type: pt,
            sequence_number: seq,
            timestamp: ts,
            ssrc,
            ..Default::default()
        },
        payload,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_payload_has_a_slot_and_a_flipped_bit_has_none() {
        let clip = Clip::encode(320, 180, 30, 300, 1).expect("clip encodes");
        assert_eq!(clip.video.len(), 30);
        assert!(clip.video[0].len() >= 2, "the IDR with SPS/PPS spans packets");
        for (i, p) in clip.video.iter().flatten().enumerate() {
            // Identical payloads would share a slot; the pattern's stamps make every one differ.
            assert_eq!(clip.slot_of(p), Some(Slot(i as u32)));
            let mut bad = p.to_vec();
            bad[p.len() / 2] ^= 0x10;
            assert!(clip.slot_of(&bad).is_none());
        }
        assert_eq!(clip.slot_of(&clip.audio[3]), Some(Slot(clip.video_slots + 3)));
        assert!(clip.video_kbps() > 100.0 && clip.video_kbps() < 600.0, "{}", clip.video_kbps());
    }
}
