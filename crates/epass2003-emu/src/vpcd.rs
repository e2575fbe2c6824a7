//! Attach a [`Card`] to pcscd through the vpcd virtual reader (Debian `vsmartcard-vpcd`).
//!
//! vpcd protocol (pcscd listens, the card connects as a TCP client; one connection per reader
//! slot, 127.0.0.1:35963 for `Virtual PCD 00 00`, :35964 for `Virtual PCD 00 01`): every message
//! in both directions is a 2-byte big-endian length followed by that many bytes. From pcscd, a
//! 1-byte message is a control code: `00` power off, `01` power on, `02` reset (no reply), `04`
//! "send the ATR" (reply: the ATR). Anything longer is a command APDU; the reply is the response
//! APDU. pcscd polls presence with `04` about every 400 ms.
//!
//! Debian's vpcd 3.3 writes the length and the body in two `send()`s without `TCP_NODELAY`, so
//! Nagle plus our delayed ACK would cost ~45 ms per APDU. We set `TCP_QUICKACK` before every
//! read (Linux clears it after each ACK), which brings an APDU down to ~0.1 ms.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use socket2::SockRef;

use crate::card::{Card, CardError};

/// Control code: power off.
pub const CTRL_OFF: u8 = 0x00;
/// Control code: power on.
pub const CTRL_ON: u8 = 0x01;
/// Control code: warm reset.
pub const CTRL_RESET: u8 = 0x02;
/// Control code: send the ATR.
pub const CTRL_ATR: u8 = 0x04;

/// Default address of vpcd's first reader slot.
pub const DEFAULT_ADDR: &str = "127.0.0.1:35963";

/// Why attaching failed.
#[derive(Debug, thiserror::Error)]
pub enum VpcdError {
    /// Nothing listens at the address: pcscd is not running or has no vpcd reader there.
    #[error(
        "no vpcd reader at {addr}: {source}. Is pcscd running with the vpcd driver \
         (Debian package vsmartcard-vpcd, /etc/reader.conf.d/vpcd)? Start it with `pcscd -f &`."
    )]
    NotThere {
        /// The address tried.
        addr: String,
        /// The connect error.
        source: io::Error,
    },
    /// The address does not resolve.
    #[error("bad vpcd address {0}")]
    BadAddress(String),
}

/// Options for [`attach`].
#[derive(Debug, Clone)]
pub struct AttachOptions {
    /// How long to keep trying the first connection before giving up (0: one try).
    pub first_connect_timeout: Duration,
    /// Pause between reconnection attempts after pcscd went away.
    pub reconnect_delay: Duration,
    /// After a test hook pulls the card, how long it stays out before being reinserted.
    pub reinsert_delay: Duration,
    /// Set to true to make [`attach`] return.
    pub stop: Arc<AtomicBool>,
}

impl Default for AttachOptions {
    fn default() -> Self {
        AttachOptions {
            first_connect_timeout: Duration::from_secs(0),
            reconnect_delay: Duration::from_millis(300),
            reinsert_delay: Duration::from_secs(1),
            stop: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// How one connection ended.
enum Ended {
    /// pcscd closed the socket or an I/O error happened: reconnect.
    Disconnected(io::Error),
    /// A hook pulled the card: stay away for a while, then reinsert.
    Pulled,
    /// [`AttachOptions::stop`] was set.
    Stopped,
}

fn resolve(addr: &str) -> Result<SocketAddr, VpcdError> {
    addr.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| VpcdError::BadAddress(addr.to_string()))
}

/// Insert `card` into the vpcd reader at `addr` and serve it until `opts.stop` is set.
///
/// The first connection must succeed within `opts.first_connect_timeout`, otherwise this returns
/// [`VpcdError::NotThere`]. After that, a lost connection (pcscd restarted) is retried forever.
pub fn attach(card: &mut Card, addr: &str, opts: &AttachOptions) -> Result<(), VpcdError> {
    let sockaddr = resolve(addr)?;
    let deadline = std::time::Instant::now() + opts.first_connect_timeout;
    let mut stream = loop {
        match TcpStream::connect_timeout(&sockaddr, Duration::from_secs(2)) {
            Ok(s) => break s,
            Err(e) if std::time::Instant::now() >= deadline => {
                return Err(VpcdError::NotThere {
                    addr: addr.to_string(),
                    source: e,
                })
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    tracing::info!(%addr, "card inserted into vpcd reader");
    loop {
        match serve_connection(card, &mut stream, opts) {
            Ended::Stopped => return Ok(()),
            Ended::Disconnected(e) => {
                tracing::info!(%addr, error = %e, "vpcd connection lost; reconnecting");
            }
            Ended::Pulled => {
                tracing::info!(%addr, "card pulled by test hook");
                drop(stream);
                sleep_unless_stopped(opts.reinsert_delay, &opts.stop);
                card.reinsert();
            }
        }
        card.power_off();
        stream = loop {
            if opts.stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            match TcpStream::connect_timeout(&sockaddr, Duration::from_secs(2)) {
                Ok(s) => break s,
                Err(_) => sleep_unless_stopped(opts.reconnect_delay, &opts.stop),
            }
        };
        tracing::info!(%addr, "card reinserted into vpcd reader");
    }
}

fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) {
    let step = Duration::from_millis(50);
    let mut left = total;
    while !left.is_zero() && !stop.load(Ordering::Relaxed) {
        let d = left.min(step);
        std::thread::sleep(d);
        left -= d;
    }
}

/// Read exactly `buf.len()` bytes, acknowledging at once and checking the stop flag on timeouts.
fn read_exact_quick(
    stream: &mut TcpStream,
    buf: &mut [u8],
    stop: &AtomicBool,
) -> Result<(), Option<io::Error>> {
    let mut got = 0;
    while got < buf.len() {
        // Linux clears TCP_QUICKACK after it acknowledges; set it before every read.
        let _ = SockRef::from(&*stream).set_quickack(true);
        match stream.read(&mut buf[got..]) {
            Ok(0) => {
                return Err(Some(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "vpcd closed",
                )))
            }
            Ok(n) => got += n,
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut =>
            {
                if stop.load(Ordering::Relaxed) {
                    return Err(None);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Some(e)),
        }
    }
    Ok(())
}

fn send_msg(stream: &mut TcpStream, payload: &[u8]) -> io::Result<()> {
    let len = u16::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "message over 65535 bytes"))?;
    let mut msg = Vec::with_capacity(payload.len() + 2);
    msg.extend_from_slice(&len.to_be_bytes());
    msg.extend_from_slice(payload);
    stream.write_all(&msg)
}

fn serve_connection(card: &mut Card, stream: &mut TcpStream, opts: &AttachOptions) -> Ended {
    let _ = stream.set_nodelay(true);
    if let Err(e) = stream.set_read_timeout(Some(Duration::from_millis(200))) {
        return Ended::Disconnected(e);
    }
    let mut len = [0u8; 2];
    loop {
        match read_exact_quick(stream, &mut len, &opts.stop) {
            Ok(()) => {}
            Err(None) => return Ended::Stopped,
            Err(Some(e)) => return Ended::Disconnected(e),
        }
        let n = usize::from(u16::from_be_bytes(len));
        let mut msg = vec![0u8; n];
        match read_exact_quick(stream, &mut msg, &opts.stop) {
            Ok(()) => {}
            Err(None) => return Ended::Stopped,
            Err(Some(e)) => return Ended::Disconnected(e),
        }
        let reply = match answer(card, &msg) {
            Ok(r) => r,
            Err(Pulled) => return Ended::Pulled,
        };
        if let Some(r) = reply {
            if let Err(e) = send_msg(stream, &r) {
                return Ended::Disconnected(e);
            }
        }
    }
}

/// The card was pulled (the connection ends).
pub(crate) struct Pulled;

/// The reply to one vpcd message: a 1-byte control code (power off / on, reset, ATR) or a
/// C-APDU; `None` for the control codes that have no reply.
pub(crate) fn answer(card: &mut Card, msg: &[u8]) -> Result<Option<Vec<u8>>, Pulled> {
    if let [code] = msg {
        return Ok(match *code {
            CTRL_OFF => {
                card.power_off();
                None
            }
            CTRL_ON => {
                card.power_on();
                None
            }
            CTRL_RESET => {
                card.reset();
                None
            }
            CTRL_ATR => Some(card.atr()),
            other => {
                tracing::warn!(code = other, "unknown vpcd control code");
                None
            }
        });
    }
    match card.transmit(msg) {
        Ok(r) => Ok(Some(r)),
        Err(CardError::Removed) => Err(Pulled),
        Err(e) => {
            // The card answers every APDU itself; an error here is an emulator fault.
            tracing::error!(error = %e, "card failed to answer; sending 6F00");
            Ok(Some(vec![0x6F, 0x00]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::{CardOptions, Variant};
    use std::net::TcpListener;

    fn recv(s: &mut TcpStream) -> Vec<u8> {
        let mut l = [0u8; 2];
        s.read_exact(&mut l).unwrap();
        let mut b = vec![0u8; usize::from(u16::from_be_bytes(l))];
        s.read_exact(&mut b).unwrap();
        b
    }

    #[test]
    fn not_there_is_a_clear_error() {
        // Bind then drop to get a port nobody listens on.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut card = Card::new_blank(Variant::Aes, CardOptions::default());
        let err = attach(
            &mut card,
            &format!("127.0.0.1:{port}"),
            &AttachOptions::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("no vpcd reader"), "{err}");
    }

    #[test]
    fn speaks_the_vpcd_framing_and_reconnects() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let opts = AttachOptions {
            reconnect_delay: Duration::from_millis(20),
            ..AttachOptions::default()
        };
        let stop = opts.stop.clone();
        let card = Card::new_blank(Variant::Aes, CardOptions::default());
        let expected_atr = card.atr();
        let th = std::thread::spawn(move || {
            let mut card = card;
            attach(&mut card, &addr, &opts).map(|_| card.counters().apdus)
        });
        for _round in 0..2 {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(&[0, 1, CTRL_ATR]).unwrap();
            assert_eq!(recv(&mut s), expected_atr);
            s.write_all(&[0, 1, CTRL_ON]).unwrap();
            // GET DATA 01 86 is answered in plain on every variant.
            s.write_all(&[0, 5, 0x00, 0xCA, 0x01, 0x86, 0x00]).unwrap();
            let r = recv(&mut s);
            assert_eq!(&r[r.len() - 2..], &[0x90, 0x00]);
            assert_eq!(&r[..3], &[0x80, 0x01, 0x01]);
            drop(s); // pcscd "restarts": the card must come back by itself
        }
        let (_s, _) = listener.accept().unwrap();
        stop.store(true, Ordering::Relaxed);
        let apdus = th.join().unwrap().unwrap();
        assert_eq!(apdus, 2);
    }
}
