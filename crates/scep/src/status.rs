//! pkiStatus and failInfo (RFC 8894 §3.2.1.3, §3.2.1.4).

use std::fmt;

/// The pkiStatus of a CertRep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkiStatus {
    /// "0": the certificate was issued.
    Success,
    /// "2": refused, see the failInfo.
    Failure,
    /// "3": held for approval; poll with CertPoll.
    Pending,
}

impl PkiStatus {
    /// Parse the PrintableString value.
    pub fn parse(s: &str) -> Option<PkiStatus> {
        match s.trim() {
            "0" => Some(PkiStatus::Success),
            "2" => Some(PkiStatus::Failure),
            "3" => Some(PkiStatus::Pending),
            _ => None,
        }
    }
}

/// The failInfo of a FAILURE CertRep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailInfo {
    /// "0" badAlg: unrecognized or unsupported algorithm.
    BadAlg,
    /// "1" badMessageCheck: integrity check (signature) failed; often a wrong challenge.
    BadMessageCheck,
    /// "2" badRequest: transaction not permitted or supported (often a wrong challenge).
    BadRequest,
    /// "3" badTime: the signingTime is not close enough to the CA's time.
    BadTime,
    /// "4" badCertId: no certificate could be identified matching the criteria.
    BadCertId,
    /// A value this client does not know (kept as sent).
    Other(u8),
}

impl FailInfo {
    /// Parse the PrintableString value.
    pub fn parse(s: &str) -> Option<FailInfo> {
        Some(match s.trim().parse::<u8>().ok()? {
            0 => FailInfo::BadAlg,
            1 => FailInfo::BadMessageCheck,
            2 => FailInfo::BadRequest,
            3 => FailInfo::BadTime,
            4 => FailInfo::BadCertId,
            n => FailInfo::Other(n),
        })
    }
    /// The RFC's name.
    pub fn name(self) -> String {
        match self {
            FailInfo::BadAlg => "badAlg".into(),
            FailInfo::BadMessageCheck => "badMessageCheck".into(),
            FailInfo::BadRequest => "badRequest".into(),
            FailInfo::BadTime => "badTime".into(),
            FailInfo::BadCertId => "badCertId".into(),
            FailInfo::Other(n) => format!("failInfo {n}"),
        }
    }
}

impl fmt::Display for FailInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(PkiStatus::parse("3"), Some(PkiStatus::Pending));
        assert_eq!(PkiStatus::parse("1"), None);
        assert_eq!(FailInfo::parse("2"), Some(FailInfo::BadRequest));
        assert_eq!(FailInfo::parse("4").unwrap().name(), "badCertId");
        assert_eq!(FailInfo::parse("9"), Some(FailInfo::Other(9)));
        assert_eq!(FailInfo::parse("x"), None);
    }
}
