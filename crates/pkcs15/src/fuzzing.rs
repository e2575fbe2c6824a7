//! Fuzzing entry points (used by `fuzz/`; not a stable API).
//!
//! Each function feeds arbitrary bytes to one parser. It must never panic on any input; when the
//! input parses, the value is re-encoded and decoded again, and the two values must be equal
//! (a panic here is a bug the fuzzer reports).

use crate::asn1::{aodf::Aodf, cdf::Cdf, dodf::Dodf, efdir::ApplicationTemplate, odf::Odf};
use crate::asn1::{prkdf::Prkdf, pukdf::Pukdf, tokeninfo::TokenInfo};
use crate::{feitian, settings::TokenSettings};

/// ODF.
pub fn odf(data: &[u8]) {
    if let Ok(v) = Odf::from_der(data) {
        assert_eq!(Odf::from_der(&v.to_der()).ok(), Some(v));
    }
}

/// TokenInfo.
pub fn tokeninfo(data: &[u8]) {
    if let Ok(v) = TokenInfo::from_der(data) {
        let der = v.to_der().ok();
        assert_eq!(der.and_then(|d| TokenInfo::from_der(&d).ok()), Some(v));
    }
}

/// AODF.
pub fn aodf(data: &[u8]) {
    if let Ok(v) = Aodf::from_der(data) {
        let der = v.to_der().ok();
        assert_eq!(der.and_then(|d| Aodf::from_der(&d).ok()), Some(v));
    }
}

/// PrKDF.
pub fn prkdf(data: &[u8]) {
    if let Ok(v) = Prkdf::from_der(data) {
        assert_eq!(Prkdf::from_der(&v.to_der()).ok(), Some(v));
    }
}

/// PuKDF.
pub fn pukdf(data: &[u8]) {
    if let Ok(v) = Pukdf::from_der(data) {
        assert_eq!(Pukdf::from_der(&v.to_der()).ok(), Some(v));
    }
}

/// CDF.
pub fn cdf(data: &[u8]) {
    if let Ok(v) = Cdf::from_der(data) {
        assert_eq!(Cdf::from_der(&v.to_der()).ok(), Some(v));
    }
}

/// DODF.
pub fn dodf(data: &[u8]) {
    if let Ok(v) = Dodf::from_der(data) {
        assert_eq!(Dodf::from_der(&v.to_der()).ok(), Some(v));
    }
}

/// One EF.DIR record, and the same bytes as a transparent EF.DIR.
pub fn efdir(data: &[u8]) {
    if let Ok(v) = ApplicationTemplate::from_record(data) {
        assert_eq!(
            ApplicationTemplate::from_record(&v.to_record()).ok(),
            Some(v)
        );
    }
    if let Ok(all) = ApplicationTemplate::from_transparent(data) {
        let bytes: Vec<u8> = all
            .iter()
            .flat_map(ApplicationTemplate::to_record)
            .collect();
        assert_eq!(
            ApplicationTemplate::from_transparent(&bytes).ok(),
            Some(all)
        );
    }
}

/// Token settings record.
pub fn token_settings(data: &[u8]) {
    if let Ok(v) = TokenSettings::from_bytes(data) {
        let bytes = v.to_bytes().ok();
        assert_eq!(
            bytes.and_then(|b| TokenSettings::from_bytes(&b).ok()),
            Some(v)
        );
    }
}

/// Feitian attribute stream.
pub fn feitian_attributes(data: &[u8]) {
    let s = feitian::parse_attributes(data);
    // Typed accessors must not panic either.
    let _ = (
        s.label(),
        s.key_handle(),
        s.bool(feitian::cka::SIGN),
        s.modulus_bits(),
    );
    if let Ok(bytes) = feitian::encode_attributes(&s.attributes) {
        let again = feitian::parse_attributes(&bytes);
        assert!(!again.truncated);
        assert_eq!(again.attributes, s.attributes);
    }
}

/// Feitian containermap (and the index EF, which has the same fixed-record shape).
pub fn feitian_containermap(data: &[u8]) {
    if let Ok(m) = feitian::parse_containermap(data) {
        let size = data
            .len()
            .max(feitian::CMAP_HEADER_LEN + 24 * (m.records.len() + 1));
        let bytes = m.to_file(size).ok();
        assert_eq!(
            bytes.and_then(|b| feitian::parse_containermap(&b).ok()),
            Some(m)
        );
    }
    if let Ok(recs) = feitian::parse_index(data) {
        for r in recs {
            let _ = (r.kind(), r.object_name(), r.name_str());
            if let Ok(b) = r.to_bytes() {
                assert_eq!(feitian::IndexRecord::from_bytes(&b).ok(), Some(r));
            }
        }
    }
    let _ = feitian::parse_token_label(data);
}

/// Every entry point, for a single input (used by the smoke test).
pub fn all(data: &[u8]) {
    odf(data);
    tokeninfo(data);
    aodf(data);
    prkdf(data);
    pukdf(data);
    cdf(data);
    dodf(data);
    efdir(data);
    token_settings(data);
    feitian_attributes(data);
    feitian_containermap(data);
}

#[cfg(test)]
mod tests {
    use super::all;

    /// Deterministic smoke test: mutated versions of valid inputs must not panic any entry point.
    #[test]
    fn smoke_no_panics() {
        let seeds: Vec<Vec<u8>> = vec![
            vec![],
            vec![0x30, 0x00],
            vec![
                0xA0, 0x0A, 0x30, 0x08, 0x04, 0x06, 0x3F, 0x00, 0x50, 0x15, 0x44, 0x02,
            ],
            crate::settings::TokenSettings::default()
                .to_file(32)
                .unwrap_or_default(),
            vec![0x61, 0x06, 0x4F, 0x01, 0xA0, 0x51, 0x01, 0x3F],
            vec![
                0x30, 0x0D, 0x30, 0x00, 0x30, 0x03, 0x04, 0x01, 0x01, 0xA1, 0x04, 0x30, 0x02, 0x03,
                0x00,
            ],
            crate::asn1::aodf::tests::user_pin_entry(),
            crate::asn1::prkdf::tests::rsa_entry(),
            crate::asn1::prkdf::tests::ec_entry(),
        ];
        let mut state: u32 = 0x1234_5678;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        for seed in &seeds {
            all(seed);
            let mut v = seed.clone();
            for round in 0..3000 {
                if round % 8 == 0 {
                    v = seed.clone();
                }
                let n = next();
                match n % 4 {
                    0 if !v.is_empty() => {
                        let i = (next() as usize) % v.len();
                        v[i] = next() as u8;
                    }
                    1 => v.push(next() as u8),
                    2 if !v.is_empty() => {
                        v.truncate((next() as usize) % v.len());
                    }
                    _ => {
                        let i = if v.is_empty() {
                            0
                        } else {
                            (next() as usize) % v.len()
                        };
                        v.insert(i, next() as u8);
                    }
                }
                all(&v);
            }
        }
    }

    /// Writes the hand-built test vectors as seed corpora for the fuzz targets:
    /// `PKCS15_FUZZ_SEEDS=../../fuzz/corpus cargo test -p pkcs15 -- --ignored write_fuzz_seeds`
    /// (the path is relative to `crates/pkcs15`; the default is `../../fuzz/corpus`).
    #[test]
    #[ignore = "writes files; run on demand to seed fuzz/corpus"]
    fn write_fuzz_seeds() {
        use crate::asn1::{aodf, cdf, dodf, efdir, odf, prkdf, pukdf, tokeninfo};
        let dir = std::env::var("PKCS15_FUZZ_SEEDS").unwrap_or_else(|_| "../../fuzz/corpus".into());
        let mut cmap = vec![0u8; 32];
        cmap.extend([0x20, 0xA0, 0, 0, 0x20, 0x80, 0, 0]);
        cmap.resize(1024, 0);
        let attrs = crate::feitian::encode_attributes(&[
            crate::feitian::Attribute {
                ty: crate::feitian::cka::LABEL,
                value: b"k".to_vec(),
            },
            crate::feitian::Attribute {
                ty: crate::feitian::cka::VENDOR_KEY_HANDLE,
                value: vec![0x20, 0xA0, 0, 0],
            },
        ])
        .unwrap_or_default();
        let seeds: Vec<(&str, Vec<u8>)> = vec![
            ("pkcs15_odf", odf::tests::opensc_like_odf()),
            ("pkcs15_tokeninfo", tokeninfo::tests::opensc_like()),
            ("pkcs15_aodf", aodf::tests::user_pin_entry()),
            (
                "pkcs15_prkdf",
                [prkdf::tests::rsa_entry(), prkdf::tests::ec_entry()].concat(),
            ),
            ("pkcs15_pukdf", pukdf::tests::rsa_pub_entry()),
            ("pkcs15_cdf", cdf::tests::cert_entry()),
            ("pkcs15_dodf", dodf::tests::data_entry()),
            ("pkcs15_efdir", efdir::tests::record()),
            (
                "pkcs15_token_settings",
                crate::settings::TokenSettings::default()
                    .to_file(32)
                    .unwrap_or_default(),
            ),
            ("feitian_attributes", attrs),
            ("feitian_containermap", cmap),
        ];
        for (target, bytes) in seeds {
            let d = std::path::Path::new(&dir).join(target);
            std::fs::create_dir_all(&d).expect("create corpus dir");
            std::fs::write(d.join("seed-handbuilt"), bytes).expect("write seed");
        }
    }
}
