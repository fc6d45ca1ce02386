#![no_main]
//! The warm tier's codec on arbitrary bytes (goldylox::fuzzing::warm_codec).

libfuzzer_sys::fuzz_target!(|data: &[u8]| goldylox::fuzzing::warm_codec(data));
