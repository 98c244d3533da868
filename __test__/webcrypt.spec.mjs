// The web client's end-to-end encryption without a browser: SM4 and SM4-GCM against published
// vectors (GB/T 32907-2016, RFC 8998), and the sealed frame formats against frames the engine
// sealed (__test__/fixtures/e2ee-vectors.json, written and checked by crypto.rs's
// `web_client_vectors` test): the web client opens them, and seals identically given the
// engine's nonces. The browser end to end: browser-engine.spec.mjs.
import fs from 'node:fs';
import test from 'ava';
import { sm4EncryptBlock, Sm4Gcm, deriveMediaKey } from '../web/sm4gcm.js';
import { MediaCipher, OpenError, nalUnits, unescape } from '../web/nertc-e2ee.js';

const hex = (b) => Buffer.from(b).toString('hex');
const unhex = (h) => Uint8Array.from(Buffer.from(h.replace(/\s+/g, ''), 'hex'));
const vectors = JSON.parse(fs.readFileSync(new URL('./fixtures/e2ee-vectors.json', import.meta.url))).vectors;

test('SM4: the standard example (GB/T 32907-2016 appendix A)', (t) => {
  const k = unhex('0123456789abcdeffedcba9876543210');
  t.is(hex(sm4EncryptBlock(k, k)), '681edf34d206965e86b3e94f536e4246');
  t.throws(() => sm4EncryptBlock(k.subarray(1), k), { instanceOf: TypeError });
});

test('SM4-GCM: RFC 8998 appendix A.1, and a flipped bit or another key does not open', (t) => {
  const gcm = new Sm4Gcm(unhex('0123456789ABCDEFFEDCBA9876543210'));
  const nonce = unhex('00001234567800000000ABCD');
  const aad = unhex('FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2');
  const plain = unhex(`AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD
    EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA`);
  const sealed = gcm.seal(nonce, aad, plain);
  t.is(hex(sealed.subarray(0, plain.length)), `17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735
    D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D`.replace(/\s+/g, '').toLowerCase());
  t.is(hex(sealed.subarray(plain.length)), '83de3541e4c2b58177e065a9bf7b62ec');
  t.deepEqual(gcm.open(nonce, aad, sealed), plain);
  for (const at of [0, 40, sealed.length - 1]) {
    const bad = sealed.slice();
    bad[at] ^= 1;
    t.is(gcm.open(nonce, aad, bad), null, `bit flipped at ${at}`);
  }
  t.is(gcm.open(nonce, aad.subarray(1), sealed), null, 'other AAD');
  t.is(new Sm4Gcm(unhex('0123456789ABCDEFFEDCBA9876543211')).open(nonce, aad, sealed), null, 'other key');
  // Lengths that are not whole blocks, and nothing at all.
  for (const n of [0, 1, 15, 17, 1000]) {
    const p = Uint8Array.from({ length: n }, (_, i) => i * 7);
    t.deepEqual(gcm.open(nonce, new Uint8Array(0), gcm.seal(nonce, new Uint8Array(0), p)), p, `${n} bytes`);
  }
});

test('the engine\'s sealed frames open here, and sealing with its nonces gives its bytes', async (t) => {
  t.true(vectors.length >= 20);
  for (const v of vectors) {
    const key = await deriveMediaKey(v.key);
    const plain = unhex(v.plain);
    const sealed = unhex(v.sealed);
    const video = v.kind === 'video';
    const cipher = new MediaCipher(key);
    t.is(hex(video ? cipher.openVideo(sealed) : cipher.openAudio(sealed)), v.plain, `${v.kind} with "${v.key}" opens`);
    // The engine's nonces, in order: each sealed unit's after its first byte and the magic.
    const nonces = video
      ? nalUnits(sealed).filter((n) => (n[0] & 0x1f) <= 6).map((n) => unescape(n.subarray(1, n.length - 1)).slice(9, 21))
      : [sealed.slice(2, 14)];
    const replay = new MediaCipher(key, () => nonces.shift());
    t.is(hex(video ? replay.sealVideo(plain) : replay.sealAudio(plain)), v.sealed, `${v.kind} with "${v.key}" seals identically`);
    t.is(nonces.length, 0);
    // Another key, a plain frame, an altered byte.
    const other = new MediaCipher(await deriveMediaKey(`${v.key}!`));
    t.is(video ? other.openVideo(sealed) : other.openAudio(sealed), OpenError.WRONG_KEY);
    t.is(video ? cipher.openVideo(plain) : cipher.openAudio(plain), OpenError.NOT_SEALED);
    const bad = sealed.slice();
    bad[bad.length - 3] ^= 0x10;
    t.is(video ? cipher.openVideo(bad) : cipher.openAudio(bad), OpenError.WRONG_KEY);
  }
  await t.throwsAsync(() => deriveMediaKey(''), { instanceOf: TypeError });
});

test('fresh nonces: a frame sealed twice differs, and both open', async (t) => {
  const cipher = new MediaCipher(await deriveMediaKey('k'));
  const au = unhex(vectors.find((v) => v.kind === 'video').plain);
  const a = cipher.sealVideo(au);
  const b = cipher.sealVideo(au);
  t.not(hex(a), hex(b));
  t.is(hex(cipher.openVideo(a)), hex(au));
  t.is(hex(cipher.openVideo(b)), hex(au));
  // No start code inside a sealed unit (the packetiser must split where the encoder did).
  t.is(nalUnits(a).length, nalUnits(au).length);
});

// What a 640x480 call costs: a keyframe of ~40 KB and P frames of ~4 KB (Chromium's sizes at
// ~1 Mbit/s), sealed and opened; the browser test logs the same per frame inside Chromium.
test('throughput: sealing and opening 640x480 frames takes well under a frame interval', async (t) => {
  const cipher = new MediaCipher(await deriveMediaKey('k'));
  const frame = (slice) => {
    const au = new Uint8Array(4 + slice);
    au.set([0, 0, 0, 1, 0x41, 0x9a]);
    for (let i = 6; i < au.length; i++) au[i] = (i * 2654435761) >>> 24 || 1;
    return au;
  };
  const sizes = { keyframe: 40_000, pframe: 4_000 };
  // CPU time of this process (other processes on the cores do not count), after a warm-up.
  const cpuMs = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  for (let i = 0; i < 20; i++) cipher.openVideo(cipher.sealVideo(frame(4000)));
  const ms = {};
  for (const [name, size] of Object.entries(sizes)) {
    const au = frame(size);
    const n = name === 'keyframe' ? 30 : 300;
    let sealed;
    const t0 = cpuMs();
    for (let i = 0; i < n; i++) sealed = cipher.sealVideo(au);
    const t1 = cpuMs();
    for (let i = 0; i < n; i++) cipher.openVideo(sealed);
    const t2 = cpuMs();
    ms[name] = { seal: +((t1 - t0) / n).toFixed(3), open: +((t2 - t1) / n).toFixed(3), mbytes_per_s: +((size * n) / 1000 / (t1 - t0)).toFixed(1) };
  }
  t.log('CPU ms per frame (Node):', JSON.stringify(ms));
  // 30 fps leaves 33 ms a frame; a keyframe takes a few ms of CPU.
  t.true(ms.keyframe.seal < 15 && ms.keyframe.open < 15, JSON.stringify(ms));
});
