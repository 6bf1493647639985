#![no_main]
//! `mnistlab::untrusted::http_request` on any bytes: the server's handler answers every request
//! with a 2xx or a 4xx, never a panic or a server error.

use std::cell::RefCell;

thread_local! {
    static CLASSIFIER: RefCell<mnistlab::picture::classify::Classifier> =
        RefCell::new(mnistlab::untrusted::http_classifier());
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    CLASSIFIER.with(|c| mnistlab::untrusted::http_request(data, &mut c.borrow_mut()));
});
