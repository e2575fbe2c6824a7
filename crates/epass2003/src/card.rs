//! Card connection and typed card commands.
//!
//! [`Connection`] owns one transport and the SM state of that connection (no statics).
//! [`Connection::transaction`] opens an exclusive transaction and returns a [`CardSession`]
//! that borrows the connection `&mut`; every card command is a method on it.
//!
//! **Lost-session rule (§3.6, §11.1.5; one place: `CardSession::run`).** If a command fails
//! with SW `6985`/`6988`, with an SM verification error (bad MAC, DO99 ≠ SW, an unprotected
//! answer), or because the card was reset, the driver re-runs mutual authentication once and
//! retries the whole command (or command unit, e.g. GET CHALLENGE + EXTERNAL AUTHENTICATE) once.
//! This works for data-returning commands too (unlike OpenSC 0.23.0, compat §1.5). Because a new
//! session drops the card's security level, the connection then records that the **login state
//! was lost**: read it with [`Connection::take_login_lost`] / [`CardSession::take_login_lost`].

use crate::apdu::{Command, Response};
use crate::commands::{self as cmd, KeyAlgorithm, KeyRecord, SecurityEnv};
use crate::crypto;
use crate::error::{Error, Result};
use crate::fci::{Fci, Fcp};
use crate::sm::{FipsTriesQueryMac, Handshake, SecureChannel, StaticKeys, Variant};
use crate::sw::StatusWord;
use crate::transport::{Exchange, Transport};
use rand::{RngCore, SeedableRng};
use std::time::Instant;
use tracing::{debug, trace, warn};

/// How commands are protected on this connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// SM disabled by the card (§3.7): APDUs go out unchanged.
    Plain,
    /// Secure messaging with the given variant.
    Sm(Variant),
}

impl Mode {
    /// "AES", "FIPS", "DES", or "none" (plain): how the tool and logs name the variant.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Plain => "none",
            Mode::Sm(Variant::Aes) => "AES",
            Mode::Sm(Variant::Fips) => "FIPS",
            Mode::Sm(Variant::Des) => "DES",
        }
    }
}

/// The GET DATA `01 86` capability object (§2.2), interpreted at OpenSC's fixed offsets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Raw response data.
    pub raw: Vec<u8>,
}

impl Capabilities {
    fn b(&self, i: usize) -> u8 {
        self.raw.get(i).copied().unwrap_or(0)
    }
    /// SM disabled: `R[14] == 84 && R[16] == 00`.
    pub fn sm_disabled(&self) -> bool {
        self.b(14) == 0x84 && self.b(16) == 0x00
    }
    /// FIPS: `R[0..=2] == 80 01 01` and `R[32..=34] == 87 01 01`.
    pub fn fips(&self) -> bool {
        (self.b(0), self.b(1), self.b(2)) == (0x80, 0x01, 0x01)
            && (self.b(32), self.b(33), self.b(34)) == (0x87, 0x01, 0x01)
    }
    /// AES cipher: `R[2] == 01`.
    pub fn aes(&self) -> bool {
        self.b(2) == 0x01
    }
    /// The resulting mode.
    pub fn mode(&self) -> Mode {
        if self.sm_disabled() {
            Mode::Plain
        } else if self.fips() {
            Mode::Sm(Variant::Fips)
        } else if self.aes() {
            Mode::Sm(Variant::Aes)
        } else {
            Mode::Sm(Variant::Des)
        }
    }
}

/// Options for [`Connection::connect`].
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    /// Static SM keys (default: OpenSC's `01…10`).
    pub static_keys: StaticKeys,
    /// FIPS tries-query MAC form (default: 0.23.0 form with RFC 4493 sub-keys).
    pub fips_tries_query_mac: FipsTriesQueryMac,
    /// **Tests/replay only:** derive host challenges from this seed instead of the OS RNG.
    pub host_challenge_seed: Option<u64>,
    /// **Tests only:** use this host challenge for every handshake (§10 vectors). Never set this
    /// in production: a fixed challenge is what OpenSC 0.23.0 did wrong (compat §1.3).
    pub fixed_host_challenge: Option<[u8; 8]>,
}

struct State {
    mode: Mode,
    caps: Capabilities,
    channel: Option<SecureChannel>,
    opts: ConnectOptions,
    rng: Box<dyn RngCore + Send>,
    login_lost: bool,
    reauth_count: u64,
    /// The last wrapped command was refused with a bare (unwrapped) SM-error status word, i.e.
    /// the card did not execute it.
    last_refused_plain: bool,
}

/// One connection to an ePass2003 card; owns the SM session.
pub struct Connection<T: Transport> {
    transport: T,
    state: State,
}

impl<T: Transport> Connection<T> {
    /// Connect (§2.4): GET DATA `01 86` in plain, choose the mode, and run mutual authentication
    /// (§3.3) if SM is on. Unlike OpenSC, a failed mutual authentication fails the connect
    /// (§11.1.9). A failed GET DATA means "not an ePass2003".
    pub fn connect(mut transport: T, opts: ConnectOptions) -> Result<Self> {
        let rng: Box<dyn RngCore + Send> = match opts.host_challenge_seed {
            Some(s) => Box::new(rand::rngs::StdRng::seed_from_u64(s)),
            None => Box::new(rand::rngs::OsRng),
        };
        let mut state = State {
            mode: Mode::Plain,
            caps: Capabilities { raw: Vec::new() },
            channel: None,
            opts,
            rng,
            login_lost: false,
            reauth_count: 0,
            last_refused_plain: false,
        };
        {
            let ex = transport.begin()?;
            let mut s = CardSession {
                ex: Some(ex),
                st: &mut state,
            };
            let r = s.send_plain(&cmd::get_capabilities())?;
            if !r.sw.is_success() {
                return Err(Error::NotSupported(format!(
                    "GET DATA 01 86 failed with {}",
                    r.sw
                )));
            }
            s.st.caps = Capabilities { raw: r.data };
            s.st.mode = s.st.caps.mode();
            debug!(mode = ?s.st.mode, "ePass2003 capabilities");
            if let Mode::Sm(_) = s.st.mode {
                s.mutual_authenticate()?;
            }
            s.end()?;
        }
        Ok(Connection { transport, state })
    }

    /// Open an exclusive transaction. If the transport reports that the card was reset by
    /// someone else, the SM session is rebuilt and the login-lost flag set.
    pub fn transaction(&mut self) -> Result<CardSession<'_>> {
        let ex = self.transport.begin()?;
        let reset = ex.was_reset();
        let mut s = CardSession {
            ex: Some(ex),
            st: &mut self.state,
        };
        if reset {
            s.st.channel = None;
            if let Mode::Sm(_) = s.st.mode {
                s.mutual_authenticate()?;
            }
            s.st.login_lost = true;
            s.st.reauth_count += 1;
        }
        Ok(s)
    }

    /// The protection mode chosen at connect.
    pub fn mode(&self) -> Mode {
        self.state.mode
    }
    /// The capability object read at connect (§2.2).
    pub fn capabilities(&self) -> &Capabilities {
        &self.state.caps
    }
    /// The card's ATR.
    pub fn atr(&self) -> Vec<u8> {
        self.transport.atr()
    }
    /// Returns `true` once after the login state was lost (session re-established, §3.6).
    pub fn take_login_lost(&mut self) -> bool {
        std::mem::take(&mut self.state.login_lost)
    }
    /// How many times the SM session was re-established after a loss.
    pub fn reauth_count(&self) -> u64 {
        self.state.reauth_count
    }
    /// Give back the transport (e.g. to disconnect a PC/SC card with `LeaveCard`).
    pub fn into_transport(self) -> T {
        self.transport
    }
    /// Direct access to the transport.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }
}

/// ATR match per §2.1 (23 bytes, masked compare).
pub fn atr_matches(atr: &[u8]) -> bool {
    const PAT: [u8; 23] = [
        0x3B, 0x9F, 0x95, 0x81, 0x31, 0xFE, 0x9F, 0x00, 0x66, 0x46, 0x53, 0x05, 0, 0, 0, 0x71,
        0xDF, 0, 0, 0, 0, 0, 0,
    ];
    const MASK: [u8; 23] = [
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0xFF,
        0xFF, 0xFF, 0xFF, 0, 0, 0, 0,
    ];
    atr.len() == 23
        && atr
            .iter()
            .zip(PAT.iter().zip(MASK.iter()))
            .all(|(a, (p, m))| a & m == p & m)
}

/// One transaction on a [`Connection`]; every card command is a method here.
pub struct CardSession<'a> {
    ex: Option<Box<dyn Exchange + 'a>>,
    st: &'a mut State,
}

impl Drop for CardSession<'_> {
    fn drop(&mut self) {
        if let Some(ex) = self.ex.take() {
            let _ = ex.end();
        }
    }
}

fn ok_data(r: Response) -> Result<Vec<u8>> {
    r.into_result()
}

fn ok_empty(r: Response) -> Result<()> {
    r.into_result().map(|_| ())
}

impl CardSession<'_> {
    /// End the transaction explicitly (leaving the card).
    pub fn end(mut self) -> Result<()> {
        match self.ex.take() {
            Some(ex) => ex.end(),
            None => Ok(()),
        }
    }

    /// The protection mode.
    pub fn mode(&self) -> Mode {
        self.st.mode
    }

    /// Returns `true` once after the login state was lost (§3.6 recovery happened).
    pub fn take_login_lost(&mut self) -> bool {
        std::mem::take(&mut self.st.login_lost)
    }

    fn transmit_raw(&mut self, bytes: &[u8]) -> Result<Vec<u8>> {
        let ex = self
            .ex
            .as_mut()
            .ok_or_else(|| Error::Transport("transaction ended".into()))?;
        ex.transmit(bytes)
    }

    fn log_cmd(c: &Command, wire_len: usize) {
        debug!(
            cla = format_args!("{:02X}", c.cla),
            ins = format_args!("{:02X}", c.ins),
            p1 = format_args!("{:02X}", c.p1),
            p2 = format_args!("{:02X}", c.p2),
            lc = c.data.len(),
            le = ?c.le,
            wire_len,
            "C-APDU"
        );
        if c.ins().may_log_command_data() {
            trace!(data = %hex::encode_upper(&c.data), "C-APDU data");
        }
    }

    fn log_resp(c: &Command, r: &Response, started: Instant) {
        debug!(sw = %r.sw, len = r.data.len(), us = started.elapsed().as_micros() as u64, "R-APDU");
        if c.ins().may_log_response_data() {
            trace!(data = %hex::encode_upper(&r.data), "R-APDU data");
        }
    }

    /// Send without SM, whatever the mode (handshake, GET DATA 86).
    fn send_plain(&mut self, c: &Command) -> Result<Response> {
        let wire = c.to_bytes()?;
        Self::log_cmd(c, wire.len());
        let t = Instant::now();
        let r = Response::from_bytes(&self.transmit_raw(&wire)?)?;
        Self::log_resp(c, &r, t);
        Ok(r)
    }

    /// Send one command, wrapped if SM is on (§3.4), and check/unwrap the answer (§3.5).
    fn send(&mut self, c: &Command) -> Result<Response> {
        if self.st.mode == Mode::Plain {
            return self.send_plain(c);
        }
        let ch = self
            .st
            .channel
            .as_mut()
            .ok_or_else(|| Error::SmVerification("no SM session".into()))?;
        let wire = ch.wrap(c)?;
        Self::log_cmd(c, wire.len());
        let t = Instant::now();
        let raw = self.transmit_raw(&wire)?;
        self.st.last_refused_plain =
            matches!(raw.as_slice(), [0x69, 0x85] | [0x69, 0x87] | [0x69, 0x88]);
        let ch = self
            .st
            .channel
            .as_mut()
            .ok_or_else(|| Error::SmVerification("no SM session".into()))?;
        match ch.unwrap_response(&raw) {
            Ok(r) => {
                Self::log_resp(c, &r, t);
                Ok(r)
            }
            Err(e) => {
                warn!(error = %e, ins = format_args!("{:02X}", c.ins), "SM response rejected; session dropped");
                self.st.channel = None;
                Err(e)
            }
        }
    }

    /// Mutual authentication (§3.3) with a fresh host challenge.
    fn mutual_authenticate(&mut self) -> Result<()> {
        let Mode::Sm(v) = self.st.mode else {
            return Ok(());
        };
        self.st.channel = None;
        let mut h = [0u8; 8];
        match self.st.opts.fixed_host_challenge {
            Some(f) => h = f,
            None => self.st.rng.fill_bytes(&mut h),
        }
        let hs = Handshake::new(v, self.st.opts.static_keys.clone(), h)
            .with_tries_query_mac(self.st.opts.fips_tries_query_mac);
        let r = self.send_plain(&hs.initialize_update())?;
        if !r.sw.is_success() {
            return Err(Error::MutualAuth(format!("INITIALIZE UPDATE: {}", r.sw)));
        }
        let (ch, ea) = hs.complete(&r.data)?;
        let r = self.send_plain(&ea)?;
        if !r.sw.is_success() {
            return Err(Error::MutualAuth(format!(
                "EXTERNAL AUTHENTICATE: {}",
                r.sw
            )));
        }
        self.st.channel = Some(ch);
        debug!(variant = ?v, "SM session open");
        Ok(())
    }

    /// Start a new SM session (§3.6). This is also how "logout" works: the card drops its
    /// security level on INITIALIZE UPDATE. Sets the login-lost flag. In plain mode (§3.7)
    /// there is no logout: [`Error::NotSupported`].
    pub fn logout(&mut self) -> Result<()> {
        if self.st.mode == Mode::Plain {
            return Err(Error::NotSupported(
                "logout without secure messaging (§3.7)".into(),
            ));
        }
        self.mutual_authenticate()?;
        self.st.login_lost = true;
        Ok(())
    }

    /// The single lost-session rule: run `f`; on a session loss re-authenticate once, flag the
    /// login as lost, and run `f` once more.
    fn run<R>(&mut self, mut f: impl FnMut(&mut Self) -> Result<R>) -> Result<R> {
        match f(self) {
            Err(e) if e.is_session_loss() && matches!(self.st.mode, Mode::Sm(_)) => {
                warn!(error = %e, "SM session lost; re-authenticating and retrying once");
                self.mutual_authenticate()?;
                self.st.login_lost = true;
                self.st.reauth_count += 1;
                f(self)
            }
            r => r,
        }
    }

    /// Send a command and map a non-9000 SW to an error, with lost-session recovery.
    fn exec(&mut self, c: &Command) -> Result<Vec<u8>> {
        self.run(|s| s.send(c).and_then(ok_data))
    }

    // ---------------------------------------------------------------- GET DATA / challenge

    /// GET DATA `01 86` (§2.2), always plain. No recovery.
    pub fn get_capabilities(&mut self) -> Result<Capabilities> {
        Ok(Capabilities {
            raw: self
                .send_plain(&cmd::get_capabilities())
                .and_then(ok_data)?,
        })
    }

    /// GET DATA `01 80`: the 8-byte serial number (§5.7).
    pub fn get_serial(&mut self) -> Result<Vec<u8>> {
        let mut d = self.exec(&cmd::get_serial())?;
        if d.len() < 8 {
            return Err(Error::Malformed(format!("serial of {} bytes", d.len())));
        }
        d.truncate(8);
        Ok(d)
    }

    fn challenge_raw(&mut self) -> Result<[u8; 16]> {
        let d = self.send(&cmd::get_challenge()).and_then(ok_data)?;
        if d.len() < 8 {
            return Err(Error::Malformed(format!("challenge of {} bytes", d.len())));
        }
        let mut c = [0u8; 16];
        let n = d.len().min(16);
        c[..n].copy_from_slice(&d[..n]);
        Ok(c)
    }

    /// GET CHALLENGE (§5.8): 16 card random bytes (at least 8 are required).
    pub fn get_challenge(&mut self) -> Result<[u8; 16]> {
        self.run(|s| s.challenge_raw())
    }

    // ---------------------------------------------------------------- files

    /// SELECT by logical FID (§5.1; the ×0x20 hook of §4.1 is applied). Returns the FCI (§4.5).
    pub fn select_fid(&mut self, fid: u16) -> Result<Fci> {
        Fci::parse(&self.exec(&cmd::select_fid(fid))?)
    }

    /// SELECT a path of logical FIDs (§4.1): `3F00` is prefixed if missing; one SELECT per
    /// component, always starting at the MF. Returns the FCI of the last component.
    pub fn select_path(&mut self, path: &[u16]) -> Result<Fci> {
        let mut full = Vec::with_capacity(path.len() + 1);
        if path.first() != Some(&0x3F00) {
            full.push(0x3F00);
        }
        full.extend_from_slice(path);
        if full.len() > 3 {
            return Err(Error::InvalidArgument("path deeper than MF/DF/EF".into()));
        }
        self.run(|s| {
            let mut last = None;
            for &f in &full {
                last = Some(Fci::parse(&s.send(&cmd::select_fid(f)).and_then(ok_data)?)?);
            }
            last.ok_or_else(|| Error::InvalidArgument("empty path".into()))
        })
    }

    /// SELECT by DF name (§4.1, `00 A4 04 00`).
    pub fn select_df_name(&mut self, name: &[u8]) -> Result<Fci> {
        Fci::parse(&self.exec(&cmd::select_df_name(name))?)
    }

    /// READ BINARY of `len` bytes from `offset` of the current EF, in chunks of 216 (§5.2).
    /// Stops early (returning fewer bytes) if the card returns a short chunk.
    pub fn read_binary(&mut self, offset: u16, len: usize) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let off = usize::from(offset) + out.len();
            let off16 = u16::try_from(off)
                .ok()
                .filter(|o| *o <= 0x7FFF)
                .ok_or_else(|| Error::InvalidArgument("offset beyond 0x7FFF".into()))?;
            let n = (len - out.len()).min(cmd::READ_CHUNK);
            let d = self.exec(&cmd::read_binary(off16, n as u8))?;
            if d.is_empty() {
                break;
            }
            let short = d.len() < n;
            out.extend_from_slice(&d[..d.len().min(n)]);
            if short {
                break;
            }
        }
        Ok(out)
    }

    /// UPDATE BINARY at `offset` in chunks of 232 (§5.2).
    pub fn update_binary(&mut self, offset: u16, data: &[u8]) -> Result<()> {
        for (i, chunk) in data.chunks(cmd::WRITE_CHUNK).enumerate() {
            let off = usize::from(offset) + i * cmd::WRITE_CHUNK;
            let off16 = u16::try_from(off)
                .ok()
                .filter(|o| *o <= 0x7FFF)
                .ok_or_else(|| Error::InvalidArgument("offset beyond 0x7FFF".into()))?;
            self.exec(&cmd::update_binary(off16, chunk))?;
        }
        Ok(())
    }

    /// READ RECORD `n` (1-based) of the current linear EF (§5.3).
    pub fn read_record(&mut self, n: u8) -> Result<Vec<u8>> {
        self.exec(&cmd::read_record(n))
    }
    /// UPDATE RECORD `n` (§5.3).
    pub fn update_record(&mut self, n: u8, data: &[u8]) -> Result<()> {
        self.exec(&cmd::update_record(n, data)).map(|_| ())
    }
    /// APPEND RECORD (§5.3).
    pub fn append_record(&mut self, data: &[u8]) -> Result<()> {
        self.exec(&cmd::append_record(data)).map(|_| ())
    }
    /// CREATE FILE in the current DF (§5.4). A created DF becomes the current DF.
    pub fn create_file(&mut self, fcp: &Fcp) -> Result<()> {
        self.exec(&cmd::create_file(fcp)).map(|_| ())
    }
    /// DELETE FILE `fid` (logical) from the current DF (§5.5).
    pub fn delete_file(&mut self, fid: u16) -> Result<()> {
        self.exec(&cmd::delete_file(fid)).map(|_| ())
    }
    /// LIST FILES of the current DF (§5.6): on-card FIDs. A 256-byte answer starting `00 00`
    /// means "no files".
    pub fn list_files(&mut self) -> Result<Vec<u16>> {
        let d = self.exec(&cmd::list_files())?;
        if d.len() >= 2 && d[0] == 0 && d[1] == 0 {
            return Ok(Vec::new());
        }
        Ok(d.chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect())
    }

    // ---------------------------------------------------------------- PINs and keys

    /// INSTALL SECRET KEY into the current DF (§5.10). Data never logged.
    pub fn install_secret_key(&mut self, rec: &KeyRecord) -> Result<()> {
        self.exec(&cmd::install_secret_key(rec)).map(|_| ())
    }

    /// Change PIN `kid` with UPDATE SECRET KEY (§5.11); counter byte `max<<4|max`. The key's
    /// modify AC must be satisfied (usually: verify the old PIN first with [`Self::verify_pin`]).
    pub fn change_pin(&mut self, kid: u8, max_tries: u8, new_pin: &[u8]) -> Result<()> {
        self.exec(&cmd::update_pin_key(kid, max_tries, new_pin))
            .map(|_| ())
    }

    /// Verify a PIN (§5.12 a, §6.2): GET CHALLENGE, then EXTERNAL AUTHENTICATE `01 8k` with
    /// `3DES-3K(PINKEY, challenge[0..8])`. Errors: [`Error::WrongPin`] (63Cx),
    /// [`Error::WrongPinNoCounter`] (6300: a key without retry counter),
    /// [`Error::PinBlocked`] (6983). The unit is retried as a whole after a session loss.
    pub fn verify_pin(&mut self, kid: u8, pin: &[u8]) -> Result<()> {
        let key = crypto::pin_key(pin);
        self.run(|s| {
            let c = s.challenge_raw()?;
            let mut c8 = [0u8; 8];
            c8.copy_from_slice(&c[..8]);
            let crypt = crypto::pin_cryptogram(&key, &c8);
            let r = s.send_counted(&cmd::external_authenticate(kid, &crypt))?;
            match r.sw {
                StatusWord::Success => Ok(()),
                StatusWord::VerifyFail { tries } => Err(Error::WrongPin { tries_left: tries }),
                // A key installed with max tries 0 has no counter: a wrong PIN is `63 00`.
                StatusWord::AuthFailed => Err(Error::WrongPinNoCounter),
                sw => Err(Error::from_sw(sw)),
            }
        })
    }

    /// Tries left for PIN `kid` (§5.12 b): GET CHALLENGE then the no-data EXTERNAL
    /// AUTHENTICATE, answered `63Cx`. A blocked key (`6983`) gives `Ok(0)`. In FIPS mode the
    /// MAC follows [`FipsTriesQueryMac`] (default: OpenSC 0.23.0 form, compat §1.2).
    pub fn pin_tries_left(&mut self, kid: u8) -> Result<u8> {
        self.run(|s| {
            s.challenge_raw()?;
            let r = s.send(&cmd::tries_query(kid))?;
            match r.sw {
                StatusWord::VerifyFail { tries } => Ok(tries),
                StatusWord::AuthMethodBlocked => Ok(0),
                sw => Err(Error::from_sw(sw)),
            }
        })
    }

    /// VERIFY with a raw PIN (§5.13; used only for the erase magic PIN).
    pub fn verify_raw(&mut self, kid: u8, pin: &[u8]) -> Result<()> {
        self.run(|s| s.send_counted(&cmd::verify(kid, pin)).and_then(ok_data))
            .map(|_| ())
    }

    /// Send a command that spends a retry counter on failure (a PIN attempt). A session loss
    /// the card signals *before* executing it (a bare `6985`/`6987`/`6988`) is returned as is, so
    /// [`Self::run`] re-authenticates and resends. But if the card answered and only the answer
    /// failed verification, the attempt may have been counted: resending could spend a second
    /// try for one user attempt, so the session is re-established here and the outcome reported
    /// as [`Error::PinOutcomeUnknown`] (login state lost) instead.
    fn send_counted(&mut self, c: &Command) -> Result<Response> {
        match self.send(c) {
            Err(Error::SmVerification(m)) if !self.st.last_refused_plain => {
                warn!(reason = %m, "answer to a PIN attempt failed verification; not resending it");
                self.mutual_authenticate()?;
                self.st.login_lost = true;
                self.st.reauth_count += 1;
                Err(Error::PinOutcomeUnknown)
            }
            other => other,
        }
    }

    /// Erase the card (§5.20): SELECT 3F00 (absent → already erased), install the magic PIN in
    /// the MF, VERIFY it, DELETE 3F00.
    pub fn erase_card(&mut self) -> Result<()> {
        self.run(|s| {
            match s.send(&cmd::select_fid(0x3F00)).and_then(ok_data) {
                Ok(_) => {}
                Err(Error::FileNotFound) => return Ok(()),
                Err(e) => return Err(e),
            }
            s.send(&cmd::install_secret_key(&KeyRecord::magic_pin()))
                .and_then(ok_empty)?;
            s.send(&cmd::verify(0x01, cmd::MAGIC_PIN))
                .and_then(ok_empty)?;
            s.send(&cmd::delete_file(0x3F00)).and_then(ok_empty)
        })
    }

    // ---------------------------------------------------------------- asymmetric keys

    /// GENERATE KEY PAIR (§5.14) into already created internal EFs of the current DF.
    pub fn generate_key_pair(
        &mut self,
        alg: KeyAlgorithm,
        priv_fid: u16,
        pub_fid: u16,
    ) -> Result<()> {
        self.exec(&cmd::generate_key_pair(alg, priv_fid, pub_fid))
            .map(|_| ())
    }

    /// READ PUBLIC KEY, RSA (§5.15): the modulus, exactly `bits/8` bytes big-endian.
    pub fn read_rsa_public_key(&mut self, pub_fid: u16, bits: u16) -> Result<Vec<u8>> {
        let d = self.exec(&cmd::read_public_key(Some(bits), pub_fid))?;
        let n = usize::from(bits / 8);
        if d.len() < n {
            return Err(Error::Malformed(format!(
                "modulus of {} bytes, expected {n}",
                d.len()
            )));
        }
        Ok(d[..n].to_vec())
    }

    /// READ PUBLIC KEY, EC (§5.15): returns the uncompressed point `04 ‖ X ‖ Y` (65 bytes),
    /// parsed from `58 20 X 59 20 Y` (coordinates left-padded to 32 bytes).
    pub fn read_ec_public_key(&mut self, pub_fid: u16) -> Result<Vec<u8>> {
        let d = self.exec(&cmd::read_public_key(None, pub_fid))?;
        let tl = crate::tlv::parse_all(&d)?;
        let get = |tag: u8| -> Result<Vec<u8>> {
            let t = tl
                .iter()
                .find(|t| t.tag == tag)
                .ok_or_else(|| Error::Malformed(format!("no tag {tag:02X} in EC key")))?;
            let v = &d[t.value_start..t.end];
            if v.len() > 32 {
                return Err(Error::Malformed(
                    "EC coordinate longer than 32 bytes".into(),
                ));
            }
            let mut out = vec![0u8; 32 - v.len()];
            out.extend_from_slice(v);
            Ok(out)
        };
        let mut p = vec![0x04];
        p.extend(get(0x58)?);
        p.extend(get(0x59)?);
        Ok(p)
    }

    /// WRITE RSA KEY COMPONENT (§5.16): `comp` 02 = modulus, 03 = private exponent.
    pub fn write_rsa_component(&mut self, comp: u8, priv_fid: u16, value: &[u8]) -> Result<()> {
        self.exec(&cmd::write_key_component(comp, priv_fid, value))
            .map(|_| ())
    }

    /// Import an RSA private key (§5.16): writes n then d (no e, no CRT) into an already
    /// created private-key EF.
    pub fn import_rsa_key(&mut self, priv_fid: u16, n: &[u8], d: &[u8]) -> Result<()> {
        self.write_rsa_component(0x02, priv_fid, n)?;
        self.write_rsa_component(0x03, priv_fid, d)
    }

    /// Import an EC P-256 private key into an already created EC private-key EF (FDB 13):
    /// `80 E7 02` with the uncompressed point `04 ‖ X ‖ Y` (65 bytes), then `80 E7 03` with
    /// the scalar d (32 bytes, big-endian).
    ///
    /// **Inferred APDU, not captured from a real card**: the protocol documents no EC import
    /// (OpenSC never imports EC keys, §5.21); this is WRITE KEY COMPONENT by analogy with RSA
    /// (02 = public part, 03 = private part), as the emulator implements it
    /// (`docs/protocol-notes.md`). Lengths are checked here; that d matches the point is the
    /// caller's check.
    pub fn import_ec_key(&mut self, priv_fid: u16, d: &[u8], point: &[u8]) -> Result<()> {
        if d.len() != 32 {
            return Err(Error::InvalidArgument(format!(
                "EC private scalar of {} bytes, expected 32",
                d.len()
            )));
        }
        if point.len() != 65 || point[0] != 0x04 {
            return Err(Error::InvalidArgument(
                "EC point must be uncompressed (04 ‖ X ‖ Y, 65 bytes)".into(),
            ));
        }
        self.exec(&cmd::write_key_component(0x02, priv_fid, point))?;
        self.exec(&cmd::write_key_component(0x03, priv_fid, d))
            .map(|_| ())
    }

    /// MANAGE SECURITY ENVIRONMENT SET (§5.17).
    pub fn mse_set(&mut self, env: SecurityEnv, priv_fid: u16) -> Result<()> {
        self.exec(&cmd::mse_set(env, priv_fid)).map(|_| ())
    }

    /// Raw RSA private-key operation (sign or decipher, §5.18): MSE (B8/84) then PSO `2A 80 86`
    /// on one modulus-length block. Returns `x^d mod n`, same length. Host does all padding.
    pub fn rsa_raw(&mut self, priv_fid: u16, block: &[u8]) -> Result<Vec<u8>> {
        self.run(|s| {
            s.send(&cmd::mse_set(SecurityEnv::RsaRaw, priv_fid))
                .and_then(ok_empty)?;
            s.send(&cmd::pso_rsa_raw(block)).and_then(ok_data)
        })
    }

    /// ECDSA P-256 over a host-computed hash (§5.19): MSE (B6, alg 91 for 20 bytes, else 92)
    /// then PSO `2A 9E 9A`. Returns raw `r ‖ s` (64 bytes). Hashes longer than 32 bytes are
    /// truncated to 32.
    pub fn ecdsa_sign(&mut self, priv_fid: u16, hash: &[u8]) -> Result<[u8; 64]> {
        let h = &hash[..hash.len().min(32)];
        let env = if h.len() == 20 {
            SecurityEnv::EcdsaSha1
        } else {
            SecurityEnv::EcdsaSha256
        };
        let d = self.run(|s| {
            s.send(&cmd::mse_set(env, priv_fid)).and_then(ok_empty)?;
            s.send(&cmd::pso_ecdsa(h)).and_then(ok_data)
        })?;
        d.as_slice()
            .try_into()
            .map_err(|_| Error::Malformed(format!("ECDSA signature of {} bytes", d.len())))
    }

    /// Send an arbitrary plain command through the session (wrapped if SM is on), with recovery.
    /// Returns the response whatever its SW.
    pub fn transmit(&mut self, c: &Command) -> Result<Response> {
        self.run(|s| {
            let r = s.send(c)?;
            if matches!(
                r.sw,
                StatusWord::ConditionsNotSatisfied | StatusWord::SmDataIncorrect
            ) {
                return Err(Error::Sw(r.sw));
            }
            Ok(r)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(h: &str) -> Capabilities {
        Capabilities {
            raw: hex::decode(h.replace(' ', "")).unwrap(),
        }
    }

    #[test]
    fn variant_detection_2_2() {
        let fips =
            caps("800101 81021DD4 820100 83020000 840101 850A07552E6F44EB001A0003 860100 870101");
        assert_eq!(fips.mode(), Mode::Sm(Variant::Fips));
        let old_aes = caps("800101 81021DD5 820103");
        assert_eq!(old_aes.mode(), Mode::Sm(Variant::Aes));
        let des =
            caps("800102 81021DD4 820100 83020000 840101 850A00000000000000000000 860100 870100");
        assert_eq!(des.mode(), Mode::Sm(Variant::Des));
        let plain =
            caps("800101 81021DD4 820100 83020000 840100 850A00000000000000000000 860100 870101");
        assert_eq!(plain.mode(), Mode::Plain);
        assert_eq!(caps("").mode(), Mode::Sm(Variant::Des));
    }

    #[test]
    fn atr_pattern_2_1() {
        let atr = hex::decode("3B9F958131FE9F006646530510523971DF00000390 00EB".replace(' ', ""))
            .unwrap();
        assert!(atr_matches(&atr));
        let mut bad = atr.clone();
        bad[8] = 0;
        assert!(!atr_matches(&bad));
        assert!(!atr_matches(&atr[..22]));
    }
}
