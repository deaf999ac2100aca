#![no_main]
//! See `mtls_core_fuzz::identity_pkcs12` (fuzz/src/lib.rs) for what is checked.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mtls_core_fuzz::identity_pkcs12(data));
