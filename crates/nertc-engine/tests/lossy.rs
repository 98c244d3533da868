//! Video through the room server on a lossy link: `scripts/lossy-lo.sh` drops packets at random
//! on the namespace's loopback (every packet on its own: media, RTCP, NACKs, retransmissions,
//! signaling). Engine A publishes the test pattern at 640x480, 15 fps; engine B decodes it.
//! Losses are repaired by NACK (B's NACK generator asks, the SFU resends from its cache, B's
//! reorder buffer waits for it) instead of each costing a keyframe round trip.
//!
//! Runs only inside `scripts/netns.sh` (it changes `lo`); elsewhere it says so and passes.

mod common;

use std::time::{Duration, Instant};

use common::{Loss, frame_times, in_private_netns, rate, video_call};
use crossbeam_channel::Receiver;
use nertc_engine::EngineEvent;

/// A's reports of its own uplink so far: (tx_video_packet_loss_rate, its tx quality) per 2 s.
fn uplink(rx: &Receiver<EngineEvent>) -> Vec<(u32, i32)> {
    let (mut rates, mut quality) = (Vec::new(), Vec::new());
    for e in rx.try_iter() {
        match e {
            EngineEvent::RtcStats(s) => rates.extend(s.tx_video_loss_percent),
            EngineEvent::NetworkQuality(v) => quality.extend(v.into_iter().find(|q| q.uid == 1).map(|q| q.tx_quality)),
            _ => {}
        }
    }
    rates.into_iter().zip(quality).collect()
}

/// What B reported about `uid` among the events received so far: the newest `frozen_ms` and
/// every `onNetworkQuality` (tx, rx).
fn reports(rx: &Receiver<EngineEvent>, uid: u64) -> Reports {
    reports_and_loss(rx, uid).0
}

/// The newest `frozen_ms` and every `onNetworkQuality` (tx, rx).
type Reports = (Option<u64>, Vec<(i32, i32)>);

/// [`reports`], plus every `onRtcStats` rx video loss rate (%).
fn reports_and_loss(rx: &Receiver<EngineEvent>, uid: u64) -> (Reports, Vec<u32>) {
    let (mut frozen, mut quality, mut loss) = (None, Vec::new(), Vec::new());
    for e in rx.try_iter() {
        match e {
            EngineEvent::RtcStats(s) => loss.push(s.rx_video_loss_percent),
            EngineEvent::RemoteVideoStats(v) => frozen = v.into_iter().find(|s| s.uid == uid).map(|s| s.frozen_ms).or(frozen),
            EngineEvent::NetworkQuality(v) => quality.extend(v.into_iter().find(|q| q.uid == uid).map(|q| (q.tx_quality, q.rx_quality))),
            _ => {}
        }
    }
    ((frozen, quality), loss)
}

#[test]
fn video_survives_20_percent_random_loss() {
    if !in_private_netns() {
        eprintln!("lossy: skipped (run it inside scripts/netns.sh; it changes lo)");
        return;
    }
    // RUST_LOG=nertc_engine=debug shows the receive side at work.
    let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).with_test_writer().try_init();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(nertc_server::start(nertc_server::ServerConfig::embedded())).expect("server");
    let ((a, a_rx), (b, b_rx)) = video_call(&server.url(), "lossy");
    std::thread::sleep(Duration::from_secs(2)); // a whole stats interval after the start
    let _ = reports(&b_rx, 1);
    let start = Instant::now();
    let (clean, _) = rate(&frame_times(&b, 1, Duration::from_secs(5)), start, Duration::from_secs(5));
    let (_, clean_q) = reports(&b_rx, 1);

    let clean_up = uplink(&a_rx);
    let loss = Loss::apply(20);
    let start = Instant::now();
    let (lossy, longest) = rate(&frame_times(&b, 1, Duration::from_secs(10)), start, Duration::from_secs(10));
    drop(loss);
    // A's own view of its uplink: the video packets the server NACKed, and tx quality.
    let lossy_up = uplink(&a_rx);
    println!("lossy: A's (tx_video_packet_loss_rate, tx_quality): clean {clean_up:?}, 20 % loss {lossy_up:?}");
    // (The first report of a session has no interval yet: unknown; the first under loss may
    // straddle the change.) Per 2 s report the rate is a sample of ~150 packets: it reads
    // 10-34 % for 20 % loss on the way up, 15-22 % on average on a quiet machine; a loaded one
    // (CI) read 21-38 %, mean 30, and single reports up to 47 (probably packets delayed past
    // the NACK timer, not lost).
    assert!(clean_up.len() >= 2 && clean_up[1..].iter().all(|(r, q)| *r <= 1 && (1..=2).contains(q)), "clean uplink: {clean_up:?}");
    let under: Vec<u32> = lossy_up.iter().skip(1).map(|(r, _)| *r).collect();
    let mean = under.iter().sum::<u32>() as f64 / under.len().max(1) as f64;
    assert!(under.len() >= 3 && (12.0..=35.0).contains(&mean), "lossy uplink: {lossy_up:?}");
    assert!(lossy_up[1..].iter().all(|(r, q)| (5..=60).contains(r) && *q >= 3), "lossy uplink: {lossy_up:?}");
    let ((_, lossy_q), lossy_rate) = reports_and_loss(&b_rx, 1);
    // onRtcStats's rx loss rate: 20 % on each of the two lo crossings is ~36 % before repair.
    println!("lossy: B's rx_video_packet_loss_rate under loss {lossy_rate:?}");
    assert!(lossy_rate.len() >= 3 && lossy_rate[1..].iter().all(|r| (20..=55).contains(r)), "{lossy_rate:?}");
    println!("lossy: B's onNetworkQuality of A (tx, rx): clean {clean_q:?}, 20 % loss {lossy_q:?}");
    // Quality is measured (loss before repair, NERTC's 0-6 scale): good on a clean link, bad
    // or worse (>= 4) at 20 % loss; the first report under loss may straddle the change.
    assert!(!clean_q.is_empty() && clean_q.iter().all(|(_, rx)| (1..=2).contains(rx)), "clean link: {clean_q:?}");
    assert!(lossy_q.len() >= 3 && lossy_q[1..].iter().all(|(_, rx)| *rx >= 4), "20 % loss: {lossy_q:?}");
    let fps = lossy.iter().sum::<u32>() as f64 / lossy.len() as f64;
    println!("lossy: clean {clean:?} fps; 20 % loss: {lossy:?} fps, mean {fps:.1}, longest gap {longest:?}");
    // Goal (issue 10): >= 10 of 15 fps with no freeze over 1 s. Loss was repaired by NACK when
    // most frames still come; without it (each loss waiting for a keyframe) this read 1 fps.
    assert!(fps >= 10.0, "{fps:.1} fps under 20 % loss: {lossy:?}");
    assert!(longest <= Duration::from_secs(1), "a {longest:?} freeze under 20 % loss");

    // A 2 s blackout: video comes back, and the frozen-time stat grows by the freeze B saw.
    std::thread::sleep(Duration::from_millis(2500)); // a stats report after the lossy window
    let frozen_before = reports(&b_rx, 1).0.expect("remote video stats every 2 s");
    let blackout = Loss::apply(100);
    let start = Instant::now();
    let sampler = std::thread::scope(|s| {
        let h = s.spawn(|| frame_times(&b, 1, Duration::from_secs(8)));
        std::thread::sleep(Duration::from_secs(2));
        drop(blackout);
        h.join().expect("sampler thread")
    });
    let (after, gap) = rate(&sampler, start, Duration::from_secs(8));
    assert!(after[6..].iter().all(|n| *n >= 10), "video back after the blackout: {after:?}");
    std::thread::sleep(Duration::from_millis(4500)); // two more stats reports
    let (frozen_after, recovered_q) = reports(&b_rx, 1);
    let frozen_after = frozen_after.expect("remote video stats every 2 s");
    assert!(recovered_q.last().is_some_and(|(_, rx)| (1..=2).contains(rx)), "quality recovers: {recovered_q:?}");
    let grew = Duration::from_millis(frozen_after - frozen_before);
    // The stat counts every freeze (a gap over 500 ms at 15 fps), and recovery can add a short
    // one after the blackout's: compare it with all the freezes B's slot saw (the first from
    // the blackout's start: a frame came at most one interval before it).
    let frames: Vec<Instant> = std::iter::once(start).chain(sampler.iter().copied()).collect();
    let observed: Duration = frames.windows(2).map(|w| w[1] - w[0]).filter(|g| *g > Duration::from_millis(500)).sum();
    println!("lossy: 2 s blackout: {after:?} fps, longest freeze {gap:?}, all freezes {observed:?}, total_frozen_time +{grew:?}");
    // (The freeze seen can be a little shorter than the blackout: pictures from before it may
    // still be held by the playout delay when it starts.)
    assert!(gap >= Duration::from_millis(1600), "the blackout stopped the video ({gap:?})");
    assert!(grew.abs_diff(observed) <= Duration::from_millis(300), "frozen-time stat +{grew:?}, observed freezes {observed:?}");
    a.release();
    b.release();
}
