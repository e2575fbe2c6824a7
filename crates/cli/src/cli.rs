//! The command line (clap derive). PINs and passwords are never options: see
//! [`crate::secrets`].

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Manage Feitian ePass2003 tokens: initialise, PINs, certificates and keys, PKCS#12 files.
#[derive(Debug, Parser)]
#[command(
    name = "epass2003-tool",
    version,
    after_help = "PINs and passwords are read from the terminal without echo, or from \
EPASS2003_PIN, EPASS2003_NEW_PIN, EPASS2003_SO_PIN, EPASS2003_NEW_SO_PIN, EPASS2003_P12_PASSWORD, \
EPASS2003_NEW_P12_PASSWORD, one per line from --secrets-fd N or --secrets-file FILE (mode 0600), or \
the systemd credentials epass2003-pin, epass2003-so-pin, ... in $CREDENTIALS_DIRECTORY. Without \
any of them and without a terminal, a command that needs one stops at once with exit 10.\n\n\
Exit codes: 0 ok, 1 internal error, 2 bad input, 3 wrong PIN, 4 PIN locked, 5 no token / several \
tokens, 6 card error, 7 certificates expiring, 8 certificates expired, 9 not possible on this \
token, 10 cancelled / needs input, 11 token memory full, 12 not due, 13 pending, 14 server \
unreachable, 15 server refused, 16 CA not trusted (the README maps them to the enrolment client's \
result codes)."
)]
pub struct Cli {
    /// Options of every command.
    #[command(flatten)]
    pub global: Global,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options of every command.
#[derive(Debug, Args)]
pub struct Global {
    /// Print one JSON document instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Choose the token by serial number (as `info` shows it).
    #[arg(long, global = true, value_name = "SERIAL")]
    pub serial: Option<String>,
    /// Choose the token by (a part of) its reader's name.
    #[arg(long, global = true, value_name = "NAME")]
    pub reader: Option<String>,
    /// Answer yes to confirmations (for scripts).
    #[arg(long, short = 'y', global = true)]
    pub yes: bool,
    /// Read PINs and passwords from this file descriptor, one per line, in the order asked.
    #[arg(
        long,
        global = true,
        value_name = "FD",
        conflicts_with = "secrets_file"
    )]
    pub secrets_fd: Option<u32>,
    /// Read PINs and passwords from this file, one per line, in the order asked; the file must
    /// not be readable by group or others (chmod 600).
    #[arg(long, global = true, value_name = "FILE")]
    pub secrets_file: Option<PathBuf>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Readers and tokens.
    List,
    /// One token in detail: label, serial, variant, layout, memory, PIN tries, policy, timeout.
    Info,
    /// Certificates on the token: list, show, export.
    #[command(subcommand)]
    Certs(CertsCmd),
    /// Certificates that expire within N days (and those already expired); exit 7 / 8.
    Expiring(ExpiringArgs),
    /// Import a PKCS#12/PFX (key + certificate), P7B, or CRT/CER (DER or PEM) file.
    Import(ImportArgs),
    /// Delete a certificate, a key pair, or everything.
    Delete(DeleteArgs),
    /// Rename the token (objects are kept; label <= 32 bytes of UTF-8).
    Rename(RenameArgs),
    /// Change the user PIN, unblock it with the SO PIN, or change the SO PIN.
    #[command(subcommand)]
    Pin(PinCmd),
    /// Set the inactivity timeout stored on the token (minutes, 0..600, 0 = none).
    Timeout(TimeoutArgs),
    /// Initialise the token (erases everything on it).
    Init(InitArgs),
    /// Generate a key pair on the token.
    Keygen(KeygenArgs),
    /// A PKCS#10 certificate request signed by a key on the token.
    Csr(CsrArgs),
    /// Enrol a certificate over SCEP (RFC 8894): a key pair generated on the token, the
    /// request signed and the CA's reply decrypted on the card, the certificate stored with
    /// the key.
    Enroll(EnrollArgs),
    /// Renew a certificate of the token over SCEP when it is inside its notice window (exit 12
    /// "not due" otherwise, unless --force); the old certificate and key are removed only
    /// after the new certificate is stored and verified.
    Renew(RenewArgs),
    /// PKCS#12 files: show the contents, change the password.
    #[command(subcommand)]
    P12(P12Cmd),
    /// Print a line per token inserted or removed, until interrupted (desktop notifications
    /// with --notify).
    Watch(crate::cmd::watch::WatchArgs),
    /// One bundle for a help desk: versions, readers, ATRs, token info, configuration, the last
    /// result and a debug trace (no PIN, key or private data).
    Diag(DiagArgs),
}

/// `diag`.
#[derive(Debug, Args)]
pub struct DiagArgs {
    /// Write the bundle to this file (mode 0600) instead of standard output.
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
}

/// `certs` subcommands.
#[derive(Debug, Subcommand)]
pub enum CertsCmd {
    /// List the certificates.
    List,
    /// Show one certificate in detail (all of them without a selector).
    Show(CertSel),
    /// Export a certificate (never a private key).
    Export(ExportArgs),
}

/// Choose a certificate (or key) on the token.
#[derive(Debug, Args, Clone, Default)]
pub struct CertSel {
    /// By CKA_ID (hex, as `certs list` shows it).
    #[arg(long, value_name = "HEX")]
    pub id: Option<String>,
    /// By label.
    #[arg(long)]
    pub label: Option<String>,
}

/// `certs export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Which certificate.
    #[command(flatten)]
    pub sel: CertSel,
    /// Output file ("-" for standard output).
    #[arg(long, short = 'o', default_value = "-")]
    pub out: PathBuf,
    /// Encoding.
    #[arg(long, value_enum, default_value_t = Encoding::Pem)]
    pub format: Encoding,
}

/// Where `enroll --trust-ca` puts the CA certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TrustStore {
    /// The user's NSS database ~/.pki/nssdb (Chromium, NSS tools).
    User,
    /// The system's trust store (root): update-ca-certificates, else p11-kit `trust`.
    System,
}

/// DER or PEM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Encoding {
    /// Binary DER.
    Der,
    /// Base64 PEM.
    Pem,
}

/// `expiring`.
#[derive(Debug, Args)]
pub struct ExpiringArgs {
    /// The notice window in days (1..120; default: `notify_days` of the configuration file,
    /// else 14).
    #[arg(long, allow_negative_numbers = true)]
    pub days: Option<i64>,
    /// Also show a desktop notification (freedesktop Notifications on the session bus) for
    /// each certificate expired or inside the window, naming the `renew` command; honours
    /// `notify_expired`, `notify_expiring` and `notify_mute` of the configuration file.
    #[arg(long)]
    pub notify: bool,
}

/// What an imported key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Usage {
    /// Signature only.
    Sign,
    /// Signature and key exchange (decryption; RSA only).
    SignExchange,
}

/// What to take from a PKCS#12 file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Take {
    /// The key and its client certificate only.
    Client,
    /// The key, its certificate, and the CA certificates in the file (as authority
    /// certificates).
    Chain,
}

/// File formats of `import`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Decide from the content.
    Auto,
    /// PKCS#12 / PFX.
    P12,
    /// PKCS#7 certificate bundle.
    P7b,
    /// X.509 certificate(s), DER or PEM.
    Cert,
}

/// `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file.
    pub file: PathBuf,
    /// Its format.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    pub format: Format,
    /// PKCS#12: the client certificate only, or the whole chain.
    #[arg(long, value_enum, default_value_t = Take::Client)]
    pub take: Take,
    /// The key's usage (default: signature and key exchange for RSA, signature for EC, which
    /// signs only on this card).
    #[arg(long, value_enum)]
    pub usage: Option<Usage>,
    /// Label of the imported objects (default: the file's friendly name, else the CN).
    #[arg(long)]
    pub label: Option<String>,
    /// Certificates: store them as authority (CA) certificates.
    #[arg(long)]
    pub ca: bool,
    /// Certificates: put the certificate next to the key with this CKA_ID (hex); its public
    /// key must be that key's.
    #[arg(long, value_name = "HEX")]
    pub into: Option<String>,
}

/// What `delete` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeleteWhat {
    /// A certificate.
    Cert,
    /// A key pair (private and public key); with `--with-cert` its certificate too.
    Key,
    /// Every object on the token.
    All,
}

/// `delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// What to delete.
    #[arg(value_enum)]
    pub what: DeleteWhat,
    /// Which one.
    #[command(flatten)]
    pub sel: CertSel,
    /// With `key`: also delete the certificate of the key.
    #[arg(long)]
    pub with_cert: bool,
}

/// `rename`.
#[derive(Debug, Args)]
pub struct RenameArgs {
    /// The new label (<= 32 bytes of UTF-8).
    pub label: String,
}

/// `pin` subcommands.
#[derive(Debug, Subcommand)]
pub enum PinCmd {
    /// Change the user PIN (old PIN, new PIN twice).
    Change,
    /// Unblock (reset) the user PIN with the SO PIN.
    Unblock,
    /// Change the SO PIN.
    ChangeSo,
    /// Rate a PIN's strength (low / medium / high) as the vendor tool shows it.
    Strength,
}

/// `timeout`.
#[derive(Debug, Args)]
pub struct TimeoutArgs {
    /// Minutes of inactivity before the login is dropped (0..600, 0 = none).
    #[arg(allow_negative_numbers = true)]
    pub minutes: i64,
}

/// Character rules for PINs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Charset {
    /// Any characters.
    Any,
    /// Digits only.
    Digits,
    /// Must contain a letter and a digit.
    LettersAndDigits,
}

/// `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Token label (<= 32 bytes of UTF-8); default: the current label, "ePass2003" on a blank
    /// token.
    #[arg(long)]
    pub label: Option<String>,
    /// Erase with the card's own erase, without the current SO PIN: the way out for a token
    /// whose SO PIN is unknown or locked (everything on it is lost).
    #[arg(long)]
    pub erase: bool,
    /// Maximum tries of the user PIN (0..10; 0 = no retry counter: never locks).
    #[arg(long, default_value_t = 10, allow_negative_numbers = true)]
    pub user_max_tries: i64,
    /// Maximum tries of the SO PIN (0..10).
    #[arg(long, default_value_t = 10, allow_negative_numbers = true)]
    pub so_max_tries: i64,
    /// Inactivity timeout in minutes (0..600, 0 = none).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub timeout: i64,
    /// Minimum PIN length (1..255).
    #[arg(long, default_value_t = 4, allow_negative_numbers = true)]
    pub pin_min: i64,
    /// Maximum PIN length (1..255; above 16 locks OpenSC users out).
    #[arg(long, default_value_t = 16, allow_negative_numbers = true)]
    pub pin_max: i64,
    /// Character rule for the user PIN.
    #[arg(long, value_enum, default_value_t = Charset::Any)]
    pub charset: Charset,
    /// Allow PINs beyond half-width ASCII (UTF-8). Off by default: the vendor manuals define
    /// PINs as half-width characters.
    #[arg(long)]
    pub allow_utf8: bool,
}

/// Key types `keygen` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyAlg {
    /// RSA 2048.
    Rsa2048,
    /// RSA 1024 (legacy).
    Rsa1024,
    /// EC P-256.
    EcP256,
}

/// `keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Key type.
    #[arg(long = "type", value_enum, default_value_t = KeyAlg::Rsa2048)]
    pub alg: KeyAlg,
    /// Label.
    #[arg(long)]
    pub label: String,
    /// CKA_ID in hex (default: derived from the public key).
    #[arg(long, value_name = "HEX")]
    pub id: Option<String>,
    /// Usage (default: signature and key exchange for RSA, signature for EC).
    #[arg(long, value_enum)]
    pub usage: Option<Usage>,
}

/// `csr`.
#[derive(Debug, Args)]
pub struct CsrArgs {
    /// Which key.
    #[command(flatten)]
    pub sel: CertSel,
    /// Subject, e.g. "CN=Taro Yamada,UID=taro,O=Example,C=JP".
    #[arg(long)]
    pub subject: String,
    /// Output file ("-" for standard output).
    #[arg(long, short = 'o', default_value = "-")]
    pub out: PathBuf,
}

/// `p12` subcommands.
#[derive(Debug, Subcommand)]
pub enum P12Cmd {
    /// Show the keys and certificates of a PKCS#12 file.
    Show(P12File),
    /// Change a PKCS#12 file's password (atomically).
    Passwd(P12Passwd),
}

/// A PKCS#12 file.
#[derive(Debug, Args)]
pub struct P12File {
    /// The file.
    pub file: PathBuf,
}

/// `p12 passwd`.
#[derive(Debug, Args)]
pub struct P12Passwd {
    /// The file.
    pub file: PathBuf,
    /// Minimum length of the new password.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub min_len: i64,
    /// Maximum length of the new password (0 = no limit).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub max_len: i64,
    /// Only lower-case letters and digits in the new password (as some issuers require).
    #[arg(long)]
    pub lower_alnum: bool,
    /// Allow characters beyond half-width ASCII in the new password.
    #[arg(long)]
    pub allow_utf8: bool,
    /// Write the re-encrypted file here (it must not exist) and leave FILE as it was.
    #[arg(
        long,
        short = 'o',
        value_name = "NEW_FILE",
        conflicts_with = "in_place"
    )]
    pub output: Option<PathBuf>,
    /// Replace FILE without keeping the original (default: the original is kept as FILE.orig,
    /// or FILE.orig.1, FILE.orig.2, ... when that exists; a backup is never overwritten).
    #[arg(long)]
    pub in_place: bool,
}

/// What `enroll` and `renew` share: the CA and how to reach it.
#[derive(Debug, Args, Clone)]
pub struct ScepServer {
    /// The CA's SCEP URL (for example http://ca.example.com/scep). `renew` defaults to the
    /// URL (and the CA fingerprint) the certificate was enrolled from by this tool.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The SHA-256 fingerprint of the CA certificate, obtained out of band (RFC 8894 §2.2);
    /// hex, colons and case ignored. Without it the fingerprint is shown and asked about
    /// (exit 16 when nobody can be asked).
    #[arg(long, value_name = "HEX")]
    pub ca_fingerprint: Option<String>,
    /// Connect directly, ignoring HTTPS_PROXY / HTTP_PROXY.
    #[arg(long)]
    pub no_proxy: bool,
    /// For an https:// URL: also trust the CA certificates in FILE (PEM or DER) for the web
    /// server's certificate, besides the system's trust store. Remembered for `renew` and
    /// `enroll --poll`.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// For an https:// URL: do not check the web server's certificate at all. Anyone on the
    /// network path can then pose as the server (the SCEP CA is still checked by its
    /// fingerprint). For a lab only; never remembered.
    #[arg(long)]
    pub insecure_skip_tls_verify: bool,
    /// Also store the CA certificates the CA sends (as authority certificates).
    #[arg(long)]
    pub chain: bool,
}

/// `enroll`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("pending_op").args(["poll", "withdraw"])))]
pub struct EnrollArgs {
    /// The CA.
    #[command(flatten)]
    pub server: ScepServer,
    /// The subject, e.g. "CN=Taro Yamada,O=Example,UID=taro" (RFC 4514; UID is
    /// 0.9.2342.19200300.100.1.1). Default: CN=<--cn>.
    #[arg(long, conflicts_with = "cn")]
    pub subject: Option<String>,
    /// The common name when --subject is not given (default: the login name, else the host
    /// name).
    #[arg(long)]
    pub cn: Option<String>,
    /// The common name is this machine's host name (a device certificate).
    #[arg(long, conflicts_with_all = ["cn", "subject"])]
    pub host_cn: bool,
    /// An e-mail address for the subjectAltName (rfc822Name, at most 128 characters).
    #[arg(long)]
    pub email: Option<String>,
    /// The key pair to generate on the token (the CA's reply is encrypted to it, so RSA).
    #[arg(long = "type", value_enum, default_value_t = KeyAlg::Rsa2048)]
    pub alg: KeyAlg,
    /// The label of the new key and certificate (default: the common name).
    #[arg(long)]
    pub label: Option<String>,
    /// Ask the CA whether a request it holds for approval (exit 13 "pending") was issued,
    /// and store the certificate if so (CertPoll, RFC 8894 §3.3.3). The URL and the CA
    /// fingerprint are those the request was sent with.
    #[arg(long, conflicts_with_all = ["withdraw", "subject", "cn", "host_cn", "email", "label", "alg"])]
    pub poll: bool,
    /// Abandon a request the CA holds for approval: its record and the key pair generated
    /// for it are deleted (SCEP cannot tell the CA; tell your administrator).
    #[arg(long, conflicts_with_all = ["subject", "cn", "host_cn", "email", "label", "alg", "chain"])]
    pub withdraw: bool,
    /// With --poll / --withdraw: which pending request, by the id of its key (see
    /// `certs list`); needed when the token has several.
    #[arg(long, value_name = "HEX", requires = "pending_op")]
    pub id: Option<String>,
    /// Enrol a new certificate even when the token already holds a valid one from this CA
    /// for the same subject (default: that one is renewed).
    #[arg(long = "new", conflicts_with_all = ["poll", "withdraw"])]
    pub force_new: bool,
    /// After the certificate is issued, also put the CA's certificate (the one whose
    /// fingerprint was checked) into a trust store, once confirmed (or --yes): `user` (the
    /// NSS database ~/.pki/nssdb) or `system` (root).
    #[arg(long, value_enum, value_name = "STORE", conflicts_with = "withdraw")]
    pub trust_ca: Option<TrustStore>,
}

/// `renew`.
#[derive(Debug, Args)]
pub struct RenewArgs {
    /// Which certificate (needed when the token holds several with a key).
    #[command(flatten)]
    pub sel: CertSel,
    /// The CA.
    #[command(flatten)]
    pub server: ScepServer,
    /// The notice window in days (1..120; default: `notify_days` of the configuration file,
    /// else 14): renew only when the certificate expires within it.
    #[arg(long, allow_negative_numbers = true)]
    pub days: Option<i64>,
    /// Renew even when the certificate is not inside the window.
    #[arg(long)]
    pub force: bool,
    /// Keep the existing key pair (default: a new one is generated on the token).
    #[arg(long, conflicts_with = "alg")]
    pub reuse_key: bool,
    /// The new key pair's type (default: that of the old key).
    #[arg(long = "type", value_enum)]
    pub alg: Option<KeyAlg>,
    /// Unattended (a timer): when the renewal is due and no PIN source is configured (a
    /// variable, --secrets-fd/-file, a systemd credential), show a desktop notification naming
    /// the command to run, and exit 10, instead of asking or failing.
    #[arg(long)]
    pub notify: bool,
}
