//! Tokens that outlive a call, against a server that checks them (an app with a secret):
//! `onPermissionKeyWillExpire` 30 s before the join token expires, `updatePermissionKey`
//! refused for a token of another uid and accepted for a fresh one (its permissions apply at
//! once: A may publish now), and after a server restart (no session to resume) A rejoins with
//! the renewed token: its join token did not allow publishing, the renewed one does, and B
//! hears A's audio again.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use nertc_engine::{Engine, EngineEvent, EngineOptions, error};
use nertc_protocol::token::{self, Claims, Permissions};
use nertc_server::{AppConfig, ServerConfig};

const APP: &str = "strict";
const SECRET: &str = "tokens-test-secret";
const CHANNEL: &str = "engine-tokens";

fn config(listen: &str) -> ServerConfig {
    let mut apps = BTreeMap::new();
    apps.insert(APP.to_string(), AppConfig { secret: SECRET.into(), debug: false });
    ServerConfig { listen: listen.into(), apps, ..ServerConfig::embedded() }
}

/// A server that lives as long as its runtime: dropping the runtime is a crash.
fn server_on(listen: &str) -> (tokio::runtime::Runtime, String) {
    let rt = tokio::runtime::Runtime::new().expect("server runtime");
    let server = rt.block_on(nertc_server::start(config(listen))).expect("server");
    let url = server.url();
    std::mem::forget(server);
    (rt, url)
}

fn token_for(uid: u64, ttl_secs: u64, publish: bool) -> String {
    let now = token::now_secs();
    let claims = Claims {
        app_key: APP.into(),
        channel: CHANNEL.into(),
        uid,
        iat: now,
        exp: now + ttl_secs,
        perms: Permissions { publish, subscribe: true },
    };
    token::sign(&claims, SECRET)
}

fn engine(url: &str) -> (Engine, Receiver<EngineEvent>) {
    Engine::new(EngineOptions { app_key: APP.into(), server_url: url.into() }).expect("engine starts")
}

/// The first event matching `pred` within `within`, with how long it took.
fn next(rx: &Receiver<EngineEvent>, what: &str, within: Duration, mut pred: impl FnMut(&EngineEvent) -> bool) -> (EngineEvent, Duration) {
    let start = Instant::now();
    while let Ok(e) = rx.recv_timeout((start + within).saturating_duration_since(Instant::now())) {
        if pred(&e) {
            return (e, start.elapsed());
        }
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn permission_key_expiry_warning_renewal_and_rejoin_with_the_renewed_token() {
    let (mut rt, url) = server_on("127.0.0.1:0");
    let listen = url.trim_start_matches("ws://").to_owned();
    let secs = Duration::from_secs;

    let (b, b_rx) = engine(&url);
    assert_eq!(b.join_channel(Some(token_for(2, 600, true)), CHANNEL, 2), error::OK);
    next(&b_rx, "B joined", secs(10), |e| matches!(e, EngineEvent::JoinChannel { result: 0, .. }));

    // A's join token expires in 32 s and does not allow publishing.
    let (a, a_rx) = engine(&url);
    assert_eq!(a.update_permission_key(&token_for(1, 600, true)), error::ERR_NOT_JOINED, "outside a channel");
    assert_eq!(a.join_channel(Some(token_for(1, 32, false)), CHANNEL, 1), error::OK);
    next(&a_rx, "A joined", secs(10), |e| matches!(e, EngineEvent::JoinChannel { result: 0, .. }));
    next(&b_rx, "B sees A", secs(10), |e| matches!(e, EngineEvent::UserJoined { uid: 1, .. }));
    let (_, after) = next(&a_rx, "onPermissionKeyWillExpire", secs(10), |e| matches!(e, EngineEvent::PermissionKeyWillExpire));
    println!("onPermissionKeyWillExpire {after:?} after the join (token valid 32 s, warning 30 s ahead)");
    assert!(after <= secs(4), "{after:?}");

    // A token for another uid is refused; the session goes on.
    let wrong = token_for(3, 600, true);
    assert_eq!(a.update_permission_key(&wrong), error::OK);
    let (ev, _) = next(&a_rx, "refused renewal", secs(10), |e| matches!(e, EngineEvent::UpdatePermissionKey { .. }));
    let EngineEvent::UpdatePermissionKey { key, code, time_s } = ev else { unreachable!() };
    assert_eq!((key, time_s), (wrong, 0));
    assert_eq!(code, error::ERR_PERMISSION_DENIED, "a token the server refuses is NERTC's 403");
    assert_eq!(a.update_permission_key(""), error::ERR_INVALID_PARAM);

    // A fresh token that allows publishing: accepted, and A's audio starts at B.
    let renewed = token_for(1, 600, true);
    assert_eq!(a.update_permission_key(&renewed), error::OK);
    let (ev, _) = next(&a_rx, "renewal", secs(10), |e| matches!(e, EngineEvent::UpdatePermissionKey { .. }));
    let EngineEvent::UpdatePermissionKey { key, code, time_s } = ev else { unreachable!() };
    assert_eq!((key.as_str(), code), (renewed.as_str(), error::OK));
    assert!((590..=600).contains(&time_s), "{time_s} s left");
    next(&b_rx, "A's audio starts once allowed", secs(15), |e| matches!(e, EngineEvent::UserAudioStart { uid: 1 }));
    // Consumed here, so that the one awaited after the restart is the new pipeline's.
    next(&b_rx, "A's audio decoded", secs(15), |e| matches!(e, EngineEvent::FirstAudioFrameDecoded { uid: 1 }));

    // The server dies and comes back without the sessions: A rejoins with the renewed token
    // (the join token would have left it unable to publish) and its audio starts again.
    rt.shutdown_background();
    next(&a_rx, "A reconnecting", secs(10), |e| matches!(e, EngineEvent::ReconnectingStart { .. }));
    std::thread::sleep(secs(1));
    let (rt2, url2) = server_on(&listen);
    rt = rt2;
    assert_eq!(url2, url);
    next(&a_rx, "A rejoined", secs(10), |e| matches!(e, EngineEvent::RejoinChannel { result: 0, .. }));
    // B's rejoin reports A's track (from its snapshot or as it is published) before or after
    // onRejoinChannel, depending on who was back first; the new receive pipeline's first
    // decoded audio comes only once A publishes again.
    let mut b_seen = Vec::new();
    next(&b_rx, "A's audio decoded after the rejoin", secs(15), |e| {
        b_seen.push(e.clone());
        matches!(e, EngineEvent::FirstAudioFrameDecoded { uid: 1 })
    });
    assert!(b_seen.iter().any(|e| matches!(e, EngineEvent::RejoinChannel { result: 0, .. })), "B rejoined: {b_seen:?}");
    // The renewed token is far from its expiry: no second warning.
    let warned = common_events(&a_rx, secs(1)).iter().filter(|e| matches!(e, EngineEvent::PermissionKeyWillExpire)).count();
    assert_eq!(warned, 0);

    a.release();
    b.release();
    rt.shutdown_background();
}

fn common_events(rx: &Receiver<EngineEvent>, window: Duration) -> Vec<EngineEvent> {
    let until = Instant::now() + window;
    let mut out = Vec::new();
    while let Ok(e) = rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
        out.push(e);
    }
    out
}
