//! `sendSEIMsg` data carried in the H.264 stream (ITU-T H.264 §7.3.2.3 and Annex D): one SEI
//! NAL unit (type 6) holding one `user_data_unregistered` message (payload type 5): our
//! 16-byte UUID, the message's sequence number (4 bytes, big-endian), then the application's
//! bytes. [`nal`] builds it (Annex B start code, emulation prevention), [`insert`] puts units
//! into an access unit after its parameter sets, [`messages`] finds ours in a received one.
//!
//! A message rides the next picture and, for [`REPEAT`], every keyframe too (see [`Carrier`]):
//! a subscriber that starts at a keyframe (a new subscription starts at the server's cached
//! one, §7 of docs/protocol.md, and the pictures between it and the next keyframe never
//! reach it) still gets what was sent just before. Receivers drop repeats by sequence number
//! ([`Dedup`]).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::h264::{escape, nal_units, unescape};

/// Identifies our `user_data_unregistered` messages (other encoders write their own, e.g. an
/// encoder's version string, which are not the application's).
pub const UUID: [u8; 16] = [0x6e, 0x65, 0x72, 0x74, 0x63, 0x2d, 0x73, 0x65, 0x69, 0x9b, 0x3f, 0x1c, 0x5a, 0xd2, 0x47, 0x81];

/// Largest application payload (NERTC: 4096 bytes).
pub const MAX_DATA: usize = 4096;

const NAL_SEI: u8 = 6;
const USER_DATA_UNREGISTERED: u32 = 5;

/// How long a message is repeated on keyframes after it first went out.
pub const REPEAT: Duration = Duration::from_secs(1);
/// Messages a layer holds for its next picture at most (a paused layer encodes none); the
/// oldest go first.
const MAX_PENDING: usize = 16;

/// An SEI NAL unit with message `seq`'s `data`, start code included.
pub fn nal(seq: u32, data: &[u8]) -> Vec<u8> {
    let mut rbsp = Vec::with_capacity(data.len() + 28);
    put_ff_coded(&mut rbsp, USER_DATA_UNREGISTERED);
    put_ff_coded(&mut rbsp, (UUID.len() + 4 + data.len()) as u32);
    rbsp.extend_from_slice(&UUID);
    rbsp.extend_from_slice(&seq.to_be_bytes());
    rbsp.extend_from_slice(data);
    rbsp.push(0x80); // rbsp_trailing_bits
    let mut out = vec![0, 0, 0, 1, NAL_SEI];
    escape(&rbsp, &mut out);
    out
}

/// Payload type and size: 0xff for each full 255, then the rest.
fn put_ff_coded(out: &mut Vec<u8>, mut v: u32) {
    while v >= 255 {
        out.push(0xff);
        v -= 255;
    }
    out.push(v as u8);
}

/// `au` with `units` (SEI NAL units with start codes) before its first slice, so after its
/// parameter sets: a keyframe still starts with its SPS, which is what the server looks for.
pub fn insert(au: Vec<u8>, units: &[u8]) -> Vec<u8> {
    if units.is_empty() {
        return au;
    }
    let mut at = au.len();
    let mut i = 0;
    while i + 3 < au.len() {
        if au[i] == 0 && au[i + 1] == 0 && au[i + 2] == 1 {
            if (1..=5).contains(&(au[i + 3] & 0x1f)) {
                // A four-byte start code: its leading zero belongs to it.
                at = if i > 0 && au[i - 1] == 0 { i - 1 } else { i };
                break;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut out = Vec::with_capacity(au.len() + units.len());
    out.extend_from_slice(&au[..at]);
    out.extend_from_slice(units);
    out.extend_from_slice(&au[at..]);
    out
}

/// One message of `sendSEIMsg`: its sequence number and bytes.
pub type Message = (u32, Arc<[u8]>);

/// The messages one layer's pictures carry: each goes with the layer's next picture, and with
/// every keyframe within [`REPEAT`] of that.
#[derive(Default)]
pub struct Carrier {
    pending: VecDeque<Message>,
    sent: VecDeque<(Instant, Message)>,
}

impl Carrier {
    pub fn push(&mut self, m: Message) {
        if self.pending.len() == MAX_PENDING {
            self.pending.pop_front();
        }
        self.pending.push_back(m);
    }

    /// The SEI units for a picture encoded `now` (empty when none), oldest message first.
    pub fn take(&mut self, keyframe: bool, now: Instant) -> Vec<u8> {
        while self.sent.front().is_some_and(|(at, _)| now.duration_since(*at) > REPEAT) {
            self.sent.pop_front();
        }
        let mut units = Vec::new();
        if keyframe {
            for (_, (seq, data)) in &self.sent {
                units.extend(nal(*seq, data));
            }
        }
        for m in self.pending.drain(..) {
            units.extend(nal(m.0, &m.1));
            self.sent.push_back((now, m));
        }
        units
    }

    pub fn clear(&mut self) {
        self.pending.clear();
        self.sent.clear();
    }
}

/// A receiver's filter: each message once, repeats dropped (sequence numbers only grow).
#[derive(Default)]
pub struct Dedup(Option<u32>);

impl Dedup {
    pub fn fresh(&mut self, seq: u32) -> bool {
        let fresh = self.0.is_none_or(|last| (seq.wrapping_sub(last) as i32) > 0);
        if fresh {
            self.0 = Some(seq);
        }
        fresh
    }
}

/// Our `user_data_unregistered` messages in an access unit (Annex B), in order. Malformed SEI
/// units are skipped.
pub fn messages(au: &[u8]) -> Vec<(u32, Vec<u8>)> {
    let mut found = Vec::new();
    for unit in nal_units(au) {
        if unit.first().map(|h| h & 0x1f) != Some(NAL_SEI) {
            continue;
        }
        let rbsp = unescape(&unit[1..]);
        let mut p = &rbsp[..];
        // sei_message()s until the trailing bits.
        while !p.is_empty() && p[0] != 0x80 {
            let Some((kind, rest)) = ff_coded(p) else { break };
            let Some((size, rest)) = ff_coded(rest) else { break };
            let size = size as usize;
            if rest.len() < size {
                break;
            }
            let (payload, rest) = rest.split_at(size);
            if kind == USER_DATA_UNREGISTERED && payload.len() >= UUID.len() + 4 && payload[..UUID.len()] == UUID {
                let (seq, data) = payload[UUID.len()..].split_at(4);
                found.push((u32::from_be_bytes(seq.try_into().expect("split at 4")), data.to_vec()));
            }
            p = rest;
        }
    }
    found
}

fn ff_coded(p: &[u8]) -> Option<(u32, &[u8])> {
    let mut v = 0u32;
    for (i, &b) in p.iter().enumerate() {
        v = v.checked_add(u32::from(b))?;
        if b != 0xff {
            return Some((v, &p[i + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IDR slice NAL unit as an encoder writes it (content irrelevant here).
    const SLICE: &[u8] = &[0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x33, 0xff];

    #[test]
    fn round_trip_with_bytes_that_need_escaping() {
        for data in [b"hello".to_vec(), vec![0, 0, 0, 0, 1, 0, 0, 3, 0, 0], vec![0xff; 300], (0..=255u8).cycle().take(MAX_DATA).collect()] {
            let n = nal(0x0000_0100, &data);
            assert!(!n[4..].windows(3).any(|w| w == [0, 0, 1] || w == [0, 0, 0]), "no start code inside the unit");
            let mut au = n.clone();
            au.extend_from_slice(SLICE);
            assert_eq!(messages(&au), vec![(0x100, data.clone())]);
        }
    }

    #[test]
    fn several_messages_and_foreign_ones() {
        let mut au = nal(1, b"one");
        au.extend(nal(2, b"two"));
        // Someone else's user_data_unregistered (another UUID) is not ours.
        let mut foreign = vec![0, 0, 1, 6, 5, 20];
        foreign.extend([7u8; 16]);
        foreign.extend(b"x264");
        foreign.push(0x80);
        au.extend(foreign);
        au.extend_from_slice(SLICE);
        assert_eq!(messages(&au), vec![(1, b"one".to_vec()), (2, b"two".to_vec())]);
        assert!(messages(SLICE).is_empty());
    }

    #[test]
    fn units_go_after_the_parameter_sets() {
        const SPS_PPS: &[u8] = &[0, 0, 0, 1, 0x67, 0x42, 0xe0, 0x1f, 0, 0, 0, 1, 0x68, 0xce, 0x3c];
        let keyframe = [SPS_PPS, SLICE].concat();
        let sei = nal(7, b"x");
        assert_eq!(insert(keyframe.clone(), &sei), [SPS_PPS, &sei, SLICE].concat());
        let p_slice = [0u8, 0, 1, 0x41, 0x9a, 0x10];
        assert_eq!(insert(p_slice.to_vec(), &sei), [&sei[..], &p_slice].concat());
        assert_eq!(insert(keyframe.clone(), &[]), keyframe);
    }

    #[test]
    fn a_message_rides_the_next_picture_and_the_keyframes_of_the_next_second() {
        let t0 = Instant::now();
        let mut c = Carrier::default();
        let m = |seq: u32| (seq, Arc::from(&b"m"[..]));
        assert!(c.take(true, t0).is_empty());
        c.push(m(1));
        let seqs = |units: Vec<u8>| messages(&[units, SLICE.to_vec()].concat()).into_iter().map(|(s, _)| s).collect::<Vec<_>>();
        assert_eq!(seqs(c.take(false, t0)), [1]);
        assert_eq!(seqs(c.take(false, t0 + Duration::from_millis(66))), [] as [u32; 0], "a P picture: once only");
        c.push(m(2));
        assert_eq!(seqs(c.take(true, t0 + Duration::from_millis(500))), [1, 2], "a keyframe repeats the last second's");
        assert_eq!(seqs(c.take(true, t0 + Duration::from_millis(1200))), [2]);
        assert!(c.take(true, t0 + Duration::from_millis(1600)).is_empty());
        for seq in 0..20 {
            c.push(m(seq));
        }
        assert_eq!(seqs(c.take(false, t0)).len(), MAX_PENDING, "a paused layer keeps the newest");
    }

    #[test]
    fn repeats_are_dropped() {
        let mut d = Dedup::default();
        assert!(d.fresh(5));
        assert!(!d.fresh(5));
        assert!(!d.fresh(4));
        assert!(d.fresh(6));
        let mut w = Dedup::default();
        assert!(w.fresh(u32::MAX));
        assert!(w.fresh(0), "the numbers wrap");
    }

    #[test]
    fn malformed_units_are_skipped() {
        // Size beyond the unit, a truncated ff-coded size, an empty SEI.
        for bad in [&[0u8, 0, 1, 6, 5, 200, 1, 2, 3][..], &[0, 0, 1, 6, 5, 0xff, 0xff], &[0, 0, 1, 6], &[0, 0, 1]] {
            assert!(messages(bad).is_empty(), "{bad:?}");
        }
        assert_eq!(ff_coded(&[0xff, 0xff, 4]).map(|(v, _)| v), Some(514));
    }
}
