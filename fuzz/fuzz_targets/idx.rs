#![no_main]
//! `mnistlab::untrusted::idx` on any bytes: an answer or an error, never a panic.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = mnistlab::untrusted::idx(data);
});
