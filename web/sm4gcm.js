// sm4gcm.js: SM4 (GB/T 32907-2016) in Galois/counter mode (RFC 8998's SM4-GCM: 96-bit nonce,
// 128-bit tag), and the media key derivation of nertc's end-to-end encryption
// (crates/nertc-engine/src/crypto.rs). ES module, no dependencies; runs in a page, a worker and
// Node (the unit test, __test__/webcrypt.spec.mjs).
//
// WebCrypto has no SM4, so the block cipher and GHASH are written here: SM4 with four 256-entry
// round tables (the S-box and the linear transform L folded together), GHASH with 4-bit tables
// (16 multiples of H and the 16 reduction constants). Both work on 32-bit words; a block costs
// no allocation. HKDF-SHA256 does come from WebCrypto (`deriveMediaKey`, async; a secure
// context in a browser: https, or http on localhost / 127.0.0.1).
//
//   const gcm = new Sm4Gcm(await deriveMediaKey('the key string'));
//   const sealed = gcm.seal(nonce, aad, plain);      // ciphertext, then the 16-byte tag
//   const plain2 = gcm.open(nonce, aad, sealed);     // null when it does not authenticate

/** The S-box of GB/T 32907-2016 §6.2 (row by row, 16 bytes a row). */
const SBOX = Uint8Array.from(
  ('d690e9fecce13db716b614c228fb2c052b679a762abe04c3aa44132649860699' +
    '9c4250f491ef987a33540b43edcfac62e4b31ca9c908e89580df94fa758f3fa6' +
    '4707a7fcf37317ba83593c19e6854fa8686b81b27164da8bf8eb0f4b70569d35' +
    '1e240e5e6358d1a225227c3b01217887d40046579fd327524c3602e7a0c4c89e' +
    'eabf8ad240c738b5a3f7f2cef96115a1e0ae5da49b341a55ad933230f58cb1e3' +
    '1df6e22e8266ca60c02923ab0d534e6fd5db3745defd8e2f03ff6a726d6c5b51' +
    '8d1baf92bbddbc7f11d95c411f105ad80ac13188a5cd7bbd2d74d012b8e5b4b0' +
    '8969974a0c96777e65b9f109c56ec68418f07dec3adc4d2079ee5f3ed7cb3948').match(/../g),
  (h) => parseInt(h, 16),
);

/** The system parameter FK of the key schedule (§7.3). */
const FK = [0xa3b1bac6, 0x56aa3350, 0x677d9197, 0xb27022dc];

const rotl = (x, n) => (x << n) | (x >>> (32 - n));

/** τ: the S-box on each byte of a word. */
function tau(x) {
  return (SBOX[x >>> 24] << 24) | (SBOX[(x >>> 16) & 0xff] << 16) | (SBOX[(x >>> 8) & 0xff] << 8) | SBOX[x & 0xff];
}

/** The round function's T = L∘τ as four byte-indexed tables (L is linear, so T(x) = ⊕ Tn[byte n]). */
const T0 = new Int32Array(256);
const T1 = new Int32Array(256);
const T2 = new Int32Array(256);
const T3 = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  const b = SBOX[i] << 24;
  const l = b ^ rotl(b, 2) ^ rotl(b, 10) ^ rotl(b, 18) ^ rotl(b, 24);
  T0[i] = l;
  T1[i] = rotl(l, 24); // the same with the byte 8 bits lower
  T2[i] = rotl(l, 16);
  T3[i] = rotl(l, 8);
}

/** The 32 round keys of a 16-byte key (§7.3). */
function expandKey(key) {
  if (!(key instanceof Uint8Array) || key.length !== 16) throw new TypeError('SM4 takes a 16-byte key');
  const k = new Int32Array(36);
  for (let i = 0; i < 4; i++) k[i] = readWord(key, 4 * i) ^ FK[i];
  const rk = new Int32Array(32);
  for (let i = 0; i < 32; i++) {
    // CK_i: bytes (4i + j) * 7 mod 256, j = 0..3.
    let ck = 0;
    for (let j = 0; j < 4; j++) ck = (ck << 8) | (((4 * i + j) * 7) & 0xff);
    const t = tau(k[i + 1] ^ k[i + 2] ^ k[i + 3] ^ ck);
    k[i + 4] = k[i] ^ t ^ rotl(t, 13) ^ rotl(t, 23);
    rk[i] = k[i + 4];
  }
  return rk;
}

function readWord(b, at) {
  return (b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3];
}

function writeWord(b, at, w) {
  b[at] = w >>> 24;
  b[at + 1] = w >>> 16;
  b[at + 2] = w >>> 8;
  b[at + 3] = w;
}

/** Encrypts the block in `x` (four words) in place with round keys `rk`. */
function encryptWords(rk, x) {
  let x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
  for (let i = 0; i < 32; i += 4) {
    let t = x1 ^ x2 ^ x3 ^ rk[i];
    x0 ^= T0[t >>> 24] ^ T1[(t >>> 16) & 0xff] ^ T2[(t >>> 8) & 0xff] ^ T3[t & 0xff];
    t = x2 ^ x3 ^ x0 ^ rk[i + 1];
    x1 ^= T0[t >>> 24] ^ T1[(t >>> 16) & 0xff] ^ T2[(t >>> 8) & 0xff] ^ T3[t & 0xff];
    t = x3 ^ x0 ^ x1 ^ rk[i + 2];
    x2 ^= T0[t >>> 24] ^ T1[(t >>> 16) & 0xff] ^ T2[(t >>> 8) & 0xff] ^ T3[t & 0xff];
    t = x0 ^ x1 ^ x2 ^ rk[i + 3];
    x3 ^= T0[t >>> 24] ^ T1[(t >>> 16) & 0xff] ^ T2[(t >>> 8) & 0xff] ^ T3[t & 0xff];
  }
  // The reverse transform R: the last four words in reverse order.
  x[0] = x3;
  x[1] = x2;
  x[2] = x1;
  x[3] = x0;
}

/** SM4 of one 16-byte block (the raw cipher; GCM below is what the media uses). */
export function sm4EncryptBlock(key, block) {
  const rk = expandKey(key);
  const x = new Int32Array(4);
  for (let i = 0; i < 4; i++) x[i] = readWord(block, 4 * i);
  encryptWords(rk, x);
  const out = new Uint8Array(16);
  for (let i = 0; i < 4; i++) writeWord(out, 4 * i, x[i]);
  return out;
}

/**
 * GHASH's reduction constants for 4 bits shifted out (x^128 = x^7 + x^2 + x + 1, reflected:
 * 0xE1 followed by zeros), in the top 16 bits of the top word.
 */
const REM4 = new Int32Array(16);
for (let i = 0; i < 16; i++) {
  let r = 0;
  for (let b = 0; b < 4; b++) if (i & (1 << b)) r ^= 0xe100 >>> (3 - b);
  REM4[i] = r << 16;
}

const TAG_LEN = 16;
const NONCE_LEN = 12;

/** SM4-GCM with one key: 96-bit nonces, 128-bit tags, any AAD. */
export class Sm4Gcm {
  /** @param {Uint8Array} key 16 bytes */
  constructor(key) {
    this.rk = expandKey(key);
    this.x = new Int32Array(4); // scratch block
    // H = E(0^128), and its 16 multiples by 4-bit polynomials (index bit 3 = x^0).
    this.x.fill(0);
    encryptWords(this.rk, this.x);
    const h = new Int32Array(64); // entry i at words 4i..4i+3 (big-endian word order)
    h.set(this.x, 4 * 8);
    for (let i = 4; i > 0; i >>= 1) {
      // h[i] = h[2i] · x: one bit right, reduced.
      const s = 4 * 2 * i, d = 4 * i;
      const carry = h[s + 3] & 1;
      h[d + 3] = (h[s + 3] >>> 1) | (h[s + 2] << 31);
      h[d + 2] = (h[s + 2] >>> 1) | (h[s + 1] << 31);
      h[d + 1] = (h[s + 1] >>> 1) | (h[s] << 31);
      h[d] = (h[s] >>> 1) ^ (carry ? 0xe1000000 : 0);
    }
    for (let i = 2; i < 16; i <<= 1) {
      for (let j = 1; j < i; j++) for (let w = 0; w < 4; w++) h[4 * (i + j) + w] = h[4 * i + w] ^ h[4 * j + w];
    }
    this.h = h;
    this.y = new Int32Array(4); // the GHASH accumulator
  }

  /** y = (y ⊕ block) · H, the block being 16 bytes of `b` from `at` (zero-padded past `end`). */
  _ghashBlock(b, at, end) {
    const y = this.y;
    if (at + 16 <= end) {
      for (let i = 0; i < 4; i++) y[i] ^= readWord(b, at + 4 * i);
    } else {
      for (let i = at; i < end; i++) y[(i - at) >> 2] ^= b[i] << (24 - 8 * ((i - at) & 3));
    }
    this._mulH();
  }

  /** y = y · H (Shoup's method, a nibble at a time from the last byte). */
  _mulH() {
    const y = this.y, h = this.h;
    let z0 = 0, z1 = 0, z2 = 0, z3 = 0;
    for (let byte = 15; byte >= 0; byte--) {
      const v = (y[byte >> 2] >>> (24 - 8 * (byte & 3))) & 0xff;
      for (let half = 0; half < 2; half++) {
        const n = half === 0 ? v & 0xf : v >>> 4;
        if (byte !== 15 || half !== 0) {
          const rem = z3 & 0xf;
          z3 = (z3 >>> 4) | (z2 << 28);
          z2 = (z2 >>> 4) | (z1 << 28);
          z1 = (z1 >>> 4) | (z0 << 28);
          z0 = (z0 >>> 4) ^ REM4[rem];
        }
        const e = 4 * n;
        z0 ^= h[e];
        z1 ^= h[e + 1];
        z2 ^= h[e + 2];
        z3 ^= h[e + 3];
      }
    }
    y[0] = z0;
    y[1] = z1;
    y[2] = z2;
    y[3] = z3;
  }

  /** GHASH over `aad` and `ct` (then their bit lengths) into this.y. */
  _ghash(aad, ct) {
    this.y.fill(0);
    for (let i = 0; i < aad.length; i += 16) this._ghashBlock(aad, i, aad.length);
    for (let i = 0; i < ct.length; i += 16) this._ghashBlock(ct, i, ct.length);
    // The lengths in bits as two 64-bit big-endian numbers.
    const y = this.y;
    y[0] ^= Math.floor(aad.length / 0x20000000);
    y[1] ^= aad.length << 3;
    y[2] ^= Math.floor(ct.length / 0x20000000);
    y[3] ^= ct.length << 3;
    this._mulH();
  }

  /** `out` = `src` ⊕ the key stream from counter block 2 (counter 1 is the tag's). */
  _ctr(n0, n1, n2, src, out) {
    const x = this.x;
    for (let at = 0, ctr = 2; at < src.length; at += 16, ctr++) {
      x[0] = n0;
      x[1] = n1;
      x[2] = n2;
      x[3] = ctr;
      encryptWords(this.rk, x);
      const end = Math.min(at + 16, src.length);
      for (let i = at; i < end; i++) out[i] = src[i] ^ (x[(i - at) >> 2] >>> (24 - 8 * ((i - at) & 3)));
    }
  }

  /** The tag of the GHASH in this.y: y ⊕ E(nonce ‖ 1), written at out[at..at + 16]. */
  _tag(n0, n1, n2, out, at) {
    const x = this.x;
    x[0] = n0;
    x[1] = n1;
    x[2] = n2;
    x[3] = 1;
    encryptWords(this.rk, x);
    for (let i = 0; i < 4; i++) writeWord(out, at + 4 * i, x[i] ^ this.y[i]);
  }

  /**
   * `ciphertext ‖ tag` of `plain`, authenticating `aad` with it.
   * @param {Uint8Array} nonce 12 bytes, never used twice with one key
   * @param {Uint8Array} aad
   * @param {Uint8Array} plain
   * @param {Uint8Array} [out] where to write (plain.length + 16 bytes from `at`); a new array if left out
   * @param {number} [at=0]
   */
  seal(nonce, aad, plain, out, at = 0) {
    if (nonce.length !== NONCE_LEN) throw new TypeError('SM4-GCM takes a 12-byte nonce');
    out ??= new Uint8Array(plain.length + TAG_LEN);
    const ct = out.subarray(at, at + plain.length);
    const n0 = readWord(nonce, 0), n1 = readWord(nonce, 4), n2 = readWord(nonce, 8);
    this._ctr(n0, n1, n2, plain, ct);
    this._ghash(aad, ct);
    this._tag(n0, n1, n2, out, at + plain.length);
    return out;
  }

  /** The plaintext of `ciphertext ‖ tag`, or null when the tag does not match (another key, altered bytes). */
  open(nonce, aad, sealed) {
    if (nonce.length !== NONCE_LEN || sealed.length < TAG_LEN) return null;
    const ct = sealed.subarray(0, sealed.length - TAG_LEN);
    const n0 = readWord(nonce, 0), n1 = readWord(nonce, 4), n2 = readWord(nonce, 8);
    this._ghash(aad, ct);
    const tag = new Uint8Array(TAG_LEN);
    this._tag(n0, n1, n2, tag, 0);
    let diff = 0;
    for (let i = 0; i < TAG_LEN; i++) diff |= tag[i] ^ sealed[ct.length + i];
    if (diff !== 0) return null;
    const plain = new Uint8Array(ct.length);
    this._ctr(n0, n1, n2, ct, plain);
    return plain;
  }
}

Sm4Gcm.NONCE_LEN = NONCE_LEN;
Sm4Gcm.TAG_LEN = TAG_LEN;

const HKDF_SALT = 'nertc media encryption v1';
const HKDF_INFO = 'sm4-gcm key';

/**
 * The 16-byte SM4 key of a key string, as the engine derives it: HKDF-SHA256 with salt
 * `nertc media encryption v1` and info `sm4-gcm key` over the string's UTF-8 bytes.
 * @param {string} key non-empty
 * @returns {Promise<Uint8Array>}
 */
export async function deriveMediaKey(key) {
  if (typeof key !== 'string' || key === '') throw new TypeError('the encryption key is a non-empty string');
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw new Error('WebCrypto is not available (a browser gives it to secure contexts only: https or localhost)');
  const enc = new TextEncoder();
  const ikm = await subtle.importKey('raw', enc.encode(key), 'HKDF', false, ['deriveBits']);
  const bits = await subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: enc.encode(HKDF_SALT), info: enc.encode(HKDF_INFO) }, ikm, 128);
  return new Uint8Array(bits);
}
