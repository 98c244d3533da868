//! libFuzzer target: one `pub` offer SDP (see [`nertc_fuzz::sdp`]).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nertc_fuzz::sdp(data));
