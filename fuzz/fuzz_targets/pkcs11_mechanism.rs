#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| epass2003_pkcs11::fuzzing::mechanism(data));
