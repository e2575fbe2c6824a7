//! The SCEP authenticated attributes of a pkiMessage's SignerInfo (RFC 8894 §3.2.1):
//! messageType, pkiStatus, failInfo, senderNonce, recipientNonce, transactionID.

use crate::status::{FailInfo, PkiStatus};
use crate::Error;
use const_oid::ObjectIdentifier;
use der::asn1::{OctetString, PrintableStringRef, SetOfVec};
use der::{Any, Decode, Encode};
use x509_cert::attr::Attribute;

/// id-messageType.
pub const MESSAGE_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.2");
/// id-pkiStatus.
pub const PKI_STATUS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.3");
/// id-failInfo.
pub const FAIL_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.4");
/// id-senderNonce.
pub const SENDER_NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.5");
/// id-recipientNonce.
pub const RECIPIENT_NONCE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.6");
/// id-transactionID.
pub const TRANSACTION_ID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.7");

/// The messageType values (PrintableString decimal numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// "3" CertRep.
    CertRep,
    /// "17" RenewalReq.
    RenewalReq,
    /// "19" PKCSReq.
    PkcsReq,
    /// "20" CertPoll (GetCertInitial).
    CertPoll,
}

impl MessageType {
    /// The attribute's value.
    pub fn value(self) -> &'static str {
        match self {
            MessageType::CertRep => "3",
            MessageType::RenewalReq => "17",
            MessageType::PkcsReq => "19",
            MessageType::CertPoll => "20",
        }
    }
    /// Parse the attribute's value.
    pub fn parse(s: &str) -> Option<MessageType> {
        [
            MessageType::CertRep,
            MessageType::RenewalReq,
            MessageType::PkcsReq,
            MessageType::CertPoll,
        ]
        .into_iter()
        .find(|m| m.value() == s.trim())
    }
}

/// The SCEP attributes of one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScepAttrs {
    /// messageType.
    pub message_type: Option<MessageType>,
    /// pkiStatus (CertRep only).
    pub status: Option<PkiStatus>,
    /// failInfo (FAILURE only).
    pub fail_info: Option<FailInfo>,
    /// transactionID (a PrintableString).
    pub transaction_id: Option<String>,
    /// senderNonce (16 bytes).
    pub sender_nonce: Option<Vec<u8>>,
    /// recipientNonce (CertRep: the request's senderNonce).
    pub recipient_nonce: Option<Vec<u8>>,
}

fn one_value(a: &Attribute) -> Result<&Any, Error> {
    match a.values.as_slice() {
        [v] => Ok(v),
        _ => Err(Error::NotScep(format!(
            "attribute {} must have exactly one value",
            a.oid
        ))),
    }
}

fn printable(a: &Attribute) -> Result<String, Error> {
    let v = one_value(a)?;
    // Servers send PrintableString as RFC 8894 says; some send UTF8String for the
    // transaction id, so both are read.
    if let Ok(p) = v.decode_as::<PrintableStringRef<'_>>() {
        return Ok(p.as_str().to_string());
    }
    v.decode_as::<String>()
        .map_err(|e| Error::NotScep(format!("attribute {}: {e}", a.oid)))
}

fn octets(a: &Attribute) -> Result<Vec<u8>, Error> {
    one_value(a)?
        .decode_as::<OctetString>()
        .map(|o| o.as_bytes().to_vec())
        .map_err(|e| Error::NotScep(format!("attribute {}: {e}", a.oid)))
}

impl ScepAttrs {
    /// Read the SCEP attributes among `attrs` (others, such as contentType and
    /// messageDigest, are skipped).
    pub fn from_attributes<'a>(
        attrs: impl IntoIterator<Item = &'a Attribute>,
    ) -> Result<ScepAttrs, Error> {
        let mut s = ScepAttrs::default();
        for a in attrs {
            match a.oid {
                MESSAGE_TYPE => {
                    let v = printable(a)?;
                    s.message_type = Some(
                        MessageType::parse(&v)
                            .ok_or_else(|| Error::NotScep(format!("unknown messageType {v:?}")))?,
                    );
                }
                PKI_STATUS => {
                    let v = printable(a)?;
                    s.status = Some(
                        PkiStatus::parse(&v)
                            .ok_or_else(|| Error::NotScep(format!("unknown pkiStatus {v:?}")))?,
                    );
                }
                FAIL_INFO => {
                    let v = printable(a)?;
                    s.fail_info = Some(
                        FailInfo::parse(&v)
                            .ok_or_else(|| Error::NotScep(format!("unknown failInfo {v:?}")))?,
                    );
                }
                TRANSACTION_ID => s.transaction_id = Some(printable(a)?),
                SENDER_NONCE => s.sender_nonce = Some(octets(a)?),
                RECIPIENT_NONCE => s.recipient_nonce = Some(octets(a)?),
                _ => {}
            }
        }
        Ok(s)
    }

    /// The attributes to sign, in a fixed order.
    pub fn to_attributes(&self) -> Result<Vec<Attribute>, Error> {
        let enc = |e: der::Error| Error::NotScep(format!("encoding an attribute: {e}"));
        let attr = |oid: ObjectIdentifier, v: Any| -> Result<Attribute, Error> {
            let mut values = SetOfVec::new();
            values.insert(v).map_err(enc)?;
            Ok(Attribute { oid, values })
        };
        let ps = |s: &str| -> Result<Any, Error> {
            let p = PrintableStringRef::new(s).map_err(enc)?;
            Any::from_der(&p.to_der().map_err(enc)?).map_err(enc)
        };
        let os = |b: &[u8]| -> Result<Any, Error> {
            let o = OctetString::new(b.to_vec()).map_err(enc)?;
            Any::from_der(&o.to_der().map_err(enc)?).map_err(enc)
        };
        let mut out = Vec::new();
        if let Some(m) = self.message_type {
            out.push(attr(MESSAGE_TYPE, ps(m.value())?)?);
        }
        if let Some(st) = self.status {
            let v = match st {
                PkiStatus::Success => "0",
                PkiStatus::Failure => "2",
                PkiStatus::Pending => "3",
            };
            out.push(attr(PKI_STATUS, ps(v)?)?);
        }
        if let Some(f) = self.fail_info {
            let n = match f {
                FailInfo::BadAlg => 0,
                FailInfo::BadMessageCheck => 1,
                FailInfo::BadRequest => 2,
                FailInfo::BadTime => 3,
                FailInfo::BadCertId => 4,
                FailInfo::Other(n) => n,
            };
            out.push(attr(FAIL_INFO, ps(&n.to_string())?)?);
        }
        if let Some(t) = &self.transaction_id {
            out.push(attr(TRANSACTION_ID, ps(t)?)?);
        }
        if let Some(n) = &self.sender_nonce {
            out.push(attr(SENDER_NONCE, os(n)?)?);
        }
        if let Some(n) = &self.recipient_nonce {
            out.push(attr(RECIPIENT_NONCE, os(n)?)?);
        }
        Ok(out)
    }

    /// Check a CertRep against the request it answers: the same transactionID, and the
    /// recipientNonce equal to the request's senderNonce (RFC 8894 §3.2.1.5).
    pub fn check_reply_to(&self, request: &ScepAttrs) -> Result<(), Error> {
        if self.message_type != Some(MessageType::CertRep) {
            return Err(Error::NotScep(
                "the reply's messageType is not CertRep".into(),
            ));
        }
        if self.transaction_id.is_none() || self.transaction_id != request.transaction_id {
            return Err(Error::NotScep(
                "the reply's transactionID is not the request's".into(),
            ));
        }
        if self.recipient_nonce.is_none() || self.recipient_nonce != request.sender_nonce {
            return Err(Error::NotScep(
                "the reply's recipientNonce is not the request's senderNonce".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> ScepAttrs {
        ScepAttrs {
            message_type: Some(MessageType::PkcsReq),
            transaction_id: Some("A1B2C3".into()),
            sender_nonce: Some(vec![7; 16]),
            ..Default::default()
        }
    }

    #[test]
    fn round_trip() {
        let rep = ScepAttrs {
            message_type: Some(MessageType::CertRep),
            status: Some(PkiStatus::Failure),
            fail_info: Some(FailInfo::BadRequest),
            transaction_id: Some("A1B2C3".into()),
            sender_nonce: Some(vec![9; 16]),
            recipient_nonce: Some(vec![7; 16]),
        };
        let attrs = rep.to_attributes().unwrap();
        assert_eq!(attrs.len(), 6);
        let back = ScepAttrs::from_attributes(&attrs).unwrap();
        assert_eq!(back, rep);
        back.check_reply_to(&req()).unwrap();
    }

    #[test]
    fn mismatches_are_refused() {
        let mut rep = ScepAttrs {
            message_type: Some(MessageType::CertRep),
            status: Some(PkiStatus::Pending),
            transaction_id: Some("A1B2C3".into()),
            recipient_nonce: Some(vec![8; 16]),
            ..Default::default()
        };
        assert!(rep.check_reply_to(&req()).is_err(), "wrong nonce");
        rep.recipient_nonce = Some(vec![7; 16]);
        rep.check_reply_to(&req()).unwrap();
        rep.transaction_id = Some("other".into());
        assert!(rep.check_reply_to(&req()).is_err(), "wrong transaction");
    }

    #[test]
    fn unknown_values_are_not_scep() {
        let mut a = req().to_attributes().unwrap();
        a[0] = ScepAttrs {
            message_type: Some(MessageType::CertRep),
            ..Default::default()
        }
        .to_attributes()
        .unwrap()
        .remove(0);
        // Replace the value by "99".
        let p = PrintableStringRef::new("99").unwrap().to_der().unwrap();
        let mut values = SetOfVec::new();
        values.insert(Any::from_der(&p).unwrap()).unwrap();
        a[0].values = values;
        assert!(matches!(
            ScepAttrs::from_attributes(&a),
            Err(Error::NotScep(_))
        ));
    }
}
