//! Our server's signaling for the load generator, on the shared `nertc-signal` client: the join
//! and the few typed requests a publisher and a subscriber make, with errors as text.

use std::collections::BTreeMap;
use std::time::Duration;

use nertc_protocol::{
    ClientMsg, Empty, JoinRequest, MediaKind, PROTOCOL_VERSION, PcKind, PublishRequest, PublishResult, Reply, SdpMsg, SdpType,
    SubscribeRequest, TrackId, TrackSource, Uid,
};
use nertc_signal::{Connected, Options, Signal};

/// Requests wait this long for their response (a loaded server answers late, not never).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Connects to `base_url` (`ws://host:port`) and joins `channel` as `uid` (debug app, no token);
/// pings run at the server's interval. A cluster node's `redirect` is followed (at most
/// `MAX_REDIRECTS` times) to the node that owns the room.
pub async fn join(base_url: &str, channel: &str, uid: Uid) -> Result<Connected, String> {
    let req = JoinRequest {
        token: None,
        app_key: "bench".into(),
        channel: channel.into(),
        uid,
        name: format!("bench{uid}"),
        protocol: PROTOCOL_VERSION,
        resume: None,
        role: Default::default(),
    };
    let opts = Options { request_timeout: REQUEST_TIMEOUT, ..Options::default() };
    let mut url = base_url.to_owned();
    for _ in 0..=nertc_protocol::MAX_REDIRECTS {
        match nertc_signal::connect(&url, req.clone(), opts).await {
            Err(nertc_signal::SignalError::Refused(e)) if e.redirect_url().is_some() => {
                url = e.redirect_url().unwrap_or_default().to_owned();
            }
            result => return result.map_err(|e| format!("join at {url}: {e}")),
        }
    }
    Err(format!("join: more than {} redirects", nertc_protocol::MAX_REDIRECTS))
}

async fn call(s: &Signal, msg: ClientMsg) -> Result<Reply, String> {
    let what = msg.type_name();
    s.call(msg).await.map_err(|e| format!("{what}: {e}"))
}

/// Publishes a track; returns its track id.
pub async fn publish(s: &Signal, kind: MediaKind, source: TrackSource) -> Result<TrackId, String> {
    match call(s, ClientMsg::Publish(PublishRequest { kind, source, codec: None, layers: vec![], muted: false })).await? {
        Reply::Publish(PublishResult { track_id }) => Ok(track_id),
        other => Err(format!("publish answered with {other:?}")),
    }
}

pub async fn subscribe(s: &Signal, track_id: &str) -> Result<(), String> {
    call(s, ClientMsg::Subscribe(SubscribeRequest { track_id: track_id.into(), layer: None, fallback: None })).await.map(drop)
}

/// Sends the `pub` offer with its mid -> track id map; returns the answer SDP.
pub async fn pub_offer(
    s: &Signal,
    sdp: String,
    pub_mids: BTreeMap<String, TrackId>,
    pub_rids: BTreeMap<String, String>,
) -> Result<String, String> {
    let offer = SdpMsg { pc: PcKind::Pub, kind: SdpType::Offer, sdp, neg: 1, pub_mids, sub_mids: BTreeMap::new(), pub_rids, fresh: false };
    match call(s, ClientMsg::Sdp(offer)).await? {
        Reply::PubAnswer(answer) => Ok(answer.sdp),
        other => Err(format!("pub offer answered with {other:?}")),
    }
}

/// Answers the server's `sub` offer number `neg`.
pub async fn answer_sub(s: &Signal, sdp: String, neg: u64) -> Result<(), String> {
    let answer = SdpMsg::answer(PcKind::Sub, sdp, neg);
    call(s, ClientMsg::Sdp(answer)).await.map(drop)
}

/// Leaves the room (the server then drops the session at once instead of keeping it for a
/// resume, and closes the socket).
pub async fn leave(s: &Signal) {
    let _ = s.call(ClientMsg::Leave(Empty {})).await;
}
