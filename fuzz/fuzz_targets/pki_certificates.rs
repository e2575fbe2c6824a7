#![no_main]
// CRT/CER (DER or PEM, one or many) and P7B files given to `epass2003-tool import`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = pki_files::certs::is_p7b(data);
    let _ = pki_files::certs::parse_certificates(data);
});
