//! `sendSEIMsg` through the embedded server: A's data rides in its H.264 stream as SEI NAL
//! units and B's `onRecvSEIMsg` returns it intact (bytes that need emulation prevention, the
//! 4096-byte maximum) and in order; the codes for bad input and for a stream not being sent.
//! Also the data channel (`enableLocalData` / `sendData` / `subscribeRemoteData`) through the
//! room server's SCTP data channels (protocol 4): no SCTP in a room until someone enables data,
//! start/stop events (a late joiner's from the join snapshot), delivery in order and intact up
//! to the size limit (500 messages of mixed sizes, counted by the server as SCTP in and out),
//! the codes, unsubscribing stops delivery, the rate limit, and a protocol-3 client on
//! signaling bridged both ways.

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
    use nertc_server::metrics::DataPath;
    use std::sync::atomic::Ordering::Relaxed;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(nertc_server::start(nertc_server::ServerConfig::embedded())).expect("server starts");
    let url = server.url();
    let metrics = server.metrics.clone();
    let channels_open = |n: i64, what: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while metrics.data_channels.load(Relaxed) != n {
            assert!(Instant::now() < deadline, "{what}: {} data channels open, not {n}", metrics.data_channels.load(Relaxed));
            std::thread::sleep(Duration::from_millis(20));
        }
    };
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
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(metrics.data_channels.load(Relaxed), 0, "no SCTP while nobody uses data");

    assert_eq!(a.send_data(b"early"), error::ERR_INVALID_STATE, "before enableLocalData(true)");
    assert_eq!(a.enable_local_data(true), error::OK);
    common::wait(&b_rx, "A's data starts at B", Duration::from_secs(10), |e| matches!(e, EngineEvent::UserDataStart { uid: 1 }));
    // A late joiner learns it from the join snapshot, and gets a data channel too.
    let (c, c_rx) = engine(&url);
    assert_eq!(c.join_channel(None, "engine-data", 3), error::OK);
    common::wait(&c_rx, "A's data starts at C", Duration::from_secs(10), |e| matches!(e, EngineEvent::UserDataStart { uid: 1 }));
    channels_open(3, "A sends, B and C receive");

    let max = nertc_protocol::MAX_DATA_BYTES;
    assert_eq!(a.send_data(&[]), error::ERR_INVALID_PARAM);
    assert_eq!(a.send_data(&vec![7; max + 1]), error::ERR_INVALID_PARAM);
    // 500 messages of sizes from 1 byte to the limit, each one's bytes naming it: 100 a second
    // (the engine's limit), in order and intact at B and C, all through SCTP.
    let sctp0 = metrics.data_messages(DataPath::Sctp);
    let signaling0 = metrics.data_messages(DataPath::Signaling);
    let sent: Vec<Vec<u8>> = (0..500usize)
        .map(|i| {
            let len = match i % 5 {
                0 => 1 + i % 7,
                1 => 1000 + i,
                2 => max - i,
                3 => 16_384 + i * 13,
                _ => max,
            };
            (0..len).map(|j| (i * 7 + j * 31) as u8).collect()
        })
        .collect();
    let started = Instant::now();
    for batch in sent.chunks(100) {
        let window = Instant::now();
        for m in batch {
            assert_eq!(a.send_data(m), error::OK);
        }
        std::thread::sleep(Duration::from_millis(1010).saturating_sub(window.elapsed()));
    }
    let at_b = receive(&b_rx, 1, sent.len());
    let mib = sent.iter().map(Vec::len).sum::<usize>() as f64 / 1048576.0;
    println!("{} data messages ({mib:.1} MiB) at B within {:?}", at_b.len(), started.elapsed());
    assert!(at_b == sent, "intact and in order at B");
    assert!(receive(&c_rx, 1, sent.len()) == sent, "and at C");
    let (sctp, signaling) = (metrics.data_messages(DataPath::Sctp), metrics.data_messages(DataPath::Signaling));
    assert_eq!((sctp.0 - sctp0.0, sctp.1 - sctp0.1), (500, 1000), "in from A and out to B and C over SCTP");
    assert_eq!(signaling, signaling0, "none over signaling");

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

    // A protocol-3 client (signaling only) gets A's messages over its socket, and its own
    // reach A over A's data channel.
    rt.block_on(async {
        let req = nertc_protocol::JoinRequest {
            token: None,
            app_key: "test".into(),
            channel: "engine-data".into(),
            uid: 4,
            name: "v3".into(),
            protocol: 3,
            resume: None,
            role: Default::default(),
        };
        let mut d = nertc_signal::connect(&url, req, nertc_signal::Options::default()).await.expect("v3 client joins");
        let sig0 = metrics.data_messages(DataPath::Signaling);
        assert_eq!(a.send_data(b"to v3"), error::OK);
        let got = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match d.events.recv().await.expect("events until closed") {
                    nertc_signal::SignalEvent::Transport(nertc_protocol::TransportMsg::Data { uid, data }) => break (uid, data),
                    _ => continue,
                }
            }
        })
        .await
        .expect("A's message at the v3 client");
        assert_eq!(got, (1, b"to v3".to_vec()));
        assert_eq!(metrics.data_messages(DataPath::Signaling).1 - sig0.1, 1, "to the v3 client over signaling");
        d.signal
            .call(nertc_protocol::ClientMsg::EnableData(nertc_protocol::EnableDataRequest { enabled: true }))
            .await
            .expect("v3 enables data");
        let (sctp0, sig0) = (metrics.data_messages(DataPath::Sctp), metrics.data_messages(DataPath::Signaling));
        for m in [&b"from v3"[..], &[0u8, 1, 2][..]] {
            d.signal.send(nertc_protocol::ClientMsg::Data(nertc_protocol::DataMsg { data: m.to_vec() })).expect("sent");
        }
        assert_eq!(receive(&a_rx, 4, 2), vec![b"from v3".to_vec(), vec![0, 1, 2]], "at A");
        assert_eq!(receive(&b_rx, 4, 2).len(), 2, "at B");
        let sig = metrics.data_messages(DataPath::Signaling);
        assert_eq!(sig.0 - sig0.0, 2, "in over signaling");
        assert_eq!(metrics.data_messages(DataPath::Sctp).1 - sctp0.1, 6, "out to A, B and C over SCTP");
        d.signal.close();
    });
    channels_open(3, "the v3 client has none");

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
    channels_open(0, "everyone left");

    // The switch from signaling to the channels keeps the order: in a new room, E enables data
    // and sends at once (its first messages go over signaling, while its channel and F's are
    // set up, then over SCTP); G joins meanwhile. F gets them all in order, G an unbroken tail.
    let (e, e_rx) = engine(&url);
    assert_eq!(e.join_channel(None, "engine-data-switch", 5), error::OK);
    joined(&e_rx, "E joined");
    let (f, f_rx) = engine(&url);
    assert_eq!(f.join_channel(None, "engine-data-switch", 6), error::OK);
    joined(&f_rx, "F joined");
    let (sctp0, signaling0) = (metrics.data_messages(DataPath::Sctp), metrics.data_messages(DataPath::Signaling));
    let sent: Vec<Vec<u8>> =
        (0..150u32).map(|i| [i.to_be_bytes().as_slice(), &vec![i as u8; 1 + (i as usize * 211) % 20_000]].concat()).collect();
    assert_eq!(e.enable_local_data(true), error::OK);
    let (g, g_rx) = std::thread::scope(|scope| {
        scope.spawn(|| {
            for m in &sent {
                assert_eq!(e.send_data(m), error::OK);
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        std::thread::sleep(Duration::from_millis(300));
        let (g, g_rx) = engine(&url);
        assert_eq!(g.join_channel(None, "engine-data-switch", 7), error::OK);
        (g, g_rx)
    });
    assert!(receive(&f_rx, 5, sent.len()) == sent, "all in order at F");
    let at_g = data_from(&collect(&g_rx, Duration::from_millis(500)), 5);
    let first = sent.iter().position(|m| Some(m) == at_g.first()).expect("G got some");
    assert!(at_g[..] == sent[first..], "G: an unbroken tail from message {first}");
    let (sctp, signaling) = (metrics.data_messages(DataPath::Sctp), metrics.data_messages(DataPath::Signaling));
    println!(
        "switch: in over signaling {} then SCTP {}; out over signaling {}, SCTP {}; G from message {first}",
        signaling.0 - signaling0.0,
        sctp.0 - sctp0.0,
        signaling.1 - signaling0.1,
        sctp.1 - sctp0.1
    );
    assert!(signaling.0 > signaling0.0 && sctp.0 > sctp0.0, "E's messages took both paths");
    assert_eq!(sctp.0 - sctp0.0 + signaling.0 - signaling0.0, 150);
    for x in [g, f, e] {
        x.release();
    }
    channels_open(0, "everyone left");
    rt.block_on(server.shutdown());
}
