//! Private-key import through the built `.so` (`C_CreateObject`): an EC P-256 private key and
//! its public key, CKM_ECDSA signatures verified with p256, and key usage honoured: written at
//! import, reported by `C_GetAttributeValue` (also in a new process, re-read from the card),
//! enforced by `C_SignInit`/`C_DecryptInit` (`CKR_KEY_FUNCTION_NOT_PERMITTED`).
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use sha2::{Digest, Sha256};

const P256_OID: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const CHILD_ENV: &str = "EPASS2003_KEY_IMPORT_CHILD_STATE";

fn octet_string(v: &[u8]) -> Vec<u8> {
    let mut o = vec![0x04, v.len() as u8];
    o.extend_from_slice(v);
    o
}

fn ec_private(sk: &p256::SecretKey, id: u8, usage: &[Attribute]) -> Vec<Attribute> {
    let mut t = vec![
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::EC),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Label(format!("ec {id}").into_bytes()),
        Attribute::Id(vec![id]),
        Attribute::EcParams(P256_OID.to_vec()),
        Attribute::Value(sk.to_bytes().to_vec()),
    ];
    t.extend_from_slice(usage);
    t
}

fn find_private(s: &Session, id: u8) -> ObjectHandle {
    let v = s
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Id(vec![id]),
        ])
        .unwrap();
    assert_eq!(v.len(), 1, "one private key with id {id}");
    v[0]
}

/// (CKA_SIGN, CKA_DECRYPT, CKA_UNWRAP, CKA_DERIVE)
fn usage(s: &Session, k: ObjectHandle) -> (bool, bool, bool, bool) {
    let a = s
        .get_attributes(
            k,
            &[
                AttributeType::Sign,
                AttributeType::Decrypt,
                AttributeType::Unwrap,
                AttributeType::Derive,
            ],
        )
        .unwrap();
    let mut u = (None, None, None, None);
    for x in a {
        match x {
            Attribute::Sign(v) => u.0 = Some(v),
            Attribute::Decrypt(v) => u.1 = Some(v),
            Attribute::Unwrap(v) => u.2 = Some(v),
            Attribute::Derive(v) => u.3 = Some(v),
            _ => {}
        }
    }
    (u.0.unwrap(), u.1.unwrap(), u.2.unwrap(), u.3.unwrap())
}

/// What every process must see on the card the parent test leaves behind.
fn check_usage_on(s: &Session) {
    assert_eq!(usage(s, find_private(s, 1)), (true, false, false, false));
    assert_eq!(usage(s, find_private(s, 2)), (false, false, false, true));
    assert_eq!(usage(s, find_private(s, 3)), (false, true, false, false));
    assert_eq!(usage(s, find_private(s, 4)), (true, false, false, false));
    let data = [0x11u8; 32];
    assert_eq!(
        rv(s.sign(&Mechanism::Ecdsa, find_private(s, 2), &data)),
        RvError::KeyFunctionNotPermitted
    );
    assert_eq!(
        rv(s.sign(&Mechanism::Sha256RsaPkcs, find_private(s, 3), &data)),
        RvError::KeyFunctionNotPermitted
    );
    assert_eq!(
        rv(s.decrypt(&Mechanism::RsaPkcs, find_private(s, 4), &[0u8; 128])),
        RvError::KeyFunctionNotPermitted
    );
    s.sign(&Mechanism::Ecdsa, find_private(s, 1), &data)
        .unwrap();
}

#[test]
fn ec_and_rsa_import_usage_honoured() {
    let dir = tempdir();
    let file = dir.path().join("card.state");
    let ctx = load(&[&file]);
    let slot = ctx.get_slots_with_token().unwrap()[0];
    personalise(&ctx, slot);
    let s = user_session(&ctx, slot);

    // EC P-256, sign only: C_CreateObject private key, then the public key (as pk12util does).
    let sk = p256::SecretKey::random(&mut rsa::rand_core::OsRng);
    let point = sk.public_key().to_encoded_point(false).as_bytes().to_vec();
    let k1 = s
        .create_object(&ec_private(&sk, 1, &[Attribute::Sign(true)]))
        .unwrap();
    let pubk = s
        .create_object(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::EC),
            Attribute::Token(true),
            Attribute::Label(b"ec 1".to_vec()),
            Attribute::Id(vec![1]),
            Attribute::EcParams(P256_OID.to_vec()),
            Attribute::EcPoint(octet_string(&point)),
        ])
        .unwrap();
    let pubs = s
        .find_objects(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::Id(vec![1]),
        ])
        .unwrap();
    assert_eq!(pubs, vec![pubk], "one public key object for the pair");
    let a = s
        .get_attributes(
            k1,
            &[
                AttributeType::KeyType,
                AttributeType::EcParams,
                AttributeType::EcPoint,
                AttributeType::Local,
                AttributeType::Value,
            ],
        )
        .unwrap();
    assert!(a.contains(&Attribute::KeyType(KeyType::EC)));
    assert!(a.contains(&Attribute::EcParams(P256_OID.to_vec())));
    assert!(a.contains(&Attribute::EcPoint(octet_string(&point))));
    assert!(a.contains(&Attribute::Local(false)));
    assert!(
        !a.iter().any(|x| matches!(x, Attribute::Value(_))),
        "d is sensitive"
    );
    // CKM_ECDSA over a hash, verified with p256 and with C_Verify on the public key.
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap();
    let msg = b"signed with an imported EC key";
    let hash = Sha256::digest(msg);
    let sig = s.sign(&Mechanism::Ecdsa, k1, &hash).unwrap();
    vk.verify_prehash(&hash, &p256::ecdsa::Signature::from_slice(&sig).unwrap())
        .unwrap();
    let sig2 = s.sign(&Mechanism::EcdsaSha256, k1, msg).unwrap();
    vk.verify_prehash(&hash, &p256::ecdsa::Signature::from_slice(&sig2).unwrap())
        .unwrap();
    s.verify(&Mechanism::EcdsaSha256, pubk, msg, &sig2).unwrap();

    // EC, derive only: signing is refused.
    let sk2 = p256::SecretKey::random(&mut rsa::rand_core::OsRng);
    s.create_object(&ec_private(
        &sk2,
        2,
        &[Attribute::Sign(false), Attribute::Derive(true)],
    ))
    .unwrap();
    // EC keys cannot decrypt or unwrap.
    for bad in [Attribute::Decrypt(true), Attribute::Unwrap(true)] {
        assert_eq!(
            rv(s.create_object(&ec_private(&sk2, 5, &[bad]))),
            RvError::TemplateInconsistent
        );
    }
    // Bad EC templates.
    let mut other_curve = ec_private(&sk2, 5, &[]);
    other_curve[7] = Attribute::EcParams(vec![
        0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22, // secp384r1
    ]);
    assert_eq!(
        rv(s.create_object(&other_curve)),
        RvError::AttributeValueInvalid
    );
    let mut zero = ec_private(&sk2, 5, &[]);
    zero[8] = Attribute::Value(vec![0; 32]);
    assert_eq!(rv(s.create_object(&zero)), RvError::AttributeValueInvalid);
    let mut wrong_point = ec_private(&sk2, 5, &[]);
    wrong_point.push(Attribute::EcPoint(octet_string(&point)));
    assert_eq!(
        rv(s.create_object(&wrong_point)),
        RvError::TemplateInconsistent
    );
    let mut no_value = ec_private(&sk2, 5, &[]);
    no_value.remove(8);
    assert_eq!(rv(s.create_object(&no_value)), RvError::TemplateIncomplete);

    // RSA, decrypt only (no unwrap) and sign only.
    let mut rng = rsa::rand_core::OsRng;
    use rsa::traits::{PrivateKeyParts, PublicKeyParts};
    let rsa_key = rsa::RsaPrivateKey::new(&mut rng, 1024).unwrap();
    let rsa_template = |id: u8, usage: &[Attribute]| {
        let mut t = vec![
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(KeyType::RSA),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Label(format!("rsa {id}").into_bytes()),
            Attribute::Id(vec![id]),
            Attribute::Modulus(rsa_key.n().to_bytes_be()),
            Attribute::PublicExponent(rsa_key.e().to_bytes_be()),
            Attribute::PrivateExponent(rsa_key.d().to_bytes_be()),
        ];
        t.extend_from_slice(usage);
        t
    };
    let k3 = s
        .create_object(&rsa_template(
            3,
            &[
                Attribute::Sign(false),
                Attribute::Decrypt(true),
                Attribute::Unwrap(false),
            ],
        ))
        .unwrap();
    let ct = rsa_key
        .to_public_key()
        .encrypt(&mut rng, rsa::Pkcs1v15Encrypt, b"secret")
        .unwrap();
    assert_eq!(
        s.decrypt(&Mechanism::RsaPkcs, k3, &ct).unwrap(),
        b"secret".to_vec()
    );
    s.create_object(&rsa_template(
        4,
        &[Attribute::Sign(true), Attribute::Decrypt(false)],
    ))
    .unwrap();
    check_usage_on(&s);
    drop(s);
    // C_Finalize releases the state file's lock (dropping the context does not finalize).
    ctx.finalize().unwrap();

    // A new process re-reads everything from the card's state file.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_sees_the_same_usage",
            "--nocapture",
        ])
        .env(CHILD_ENV, &file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("1 passed"),
        "child process: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("child checked"), "the child ran: {text}");
}

/// Run by `ec_and_rsa_import_usage_honoured` in a new process; a no-op otherwise.
#[test]
fn child_process_sees_the_same_usage() {
    let Some(file) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let file = std::path::PathBuf::from(file);
    let ctx = load(&[&file]);
    let slot = ctx.get_slots_with_token().unwrap()[0];
    let s = user_session(&ctx, slot);
    check_usage_on(&s);
    println!("child checked");
}
