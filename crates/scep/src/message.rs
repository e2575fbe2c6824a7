//! pkiMessage (RFC 8894 §3): a PKCSReq built from a caller's CSR (enveloped to the CA/RA,
//! signed by the requester's key through [`Signer`]), and a CertRep read back (signature
//! checked against the CA/RA certificate, transactionID and nonce matched, the issued
//! certificates decrypted through [`Decryptor`]).
//!
//! The key operations are the caller's: on a card the private key never leaves it, so this
//! module only asks for an RSA PKCS#1 v1.5 signature and for the decryption of one
//! content-encryption key.

use crate::attrs::{MessageType, ScepAttrs};
use crate::cacert::{certs_of, CaCerts};
use crate::caps::{Cipher, Digest};
use crate::status::PkiStatus;
use crate::Error;
use cms::builder::{
    ContentEncryptionAlgorithm, EnvelopedDataBuilder, KeyEncryptionInfo,
    KeyTransRecipientInfoBuilder,
};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::enveloped_data::{
    EncryptedContentInfo, EnvelopedData, OriginatorInfo, RecipientIdentifier, RecipientInfo,
    RecipientInfos,
};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::db::rfc5911::{ID_CONTENT_TYPE, ID_DATA, ID_ENVELOPED_DATA, ID_SIGNED_DATA};
use const_oid::db::rfc5912::{ID_SHA_1, ID_SHA_256, ID_SHA_512, RSA_ENCRYPTION};
use const_oid::ObjectIdentifier;
use der::asn1::{OctetString, SetOfVec};
use der::{Any, AnyRef, Decode, Encode, Sequence};
use rand_core::CryptoRngCore;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::{Attribute, Attributes};
use x509_cert::name::Name;
use x509_cert::Certificate;
use zeroize::Zeroizing;

/// id-messageDigest (RFC 5652 §11.2).
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");

/// The requester's key, used to sign the pkiMessage.
pub trait Signer {
    /// The certificate that identifies the signer: for a new key, a self-signed certificate
    /// over the CSR's key and subject (RFC 8894 §2.3); for a renewal, the old certificate.
    fn certificate(&self) -> &Certificate;
    /// RSASSA-PKCS1-v1_5 signature of `data` hashed with `digest`.
    fn sign(&self, digest: Digest, data: &[u8]) -> Result<Vec<u8>, Error>;
}

/// The requester's key, used to decrypt the CertRep's content-encryption key.
pub trait Decryptor {
    /// RSAES-PKCS1-v1_5 decryption of `encrypted_key`.
    fn decrypt_key(&self, encrypted_key: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error>;
}

/// A request ready to send, and what its reply must match.
#[derive(Debug, Clone)]
pub struct Request {
    /// The DER pkiMessage (a ContentInfo of SignedData).
    pub der: Vec<u8>,
    /// The request's SCEP attributes (transactionID, senderNonce).
    pub attrs: ScepAttrs,
}

/// What a CertRep says.
#[derive(Debug, Clone)]
pub enum Reply {
    /// SUCCESS: the certificates of the degenerate certs-only SignedData (the issued one and
    /// whatever chain the CA added).
    Issued(Vec<Certificate>),
    /// PENDING: the CA holds the request; poll with this transactionID.
    Pending {
        /// The transactionID to poll with.
        transaction_id: String,
    },
}

fn not_scep(what: &str) -> impl Fn(der::Error) -> Error + '_ {
    move |e| Error::NotScep(format!("{what}: {e}"))
}

fn enc_err(e: der::Error) -> Error {
    Error::NotScep(format!("encoding the request: {e}"))
}

fn digest_oid(d: Digest) -> ObjectIdentifier {
    match d {
        Digest::Sha512 => ID_SHA_512,
        Digest::Sha256 => ID_SHA_256,
        Digest::Sha1 => ID_SHA_1,
    }
}

fn digest_from_oid(oid: &ObjectIdentifier) -> Option<Digest> {
    [Digest::Sha512, Digest::Sha256, Digest::Sha1]
        .into_iter()
        .find(|d| digest_oid(*d) == *oid)
}

/// Hash `data` with `d`.
pub fn hash(d: Digest, data: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    match d {
        Digest::Sha512 => sha2::Sha512::digest(data).to_vec(),
        Digest::Sha256 => sha2::Sha256::digest(data).to_vec(),
        Digest::Sha1 => sha1::Sha1::digest(data).to_vec(),
    }
}

/// The PKCS#1 v1.5 signature scheme (DigestInfo prefix) for `d`.
pub fn pkcs1_scheme(d: Digest) -> Pkcs1v15Sign {
    match d {
        Digest::Sha512 => Pkcs1v15Sign::new::<sha2::Sha512>(),
        Digest::Sha256 => Pkcs1v15Sign::new::<sha2::Sha256>(),
        Digest::Sha1 => Pkcs1v15Sign::new::<sha1::Sha1>(),
    }
}

pub(crate) fn rsa_key(c: &Certificate) -> Result<RsaPublicKey, Error> {
    let spki = &c.tbs_certificate.subject_public_key_info;
    if spki.algorithm.oid != RSA_ENCRYPTION {
        return Err(Error::NoCommonAlgorithm(format!(
            "the certificate of {} has a key of type {}, not RSA",
            c.tbs_certificate.subject, spki.algorithm.oid
        )));
    }
    let der = spki.to_der().map_err(enc_err)?;
    use rsa::pkcs8::DecodePublicKey;
    RsaPublicKey::from_public_key_der(&der)
        .map_err(|e| Error::NotScep(format!("RSA key of {}: {e}", c.tbs_certificate.subject)))
}

pub(crate) fn issuer_and_serial(c: &Certificate) -> IssuerAndSerialNumber {
    IssuerAndSerialNumber {
        issuer: c.tbs_certificate.issuer.clone(),
        serial_number: c.tbs_certificate.serial_number.clone(),
    }
}

fn attribute(oid: ObjectIdentifier, value: Any) -> Result<Attribute, Error> {
    let mut values = SetOfVec::new();
    values.insert(value).map_err(enc_err)?;
    Ok(Attribute { oid, values })
}

/// The transactionID RFC 8894 §3.2.1.1 suggests: a hash of the public key, here the
/// upper-case hex SHA-256 of the request's SubjectPublicKeyInfo DER.
pub fn transaction_id(csr_der: &[u8]) -> Result<String, Error> {
    let csr = CsrRef::from_der(csr_der).map_err(not_scep("the CSR"))?;
    let spki = csr.info.public_key.to_der().map_err(enc_err)?;
    Ok(hex::encode_upper(hash(Digest::Sha256, &spki)))
}

/// A PKCS#10 request read in place: its attributes hold the challenge password, so they are
/// borrowed from the caller's buffer, never copied into memory this crate cannot wipe.
#[derive(Sequence)]
struct CsrRef<'a> {
    info: CsrInfoRef<'a>,
    algorithm: AnyRef<'a>,
    signature: AnyRef<'a>,
}

/// See [`CsrRef`].
#[derive(Sequence)]
struct CsrInfoRef<'a> {
    version: u8,
    subject: AnyRef<'a>,
    public_key: spki::SubjectPublicKeyInfoRef<'a>,
    attributes: AnyRef<'a>,
}

/// Build a PKCSReq pkiMessage for `csr_der` (a DER PKCS#10 request carrying the challenge
/// password if the CA wants one), enveloped to the CA's recipient certificate with `cipher`
/// and signed by `signer` with `digest`. AES only for now: DES and 3DES are refused as
/// [`Error::NoCommonAlgorithm`].
pub fn pkcs_req(
    csr_der: &[u8],
    ca: &CaCerts,
    cipher: Cipher,
    digest: Digest,
    signer: &dyn Signer,
    rng: &mut impl CryptoRngCore,
) -> Result<Request, Error> {
    request(
        MessageType::PkcsReq,
        csr_der,
        ca,
        cipher,
        digest,
        signer,
        rng,
    )
}

/// A PKCSReq or (RFC 8894 §3.3.1.2) a RenewalReq, which differs only in its messageType and
/// in being signed by the key of the certificate it renews, with that certificate.
pub fn request(
    kind: MessageType,
    csr_der: &[u8],
    ca: &CaCerts,
    cipher: Cipher,
    digest: Digest,
    signer: &dyn Signer,
    rng: &mut impl CryptoRngCore,
) -> Result<Request, Error> {
    if !matches!(kind, MessageType::PkcsReq | MessageType::RenewalReq) {
        return Err(Error::Unsupported(format!(
            "a request of messageType {}",
            kind.value()
        )));
    }
    let txid = transaction_id(csr_der)?;
    pki_message(kind, txid, csr_der, ca, cipher, digest, signer, rng)
}

/// IssuerAndSubject (RFC 8894 §3.3.3): what a CertPoll asks about, the CA's name and the
/// subject of the pending request.
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
pub struct IssuerAndSubject {
    /// The issuer's name (the CA certificate's subject).
    pub issuer: Name,
    /// The subject of the request being polled.
    pub subject: Name,
}

/// A CertPoll (RFC 8894 §3.3.3, GetCertInitial in older drafts): asks whether the request
/// with `transaction_id` (the CA answered PENDING) was issued. It must be signed by the same
/// key and certificate as the request it polls; it carries a fresh senderNonce.
#[allow(clippy::too_many_arguments)]
pub fn cert_poll(
    transaction_id: &str,
    subject: &Name,
    ca: &CaCerts,
    cipher: Cipher,
    digest: Digest,
    signer: &dyn Signer,
    rng: &mut impl CryptoRngCore,
) -> Result<Request, Error> {
    let content = IssuerAndSubject {
        issuer: ca.ca().tbs_certificate.subject.clone(),
        subject: subject.clone(),
    }
    .to_der()
    .map_err(enc_err)?;
    pki_message(
        MessageType::CertPoll,
        transaction_id.to_string(),
        &content,
        ca,
        cipher,
        digest,
        signer,
        rng,
    )
}

/// A pkiMessage of `kind`: `content` enveloped to the CA's recipient, signed by `signer`
/// with the SCEP attributes (a fresh 16-byte senderNonce).
#[allow(clippy::too_many_arguments)]
fn pki_message(
    kind: MessageType,
    transaction_id: String,
    content: &[u8],
    ca: &CaCerts,
    cipher: Cipher,
    digest: Digest,
    signer: &dyn Signer,
    rng: &mut impl CryptoRngCore,
) -> Result<Request, Error> {
    let mut nonce = [0u8; 16];
    rng.fill_bytes(&mut nonce);
    let attrs = ScepAttrs {
        message_type: Some(kind),
        transaction_id: Some(transaction_id),
        sender_nonce: Some(nonce.to_vec()),
        ..Default::default()
    };
    let enveloped = envelope(content, ca.recipient(), cipher, rng)?;
    let der = sign(&enveloped, &attrs, digest, signer)?;
    Ok(Request { der, attrs })
}

/// A degenerate certs-only SignedData (as a DER ContentInfo), what a CA envelopes in a
/// SUCCESS CertRep (RFC 8894 §3.3.2): built by the test CA and this module's tests.
#[cfg(any(test, feature = "testca"))]
pub(crate) fn certs_only(certs: impl IntoIterator<Item = Certificate>) -> Result<Vec<u8>, Error> {
    let mut set = SetOfVec::new();
    for c in certs {
        set.insert(CertificateChoices::Certificate(c))
            .map_err(enc_err)?;
    }
    ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(&SignedData {
            version: CmsVersion::V1,
            digest_algorithms: SetOfVec::new(),
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: ID_DATA,
                econtent: None,
            },
            certificates: Some(CertificateSet(set)),
            crls: None,
            signer_infos: SignerInfos(SetOfVec::new()),
        })
        .map_err(enc_err)?,
    }
    .to_der()
    .map_err(enc_err)
}

/// EnvelopedData (as a DER ContentInfo) of `content` to `recipient`.
pub(crate) fn envelope(
    content: &[u8],
    recipient: &Certificate,
    cipher: Cipher,
    rng: &mut impl CryptoRngCore,
) -> Result<Vec<u8>, Error> {
    let alg = match cipher {
        Cipher::Aes128Cbc => ContentEncryptionAlgorithm::Aes128Cbc,
        Cipher::Aes256Cbc => ContentEncryptionAlgorithm::Aes256Cbc,
        Cipher::Des3Cbc | Cipher::DesCbc => {
            return Err(Error::NoCommonAlgorithm(format!(
                "the CA offers {} only; this client sends AES-128-CBC or AES-256-CBC",
                cipher.name()
            )))
        }
    };
    let key = rsa_key(recipient)?;
    let build_err = |e: cms::builder::Error| Error::NotScep(format!("enveloping the CSR: {e}"));
    let mut key_rng = rand_core::OsRng;
    let ktri = KeyTransRecipientInfoBuilder::new(
        RecipientIdentifier::IssuerAndSerialNumber(issuer_and_serial(recipient)),
        KeyEncryptionInfo::Rsa(key),
        &mut key_rng,
    )
    .map_err(build_err)?;
    let mut b = EnvelopedDataBuilder::new(None, content, alg, None).map_err(build_err)?;
    b.add_recipient_info(ktri).map_err(build_err)?;
    let ed = b.build_with_rng(rng).map_err(build_err)?;
    ContentInfo {
        content_type: ID_ENVELOPED_DATA,
        content: Any::encode_from(&ed).map_err(enc_err)?,
    }
    .to_der()
    .map_err(enc_err)
}

/// SignedData (as a DER ContentInfo) over `content` (type data), with the SCEP attributes.
pub(crate) fn sign(
    content: &[u8],
    scep: &ScepAttrs,
    digest: Digest,
    signer: &dyn Signer,
) -> Result<Vec<u8>, Error> {
    let mut signed = SetOfVec::new();
    signed
        .insert(attribute(
            ID_CONTENT_TYPE,
            Any::encode_from(&ID_DATA).map_err(enc_err)?,
        )?)
        .map_err(enc_err)?;
    let md = OctetString::new(hash(digest, content)).map_err(enc_err)?;
    signed
        .insert(attribute(
            ID_MESSAGE_DIGEST,
            Any::encode_from(&md).map_err(enc_err)?,
        )?)
        .map_err(enc_err)?;
    for a in scep.to_attributes()? {
        signed.insert(a).map_err(enc_err)?;
    }
    // RFC 5652 §5.4: the signature covers the DER of the attributes as a SET OF.
    let tbs = signed.to_der().map_err(enc_err)?;
    let signature = signer.sign(digest, &tbs)?;
    let cert = signer.certificate();
    // A signer that signed with another key than its certificate's is caught here.
    rsa_key(cert)?
        .verify(pkcs1_scheme(digest), &hash(digest, &tbs), &signature)
        .map_err(|_| {
            Error::Key("the signature does not verify with the signer's certificate".into())
        })?;
    let digest_alg = AlgorithmIdentifierOwned {
        oid: digest_oid(digest),
        parameters: None,
    };
    let si = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(issuer_and_serial(cert)),
        digest_alg: digest_alg.clone(),
        signed_attrs: Some(signed),
        signature_algorithm: AlgorithmIdentifierOwned {
            oid: RSA_ENCRYPTION,
            parameters: Some(Any::null()),
        },
        signature: OctetString::new(signature).map_err(enc_err)?,
        unsigned_attrs: None,
    };
    let mut digest_algorithms = SetOfVec::new();
    digest_algorithms.insert(digest_alg).map_err(enc_err)?;
    let mut certs = SetOfVec::new();
    certs
        .insert(CertificateChoices::Certificate(cert.clone()))
        .map_err(enc_err)?;
    let mut signer_infos = SetOfVec::new();
    signer_infos.insert(si).map_err(enc_err)?;
    let sd = SignedData {
        version: CmsVersion::V1,
        digest_algorithms,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: Some(
                Any::encode_from(&OctetString::new(content).map_err(enc_err)?).map_err(enc_err)?,
            ),
        },
        certificates: Some(CertificateSet(certs)),
        crls: None,
        signer_infos: SignerInfos(signer_infos),
    };
    ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(&sd).map_err(enc_err)?,
    }
    .to_der()
    .map_err(enc_err)
}

pub(crate) fn same_cert_id(c: &Certificate, id: &IssuerAndSerialNumber) -> bool {
    c.tbs_certificate.issuer == id.issuer && c.tbs_certificate.serial_number == id.serial_number
}

/// Read a CertRep `body` answering `request`: its signature must verify with one of the
/// CA's certificates from GetCACert (a certificate the reply carries itself is not trusted
/// for that), its transactionID and recipientNonce must match, then SUCCESS gives the
/// issued certificates (decrypted through `decryptor`), FAILURE [`Error::Failure`], PENDING
/// [`Reply::Pending`].
pub fn parse_cert_rep(
    body: &[u8],
    request: &ScepAttrs,
    ca: &CaCerts,
    decryptor: &dyn Decryptor,
) -> Result<Reply, Error> {
    let ci = ContentInfo::from_der(body).map_err(not_scep("CertRep"))?;
    if ci.content_type != ID_SIGNED_DATA {
        return Err(Error::NotScep(format!(
            "CertRep content type {} is not signedData",
            ci.content_type
        )));
    }
    let sd: SignedData = ci
        .content
        .decode_as()
        .map_err(not_scep("CertRep signedData"))?;
    let si = match sd.signer_infos.0.as_slice() {
        [si] => si,
        _ => {
            return Err(Error::NotScep(format!(
                "CertRep has {} signers, not one",
                sd.signer_infos.0.len()
            )))
        }
    };
    let signer_cert = match &si.sid {
        SignerIdentifier::IssuerAndSerialNumber(id) => ca.all.iter().find(|c| same_cert_id(c, id)),
        SignerIdentifier::SubjectKeyIdentifier(_) => None,
    }
    .ok_or_else(|| {
        Error::NotScep("the CertRep is not signed by a certificate from GetCACert".into())
    })?;
    let content = sd
        .encap_content_info
        .econtent
        .as_ref()
        .map(|a| a.decode_as::<OctetString>())
        .transpose()
        .map_err(not_scep("CertRep content"))?;
    verify_signer_info(si, signer_cert, content.as_ref().map(|o| o.as_bytes()))?;
    let attrs = ScepAttrs::from_attributes(si.signed_attrs.iter().flat_map(|s| s.iter()))?;
    attrs.check_reply_to(request)?;
    match attrs.status {
        None => Err(Error::NotScep("the CertRep has no pkiStatus".into())),
        Some(PkiStatus::Failure) => {
            Err(Error::Failure(attrs.fail_info.ok_or_else(|| {
                Error::NotScep("the FAILURE CertRep has no failInfo".into())
            })?))
        }
        Some(PkiStatus::Pending) => Ok(Reply::Pending {
            transaction_id: attrs.transaction_id.unwrap_or_default(),
        }),
        Some(PkiStatus::Success) => {
            let content = content
                .ok_or_else(|| Error::NotScep("the SUCCESS CertRep has no content".into()))?;
            let inner = decrypt(content.as_bytes(), decryptor)?;
            let ci = ContentInfo::from_der(&inner).map_err(not_scep("the issued certificates"))?;
            if ci.content_type != ID_SIGNED_DATA {
                return Err(Error::NotScep(
                    "the issued certificates are not a certs-only SignedData".into(),
                ));
            }
            let certs: SignedData = ci
                .content
                .decode_as()
                .map_err(not_scep("the issued certificates"))?;
            let certs = certs_of(certs.certificates.as_ref());
            if certs.is_empty() {
                return Err(Error::NotScep(
                    "the SUCCESS CertRep carries no certificate".into(),
                ));
            }
            Ok(Reply::Issued(certs))
        }
    }
}

/// RFC 5652 §5.4 and §5.6: messageDigest equals the content's hash, and the signature over
/// the DER of the signed attributes verifies with `cert`'s key.
pub(crate) fn verify_signer_info(
    si: &SignerInfo,
    cert: &Certificate,
    content: Option<&[u8]>,
) -> Result<(), Error> {
    let digest = digest_from_oid(&si.digest_alg.oid)
        .ok_or_else(|| Error::NoCommonAlgorithm(format!("CertRep digest {}", si.digest_alg.oid)))?;
    let signed = si
        .signed_attrs
        .as_ref()
        .ok_or_else(|| Error::NotScep("the CertRep has no signed attributes".into()))?;
    let md = signed
        .iter()
        .find(|a| a.oid == ID_MESSAGE_DIGEST)
        .and_then(|a| a.values.iter().next())
        .map(|v| v.decode_as::<OctetString>())
        .transpose()
        .map_err(not_scep("CertRep messageDigest"))?
        .ok_or_else(|| Error::NotScep("the CertRep has no messageDigest".into()))?;
    if md.as_bytes() != hash(digest, content.unwrap_or_default()).as_slice() {
        return Err(Error::NotScep(
            "the CertRep's messageDigest does not match its content".into(),
        ));
    }
    let tbs = signed
        .to_der()
        .map_err(not_scep("CertRep signed attributes"))?;
    rsa_key(cert)?
        .verify(
            pkcs1_scheme(digest),
            &hash(digest, &tbs),
            si.signature.as_bytes(),
        )
        .map_err(|_| {
            Error::NotScep("the CertRep's signature does not verify with the CA certificate".into())
        })
}

/// Decrypt a DER ContentInfo of EnvelopedData: the key through `decryptor`, the content
/// here (AES-CBC, or the 3DES / DES-CBC some CAs still answer with).
pub(crate) fn decrypt(der: &[u8], decryptor: &dyn Decryptor) -> Result<Vec<u8>, Error> {
    use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
    let ci = ContentInfo::from_der(der).map_err(not_scep("CertRep envelope"))?;
    if ci.content_type != ID_ENVELOPED_DATA {
        return Err(Error::NotScep(format!(
            "CertRep content type {} is not envelopedData",
            ci.content_type
        )));
    }
    let ed = decode_enveloped(&ci.content)?;
    let ktri = ed
        .recip_infos
        .0
        .iter()
        .find_map(|r| match r {
            RecipientInfo::Ktri(k) if k.key_enc_alg.oid == RSA_ENCRYPTION => Some(k),
            _ => None,
        })
        .ok_or_else(|| {
            Error::NoCommonAlgorithm("the CertRep is not encrypted to an RSA key".into())
        })?;
    let eci = &ed.encrypted_content;
    let cipher = Cipher::from_oid(&eci.content_enc_alg.oid).ok_or_else(|| {
        Error::NoCommonAlgorithm(format!("CertRep cipher {}", eci.content_enc_alg.oid))
    })?;
    let iv = eci
        .content_enc_alg
        .parameters
        .as_ref()
        .map(|p| p.decode_as::<OctetString>())
        .transpose()
        .map_err(not_scep("CertRep cipher IV"))?
        .ok_or_else(|| Error::NotScep("the CertRep cipher has no IV".into()))?;
    let data = eci
        .encrypted_content
        .as_ref()
        .ok_or_else(|| Error::NotScep("the CertRep envelope has no content".into()))?
        .as_bytes();
    let key = decryptor.decrypt_key(ktri.enc_key.as_bytes())?;
    if key.len() != cipher.key_len() || iv.as_bytes().len() != cipher.block_len() {
        return Err(Error::NotScep(format!(
            "the CertRep's {} key or IV has the wrong length",
            cipher.name()
        )));
    }
    let pad_err = |_| Error::NotScep("the CertRep content does not decrypt".into());
    match cipher {
        Cipher::Aes128Cbc => cbc::Decryptor::<aes::Aes128>::new_from_slices(&key, iv.as_bytes())
            .map_err(|_| Error::NotScep("AES-128 key".into()))?
            .decrypt_padded_vec_mut::<Pkcs7>(data)
            .map_err(pad_err),
        Cipher::Aes256Cbc => cbc::Decryptor::<aes::Aes256>::new_from_slices(&key, iv.as_bytes())
            .map_err(|_| Error::NotScep("AES-256 key".into()))?
            .decrypt_padded_vec_mut::<Pkcs7>(data)
            .map_err(pad_err),
        // Sending DES is refused (see `envelope`), but a reply is read as the CA wrote it:
        // micromdm's scepserver 2.1.0 answers in single DES-CBC whatever the request used.
        Cipher::Des3Cbc => cbc::Decryptor::<des::TdesEde3>::new_from_slices(&key, iv.as_bytes())
            .map_err(|_| Error::NotScep("3DES key".into()))?
            .decrypt_padded_vec_mut::<Pkcs7>(data)
            .map_err(pad_err),
        Cipher::DesCbc => cbc::Decryptor::<des::Des>::new_from_slices(&key, iv.as_bytes())
            .map_err(|_| Error::NotScep("DES key".into()))?
            .decrypt_padded_vec_mut::<Pkcs7>(data)
            .map_err(pad_err),
    }
}

/// EnvelopedData as Go's PKCS#7 package (micromdm's scepserver and others built on it)
/// writes it: encryptedContent as a constructed `[0]` around one OCTET STRING, that is
/// `[0] EXPLICIT` where RFC 5652 has `[0] IMPLICIT`. Not DER, so [`EnvelopedData`] refuses
/// it; this mirror reads that form and nothing else.
#[derive(Sequence)]
struct ExplicitEnvelopedData {
    version: CmsVersion,
    #[asn1(
        context_specific = "0",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    originator_info: Option<OriginatorInfo>,
    recip_infos: RecipientInfos,
    encrypted_content: ExplicitEncryptedContentInfo,
    #[asn1(
        context_specific = "1",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    unprotected_attrs: Option<Attributes>,
}

/// See [`ExplicitEnvelopedData`].
#[derive(Sequence)]
struct ExplicitEncryptedContentInfo {
    content_type: ObjectIdentifier,
    content_enc_alg: AlgorithmIdentifierOwned,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    encrypted_content: Option<OctetString>,
}

/// The EnvelopedData of a ContentInfo's content, in the RFC 5652 form or in Go's.
fn decode_enveloped(content: &Any) -> Result<EnvelopedData, Error> {
    match content.decode_as::<EnvelopedData>() {
        Ok(ed) => Ok(ed),
        Err(e) => {
            let g: ExplicitEnvelopedData = content
                .decode_as()
                .map_err(|_| Error::NotScep(format!("CertRep envelope: {e}")))?;
            Ok(EnvelopedData {
                version: g.version,
                originator_info: g.originator_info,
                recip_infos: g.recip_infos,
                encrypted_content: EncryptedContentInfo {
                    content_type: g.encrypted_content.content_type,
                    content_enc_alg: g.encrypted_content.content_enc_alg,
                    encrypted_content: g.encrypted_content.encrypted_content,
                },
                unprotected_attrs: g.unprotected_attrs,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    //! The messages against themselves, with software keys: the request verifies and
    //! decrypts as a CA would read it; CertReps (built with this module's own SignedData and
    //! EnvelopedData, in the RFC 5652 DER form) read back as SUCCESS, FAILURE and PENDING.
    //! The real server's forms are in tests/real_server.rs.
    use super::*;
    use crate::status::FailInfo;
    use rsa::pkcs1v15::SigningKey;
    use rsa::pkcs8::EncodePublicKey;
    use rsa::signature::{SignatureEncoding, Signer as _};
    use rsa::{Pkcs1v15Encrypt, RsaPrivateKey};
    use sha2::Digest as _;
    use spki::SubjectPublicKeyInfoOwned;
    use std::str::FromStr;
    use x509_cert::builder::{Builder, CertificateBuilder, Profile};
    use x509_cert::name::Name;
    use x509_cert::request::{CertReq, CertReqInfo, Version};
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::time::Validity;

    struct Soft {
        key: RsaPrivateKey,
        cert: Certificate,
    }

    impl Soft {
        fn new(cn: &str) -> Soft {
            let key = RsaPrivateKey::new(&mut rand_core::OsRng, 1024).unwrap();
            let spki = SubjectPublicKeyInfoOwned::from_der(
                key.to_public_key().to_public_key_der().unwrap().as_bytes(),
            )
            .unwrap();
            let cert = CertificateBuilder::new(
                Profile::Root,
                SerialNumber::from(7u32),
                Validity::from_now(std::time::Duration::from_secs(600)).unwrap(),
                Name::from_str(&format!("CN={cn}")).unwrap(),
                spki,
                &SigningKey::<sha2::Sha256>::new(key.clone()),
            )
            .unwrap()
            .build::<rsa::pkcs1v15::Signature>()
            .unwrap();
            Soft { key, cert }
        }
        fn csr(&self) -> Vec<u8> {
            let info = CertReqInfo {
                version: Version::V1,
                subject: self.cert.tbs_certificate.subject.clone(),
                public_key: self.cert.tbs_certificate.subject_public_key_info.clone(),
                attributes: SetOfVec::new(),
            };
            let sig =
                SigningKey::<sha2::Sha256>::new(self.key.clone()).sign(&info.to_der().unwrap());
            CertReq {
                info,
                algorithm: AlgorithmIdentifierOwned {
                    oid: const_oid::db::rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
                    parameters: Some(Any::null()),
                },
                signature: der::asn1::BitString::from_bytes(&sig.to_vec()).unwrap(),
            }
            .to_der()
            .unwrap()
        }
        fn ca(&self) -> CaCerts {
            CaCerts::parse("application/x-x509-ca-cert", &self.cert.to_der().unwrap()).unwrap()
        }
    }

    impl Signer for Soft {
        fn certificate(&self) -> &Certificate {
            &self.cert
        }
        fn sign(&self, digest: Digest, data: &[u8]) -> Result<Vec<u8>, Error> {
            self.key
                .sign(pkcs1_scheme(digest), &hash(digest, data))
                .map_err(|e| Error::Key(e.to_string()))
        }
    }

    impl Decryptor for Soft {
        fn decrypt_key(&self, k: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
            self.key
                .decrypt(Pkcs1v15Encrypt, k)
                .map(Zeroizing::new)
                .map_err(|e| Error::Key(e.to_string()))
        }
    }

    /// A signer whose certificate is not its key's.
    struct Mismatched<'a>(&'a Soft, &'a Soft);
    impl Signer for Mismatched<'_> {
        fn certificate(&self) -> &Certificate {
            &self.1.cert
        }
        fn sign(&self, digest: Digest, data: &[u8]) -> Result<Vec<u8>, Error> {
            self.0.sign(digest, data)
        }
    }

    fn signed_data(der: &[u8]) -> SignedData {
        let ci = ContentInfo::from_der(der).unwrap();
        assert_eq!(ci.content_type, ID_SIGNED_DATA);
        ci.content.decode_as().unwrap()
    }

    fn econtent(sd: &SignedData) -> Vec<u8> {
        sd.encap_content_info
            .econtent
            .as_ref()
            .unwrap()
            .decode_as::<OctetString>()
            .unwrap()
            .as_bytes()
            .to_vec()
    }

    #[test]
    fn pkcs_req_verifies_and_decrypts_as_the_ca_reads_it() {
        let ca = Soft::new("CA");
        let me = Soft::new("me");
        let csr = me.csr();
        for (cipher, digest) in [
            (Cipher::Aes128Cbc, Digest::Sha256),
            (Cipher::Aes256Cbc, Digest::Sha512),
            (Cipher::Aes128Cbc, Digest::Sha1),
        ] {
            let req = pkcs_req(&csr, &ca.ca(), cipher, digest, &me, &mut rand_core::OsRng).unwrap();
            let sd = signed_data(&req.der);
            let si = &sd.signer_infos.0.as_slice()[0];
            let content = econtent(&sd);
            verify_signer_info(si, &me.cert, Some(&content)).unwrap();
            let attrs =
                ScepAttrs::from_attributes(si.signed_attrs.iter().flat_map(|s| s.iter())).unwrap();
            assert_eq!(attrs, req.attrs);
            assert_eq!(attrs.message_type, Some(MessageType::PkcsReq));
            let spki = me
                .cert
                .tbs_certificate
                .subject_public_key_info
                .to_der()
                .unwrap();
            assert_eq!(
                attrs.transaction_id,
                Some(hex::encode_upper(sha2::Sha256::digest(spki)))
            );
            assert_eq!(attrs.sender_nonce.as_ref().map(Vec::len), Some(16));
            assert_eq!(decrypt(&content, &ca).unwrap(), csr, "{cipher:?}");
            // Only the CA's key opens it.
            assert!(decrypt(&content, &me).is_err());
            // Another content does not match the signed messageDigest.
            let mut other = content.clone();
            other[40] ^= 1;
            assert!(verify_signer_info(si, &me.cert, Some(&other)).is_err());
            // Nor does the signature verify with another certificate.
            assert!(verify_signer_info(si, &ca.cert, Some(&content)).is_err());
        }
        let two = pkcs_req(
            &csr,
            &ca.ca(),
            Cipher::Aes128Cbc,
            Digest::Sha256,
            &me,
            &mut rand_core::OsRng,
        )
        .unwrap();
        let one = pkcs_req(
            &csr,
            &ca.ca(),
            Cipher::Aes128Cbc,
            Digest::Sha256,
            &me,
            &mut rand_core::OsRng,
        )
        .unwrap();
        assert_ne!(one.attrs.sender_nonce, two.attrs.sender_nonce);
    }

    #[test]
    fn des_and_wrong_keys_are_refused() {
        let ca = Soft::new("CA");
        let me = Soft::new("me");
        for c in [Cipher::Des3Cbc, Cipher::DesCbc] {
            let r = pkcs_req(
                &me.csr(),
                &ca.ca(),
                c,
                Digest::Sha256,
                &me,
                &mut rand_core::OsRng,
            );
            assert!(matches!(r, Err(Error::NoCommonAlgorithm(_))), "{c:?}");
        }
        let r = pkcs_req(
            &me.csr(),
            &ca.ca(),
            Cipher::Aes128Cbc,
            Digest::Sha256,
            &Mismatched(&me, &ca),
            &mut rand_core::OsRng,
        );
        assert!(matches!(r, Err(Error::Key(_))), "{r:?}");
        assert!(matches!(transaction_id(b"junk"), Err(Error::NotScep(_))));
    }

    /// A CertRep from `ca` answering `req` with `status`, carrying `issued` on SUCCESS.
    fn cert_rep(
        ca: &Soft,
        me: &Soft,
        req: &ScepAttrs,
        status: PkiStatus,
        issued: &Certificate,
    ) -> Vec<u8> {
        let attrs = ScepAttrs {
            message_type: Some(MessageType::CertRep),
            status: Some(status),
            fail_info: (status == PkiStatus::Failure).then_some(FailInfo::BadRequest),
            transaction_id: req.transaction_id.clone(),
            sender_nonce: Some(vec![1; 16]),
            recipient_nonce: req.sender_nonce.clone(),
        };
        let degenerate = certs_only([issued.clone()]).unwrap();
        let env = envelope(
            &degenerate,
            &me.cert,
            Cipher::Aes256Cbc,
            &mut rand_core::OsRng,
        )
        .unwrap();
        sign(&env, &attrs, Digest::Sha256, ca).unwrap()
    }

    #[test]
    fn cert_rep_success_failure_pending() {
        let ca = Soft::new("CA");
        let me = Soft::new("me");
        let req = pkcs_req(
            &me.csr(),
            &ca.ca(),
            Cipher::Aes128Cbc,
            Digest::Sha256,
            &me,
            &mut rand_core::OsRng,
        )
        .unwrap();
        let issued = Soft::new("issued").cert;
        let ok = cert_rep(&ca, &me, &req.attrs, PkiStatus::Success, &issued);
        match parse_cert_rep(&ok, &req.attrs, &ca.ca(), &me).unwrap() {
            Reply::Issued(c) => assert_eq!(c, vec![issued.clone()]),
            r => panic!("{r:?}"),
        }
        let failed = cert_rep(&ca, &me, &req.attrs, PkiStatus::Failure, &issued);
        assert!(matches!(
            parse_cert_rep(&failed, &req.attrs, &ca.ca(), &me),
            Err(Error::Failure(FailInfo::BadRequest))
        ));
        let pending = cert_rep(&ca, &me, &req.attrs, PkiStatus::Pending, &issued);
        match parse_cert_rep(&pending, &req.attrs, &ca.ca(), &me).unwrap() {
            Reply::Pending { transaction_id } => {
                assert_eq!(Some(transaction_id), req.attrs.transaction_id)
            }
            r => panic!("{r:?}"),
        }
        // Signed by someone else than the CA of GetCACert.
        let other = Soft::new("CA");
        let forged = cert_rep(&other, &me, &req.attrs, PkiStatus::Success, &issued);
        assert!(matches!(
            parse_cert_rep(&forged, &req.attrs, &ca.ca(), &me),
            Err(Error::NotScep(_))
        ));
        // An answer to another request.
        let req2 = pkcs_req(
            &me.csr(),
            &ca.ca(),
            Cipher::Aes128Cbc,
            Digest::Sha256,
            &me,
            &mut rand_core::OsRng,
        )
        .unwrap();
        assert!(matches!(
            parse_cert_rep(&ok, &req2.attrs, &ca.ca(), &me),
            Err(Error::NotScep(_))
        ));
        // Garbage.
        assert!(matches!(
            parse_cert_rep(b"\x30\x03\x02\x01\x00", &req.attrs, &ca.ca(), &me),
            Err(Error::NotScep(_))
        ));
    }
}
