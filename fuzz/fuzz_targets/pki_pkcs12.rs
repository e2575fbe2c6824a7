#![no_main]
// A PKCS#12 file as a user gives it to `epass2003-tool import` / `p12 show`: with the empty
// password (tried first, both encodings) and with a password.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = pki_files::pkcs12::parse(data, "");
    let _ = pki_files::pkcs12::parse(data, "secret");
});
