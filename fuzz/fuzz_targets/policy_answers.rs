#![no_main]
//! A cache driven by a policy whose every answer the input chooses (goldylox::fuzzing::policy_answers).

libfuzzer_sys::fuzz_target!(|data: &[u8]| goldylox::fuzzing::policy_answers(data));
