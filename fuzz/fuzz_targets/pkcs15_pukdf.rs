#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pkcs15::fuzzing::pukdf(data));
