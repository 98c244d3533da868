//! `sendSEIMsg` through the embedded server: A's data rides in its H.264 stream as SEI NAL
//! units and B's `onRecvSEIMsg` returns it intact (bytes that need emulation prevention, the
//! 4096-byte maximum) and in order; the codes for bad input and for a stream not being sent.
//! Also the data channel (`enableLocalData` / `sendData` / `subscribeRemoteData`), relayed by
//! the room server: start/stop events (a late joiner's from the join snapshot), delivery in
//! order and intact up to the size limit, the codes, unsubscribing stops delivery, the rate
//! limit.

mod common;

use std::time::{Duration, Instant};

use common::video_call;
use nertc_engine::{EngineEvent, error};

#[test]
fn sei_messages_ride_in_the_video_and_arrive_in_order() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(nertc_server::start(nertc_server::ServerConfig::embedded())).expect("server starts");
    let ((a, _a_rx), (b, b_rx)) = video_call(&server.url(), "engine-sei");

    assert_eq!(a.send_sei_msg(&[], 0), error::ERR_INVALID_PARAM);
    assert_eq!(a.send_sei_msg(&vec![1; 4097], 0), error::ERR_INVALID_PARAM);
    assert_eq!(a.send_sei_msg(b"x", 2), error::ERR_INVALID_PARAM);
    assert_eq!(a.send_sei_msg(b"x", 1), error::ERR_INVALID_STATE, "no substream is being sent");
    assert_eq!(b.send_sei_msg(b"x", 0), error::ERR_INVALID_STATE, "B sends no video");

    let big: Vec<u8> = (0..4096u32).map(|i| (i % 7) as u8).collect(); // zeros and 1..=3 all over
    let sent: Vec<Vec<u8>> = vec![b"first".to_vec(), vec![0, 0, 0, 1, 0, 0, 3, 0, 0, 2], big, b"last".to_vec()];
    let started = Instant::now();
    for m in &sent {
        assert_eq!(a.send_sei_msg(m, 0), error::OK);
    }
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < sent.len() {
        match b_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(EngineEvent::RecvSEIMsg { uid, data }) => {
                assert_eq!(uid, 1);
                got.push(data);
            }
            Ok(_) => {}
            Err(_) => panic!("only {} of {} SEI messages arrived", got.len(), sent.len()),
        }
    }
    println!("{} SEI messages arrived within {:?} (one per picture at 15 fps)", got.len(), started.elapsed());
    assert_eq!(got, sent, "intact and in order");

    b.release();
    a.release();
    rt.block_on(server.shutdown());
}

/// The `UserDataReceiveMessage`s from `uid` among `events`.
fn data_from(events: &[EngineEvent], uid: u64) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::UserDataReceiveMessage { uid: u, data } if *u == uid => Some(data.clone()),
            _ => None,
        })
        .collect()
}

/// Collects events until `n` data messages from `uid` arrived (10 s at most).
fn receive(rx: &crossbeam_channel::Receiver<EngineEvent>, uid: u64, n: usize) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    while got.len() < n {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(EngineEvent::UserDataReceiveMessage { uid: u, data }) if u == uid => got.push(data),
            Ok(_) => {}
            Err(_) => panic!("only {} of {n} data messages arrived", got.len()),
        }
    }
    got
}

#[test]
fn data_channel_delivers_in_order_with_limits_and_subscriptions() {
    use common::{collect, engine};
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(nertc_server::start(nertc_server::ServerConfig::embedded())).expect("server starts");
    let url = server.url();
    let joined = |rx: &crossbeam_channel::Receiver<EngineEvent>, who: &str| {
        common::wait(rx, who, Duration::from_secs(10), |e| matches!(e, EngineEvent::JoinChannel { result: 0, .. }))
    };
    let (a, a_rx) = engine(&url);
    assert_eq!(a.enable_local_data(true), error::ERR_NOT_JOINED, "in a channel only");
    assert_eq!(a.join_channel(None, "engine-data", 1), error::OK);
    joined(&a_rx, "A joined");
    let (b, b_rx) = engine(&url);
    assert_eq!(b.join_channel(None, "engine-data", 2), error::OK);
    joined(&b_rx, "B joined");

    assert_eq!(a.send_data(b"early"), error::ERR_INVALID_STATE, "before enableLocalData(true)");
    assert_eq!(a.enable_local_data(true), error::OK);
    common::wait(&b_rx, "A's data starts at B", Duration::from_secs(10), |e| matches!(e, EngineEvent::UserDataStart { uid: 1 }));
    // A late joiner learns it from the join snapshot.
    let (c, c_rx) = engine(&url);
    assert_eq!(c.join_channel(None, "engine-data", 3), error::OK);
    common::wait(&c_rx, "A's data starts at C", Duration::from_secs(10), |e| matches!(e, EngineEvent::UserDataStart { uid: 1 }));

    let max = nertc_protocol::MAX_DATA_BYTES;
    assert_eq!(a.send_data(&[]), error::ERR_INVALID_PARAM);
    assert_eq!(a.send_data(&vec![7; max + 1]), error::ERR_INVALID_PARAM);
    let big: Vec<u8> = (0..max).map(|i| (i * 31 % 256) as u8).collect();
    let mut sent: Vec<Vec<u8>> = (0..40u32).map(|i| format!("message {i}").into_bytes()).collect();
    sent.insert(20, big);
    sent.push(vec![0, 255, 0, 1]);
    let started = Instant::now();
    for m in &sent {
        assert_eq!(a.send_data(m), error::OK);
    }
    let at_b = receive(&b_rx, 1, sent.len());
    println!("{} data messages (one of {max} bytes) at B within {:?}", at_b.len(), started.elapsed());
    assert_eq!(at_b, sent, "intact and in order at B");
    assert_eq!(receive(&c_rx, 1, sent.len()), sent, "and at C");

    // C unsubscribes from A's data: B still gets it, C nothing.
    assert_eq!(c.subscribe_remote_data(1, false), error::OK);
    std::thread::sleep(Duration::from_millis(500));
    for i in 0..5u8 {
        assert_eq!(a.send_data(&[i]), error::OK);
    }
    assert_eq!(receive(&b_rx, 1, 5), (0..5u8).map(|i| vec![i]).collect::<Vec<_>>());
    let at_c = data_from(&collect(&c_rx, Duration::from_millis(700)), 1);
    assert!(at_c.is_empty(), "C unsubscribed but got {} messages", at_c.len());
    assert_eq!(c.subscribe_remote_data(1, true), error::OK);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(a.send_data(b"again"), error::OK);
    assert_eq!(receive(&c_rx, 1, 1), vec![b"again".to_vec()], "resubscribed");

    // The rate limit: at most 100 a second.
    std::thread::sleep(Duration::from_millis(1100));
    let mut accepted = 0;
    let code = loop {
        let code = a.send_data(b"burst");
        if code != error::OK || accepted > 100 {
            break code;
        }
        accepted += 1;
    };
    assert_eq!((code, accepted), (error::ERR_BUSY, 100), "the 101st message within a second is refused");
    assert_eq!(receive(&b_rx, 1, 100).len(), 100, "the accepted ones arrive");

    assert_eq!(a.enable_local_data(false), error::OK);
    common::wait(&b_rx, "A's data stops at B", Duration::from_secs(10), |e| matches!(e, EngineEvent::UserDataStop { uid: 1 }));
    assert_eq!(a.send_data(b"late"), error::ERR_INVALID_STATE);

    for e in [c, b, a] {
        e.release();
    }
    rt.block_on(server.shutdown());
}
