//! A lean client of our signaling protocol (docs/protocol.md) for the load generator: one
//! WebSocket per session, a driver task that matches responses to requests, pings, and hands
//! the server's `sub` offers to the owner.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use nertc_protocol::*;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

enum Cmd {
    Request(ClientMsg, oneshot::Sender<Result<Value, String>>),
}

/// Sends requests on a session; cheap to clone. The socket closes when every clone and the
/// [`Session`] are dropped.
#[derive(Clone)]
pub struct Requester(mpsc::UnboundedSender<Cmd>);

pub struct Session {
    pub req: Requester,
    /// `sub` offers from the server, to be answered with [`Requester::answer`].
    pub offers: mpsc::UnboundedReceiver<SdpMsg>,
}

impl Requester {
    pub async fn request(&self, msg: ClientMsg) -> Result<Value, String> {
        let what = msg.type_name();
        let (tx, rx) = oneshot::channel();
        self.0.send(Cmd::Request(msg, tx)).map_err(|_| format!("{what}: session closed"))?;
        match tokio::time::timeout(REQUEST_TIMEOUT, rx).await {
            Ok(Ok(r)) => r.map_err(|e| format!("{what}: {e}")),
            Ok(Err(_)) => Err(format!("{what}: session closed")),
            Err(_) => Err(format!("{what}: no response in {REQUEST_TIMEOUT:?}")),
        }
    }

    /// Publishes a track; returns its track id.
    pub async fn publish(&self, kind: MediaKind, source: TrackSource) -> Result<TrackId, String> {
        let v = self.request(ClientMsg::Publish(PublishRequest { kind, source, codec: None, layers: vec![], muted: false })).await?;
        v["track_id"].as_str().map(str::to_owned).ok_or_else(|| format!("publish: no track_id in {v}"))
    }

    pub async fn subscribe(&self, track_id: &str) -> Result<(), String> {
        self.request(ClientMsg::Subscribe(SubscribeRequest { track_id: track_id.into(), layer: None })).await.map(drop)
    }

    /// Sends the `pub` offer with its mid -> track id map; returns the answer SDP.
    pub async fn pub_offer(&self, sdp: String, pub_mids: BTreeMap<String, TrackId>) -> Result<String, String> {
        let v = self
            .request(ClientMsg::Sdp(SdpMsg { pc: PcKind::Pub, kind: SdpType::Offer, sdp, neg: 1, pub_mids, sub_mids: BTreeMap::new() }))
            .await?;
        let answer: SdpMsg = serde_json::from_value(v).map_err(|e| format!("pub answer: {e}"))?;
        Ok(answer.sdp)
    }

    /// Leaves the room (the server then drops the session at once instead of keeping it for
    /// a resume).
    pub async fn leave(&self) {
        let _ = self.request(ClientMsg::Leave(Empty {})).await;
    }

    /// Answers the server's `sub` offer number `neg`.
    pub async fn answer(&self, sdp: String, neg: u64) -> Result<(), String> {
        self.request(ClientMsg::Sdp(SdpMsg {
            pc: PcKind::Sub,
            kind: SdpType::Answer,
            sdp,
            neg,
            pub_mids: BTreeMap::new(),
            sub_mids: BTreeMap::new(),
        }))
        .await
        .map(drop)
    }
}

impl Session {
    /// Connects to `base_url` (`ws://host:port`) and joins `channel` as `uid` (debug app, no token).
    pub async fn join(base_url: &str, channel: &str, uid: Uid) -> Result<Session, String> {
        let url = format!("{base_url}{WS_PATH}");
        let (ws, _) = tokio_tungstenite::connect_async(&url).await.map_err(|e| format!("connect {url}: {e}"))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (offers_tx, offers) = mpsc::unbounded_channel();
        tokio::spawn(drive(ws, rx, offers_tx));
        let req = Requester(tx);
        let v = req
            .request(ClientMsg::Join(JoinRequest {
                token: None,
                app_key: "bench".into(),
                channel: channel.into(),
                uid,
                name: format!("bench{uid}"),
                protocol: PROTOCOL_VERSION,
                resume: None,
            }))
            .await?;
        serde_json::from_value::<JoinResult>(v).map_err(|e| format!("join result: {e}"))?;
        Ok(Session { req, offers })
    }
}

async fn drive(
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
    offers: mpsc::UnboundedSender<SdpMsg>,
) {
    let (mut sink, mut stream) = ws.split();
    let mut pending: HashMap<u64, oneshot::Sender<Result<Value, String>>> = HashMap::new();
    let mut next_id = 1u64;
    let mut ping = tokio::time::interval(Duration::from_secs(3));
    loop {
        tokio::select! {
            cmd = cmds.recv() => match cmd {
                Some(Cmd::Request(msg, reply)) => {
                    pending.insert(next_id, reply);
                    let text = ClientFrame { id: Some(next_id), msg }.to_json();
                    next_id += 1;
                    if sink.send(Message::Text(text.into())).await.is_err() { break; }
                }
                None => break,
            },
            _ = ping.tick() => {
                let text = ClientFrame { id: None, msg: ClientMsg::Ping(Ping { ts: 0 }) }.to_json();
                if sink.send(Message::Text(text.into())).await.is_err() { break; }
            }
            msg = stream.next() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                    Some(Ok(_)) => continue,
                };
                match ServerFrame::parse(&text) {
                    Ok(ServerFrame::Response { re, result }) => {
                        if let Some(tx) = pending.remove(&re) {
                            let _ = tx.send(result.map_err(|e| format!("{:?}: {}", e.code, e.msg)));
                        }
                    }
                    Ok(ServerFrame::Transport(TransportMsg::Sdp(offer))) if offer.pc == PcKind::Sub && offer.kind == SdpType::Offer => {
                        let _ = offers.send(offer);
                    }
                    Ok(_) => {}
                    Err(e) => eprintln!("nertc client: unparsable frame: {e}"),
                }
            }
        }
    }
    let _ = sink.send(Message::Close(None)).await;
}
