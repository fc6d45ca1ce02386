#![no_main]
//! The same with every record's checksum fixed, so the decoders behind it see arbitrary bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| goldylox::fuzzing::cold_segments(data, true));
