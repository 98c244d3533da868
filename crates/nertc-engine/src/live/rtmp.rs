//! The RTMP publisher: one tokio task per live stream task, over a `tokio::net::TcpStream`,
//! speaking RTMP with `rml_rtmp` (sans-IO: it turns bytes into events and calls into bytes;
//! this module moves the bytes). Steps: TCP connect, handshake, `connect(app)`,
//! `createStream` + `publish(key, live)`, `@setDataFrame onMetaData`, then the FLV tag bodies
//! the encoder thread sends ([`Media`]) as video/audio messages until its queue closes (the
//! task was removed) or the server or network fails. Nothing here encodes: the task only
//! waits on the socket and the queue.

use std::time::Duration;

use bytes::Bytes;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType, StreamMetadata};
use rml_rtmp::time::RtmpTimestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;

/// How long the connection and the publish handshake may take.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(5);
/// RTMP's default port.
const DEFAULT_PORT: u16 = 1935;

/// Where to publish: `rtmp://host[:port]/app[/more]/key[?query]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    /// Everything between the host and the last `/`.
    pub app: String,
    /// The last path segment with its query (the stream key).
    pub key: String,
    /// The URL up to the app (the `tcUrl` some servers want).
    pub tc_url: String,
}

/// Parses an RTMP URL; the reason it is not one otherwise.
pub fn parse_url(url: &str) -> Result<Target, String> {
    let rest = url
        .strip_prefix("rtmp://")
        .or_else(|| url.get(..7).filter(|s| s.eq_ignore_ascii_case("rtmp://")).map(|_| &url[7..]))
        .ok_or("not an rtmp:// URL")?;
    let (authority, path) = rest.split_once('/').ok_or("no application and stream key")?;
    let parse_port = |p: &str| p.parse::<u16>().map_err(|_| format!("bad port {p:?}"));
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, rest) = v6.split_once(']').ok_or("bad IPv6 host")?;
        match rest.strip_prefix(':') {
            Some(p) => (h, parse_port(p)?),
            None if rest.is_empty() => (h, DEFAULT_PORT),
            None => return Err("bad IPv6 host".into()),
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, parse_port(p)?),
            None => (authority, DEFAULT_PORT),
        }
    };
    if host.is_empty() || port == 0 {
        return Err("no host".into());
    }
    let (app, key) = path.rsplit_once('/').ok_or("no stream key (rtmp://host/app/key)")?;
    if app.is_empty() || key.is_empty() {
        return Err("empty application or stream key".into());
    }
    Ok(Target { host: host.to_owned(), port, app: app.to_owned(), key: key.to_owned(), tc_url: format!("rtmp://{authority}/{app}") })
}

/// What the encoder thread sends: FLV tag bodies with their millisecond timestamps.
#[derive(Debug)]
pub enum Media {
    Video { ts_ms: u32, body: Bytes },
    Audio { ts_ms: u32, body: Bytes },
}

/// Pushes `media` to `target` until the queue closes (Ok) or something fails (Err: why).
/// `pushing` is called once, when the server has accepted the publish.
pub async fn publish(target: Target, meta: StreamMetadata, mut media: mpsc::Receiver<Media>, pushing: impl FnOnce()) -> Result<(), String> {
    let addr = format!("{}:{}", target.host, target.port);
    let (session, mut rd, mut wr, leftover) = tokio::time::timeout(SETUP_TIMEOUT, async {
        let stream = TcpStream::connect(&addr).await.map_err(|e| format!("connect {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let (mut rd, mut wr) = stream.into_split();
        let leftover = handshake(&mut rd, &mut wr).await?;
        let (session, leftover) = start_publishing(&target, &mut rd, &mut wr, leftover).await?;
        Ok::<_, String>((session, rd, wr, leftover))
    })
    .await
    .map_err(|_| format!("{addr}: no answer in {} s", SETUP_TIMEOUT.as_secs()))??;
    let mut session = session;
    if !leftover.is_empty() {
        let results = session.handle_input(&leftover).map_err(|e| format!("RTMP: {e}"))?;
        send_results(&mut wr, results).await?;
    }
    let r = session.publish_metadata(&meta).map_err(|e| format!("RTMP metadata: {e}"))?;
    send_results(&mut wr, vec![r]).await?;
    pushing();
    let mut buf = vec![0u8; 4096];
    loop {
        tokio::select! {
            m = media.recv() => {
                let Some(m) = m else { break };
                let r = match m {
                    Media::Video { ts_ms, body } => session.publish_video_data(body, RtmpTimestamp::new(ts_ms), false),
                    Media::Audio { ts_ms, body } => session.publish_audio_data(body, RtmpTimestamp::new(ts_ms), false),
                };
                send_results(&mut wr, vec![r.map_err(|e| format!("RTMP: {e}"))?]).await?;
            }
            n = rd.read(&mut buf) => {
                let n = n.map_err(|e| format!("read: {e}"))?;
                if n == 0 {
                    return Err("the server closed the connection".into());
                }
                let results = session.handle_input(&buf[..n]).map_err(|e| format!("RTMP: {e}"))?;
                send_results(&mut wr, results).await?;
            }
        }
    }
    // Removed: say so (FCUnpublish/deleteStream are optional; closing ends the stream too).
    if let Ok(r) = session.stop_publishing() {
        let _ = send_results(&mut wr, r).await;
    }
    let _ = wr.shutdown().await;
    Ok(())
}

async fn write(wr: &mut OwnedWriteHalf, bytes: &[u8]) -> Result<(), String> {
    wr.write_all(bytes).await.map_err(|e| format!("write: {e}"))
}

/// Sends the session's packets in order; events are only logged here.
async fn send_results(wr: &mut OwnedWriteHalf, results: Vec<ClientSessionResult>) -> Result<(), String> {
    for r in results {
        match r {
            ClientSessionResult::OutboundResponse(p) => write(wr, &p.bytes).await?,
            ClientSessionResult::RaisedEvent(e) => tracing::debug!("live stream: RTMP event {e:?}"),
            ClientSessionResult::UnhandleableMessageReceived(_) => {}
        }
    }
    Ok(())
}

/// The RTMP handshake (C0/C1, S0/S1/S2, C2); the bytes read past it.
async fn handshake(rd: &mut tokio::net::tcp::OwnedReadHalf, wr: &mut OwnedWriteHalf) -> Result<Vec<u8>, String> {
    let mut hs = Handshake::new(PeerType::Client);
    let c0c1 = hs.generate_outbound_p0_and_p1().map_err(|e| format!("handshake: {e:?}"))?;
    write(wr, &c0c1).await?;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = rd.read(&mut buf).await.map_err(|e| format!("handshake read: {e}"))?;
        if n == 0 {
            return Err("the server closed the connection during the handshake".into());
        }
        match hs.process_bytes(&buf[..n]).map_err(|e| format!("handshake: {e:?}"))? {
            HandshakeProcessResult::InProgress { response_bytes } => write(wr, &response_bytes).await?,
            HandshakeProcessResult::Completed { response_bytes, remaining_bytes } => {
                write(wr, &response_bytes).await?;
                return Ok(remaining_bytes);
            }
        }
    }
}

/// `connect(app)` then `publish(key)`; returns once the server has accepted the publish, with
/// the session and any bytes not yet given to it.
async fn start_publishing(
    target: &Target,
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    wr: &mut OwnedWriteHalf,
    mut pending: Vec<u8>,
) -> Result<(ClientSession, Vec<u8>), String> {
    let mut config = ClientSessionConfig::new();
    config.tc_url = Some(target.tc_url.clone());
    let (mut session, initial) = ClientSession::new(config).map_err(|e| format!("RTMP: {e}"))?;
    send_results(wr, initial).await?;
    let r = session.request_connection(target.app.clone()).map_err(|e| format!("RTMP connect: {e}"))?;
    send_results(wr, vec![r]).await?;
    let mut buf = vec![0u8; 4096];
    loop {
        if pending.is_empty() {
            let n = rd.read(&mut buf).await.map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("the server closed the connection before publishing".into());
            }
            pending.extend_from_slice(&buf[..n]);
        }
        let results = session.handle_input(&std::mem::take(&mut pending)).map_err(|e| format!("RTMP: {e}"))?;
        let mut accepted = false;
        let mut out = Vec::new();
        for r in results {
            match r {
                ClientSessionResult::RaisedEvent(ClientSessionEvent::ConnectionRequestAccepted) => {
                    out.push(
                        session
                            .request_publishing(target.key.clone(), PublishRequestType::Live)
                            .map_err(|e| format!("RTMP publish: {e}"))?,
                    );
                }
                ClientSessionResult::RaisedEvent(ClientSessionEvent::ConnectionRequestRejected { description }) => {
                    return Err(format!("the server refused the application {:?}: {description}", target.app));
                }
                ClientSessionResult::RaisedEvent(ClientSessionEvent::PublishRequestAccepted) => accepted = true,
                ClientSessionResult::RaisedEvent(ClientSessionEvent::UnhandleableOnStatusCode { code }) => {
                    return Err(format!("the server refused the publish: {code}"));
                }
                other => out.push(other),
            }
        }
        send_results(wr, out).await?;
        if accepted {
            return Ok((session, Vec::new()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = parse_url("rtmp://127.0.0.1:19350/live/abc?token=1").expect("valid");
        assert_eq!(
            t,
            Target {
                host: "127.0.0.1".into(),
                port: 19350,
                app: "live".into(),
                key: "abc?token=1".into(),
                tc_url: "rtmp://127.0.0.1:19350/live".into()
            }
        );
        let t = parse_url("RTMP://cdn.example.com/app/inst/key").expect("valid");
        assert_eq!((t.host.as_str(), t.port, t.app.as_str(), t.key.as_str()), ("cdn.example.com", 1935, "app/inst", "key"));
        let t = parse_url("rtmp://[::1]:1936/live/k").expect("IPv6");
        assert_eq!((t.host.as_str(), t.port), ("::1", 1936));
        for bad in
            ["", "http://h/live/k", "rtmp://", "rtmp://h", "rtmp://h/live", "rtmp://h/live/", "rtmp://h:x/live/k", "rtmp://:1935/a/k"]
        {
            assert!(parse_url(bad).is_err(), "{bad:?} accepted");
        }
    }
}
