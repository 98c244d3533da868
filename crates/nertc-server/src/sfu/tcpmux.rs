//! One TCP port for every server peer connection's ICE-TCP (`rtc.tcp_port`).
//!
//! ICE over TCP (RFC 6544) is the fallback for clients that cannot send UDP at all: a browser
//! behind a firewall that lets only TCP out. The server offers one passive host candidate
//! (`tcptype passive`) per connection, all on this one port; the client connects to it and
//! frames every STUN, DTLS, RTP and RTCP packet with a 2-byte length (RFC 4571).
//!
//! webrtc-rs 0.21 does ICE-TCP itself (`with_tcp_addrs`): its driver binds a TCP listener per
//! connection, advertises it as a passive (and a port-9 active) candidate and reads framed
//! packets from every stream its listener accepts. As for UDP ([`super::udpmux`]), the seam
//! is the connection's [`Runtime`]: its `wrap_tcp_listener` closes the listener the driver
//! bound and returns a [`MuxTcpListener`], which "accepts" the streams this module routes to
//! the connection. The connection keeps calling its candidate by the closed listener's
//! address (its streams say that is their local address, so the ICE agent finds its
//! candidate); [`TcpPort::rewrite_local_sdp`] writes the shared port (and `rtc.advertised_ip`)
//! into the passive candidates of every local description and leaves out the active ones (the server never
//! connects out).
//!
//! Routing: a stream accepted on the shared port belongs to nobody until its first frame
//! arrives. That must be a STUN binding request (RFC 6544 §7.1: the active side's first
//! connectivity check) whose `USERNAME` starts with the server's ufrag of one connection; the
//! stream, with that frame put back in front of what follows, is handed to that connection
//! for good. Anything else — another first frame, an unknown ufrag, nothing within
//! [`FIRST_FRAME_TIMEOUT`] — closes the stream (counted in `nertc_tcp_unrouted_total`). At
//! most [`MAX_PENDING`] streams wait for their first frame; more are closed at once.
//!
//! Connections are held weakly, as in the UDP mux. Once handed over, a stream is the
//! connection's: the driver reads it and writes to it (a write waits while the kernel's send
//! buffer is full, which slows that one connection's driver, not the others).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Poll, Waker};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use webrtc::runtime::{AsyncTcpListener, AsyncTcpStream};

use super::udpmux::binding_request_ufrag;
use crate::metrics::Metrics;

/// How long a new stream may take to send its first frame.
pub const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(5);
/// Streams waiting for their first frame at most (a flood of idle connections closes the
/// newest instead of holding descriptors).
pub const MAX_PENDING: usize = 256;
/// Largest first frame accepted: a binding request is ~100-200 bytes.
const MAX_FIRST_FRAME: usize = 1500;
/// Routed streams held for one connection whose driver has not accepted them yet.
const ACCEPT_QUEUE: usize = 16;

/// The shared listener and its routing table; owned by the server, one per process.
pub struct TcpMux {
    shared: Weak<Shared>,
    owner: Mutex<Option<Arc<Shared>>>,
    local: SocketAddr,
    /// `rtc.advertised_ip`: written into the candidates instead of the bound address.
    advertised_ip: Option<String>,
    task: tokio::task::AbortHandle,
}

struct Shared {
    /// Server ufrag -> connection.
    routes: Mutex<HashMap<String, Weak<TcpPort>>>,
    sweep_at: Mutex<usize>,
    pending: Arc<tokio::sync::Semaphore>,
    metrics: Arc<Metrics>,
}

impl fmt::Debug for TcpMux {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpMux").field("local", &self.local).finish_non_exhaustive()
    }
}

impl Drop for TcpMux {
    fn drop(&mut self) {
        self.close();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl TcpMux {
    /// Binds the shared listener and starts accepting on the current tokio runtime.
    pub fn bind(addr: SocketAddr, advertised_ip: Option<String>, metrics: Arc<Metrics>) -> io::Result<Arc<TcpMux>> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let shared = Arc::new(Shared {
            routes: Mutex::default(),
            sweep_at: Mutex::new(64),
            pending: Arc::new(tokio::sync::Semaphore::new(MAX_PENDING)),
            metrics,
        });
        let task = tokio::spawn(accept_loop(listener, Arc::downgrade(&shared))).abort_handle();
        tracing::info!(%local, "ICE-TCP on one TCP port");
        Ok(Arc::new(TcpMux { shared: Arc::downgrade(&shared), owner: Mutex::new(Some(shared)), local, advertised_ip, task }))
    }

    /// Stops accepting and frees the port; streams already handed over stay with their
    /// connections.
    pub fn close(&self) {
        lock(&self.owner).take();
        self.task.abort();
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The shared port as one new connection will use it.
    pub fn port(&self) -> Arc<TcpPort> {
        Arc::new(TcpPort {
            shared: self.shared.clone(),
            public_port: self.local.port(),
            advertised_ip: self.advertised_ip.clone(),
            state: Mutex::default(),
        })
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, shared: Weak<Shared>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            // Out of descriptors, a connection reset before accept: not the listener's end.
            Err(e) => {
                tracing::warn!("ICE-TCP accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(sh) = shared.upgrade() else { return };
        let Ok(permit) = sh.pending.clone().try_acquire_owned() else {
            sh.metrics.tcp_unrouted.fetch_add(1, Relaxed);
            continue;
        };
        tokio::spawn(async move {
            let routed = tokio::time::timeout(FIRST_FRAME_TIMEOUT, route(stream, peer, &sh)).await;
            drop(permit);
            if !matches!(routed, Ok(Ok(()))) {
                sh.metrics.tcp_unrouted.fetch_add(1, Relaxed);
                tracing::debug!(%peer, "ICE-TCP stream closed unrouted: {routed:?}");
            }
        });
    }
}

/// Reads the first frame of `stream` and hands the stream to the connection it names.
async fn route(mut stream: tokio::net::TcpStream, peer: SocketAddr, shared: &Shared) -> io::Result<()> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    let n = usize::from(u16::from_be_bytes(len));
    if n > MAX_FIRST_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("first frame of {n} bytes")));
    }
    let mut first = vec![0u8; 2 + n];
    first[..2].copy_from_slice(&len);
    stream.read_exact(&mut first[2..]).await?;
    let port = binding_request_ufrag(&first[2..])
        .and_then(|ufrag| lock(&shared.routes).get(ufrag).and_then(Weak::upgrade))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not a binding request for a known ufrag"))?;
    port.hand_over(Pending { stream, peer, first })
}

struct Pending {
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    /// The first frame, length prefix included: read again by the connection first.
    first: Vec<u8>,
}

/// The shared port as one connection sees it.
pub struct TcpPort {
    shared: Weak<Shared>,
    public_port: u16,
    advertised_ip: Option<String>,
    state: Mutex<PortState>,
}

#[derive(Default)]
struct PortState {
    queue: VecDeque<Pending>,
    waker: Option<Waker>,
    /// Ports of the listeners the driver bound (and we closed): the candidates to rewrite.
    bound_ports: Vec<u16>,
}

impl TcpPort {
    fn hand_over(&self, p: Pending) -> io::Result<()> {
        let waker = {
            let mut st = lock(&self.state);
            if st.queue.len() >= ACCEPT_QUEUE {
                return Err(io::Error::new(io::ErrorKind::WouldBlock, "connection's accept queue full"));
            }
            st.queue.push_back(p);
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Registers the description's ICE ufrag(s) for this connection, writes the shared port
    /// into its passive TCP candidates and leaves out its active ones.
    pub fn rewrite_local_sdp(self: &Arc<Self>, sdp: &str) -> String {
        let bound = lock(&self.state).bound_ports.clone();
        let shared = self.shared.upgrade();
        let mut out = String::with_capacity(sdp.len());
        for line in sdp.split_inclusive('\n') {
            let body = line.trim_end_matches(['\r', '\n']);
            if let (Some(ufrag), Some(shared)) = (body.strip_prefix("a=ice-ufrag:"), &shared) {
                shared.learn_ufrag(ufrag.trim(), self);
            }
            match body.strip_prefix("a=candidate:").map(|c| rewrite_candidate(c, &bound, self.public_port, self.advertised_ip.as_deref())) {
                Some(Rewrite::Drop) => {}
                Some(Rewrite::To(c)) => {
                    out.push_str("a=candidate:");
                    out.push_str(&c);
                    out.push_str(&line[body.len()..]);
                }
                Some(Rewrite::Keep) | None => out.push_str(line),
            }
        }
        out
    }

    /// The connection's runtime wraps a listener the driver bound: closed, its port noted.
    pub(super) fn listener(self: &Arc<Self>, listener: std::net::TcpListener) -> io::Result<Arc<dyn AsyncTcpListener>> {
        let local = listener.local_addr()?;
        drop(listener);
        lock(&self.state).bound_ports.push(local.port());
        Ok(Arc::new(MuxTcpListener { port: self.clone(), local }))
    }
}

impl Shared {
    fn learn_ufrag(&self, ufrag: &str, port: &Arc<TcpPort>) {
        let mut routes = lock(&self.routes);
        routes.insert(ufrag.to_owned(), Arc::downgrade(port));
        let mut sweep_at = lock(&self.sweep_at);
        if routes.len() >= *sweep_at {
            routes.retain(|_, w| w.strong_count() > 0);
            *sweep_at = 2 * routes.len() + 64;
        }
    }
}

#[derive(Debug, PartialEq)]
enum Rewrite {
    Keep,
    Drop,
    To(String),
}

/// `foundation component transport priority address port typ host ... tcptype T`: a TCP
/// candidate on one of the `bound` ports gets `public_port`; an active one is dropped.
fn rewrite_candidate(c: &str, bound: &[u16], public_port: u16, advertised_ip: Option<&str>) -> Rewrite {
    let mut fields: Vec<&str> = c.split(' ').collect();
    if fields.len() < 6 || !fields[2].eq_ignore_ascii_case("tcp") {
        return Rewrite::Keep;
    }
    let tcptype = fields.iter().position(|f| *f == "tcptype").and_then(|i| fields.get(i + 1)).copied();
    if tcptype == Some("active") {
        return Rewrite::Drop;
    }
    match fields[5].parse::<u16>() {
        Ok(port) if bound.contains(&port) => {
            let public = public_port.to_string();
            fields[5] = &public;
            if let Some(ip) = advertised_ip {
                fields[4] = ip;
            }
            Rewrite::To(fields.join(" "))
        }
        _ => Rewrite::Keep,
    }
}

/// What the connection's driver accepts from: the streams routed to it.
struct MuxTcpListener {
    port: Arc<TcpPort>,
    /// The address of the listener the driver bound (its candidate's name for this one).
    local: SocketAddr,
}

impl fmt::Debug for MuxTcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MuxTcpListener").field("local", &self.local).finish_non_exhaustive()
    }
}

impl AsyncTcpListener for MuxTcpListener {
    fn accept<'a>(&'a self) -> Pin<Box<dyn Future<Output = io::Result<(Arc<dyn AsyncTcpStream>, SocketAddr)>> + Send + 'a>> {
        Box::pin(async move {
            let p = std::future::poll_fn(|cx| {
                let mut st = lock(&self.port.state);
                match st.queue.pop_front() {
                    Some(p) => Poll::Ready(p),
                    None => {
                        st.waker = Some(cx.waker().clone());
                        Poll::Pending
                    }
                }
            })
            .await;
            let (read_half, write_half) = p.stream.into_split();
            let stream = MuxTcpStream { first: Mutex::new(p.first), read_half, write_half, local: self.local, peer: p.peer };
            Ok((Arc::new(stream) as Arc<dyn AsyncTcpStream>, p.peer))
        })
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// A routed stream: the first frame (already read by the router) again, then the socket.
struct MuxTcpStream {
    first: Mutex<Vec<u8>>,
    read_half: tokio::net::tcp::OwnedReadHalf,
    write_half: tokio::net::tcp::OwnedWriteHalf,
    local: SocketAddr,
    peer: SocketAddr,
}

impl fmt::Debug for MuxTcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MuxTcpStream").field("local", &self.local).field("peer", &self.peer).finish_non_exhaustive()
    }
}

impl AsyncTcpStream for MuxTcpStream {
    fn read<'a, 'b>(&'a self, buf: &'b mut [u8]) -> Pin<Box<dyn Future<Output = io::Result<usize>> + Send + 'b>>
    where
        'a: 'b,
    {
        Box::pin(async move {
            {
                let mut first = lock(&self.first);
                if !first.is_empty() {
                    let n = first.len().min(buf.len());
                    buf[..n].copy_from_slice(&first[..n]);
                    first.drain(..n);
                    return Ok(n);
                }
            }
            loop {
                self.read_half.readable().await?;
                match self.read_half.try_read(buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    r => return r,
                }
            }
        })
    }

    fn write_all<'a, 'b>(&'a self, buf: &'b [u8]) -> Pin<Box<dyn Future<Output = io::Result<()>> + Send + 'b>>
    where
        'a: 'b,
    {
        Box::pin(async move {
            let mut rest = buf;
            while !rest.is_empty() {
                self.write_half.writable().await?;
                match self.write_half.try_write(rest) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => rest = &rest[n..],
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passive_candidates_get_the_shared_port_and_active_ones_go() {
        let passive = "2 1 tcp 1671430143 127.0.0.2 40001 typ host tcptype passive";
        assert_eq!(
            rewrite_candidate(passive, &[40001], 5000, None),
            Rewrite::To("2 1 tcp 1671430143 127.0.0.2 5000 typ host tcptype passive".into())
        );
        assert_eq!(rewrite_candidate(passive, &[1], 5000, None), Rewrite::Keep);
        // rtc.advertised_ip (webrtc-rs 0.21 keeps its 1:1 NAT setting but never applies it).
        assert_eq!(
            rewrite_candidate(passive, &[40001], 443, Some("203.0.113.7")),
            Rewrite::To("2 1 tcp 1671430143 203.0.113.7 443 typ host tcptype passive".into())
        );
        assert_eq!(rewrite_candidate("3 1 tcp 1 127.0.0.2 9 typ host tcptype active", &[40001], 5000, None), Rewrite::Drop);
        assert_eq!(rewrite_candidate("1 1 udp 2130706431 127.0.0.2 40001 typ host", &[40001], 5000, None), Rewrite::Keep);
        assert_eq!(rewrite_candidate("garbage", &[40001], 5000, None), Rewrite::Keep);
    }

    /// A stream is handed to the connection named by its first frame, that frame read again
    /// first; a stream for an unknown ufrag, and one that starts with something else, are closed.
    #[tokio::test]
    async fn streams_go_to_the_connection_their_first_binding_request_names() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let metrics = Arc::new(Metrics::default());
        let mux = TcpMux::bind(SocketAddr::from(([127, 0, 0, 1], 0)), None, metrics.clone()).expect("bind the shared listener");
        let (a, b) = (mux.port(), mux.port());
        // The driver's own listeners: closed by the mux, their ports rewritten.
        let la = a.listener(std::net::TcpListener::bind("127.0.0.1:0").expect("a listener")).expect("wrapped");
        let lb = b.listener(std::net::TcpListener::bind("127.0.0.1:0").expect("a listener")).expect("wrapped");
        let pa = la.local_addr().expect("its address").port();
        let sdp = a.rewrite_local_sdp(&format!(
            "a=ice-ufrag:ufragA\r\na=candidate:1 1 tcp 1 127.0.0.1 {pa} typ host tcptype passive\r\na=candidate:2 1 tcp 1 127.0.0.1 9 typ host tcptype active\r\n"
        ));
        assert_eq!(
            sdp,
            format!("a=ice-ufrag:ufragA\r\na=candidate:1 1 tcp 1 127.0.0.1 {} typ host tcptype passive\r\n", mux.local_addr().port())
        );
        b.rewrite_local_sdp("a=ice-ufrag:ufragB\r\n");

        let frame = |d: &[u8]| [&(d.len() as u16).to_be_bytes()[..], d].concat();
        let request = frame(&super::super::udpmux::tests::binding_request("ufragB:cli"));
        let mut client = tokio::net::TcpStream::connect(mux.local_addr()).await.expect("connect");
        // The frame in two writes, then a second frame behind it.
        client.write_all(&request[..7]).await.expect("write");
        tokio::time::sleep(Duration::from_millis(20)).await;
        client.write_all(&request[7..]).await.expect("write");
        client.write_all(&frame(&[0x80; 12])).await.expect("write");
        let (stream, peer) = tokio::time::timeout(Duration::from_secs(3), lb.accept()).await.expect("B accepts").expect("a stream");
        assert_eq!(peer, client.local_addr().expect("client address"));
        assert_eq!(stream.local_addr().expect("local"), lb.local_addr().expect("B's listener"), "named after B's listener");
        let mut got = Vec::new();
        while got.len() < request.len() + 14 {
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).await.expect("read");
            assert!(n > 0, "EOF after {got:?}");
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, [request.clone(), frame(&[0x80; 12])].concat(), "the first frame again, then the rest");
        // Both ways: what B's connection writes reaches the client.
        stream.write_all(&frame(b"answer")).await.expect("write");
        let mut back = [0u8; 8];
        client.read_exact(&mut back).await.expect("read the answer");
        assert_eq!(&back[2..], b"answer");

        // Unknown ufrag, and not STUN: closed, counted; A got nothing.
        for first in [frame(&super::super::udpmux::tests::binding_request("nobody:cli")), frame(&[0x80; 40])] {
            let mut c = tokio::net::TcpStream::connect(mux.local_addr()).await.expect("connect");
            c.write_all(&first).await.expect("write");
            let n = tokio::time::timeout(Duration::from_secs(3), c.read(&mut [0u8; 8])).await.expect("closed at once");
            assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
        }
        assert_eq!(metrics.tcp_unrouted.load(Relaxed), 2);
        assert!(tokio::time::timeout(Duration::from_millis(100), la.accept()).await.is_err(), "A accepted a stream");
        mux.close();
    }
}
