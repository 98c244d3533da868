//! libFuzzer target: one signaling text frame (see [`nertc_fuzz::signaling`]).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nertc_fuzz::signaling(data));
