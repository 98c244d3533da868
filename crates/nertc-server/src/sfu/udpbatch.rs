//! Batched system calls on the shared media socket ([`super::udpmux`]).
//!
//! **Sending.** Every connection's driver hands its datagrams to [`Outbox::push`]: a copy into
//! one buffer shared by all connections, no system call. A single flusher task
//! ([`flush_loop`]) takes the whole buffer at a time and gives it to the kernel with
//! `sendmmsg`, up to [`SEND_BATCH`] datagrams per call. When the flusher is woken it first
//! yields once, so the drivers woken by the same forwarded packet queue theirs before it
//! takes the buffer: one packet fanned out to N subscribers then costs about N / 64 system
//! calls instead of N `sendto`s. A full outbox ([`OUTBOX_MAX`] datagrams: the kernel's send
//! buffer is full and stays so) parks the drivers until the flusher has drained it.
//!
//! **Receiving.** [`Receiver`] reads up to [`quinn_udp::BATCH_SIZE`] (32) datagrams per
//! `recvmmsg` through quinn-udp, the UDP layer webrtc-rs itself uses; GRO stays off, so a
//! message is one datagram.
//!
//! `sendmmsg` is called through `libc`: quinn-udp sends one destination per call (GSO), and
//! nix's `sendmmsg` only reports the count through an iterator that reads address slots the
//! call never fills.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use super::udpmux::Shared;

/// Datagrams per `sendmmsg` call.
pub const SEND_BATCH: usize = 64;
/// Datagrams queued for the flusher at most; a driver sending into a full outbox waits.
pub const OUTBOX_MAX: usize = 8192;
/// Largest datagram read; a longer one is truncated and then fails its integrity check (the
/// stack's own receive MTU is 1460).
pub const MAX_DATAGRAM: usize = 2048;

/// Datagrams waiting for the flusher, back to back in one buffer.
#[derive(Default)]
pub struct Outbox {
    bytes: Vec<u8>,
    /// Destination, start in `bytes`, length.
    items: Vec<(SocketAddr, usize, usize)>,
}

impl Outbox {
    pub fn is_full(&self) -> bool {
        self.items.len() >= OUTBOX_MAX
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn push(&mut self, to: SocketAddr, datagram: &[u8]) {
        self.items.push((to, self.bytes.len(), datagram.len()));
        self.bytes.extend_from_slice(datagram);
    }

    fn clear(&mut self) {
        self.items.clear();
        self.bytes.clear();
    }
}

/// The flusher: hands every queued datagram to the kernel, then wakes the drivers that found
/// the outbox full. Runs until the socket is closed (its task is aborted).
pub async fn flush_loop(shared: Arc<Shared>) {
    let mut batch = Outbox::default();
    loop {
        shared.outbox_ready.notified().await;
        loop {
            // Let the other tasks woken with this one (the drivers of one fan-out) queue
            // their datagrams first.
            tokio::task::yield_now().await;
            std::mem::swap(&mut *super::udpmux::lock(&shared.outbox), &mut batch);
            if batch.is_empty() {
                break;
            }
            send_all(&shared, &batch).await;
            batch.clear();
            for w in std::mem::take(&mut *super::udpmux::lock(&shared.send_waiters)) {
                w.wake();
            }
        }
    }
}

/// Sends `batch` in `sendmmsg` calls of up to [`SEND_BATCH`], waiting while the socket's send
/// buffer is full. A datagram the kernel refuses (an unreachable destination) is dropped, as
/// UDP may, and counted in `nertc_udp_send_errors_total`.
async fn send_all(shared: &Shared, batch: &Outbox) {
    let mut next = 0;
    while next < batch.items.len() {
        let end = (next + SEND_BATCH).min(batch.items.len());
        let sent = shared.socket.try_io(tokio::io::Interest::WRITABLE, || send_mmsg(&shared.socket, batch, next, end));
        match sent {
            Ok(n) => {
                shared.metrics.udp_send_calls.fetch_add(1, Relaxed);
                shared.metrics.udp_sent.fetch_add(n as u64, Relaxed);
                next += n;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if shared.socket.writable().await.is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // sendmmsg reports an error only for the first datagram it tried.
                tracing::debug!(to = %batch.items[next].0, "media datagram not sent: {e}");
                shared.metrics.udp_send_errors.fetch_add(1, Relaxed);
                next += 1;
            }
        }
    }
}

/// One `sendmmsg` of `batch.items[from..to]`; the number of datagrams the kernel took (≥ 1).
fn send_mmsg(socket: &tokio::net::UdpSocket, batch: &Outbox, from: usize, to: usize) -> io::Result<usize> {
    let items = &batch.items[from..to];
    let mut iovs: [IoSlice<'_>; SEND_BATCH] = [IoSlice::new(&[]); SEND_BATCH];
    // SAFETY: sockaddr_storage is plain old data; all zeroes is a valid (unspecified) value.
    let mut names: [libc::sockaddr_storage; SEND_BATCH] = unsafe { std::mem::zeroed() };
    // SAFETY: mmsghdr is plain old data (integers and null pointers when zeroed).
    let mut msgs: [libc::mmsghdr; SEND_BATCH] = unsafe { std::mem::zeroed() };
    for (i, &(addr, start, len)) in items.iter().enumerate() {
        iovs[i] = IoSlice::new(&batch.bytes[start..start + len]);
        let name_len = write_sockaddr(addr, &mut names[i]);
        let hdr = &mut msgs[i].msg_hdr;
        hdr.msg_name = (&raw mut names[i]).cast();
        hdr.msg_namelen = name_len;
        // IoSlice is ABI-compatible with iovec on Unix (std guarantees it).
        hdr.msg_iov = (&raw mut iovs[i]).cast();
        hdr.msg_iovlen = 1;
    }
    // SAFETY: `msgs[..items.len()]` point at `names` and `iovs`, which live until the call
    // returns, and each iovec at a slice of `batch.bytes`, borrowed for as long; the kernel
    // writes only `msg_len` of each header.
    let n = unsafe { libc::sendmmsg(socket.as_raw_fd(), msgs.as_mut_ptr(), items.len() as libc::c_uint, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // n ≥ 1 when it did not fail: sendmmsg fails rather than send none.
    Ok((n as usize).max(1))
}

/// Writes `addr` as a `sockaddr_in`/`sockaddr_in6` into `out`; its length.
fn write_sockaddr(addr: SocketAddr, out: &mut libc::sockaddr_storage) -> libc::socklen_t {
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for every sockaddr type.
            unsafe { std::ptr::write((out as *mut libc::sockaddr_storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above.
            unsafe { std::ptr::write((out as *mut libc::sockaddr_storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

/// Reads the shared socket [`quinn_udp::BATCH_SIZE`] datagrams at a time.
pub struct Receiver {
    state: quinn_udp::UdpSocketState,
    bufs: Vec<Vec<u8>>,
    meta: Vec<quinn_udp::RecvMeta>,
}

impl Receiver {
    pub fn new(socket: &tokio::net::UdpSocket) -> io::Result<Receiver> {
        let state = quinn_udp::UdpSocketState::new(quinn_udp::UdpSockRef::from(socket))?;
        // One datagram per message: coalesced reads would need buffers of 64 KiB each.
        if state.gro_segments() > 1 {
            nix::sys::socket::setsockopt(socket, nix::sys::socket::sockopt::UdpGroSegment, &false).map_err(io::Error::from)?;
        }
        let n = quinn_udp::BATCH_SIZE;
        Ok(Receiver { state, bufs: vec![vec![0; MAX_DATAGRAM]; n], meta: vec![quinn_udp::RecvMeta::default(); n] })
    }

    /// Waits for datagrams and calls `each(from, datagram)` for every one read.
    pub async fn recv(&mut self, socket: &tokio::net::UdpSocket, mut each: impl FnMut(SocketAddr, &[u8])) -> io::Result<()> {
        let n = loop {
            socket.readable().await?;
            let Receiver { state, bufs, meta } = self;
            let read = socket.try_io(tokio::io::Interest::READABLE, || {
                let mut slices: Vec<IoSliceMut<'_>> = bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
                match state.recv(quinn_udp::UdpSockRef::from(socket), &mut slices, meta)? {
                    0 => Err(io::ErrorKind::WouldBlock.into()),
                    n => Ok(n),
                }
            });
            match read {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        };
        for (buf, m) in self.bufs.iter().zip(&self.meta).take(n) {
            each(m.addr, &buf[..m.len.min(buf.len())]);
        }
        Ok(())
    }
}
