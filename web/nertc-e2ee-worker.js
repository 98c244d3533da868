// nertc-e2ee-worker.js: the web client's encoded transforms (WebRTC's RTCRtpScriptTransform), in
// a module worker so that no cipher work runs on the page's thread. nertc-web.js starts it
// (enableEncryption) and gives every encrypted sender and receiver a transform with options
// `{side: 'send' | 'recv', kind: 'audio' | 'video', id, key}` (`key`: the 16-byte SM4 key).
//
// Send: each encoded frame is sealed (nertc-e2ee.js: H.264 slices / SEI units, Opus packets).
// Receive: each frame is opened; one that does not open is dropped, never handed to the decoder.
// The worker posts `{type: 'stats', id, side, kind, frames, dropped, why, ms, maxMs, bytes}` to
// the page: at once on a transform's first drop, then at most once a second per transform while
// frames flow (`ms`: the cipher's time per frame, mean since the last post; `why`: an `OpenError`
// of the last drop).

import { MediaCipher } from './nertc-e2ee.js';

const STATS_EVERY_MS = 1000;

function transform({ readable, writable, options }) {
  const { side, kind, id } = options;
  const cipher = new MediaCipher(options.key);
  const video = kind === 'video';
  const st = { frames: 0, dropped: 0, empty: 0, why: null, ms: 0, maxMs: 0, bytes: 0, posted: performance.now() };
  const post = () => {
    const n = Math.max(st.frames, 1);
    self.postMessage({ type: 'stats', id, side, kind, frames: st.frames, dropped: st.dropped, empty: st.empty, why: st.why, ms: st.ms / n, maxMs: st.maxMs, bytes: st.bytes });
    st.frames = 0;
    st.dropped = 0;
    st.empty = 0;
    st.ms = 0;
    st.maxMs = 0;
    st.bytes = 0;
    st.posted = performance.now();
  };
  let everDropped = false;
  const stream = new TransformStream({
    transform(frame, controller) {
      const data = new Uint8Array(frame.data);
      if (data.length === 0) {
        // Nothing to seal: passed on as it is.
        st.empty++;
        controller.enqueue(frame);
        return;
      }
      const t0 = performance.now();
      let out;
      if (side === 'send') {
        out = video ? cipher.sealVideo(data) : cipher.sealAudio(data);
      } else {
        out = video ? cipher.openVideo(data) : cipher.openAudio(data);
      }
      const ms = performance.now() - t0;
      st.frames++;
      st.ms += ms;
      st.maxMs = Math.max(st.maxMs, ms);
      st.bytes += data.length;
      if (typeof out === 'string') {
        // An OpenError: dropped.
        st.dropped++;
        st.why = out;
        if (!everDropped) {
          everDropped = true;
          post();
        }
      } else {
        frame.data = out.byteOffset === 0 && out.byteLength === out.buffer.byteLength ? out.buffer : out.slice().buffer;
        controller.enqueue(frame);
      }
      if (performance.now() - st.posted >= STATS_EVERY_MS) post();
    },
  });
  readable.pipeThrough(stream).pipeTo(writable).catch(() => {
    // The sender or receiver went away (track ended, connection closed).
  });
}

self.onrtctransform = (event) => transform(event.transformer);
