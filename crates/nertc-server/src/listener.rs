//! The TCP side of the server, under axum: a listener that caps connections per IP address, a
//! stream that closes connections which never complete a WebSocket upgrade, and a lingering
//! close for every connection.
//!
//! - **Per-IP cap** ([`Connections::max_per_ip`]): a connection beyond it is answered `503` (if
//!   the socket takes the bytes at once) and closed before HTTP sees it.
//! - **Handshake timeout** ([`Connections::handshake_timeout_ms`]): until the WebSocket handler
//!   marks the connection upgraded, reads fail once the deadline passes, so hyper drops a
//!   connection that sent nothing, a partial request, or only plain HTTP requests.
//! - **Lingering close**: a dropped connection is not closed outright. Its write side is shut
//!   (FIN, after whatever was written, such as a WebSocket close frame) and what the peer still
//!   sends is read and discarded until it closes or [`CLOSE_DRAIN`] passes. Closing a socket
//!   with unread data makes the kernel send a reset, and a reset can destroy data the peer has
//!   not read yet: a client that sent a 10 MB frame or a burst of pings would see "connection
//!   reset" instead of the close code explaining why.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::config::Connections;
use crate::metrics::Metrics;

/// Longest a closed connection is drained (see the module doc).
pub const CLOSE_DRAIN: Duration = Duration::from_secs(2);

const REFUSED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 38\r\nconnection: close\r\n\r\ntoo many connections from this address";

/// Open connections per IP address. A std mutex around a small map: held for an insert or a
/// decrement, never across an await.
#[derive(Debug, Default)]
struct PerIp(Mutex<HashMap<IpAddr, usize>>);

impl PerIp {
    /// Takes a slot for `ip`, or None when it has `max` already.
    fn take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<Slot> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot { map: self.clone(), ip })
    }
}

/// One counted connection; dropping it frees the slot.
#[derive(Debug)]
struct Slot {
    map: Arc<PerIp>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.map.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// What the HTTP handlers learn about their connection (axum `ConnectInfo`).
#[derive(Debug, Clone)]
pub struct ConnMeta {
    pub remote: SocketAddr,
    upgraded: Arc<AtomicBool>,
}

impl ConnMeta {
    /// The connection became a WebSocket: the handshake timeout no longer applies.
    pub fn mark_upgraded(&self) {
        tracing::debug!(remote = %self.remote, "websocket upgraded");
        self.upgraded.store(true, Relaxed);
    }
}

impl Connected<IncomingStream<'_, GuardedListener>> for ConnMeta {
    fn connect_info(stream: IncomingStream<'_, GuardedListener>) -> Self {
        ConnMeta { remote: *stream.remote_addr(), upgraded: stream.io().upgraded.clone() }
    }
}

/// A TCP listener applying [`Connections`].
#[derive(Debug)]
pub struct GuardedListener {
    inner: TcpListener,
    limits: Connections,
    per_ip: Arc<PerIp>,
    metrics: Arc<Metrics>,
}

impl GuardedListener {
    pub fn new(inner: TcpListener, limits: Connections, metrics: Arc<Metrics>) -> Self {
        GuardedListener { inner, limits, per_ip: Arc::default(), metrics }
    }
}

impl Listener for GuardedListener {
    type Io = GuardedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, remote) = match self.inner.accept().await {
                Ok(s) => s,
                Err(e) => {
                    // Out of descriptors, or a connection reset while queued: wait a little so
                    // a persistent error does not spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Some(slot) = self.per_ip.take(remote.ip(), self.limits.max_per_ip) else {
                self.metrics.connections_refused.fetch_add(1, Relaxed);
                tracing::warn!(%remote, max = self.limits.max_per_ip, "connection refused: too many connections from this address");
                let _ = stream.try_write(REFUSED);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let deadline = Box::pin(tokio::time::sleep(self.limits.handshake_timeout()));
            let io = GuardedStream {
                tcp: Some(stream),
                slot: Some(slot),
                remote,
                upgraded: Arc::default(),
                deadline: Some(deadline),
                timed_out: false,
                metrics: self.metrics.clone(),
            };
            return (io, remote);
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// An accepted connection (see the module doc).
#[derive(Debug)]
pub struct GuardedStream {
    /// Always Some until dropped.
    tcp: Option<TcpStream>,
    slot: Option<Slot>,
    remote: SocketAddr,
    upgraded: Arc<AtomicBool>,
    /// The handshake deadline; None once upgraded.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    timed_out: bool,
    metrics: Arc<Metrics>,
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "connection already closed")
}

impl AsyncRead for GuardedStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.timed_out {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "handshake timeout")));
        }
        if this.upgraded.load(Relaxed) {
            this.deadline = None;
        } else if let Some(deadline) = this.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            // Every later read fails too: hyper drops the connection on this error.
            this.timed_out = true;
            this.metrics.handshake_timeouts.fetch_add(1, Relaxed);
            tracing::info!(remote = %this.remote, "connection closed: no WebSocket upgrade within the handshake timeout");
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "handshake timeout")));
        }
        match this.tcp.as_mut() {
            Some(t) => Pin::new(t).poll_read(cx, buf),
            None => Poll::Ready(Err(gone())),
        }
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        match self.tcp.as_mut() {
            Some(t) => Pin::new(t).poll_write(cx, data),
            None => Poll::Ready(Err(gone())),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.tcp.as_mut() {
            Some(t) => Pin::new(t).poll_flush(cx),
            None => Poll::Ready(Err(gone())),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.tcp.as_mut() {
            Some(t) => Pin::new(t).poll_shutdown(cx),
            None => Poll::Ready(Err(gone())),
        }
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        match self.tcp.as_mut() {
            Some(t) => Pin::new(t).poll_write_vectored(cx, bufs),
            None => Poll::Ready(Err(gone())),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.as_ref().is_some_and(|t| t.is_write_vectored())
    }
}

impl Drop for GuardedStream {
    fn drop(&mut self) {
        let (Some(tcp), slot) = (self.tcp.take(), self.slot.take()) else { return };
        // Dropped outside a runtime (only at process exit): close outright.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(linger(tcp, slot));
        }
    }
}

/// Shuts the write side and discards what arrives until the peer closes or [`CLOSE_DRAIN`];
/// the connection keeps its per-IP slot meanwhile.
async fn linger(mut tcp: TcpStream, slot: Option<Slot>) {
    let _ = tcp.shutdown().await;
    let mut buf = vec![0u8; 16 * 1024];
    let drain = async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    let _ = tokio::time::timeout(CLOSE_DRAIN, drain).await;
    drop(slot);
}
