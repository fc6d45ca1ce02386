#![no_main]
//! Segment files of arbitrary bytes through recovery, reads, compaction and a restart (goldylox::fuzzing::cold_segments).

libfuzzer_sys::fuzz_target!(|data: &[u8]| goldylox::fuzzing::cold_segments(data, false));
