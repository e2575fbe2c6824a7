#![no_main]
// A subject given to `epass2003-tool csr --subject` (RFC 4514 text).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = pki_files::csr::parse_subject(s);
    }
});
