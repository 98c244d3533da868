//! One UDP socket for every server peer connection (`rtc.udp_port`).
//!
//! webrtc-rs 0.21 has no UDP mux (the `SettingEngine`'s `with_udp_network` is a commented-out
//! todo): its driver binds a socket of its own for each connection and hands it to the
//! connection's [`Runtime`] to wrap. That wrap is the seam used here. Each connection gets a
//! `MuxRuntime` (tokio for everything else) whose `wrap_udp_socket` closes the socket the
//! driver bound — an ephemeral port on `rtc.bind_ip`, open for microseconds — and returns a
//! `MuxSocket`: a view of the one shared socket that sends through it and receives what the
//! demultiplexer routes to its connection. The connection keeps calling its host candidate by
//! the closed socket's address (only it sees that); [`MuxPort::rewrite_local_sdp`] writes the
//! shared port (and `rtc.advertised_ip`, if set: webrtc-rs 0.21 ignores its own 1:1 NAT
//! setting) into the candidates of every local description before it leaves the server.
//!
//! Routing of a datagram received on the shared socket (`Routes::route`):
//! 1. a STUN binding request carries `USERNAME = <server ufrag>:<client ufrag>`: the server's
//!    ufrag names the connection (learned from its local SDP), and the sender's address is
//!    (re)bound to it — the authoritative rule, it also follows an ICE restart or a client
//!    whose address changed;
//! 2. anything else goes by the sender's address: bound by rule 1, or by the server's own
//!    connectivity checks (a STUN message sent to an address nobody holds binds it to the
//!    sender, so the answers to the server's checks find their way back — the server runs full
//!    ICE, not ICE-lite);
//! 3. the rest is dropped (counted in `nertc_udp_unrouted_total`).
//!
//! Two connections of one client must come from different addresses (a browser's or our
//! engine's connections each have a socket of their own): after ICE, DTLS and SRTP are told
//! apart by address alone. ICE-lite (`SettingEngineBuilder::with_lite`) exists in the stack
//! but is not needed: rule 2 lets the server's own checks through.
//!
//! Connections are held weakly: a closed connection's routes die with it and are swept out
//! as the tables grow. The socket is held by the [`UdpMux`] (and its two tasks) alone, the
//! connections' views hold it weakly: [`UdpMux::close`] (at server shutdown) frees the port
//! even while connections are still being torn down.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, RecvMeta, Runtime, TokioRuntime, Transmit,
};

use super::tcpmux::TcpPort;
use crate::metrics::Metrics;

/// Datagrams held for one connection whose driver has not read them yet; more are dropped
/// (a driver that far behind is stuck, and UDP may drop).
pub const PORT_QUEUE: usize = 1024;
/// Largest datagram read from the shared socket; a longer one is truncated and then fails
/// its integrity check (the stack's own receive MTU is 1460).
const MAX_DATAGRAM: usize = 2048;

/// The shared socket and its routing tables; owned by the server, one per process.
pub struct UdpMux {
    shared: Weak<Shared>,
    /// The strong reference, until [`UdpMux::close`].
    owner: Mutex<Option<Arc<Shared>>>,
    local: SocketAddr,
    /// `rtc.advertised_ip`: written into the candidates instead of the bound address.
    advertised_ip: Option<String>,
    tasks: [tokio::task::AbortHandle; 2],
}

struct Shared {
    socket: tokio::net::UdpSocket,
    routes: Mutex<Routes>,
    /// Senders that found the socket's send buffer full, woken when it drains.
    send_waiters: Mutex<Vec<Waker>>,
    send_blocked: tokio::sync::Notify,
    metrics: Arc<Metrics>,
}

impl fmt::Debug for UdpMux {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpMux").field("local", &self.local).finish_non_exhaustive()
    }
}

impl Drop for UdpMux {
    fn drop(&mut self) {
        self.close();
    }
}

impl UdpMux {
    /// Binds the shared socket and starts its receive loop on the current tokio runtime.
    pub fn bind(addr: SocketAddr, advertised_ip: Option<String>, metrics: Arc<Metrics>) -> io::Result<Arc<UdpMux>> {
        let socket = std::net::UdpSocket::bind(addr)?;
        socket.set_nonblocking(true)?;
        let local = socket.local_addr()?;
        let shared = Arc::new(Shared {
            socket: tokio::net::UdpSocket::from_std(socket)?,
            routes: Mutex::default(),
            send_waiters: Mutex::default(),
            send_blocked: tokio::sync::Notify::new(),
            metrics,
        });
        let recv = tokio::spawn(receive_loop(shared.clone())).abort_handle();
        let writable = tokio::spawn(wake_senders(shared.clone())).abort_handle();
        tracing::info!(%local, "media on one UDP socket");
        Ok(Arc::new(UdpMux {
            shared: Arc::downgrade(&shared),
            owner: Mutex::new(Some(shared)),
            local,
            advertised_ip,
            tasks: [recv, writable],
        }))
    }

    /// Closes the socket (once its tasks have stopped, at their next poll): connections still
    /// open send into the void and receive nothing.
    pub fn close(&self) {
        lock(&self.owner).take();
        for t in &self.tasks {
            t.abort();
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The shared socket as one new connection will use it.
    pub fn port(&self) -> Arc<MuxPort> {
        Arc::new(MuxPort {
            shared: self.shared.clone(),
            public_port: self.local.port(),
            advertised_ip: self.advertised_ip.clone(),
            state: Mutex::default(),
        })
    }
}

async fn receive_loop(shared: Arc<Shared>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, from) = match shared.socket.recv_from(&mut buf).await {
            Ok(r) => r,
            // An ICMP unreachable for something one connection sent, or a signal: not the
            // socket's end.
            Err(e) if is_transient(&e) => continue,
            Err(e) => {
                tracing::error!("shared media socket failed: {e}; media stops");
                return;
            }
        };
        let datagram = &buf[..n];
        let port = lock(&shared.routes).route(datagram, from);
        match port {
            Some(port) => port.deliver(from, datagram, &shared.metrics),
            None => {
                shared.metrics.udp_unrouted.fetch_add(1, Relaxed);
            }
        }
    }
}

/// Wakes the senders parked on a full send buffer once the socket is writable again. One task
/// does the waiting: tokio's `poll_send_to` keeps only the last caller's waker, and several
/// connections' drivers send on this socket.
async fn wake_senders(shared: Arc<Shared>) {
    loop {
        shared.send_blocked.notified().await;
        if shared.socket.writable().await.is_err() {
            return;
        }
        for w in std::mem::take(&mut *lock(&shared.send_waiters)) {
            w.wake();
        }
    }
}

fn is_transient(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(e.kind(), ConnectionRefused | ConnectionReset | Interrupted | WouldBlock | TimedOut)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Default)]
struct Routes {
    by_ufrag: HashMap<String, Weak<MuxPort>>,
    by_addr: HashMap<SocketAddr, Weak<MuxPort>>,
    /// Table size at which dead entries are next swept out.
    sweep_at: usize,
}

impl Routes {
    fn route(&mut self, datagram: &[u8], from: SocketAddr) -> Option<Arc<MuxPort>> {
        if let Some(ufrag) = binding_request_ufrag(datagram) {
            // A request for a ufrag no connection (still) has is for nobody, whatever its
            // address was bound to.
            let port = self.by_ufrag.get(ufrag).and_then(Weak::upgrade)?;
            self.by_addr.insert(from, Arc::downgrade(&port));
            self.sweep();
            return Some(port);
        }
        self.by_addr.get(&from).and_then(Weak::upgrade)
    }

    /// Binds `to` to `port` unless a live connection holds it already.
    fn learn_destination(&mut self, to: SocketAddr, port: &Arc<MuxPort>) {
        let held = self.by_addr.get(&to).is_some_and(|w| w.strong_count() > 0);
        if !held {
            self.by_addr.insert(to, Arc::downgrade(port));
            self.sweep();
        }
    }

    fn learn_ufrag(&mut self, ufrag: &str, port: &Arc<MuxPort>) {
        self.by_ufrag.insert(ufrag.to_owned(), Arc::downgrade(port));
        self.sweep();
    }

    fn sweep(&mut self) {
        if self.by_addr.len() + self.by_ufrag.len() < self.sweep_at {
            return;
        }
        self.by_addr.retain(|_, w| w.strong_count() > 0);
        self.by_ufrag.retain(|_, w| w.strong_count() > 0);
        self.sweep_at = 2 * (self.by_addr.len() + self.by_ufrag.len()) + 64;
    }
}

const STUN_HEADER: usize = 20;
const STUN_MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
const STUN_BINDING_REQUEST: [u8; 2] = [0x00, 0x01];
const STUN_ATTR_USERNAME: [u8; 2] = [0x00, 0x06];

/// A STUN message (RFC 8489 §5: two zero bits, the magic cookie) — what a connectivity
/// check or its answer is, never RTP, RTCP or DTLS (RFC 7983's first-byte ranges).
fn is_stun(d: &[u8]) -> bool {
    d.len() >= STUN_HEADER && d[0] < 2 && d[4..8] == STUN_MAGIC_COOKIE
}

/// The recipient's ufrag of a STUN binding request: the part of its USERNAME before the
/// colon (RFC 8445 §7.2.2: `<receiver's ufrag>:<sender's ufrag>`).
pub(super) fn binding_request_ufrag(d: &[u8]) -> Option<&str> {
    if !is_stun(d) || d[0..2] != STUN_BINDING_REQUEST {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([d[2], d[3]]));
    let mut attrs = d.get(STUN_HEADER..STUN_HEADER + len)?;
    while attrs.len() >= 4 {
        let (kind, alen) = ([attrs[0], attrs[1]], usize::from(u16::from_be_bytes([attrs[2], attrs[3]])));
        let value = attrs.get(4..4 + alen)?;
        if kind == STUN_ATTR_USERNAME {
            let user = std::str::from_utf8(value).ok()?;
            return user.split_once(':').map(|(ours, _)| ours).filter(|u| !u.is_empty());
        }
        attrs = attrs.get((4 + alen).next_multiple_of(4)..).unwrap_or_default();
    }
    None
}

/// The shared socket as one connection sees it: its queue of received datagrams, and what
/// [`nertc_rtc::pc::SharedUdp`] needs.
pub struct MuxPort {
    shared: Weak<Shared>,
    /// The port written into the connection's candidates.
    public_port: u16,
    advertised_ip: Option<String>,
    state: Mutex<PortState>,
}

#[derive(Default)]
struct PortState {
    queue: VecDeque<(SocketAddr, Vec<u8>)>,
    waker: Option<Waker>,
    /// Ports of the sockets the driver bound (and we closed): the candidates to rewrite.
    bound_ports: Vec<u16>,
}

impl MuxPort {
    fn deliver(&self, from: SocketAddr, datagram: &[u8], metrics: &Metrics) {
        let waker = {
            let mut st = lock(&self.state);
            if st.queue.len() >= PORT_QUEUE {
                metrics.udp_unrouted.fetch_add(1, Relaxed);
                return;
            }
            st.queue.push_back((from, datagram.to_vec()));
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Registers the description's ICE ufrag(s) for this connection and writes the shared
    /// port into its UDP candidates (those on a socket the driver bound).
    pub fn rewrite_local_sdp(self: &Arc<Self>, sdp: &str) -> String {
        let bound = lock(&self.state).bound_ports.clone();
        let shared = self.shared.upgrade();
        let mut out = String::with_capacity(sdp.len());
        for line in sdp.split_inclusive('\n') {
            let body = line.trim_end_matches(['\r', '\n']);
            if let (Some(ufrag), Some(shared)) = (body.strip_prefix("a=ice-ufrag:"), &shared) {
                lock(&shared.routes).learn_ufrag(ufrag.trim(), self);
            }
            match body
                .strip_prefix("a=candidate:")
                .and_then(|c| rewrite_candidate(c, &bound, self.public_port, self.advertised_ip.as_deref()))
            {
                Some(c) => {
                    out.push_str("a=candidate:");
                    out.push_str(&c);
                    out.push_str(&line[body.len()..]);
                }
                None => out.push_str(line),
            }
        }
        out
    }
}

/// `foundation component transport priority address port typ ...` with `port` replaced when
/// the transport is UDP and the port one of `bound`; None when nothing changes.
fn rewrite_candidate(c: &str, bound: &[u16], public_port: u16, advertised_ip: Option<&str>) -> Option<String> {
    let mut fields: Vec<&str> = c.split(' ').collect();
    if fields.len() < 6 || !fields[2].eq_ignore_ascii_case("udp") {
        return None;
    }
    let port: u16 = fields[5].parse().ok()?;
    if !bound.contains(&port) {
        return None;
    }
    let public = public_port.to_string();
    fields[5] = &public;
    if let Some(ip) = advertised_ip {
        fields[4] = ip;
    }
    Some(fields.join(" "))
}

/// What [`nertc_rtc::pc::PcBuilder::shared_udp`] takes for a connection on the shared UDP
/// socket, the shared ICE-TCP port ([`super::tcpmux`]), or both: a runtime whose sockets and
/// listeners are views of the shared ones, and the rewrite of its local descriptions.
pub fn shared_sockets(udp: Option<Arc<MuxPort>>, tcp: Option<Arc<TcpPort>>) -> nertc_rtc::pc::SharedUdp {
    let (u, t) = (udp.clone(), tcp.clone());
    nertc_rtc::pc::SharedUdp {
        runtime: Arc::new(MuxRuntime { udp, tcp }),
        local_sdp: Arc::new(move |sdp| {
            let sdp = match &u {
                Some(u) => u.rewrite_local_sdp(&sdp),
                None => sdp,
            };
            match &t {
                Some(t) => t.rewrite_local_sdp(&sdp),
                None => sdp,
            }
        }),
    }
}

/// A connection's runtime: tokio, except that its UDP sockets (with `udp`) and TCP listeners
/// (with `tcp`) are views of the shared ones.
struct MuxRuntime {
    udp: Option<Arc<MuxPort>>,
    tcp: Option<Arc<TcpPort>>,
}

impl fmt::Debug for MuxRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MuxRuntime")
    }
}

impl Runtime for MuxRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        TokioRuntime.spawn(future)
    }
    fn spawn_reactor(&self, pool: usize, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        TokioRuntime.spawn_reactor(pool, future)
    }
    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        let Some(port) = &self.udp else { return TokioRuntime.wrap_udp_socket(socket) };
        let local = socket.local_addr()?;
        // The driver names its host candidate after this address; the socket itself is not
        // needed (the shared one carries the traffic), so it is closed here.
        drop(socket);
        lock(&port.state).bound_ports.push(local.port());
        Ok(Arc::new(MuxSocket { port: port.clone(), local }))
    }
    fn wrap_tcp_listener(&self, listener: std::net::TcpListener) -> io::Result<Arc<dyn AsyncTcpListener>> {
        match &self.tcp {
            Some(port) => port.listener(listener),
            None => TokioRuntime.wrap_tcp_listener(listener),
        }
    }
    fn connect_tcp<'a>(&'a self, remote: SocketAddr) -> Pin<Box<dyn Future<Output = io::Result<Arc<dyn AsyncTcpStream>>> + Send + 'a>> {
        TokioRuntime.connect_tcp(remote)
    }
    fn resolve_host<'a>(&'a self, host: &'a str) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>> {
        TokioRuntime.resolve_host(host)
    }
    fn now(&self) -> Instant {
        TokioRuntime.now()
    }
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        TokioRuntime.sleep(duration)
    }
    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        TokioRuntime.interval(period)
    }
    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        TokioRuntime.block_on(future)
    }
    fn yield_now(&self) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        TokioRuntime.yield_now()
    }
    fn name(&self) -> &'static str {
        "tokio+udpmux"
    }
}

/// One connection's view of the shared socket.
struct MuxSocket {
    port: Arc<MuxPort>,
    /// The address of the socket the driver bound (its candidate's name for this one).
    local: SocketAddr,
}

impl fmt::Debug for MuxSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MuxSocket").field("local", &self.local).finish_non_exhaustive()
    }
}

impl AsyncUdpSocket for MuxSocket {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    fn poll_send(&self, cx: &mut Context<'_>, transmit: &Transmit<'_>) -> Poll<io::Result<usize>> {
        let Some(shared) = self.port.shared.upgrade() else {
            // The server closed the socket: a datagram into the void.
            return Poll::Ready(Ok(transmit.contents.len()));
        };
        let to = transmit.destination;
        if is_stun(transmit.contents) {
            lock(&shared.routes).learn_destination(to, &self.port);
        }
        // max_gso_segments is 1, so a transmit is one datagram; split one anyway rather than
        // send an oversized datagram.
        let size = transmit.segment_size.filter(|s| *s > 0).unwrap_or(transmit.contents.len().max(1));
        let mut sent = 0;
        for chunk in transmit.contents.chunks(size) {
            match shared.socket.try_send_to(chunk, to) {
                Ok(_) => sent += chunk.len(),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && sent == 0 => {
                    lock(&shared.send_waiters).push(cx.waker().clone());
                    shared.send_blocked.notify_one();
                    return Poll::Pending;
                }
                // The rest of a split batch, when the buffer filled midway: lost, as UDP may.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(transmit.contents.len()))
    }

    fn poll_recv(&self, cx: &mut Context<'_>, bufs: &mut [IoSliceMut<'_>], meta: &mut [RecvMeta]) -> Poll<io::Result<usize>> {
        let capacity = bufs.len().min(meta.len());
        if capacity == 0 {
            return Poll::Ready(Ok(0));
        }
        let mut st = lock(&self.port.state);
        if st.queue.is_empty() {
            st.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let mut n = 0;
        while n < capacity {
            let Some((from, datagram)) = st.queue.pop_front() else { break };
            let len = datagram.len().min(bufs[n].len());
            bufs[n][..len].copy_from_slice(&datagram[..len]);
            let mut m = RecvMeta::default();
            m.addr = from;
            m.len = len;
            // One datagram per message; at least 1 (the driver divides by it).
            m.stride = len.max(1);
            m.dst_ip = Some(self.local.ip());
            meta[n] = m;
            n += 1;
        }
        Poll::Ready(Ok(n))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A binding request as RFC 8445 builds it: USERNAME, then attributes we skip.
    pub(in crate::sfu) fn binding_request(username: &str) -> Vec<u8> {
        let mut attrs = Vec::new();
        // PRIORITY first, to be skipped.
        attrs.extend_from_slice(&[0x00, 0x24, 0x00, 0x04, 1, 2, 3, 4]);
        attrs.extend_from_slice(&STUN_ATTR_USERNAME);
        attrs.extend_from_slice(&(username.len() as u16).to_be_bytes());
        attrs.extend_from_slice(username.as_bytes());
        while attrs.len() % 4 != 0 {
            attrs.push(0);
        }
        let mut d = STUN_BINDING_REQUEST.to_vec();
        d.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        d.extend_from_slice(&STUN_MAGIC_COOKIE);
        d.extend_from_slice(&[7; 12]);
        d.extend_from_slice(&attrs);
        d
    }

    #[test]
    fn the_recipient_ufrag_is_read_from_a_binding_request() {
        assert_eq!(binding_request_ufrag(&binding_request("srvAbc:cli1")), Some("srvAbc"));
        // Padding after an odd-length username does not matter.
        assert_eq!(binding_request_ufrag(&binding_request("abcde:f")), Some("abcde"));
        assert_eq!(binding_request_ufrag(&binding_request("nocolon")), None);
        assert_eq!(binding_request_ufrag(&binding_request(":cli")), None);
        // A binding response (class bits set), RTP, DTLS, truncated messages: no ufrag.
        let mut response = binding_request("srv:cli");
        response[0..2].copy_from_slice(&[0x01, 0x01]);
        assert_eq!(binding_request_ufrag(&response), None);
        assert!(is_stun(&response));
        let rtp = [0x80u8; 40];
        assert!(!is_stun(&rtp) && binding_request_ufrag(&rtp).is_none());
        let dtls = [22u8; 40];
        assert!(!is_stun(&dtls));
        let whole = binding_request("srv:cli");
        for cut in 0..whole.len() {
            // Any prefix parses without panicking; only the complete one names the ufrag.
            let got = binding_request_ufrag(&whole[..cut]);
            assert!(got.is_none(), "prefix of {cut} bytes gave {got:?}");
        }
    }

    #[test]
    fn random_and_mangled_datagrams_never_panic_the_parser() {
        let whole = binding_request("srvUfrag:cliUfrag");
        for i in 0..50_000u32 {
            let mut d = if i % 2 == 0 { whole.clone() } else { vec![0u8; (i % 97) as usize] };
            for b in d.iter_mut().skip(if i % 2 == 0 { 2 } else { 0 }) {
                if rand::random::<u8>() < 32 {
                    *b = rand::random();
                }
            }
            if i % 3 == 0 && d.len() > 8 {
                d[4..8].copy_from_slice(&STUN_MAGIC_COOKIE);
            }
            let _ = binding_request_ufrag(&d);
        }
    }

    #[test]
    fn candidates_on_a_bound_port_get_the_shared_port() {
        let c = "1 1 udp 2130706431 127.0.0.1 54321 typ host";
        assert_eq!(rewrite_candidate(c, &[54321], 5000, None).as_deref(), Some("1 1 udp 2130706431 127.0.0.1 5000 typ host"));
        assert_eq!(rewrite_candidate(c, &[1], 5000, None), None);
        // rtc.advertised_ip (webrtc-rs 0.21 keeps its 1:1 NAT setting but never applies it).
        assert_eq!(
            rewrite_candidate(c, &[54321], 5000, Some("203.0.113.7")).as_deref(),
            Some("1 1 udp 2130706431 203.0.113.7 5000 typ host")
        );
        assert_eq!(rewrite_candidate("1 1 tcp 1 127.0.0.1 54321 typ host tcptype passive", &[54321], 5000, None), None);
        assert_eq!(rewrite_candidate("garbage", &[54321], 5000, None), None);
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[tokio::test]
    async fn datagrams_are_routed_by_ufrag_then_by_address() {
        let mux = UdpMux::bind(addr(0), None, Arc::default()).expect("bind the shared socket");
        let (a, b) = (mux.port(), mux.port());
        let sdp =
            |ufrag: &str, port: u16| format!("v=0\r\na=ice-ufrag:{ufrag}\r\na=candidate:1 1 udp 2130706431 127.0.0.1 {port} typ host\r\n");
        lock(&a.state).bound_ports.push(40001);
        let rewritten = a.rewrite_local_sdp(&sdp("ufragA", 40001));
        assert!(rewritten.contains(&format!("127.0.0.1 {} typ host\r\n", mux.local_addr().port())), "{rewritten}");
        b.rewrite_local_sdp(&sdp("ufragB", 40002));

        let shared = mux.shared.upgrade().expect("the mux is open");
        let is = |got: Option<Arc<MuxPort>>, want: &Arc<MuxPort>| got.is_some_and(|g| Arc::ptr_eq(&g, want));
        {
            let mut routes = lock(&shared.routes);
            // Unknown sender, no ufrag: nobody's.
            assert!(routes.route(&[0x80; 20], addr(1)).is_none());
            // A check for B binds its sender to B; later media from there goes to B.
            assert!(is(routes.route(&binding_request("ufragB:x"), addr(1)), &b));
            assert!(is(routes.route(&[0x80; 20], addr(1)), &b));
            // The ufrag wins over the address binding.
            assert!(is(routes.route(&binding_request("ufragA:x"), addr(1)), &a));
            assert!(is(routes.route(&[0x80; 20], addr(1)), &a));
            // A check for a ufrag nobody has is dropped.
            assert!(routes.route(&binding_request("other:x"), addr(1)).is_none());
            // A's own check to addr(2) binds it to A; B's later one does not steal it.
            routes.learn_destination(addr(2), &a);
            routes.learn_destination(addr(2), &b);
            assert!(is(routes.route(&[0x80; 20], addr(2)), &a));
        }
        // A closed connection's routes die with it.
        drop(a);
        {
            let mut routes = lock(&shared.routes);
            assert!(routes.route(&[0x80; 20], addr(2)).is_none());
            assert!(routes.route(&binding_request("ufragA:x"), addr(3)).is_none());
            routes.learn_destination(addr(2), &b);
            assert!(is(routes.route(&[0x80; 20], addr(2)), &b));
        }
        drop(shared);
        // Closing frees the port even while connections still hold their views of it.
        mux.close();
        let local = mux.local_addr();
        for _ in 0..100 {
            if std::net::UdpSocket::bind(local).is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{local} still bound after close; b is alive: {}", Arc::strong_count(&b));
    }
}
