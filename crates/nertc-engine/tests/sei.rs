//! `sendSEIMsg` through the embedded server: A's data rides in its H.264 stream as SEI NAL
//! units and B's `onRecvSEIMsg` returns it intact (bytes that need emulation prevention, the
//! 4096-byte maximum) and in order; the codes for bad input and for a stream not being sent.

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
