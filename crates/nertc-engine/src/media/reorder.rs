//! Receive-side reordering: RTP packets in, the same packets out in sequence order. A hole waits
//! for its retransmission — the receiver's NACK generator (webrtc-rs interceptor) asks for
//! every missing packet each NACK interval and the SFU answers from its send cache — until a
//! deadline (its `max_wait` after the hole was first seen); then the buffer gives up on
//! it and releases what follows, so the next stage sees the gap and resynchronises (keyframe).
//! Without this, a retransmission arrives after later packets and is thrown away as late, and
//! every lost packet costs a keyframe round trip.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Packets held at most; past this the oldest hole is given up at once (bounded memory when a
/// sender keeps sending while a packet never comes).
pub const CAPACITY: usize = 1024;

pub struct Reorder<T> {
    /// The next sequence number (extended to 64 bits) to release; None before the first packet.
    next: Option<u64>,
    /// The highest extended sequence number seen, to unwrap the next 16-bit one.
    highest: u64,
    /// Held packets and when each arrived.
    held: BTreeMap<u64, (u16, T, Instant)>,
    /// The hole being waited for (its extended sequence number) and since when: the arrival of
    /// the first packet held after it, which is when it was first seen. Holes behind one
    /// another wait at the same time: a burst of losses costs one wait, not one per hole
    /// (ten holes in the 1.5 s after a link's capacity drops froze the picture for 4 s).
    hole: Option<(u64, Instant)>,
    max_wait: Duration,
    /// The first extended sequence number, to count the packets expected so far.
    first: u64,
    /// Packets found missing when a later one arrived (before any retransmission): what the
    /// network lost, as opposed to what stayed lost.
    gaps: u64,
    /// Released packets on their way out (reused: no allocation per packet).
    out: Vec<(u16, T)>,
}

impl<T> Reorder<T> {
    pub fn new(max_wait: Duration) -> Self {
        Reorder { next: None, highest: 0, held: BTreeMap::new(), hole: None, max_wait, first: 0, gaps: 0, out: Vec::new() }
    }

    /// Changes how long a hole is waited for (from when it was first seen).
    pub fn set_max_wait(&mut self, max_wait: Duration) {
        self.max_wait = max_wait;
    }

    /// (packets expected so far, packets the network lost on the way) — for loss rates.
    pub fn counts(&self) -> (u64, u64) {
        match self.next {
            Some(_) => (self.highest - self.first + 1, self.gaps),
            None => (0, 0),
        }
    }

    /// The 16-bit sequence number as a 64-bit one, the nearest to the highest seen.
    fn extend(&mut self, seq: u16) -> u64 {
        if self.next.is_none() {
            // Start high enough that unwrapping backwards never goes below zero.
            self.highest = (1 << 32) | u64::from(seq);
            self.first = self.highest;
            return self.highest;
        }
        let base = self.highest & !0xffff;
        let candidates = [base.wrapping_sub(1 << 16) | u64::from(seq), base | u64::from(seq), (base + (1 << 16)) | u64::from(seq)];
        let ext = candidates.into_iter().min_by_key(|c| c.abs_diff(self.highest)).expect("three candidates");
        if ext > self.highest {
            self.gaps += ext - self.highest - 1;
            self.highest = ext;
        }
        ext
    }

    /// Takes a packet; returns the packets now releasable, in order. A packet at or before what
    /// was already released (late, duplicate, or given up on) is dropped.
    pub fn push(&mut self, seq: u16, item: T, now: Instant) -> std::vec::Drain<'_, (u16, T)> {
        let ext = self.extend(seq);
        let next = *self.next.get_or_insert(ext);
        if ext >= next {
            self.held.entry(ext).or_insert((seq, item, now));
            self.release();
            if self.held.len() > CAPACITY {
                self.skip();
            }
            self.note_hole(now);
        }
        self.out.drain(..)
    }

    /// Gives up on a hole whose deadline passed; returns what that releases.
    pub fn poll(&mut self, now: Instant) -> std::vec::Drain<'_, (u16, T)> {
        while let Some(due) = self.deadline() {
            if now < due {
                break;
            }
            self.skip();
            self.note_hole(now);
        }
        self.out.drain(..)
    }

    /// When the current hole is given up, if there is one.
    pub fn deadline(&self) -> Option<Instant> {
        self.hole.map(|(_, since)| since + self.max_wait)
    }

    /// Moves the run of held packets from `next` on to `out`.
    fn release(&mut self) {
        let Some(mut next) = self.next else { return };
        while let Some((seq, item, _)) = self.held.remove(&next) {
            self.out.push((seq, item));
            next += 1;
        }
        self.next = Some(next);
    }

    /// Gives up on the hole at `next`: releases from the first held packet on.
    fn skip(&mut self) {
        if let Some(first) = self.held.keys().next().copied() {
            self.next = Some(first);
        }
        self.release();
    }

    fn note_hole(&mut self, now: Instant) {
        self.hole = match (self.held.is_empty(), self.next, self.hole) {
            (true, _, _) | (_, None, _) => None,
            (false, Some(next), Some((at, since))) if at == next => Some((at, since)),
            (false, Some(next), _) => Some((next, self.held.values().next().map_or(now, |(_, _, arrived)| *arrived))),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_millis(300);

    fn seqs(v: impl IntoIterator<Item = (u16, u16)>) -> Vec<u16> {
        v.into_iter().map(|(s, _)| s).collect()
    }

    #[test]
    fn in_order_passes_straight_through() {
        let t = Instant::now();
        let mut r = Reorder::new(WAIT);
        for s in 10..20u16 {
            assert_eq!(seqs(r.push(s, s, t)), vec![s]);
        }
        assert_eq!(r.deadline(), None);
    }

    #[test]
    fn a_retransmission_fills_the_hole_in_time() {
        let t = Instant::now();
        let mut r = Reorder::new(WAIT);
        assert_eq!(seqs(r.push(1, 1, t)), vec![1]);
        assert_eq!(seqs(r.push(3, 3, t)), Vec::<u16>::new());
        assert_eq!(seqs(r.push(4, 4, t)), Vec::<u16>::new());
        assert_eq!(r.held.len(), 2, "3 and 4 wait for 2");
        assert_eq!(r.deadline(), Some(t + WAIT));
        assert_eq!(r.counts(), (4, 1), "4 expected, 1 lost on the way");
        // 120 ms later the retransmission of 2 arrives: everything goes, in order.
        assert_eq!(seqs(r.push(2, 2, t + Duration::from_millis(120))), vec![2, 3, 4]);
        assert_eq!(r.deadline(), None);
        // A duplicate of 2 (a second retransmission) is dropped.
        assert_eq!(seqs(r.push(2, 2, t + Duration::from_millis(130))), Vec::<u16>::new());
        assert_eq!(r.counts(), (4, 1), "a repaired loss is still a loss of the network");
    }

    #[test]
    fn a_hole_is_given_up_at_its_deadline() {
        let t = Instant::now();
        let mut r = Reorder::new(WAIT);
        r.push(1, 1, t);
        r.push(3, 3, t + Duration::from_millis(10));
        r.push(6, 6, t + Duration::from_millis(20));
        assert_eq!(seqs(r.poll(t + Duration::from_millis(299))), Vec::<u16>::new());
        // 2 is given up: 3 goes; then 4 and 5 form the next hole, waiting since 6 showed it.
        let at = t + Duration::from_millis(310);
        assert_eq!(seqs(r.poll(at)), vec![3]);
        assert_eq!(r.deadline(), Some(t + Duration::from_millis(20) + WAIT));
        // The given-up 2 arriving late is dropped; 4 and 5 still repair their hole.
        assert_eq!(seqs(r.push(2, 2, at)), Vec::<u16>::new());
        assert_eq!(seqs(r.push(5, 5, at)), Vec::<u16>::new());
        assert_eq!(seqs(r.push(4, 4, at)), vec![4, 5, 6]);
    }

    #[test]
    fn holes_behind_one_another_wait_at_the_same_time() {
        let t = Instant::now();
        let mut r = Reorder::new(WAIT);
        r.push(1, 1, t);
        // A burst of losses: 2, 4, 6 and 8 missing, the rest arrive within 40 ms.
        for (i, s) in [3u16, 5, 7, 9].into_iter().enumerate() {
            r.push(s, s, t + Duration::from_millis(10 * i as u64));
        }
        // One wait for all of them: everything is out 300 ms after the last hole was seen.
        let out = seqs(r.poll(t + Duration::from_millis(30) + WAIT));
        assert_eq!(out, vec![3, 5, 7, 9]);
        assert_eq!(r.deadline(), None);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let t = Instant::now();
        let mut r = Reorder::new(WAIT);
        assert_eq!(seqs(r.push(65534, 0, t)), vec![65534]);
        assert_eq!(seqs(r.push(0, 0, t)), Vec::<u16>::new());
        assert_eq!(seqs(r.push(65535, 0, t)), vec![65535, 0]);
        assert_eq!(seqs(r.push(1, 0, t)), vec![1]);
        assert_eq!(seqs(r.push(65535, 0, t)), Vec::<u16>::new(), "late across the wrap");
    }

    #[test]
    fn memory_is_bounded_when_a_packet_never_comes() {
        let t = Instant::now();
        let mut r = Reorder::new(Duration::from_secs(3600));
        r.push(0, 0, t);
        let mut released = 0;
        for s in 2..(CAPACITY as u16 + 10) {
            released += r.push(s, s, t).len();
        }
        assert!(r.held.len() <= CAPACITY);
        assert_eq!(released + r.held.len(), CAPACITY + 8);
        assert!(released > 0, "the hole was given up without waiting for its deadline");
    }
}
