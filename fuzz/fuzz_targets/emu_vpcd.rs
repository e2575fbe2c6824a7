#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| epass2003_emu::fuzzing::vpcd(data));
