//! Fuzz targets for what the room server reads from the network, and the corpus and mutation
//! loop that drive them without libFuzzer.
//!
//! - [`signaling`]: one WebSocket text frame. The server's decoder ([`ClientFrame::parse`]),
//!   the error frame it answers a bad frame with, join admission ([`nertc_server::auth::admit`],
//!   token decoding included) and `renew_token`'s token check; the client's decoder
//!   ([`ServerFrame::parse`], [`Reply::parse`]). A decoded frame must encode to JSON that
//!   decodes to the same frame.
//! - [`sdp`]: one SDP as a client sends it. The first byte picks the use: a `pub` offer (the
//!   `pub_mids` check of the room, then the offer applied to a peer connection with the
//!   server's codecs and answered, as the server's peer actor does) or a `sub` answer (applied
//!   to a peer connection that offered one of the server's tracks). What the server produces
//!   must parse again.
//!
//! A crash is a panic (an unwrap, an index out of range, an arithmetic overflow: the fuzz
//! builds keep overflow checks and debug assertions on), an abort or a hang.
//!
//! # Running
//!
//! Coverage-guided, on the stable toolchain: `scripts/fuzz.sh TARGET [libFuzzer flags]`, e.g.
//! `scripts/fuzz.sh signaling -runs=10000000`. It builds `fuzz_targets/TARGET.rs` with
//! libfuzzer-sys (libFuzzer, compiled from the C++ that crate ships) and LLVM's
//! SanitizerCoverage passes, which stable rustc enables through `-C passes` / `-C llvm-args`,
//! and runs it on `fuzz/corpus/TARGET`. cargo-fuzz itself (and bolero's libFuzzer engine)
//! want a nightly compiler for `-Z sanitizer`; AddressSanitizer adds little for safe Rust, so
//! the script does without it. New inputs libFuzzer finds go to `target/fuzz/corpus/TARGET`,
//! not into the repository; `fuzz/corpus` holds a small set of seeds
//! (`scripts/fuzz.sh TARGET -merge=1 fuzz/corpus/TARGET target/fuzz/corpus/TARGET` adds the
//! ones that reach new code).
//!
//! `fuzz/found/TARGET` keeps what the runs found, minimised to the inputs that reach every edge
//! they reached (`-set_cover_merge=1 -use_counters=0`); `scripts/fuzz.sh` starts from it too and
//! `cargo test` replays it.
//!
//! Measured here (2 shared cores, other builds running; seeds only at the start):
//! `scripts/fuzz.sh signaling -runs=10000000`: 10,000,000 executions in 1,122 s (8.9 k/s), no
//! crash, 5,128 coverage edges. `scripts/fuzz.sh sdp -runs=10000000`, stopped by a 2,400 s
//! limit: 2,789,979 executions (1.2 k/s: every input that parses builds a peer connection), no
//! crash, 6,905 edges; then (session 10, from the seeds again) `-runs=7300000`: 7,300,000 in
//! 4,498 s (1.6 k/s, at nice 19 beside other work), no crash, 7,295 edges — 10.09 M in all.
//! Kept in `fuzz/found/sdp`: 438 inputs (536 KB) covering those edges.
//!
//! Without libFuzzer (no C++ compiler, or as a smoke): `cargo run -p nertc-fuzz --bin mutate
//! --release -- TARGET ITERATIONS [SEED]` runs [`Mutator`]'s deterministic mutations of the
//! corpus, and `cargo test -p nertc-fuzz` runs a few seconds of them for each target.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Instant;

use nertc_protocol::token;
use nertc_protocol::{ClientFrame, ClientMsg, ErrorBody, FrameError, Reply, ServerFrame, TransportMsg};
use nertc_server::{AppConfig, ServerConfig};
use rtc::peer_connection::RTCPeerConnection;
use rtc::peer_connection::sdp::RTCSessionDescription;

/// A fuzz target: one input, no result (it panics on a finding).
pub type Target = fn(&[u8]);

/// The fuzz targets, by name.
pub const TARGETS: [(&str, Target); 2] = [("signaling", signaling), ("sdp", sdp)];

const SECRET: &str = "fuzz-secret";
/// A fixed "now" for token expiry checks, so a run is reproducible.
const NOW: u64 = 1_800_000_000;

/// One WebSocket text frame, through both decoders (see the crate doc).
pub fn signaling(data: &[u8]) {
    // The WebSocket layer hands over only valid UTF-8; the lossy conversion lets every mutation
    // reach the decoders instead of being dropped here.
    let text = String::from_utf8_lossy(data);
    server_decode(&text);
    client_decode(&text);
    let _ = token::claims_unverified(&text);
    let _ = token::decode(&text, SECRET, NOW);
}

/// What the server does with a frame it reads (conn.rs, auth.rs).
fn server_decode(text: &str) {
    match ClientFrame::parse(text) {
        Ok(frame) => {
            let json = frame.to_json();
            let again = ClientFrame::parse(&json).unwrap_or_else(|e| panic!("{json} (from {text:?}) does not decode: {e}"));
            assert_eq!(again, frame, "{json} decodes to another frame");
            match &frame.msg {
                ClientMsg::Join(req) => {
                    for config in configs() {
                        let _ = nertc_server::auth::admit(config, req, NOW);
                    }
                }
                ClientMsg::RenewToken(r) => {
                    for config in configs() {
                        let _ = nertc_server::auth::renew(config, "strict", "fuzz", 1, &r.token, NOW);
                    }
                }
                _ => {}
            }
        }
        Err(e) => {
            let code = e.code();
            if let FrameError::Malformed(_) = e {
                assert_eq!(e.id(), None, "a malformed frame has no id to answer");
            }
            // The error frame the server sends back must be one a client decodes.
            let frame = match e.id() {
                Some(re) => ServerFrame::err(re, code, e.to_string()),
                None => ServerFrame::Transport(TransportMsg::Error(ErrorBody::new(code, e.to_string()))),
            };
            let json = frame.to_json();
            assert_eq!(ServerFrame::parse(&json).as_ref(), Ok(&frame), "{json}");
        }
    }
}

/// What a client does with a frame from the server (nertc-signal).
fn client_decode(text: &str) {
    let Ok(frame) = ServerFrame::parse(text) else { return };
    let json = frame.to_json();
    let again = ServerFrame::parse(&json).unwrap_or_else(|e| panic!("{json} (from {text:?}) does not decode: {e}"));
    // serde_json's default float parsing is not correctly rounded, so a float in a response's
    // free-form `d` may come back one unit off; everything else must be identical.
    if !json.contains(['.', 'e', 'E']) {
        assert_eq!(again, frame, "{json} decodes to another frame");
    }
    if let ServerFrame::Response { result: Ok(d), .. } = frame {
        for request in ["join", "publish", "subscribe", "renew_token", "sdp", "leave"] {
            let _ = Reply::parse(request, true, d.clone());
        }
        let _ = Reply::parse("sdp", false, d);
    }
}

/// Server configs admission runs against: an app with a secret, a debug app, unknown apps on.
fn configs() -> &'static [ServerConfig] {
    static CONFIGS: OnceLock<Vec<ServerConfig>> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        let mut apps = BTreeMap::new();
        apps.insert("strict".to_owned(), AppConfig { secret: SECRET.into(), debug: false });
        apps.insert("dbg".to_owned(), AppConfig { secret: String::new(), debug: true });
        let closed = ServerConfig { apps, ..ServerConfig::embedded() };
        let open = ServerConfig { allow_unknown_apps: Some(true), ..closed.clone() };
        vec![closed, open, ServerConfig::embedded()]
    })
}

/// One SDP from a client (see the crate doc). Byte 0 picks the use; the rest is the SDP.
pub fn sdp(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    if mode & 1 == 0 {
        pub_offer(&text, mode >> 1);
    } else {
        sub_answer(&text);
    }
}

/// A `pub` offer: the room's `pub_mids` check, then the peer's answer.
fn pub_offer(text: &str, mask: u8) -> Option<String> {
    // pub_mids names the offer's mids that `mask` selects (all of them for mask 0x7f), so the
    // check passes and fails.
    let mids: BTreeMap<String, String> = text
        .lines()
        .filter_map(|l| l.trim_end().strip_prefix("a=mid:"))
        .enumerate()
        .filter(|(i, _)| mask == 0x7f || mask & (1 << (i % 7)) != 0)
        .map(|(i, mid)| (mid.trim().to_owned(), format!("1-{i}")))
        .collect();
    let _ = nertc_server::fuzzing::check_pub_mids(text, &mids);
    let offer = RTCSessionDescription::offer(text.to_owned()).ok()?;
    let mut pc = peer_connection();
    let now = Instant::now();
    pc.set_remote_description(now, offer).ok()?;
    let answer = pc.create_answer(None).ok()?;
    let answer_sdp = answer.sdp.clone();
    pc.set_local_description(now, answer).ok()?;
    RTCSessionDescription::answer(answer_sdp.clone())
        .unwrap_or_else(|e| panic!("the server's answer does not parse ({e}):\n{answer_sdp}\nto the offer:\n{text}"));
    Some(answer_sdp)
}

/// A `sub` answer, applied to a connection that offered an H.264 track and an Opus track;
/// whether it was.
fn sub_answer(text: &str) -> bool {
    let Ok(answer) = RTCSessionDescription::answer(text.to_owned()) else { return false };
    let mut pc = peer_connection();
    for (i, mime) in ["video/H264", "audio/opus"].into_iter().enumerate() {
        let (codec, _, kind) = nertc_rtc::codecs::canonical(mime).expect("the server's codecs include H.264 and Opus");
        let track = nertc_rtc::codecs::media_track("fuzz".into(), &format!("1-{i}"), kind, codec, 1000 + i as u32);
        pc.add_track(track).expect("a new connection takes a track");
    }
    let now = Instant::now();
    let offer = pc.create_offer(None).expect("a connection with two tracks makes an offer");
    pc.set_local_description(now, offer).expect("a connection applies its own offer");
    pc.set_remote_description(now, answer).is_ok()
}

/// A sans-I/O peer connection with the server's codecs (what its webrtc peer connections wrap),
/// sharing one DTLS certificate so that no key is generated per input.
fn peer_connection() -> RTCPeerConnection {
    static CERT: OnceLock<rtc::peer_connection::certificate::RTCCertificate> = OnceLock::new();
    let cert = CERT.get_or_init(|| {
        let provider = rtc::crypto::default_provider().expect("the default crypto provider exists");
        rtc::peer_connection::certificate::RTCCertificate::generate(
            provider.crypto(),
            rtc::crypto::SignatureScheme::EcdsaP256Sha256,
            rtc::peer_connection::certificate::CertificateParams::new(vec!["fuzz".to_owned()]).expect("a plain host name is valid"),
        )
        .expect("an ECDSA P-256 certificate can be generated")
    });
    let config = rtc::peer_connection::configuration::RTCConfigurationBuilder::new().with_certificates(vec![cert.clone()]).build();
    rtc::peer_connection::RTCPeerConnectionBuilder::new()
        .with_configuration(config)
        .with_media_engine(nertc_rtc::codecs::media_engine().expect("the server's codecs register"))
        .build(Instant::now())
        .expect("a peer connection with a valid certificate builds")
}

/// The seeds of `target` kept in `fuzz/corpus/TARGET`, sorted by file name.
pub fn corpus(target: &str) -> Vec<Vec<u8>> {
    files_in("corpus", target)
}

/// What libFuzzer found for `target` and keeps in `fuzz/found/TARGET`: the smallest set of its
/// inputs that reaches every edge its runs reached (`-set_cover_merge=1 -use_counters=0`),
/// sorted by file name. Mostly invalid input; each must still pass through without a panic.
pub fn found(target: &str) -> Vec<Vec<u8>> {
    files_in("found", target)
}

fn files_in(kind: &str, target: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(kind).join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a readable corpus directory entry").path())
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).collect()
}

/// Tokens the mutator inserts: JSON and SDP syntax, the protocol's keys and values, numbers at
/// the edges of their types.
const DICTIONARY: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ":",
    ",",
    "null",
    "true",
    "false",
    "0",
    "-1",
    "1e999",
    "18446744073709551615",
    "18446744073709551616",
    "9007199254740993",
    "\\u0000",
    "\\ud800",
    "\"t\":",
    "\"d\":",
    "\"id\":",
    "\"re\":",
    "\"seq\":",
    "\"ok\":",
    "\"err\":",
    "\"join\"",
    "\"sdp\"",
    "\"pub\"",
    "\"sub\"",
    "\"offer\"",
    "\"answer\"",
    "\"pub_mids\":",
    "\"sub_mids\":",
    "\"neg\":",
    "\"token\":",
    "\"channel\":",
    "\"uid\":",
    "\"app_key\":",
    "\"protocol\":",
    "\"role\":",
    "\"track_id\":",
    "\"layer\":",
    "\"kind\":",
    "\"candidate\":",
    "\r\n",
    "\n",
    "v=0",
    "m=audio ",
    "m=video ",
    "m=application ",
    " 9 UDP/TLS/RTP/SAVPF ",
    " 0 ",
    "a=mid:",
    "a=sendonly",
    "a=recvonly",
    "a=inactive",
    "a=sendrecv",
    "a=bundle-only",
    "a=group:BUNDLE ",
    "a=rtpmap:",
    "a=fmtp:",
    "a=rtcp-fb:",
    "a=extmap:",
    "a=ssrc:",
    "a=ssrc-group:FID ",
    "a=simulcast:send ",
    "a=rid:",
    "a=ice-ufrag:",
    "a=ice-pwd:",
    "a=fingerprint:sha-256 ",
    "a=setup:actpass",
    "a=candidate:",
    "c=IN IP4 ",
    "profile-level-id=",
    "packetization-mode=1",
    "42e01f",
    "42001f",
    "/90000",
    "/48000/2",
    "H264",
    "VP8",
    "opus",
    "rtx",
    "apt=",
];

/// A deterministic mutator (xorshift64*): byte flips and sets, insertions and deletions,
/// [`DICTIONARY`] tokens, repeats and splices of another input. No coverage feedback: it is
/// the fallback and smoke-test driver, libFuzzer does the real runs.
#[derive(Debug, Clone)]
pub struct Mutator {
    state: u64,
}

impl Mutator {
    pub fn new(seed: u64) -> Self {
        Mutator { state: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1 }
    }

    fn next(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// `input` changed by 1 to 8 mutations; `other` is spliced from.
    pub fn mutate(&mut self, input: &[u8], other: &[u8]) -> Vec<u8> {
        let mut out = input.to_vec();
        for _ in 0..1 + self.below(8) {
            let at = self.below(out.len() + 1);
            match self.below(8) {
                0 if at < out.len() => out[at] ^= 1 << self.below(8),
                1 if at < out.len() => out[at] = [0, 0x7f, 0x80, 0xff, b'"', b'\\', b'\n', b'0'][self.below(8)],
                2 => {
                    let b = self.next() as u8;
                    out.insert(at, b);
                }
                3 if at < out.len() => {
                    let len = 1 + self.below((out.len() - at).min(64));
                    out.drain(at..at + len);
                }
                4 | 5 => {
                    let token = DICTIONARY[self.below(DICTIONARY.len())].as_bytes();
                    out.splice(at..at, token.iter().copied());
                }
                6 if at < out.len() => {
                    let len = 1 + self.below((out.len() - at).min(32));
                    let chunk = out[at..at + len].to_vec();
                    for _ in 0..1 + self.below(4) {
                        out.splice(at..at, chunk.iter().copied());
                    }
                }
                _ if !other.is_empty() => {
                    let from = self.below(other.len());
                    let len = 1 + self.below((other.len() - from).min(256));
                    let end = (at + len).min(out.len());
                    out.splice(at..end, other[from..from + len].iter().copied());
                }
                _ => {}
            }
        }
        out.truncate(1 << 16);
        out
    }
}

/// Runs `target` on every corpus entry, then on `iterations` mutations of them; returns the
/// number of executions.
pub fn run(target: &str, iterations: u64, seed: u64) -> u64 {
    let (_, f) = TARGETS.iter().find(|(name, _)| *name == target).unwrap_or_else(|| panic!("no fuzz target {target:?}"));
    let seeds = corpus(target);
    assert!(!seeds.is_empty(), "the {target} corpus is empty");
    for s in &seeds {
        f(s);
    }
    let mut m = Mutator::new(seed);
    // Mutations stack: each input is a mutation of a seed or of the previous input.
    let mut current = seeds[0].clone();
    for _ in 0..iterations {
        let base = if m.below(4) == 0 { &seeds[m.below(seeds.len())] } else { &current };
        let other = &seeds[m.below(seeds.len())];
        let input = m.mutate(base, other);
        f(&input);
        current = input;
    }
    seeds.len() as u64 + iterations
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A few seconds of mutations per target (the libFuzzer runs are `scripts/fuzz.sh`).
    #[test]
    fn smoke() {
        for (target, iterations) in [("signaling", 100_000), ("sdp", 3_000)] {
            let started = Instant::now();
            let n = run(target, iterations, 1);
            eprintln!("{target}: {n} executions in {:?}", started.elapsed());
        }
    }

    #[test]
    fn the_mutator_is_deterministic_and_changes_its_input() {
        let (mut a, mut b) = (Mutator::new(7), Mutator::new(7));
        let input = br#"{"id":1,"t":"ping","d":{"ts":5}}"#;
        let changed = (0..100).filter(|_| a.mutate(input, b"v=0") != input).count();
        assert!(changed > 90, "{changed}");
        assert_eq!(a.mutate(input, b"x"), {
            (0..100).for_each(|_| drop(b.mutate(input, b"v=0")));
            b.mutate(input, b"x")
        });
    }

    /// Every input the fuzzer kept passes through the SDP handling again without a panic.
    #[test]
    fn the_inputs_the_fuzzer_found_pass_again() {
        let found = found("sdp");
        assert!(found.len() >= 100, "{} inputs in fuzz/found/sdp", found.len());
        for input in &found {
            sdp(input);
        }
    }

    /// The seeds reach deep: client frames decode, offers are answered, answers are applied.
    #[test]
    fn the_seeds_reach_the_code_behind_the_decoders() {
        let (mut client, mut server) = (0, 0);
        for seed in corpus("signaling") {
            let text = String::from_utf8(seed).expect("seeds are UTF-8");
            client += usize::from(ClientFrame::parse(&text).is_ok());
            server += usize::from(ServerFrame::parse(&text).is_ok());
        }
        assert!(client >= 10 && server >= 5, "{client} client frames, {server} server frames decode");
        let (mut offers, mut answers) = (0, 0);
        for seed in corpus("sdp") {
            let text = String::from_utf8_lossy(&seed[1..]).into_owned();
            if seed[0] & 1 == 0 {
                assert!(pub_offer(&text, 0x7f).is_some(), "not answered:\n{text}");
                assert_eq!(nertc_server::fuzzing::check_pub_mids(&text, &BTreeMap::new()).is_err(), text.contains("a=sendonly"));
                offers += 1;
            } else {
                assert!(sub_answer(&text), "not applied:\n{text}");
                answers += 1;
            }
        }
        assert!(offers >= 2 && answers >= 1, "{offers} offers, {answers} answers");
    }

    /// The H.264 matching rule docs/protocol.md §7 states, on the server's codecs.
    #[test]
    fn the_documented_h264_rule_holds() {
        // The video payload types of an answer, with their fmtp.
        fn video_codecs(answer: &str) -> Vec<(String, String)> {
            let mut lines = answer.lines().skip_while(|l| !l.starts_with("m=video"));
            let m = lines.next().expect("the answer has a video m-line");
            let pts: Vec<&str> = m.split_whitespace().skip(3).collect();
            let body: Vec<&str> = lines.take_while(|l| !l.starts_with("m=")).collect();
            pts.iter()
                .map(|pt| {
                    let fmtp = body.iter().find_map(|l| l.strip_prefix(&format!("a=fmtp:{pt} "))).unwrap_or("");
                    (pt.to_string(), fmtp.to_string())
                })
                .collect()
        }
        let chromium =
            String::from_utf8(corpus("sdp").into_iter().find(|s| s.windows(5).any(|w| w == b"42001")).expect("the Chromium offer"))
                .expect("UTF-8")[1..]
                .to_owned();
        // Chromium's list: VP8 (96) and 42e01f/mode 1 (106) match exactly; 42001f (102, 104),
        // mode 0 (108), Main (127) and AV1 do not, and are dropped.
        let answer = pub_offer(&chromium, 0x7f).expect("answered");
        let pts: Vec<String> = video_codecs(&answer).into_iter().map(|(pt, _)| pt).collect();
        assert_eq!(pts, ["96", "106"], "{answer}");

        // One H.264 entry alone: exact matches by the first four hex digits and the mode.
        let video_only = |fmtp: &str| {
            let offer = corpus("sdp").into_iter().find(|s| s.windows(7).any(|w| w == b"a=rid:h")).expect("the simulcast offer");
            let offer = String::from_utf8(offer).expect("UTF-8")[1..]
                .replace("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", fmtp);
            video_codecs(&pub_offer(&offer, 0x7f).expect("answered"))
        };
        for offered in [
            "packetization-mode=1;profile-level-id=42E034",
            "profile-level-id=42e00a;packetization-mode=1",
            // No exact match on the m-line: the name-only fallback takes the entry as it is.
            "packetization-mode=1;profile-level-id=42001f",
            "packetization-mode=0;profile-level-id=42e01f",
            "profile-level-id=640c1f",
        ] {
            let got = video_only(offered);
            assert_eq!(got.len(), 1, "{offered}: {got:?}");
            assert_eq!(got[0].1, offered, "the answer keeps the offered fmtp");
        }
        // With an exact match beside it, 42001f is dropped.
        let offer = chromium.replace(
            "a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
            "a=fmtp:106 packetization-mode=1;profile-level-id=42e02a",
        );
        let pts: Vec<String> = video_codecs(&pub_offer(&offer, 0x7f).expect("answered")).into_iter().map(|(pt, _)| pt).collect();
        assert_eq!(pts, ["96", "106"]);
    }
}
