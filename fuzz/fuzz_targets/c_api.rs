//! The C API's entry points fed arbitrary bytes: a config, then a request (method, path, query, header, body)
//! sent to a closed loopback port. Whatever the bytes, every call returns a status and frees cleanly: no
//! panic crosses the boundary, nothing leaks, nothing reaches another host.
#![no_main]

// The C binding's source, compiled into this target (its lib name clashes with the core's as an rlib).
#[allow(dead_code, unused_imports)]
#[path = "../../bindings-c/src/lib.rs"]
mod capi;

use std::ffi::CString;
use std::ptr::null_mut;

use libfuzzer_sys::fuzz_target;

const SEND_TO: &str = r#"{"base_url":"http://127.0.0.1:9","personal":{"type":"pat","token":"pat_fuzz"},"retry":{"max_retries":0},"timeouts":{"connect_ms":200,"total_ms":500}}"#;

fn c(bytes: &[u8]) -> CString {
    CString::new(bytes.iter().copied().filter(|b| *b != 0).collect::<Vec<u8>>()).unwrap()
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|b| *b == 0xff);
    let mut next = || parts.next().unwrap_or_default();
    let (config, mode, method, path, key, value, body) = (next(), next(), next(), next(), next(), next(), next());
    unsafe {
        let mut err = null_mut();
        let mut client = null_mut();
        capi::cozefallback_client_new(c(config).as_ptr(), &mut client, &mut err);
        capi::cozefallback_error_free(err);
        err = null_mut();
        capi::cozefallback_client_set_mode(client, c(mode).as_ptr(), &mut err);
        capi::cozefallback_error_free(err);
        capi::cozefallback_client_free(client);

        let mut sender = null_mut();
        let cfg = CString::new(SEND_TO).unwrap();
        assert_eq!(capi::cozefallback_client_new(cfg.as_ptr(), &mut sender, null_mut()) as i32, 0);
        let mut req = null_mut();
        err = null_mut();
        if capi::cozefallback_request_new(c(method).as_ptr(), c(path).as_ptr(), &mut req, &mut err) as i32 == 0 {
            capi::cozefallback_request_add_query(req, c(key).as_ptr(), c(value).as_ptr(), null_mut());
            capi::cozefallback_request_add_header(req, c(key).as_ptr(), c(value).as_ptr(), null_mut());
            capi::cozefallback_request_set_body(req, body.as_ptr(), body.len(), c(value).as_ptr(), null_mut());
            let mut resp = null_mut();
            let mut send_err = null_mut();
            capi::cozefallback_client_send(sender, req, null_mut(), &mut resp, &mut send_err);
            capi::cozefallback_response_free(resp);
            capi::cozefallback_error_free(send_err);
        }
        capi::cozefallback_error_free(err);
        capi::cozefallback_request_free(req);
        capi::cozefallback_client_free(sender);
    }
});
