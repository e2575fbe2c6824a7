#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| token::fuzzing::session(data));
