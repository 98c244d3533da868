//! `sendSEIMsg` data carried in the H.264 stream (ITU-T H.264 §7.3.2.3 and Annex D): one SEI
//! NAL unit (type 6) holding one `user_data_unregistered` message (payload type 5): our
//! 16-byte UUID, then the application's bytes. [`nal`] builds it (Annex B start code,
//! emulation prevention); [`messages`] finds ours in a received access unit.

/// Identifies our `user_data_unregistered` messages (other encoders write their own, e.g. an
/// encoder's version string, which are not the application's).
pub const UUID: [u8; 16] = [0x6e, 0x65, 0x72, 0x74, 0x63, 0x2d, 0x73, 0x65, 0x69, 0x9b, 0x3f, 0x1c, 0x5a, 0xd2, 0x47, 0x81];

/// Largest application payload (NERTC: 4096 bytes).
pub const MAX_DATA: usize = 4096;

const NAL_SEI: u8 = 6;
const USER_DATA_UNREGISTERED: u32 = 5;

/// An SEI NAL unit with `data`, start code included, to put before the picture's slices.
pub fn nal(data: &[u8]) -> Vec<u8> {
    let mut rbsp = Vec::with_capacity(data.len() + 24);
    put_ff_coded(&mut rbsp, USER_DATA_UNREGISTERED);
    put_ff_coded(&mut rbsp, (UUID.len() + data.len()) as u32);
    rbsp.extend_from_slice(&UUID);
    rbsp.extend_from_slice(data);
    rbsp.push(0x80); // rbsp_trailing_bits
    let mut out = vec![0, 0, 0, 1, NAL_SEI];
    escape(&rbsp, &mut out);
    out
}

/// Payload type and size: 0xff for each full 255, then the rest.
fn put_ff_coded(out: &mut Vec<u8>, mut v: u32) {
    while v >= 255 {
        out.push(0xff);
        v -= 255;
    }
    out.push(v as u8);
}

/// Emulation prevention: a 0x03 after two zeros when the next byte is 0..=3.
fn escape(rbsp: &[u8], out: &mut Vec<u8>) {
    let mut zeros = 0;
    for &b in rbsp {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        out.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
}

fn unescape(ebsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ebsp.len());
    let mut zeros = 0;
    for &b in ebsp {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        out.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
    out
}

/// The NAL units of an Annex B byte stream (without start codes).
fn nal_units(au: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= au.len() {
        if au[i] == 0 && au[i + 1] == 0 && au[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let ends: Vec<usize> = starts.iter().skip(1).map(|s| s - 3).chain(std::iter::once(au.len())).collect();
    starts.into_iter().zip(ends).map(move |(s, e)| {
        // A four-byte start code leaves one zero at the end of the previous unit.
        let mut e = e;
        while e > s && au[e - 1] == 0 {
            e -= 1;
        }
        &au[s..e]
    })
}

/// Our `user_data_unregistered` payloads in an access unit (Annex B), in order. Malformed SEI
/// units are skipped.
pub fn messages(au: &[u8]) -> Vec<Vec<u8>> {
    let mut found = Vec::new();
    for unit in nal_units(au) {
        if unit.first().map(|h| h & 0x1f) != Some(NAL_SEI) {
            continue;
        }
        let rbsp = unescape(&unit[1..]);
        let mut p = &rbsp[..];
        // sei_message()s until the trailing bits.
        while !p.is_empty() && p[0] != 0x80 {
            let Some((kind, rest)) = ff_coded(p) else { break };
            let Some((size, rest)) = ff_coded(rest) else { break };
            let size = size as usize;
            if rest.len() < size {
                break;
            }
            let (payload, rest) = rest.split_at(size);
            if kind == USER_DATA_UNREGISTERED && payload.len() >= UUID.len() && payload[..UUID.len()] == UUID {
                found.push(payload[UUID.len()..].to_vec());
            }
            p = rest;
        }
    }
    found
}

fn ff_coded(p: &[u8]) -> Option<(u32, &[u8])> {
    let mut v = 0u32;
    for (i, &b) in p.iter().enumerate() {
        v = v.checked_add(u32::from(b))?;
        if b != 0xff {
            return Some((v, &p[i + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IDR slice NAL unit as an encoder writes it (content irrelevant here).
    const SLICE: &[u8] = &[0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x33, 0xff];

    #[test]
    fn round_trip_with_bytes_that_need_escaping() {
        for data in [b"hello".to_vec(), vec![0, 0, 0, 0, 1, 0, 0, 3, 0, 0], vec![0xff; 300], (0..=255u8).cycle().take(MAX_DATA).collect()] {
            let n = nal(&data);
            assert!(!n[4..].windows(3).any(|w| w == [0, 0, 1] || w == [0, 0, 0]), "no start code inside the unit");
            let mut au = n.clone();
            au.extend_from_slice(SLICE);
            assert_eq!(messages(&au), vec![data.clone()]);
        }
    }

    #[test]
    fn several_messages_and_foreign_ones() {
        let mut au = nal(b"one");
        au.extend(nal(b"two"));
        // Someone else's user_data_unregistered (another UUID) is not ours.
        let mut foreign = vec![0, 0, 1, 6, 5, 20];
        foreign.extend([7u8; 16]);
        foreign.extend(b"x264");
        foreign.push(0x80);
        au.extend(foreign);
        au.extend_from_slice(SLICE);
        assert_eq!(messages(&au), vec![b"one".to_vec(), b"two".to_vec()]);
        assert!(messages(SLICE).is_empty());
    }

    #[test]
    fn malformed_units_are_skipped() {
        // Size beyond the unit, a truncated ff-coded size, an empty SEI.
        for bad in [&[0u8, 0, 1, 6, 5, 200, 1, 2, 3][..], &[0, 0, 1, 6, 5, 0xff, 0xff], &[0, 0, 1, 6], &[0, 0, 1]] {
            assert!(messages(bad).is_empty(), "{bad:?}");
        }
        assert_eq!(ff_coded(&[0xff, 0xff, 4]).map(|(v, _)| v), Some(514));
    }
}
