//! Real WebRTC through the SFU: webrtc-rs clients on loopback publish synthetic Opus/H.264 RTP
//! and each receives the others' packets intact.

mod support;

use std::time::Duration;

use nertc_protocol::{MediaKind, RoomEvent, SubscriptionState};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_users_exchange_audio_and_video() {
    let server = server().await;
    three_users_exchange(&server, "media-3", [false; 3]).await;
    server.shutdown().await;
}

/// The shared media port (`rtc.udp_port`, with `rtc.tcp_port` too): the same exchange, with the server's six peer
/// connections (a pub and a sub one per user) on one UDP socket. The server binds its media to
/// 127.0.0.2, so that its sockets can be told from the clients' (127.0.0.1) in this process's
/// socket table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_peer_connections_share_the_configured_udp_port() {
    let media_ip = std::net::Ipv4Addr::new(127, 0, 0, 2);
    // A port that was free a moment ago.
    let probe = std::net::UdpSocket::bind((media_ip, 0)).expect("127.0.0.2 is on loopback");
    let port = probe.local_addr().expect("bound").port();
    drop(probe);
    let mut config = nertc_server::ServerConfig::embedded();
    config.rtc.bind_ip = media_ip.into();
    config.rtc.udp_port = port;
    // ICE-TCP next to it, on the same number (a TCP port is another port): the clients
    // (UDP only) ignore the passive candidates and go on as before.
    config.rtc.tcp_port = port;
    let server = server_with(config).await;
    let clients = three_users_exchange(&server, "media-mux", [false; 3]).await;
    let tcp = sockets_of_this_process("/proc/net/tcp").into_iter().filter(|(a, _)| *a.ip() == media_ip).collect::<Vec<_>>();
    assert_eq!(tcp, vec![(std::net::SocketAddrV4::new(media_ip, port), TCP_LISTEN)], "the server's TCP sockets: only the listener");
    let sockets = udp_sockets_of_this_process();
    let server_side: Vec<_> = sockets.iter().filter(|a| *a.ip() == media_ip).collect();
    assert_eq!(server_side, vec![&std::net::SocketAddrV4::new(media_ip, port)], "the server's UDP sockets; all: {sockets:?}");
    // The count sees the clients' sockets (a pub and a sub connection each), so it would see
    // the server's too. Every client connection also has a multicast DNS socket (bound to the
    // wildcard address, listed by its group); the server's connections have none, so there
    // are no more than client media sockets on 127.0.0.1 (without udp_port the server held 12
    // sockets here: a media and an mDNS one per connection). The other tests of this file
    // run alongside, their clients' connections with two sockets each, their servers' with
    // one on 127.0.0.1 (a `pub` one also has an mDNS socket, a `sub` one has not: it is
    // driven here, `rtc.direct_sub`): a snapshot taken while one is being opened or closed may
    // split a pair, so a few are taken.
    let mut tries = 0;
    loop {
        let sockets = udp_sockets_of_this_process();
        let client_media = sockets.iter().filter(|a| *a.ip() == std::net::Ipv4Addr::LOCALHOST).count();
        let mdns = sockets.iter().filter(|a| a.ip().is_multicast()).count();
        if client_media >= 6 && mdns <= client_media {
            break;
        }
        tries += 1;
        assert!(tries < 50, "{client_media} client media sockets, {mdns} mDNS sockets: {sockets:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let page = support::http_get(server.addr, "/metrics").await;
    assert!(page.contains("nertc_udp_unrouted_total"), "{page}");
    drop(clients);
    server.shutdown().await;
    // The port is free again once the server stopped (a restarted server can take it).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while let Err(e) = std::net::UdpSocket::bind((media_ip, port)) {
        assert!(tokio::time::Instant::now() < deadline, "port {port} still taken 3 s after shutdown: {e}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// ICE over TCP only (`rtc.tcp_port` with `rtc.tcp_only`): the same exchange, every client
/// connection an ICE-TCP active one (webrtc-rs dialling the server's passive candidate, no UDP
/// socket). The server's six connections hold no UDP socket: each took one stream accepted on
/// the one TCP port (media on 127.0.0.3, to be told apart in this process's socket table).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ice_tcp_only_carries_every_track_through_one_tcp_port() {
    let media_ip = std::net::Ipv4Addr::new(127, 0, 0, 3);
    let probe = std::net::TcpListener::bind((media_ip, 0)).expect("127.0.0.3 is on loopback");
    let port = probe.local_addr().expect("bound").port();
    drop(probe);
    let mut config = nertc_server::ServerConfig::embedded();
    config.rtc.bind_ip = media_ip.into();
    config.rtc.tcp_port = port;
    config.rtc.tcp_only = true;
    let server = server_with(config).await;
    let clients = three_users_exchange(&server, "media-tcp", [true; 3]).await;
    let server_udp: Vec<_> = udp_sockets_of_this_process().into_iter().filter(|a| *a.ip() == media_ip).collect();
    assert!(server_udp.is_empty(), "the server's UDP sockets: {server_udp:?}");
    let shared = std::net::SocketAddrV4::new(media_ip, port);
    let server_tcp: Vec<_> = sockets_of_this_process("/proc/net/tcp").into_iter().filter(|(a, _)| *a.ip() == media_ip).collect();
    // One listener, and one established stream per server connection (a pub and a sub per
    // user), all on the shared port.
    assert!(server_tcp.iter().all(|(a, _)| *a == shared), "{server_tcp:?}");
    assert_eq!(server_tcp.iter().filter(|(_, st)| *st == TCP_LISTEN).count(), 1, "{server_tcp:?}");
    assert_eq!(server_tcp.iter().filter(|(_, st)| *st == TCP_ESTABLISHED).count(), 6, "{server_tcp:?}");
    let page = support::http_get(server.addr, "/metrics").await;
    assert!(page.contains("nertc_tcp_unrouted_total 0"), "{page}");
    // A stream that does not start with a binding request for a known ufrag is closed.
    let mut stray = tokio::net::TcpStream::connect((media_ip, port)).await.expect("the TCP port accepts");
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stray.write_all(&[0, 4, 0x80, 0, 0, 0]).await.expect("a frame written");
        let n = tokio::time::timeout(Duration::from_secs(3), stray.read(&mut [0u8; 16])).await.expect("closed at once");
        assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    }
    let page = support::http_get(server.addr, "/metrics").await;
    assert!(page.contains("nertc_tcp_unrouted_total 1"), "{page}");
    drop(clients);
    server.shutdown().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while let Err(e) = std::net::TcpListener::bind((media_ip, port)) {
        assert!(tokio::time::Instant::now() < deadline, "port {port} still taken 3 s after shutdown: {e}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// ICE-TCP as the fallback next to UDP (`rtc.tcp_port` alone: each connection has its own
/// UDP port as well): clients 11 and 13 have no UDP and come in over the TCP port, 12 uses UDP
/// (media on 127.0.0.4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_without_udp_fall_back_to_the_tcp_port() {
    let media_ip = std::net::Ipv4Addr::new(127, 0, 0, 4);
    let probe = std::net::TcpListener::bind((media_ip, 0)).expect("127.0.0.4 is on loopback");
    let port = probe.local_addr().expect("bound").port();
    drop(probe);
    let mut config = nertc_server::ServerConfig::embedded();
    config.rtc.bind_ip = media_ip.into();
    config.rtc.tcp_port = port;
    let server = server_with(config).await;
    let clients = three_users_exchange(&server, "media-tcp-fallback", [true, false, true]).await;
    let server_tcp: Vec<_> = sockets_of_this_process("/proc/net/tcp").into_iter().filter(|(a, _)| *a.ip() == media_ip).collect();
    // A stream for each connection of 11 and 13; 12's go over UDP.
    assert_eq!(server_tcp.iter().filter(|(_, st)| *st == TCP_ESTABLISHED).count(), 4, "{server_tcp:?}");
    let server_udp = udp_sockets_of_this_process().into_iter().filter(|a| *a.ip() == media_ip).count();
    assert!(server_udp >= 6, "a UDP port per server connection, {server_udp} seen");
    drop(clients);
    server.shutdown().await;
}

const TCP_ESTABLISHED: u8 = 0x01;
const TCP_LISTEN: u8 = 0x0A;

/// Local addresses of the IPv4 UDP sockets this process holds (its descriptors' socket inodes
/// looked up in /proc/net/udp).
fn udp_sockets_of_this_process() -> Vec<std::net::SocketAddrV4> {
    sockets_of_this_process("/proc/net/udp").into_iter().map(|(a, _)| a).collect()
}

/// Local address and state of the IPv4 sockets of `table` (/proc/net/udp or tcp) this process
/// holds (its descriptors' socket inodes looked up there).
fn sockets_of_this_process(table: &str) -> Vec<(std::net::SocketAddrV4, u8)> {
    let inodes: std::collections::HashSet<String> = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| l.to_str()?.strip_prefix("socket:[")?.strip_suffix(']').map(str::to_owned))
        .collect();
    let table = std::fs::read_to_string(table).expect("the kernel's socket table");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if !inodes.contains(*f.get(9)?) {
                return None;
            }
            let (ip, port) = f.get(1)?.split_once(':')?;
            // The kernel prints the address as the native-endian u32 of its network-order bytes.
            let ip = std::net::Ipv4Addr::from(u32::from_str_radix(ip, 16).ok()?.to_ne_bytes());
            Some((std::net::SocketAddrV4::new(ip, u16::from_str_radix(port, 16).ok()?), u8::from_str_radix(f.get(3)?, 16).ok()?))
        })
        .collect()
}

/// Three users join `ch`, publish audio and video, subscribe to each other; every track arrives
/// intact at both others. Returns the clients, still connected.
/// `ice_tcp[i]`: client i's connections run over ICE-TCP only.
async fn three_users_exchange(server: &nertc_server::RunningServer, ch: &str, ice_tcp: [bool; 3]) -> Vec<Client> {
    let uids = [11u64, 12, 13];
    let mut clients = Vec::new();
    for (uid, ice_tcp) in uids.into_iter().zip(ice_tcp) {
        let mut c = Client::connect(server, uid).await;
        c.ice_tcp.store(ice_tcp, std::sync::atomic::Ordering::Relaxed);
        c.join(join_req(ch, uid)).await.expect("join succeeds");
        clients.push(c);
    }
    // Presence: user 11 saw 12 then 13 join, in order.
    let (s1, e1) = clients[0].wait_event("user_joined 12", |e| matches!(e, RoomEvent::UserJoined { uid: 12, .. })).await;
    let (s2, _) = clients[0].wait_event("user_joined 13", |e| matches!(e, RoomEvent::UserJoined { uid: 13, .. })).await;
    assert!(s1 < s2, "events in order: {e1:?} seq {s1} before seq {s2}");
    // 13 joined last: the join result listed 11 and 12.
    let users: Vec<u64> = clients[2].join.as_ref().unwrap().users.iter().map(|u| u.uid).collect();
    assert_eq!(users, vec![11, 12]);

    let mut published = Vec::new();
    for c in clients.iter_mut() {
        published.push(c.publish_av().await);
    }
    // Everyone subscribes to the other two's tracks once they are announced live.
    for (i, c) in clients.iter_mut().enumerate() {
        for (j, (audio, video)) in published.iter().enumerate() {
            if i == j {
                continue;
            }
            for tid in [audio, video] {
                let t = tid.clone();
                let (_, ev) = c
                    .wait_event(
                        &format!("track_published {tid}"),
                        move |e| matches!(e, RoomEvent::TrackPublished { track, .. } if track.track_id == t),
                    )
                    .await;
                let RoomEvent::TrackPublished { uid, track } = ev else { unreachable!() };
                assert_eq!(uid, uids[j]);
                let want = if tid == audio { "audio/opus" } else { "video/H264" };
                assert!(track.codec.eq_ignore_ascii_case(want), "codec {} for {tid}", track.codec);
                assert_eq!(track.kind, if tid == audio { MediaKind::Audio } else { MediaKind::Video });
                c.subscribe(tid).await.expect("subscribe accepted");
            }
        }
    }
    for c in clients.iter_mut() {
        for _ in 0..4 {
            c.wait_event("subscription active", |e| matches!(e, RoomEvent::Subscription { state: SubscriptionState::Active, .. })).await;
        }
    }
    // Let media flow, then check every subscribed track.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let mut all = true;
        for (i, c) in clients.iter().enumerate() {
            for (j, (audio, video)) in published.iter().enumerate() {
                if i != j && (c.received(audio).await.intact < 50 || c.received(video).await.intact < 30) {
                    all = false;
                }
            }
        }
        if all || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (i, c) in clients.iter().enumerate() {
        for (j, (audio, video)) in published.iter().enumerate() {
            if i == j {
                continue;
            }
            for (tid, min) in [(audio, 50), (video, 30)] {
                let r = c.received(tid).await;
                assert!(r.intact >= min, "uid {} got {r:?} on {tid}", uids[i]);
                assert_eq!(r.intact, r.packets, "every packet intact on {tid}: {r:?}");
                assert_eq!(r.from_uid, Some(uids[j]), "payload origin on {tid}");
            }
        }
    }
    let m = &server.metrics;
    assert!(m.rtp_forwarded.load(std::sync::atomic::Ordering::Relaxed) >= 6 * 30);
    let page = support::http_get(server.addr, "/metrics").await;
    assert!(page.contains("nertc_published_tracks 6"), "{page}");
    assert!(page.contains("nertc_users 3"), "{page}");
    clients
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyframe_requests_are_relayed_throttled_and_nacks_answered() {
    use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
    use rtc::rtcp::transport_feedbacks::transport_layer_nack::{NackPair, TransportLayerNack};
    use std::sync::atomic::Ordering::Relaxed;

    let server = server().await;
    let mut publisher = Client::joined(&server, "feedback", 1).await;
    let mut viewer = Client::joined(&server, "feedback", 2).await;
    let (_, video) = publisher.publish_av().await;
    let v = video.clone();
    viewer.wait_event("video live", move |e| matches!(e, RoomEvent::TrackPublished { track, .. } if track.track_id == v)).await;
    viewer.subscribe(&video).await.unwrap();
    viewer.wait_event("active", |e| matches!(e, RoomEvent::Subscription { state: SubscriptionState::Active, .. })).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while viewer.received(&video).await.packets < 20 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the subscription's own keyframe requests pass the throttle window first.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let before = publisher.plis_received.load(Relaxed);

    // 10 PLIs in a burst reach the publisher throttled: at most one per KEYFRAME_MIN_INTERVAL
    // over the burst's duration (plus the first), and at least one.
    let r = viewer.received(&video).await;
    let burst = std::time::Instant::now();
    for _ in 0..10 {
        viewer.send_rtcp(&video, vec![Box::new(PictureLossIndication { sender_ssrc: 1, media_ssrc: r.ssrc })]).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let burst_ms = burst.elapsed().as_millis() as u64;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let relayed = publisher.plis_received.load(Relaxed) - before;
    let interval = nertc_server::sfu::forwarder::KEYFRAME_MIN_INTERVAL.as_millis() as u64;
    let most = 2 + burst_ms / interval;
    assert!((1..=most).contains(&relayed), "relayed {relayed} of 10 keyframe requests sent over {burst_ms} ms (at most {most})");
    assert!(relayed < 10, "keyframe requests were not throttled");
    assert!(server.metrics.keyframe_requests_in.load(Relaxed) >= 10);

    // A NACK for packets already received (three of them) is answered from the SFU's send
    // cache: three resends (one per round trip at most: `nack::tests` in nertc-rtc; on
    // loopback the round trip is a millisecond).
    let r = viewer.received(&video).await;
    let nack = TransportLayerNack {
        sender_ssrc: 1,
        media_ssrc: r.ssrc,
        nacks: vec![NackPair { packet_id: r.max_seq.wrapping_sub(3), lost_packets: 0b11 }],
    };
    viewer.send_rtcp(&video, vec![Box::new(nack)]).await;
    let m = &server.metrics;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while m.rtp_retransmitted.load(Relaxed) < 3 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!((m.nacks.load(Relaxed), m.rtp_retransmitted.load(Relaxed)), (1, 3), "(NACKs, packets resent)");
    let page = support::http_get(server.addr, "/metrics").await;
    assert!(page.contains("nertc_rtp_retransmitted_total 3"), "{page}");
    server.shutdown().await;
}

/// Issue 15 part 3: a video subscription to a track that is already flowing starts with the
/// track's latest keyframe, sent from the server's cache the moment the subscriber can receive
/// (not after a round trip to the publisher's encoder), and then continues with the live
/// stream from the next keyframe, which the server asks for at that moment: no delta picture
/// whose references the subscriber lacks, no sequence gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_video_subscription_starts_with_the_cached_keyframe() {
    use std::sync::atomic::Ordering::Relaxed;

    let server = server().await;
    let mut publisher = Client::joined(&server, "first-frame", 1).await;
    let mut viewer = Client::joined(&server, "first-frame", 2).await;
    publisher.h264_gop = true;
    let (_, video) = publisher.publish_av().await;
    let v = video.clone();
    viewer.wait_event("video live", move |e| matches!(e, RoomEvent::TrackPublished { track, .. } if track.track_id == v)).await;
    // A keyframe of the running stream reaches the server (the first ones may have gone out
    // before the publisher's connection was up), then delta pictures follow it.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let sent_before = publisher.keyframes_sent.lock().unwrap().clone();
    let plis_before = publisher.plis_received.load(Relaxed);

    viewer.subscribe(&video).await.unwrap();
    viewer.wait_event("active", |e| matches!(e, RoomEvent::Subscription { state: SubscriptionState::Active, .. })).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while viewer.received(&video).await.first.len() < 20 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = viewer.received(&video).await;
    let sent = publisher.keyframes_sent.lock().unwrap().clone();
    let shape: Vec<(Option<u8>, Option<u32>)> = r.first.iter().map(|(_, _, nal, counter)| (*nal, *counter)).collect();
    assert!(r.first.len() >= 20, "the subscriber got {} video packets: {shape:?}", r.first.len());
    // First a keyframe sent before the subscription (only the cache can have kept it), intact ...
    let (nal, first) = shape[0];
    assert_eq!(nal, Some(7), "the first picture is a keyframe: received {shape:?}");
    let first = first.expect("the cached keyframe arrives intact");
    assert!(
        sent_before.contains(&first),
        "the first picture, {first}, is a keyframe sent before the subscription ({sent_before:?}): received {shape:?}"
    );
    // ... then the live stream from a later keyframe; the server asked for one.
    assert!(publisher.plis_received.load(Relaxed) > plis_before, "no keyframe request reached the publisher");
    let (nal, next) = shape[1];
    assert_eq!(nal, Some(7), "the live stream resumes at a keyframe: received {shape:?}");
    assert!(next.is_some_and(|c| c > first && sent.contains(&c)), "a later keyframe after {first}: received {shape:?}, sent {sent:?}");
    // Live from there: the publisher's pictures in order, one continuous stream.
    for w in r.first.windows(2) {
        let ((s0, t0, _, _), (s1, t1, _, _)) = (w[0], w[1]);
        assert_eq!(s1, s0.wrapping_add(1), "sequence numbers continue: {:?}", r.first);
        let step = t1.wrapping_sub(t0);
        assert!(step > 0 && step < 90_000, "timestamps advance: {:?}", r.first);
    }
    for w in shape[1..].windows(2) {
        assert_eq!(w[1].1, w[0].1.map(|c| c + 1), "no picture skipped after the live keyframe: {shape:?}");
    }
    assert_eq!(server.metrics.keyframes_from_cache.load(Relaxed), 1);
    server.shutdown().await;
}
