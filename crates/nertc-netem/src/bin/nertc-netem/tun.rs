//! Opening a TUN device by hand: one `TUNSETIFF` ioctl on `/dev/net/tun`.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;

/// Creates TUN device `name` (layer 3, no packet-information header) in the calling thread's
/// network namespace and returns its queue: each `read` gives one IP packet, each `write` sends
/// one. The device goes away when the file is closed.
pub fn open(name: &str) -> io::Result<File> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.bytes().any(|b| b == 0 || b == b'/' || b.is_ascii_whitespace()) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("bad interface name {name:?}")));
    }
    let file = OpenOptions::new().read(true).write(true).open("/dev/net/tun").map_err(|e| with_context(e, "open /dev/net/tun"))?;
    // SAFETY: `ifreq` is plain data (byte arrays, integers, and a union of such and one raw
    // pointer), for which all-zero bytes are a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, &src) in req.ifr_name.iter_mut().zip(name.as_bytes()) {
        *dst = src as libc::c_char;
    }
    // The name is shorter than IFNAMSIZ (checked above), so ifr_name stays NUL-terminated.
    req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
    // SAFETY: the descriptor is open (owned by `file`, alive across the call), and TUNSETIFF
    // reads and writes exactly one `struct ifreq`, for which `req` is a live, aligned, exclusive
    // buffer.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut req as *mut libc::ifreq) };
    if rc < 0 {
        return Err(with_context(io::Error::last_os_error(), &format!("TUNSETIFF {name}")));
    }
    Ok(file)
}

pub fn with_context(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}
