//! A certificate written without CKA_ID finds its key (token layer on the emulated stack): the
//! key pair with the same public key gives its CKA_ID; otherwise the NSS derivation (SHA-1 of the
//! RSA modulus / of the uncompressed EC point). Keys generated without CKA_ID get the same
//! derivation.
#![allow(clippy::unwrap_used)]

use cryptoki_sys::*;
use epass2003_emu::{Card, CardOptions, Variant};
use sha1::{Digest, Sha1};
use std::sync::{Arc, Mutex};
use token::attr::{b, ul, AttrValue, Template};
use token::config::Config;
use token::mechanism::Mechanism;
use token::module::Module;
use token::readers::{EmulatorReader, Reader};

fn der(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    let n = body.len();
    if n < 0x80 {
        v.push(n as u8);
    } else if n < 0x100 {
        v.extend([0x81, n as u8]);
    } else {
        v.extend([0x82, (n >> 8) as u8, n as u8]);
    }
    v.extend_from_slice(body);
    v
}

/// A structurally valid X.509 v3 certificate for `spki` (the signature is not a real one: the
/// library does not verify certificates).
fn cert_for(spki: &[u8]) -> Vec<u8> {
    let alg = der(
        0x30,
        &[
            der(
                0x06,
                &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B],
            ),
            vec![0x05, 0x00],
        ]
        .concat(),
    );
    let name = der(
        0x30,
        &der(
            0x31,
            &der(
                0x30,
                &[der(0x06, &[0x55, 0x04, 0x03]), der(0x0C, b"test")].concat(),
            ),
        ),
    );
    let validity = der(
        0x30,
        &[der(0x17, b"250101000000Z"), der(0x17, b"350101000000Z")].concat(),
    );
    let tbs = der(
        0x30,
        &[
            der(0xA0, &der(0x02, &[2])),
            der(0x02, &[0x01, 0x23]),
            alg.clone(),
            name.clone(),
            validity,
            name,
            spki.to_vec(),
        ]
        .concat(),
    );
    der(0x30, &[tbs, alg, der(0x03, &[0, 1, 2, 3])].concat())
}

fn value(m: &Module, h: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE) -> Vec<u8> {
    match m
        .with_session(h, |t, hs| t.get_attributes(hs, o, &[ty]))
        .unwrap()
        .remove(0)
    {
        AttrValue::Value(v) => v,
        other => panic!("{other:?}"),
    }
}

fn create_cert(m: &Module, h: CK_SESSION_HANDLE, cert: &[u8]) -> CK_OBJECT_HANDLE {
    let t = Template(vec![
        (CKA_CLASS, ul(CKO_CERTIFICATE)),
        (CKA_TOKEN, b(true)),
        (CKA_VALUE, cert.to_vec()),
    ]);
    m.with_session(h, |tok, hs| tok.create_object(hs, h, &t))
        .unwrap()
}

#[test]
fn certificate_without_id_pairs_with_its_key() {
    let card = Arc::new(Mutex::new(Card::new_blank(
        Variant::Aes,
        CardOptions::default(),
    )));
    let readers: Vec<Box<dyn Reader>> =
        vec![Box::new(EmulatorReader::in_memory("ids", card.clone()))];
    let m = Module::with_readers(Config::default(), readers);
    m.with_token(0, |t, _| t.init_token(b"12345678", "ids"))
        .unwrap();
    let h = m
        .open_session(0, CKF_SERIAL_SESSION | CKF_RW_SESSION)
        .unwrap();
    m.with_session(h, |t, _| t.login(CKU_SO, b"12345678"))
        .unwrap();
    m.with_session(h, |t, _| t.init_pin(h, b"123456")).unwrap();
    m.with_session(h, |t, _| t.logout()).unwrap();
    m.with_session(h, |t, _| t.login(CKU_USER, b"123456"))
        .unwrap();

    // RSA, no CKA_ID: SHA-1 of the modulus (unchanged derivation).
    let pubt = Template(vec![(CKA_MODULUS_BITS, ul(1024)), (CKA_TOKEN, b(true))]);
    let prvt = Template(vec![(CKA_TOKEN, b(true)), (CKA_SIGN, b(true))]);
    let (rsa_pub, rsa_prv) = m
        .with_session(h, |t, hs| {
            t.generate_key_pair(
                hs,
                h,
                &Mechanism::new(CKM_RSA_PKCS_KEY_PAIR_GEN),
                &pubt,
                &prvt,
            )
        })
        .unwrap();
    let n = value(&m, h, rsa_pub, CKA_MODULUS);
    let rsa_id = value(&m, h, rsa_prv, CKA_ID);
    assert_eq!(rsa_id, Sha1::digest(&n).to_vec());

    // EC with a CKA_ID of its own.
    let pubt = Template(vec![
        (CKA_EC_PARAMS, token::crypto::P256_PARAMS.to_vec()),
        (CKA_TOKEN, b(true)),
    ]);
    let prvt = Template(vec![
        (CKA_TOKEN, b(true)),
        (CKA_SIGN, b(true)),
        (CKA_ID, vec![0xEC, 0x01]),
    ]);
    let (ec_pub, _) = m
        .with_session(h, |t, hs| {
            t.generate_key_pair(hs, h, &Mechanism::new(CKM_EC_KEY_PAIR_GEN), &pubt, &prvt)
        })
        .unwrap();
    // EC without CKA_ID: SHA-1 of the uncompressed point, as NSS derives it.
    let prvt = Template(vec![(CKA_TOKEN, b(true)), (CKA_SIGN, b(true))]);
    let (ec2_pub, _) = m
        .with_session(h, |t, hs| {
            t.generate_key_pair(hs, h, &Mechanism::new(CKM_EC_KEY_PAIR_GEN), &pubt, &prvt)
        })
        .unwrap();
    let point = token::crypto::unwrap_octet_string(&value(&m, h, ec2_pub, CKA_EC_POINT));
    assert_eq!(point.len(), 65);
    assert_eq!(value(&m, h, ec2_pub, CKA_ID), Sha1::digest(&point).to_vec());

    // Certificates without CKA_ID get their key's id, whatever it is.
    let rsa_cert = cert_for(&value(&m, h, rsa_pub, CKA_PUBLIC_KEY_INFO));
    let c = create_cert(&m, h, &rsa_cert);
    assert_eq!(value(&m, h, c, CKA_ID), rsa_id);
    let ec_cert = cert_for(&value(&m, h, ec_pub, CKA_PUBLIC_KEY_INFO));
    let c = create_cert(&m, h, &ec_cert);
    assert_eq!(value(&m, h, c, CKA_ID), vec![0xEC, 0x01]);
    assert_eq!(
        value(&m, h, c, CKA_CERTIFICATE_CATEGORY),
        ul(CK_CERTIFICATE_CATEGORY_TOKEN_USER),
        "paired with its private key"
    );

    // A certificate for a key that is not on the token: SHA-1 of its modulus.
    let other = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 1024).unwrap();
    let spki = {
        use rsa::pkcs8::EncodePublicKey;
        other
            .to_public_key()
            .to_public_key_der()
            .unwrap()
            .as_bytes()
            .to_vec()
    };
    let c = create_cert(&m, h, &cert_for(&spki));
    let other_n = {
        use rsa::traits::PublicKeyParts;
        other.n().to_bytes_be()
    };
    assert_eq!(value(&m, h, c, CKA_ID), Sha1::digest(&other_n).to_vec());
    // An explicit CKA_ID is kept.
    let t = Template(vec![
        (CKA_CLASS, ul(CKO_CERTIFICATE)),
        (CKA_TOKEN, b(true)),
        (CKA_ID, vec![9]),
        (CKA_VALUE, rsa_cert),
    ]);
    let c = m
        .with_session(h, |tok, hs| tok.create_object(hs, h, &t))
        .unwrap();
    assert_eq!(value(&m, h, c, CKA_ID), vec![9]);
}
