//! Distinguished names: attribute short names, decoding of directory strings, and the
//! OpenSSL-style one-line form shared by [`crate::details`] and [`crate::csr`].

use const_oid::ObjectIdentifier;
use der::asn1::BmpString;
use der::{Any, Tag, Tagged};
use x509_cert::name::Name;

use crate::details::Rdn;

/// (short name, OID) of the attribute types this crate knows by name.
pub(crate) const ATTRS: &[(&str, &str)] = &[
    ("CN", "2.5.4.3"),
    ("SN", "2.5.4.4"),
    ("serialNumber", "2.5.4.5"),
    ("C", "2.5.4.6"),
    ("L", "2.5.4.7"),
    ("ST", "2.5.4.8"),
    ("street", "2.5.4.9"),
    ("O", "2.5.4.10"),
    ("OU", "2.5.4.11"),
    ("title", "2.5.4.12"),
    ("description", "2.5.4.13"),
    ("businessCategory", "2.5.4.15"),
    ("postalCode", "2.5.4.17"),
    ("name", "2.5.4.41"),
    ("GN", "2.5.4.42"),
    ("initials", "2.5.4.43"),
    ("generationQualifier", "2.5.4.44"),
    ("dnQualifier", "2.5.4.46"),
    ("pseudonym", "2.5.4.65"),
    ("organizationIdentifier", "2.5.4.97"),
    ("UID", "0.9.2342.19200300.100.1.1"),
    ("DC", "0.9.2342.19200300.100.1.25"),
    ("emailAddress", "1.2.840.113549.1.9.1"),
];

/// Short name of an attribute type, or its dotted OID.
pub(crate) fn short_name(oid: &ObjectIdentifier) -> String {
    let dotted = oid.to_string();
    ATTRS
        .iter()
        .find(|(_, o)| *o == dotted)
        .map_or(dotted.clone(), |(n, _)| (*n).to_string())
}

/// OID of a short name (case-insensitive; "E" and "email" also mean emailAddress,
/// "userid" means UID) or of a dotted OID.
pub(crate) fn oid_of(name: &str) -> Option<ObjectIdentifier> {
    let alias = match name.to_ascii_lowercase().as_str() {
        "e" | "email" => "emailAddress".to_string(),
        "userid" => "UID".to_string(),
        "s" => "ST".to_string(),
        "surname" => "SN".to_string(),
        "givenname" => "GN".to_string(),
        "commonname" => "CN".to_string(),
        "countryname" => "C".to_string(),
        "organizationname" => "O".to_string(),
        "organizationalunitname" => "OU".to_string(),
        "localityname" => "L".to_string(),
        "stateorprovincename" => "ST".to_string(),
        _ => name.to_string(),
    };
    if let Some((_, oid)) = ATTRS.iter().find(|(n, _)| n.eq_ignore_ascii_case(&alias)) {
        return ObjectIdentifier::new(oid).ok();
    }
    let dotted = name.strip_prefix("OID.").unwrap_or(name);
    // RFC 4514 numericoid arcs (digits, no leading zero), each below 2^28: const-oid 0.9
    // overflows on arcs beyond 32 bits and encodes arcs of 2^28 and more that it then cannot
    // decode (a panic when the name is shown). Both found by fuzz/pki_subject.
    let arcs_fit = dotted.split('.').all(|a| {
        !a.is_empty()
            && a.bytes().all(|c| c.is_ascii_digit())
            && (a == "0" || !a.starts_with('0'))
            && a.parse::<u32>().is_ok_and(|v| v < 1 << 28)
    });
    if arcs_fit {
        ObjectIdentifier::new(dotted).ok()
    } else {
        None
    }
}

/// Decoded text of a directory-string value; an unknown string type becomes "#" + hex of its DER.
pub(crate) fn value_text(v: &Any) -> String {
    let bytes = v.value();
    match v.tag() {
        Tag::Utf8String => String::from_utf8_lossy(bytes).into_owned(),
        Tag::PrintableString | Tag::Ia5String | Tag::VisibleString | Tag::NumericString => {
            String::from_utf8_lossy(bytes).into_owned()
        }
        // T.61 in theory; in practice Latin-1 (what OpenSSL and most CAs assume).
        Tag::TeletexString => bytes.iter().map(|&b| char::from(b)).collect(),
        Tag::BmpString => match v.decode_as::<BmpString>() {
            Ok(s) => s.to_string(),
            Err(_) => hex_der(v),
        },
        _ => hex_der(v),
    }
}

fn hex_der(v: &Any) -> String {
    use der::Encode;
    match v.to_der() {
        Ok(d) => format!(
            "#{}",
            d.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
        Err(_) => "#".to_string(),
    }
}

/// The RDNs of a name, in encoded order (most significant first).
pub(crate) fn rdns(name: &Name) -> Vec<Rdn> {
    name.0
        .iter()
        .map(|rdn| Rdn {
            attrs: rdn
                .0
                .iter()
                .map(|atv| (short_name(&atv.oid), value_text(&atv.value)))
                .collect(),
        })
        .collect()
}

fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for (i, c) in v.chars().enumerate() {
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            _ => out.push(c),
        }
    }
    if out.ends_with(' ') {
        out.pop();
        out.push_str("\\ ");
    }
    if out.starts_with(' ') {
        out.replace_range(0..1, "\\ ");
    }
    out
}

/// One-line form, most significant RDN first as OpenSSL prints it:
/// `C=JP, O=Example, CN=Taro, UID=taro`; multi-valued RDNs joined with " + ".
pub(crate) fn one_line(rdns: &[Rdn]) -> String {
    rdns.iter()
        .map(|rdn| {
            rdn.attrs
                .iter()
                .map(|(k, v)| format!("{k}={}", escape(v)))
                .collect::<Vec<_>>()
                .join(" + ")
        })
        .collect::<Vec<_>>()
        .join(", ")
}
