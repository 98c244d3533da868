// nertc-e2ee.js: the sealed-frame formats of nertc's end-to-end media encryption, byte for byte
// those of the engine (crates/nertc-engine/src/crypto.rs, whose module doc explains them), for
// the web client's encoded transforms (nertc-e2ee-worker.js). ES module, no dependencies.
//
// - H.264 (an Annex-B access unit): parameter sets and delimiters (NAL types 7-12) stay whole;
//   each slice / SEI unit (types 1-6) becomes `header, escape(first byte, MAGIC, nonce,
//   ciphertext, tag), 0x80` (the header and first payload byte in the clear and authenticated,
//   `escape` being H.264's emulation prevention). Every unit is written after a 4-byte start code.
// - Opus: `FF 00, nonce, ciphertext, tag` (FF 00 authenticated), never a valid Opus packet.
//
// A receiver with a key drops what does not open with it (`OpenError.WRONG_KEY`, or
// `NOT_SEALED` when the sender does not encrypt).

import { Sm4Gcm } from './sm4gcm.js';

/** Marks a sealed H.264 NAL unit (after its clear first byte): `NERTCe2e`. */
const VIDEO_MAGIC = Uint8Array.from([0x4e, 0x45, 0x52, 0x54, 0x43, 0x65, 0x32, 0x65]);
/** Ends a sealed NAL unit: non-zero, so no unit ends in a zero byte. */
const VIDEO_TRAILER = 0x80;
/** Starts a sealed Opus packet: TOC code 3 with a frame count of 0. */
const AUDIO_MAGIC = Uint8Array.from([0xff, 0x00]);
const NONCE_LEN = Sm4Gcm.NONCE_LEN;
const TAG_LEN = Sm4Gcm.TAG_LEN;
/** NAL units through this type are sealed (slices, data partitions, IDR slices, SEI). */
const LAST_SEALED_NAL_TYPE = 6;

/** Why a received frame was dropped (the engine's `OpenError`). */
export const OpenError = Object.freeze({
  /** Encryption is on here and the frame is not sealed: the sender does not encrypt. */
  NOT_SEALED: 'not_sealed',
  /** The frame is sealed but does not open with our key: another key. */
  WRONG_KEY: 'wrong_key',
});

/** A fresh random nonce (WebCrypto's getRandomValues: no secure context needed). */
export function randomNonce() {
  return crypto.getRandomValues(new Uint8Array(NONCE_LEN));
}

/** The NAL units of an Annex-B byte stream: views without start codes and trailing zero bytes. */
export function nalUnits(au) {
  const out = [];
  const n = au.length;
  let start = -1;
  let i = 0;
  while (i + 2 < n) {
    if (au[i + 2] > 1) {
      i += 3;
    } else if (au[i] === 0 && au[i + 1] === 0 && au[i + 2] === 1) {
      if (start >= 0) pushNal(out, au, start, i);
      start = i + 3;
      i += 3;
    } else {
      i++;
    }
  }
  if (start >= 0) pushNal(out, au, start, n);
  return out;
}

function pushNal(out, au, start, end) {
  while (end > start && au[end - 1] === 0) end--;
  if (end > start) out.push(au.subarray(start, end));
}

/** H.264's emulation prevention: `03` before any byte <= 3 that follows two zeros. Writes at `out[at]`, returns the end. */
export function escapeInto(rbsp, out, at) {
  let zeros = 0;
  for (let i = 0; i < rbsp.length; i++) {
    const b = rbsp[i];
    if (zeros >= 2 && b <= 3) {
      out[at++] = 3;
      zeros = 0;
    }
    out[at++] = b;
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return at;
}

/** Undoes `escapeInto`. */
export function unescape(ebsp) {
  const out = new Uint8Array(ebsp.length);
  let n = 0;
  let zeros = 0;
  for (let i = 0; i < ebsp.length; i++) {
    const b = ebsp[i];
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    out[n++] = b;
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return out.subarray(0, n);
}

function isSealedType(nal) {
  const t = nal[0] & 0x1f;
  return nal.length >= 2 && t >= 1 && t <= LAST_SEALED_NAL_TYPE;
}

/** The media key of a call: seals what we send, opens what we receive. */
export class MediaCipher {
  /**
   * @param {Uint8Array} key the 16-byte SM4 key (`deriveMediaKey` in sm4gcm.js)
   * @param {() => Uint8Array} [nonces] where nonces come from (random; the unit test feeds known ones)
   */
  constructor(key, nonces = randomNonce) {
    this.gcm = new Sm4Gcm(key);
    this.nonces = nonces;
  }

  /** Seals an Opus packet. */
  sealAudio(packet) {
    const out = new Uint8Array(AUDIO_MAGIC.length + NONCE_LEN + packet.length + TAG_LEN);
    out.set(AUDIO_MAGIC, 0);
    const nonce = this.nonces();
    out.set(nonce, AUDIO_MAGIC.length);
    this.gcm.seal(nonce, AUDIO_MAGIC, packet, out, AUDIO_MAGIC.length + NONCE_LEN);
    return out;
  }

  /** Opens a sealed Opus packet: the packet, or an `OpenError`. */
  openAudio(packet) {
    if (packet.length < 2 || packet[0] !== AUDIO_MAGIC[0] || packet[1] !== AUDIO_MAGIC[1]) return OpenError.NOT_SEALED;
    const nonce = packet.subarray(2, 2 + NONCE_LEN);
    return this.gcm.open(nonce, AUDIO_MAGIC, packet.subarray(2 + NONCE_LEN)) ?? OpenError.WRONG_KEY;
  }

  /** Seals the slices and SEI units of an Annex-B access unit (4-byte start codes out). */
  sealVideo(au) {
    const nals = nalUnits(au);
    // Worst case: every unit escaped at one byte in two, plus start code, magic, nonce, tag, trailer.
    let cap = 0;
    for (const nal of nals) cap += 4 + nal.length + (nal.length >> 1) + 64;
    const out = new Uint8Array(cap);
    let at = 0;
    let body = null;
    for (const nal of nals) {
      out[at++] = 0; out[at++] = 0; out[at++] = 0; out[at++] = 1;
      if (!isSealedType(nal)) {
        out.set(nal, at);
        at += nal.length;
        continue;
      }
      // body = first byte, MAGIC, nonce, ciphertext, tag; the header and first byte are the AAD.
      const len = 1 + VIDEO_MAGIC.length + NONCE_LEN + (nal.length - 2) + TAG_LEN;
      if (!body || body.length < len) body = new Uint8Array(Math.max(len, 2 * (body?.length ?? 0)));
      body[0] = nal[1];
      body.set(VIDEO_MAGIC, 1);
      const nonce = this.nonces();
      body.set(nonce, 1 + VIDEO_MAGIC.length);
      this.gcm.seal(nonce, nal.subarray(0, 2), nal.subarray(2), body, 1 + VIDEO_MAGIC.length + NONCE_LEN);
      out[at++] = nal[0];
      at = escapeInto(body.subarray(0, len), out, at);
      out[at++] = VIDEO_TRAILER;
    }
    return out.subarray(0, at);
  }

  /** Opens every sealed unit of an access unit: the plain access unit, or an `OpenError` (any unit that does not open spoils it). */
  openVideo(au) {
    const nals = nalUnits(au);
    const opened = [];
    let len = 0;
    for (const nal of nals) {
      if (!isSealedType(nal)) {
        opened.push(nal);
        len += 4 + nal.length;
        continue;
      }
      if (nal[nal.length - 1] !== VIDEO_TRAILER) return OpenError.NOT_SEALED;
      const body = unescape(nal.subarray(1, nal.length - 1));
      if (body.length < 1 + VIDEO_MAGIC.length + NONCE_LEN + TAG_LEN) return OpenError.NOT_SEALED;
      for (let i = 0; i < VIDEO_MAGIC.length; i++) if (body[1 + i] !== VIDEO_MAGIC[i]) return OpenError.NOT_SEALED;
      const nonceAt = 1 + VIDEO_MAGIC.length;
      const plain = this.gcm.open(body.subarray(nonceAt, nonceAt + NONCE_LEN), Uint8Array.of(nal[0], body[0]), body.subarray(nonceAt + NONCE_LEN));
      if (!plain) return OpenError.WRONG_KEY;
      const unit = new Uint8Array(2 + plain.length);
      unit[0] = nal[0];
      unit[1] = body[0];
      unit.set(plain, 2);
      opened.push(unit);
      len += 4 + unit.length;
    }
    const out = new Uint8Array(len);
    let at = 0;
    for (const unit of opened) {
      out[at + 3] = 1;
      out.set(unit, at + 4);
      at += 4 + unit.length;
    }
    return out;
  }
}
