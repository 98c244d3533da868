// stamp.mjs: a machine-readable time stamp drawn into video pixels, for glass-to-glass latency.
// Pure functions (no DOM), usable from a page and from Node.
//
// The stamp is a grid of STAMP_COLS x STAMP_ROWS square cells in the top-left corner of the
// picture, one bit per cell, row-major, most significant bit first. A 1 is a white cell, a 0 a
// black one. 80 bits = 10 bytes:
//   byte 0      sync 0xA5
//   bytes 1-2   frame number (low 16 bits)
//   bytes 3-8   draw time in units of 10 µs since the Unix epoch (48 bits, fine until 2059),
//               i.e. round((performance.timeOrigin + performance.now()) * 100)
//   byte 9      CRC-8 (polynomial 0x07, init 0) over bytes 0-8
// The cell side is a multiple of 8 pixels (so cells sit on the H.264 4x4/8x8 transform grid) of
// about 1/30 of the picture's smaller side: 16 px at 640x480, 24 px at 1280x720. A reader averages
// the middle half of each cell and thresholds at mid-grey, so blurring at cell edges and coarse
// quantisation at low bitrates do not flip bits; the CRC rejects what is left.

export const STAMP_COLS = 10;
export const STAMP_ROWS = 8;
export const STAMP_BITS = STAMP_COLS * STAMP_ROWS;
const SYNC = 0xa5;
const TIME_UNITS_PER_MS = 100;

/** Side of one cell in pixels for a picture of w x h. */
export function stampCell(w, h) {
  return Math.max(8, Math.min(32, Math.floor(Math.min(w, h) / 30 / 8) * 8));
}

/** {cell, width, height} of the stamp area for a picture of w x h. */
export function stampLayout(w, h) {
  const cell = stampCell(w, h);
  return { cell, width: cell * STAMP_COLS, height: cell * STAMP_ROWS };
}

export function crc8(bytes, n = bytes.length) {
  let crc = 0;
  for (let i = 0; i < n; i++) {
    crc ^= bytes[i];
    for (let b = 0; b < 8; b++) crc = crc & 0x80 ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
  }
  return crc;
}

/** The 80 bits (array of 0/1) for frame `frameNo` drawn at `timeMs` (epoch ms, fractional). */
export function encodeStamp(frameNo, timeMs) {
  const bytes = new Uint8Array(10);
  bytes[0] = SYNC;
  bytes[1] = (frameNo >>> 8) & 0xff;
  bytes[2] = frameNo & 0xff;
  let t = Math.round(timeMs * TIME_UNITS_PER_MS); // < 2^53, exact in a double
  for (let i = 8; i >= 3; i--) {
    bytes[i] = t % 256;
    t = Math.floor(t / 256);
  }
  bytes[9] = crc8(bytes, 9);
  const bits = new Array(STAMP_BITS);
  for (let i = 0; i < STAMP_BITS; i++) bits[i] = (bytes[i >> 3] >> (7 - (i & 7))) & 1;
  return bits;
}

/**
 * Decodes the stamp from per-cell mean luma values (0..255, row-major, STAMP_BITS of them).
 * Returns {frameNo, timeMs, margin} or null when the sync byte or the CRC do not match.
 * `margin` is the smallest distance of a cell from the threshold (a quality indicator).
 */
export function decodeStamp(cellLuma, threshold = 128) {
  const bytes = new Uint8Array(10);
  let margin = 255;
  for (let i = 0; i < STAMP_BITS; i++) {
    const v = cellLuma[i];
    const bit = v >= threshold ? 1 : 0;
    margin = Math.min(margin, Math.abs(v - threshold));
    bytes[i >> 3] |= bit << (7 - (i & 7));
  }
  if (bytes[0] !== SYNC || crc8(bytes, 9) !== bytes[9]) return null;
  let t = 0;
  for (let i = 3; i <= 8; i++) t = t * 256 + bytes[i];
  return { frameNo: (bytes[1] << 8) | bytes[2], timeMs: t / TIME_UNITS_PER_MS, margin };
}

/**
 * Mean luma of each cell's middle half. `lumaAt(x, y)` reads a luma value (0..255) at picture
 * coordinates of a picture of the publisher's size scaled by (sx, sy); it is called on a sparse
 * grid (every other pixel) to keep reading cheap.
 */
export function sampleCells(cell, sx, sy, lumaAt) {
  const out = new Array(STAMP_BITS);
  const q = cell / 4;
  for (let r = 0; r < STAMP_ROWS; r++) {
    for (let c = 0; c < STAMP_COLS; c++) {
      const x0 = Math.round((c * cell + q) * sx);
      const x1 = Math.max(x0 + 1, Math.round((c * cell + 3 * q) * sx));
      const y0 = Math.round((r * cell + q) * sy);
      const y1 = Math.max(y0 + 1, Math.round((r * cell + 3 * q) * sy));
      let sum = 0;
      let n = 0;
      for (let y = y0; y < y1; y += 2) {
        for (let x = x0; x < x1; x += 2) {
          sum += lumaAt(x, y);
          n++;
        }
      }
      out[r * STAMP_COLS + c] = sum / n;
    }
  }
  return out;
}
