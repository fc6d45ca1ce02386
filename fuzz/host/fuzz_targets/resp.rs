#![no_main]
//! RESP requests, whole and in pieces of any size (goldylox_host::fuzzing::resp).

libfuzzer_sys::fuzz_target!(|data: &[u8]| goldylox_host::fuzzing::resp(data));
