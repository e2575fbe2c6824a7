//! GetCACaps (RFC 8894 §3.5.2): the capability list, one keyword a line (LF or CRLF), and the
//! choices that follow from it: HTTP method, content cipher, digest, renewal.

use const_oid::ObjectIdentifier;

/// The content-encryption ciphers this client can use, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cipher {
    /// AES-256-CBC.
    Aes256Cbc,
    /// AES-128-CBC.
    Aes128Cbc,
    /// Triple DES (DES-EDE3-CBC).
    Des3Cbc,
    /// Single DES-CBC (only when the CA offers nothing else).
    DesCbc,
}

impl Cipher {
    /// The algorithm's object identifier.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Cipher::Aes256Cbc => const_oid::db::rfc5911::ID_AES_256_CBC,
            Cipher::Aes128Cbc => const_oid::db::rfc5911::ID_AES_128_CBC,
            Cipher::Des3Cbc => const_oid::db::rfc5911::DES_EDE_3_CBC,
            Cipher::DesCbc => ObjectIdentifier::new_unwrap("1.3.14.3.2.7"),
        }
    }
    /// The cipher an OID names, if this client can decrypt it.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Cipher> {
        [
            Cipher::Aes256Cbc,
            Cipher::Aes128Cbc,
            Cipher::Des3Cbc,
            Cipher::DesCbc,
        ]
        .into_iter()
        .find(|c| c.oid() == *oid)
    }
    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Cipher::Aes256Cbc => 32,
            Cipher::Aes128Cbc => 16,
            Cipher::Des3Cbc => 24,
            Cipher::DesCbc => 8,
        }
    }
    /// Block (and IV) length in bytes.
    pub fn block_len(self) -> usize {
        match self {
            Cipher::Aes256Cbc | Cipher::Aes128Cbc => 16,
            Cipher::Des3Cbc | Cipher::DesCbc => 8,
        }
    }
    /// A name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Cipher::Aes256Cbc => "AES-256-CBC",
            Cipher::Aes128Cbc => "AES-128-CBC",
            Cipher::Des3Cbc => "3DES-CBC",
            Cipher::DesCbc => "DES-CBC",
        }
    }
}

/// The message digests this client can use, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    /// SHA-512.
    Sha512,
    /// SHA-256.
    Sha256,
    /// SHA-1 (only when the CA offers nothing else).
    Sha1,
}

impl Digest {
    /// A name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Digest::Sha512 => "SHA-512",
            Digest::Sha256 => "SHA-256",
            Digest::Sha1 => "SHA-1",
        }
    }
}

/// A parsed capability list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caps {
    /// The keywords as sent (trimmed, empty lines dropped).
    pub keywords: Vec<String>,
}

impl Caps {
    /// Parse the body of a GetCACaps reply: keywords separated by LF or CRLF, matched
    /// case-insensitively as RFC 8894 §3.5.2 requires.
    pub fn parse(body: &str) -> Caps {
        Caps {
            keywords: body
                .split('\n')
                .map(|l| l.trim_end_matches('\r').trim())
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect(),
        }
    }
    /// Whether the list holds `kw` (case-insensitive).
    pub fn has(&self, kw: &str) -> bool {
        self.keywords.iter().any(|k| k.eq_ignore_ascii_case(kw))
    }
    /// "SCEPStandard" implies AES, POSTPKIOperation and SHA-256 (RFC 8894 §3.5.2).
    fn standard(&self) -> bool {
        self.has("SCEPStandard")
    }
    /// PKIOperation by HTTP POST.
    pub fn post(&self) -> bool {
        self.has("POSTPKIOperation") || self.standard()
    }
    /// RenewalReq authenticated by the old certificate.
    pub fn renewal(&self) -> bool {
        self.has("Renewal")
    }
    /// The strongest content cipher both sides offer. "AES" in the list does not say which
    /// key size; RFC 8894 reads it as AES-128 at least, and servers that offer it decrypt
    /// AES-256 as well, which is what [`Cipher::Aes256Cbc`] stands for here only with
    /// `prefer_aes256`. A CA with no cipher keyword gets DES, as the RFC's default.
    pub fn cipher(&self, prefer_aes256: bool) -> Cipher {
        if self.has("AES") || self.standard() {
            if prefer_aes256 {
                Cipher::Aes256Cbc
            } else {
                Cipher::Aes128Cbc
            }
        } else if self.has("DES3") {
            Cipher::Des3Cbc
        } else {
            Cipher::DesCbc
        }
    }
    /// The strongest digest both sides offer (SHA-1 when none is listed: the RFC's default).
    pub fn digest(&self) -> Digest {
        if self.has("SHA-512") {
            Digest::Sha512
        } else if self.has("SHA-256") || self.standard() {
            Digest::Sha256
        } else {
            Digest::Sha1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lf_and_crlf() {
        let a = Caps::parse("Renewal\nSHA-256\nAES\nPOSTPKIOperation\n");
        let b = Caps::parse("Renewal\r\nSHA-256\r\nAES\r\nPOSTPKIOperation\r\n");
        assert_eq!(a, b);
        assert!(a.post() && a.renewal());
        assert_eq!(a.digest(), Digest::Sha256);
        assert_eq!(a.cipher(false), Cipher::Aes128Cbc);
    }

    #[test]
    fn micromdm_scepserver_list() {
        // Debian's scepserver 2.1.0 answers exactly this (LF, no final line end).
        let c = Caps::parse("Renewal\nSHA-1\nSHA-256\nAES\nDES3\nSCEPStandard\nPOSTPKIOperation");
        assert!(c.post() && c.renewal());
        assert_eq!(c.digest(), Digest::Sha256);
        assert_eq!(c.cipher(false), Cipher::Aes128Cbc);
    }

    #[test]
    fn defaults_and_standard() {
        let none = Caps::parse("");
        assert!(!none.post() && !none.renewal());
        assert_eq!(none.cipher(true), Cipher::DesCbc);
        assert_eq!(none.digest(), Digest::Sha1);
        let d3 = Caps::parse("des3\nsha-512");
        assert_eq!(d3.cipher(true), Cipher::Des3Cbc);
        assert_eq!(d3.digest(), Digest::Sha512);
        let std = Caps::parse("SCEPStandard");
        assert!(std.post());
        assert_eq!(std.cipher(true), Cipher::Aes256Cbc);
        assert_eq!(std.digest(), Digest::Sha256);
    }

    #[test]
    fn cipher_oids_round_trip() {
        for c in [
            Cipher::Aes256Cbc,
            Cipher::Aes128Cbc,
            Cipher::Des3Cbc,
            Cipher::DesCbc,
        ] {
            assert_eq!(Cipher::from_oid(&c.oid()), Some(c));
        }
    }
}
