// Audio mixing, effects, voice effects, earback, recording and dumps through NERTC's API, two
// engines on synthetic devices against the embedded room server: A mixes a WAV holding a 700 Hz
// tone (its tone microphone turned down to 0), B records what it plays and the test finds
// 700 Hz in B's file; NERTC's events and codes along the way.
//
// ./scripts/netns.sh npx ava __test__/mixing.spec.mjs

import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { ErrorCode, channelName, makeEngine, record, sleep, useEmbeddedServer } from './helpers.mjs';

let url;
useEmbeddedServer(test, (u) => {
  url = u;
});

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nertc-mixing-js-'));
test.after.always(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A 16-bit mono WAV of a sine. */
function writeTone(file, freq, rate, secs) {
  const n = Math.round(rate * secs);
  const buf = Buffer.alloc(44 + n * 2);
  buf.write('RIFF', 0);
  buf.writeUInt32LE(36 + n * 2, 4);
  buf.write('WAVEfmt ', 8);
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20);
  buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36);
  buf.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i += 1) buf.writeInt16LE(Math.round(0.3 * 32767 * Math.sin((2 * Math.PI * freq * i) / rate)), 44 + i * 2);
  fs.writeFileSync(file, buf);
}

/** `{rate, samples}` of a 16-bit mono WAV written by the SDK (hound: a 44-byte header). */
function readWav(file) {
  const buf = fs.readFileSync(file);
  const rate = buf.readUInt32LE(24);
  const samples = new Int16Array(buf.buffer.slice(buf.byteOffset + 44, buf.byteOffset + buf.length - ((buf.length - 44) % 2)));
  return { rate, samples };
}

/** Amplitude of the `freq` component (Goertzel, Hann window), relative to full scale. */
function tonePower(samples, rate, freq) {
  const w = (2 * Math.PI * freq) / rate;
  const c = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  let wsum = 0;
  for (let i = 0; i < samples.length; i += 1) {
    const h = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (samples.length - 1));
    wsum += h;
    const s0 = (samples[i] / 32768) * h + c * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return (2 * Math.sqrt(Math.max(0, s1 * s1 + s2 * s2 - c * s1 * s2))) / wsum;
}

test.serial('A mixes a file, B hears it in its recording; codes and events', async (t) => {
  const music = path.join(dir, 'music.wav');
  writeTone(music, 700, 44100, 2);
  const effect = path.join(dir, 'effect.wav');
  writeTone(effect, 1200, 48000, 0.3);
  const channel = channelName('mixing');
  const a = makeEngine(url);
  const b = makeEngine(url);
  const ra = record(a);
  const rb = record(b);
  t.is(a.adjustRecordingSignalVolume(0), 0);
  t.is(a.joinChannel('', channel, 1), 0);
  await ra.waitFor('onJoinChannel', (_cid, _uid, result) => result === 0);
  t.is(b.joinChannel('', channel, 2), 0);
  await rb.waitFor('onFirstAudioFrameDecoded', (uid) => Number(uid) === 1);

  t.is(a.getAudioMixingDuration(), -ErrorCode.ERR_INVALID_STATE, 'nothing mixing: -30005');
  t.is(a.startAudioMixing({ path: music, send_volume: 101 }), ErrorCode.ERR_INVALID_PARAM);
  t.is(a.startAudioMixing({}), ErrorCode.ERR_INVALID_PARAM, 'a path is required');
  t.is(a.startAudioMixing({ path: music, loop_count: 0, playback_enabled: false, progress_interval: 200 }), 0);
  const [ts] = await ra.waitFor('onAudioMixingTimestampUpdate');
  t.true(ts >= 0 && ts < 2000, `timestamp ${ts}`);
  t.true(Math.abs(a.getAudioMixingDuration() - 2000) <= 5, `duration ${a.getAudioMixingDuration()}`);
  t.is(a.getAudioMixingSendVolume(), 100);
  t.is(a.setAudioMixingPlaybackVolume(40), 0);
  t.is(a.getAudioMixingPlaybackVolume(), 40);
  t.is(a.setAudioMixingPosition(500), 0);
  t.is(a.setAudioMixingPosition(60_000), ErrorCode.ERR_INVALID_PARAM, 'beyond the end');
  t.is(a.setAudioMixingPitch(12), 0);
  t.is(a.getAudioMixingPitch(), 12);
  t.is(a.setAudioMixingPitch(0), 0);

  const rec = path.join(dir, 'b.wav');
  t.is(b.startAudioRecordingWithConfig({ filePath: rec, sampleRate: 16000, quality: 1, position: 2 }), 0);
  await rb.waitFor('onAudioRecording', (code, p) => code === 3 && p === rec);
  await sleep(2000);
  t.is(b.stopAudioRecording(), 0);
  await rb.waitFor('onAudioRecording', (code, p) => code === 5 && p === rec);
  const { rate, samples } = readWav(rec);
  t.is(rate, 16000);
  const tail = samples.subarray(Math.max(0, samples.length - 16000));
  const at700 = tonePower(tail, rate, 700);
  const at440 = tonePower(tail, rate, 440);
  t.log(`B's recording: 700 Hz at ${(20 * Math.log10(at700 + 1e-9)).toFixed(1)} dBFS, 440 Hz (A's muted mic) at ${(20 * Math.log10(at440 + 1e-9)).toFixed(1)} dBFS`);
  t.true(at700 > 0.1, `B hears the mixed 700 Hz: ${at700}`);
  t.true(at440 < at700 / 100, 'not the microphone');

  t.is(a.pauseAudioMixing(), 0);
  t.is(a.resumeAudioMixing(), 0);
  t.is(a.stopAudioMixing(), 0);
  t.is(a.stopAudioMixing(), ErrorCode.ERR_INVALID_STATE);

  // Effects: NERTC passes an array of one option.
  t.is(a.playEffect(3, [{ path: effect, loop_count: 2 }]), 0);
  t.is(a.playEffect(4, { path: effect }), 0);
  await ra.waitFor('onAudioEffectFinished', (id) => id === 4);
  await ra.waitFor('onAudioEffectFinished', (id) => id === 3);
  t.is(a.getEffectDuration(3), -ErrorCode.ERR_INVALID_STATE, 'finished effects are gone');
  t.is(a.playEffect(5, [{ path: effect, loop_count: 0 }]), 0);
  await sleep(300);
  t.is(a.setEffectSendVolume(5, 30), 0);
  t.is(a.getEffectSendVolume(5), 30);
  t.is(a.setEffectPitch(5, -3), 0);
  t.is(a.getEffectPitch(5), -3);
  t.is(a.pauseAllEffects(), 0);
  t.is(a.resumeAllEffects(), 0);
  t.is(a.stopAllEffects(), 0);
  t.is(a.stopEffect(5), ErrorCode.ERR_INVALID_STATE);

  // A file that is not audio.
  const junk = path.join(dir, 'junk.mp3');
  fs.writeFileSync(junk, Buffer.alloc(4096, 0x5a));
  t.is(a.startAudioMixing({ path: junk }), 0);
  const [state, code] = await ra.waitFor('onAudioMixingStateChanged');
  t.deepEqual([state, code !== 0], [1, true], `failed with NERtcAudioMixingErrorCode ${code}`);

  // Leaving ends the mixing, the effects and the recording (its file completed: 5).
  const ticks = ra.events.filter((e) => e.name === 'onAudioMixingTimestampUpdate').length;
  t.is(a.startAudioMixing({ path: music, loop_count: 0, progress_interval: 100 }), 0);
  t.is(a.playEffect(9, [{ path: effect, loop_count: 0 }]), 0);
  await ra.waitFor('onAudioMixingTimestampUpdate', () => ra.events.filter((e) => e.name === 'onAudioMixingTimestampUpdate').length > ticks);
  const last = path.join(dir, 'a.wav');
  t.is(a.startAudioRecordingWithConfig({ filePath: last, sampleRate: 48000, position: 1, cycleTime: 10 }), 0);
  await ra.waitFor('onAudioRecording', (c, p) => c === 3 && p === last);
  await sleep(500);
  t.is(a.leaveChannel(), 0);
  await ra.waitFor('onAudioRecording', (c, p) => c === 5 && p === last);
  t.is(a.getAudioMixingDuration(), -ErrorCode.ERR_INVALID_STATE, 'no mixing after leaving');
  t.is(a.getEffectDuration(9), -ErrorCode.ERR_INVALID_STATE, 'no effect after leaving');
  t.is(a.stopAudioRecording(), ErrorCode.ERR_INVALID_STATE);
  const sent = readWav(last).samples;
  t.true(tonePower(sent.subarray(sent.length / 4), 48000, 700) > 0.1, "A's own recording (position 1) holds what it sent");
});

test.serial('voice effects, earback, AAC recording, audio dump', async (t) => {
  const logDir = path.join(dir, 'logs');
  const e = makeEngine(url, { log_dir_path: logDir });
  const r = record(e);
  t.is(e.setLocalVoicePitch(3), ErrorCode.ERR_INVALID_PARAM);
  t.is(e.setLocalVoicePitch(1.5), 0);
  t.is(e.setLocalVoiceEqualization(10, 0), ErrorCode.ERR_INVALID_PARAM);
  t.is(e.setLocalVoiceEqualization(5, 16), ErrorCode.ERR_INVALID_PARAM);
  t.is(e.setLocalVoiceEqualization(5, 6), 0);
  t.is(e.setLocalVoiceReverbParam({ wetGain: 0.5, dryGain: 1, damping: 0.5, roomSize: 0.5, decayTime: 1, preDelay: 0 }), 0);
  t.is(e.setLocalVoiceReverbParam({ wetGain: 2 }), ErrorCode.ERR_INVALID_PARAM);
  t.is(e.setAudioEffectPreset(9), ErrorCode.ERR_INVALID_PARAM);
  t.is(e.setAudioEffectPreset(2), 0);
  t.is(e.setVoiceBeautifierPreset(12), ErrorCode.ERR_INVALID_PARAM);
  t.is(e.setVoiceBeautifierPreset(5), 0);
  t.is(e.setEarbackVolume(50), ErrorCode.ERR_INVALID_STATE, 'earback off');
  t.is(e.enableEarback(true, 80), 0);
  t.is(e.setEarbackVolume(101), ErrorCode.ERR_INVALID_PARAM);
  t.is(e.setEarbackVolume(50), 0);
  t.is(e.enableEarback(false, 0), 0);

  t.is(e.startAudioRecording(path.join(dir, 'x.wav'), 22050, 1), ErrorCode.ERR_INVALID_PARAM, 'sample rate');
  t.is(e.startAudioRecording(path.join(dir, 'x.mp3'), 32000, 1), ErrorCode.ERR_INVALID_PARAM, 'WAV or AAC only');
  t.is(e.stopAudioRecording(), ErrorCode.ERR_INVALID_STATE);

  // A dump with nothing flowing (outside a channel) leaves no file.
  t.is(e.startAudioDump(), 0);
  await sleep(200);
  t.is(e.stopAudioDump(), 0);
  await sleep(200);
  t.deepEqual(fs.readdirSync(logDir).filter((f) => f.startsWith('nertc-audio-dump-')), [], 'no empty dump');

  // The dump: what the engine sends and plays while in a channel (the tone microphone).
  t.is(e.joinChannel('', channelName('dump'), 7), 0);
  await r.waitFor('onJoinChannel', (_c, _u, result) => result === 0);
  t.is(e.setAudioEffectPreset(0), 0);
  t.is(e.setVoiceBeautifierPreset(0), 0);
  t.is(e.setLocalVoicePitch(1), 0);
  t.is(e.setLocalVoiceEqualization(5, 0), 0);
  // AAC (32 kHz, high quality: 96 kb/s) of what is sent: ADTS frames of 1024 samples, end to end.
  const aac = path.join(dir, 'x.aac');
  t.is(e.startAudioRecording(aac, 32000, 2), 0);
  await r.waitFor('onAudioRecording', (code, p) => code === 3 && p === aac);
  await sleep(1500);
  t.is(e.stopAudioRecording(), 0);
  await r.waitFor('onAudioRecording', (code, p) => code === 5 && p === aac);
  const adts = fs.readFileSync(aac);
  let frames = 0;
  for (let at = 0; at < adts.length; frames++) {
    t.true(adts[at] === 0xff && adts[at + 1] === 0xf1, `ADTS sync at byte ${at}`);
    t.is((adts[at + 2] >> 2) & 0xf, 5, '32 kHz');
    at += ((adts[at + 3] & 3) << 11) | (adts[at + 4] << 3) | (adts[at + 5] >> 5);
  }
  const aacSecs = (frames * 1024) / 32000;
  t.log(`AAC: ${frames} frames (${aacSecs.toFixed(2)} s), ${((adts.length * 8) / aacSecs / 1000).toFixed(1)} kb/s`);
  t.true(aacSecs > 1.2 && aacSecs < 2.0, `about 1.5 s: ${aacSecs}`);

  t.is(e.startAudioDump(), 0);
  await sleep(1500);
  t.is(e.stopAudioDump(), 0);
  t.is(e.stopAudioDump(), ErrorCode.ERR_INVALID_STATE);
  await sleep(300);
  const dumps = fs.readdirSync(logDir).filter((f) => f.startsWith('nertc-audio-dump-') && f.endsWith('.wav'));
  t.is(dumps.length, 1, `one dump in ${logDir}: ${dumps}`);
  const { rate, samples } = readWav(path.join(logDir, dumps[0]));
  t.is(rate, 48000);
  t.true(samples.length > 48000 * 0.8, `${samples.length} samples`);
  const at440 = tonePower(samples.subarray(samples.length / 2), rate, 440);
  t.log(`dump: ${(samples.length / rate).toFixed(2)} s, the tone microphone's 440 Hz at ${(20 * Math.log10(at440 + 1e-9)).toFixed(1)} dBFS`);
  t.true(at440 > 0.05, 'the microphone is in the dump');

  // NERtcAudioDumpType 1: both a raw PCM .dump and a WAV, the same audio.
  t.is(e.startAudioDumpWithType(3), ErrorCode.ERR_INVALID_PARAM);
  t.is(e.startAudioDumpWithType(1), 0);
  await sleep(1000);
  t.is(e.stopAudioDump(), 0);
  await sleep(300);
  const files = fs.readdirSync(logDir).filter((f) => f.startsWith('nertc-audio-dump-') && !dumps.includes(f)).sort();
  t.is(files.length, 2, `a .dump and a .wav: ${files}`);
  t.true(files[0].endsWith('.dump') && files[1].endsWith('.wav'));
  const raw = fs.readFileSync(path.join(logDir, files[0]));
  const pcm = new Int16Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length - (raw.length % 2)));
  const wav = readWav(path.join(logDir, files[1])).samples;
  t.true(Math.abs(pcm.length - wav.length) <= 960, `${pcm.length} vs ${wav.length} samples`);
  t.true(tonePower(pcm.subarray(pcm.length / 2), 48000, 440) > 0.05, 'the raw dump holds the microphone');
});
