//! Hardened edges: connections that never become a WebSocket, the per-IP connection cap, close
//! codes that survive a flood or a huge frame, config validation, over-long tokens, and the
//! `pub` offer checks (`pub_mids` coverage, increasing `neg`).

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

use nertc_protocol::token;
use nertc_protocol::*;
use nertc_server::config::{Connections, Limits, Timeouts};
use nertc_server::{AppConfig, ServerConfig};
use support::*;

/// Generous bound for anything the server should do "soon" on a loaded 2-core machine.
const SOON: Duration = Duration::from_secs(30);

type RawWs = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn raw_ws(server: &nertc_server::RunningServer) -> RawWs {
    let (ws, _) = tokio_tungstenite::connect_async(format!("{}{WS_PATH}", server.url())).await.expect("websocket connects");
    ws
}

/// Sends a join as raw JSON and waits for its successful response.
async fn raw_join(ws: &mut RawWs, channel: &str, uid: Uid) {
    let frame = ClientFrame { id: Some(1), msg: ClientMsg::Join(join_req(channel, uid)) };
    ws.send(Message::Text(frame.to_json().into())).await.expect("join sent");
    loop {
        let m = tokio::time::timeout(SOON, ws.next()).await.expect("join answered in time");
        let t = match m {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(_)) => continue,
            other => panic!("socket ended before the join response: {other:?}"),
        };
        if let Ok(ServerFrame::Response { re: 1, result }) = ServerFrame::parse(&t) {
            result.expect("join succeeds");
            return;
        }
    }
}

/// Reads until the server's close frame: its (code, reason). A reset or an end without a close
/// frame fails the test, printing what happened.
async fn read_close(ws: &mut RawWs) -> (u16, String) {
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await.expect("the server closes in time") {
            Some(Ok(Message::Close(Some(c)))) => return (u16::from(c.code), c.reason.to_string()),
            Some(Ok(Message::Close(None))) => panic!("close frame without a code"),
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("no close frame, the socket failed: {e}"),
            None => panic!("no close frame, the socket ended"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_never_upgrade_are_closed() {
    let timeout = Duration::from_millis(3000);
    let config = ServerConfig {
        connections: Connections { handshake_timeout_ms: timeout.as_millis() as u64, max_per_ip: 1000 },
        timeouts: Timeouts { join_ms: 20_000, ..Timeouts::default() },
        ..ServerConfig::embedded()
    };
    let server = server_with(config).await;
    let started = Instant::now();
    // 200 connections that send nothing, one that stops half-way through its request line and
    // headers, and one that sends a plain HTTP request and then keeps the connection open.
    let mut conns = Vec::new();
    for _ in 0..200 {
        conns.push(tokio::net::TcpStream::connect(server.addr).await.expect("tcp connects"));
    }
    let mut partial = tokio::net::TcpStream::connect(server.addr).await.expect("tcp connects");
    partial.write_all(b"GET /rtc/v1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n").await.unwrap();
    conns.push(partial);
    let mut keep_alive = tokio::net::TcpStream::connect(server.addr).await.expect("tcp connects");
    keep_alive.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    conns.push(keep_alive);
    // A WebSocket opened at the same time is not cut by the handshake timeout: it may join
    // well after it (the join timeout is 20 s here).
    let mut ws = Client::connect(&server, 1).await;

    let mut tasks = Vec::new();
    for mut c in conns {
        tasks.push(tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            // Ends with EOF (or a reset); a response to the plain HTTP request comes first.
            tokio::time::timeout(SOON, async {
                loop {
                    match c.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                }
            })
            .await
            .is_ok()
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap(), "a connection was still open {SOON:?} after it was made");
    }
    // The timer cannot fire early: nothing was closed before the timeout.
    assert!(started.elapsed() >= timeout, "closed after {:?}", started.elapsed());
    assert!(server.metrics.handshake_timeouts.load(Relaxed) >= 202, "{}", server.metrics.handshake_timeouts.load(Relaxed));

    let r = ws.join(join_req("late", 1)).await.expect("a WebSocket joins after the handshake timeout");
    assert_eq!(r.uid, 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_per_ip_cap_are_refused() {
    let config = ServerConfig { connections: Connections { max_per_ip: 4, ..Connections::default() }, ..ServerConfig::embedded() };
    let server = server_with(config).await;
    let mut clients = Vec::new();
    for uid in 1..=4 {
        clients.push(Client::joined(&server, "cap", uid).await);
    }
    // The fifth connection from 127.0.0.1 is refused before any HTTP: no WebSocket.
    let refused = tokio_tungstenite::connect_async(format!("{}{WS_PATH}", server.url())).await;
    assert!(refused.is_err(), "a connection beyond the cap was accepted");
    // A raw one reads the 503 (or, if its own bytes crossed the close, a reset): never a 101.
    let mut raw = tokio::net::TcpStream::connect(server.addr).await.expect("tcp connects");
    let mut got = Vec::new();
    let _ = tokio::time::timeout(SOON, raw.read_to_end(&mut got)).await.expect("refused connection closes");
    let got = String::from_utf8_lossy(&got);
    assert!(got.is_empty() || got.starts_with("HTTP/1.1 503"), "{got}");
    assert!(server.metrics.connections_refused.load(Relaxed) >= 2);

    // The four admitted ones still work.
    for c in &clients {
        c.send_raw(r#"{"t":"ping","d":{"ts":5}}"#).await;
    }
    for c in &mut clients {
        c.wait_frame("pong", |f| matches!(f, ServerFrame::Transport(TransportMsg::Pong(Ping { ts: 5 })))).await;
    }
    // One leaves: its slot frees once its socket is closed and drained.
    let leaving = clients.pop().unwrap();
    leaving.request(ClientMsg::Leave(Empty {})).await.expect("leave answered");
    drop(leaving);
    let deadline = Instant::now() + SOON;
    loop {
        match tokio_tungstenite::connect_async(format!("{}{WS_PATH}", server.url())).await {
            Ok(_) => break,
            Err(e) => {
                assert!(Instant::now() < deadline, "the freed slot was never reusable: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_gets_1008_not_a_reset() {
    // 400 frames against a limit of 100 a second trip it however slowly a loaded machine reads
    // them (the windows are one second long).
    let config = ServerConfig { limits: Limits { max_frames_per_sec: 100, ..Limits::default() }, ..ServerConfig::embedded() };
    let server = server_with(config).await;
    for round in 0..3 {
        // JSON pings, joined.
        let mut ws = raw_ws(&server).await;
        raw_join(&mut ws, "flood", 10 + round).await;
        for i in 0..400 {
            let ping = format!(r#"{{"t":"ping","d":{{"ts":{i}}}}}"#);
            ws.feed(Message::Text(ping.into())).await.expect("no reset while flooding");
        }
        ws.flush().await.expect("no reset while flooding");
        assert_eq!(read_close(&mut ws).await, (1008, "rate limited".to_string()), "round {round}, json pings");

        // WebSocket ping frames, before any join: they count too.
        let mut ws = raw_ws(&server).await;
        for _ in 0..400 {
            ws.feed(Message::Ping(vec![1, 2, 3].into())).await.expect("no reset while flooding");
        }
        ws.flush().await.expect("no reset while flooding");
        assert_eq!(read_close(&mut ws).await, (1008, "rate limited".to_string()), "round {round}, control pings");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_frame_gets_1009_not_a_reset() {
    let server = server().await;
    let huge = format!(r#"{{"t":"ping","d":{{"ts":1}},"pad":"{}"}}"#, "x".repeat(10 << 20));
    for round in 0..2 {
        // Before join.
        let mut ws = raw_ws(&server).await;
        ws.send(Message::Text(huge.clone().into())).await.expect("the server reads the whole frame: no reset while sending");
        assert_eq!(read_close(&mut ws).await, (1009, "frame too large".to_string()), "round {round}, before join");
        // After join.
        let mut ws = raw_ws(&server).await;
        raw_join(&mut ws, "huge", 20 + round).await;
        ws.send(Message::Text(huge.clone().into())).await.expect("the server reads the whole frame: no reset while sending");
        assert_eq!(read_close(&mut ws).await, (1009, "frame too large".to_string()), "round {round}, joined");
    }
    // The server is fine.
    Client::joined(&server, "huge", 30).await;
    server.shutdown().await;
}

const SECRET: &str = "hardening-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_long_tokens_are_refused_as_auth_errors() {
    let mut apps = BTreeMap::new();
    apps.insert("strict".to_string(), AppConfig { secret: SECRET.into(), debug: false });
    let server = server_with(ServerConfig { apps, ..ServerConfig::embedded() }).await;
    let req = |t: String| JoinRequest { app_key: "strict".into(), token: Some(t), ..join_req("tok", 7) };

    // A long token that fits in a frame: token_malformed, before any decoding.
    let good = token::mint("strict", SECRET, "tok", 7, token::now_secs(), 600);
    let padded = format!("{good}{}", "A".repeat(8000));
    let mut c = Client::connect(&server, 7).await;
    let e = c.join(req(padded)).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::TokenMalformed, "{e:?}");
    assert!(e.msg.contains("4096"), "{}", e.msg);
    assert_eq!(server.metrics.joins_failed(ErrorCode::TokenMalformed), 1);
    // The same socket may still join with a good token.
    c.join(req(good)).await.expect("a good token joins");

    // A 1 MB token does not fit in a frame: the socket is closed with 1009 (not reset).
    let mut ws = raw_ws(&server).await;
    let frame = ClientFrame { id: Some(1), msg: ClientMsg::Join(req("B".repeat(1 << 20))) };
    ws.send(Message::Text(frame.to_json().into())).await.expect("no reset while sending");
    assert_eq!(read_close(&mut ws).await.0, 1009);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_config_is_refused_at_start() {
    let config = ServerConfig { limits: Limits { outbound_queue: 0, ..Limits::default() }, ..ServerConfig::embedded() };
    let err = nertc_server::start(config).await.expect_err("outbound_queue = 0 is refused");
    assert!(err.to_string().contains("limits.outbound_queue"), "{err}");
}

/// Runs the binary; (exit code, stderr). A process still running after `SOON` is killed and
/// fails the test (a server that started with a bad config).
fn run_binary(args: &[&str]) -> (Option<i32>, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_nertc-server"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let deadline = Instant::now() + SOON;
    loop {
        if child.try_wait().expect("wait").is_some() {
            let out = child.wait_with_output().expect("output");
            return (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!("nertc-server {args:?} still running; stderr: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_binary_refuses_bad_configs_and_unusable_tokens() {
    let dir = std::env::temp_dir().join(format!("nertc-hardening-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        ("limits.outbound_queue", "[limits]\noutbound_queue = 0\n"),
        ("rtc.udp_port_max", "[rtc]\nudp_port_min = 6000\nudp_port_max = 5000\n"),
        ("timeouts.ping_timeout_ms", "[timeouts]\nping_timeout_ms = 0\n"),
        ("connections.max_per_ip", "listen = \"127.0.0.1:0\"\n[connections]\nmax_per_ip = 0\n"),
    ];
    for (i, (key, text)) in cases.iter().enumerate() {
        let path = dir.join(format!("bad{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let (code, stderr) = run_binary(&["--config", path.to_str().unwrap()]);
        assert!(code.is_some_and(|c| c != 0), "{key}: exit {code:?}");
        assert!(stderr.contains(key), "{key}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // --listen is validated too.
    let (code, stderr) = run_binary(&["--listen", "nowhere"]);
    assert!(code.is_some_and(|c| c != 0) && stderr.contains("listen"), "{code:?} {stderr}");

    let token =
        |uid: &str, ttl: &str| run_binary(&["token", "--app-key", "k", "--channel", "c", "--uid", uid, "--ttl", ttl, "--secret", "s"]);
    let (code, stderr) = token("0", "60");
    assert!(code.is_some_and(|c| c != 0) && stderr.contains("--uid 0"), "{code:?} {stderr}");
    let (code, stderr) = token("5", "0");
    assert!(code.is_some_and(|c| c != 0) && stderr.contains("--ttl"), "{code:?} {stderr}");
    let (code, _) = token("5", "60");
    assert_eq!(code, Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A client `pub` connection with one audio and one video sender for the given track ids.
async fn pub_pc(audio: &TrackId, video: &TrackId) -> (TestPc, BTreeMap<String, TrackId>) {
    use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
    use webrtc::media_stream::track_local::TrackLocal;
    use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
    let (pc, mut events) = nertc_rtc::pc::PcBuilder::default().build().await.expect("client peer connection");
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    let mut senders = Vec::new();
    for (tid, kind, mime) in [(audio, RtpCodecKind::Audio, "audio/opus"), (video, RtpCodecKind::Video, "video/H264")] {
        let (codec, _, _) = nertc_rtc::codecs::canonical(mime).expect("known codec");
        let local = Arc::new(TrackLocalStaticRTP::new(nertc_rtc::codecs::media_track("s".into(), tid, kind, codec, rand_ssrc(tid))));
        let sender = pc.pc.add_track(local as Arc<dyn TrackLocal>).await.expect("add_track");
        senders.push((tid.clone(), sender));
    }
    let offer = pc.pc.create_offer(None).await.expect("offer");
    pc.pc.set_local_description(offer).await.expect("set local offer");
    let mut mids = BTreeMap::new();
    for (tid, sender) in &senders {
        mids.insert(pc.mid_of_sender(sender.id()).await.expect("sender has a mid"), tid.clone());
    }
    (pc, mids)
}

fn rand_ssrc(tid: &str) -> u32 {
    0x1000_0000 + tid.bytes().map(u32::from).sum::<u32>()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pub_offers_must_name_every_sending_mid_and_increase_neg() {
    let server = server().await;
    let c = Client::joined(&server, "offers", 1).await;
    let audio = c.publish_req(MediaKind::Audio, TrackSource::Mic).await;
    let video = c.publish_req(MediaKind::Video, TrackSource::Camera).await;
    let (pc, mids) = pub_pc(&audio, &video).await;
    let sdp = pc.local_sdp().await.expect("local sdp");
    let offer = |neg: u64, pub_mids: BTreeMap<String, TrackId>| {
        ClientMsg::Sdp(SdpMsg {
            pc: PcKind::Pub,
            kind: SdpType::Offer,
            sdp: sdp.clone(),
            neg,
            pub_mids,
            sub_mids: BTreeMap::new(),
            pub_rids: BTreeMap::new(),
            fresh: false,
        })
    };

    // The video m-line left out of pub_mids: refused, naming its mid; nothing reaches the SFU.
    let (video_mid, _) = mids.iter().find(|(_, t)| **t == video).expect("video mid");
    let audio_only: BTreeMap<_, _> = mids.iter().filter(|(_, t)| **t == audio).map(|(m, t)| (m.clone(), t.clone())).collect();
    let e = c.request(offer(1, audio_only)).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::BadRequest);
    assert!(e.msg.contains(&format!("mid {video_mid:?}")), "{}", e.msg);
    let e = c.request(offer(1, BTreeMap::new())).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::BadRequest, "{e:?}");

    // Complete: answered. The refused offers did not use up neg 1.
    let reply = c.request(offer(1, mids.clone())).await.expect("a complete offer is answered");
    let Reply::PubAnswer(answer) = reply else { panic!("{reply:?}") };
    assert_eq!(answer.neg, 1);

    // The same or a lower neg again: refused as stale.
    for neg in [1, 0] {
        let e = c.request(offer(neg, mids.clone())).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest, "neg {neg}");
        assert!(e.msg.contains("not higher"), "{}", e.msg);
    }
    // A real renegotiation with a higher neg is answered.
    pc.pc
        .set_remote_description(webrtc::peer_connection::RTCSessionDescription::answer(answer.sdp).expect("answer sdp"))
        .await
        .expect("set remote answer");
    let offer2 = pc.pc.create_offer(None).await.expect("second offer");
    pc.pc.set_local_description(offer2).await.expect("set local offer");
    let sdp2 = pc.local_sdp().await.expect("local sdp");
    let msg = SdpMsg {
        pc: PcKind::Pub,
        kind: SdpType::Offer,
        sdp: sdp2,
        neg: 5,
        pub_mids: mids,
        sub_mids: BTreeMap::new(),
        pub_rids: BTreeMap::new(),
        fresh: false,
    };
    let reply = c.request(ClientMsg::Sdp(msg)).await.expect("a higher neg is answered");
    assert!(matches!(reply, Reply::PubAnswer(ref a) if a.neg == 5), "{reply:?}");
    server.shutdown().await;
}

/// The server's side of a client's `pub` connection that does not come up (here the client
/// never applies the answer, so its side starts neither ICE nor DTLS) is the client's to
/// replace: the server asks with `replace {pc: "pub", neg}` (the last offer it applied) once,
/// 10 s after that connection's first offer, whatever the client's side looks like.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_asks_the_client_to_replace_a_pub_connection_not_up_on_its_side() {
    let server = server().await;
    let mut c = Client::joined(&server, "stuck-pub", 1).await;
    let audio = c.publish_req(MediaKind::Audio, TrackSource::Mic).await;
    let video = c.publish_req(MediaKind::Video, TrackSource::Camera).await;
    let (pc, mids) = pub_pc(&audio, &video).await;
    let sdp = pc.local_sdp().await.expect("local sdp");
    drop(pc);
    let offer = SdpMsg {
        pc: PcKind::Pub,
        kind: SdpType::Offer,
        sdp,
        neg: 3,
        pub_mids: mids,
        sub_mids: BTreeMap::new(),
        pub_rids: BTreeMap::new(),
        fresh: false,
    };
    let offered = Instant::now();
    let reply = c.request(ClientMsg::Sdp(offer)).await.expect("the offer is answered");
    assert!(matches!(reply, Reply::PubAnswer(ref a) if a.neg == 3), "{reply:?}");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let is_replace = |f: &ServerFrame| matches!(f, ServerFrame::Transport(TransportMsg::Replace(_)));
    let f = c.wait_frame("replace", is_replace).await;
    let waited = offered.elapsed();
    assert_eq!(f, ServerFrame::Transport(TransportMsg::Replace(ReplaceMsg { pc: PcKind::Pub, neg: 3 })));
    // Its ICE cannot fail sooner (nothing answers its checks, and that takes longer to decide).
    assert!(waited >= Duration::from_secs(10) && waited < Duration::from_secs(15), "asked after {waited:?}");
    // Once per connection.
    let again = tokio::time::timeout(Duration::from_secs(3), c.wait_frame("another replace", is_replace)).await;
    assert!(again.is_err(), "asked again: {again:?}");
    server.shutdown().await;
}

/// A client whose side of `sub` did not come up asks the server to replace it (`replace {pc:
/// "sub", neg}`): the server answers with a `fresh` sub offer from a new connection carrying the
/// subscriptions, whose media flows. A request about a connection replaced since is ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_replaces_a_sub_connection_the_client_says_is_not_up() {
    let server = server().await;
    let mut a = Client::joined(&server, "stuck-sub", 1).await;
    let mut b = Client::joined(&server, "stuck-sub", 2).await;
    let (_, video) = a.publish_av().await;
    b.wait_event("A's video published", |e| matches!(e, RoomEvent::TrackPublished { track, .. } if track.track_id == video)).await;
    b.subscribe(&video).await.expect("subscribe accepted");
    let sub_offer = |fresh: bool| move |f: &ServerFrame| matches!(f, ServerFrame::Transport(TransportMsg::Sdp(o)) if o.pc == PcKind::Sub && o.fresh == fresh);
    let ServerFrame::Transport(TransportMsg::Sdp(first)) = b.wait_frame("the sub offer", sub_offer(false)).await else {
        unreachable!("matched a sub offer")
    };
    let replace = |neg: u64| format!(r#"{{"t":"replace","d":{{"pc":"sub","neg":{neg}}}}}"#);
    b.send_raw(replace(first.neg)).await;
    let ServerFrame::Transport(TransportMsg::Sdp(fresh)) = b.wait_frame("a fresh sub offer", sub_offer(true)).await else {
        unreachable!("matched a sub offer")
    };
    assert!(fresh.neg > first.neg, "neg {} after {}", fresh.neg, first.neg);
    assert!(fresh.sub_mids.values().any(|m| m.track_id == video), "the subscription is on the new connection: {:?}", fresh.sub_mids);
    // About the replaced connection: ignored.
    b.send_raw(replace(first.neg)).await;
    let again = tokio::time::timeout(Duration::from_secs(2), b.wait_frame("another fresh offer", sub_offer(true))).await;
    assert!(again.is_err(), "replaced again: {again:?}");
    // Media on the new connection.
    let before = b.received(&video).await.intact;
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.received(&video).await.intact < before + 30 {
        assert!(Instant::now() < deadline, "no video on the new sub connection: {} packets intact", b.received(&video).await.intact);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // `pub` is the client's to replace: refused.
    let e = b.request(ClientMsg::Replace(ReplaceMsg { pc: PcKind::Pub, neg: 1 })).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::BadRequest, "{e:?}");
    server.shutdown().await;
}

/// Reads frames until one matches `pred`, returning it.
async fn raw_until(ws: &mut RawWs, what: &str, pred: impl Fn(&ServerFrame) -> bool) -> ServerFrame {
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await.unwrap_or_else(|_| panic!("timed out waiting for {what}")) {
            Some(Ok(Message::Text(t))) => {
                let f = ServerFrame::parse(&t).expect("the server's frames parse");
                if pred(&f) {
                    return f;
                }
            }
            Some(Ok(_)) => {}
            other => panic!("socket ended waiting for {what}: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sub_offer_never_lists_an_ended_subscription() {
    let server = server().await;
    let mut a = Client::joined(&server, "ended", 1).await;
    let (_, video) = a.publish_av().await;
    // B, on a raw socket, subscribes to the video (live or not yet: it is added when it is)
    // and leaves the sub offer that adds it unanswered.
    let mut b = raw_ws(&server).await;
    let join = ClientFrame { id: Some(1), msg: ClientMsg::Join(join_req("ended", 2)) };
    b.send(Message::Text(join.to_json().into())).await.expect("join sent");
    let ServerFrame::Response { result: Ok(d), .. } =
        raw_until(&mut b, "the join result", |f| matches!(f, ServerFrame::Response { re: 1, .. })).await
    else {
        panic!("join refused")
    };
    let joined: JoinResult = serde_json::from_value(d).expect("a join result");
    b.send(Message::Text(format!(r#"{{"id":2,"t":"subscribe","d":{{"track_id":"{video}"}}}}"#).into())).await.expect("subscribe sent");
    let offer = raw_until(&mut b, "a sub offer", |f| matches!(f, ServerFrame::Transport(TransportMsg::Sdp(_)))).await;
    let ServerFrame::Transport(TransportMsg::Sdp(offer)) = offer else { unreachable!("matched an sdp") };
    assert!(offer.sub_mids.values().any(|m| m.track_id == video), "{:?}", offer.sub_mids);

    // A unpublishes the video: B hears `subscription ended`, its offer is still unanswered.
    a.request(ClientMsg::Unpublish(TrackRef { track_id: video.clone() })).await.expect("unpublish accepted");
    let ended = raw_until(&mut b, "subscription ended", |f| {
        matches!(f, ServerFrame::Event { event: RoomEvent::Subscription { track_id, state: SubscriptionState::Ended }, .. } if *track_id == video)
    })
    .await;
    let ServerFrame::Event { seq, .. } = ended else { unreachable!("matched an event") };
    // B's socket drops; B resumes with everything up to `ended` processed. The server re-sends
    // the unanswered offer: without the video, which B knows has ended.
    drop(b);
    let mut b = raw_ws(&server).await;
    let resume = Resume { session_id: joined.session_id, resume_token: joined.resume_token, last_seq: seq };
    let rejoin = ClientFrame { id: Some(1), msg: ClientMsg::Join(JoinRequest { resume: Some(resume), ..join_req("ended", 2) }) };
    b.send(Message::Text(rejoin.to_json().into())).await.expect("resume sent");
    let r = raw_until(&mut b, "the resume result", |f| matches!(f, ServerFrame::Response { re: 1, .. })).await;
    assert!(matches!(r, ServerFrame::Response { result: Ok(_), .. }), "{r:?}");
    let again = raw_until(&mut b, "the re-sent sub offer", |f| matches!(f, ServerFrame::Transport(TransportMsg::Sdp(_)))).await;
    let ServerFrame::Transport(TransportMsg::Sdp(again)) = again else { unreachable!("matched an sdp") };
    assert_eq!(again.neg, offer.neg, "the unanswered offer is re-sent");
    let tracks: Vec<&TrackId> = again.sub_mids.values().map(|m| &m.track_id).collect();
    assert!(!tracks.contains(&&video), "the re-sent offer {} lists {video} after `subscription ended`: {tracks:?}", again.neg);
    server.shutdown().await;
}
