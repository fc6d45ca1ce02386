#![no_main]
//! The TOML configuration on arbitrary text (goldylox_host::fuzzing::config).

libfuzzer_sys::fuzz_target!(|data: &[u8]| goldylox_host::fuzzing::config(data));
