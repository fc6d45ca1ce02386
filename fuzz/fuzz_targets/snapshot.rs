#![no_main]
//! An index snapshot of arbitrary bytes beside a valid segment (goldylox::fuzzing::snapshot).

libfuzzer_sys::fuzz_target!(|data: &[u8]| goldylox::fuzzing::snapshot(data));
