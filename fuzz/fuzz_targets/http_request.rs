#![no_main]
//! `mnistlab::untrusted::http_request` on any bytes: a connection's bytes, served by hyper as the
//! server serves its connections, each request answered by the server's own handler with a 2xx
//! or a 4xx, never a panic or a server error.

use std::cell::RefCell;

thread_local! {
    static CLASSIFIER: RefCell<mnistlab::picture::classify::Classifier> =
        RefCell::new(mnistlab::untrusted::http_classifier());
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // An error here is the in-memory connection's, not the server's answer.
    let _ = CLASSIFIER.with(|c| mnistlab::untrusted::http_request(data, &mut c.borrow_mut()));
});
