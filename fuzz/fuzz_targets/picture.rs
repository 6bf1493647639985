#![no_main]
//! `mnistlab::untrusted::picture` on any bytes: an answer or an error, never a panic.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = mnistlab::untrusted::picture(data);
});
