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
use super::udpbatch::{self, Outbox, Receiver};
use crate::metrics::Metrics;

/// Datagrams held for one connection whose driver has not read them yet; more are dropped
/// (a driver that far behind is stuck, and UDP may drop).
pub const PORT_QUEUE: usize = 1024;

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

pub(super) struct Shared {
    pub(super) socket: tokio::net::UdpSocket,
    routes: Mutex<Routes>,
    /// Datagrams sent by the connections, for the flusher ([`udpbatch::flush_loop`]).
    pub(super) outbox: Mutex<Outbox>,
    /// Notified when the outbox stops being empty.
    pub(super) outbox_ready: tokio::sync::Notify,
    /// Senders that found the outbox full, woken when it drains.
    pub(super) send_waiters: Mutex<Vec<Waker>>,
    pub(super) metrics: Arc<Metrics>,
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
        let socket = tokio::net::UdpSocket::from_std(socket)?;
        let receiver = Receiver::new(&socket)?;
        let shared = Arc::new(Shared {
            socket,
            routes: Mutex::default(),
            outbox: Mutex::default(),
            outbox_ready: tokio::sync::Notify::new(),
            send_waiters: Mutex::default(),
            metrics,
        });
        let recv = tokio::spawn(receive_loop(shared.clone(), receiver)).abort_handle();
        let flush = tokio::spawn(udpbatch::flush_loop(shared.clone())).abort_handle();
        tracing::info!(%local, "media on one UDP socket");
        Ok(Arc::new(UdpMux {
            shared: Arc::downgrade(&shared),
            owner: Mutex::new(Some(shared)),
            local,
            advertised_ip,
            tasks: [recv, flush],
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

async fn receive_loop(shared: Arc<Shared>, mut receiver: Receiver) {
    loop {
        let read = receiver.recv(&shared.socket, |from, datagram| {
            shared.metrics.udp_received.fetch_add(1, Relaxed);
            let port = lock(&shared.routes).route(datagram, from);
            match port {
                Some(port) => port.deliver(from, datagram, &shared.metrics),
                None => {
                    shared.metrics.udp_unrouted.fetch_add(1, Relaxed);
                }
            }
        });
        match read.await {
            Ok(()) => shared.metrics.udp_recv_calls.fetch_add(1, Relaxed),
            // An ICMP unreachable for something one connection sent, or a signal: not the
            // socket's end.
            Err(e) if is_transient(&e) => continue,
            Err(e) => {
                tracing::error!("shared media socket failed: {e}; media stops");
                return;
            }
        };
    }
}

fn is_transient(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(e.kind(), ConnectionRefused | ConnectionReset | Interrupted | WouldBlock | TimedOut)
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
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

/// The shared socket as one connection sees it: its queue of received datagrams, and the
/// rewrite of its local descriptions ([`shared_sockets`]).
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

/// For a connection on the shared UDP socket, the shared ICE-TCP port ([`super::tcpmux`]), or
/// both: what [`nertc_rtc::pc::PcBuilder::runtime`] takes (a runtime whose sockets and
/// listeners are views of the shared ones), and its [`nertc_rtc::pc::PcBuilder::shared_sdp`]
/// (the rewrite of its local descriptions).
pub fn shared_sockets(udp: Option<Arc<MuxPort>>, tcp: Option<Arc<TcpPort>>) -> (Arc<dyn Runtime>, nertc_rtc::pc::SdpRewrite) {
    let (u, t) = (udp.clone(), tcp.clone());
    let rewrite = Arc::new(move |sdp: String| {
        let sdp = match &u {
            Some(u) => u.rewrite_local_sdp(&sdp),
            None => sdp,
        };
        match &t {
            Some(t) => t.rewrite_local_sdp(&sdp),
            None => sdp,
        }
    });
    (Arc::new(MuxRuntime { udp, tcp }), rewrite)
}

/// The runtime of a connection on UDP sockets of its own (a port per connection): tokio's, with
/// GRO off on each socket ([`OneDatagram`]).
pub fn own_sockets() -> Arc<dyn Runtime> {
    Arc::new(MuxRuntime { udp: None, tcp: None })
}

/// A connection's runtime: tokio, except that its UDP sockets (with `udp`) and TCP listeners
/// (with `tcp`) are views of the shared ones; UDP sockets of its own have GRO off.
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
        let Some(port) = &self.udp else { return OneDatagram::wrap(socket) };
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

/// A connection's own UDP socket with GRO off: one datagram per read. webrtc-rs gives a socket
/// that coalesces up to 64 datagrams two receive buffers of 64 KiB, zeroed, so 128 KiB per
/// connection; a fresh heap hands that out untouched, but one that served earlier connections
/// must clear it: after 100 subscribers had come and gone, 200 more took 110 MiB instead of
/// 85. Reads here are a datagram or two at a time (a publisher's uplink, RTCP), which GRO does
/// not speed up.
#[derive(Debug)]
struct OneDatagram(Arc<dyn AsyncUdpSocket>);

impl OneDatagram {
    fn wrap(socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        let fd = socket.try_clone()?;
        // tokio's wrapping (quinn-udp) switches GRO on where the kernel has it: off again after.
        let inner = TokioRuntime.wrap_udp_socket(socket)?;
        if inner.max_gro_segments() > 1 {
            nix::sys::socket::setsockopt(&fd, nix::sys::socket::sockopt::UdpGroSegment, &false).map_err(io::Error::from)?;
        }
        Ok(Arc::new(OneDatagram(inner)))
    }
}

impl AsyncUdpSocket for OneDatagram {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
    fn poll_send(&self, cx: &mut Context<'_>, transmit: &Transmit<'_>) -> Poll<io::Result<usize>> {
        self.0.poll_send(cx, transmit)
    }
    fn poll_recv(&self, cx: &mut Context<'_>, bufs: &mut [IoSliceMut<'_>], meta: &mut [RecvMeta]) -> Poll<io::Result<usize>> {
        self.0.poll_recv(cx, bufs, meta)
    }
    fn max_gso_segments(&self) -> usize {
        self.0.max_gso_segments()
    }
    fn max_gro_segments(&self) -> usize {
        1
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
        let mut outbox = lock(&shared.outbox);
        if outbox.is_full() {
            // Registered under the outbox's lock: the flusher, which has work (the outbox is
            // not empty), wakes the waiters after it has taken the outbox.
            lock(&shared.send_waiters).push(cx.waker().clone());
            return Poll::Pending;
        }
        let was_empty = outbox.is_empty();
        for chunk in transmit.contents.chunks(size) {
            outbox.push(to, chunk);
        }
        drop(outbox);
        if was_empty {
            shared.outbox_ready.notify_one();
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

    async fn send(socket: &MuxSocket, to: SocketAddr, datagram: &[u8]) {
        let transmit = Transmit { destination: to, ecn: None, contents: datagram, segment_size: None, src_ip: None };
        let sent = futures_util::future::poll_fn(|cx| socket.poll_send(cx, &transmit)).await.expect("a queued send succeeds");
        assert_eq!(sent, datagram.len());
    }

    /// A fan-out queued by connections before the flusher runs leaves in `sendmmsg` calls of
    /// 64, every datagram whole and in order; on a full outbox a sender waits, then goes on.
    #[tokio::test(flavor = "current_thread")]
    async fn a_fan_out_leaves_in_batches_whole_and_in_order() {
        let metrics = Arc::new(Metrics::default());
        let mux = UdpMux::bind(addr(0), None, metrics.clone()).expect("bind the shared socket");
        let views: Vec<MuxSocket> = (0..2).map(|i| MuxSocket { port: mux.port(), local: addr(40_000 + i) }).collect();
        let sinks = [tokio::net::UdpSocket::bind(addr(0)).await.unwrap(), tokio::net::UdpSocket::bind(addr(0)).await.unwrap()];
        let to: Vec<SocketAddr> = sinks.iter().map(|s| s.local_addr().unwrap()).collect();

        // 100 "packets" to each of two subscribers (within the sinks' receive buffers),
        // queued without yielding, as one fan-out's drivers do on this one thread.
        for seq in 0u16..100 {
            for (i, view) in views.iter().enumerate() {
                let mut d = vec![i as u8; 100 + usize::from(seq)];
                d[1..3].copy_from_slice(&seq.to_be_bytes());
                send(view, to[i], &d).await;
            }
        }
        assert_eq!(metrics.udp_send_calls.load(Relaxed), 0, "nothing leaves before the flusher runs");
        let mut buf = vec![0u8; 2048];
        for (i, sink) in sinks.iter().enumerate() {
            for seq in 0u16..100 {
                let n = tokio::time::timeout(Duration::from_secs(5), sink.recv(&mut buf)).await.expect("datagram in time").unwrap();
                assert_eq!(n, 100 + usize::from(seq), "sink {i} datagram {seq} whole");
                assert_eq!((buf[0], u16::from_be_bytes([buf[1], buf[2]])), (i as u8, seq), "sink {i} in order");
            }
        }
        assert_eq!(metrics.udp_sent.load(Relaxed), 200);
        assert_eq!(metrics.udp_send_calls.load(Relaxed), 200usize.div_ceil(udpbatch::SEND_BATCH) as u64);

        // A full outbox parks the next sender until the flusher has taken it.
        for _ in 0..udpbatch::OUTBOX_MAX {
            send(&views[0], to[0], &[0; 20]).await;
        }
        let transmit = Transmit { destination: to[0], ecn: None, contents: &[1; 20], segment_size: None, src_ip: None };
        let first = futures_util::future::poll_fn(|cx| Poll::Ready(views[0].poll_send(cx, &transmit))).await;
        assert!(first.is_pending(), "a sender waits on a full outbox");
        tokio::time::timeout(Duration::from_secs(5), send(&views[0], to[0], &[1; 20])).await.expect("the flusher drains the outbox");
        assert_eq!(metrics.udp_send_errors.load(Relaxed), 0);
    }

    /// IPv6 destinations get a sockaddr_in6 of their own.
    #[tokio::test(flavor = "current_thread")]
    async fn ipv6_destinations_are_reached() {
        let v6 = |port: u16| SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port));
        let Ok(sink) = tokio::net::UdpSocket::bind(v6(0)).await else {
            eprintln!("no IPv6 loopback here: nothing to test");
            return;
        };
        let metrics = Arc::new(Metrics::default());
        let mux = UdpMux::bind(v6(0), None, metrics.clone()).expect("bind the shared socket on ::1");
        let view = MuxSocket { port: mux.port(), local: v6(40_000) };
        send(&view, sink.local_addr().unwrap(), b"over six").await;
        let mut buf = [0u8; 64];
        let (n, from) = tokio::time::timeout(Duration::from_secs(5), sink.recv_from(&mut buf)).await.expect("in time").unwrap();
        assert_eq!((&buf[..n], from), (&b"over six"[..], mux.local_addr()));
    }
}
