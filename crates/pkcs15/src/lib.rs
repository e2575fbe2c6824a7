//! On-card objects: PKCS#15 as OpenSC lays it out on an ePass2003, and tokens personalised by
//! Feitian's own middleware.
//!
//! * [`asn1`]: the PKCS#15 DER files (ODF, TokenInfo, AODF, PrKDF, PuKDF, CDF, DODF, EF.DIR),
//!   each as Rust types with strict `from_der` and DER `to_der`.
//! * [`settings`]: the project's own token-settings record (auth timeout, PIN policy, change
//!   counter), stored in an EF OpenSC does not look at (see `docs/token-settings.md`).
//! * [`feitian`]: readers for the Feitian-middleware ("ENTERSAFE-ESPK") layout: the `6F01` index,
//!   PKCS#11 attribute streams and the `containermap`.
//! * [`backend`]: the object-level interface the PKCS#11 layer uses (crate `token-backend`,
//!   re-exported here under its old path).
//! * [`card`]: the ePass2003 implementation of [`backend::TokenBackend`] for OpenSC's PKCS#15
//!   layout (read and write), with pull-safe write ordering and a directory cache.
//!
//! The parsers in `asn1`, `settings` and `feitian` are pure functions over byte slices; they never
//! talk to a card.
#![forbid(unsafe_code)]

pub mod asn1;
pub use token_backend as backend;
pub mod card;
pub mod error;
pub mod espk;
pub mod feitian;
pub mod settings;

#[doc(hidden)]
pub mod fuzzing;

pub use error::{Error, Result};

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use crate::asn1::odf::{Odf, OdfEntry, OdfKind, OdfRecord};
    use crate::asn1::{aodf::Aodf, prkdf::Prkdf, Path};

    /// Walks a hand-built (not captured) OpenSC-style image: ODF → AODF and PrKDF, and checks the
    /// cross-references the token layer relies on (key authId → PIN, paths under 3F00/5015).
    #[test]
    fn cross_file_references() {
        let odf = Odf {
            entries: [(OdfKind::AuthObjects, 0x01), (OdfKind::PrivateKeys, 0x02)]
                .into_iter()
                .map(|(kind, n)| {
                    OdfRecord::Known(OdfEntry {
                        kind,
                        path: Path::new([0x3F, 0x00, 0x50, 0x15, 0x44, n]),
                    })
                })
                .collect(),
        };
        let odf = Odf::from_der(&odf.to_file(512).unwrap()).unwrap();
        assert_eq!(odf.paths(OdfKind::AuthObjects).count(), 1);

        let mut aodf_file = crate::asn1::aodf::tests::user_pin_entry();
        aodf_file.resize(0x1300, 0);
        let mut prkdf_file = crate::asn1::prkdf::tests::rsa_entry();
        prkdf_file.extend(crate::asn1::prkdf::tests::ec_entry());
        prkdf_file.resize(1024, 0);

        let aodf = Aodf::from_der(&aodf_file).unwrap();
        let prkdf = Prkdf::from_der(&prkdf_file).unwrap();
        let pin = aodf.pins().next().unwrap();
        for key in prkdf.keys() {
            assert_eq!(key.common.auth_id.as_deref(), Some(pin.auth_id.as_slice()));
            let path = match &key.kind {
                crate::asn1::prkdf::PrivateKeyKind::Rsa(a) => a.value.path(),
                crate::asn1::prkdf::PrivateKeyKind::Ec(a) => a.value.path(),
            }
            .unwrap();
            assert_eq!(&path.path[..4], &[0x3F, 0x00, 0x50, 0x15]);
            assert_eq!(path.path[4], 0x29, "logical private-key FID, not hooked");
            assert_eq!(u32::from(path.path[5]), key.key.key_reference.unwrap());
        }
    }
}
