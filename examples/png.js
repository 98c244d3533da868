'use strict';
// A minimal PNG writer for I420 frames (no dependencies): BT.601 YUV -> RGB, zlib, CRC-32.
const zlib = require('zlib');

const CRC_TABLE = new Int32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});

function crc32(buf) {
  let c = -1;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** Encodes an I420 frame `{width, height, y, u, v, strides?}` as a PNG Buffer. */
function i420ToPng(frame) {
  const { width: w, height: h } = frame;
  const sy = (frame.strides && frame.strides.y) || w;
  const sc = (frame.strides && frame.strides.u) || Math.ceil(w / 2);
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let row = 0; row < h; row++) {
    raw[row * (w * 3 + 1)] = 0; // filter: none
    for (let x = 0; x < w; x++) {
      const Y = frame.y[row * sy + x] - 16;
      const U = frame.u[(row >> 1) * sc + (x >> 1)] - 128;
      const V = frame.v[(row >> 1) * sc + (x >> 1)] - 128;
      const o = row * (w * 3 + 1) + 1 + x * 3;
      raw[o] = Math.max(0, Math.min(255, (298 * Y + 409 * V + 128) >> 8));
      raw[o + 1] = Math.max(0, Math.min(255, (298 * Y - 100 * U - 208 * V + 128) >> 8));
      raw[o + 2] = Math.max(0, Math.min(255, (298 * Y + 516 * U + 128) >> 8));
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

module.exports = { i420ToPng };
