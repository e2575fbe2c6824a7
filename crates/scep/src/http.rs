//! The SCEP HTTP transport (RFC 8894 §4): GetCACaps, GetCACert and PKIOperation (POST when
//! the CA says POSTPKIOperation, else GET with the base64 message in the query), through the
//! proxy [`crate::proxy`] chooses. HTTPS with the trust [`crate::tls`] sets up.

use crate::attrs::MessageType;
use crate::cacert::CaCerts;
use crate::caps::Caps;
use crate::message::{self, Decryptor, Reply, Signer};
use crate::proxy::proxy_for;
use crate::tls::TlsOptions;
use crate::Error;
use std::io::Read;
use std::time::Duration;

/// The largest reply read (a CA chain or a CertRep is a few kilobytes).
const MAX_REPLY: u64 = 4 << 20;

/// A SCEP client for one server URL (such as `http://ca.example/scep`).
#[derive(Debug)]
pub struct Client {
    url: String,
    agent: ureq::Agent,
}

/// The scheme and host of `url` (no user info, no port, IPv6 brackets removed).
fn scheme_host(url: &str) -> Result<(String, String), Error> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| Error::Unsupported(format!("{url:?} is not an http:// URL")))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let hostport = authority.rsplit('@').next().unwrap_or("");
    let host = if let Some(v6) = hostport.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        hostport.split(':').next().unwrap_or("")
    };
    if host.is_empty() {
        return Err(Error::Unsupported(format!("{url:?} has no host")));
    }
    Ok((scheme.to_ascii_lowercase(), host.to_string()))
}

/// Percent-encode base64 for a query string (`+`, `/`, `=`).
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '+' => out.push_str("%2B"),
            '/' => out.push_str("%2F"),
            '=' => out.push_str("%3D"),
            c => out.push(c),
        }
    }
    out
}

fn transport(e: ureq::Error) -> Error {
    match e {
        ureq::Error::Status(status, resp) => {
            let reason = resp.status_text().to_string();
            Error::HttpStatus { status, reason }
        }
        // ureq's TLS handshake failures ("tls connection init failed: invalid peer
        // certificate: UnknownIssuer") are reported as TLS, with what to do about them.
        ureq::Error::Transport(t) if t.message().is_some_and(|m| m.contains("tls")) => {
            Error::Tls(t.to_string())
        }
        ureq::Error::Transport(t) => Error::Unreachable(t.to_string()),
    }
}

/// A reply's media type (lower case, no parameters) and body.
fn read(resp: ureq::Response) -> Result<(String, Vec<u8>), Error> {
    let ct = resp.content_type().to_ascii_lowercase();
    let mut body = Vec::new();
    resp.into_reader()
        .take(MAX_REPLY + 1)
        .read_to_end(&mut body)
        .map_err(|e| Error::Unreachable(format!("reading the reply: {e}")))?;
    if body.len() as u64 > MAX_REPLY {
        return Err(Error::NotScep(format!(
            "the reply is larger than {MAX_REPLY} bytes"
        )));
    }
    Ok((ct, body))
}

impl Client {
    /// A client for `url`, with the proxy from the environment (HTTPS_PROXY / HTTP_PROXY /
    /// NO_PROXY) unless `no_proxy`.
    pub fn new(url: &str, no_proxy: bool) -> Result<Client, Error> {
        Client::with_tls(url, no_proxy, &TlsOptions::default())
    }

    /// As [`Client::new`], an `https://` server checked as `tls` says.
    pub fn with_tls(url: &str, no_proxy: bool, tls: &TlsOptions) -> Result<Client, Error> {
        Client::with_env(url, no_proxy, tls, &|n| std::env::var(n).ok())
    }

    /// As [`Client::with_tls`] with the environment looked up through `env`.
    pub fn with_env(
        url: &str,
        no_proxy: bool,
        tls: &TlsOptions,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Client, Error> {
        let (scheme, host) = scheme_host(url)?;
        if scheme != "http" && scheme != "https" {
            return Err(Error::Unsupported(format!(
                "{scheme}:// SCEP URLs (http:// or https://)"
            )));
        }
        let mut b = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(15))
            .timeout(Duration::from_secs(60))
            .redirects(0);
        if scheme == "https" {
            b = b.tls_config(crate::tls::client_config(tls)?);
        }
        if let Some(p) = proxy_for(&scheme, &host, no_proxy, env) {
            let proxy = ureq::Proxy::new(&p)
                .map_err(|e| Error::Unsupported(format!("proxy {p:?}: {e}")))?;
            b = b.proxy(proxy);
        }
        Ok(Client {
            url: url.trim_end_matches('?').to_string(),
            agent: b.build(),
        })
    }

    fn op_url(&self, op: &str) -> String {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{sep}operation={op}", self.url)
    }

    /// GetCACaps. A server that answers an HTTP error gets an empty list, as RFC 8894
    /// §3.5.1 says for servers without the operation; an unreachable one is an error.
    pub fn get_ca_caps(&self) -> Result<Caps, Error> {
        match self.agent.get(&self.op_url("GetCACaps")).call() {
            Ok(resp) => {
                let (_, body) = read(resp)?;
                Ok(Caps::parse(&String::from_utf8_lossy(&body)))
            }
            Err(ureq::Error::Status(404 | 405 | 501, _)) => Ok(Caps::default()),
            Err(e) => Err(transport(e)),
        }
    }

    /// GetCACert.
    pub fn get_ca_cert(&self) -> Result<CaCerts, Error> {
        let resp = self
            .agent
            .get(&self.op_url("GetCACert"))
            .call()
            .map_err(transport)?;
        let (ct, body) = read(resp)?;
        CaCerts::parse(&ct, &body)
    }

    /// PKIOperation: send a DER pkiMessage, by POST or by GET, and return the reply's DER.
    pub fn pki_operation(&self, message: &[u8], post: bool) -> Result<Vec<u8>, Error> {
        let result = if post {
            self.agent
                .post(&self.op_url("PKIOperation"))
                .set("Content-Type", "application/x-pki-message")
                .send_bytes(message)
        } else {
            use base64ct::{Base64, Encoding};
            let url = format!(
                "{}&message={}",
                self.op_url("PKIOperation"),
                query_escape(&Base64::encode_string(message))
            );
            self.agent.get(&url).call()
        };
        let (ct, body) = read(result.map_err(transport)?)?;
        if ct != "application/x-pki-message" {
            return Err(Error::NotScep(format!(
                "PKIOperation answered {ct:?}, not application/x-pki-message"
            )));
        }
        Ok(body)
    }

    /// Enrol: send a PKCSReq for `csr_der` to the CA described by `caps` and `ca` (the
    /// caller fetched both and checked the CA's fingerprint), and read the CertRep.
    /// `prefer_aes256` picks AES-256-CBC over AES-128-CBC when the CA offers AES.
    pub fn enrol(
        &self,
        caps: &Caps,
        ca: &CaCerts,
        csr_der: &[u8],
        signer: &dyn Signer,
        decryptor: &dyn Decryptor,
        prefer_aes256: bool,
    ) -> Result<Reply, Error> {
        self.send(
            MessageType::PkcsReq,
            caps,
            ca,
            csr_der,
            signer,
            decryptor,
            prefer_aes256,
        )
    }

    /// Send a PKCSReq or a RenewalReq (`kind`) and read the CertRep; as [`Client::enrol`].
    #[allow(clippy::too_many_arguments)]
    pub fn send(
        &self,
        kind: MessageType,
        caps: &Caps,
        ca: &CaCerts,
        csr_der: &[u8],
        signer: &dyn Signer,
        decryptor: &dyn Decryptor,
        prefer_aes256: bool,
    ) -> Result<Reply, Error> {
        let req = message::request(
            kind,
            csr_der,
            ca,
            caps.cipher(prefer_aes256),
            caps.digest(),
            signer,
            &mut rand_core::OsRng,
        )?;
        self.round_trip(&req, caps, ca, decryptor)
    }

    /// Poll (CertPoll, RFC 8894 §3.3.3) the request `transaction_id` for `subject` that the
    /// CA answered PENDING: `signer` must be the key and certificate that signed it.
    #[allow(clippy::too_many_arguments)]
    pub fn poll(
        &self,
        caps: &Caps,
        ca: &CaCerts,
        transaction_id: &str,
        subject: &x509_cert::name::Name,
        signer: &dyn Signer,
        decryptor: &dyn Decryptor,
        prefer_aes256: bool,
    ) -> Result<Reply, Error> {
        let req = message::cert_poll(
            transaction_id,
            subject,
            ca,
            caps.cipher(prefer_aes256),
            caps.digest(),
            signer,
            &mut rand_core::OsRng,
        )?;
        self.round_trip(&req, caps, ca, decryptor)
    }

    fn round_trip(
        &self,
        req: &message::Request,
        caps: &Caps,
        ca: &CaCerts,
        decryptor: &dyn Decryptor,
    ) -> Result<Reply, Error> {
        let reply = self.pki_operation(&req.der, caps.post())?;
        message::parse_cert_rep(&reply, &req.attrs, ca, decryptor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            scheme_host("http://u:p@CA.example:8080/scep?x").unwrap(),
            ("http".into(), "CA.example".into())
        );
        assert_eq!(scheme_host("HTTP://[::1]:80/").unwrap().1, "::1");
        assert!(scheme_host("ca.example/scep").is_err());
        let tls = TlsOptions::default();
        assert!(Client::with_env("https://ca/scep", false, &tls, &|_| None).is_ok());
        assert!(matches!(
            Client::with_env("ftp://ca/scep", false, &tls, &|_| None),
            Err(Error::Unsupported(_))
        ));
        let c = Client::with_env("http://ca/scep", false, &tls, &|_| None).unwrap();
        assert_eq!(c.op_url("GetCACaps"), "http://ca/scep?operation=GetCACaps");
        assert_eq!(query_escape("a+b/c=="), "a%2Bb%2Fc%3D%3D");
    }
}
