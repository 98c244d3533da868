//! The forwarder: per direction, a reader thread takes packets off one TUN and asks the model
//! what becomes of them; accepted ones wait in a heap ordered by departure time, and a sender
//! thread sleeps until the earliest is due and writes it to the other TUN.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nertc_netem::model::{Blackout, Direction, Params, Stats, Verdict, direction_seeds};

/// A packet waiting for its departure time. Ordered by (due, seq): FIFO among equal times.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Pending {
    due: Instant,
    seq: u64,
    packet: Vec<u8>,
}

struct LaneState {
    model: Direction,
    heap: BinaryHeap<Reverse<Pending>>,
    seq: u64,
}

/// One direction.
struct Lane {
    name: &'static str,
    state: Mutex<LaneState>,
    /// Signalled when a packet becomes the earliest one.
    wake: Condvar,
}

impl Lane {
    fn lock(&self) -> MutexGuard<'_, LaneState> {
        // A panic in a forwarding thread is a bug; the counters are still usable.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Both directions and the blackout they share.
pub struct Shared {
    near_to_far: Lane,
    far_to_near: Lane,
    blackout: Mutex<Blackout>,
}

impl Shared {
    pub fn new(params: Params, seed: u64) -> Arc<Shared> {
        let (s1, s2) = direction_seeds(seed);
        let lane = |name, seed| Lane {
            name,
            state: Mutex::new(LaneState { model: Direction::new(params.clone(), seed), heap: BinaryHeap::new(), seq: 0 }),
            wake: Condvar::new(),
        };
        Arc::new(Shared { near_to_far: lane("near->far", s1), far_to_near: lane("far->near", s2), blackout: Mutex::new(Blackout::Off) })
    }

    fn lanes(&self) -> [&Lane; 2] {
        [&self.near_to_far, &self.far_to_near]
    }

    pub fn params(&self) -> Params {
        self.near_to_far.lock().model.params().clone()
    }

    /// New parameters for both directions. `params` must be valid.
    pub fn set_params(&self, params: &Params) {
        for lane in self.lanes() {
            lane.lock().model.set_params(params.clone());
        }
    }

    pub fn set_blackout(&self, b: Blackout) {
        *self.blackout.lock().unwrap_or_else(|p| p.into_inner()) = b;
    }

    fn blackout_active(&self, now: Instant) -> bool {
        self.blackout.lock().unwrap_or_else(|p| p.into_inner()).active(now)
    }

    pub fn stats(&self) -> Stats {
        Stats { near_to_far: self.near_to_far.lock().model.stats(), far_to_near: self.far_to_near.lock().model.stats() }
    }
}

/// Starts the four forwarding threads.
pub fn start(shared: &Arc<Shared>, near: File, far: File) -> io::Result<()> {
    let near = Arc::new(near);
    let far = Arc::new(far);
    for (which, src, dst) in [(0, near.clone(), far.clone()), (1, far, near)] {
        let s = shared.clone();
        std::thread::Builder::new().name(format!("netem-read-{which}")).spawn(move || reader(&s, which, &src))?;
        let s = shared.clone();
        std::thread::Builder::new().name(format!("netem-send-{which}")).spawn(move || sender(&s, which, &dst))?;
    }
    Ok(())
}

fn lane(shared: &Shared, which: usize) -> &Lane {
    shared.lanes()[which]
}

fn reader(shared: &Shared, which: usize, src: &File) {
    let lane = lane(shared, which);
    let mut buf = vec![0u8; 65536];
    let mut errors = 0u64;
    loop {
        let n = match (&*src).read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                errors += 1;
                if errors.is_power_of_two() {
                    log!("netem: {}: read: {e} ({errors} errors)", lane.name);
                }
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let now = Instant::now();
        let blackout = shared.blackout_active(now);
        let mut st = lane.lock();
        if let Verdict::Deliver(due) = st.model.arrive(now, n, blackout) {
            let earliest = st.heap.peek().is_none_or(|Reverse(first)| due < first.due);
            let seq = st.seq;
            st.seq += 1;
            st.heap.push(Reverse(Pending { due, seq, packet: buf[..n].to_vec() }));
            drop(st);
            if earliest {
                lane.wake.notify_one();
            }
        }
    }
}

fn sender(shared: &Shared, which: usize, dst: &File) {
    let lane = lane(shared, which);
    let mut errors = 0u64;
    loop {
        let mut st = lane.lock();
        let pending = loop {
            let now = Instant::now();
            match st.heap.peek() {
                None => st = lane.wake.wait(st).unwrap_or_else(|p| p.into_inner()),
                Some(Reverse(first)) if first.due > now => {
                    let wait = first.due - now;
                    st = lane.wake.wait_timeout(st, wait).unwrap_or_else(|p| p.into_inner()).0;
                }
                Some(_) => break st.heap.pop().expect("peek just saw an element and the lock is held").0,
            }
        };
        let send = st.model.depart(pending.packet.len(), shared.blackout_active(Instant::now()));
        drop(st);
        if send && let Err(e) = (&*dst).write(&pending.packet) {
            errors += 1;
            if errors.is_power_of_two() {
                log!("netem: {}: write: {e} ({errors} errors)", lane.name);
            }
        }
    }
}
