'use strict';
// A minimal WebSocket server side (RFC 6455) on node's http 'upgrade' event: enough for the
// test bridge (text + binary messages, fragmentation, ping/pong, close), no extensions, so the
// harness needs no npm package beyond the repository's own devDependencies.

const crypto = require('node:crypto');
const { EventEmitter } = require('node:events');

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MAX_MESSAGE = 16 * 1024 * 1024; // what a page may send us (it sends small JSON only)

const OP_CONT = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

/** The frame header for a server (unmasked) frame: 2, 4 or 10 bytes, written into `out`. */
function headerInto(out, opcode, len) {
  out[0] = 0x80 | opcode;
  if (len < 126) {
    out[1] = len;
    return 2;
  }
  if (len < 65536) {
    out[1] = 126;
    out.writeUInt16BE(len, 2);
    return 4;
  }
  out[1] = 127;
  out.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
  out.writeUInt32BE(len >>> 0, 6);
  return 10;
}

class Connection extends EventEmitter {
  constructor(socket, head, req) {
    super();
    this.socket = socket;
    this.req = req;
    this.open = true;
    this.buf = head && head.length ? Buffer.from(head) : Buffer.alloc(0);
    this.fragments = [];
    this.fragOpcode = 0;
    this.fragBytes = 0;
    socket.setNoDelay(true);
    socket.on('data', (d) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this._parse();
    });
    socket.on('close', () => this._closed());
    socket.on('error', () => this._closed());
    if (this.buf.length) setImmediate(() => this._parse());
  }

  /** Bytes queued in the socket and not yet handed to the kernel. */
  get bufferedAmount() {
    return this.socket.writableLength;
  }

  sendText(str) {
    if (!this.open) return false;
    const payload = Buffer.from(str, 'utf8');
    const h = Buffer.allocUnsafe(10);
    const n = headerInto(h, OP_TEXT, payload.length);
    this.socket.cork();
    this.socket.write(h.subarray(0, n));
    this.socket.write(payload);
    this.socket.uncork();
    return true;
  }

  /**
   * Sends `buf[reserve:]` as one binary message; `buf` has `reserve` (>= 10) free bytes in
   * front, where the frame header is written, so the whole frame goes out in one write without
   * a copy. `cb` runs when the socket is done with `buf` (it may then be reused).
   */
  sendBinaryReserved(buf, reserve, cb) {
    if (!this.open) return false;
    const len = buf.length - reserve;
    const h = Buffer.allocUnsafe(10);
    const n = headerInto(h, OP_BINARY, len);
    h.copy(buf, reserve - n, 0, n);
    this.socket.write(buf.subarray(reserve - n), cb);
    return true;
  }

  sendBinary(payload, cb) {
    if (!this.open) return false;
    const h = Buffer.allocUnsafe(10);
    const n = headerInto(h, OP_BINARY, payload.length);
    this.socket.cork();
    this.socket.write(h.subarray(0, n));
    this.socket.write(payload, cb);
    this.socket.uncork();
    return true;
  }

  close(code = 1000, reason = '') {
    if (!this.open) return;
    const r = Buffer.from(reason, 'utf8').subarray(0, 120);
    const payload = Buffer.allocUnsafe(2 + r.length);
    payload.writeUInt16BE(code, 0);
    r.copy(payload, 2);
    const h = Buffer.allocUnsafe(10);
    const n = headerInto(h, OP_CLOSE, payload.length);
    try {
      this.socket.end(Buffer.concat([h.subarray(0, n), payload]));
    } catch {
      // already gone
    }
    this._closed();
  }

  terminate() {
    this.socket.destroy();
    this._closed();
  }

  _closed() {
    if (!this.open) return;
    this.open = false;
    this.emit('close');
  }

  _control(opcode, payload) {
    const h = Buffer.allocUnsafe(10);
    const n = headerInto(h, opcode, payload.length);
    this.socket.write(Buffer.concat([h.subarray(0, n), payload]));
  }

  _fail(code, why) {
    this.emit('protocolError', new Error(why));
    this.close(code, why);
  }

  _parse() {
    while (this.open) {
      const b = this.buf;
      if (b.length < 2) return;
      const fin = (b[0] & 0x80) !== 0;
      const rsv = b[0] & 0x70;
      const opcode = b[0] & 0x0f;
      const masked = (b[1] & 0x80) !== 0;
      let len = b[1] & 0x7f;
      let off = 2;
      if (rsv) return this._fail(1002, 'reserved bits set');
      if (!masked) return this._fail(1002, 'client frames must be masked');
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        const hi = b.readUInt32BE(2);
        if (hi !== 0) return this._fail(1009, 'message too big');
        len = b.readUInt32BE(6);
        off = 10;
      }
      if (len > MAX_MESSAGE) return this._fail(1009, 'message too big');
      if (b.length < off + 4 + len) return;
      const mask = b.subarray(off, off + 4);
      const payload = Buffer.from(b.subarray(off + 4, off + 4 + len));
      for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
      this.buf = b.subarray(off + 4 + len);

      if (opcode >= 0x8) {
        if (!fin || len > 125) return this._fail(1002, 'bad control frame');
        if (opcode === OP_PING) this._control(OP_PONG, payload);
        else if (opcode === OP_CLOSE) {
          const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1000;
          this.close(code === 1005 || code === 1006 ? 1000 : code);
          return;
        } else if (opcode !== OP_PONG) return this._fail(1002, 'unknown control opcode');
        continue;
      }
      if (opcode === OP_CONT) {
        if (!this.fragOpcode) return this._fail(1002, 'unexpected continuation');
      } else if (opcode === OP_TEXT || opcode === OP_BINARY) {
        if (this.fragOpcode) return this._fail(1002, 'expected continuation');
        this.fragOpcode = opcode;
      } else {
        return this._fail(1002, 'unknown opcode');
      }
      this.fragments.push(payload);
      this.fragBytes += payload.length;
      if (this.fragBytes > MAX_MESSAGE) return this._fail(1009, 'message too big');
      if (!fin) continue;
      const data = this.fragments.length === 1 ? this.fragments[0] : Buffer.concat(this.fragments);
      const isText = this.fragOpcode === OP_TEXT;
      this.fragments = [];
      this.fragBytes = 0;
      this.fragOpcode = 0;
      this.emit('message', isText ? data.toString('utf8') : data, !isText);
    }
  }
}

/**
 * Accepts WebSocket upgrades on `server` for requests whose path is `path`; calls
 * `onConnection(conn, req)` with a Connection: events 'message' (data, isBinary), 'close'.
 */
function acceptWebSockets(server, path, onConnection) {
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url, 'http://localhost');
    const key = req.headers['sec-websocket-key'];
    const upgrade = String(req.headers.upgrade || '').toLowerCase();
    if (url.pathname !== path || upgrade !== 'websocket' || typeof key !== 'string' || req.headers['sec-websocket-version'] !== '13') {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      return;
    }
    const accept = crypto.createHash('sha1').update(key + GUID).digest('base64');
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    onConnection(new Connection(socket, head, req), req);
  });
}

module.exports = { acceptWebSockets, Connection, headerInto };
