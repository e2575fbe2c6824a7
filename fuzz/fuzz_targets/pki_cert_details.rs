#![no_main]
// Certificate details (subject and issuer RDNs, strings, extensions) of a certificate read from
// a token or a file.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = pki_files::details::cert_details(data);
    let _ = pki_files::details::common_name(data);
});
