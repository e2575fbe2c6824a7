//! `epass2003-emu`: create emulated ePass2003 cards and insert them into pcscd's vpcd reader.
//!
//! ```text
//! epass2003-emu new    --state FILE [--variant aes|fips|des] [--seed N] [--capacity BYTES]
//! epass2003-emu attach --state FILE [--vpcd HOST:PORT] [--wait SECS] [latency and test-hook options]
//! epass2003-emu info   --state FILE
//! ```
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use epass2003_emu::store::StateFile;
use epass2003_emu::vpcd::{self, AttachOptions};
use epass2003_emu::{Card, CardOptions, Variant};

#[derive(Parser)]
#[command(
    name = "epass2003-emu",
    version,
    about = "A software Feitian ePass2003 token"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a blank (erased) card in a new state file.
    New {
        /// The state file to create (refuses to overwrite an existing one).
        #[arg(long)]
        state: PathBuf,
        /// Secure-messaging variant: aes (default), fips or des.
        #[arg(long, default_value = "aes", value_parser = parse_variant)]
        variant: Variant,
        /// Seed the card's random generator (serial, challenges, keys): for reproducible tests
        /// only; such a card is not secure.
        #[arg(long)]
        seed: Option<u64>,
        /// Memory capacity in bytes (every file's body plus 32 bytes of header); default 65536
        /// (64 KiB). Creating a file beyond it is refused with `6A 84` (not enough memory).
        #[arg(long)]
        capacity: Option<u32>,
    },
    /// Insert the card into pcscd's vpcd reader and serve it until killed.
    Attach {
        /// The card's state file (locked while attached; every change is saved before the card
        /// answers).
        #[arg(long)]
        state: PathBuf,
        /// vpcd address: 127.0.0.1:35963 is reader `Virtual PCD 00 00`, :35964 is `00 01`.
        #[arg(long, default_value = vpcd::DEFAULT_ADDR)]
        vpcd: String,
        /// Keep trying the first connection this many seconds (default: fail at once).
        #[arg(long, default_value_t = 0.0)]
        wait: f64,
        /// Latency model: delay per APDU, in milliseconds.
        #[arg(long, default_value_t = 0.0)]
        apdu_ms: f64,
        /// Latency model: delay per RSA private-key operation, in milliseconds.
        #[arg(long, default_value_t = 0.0)]
        rsa_ms: f64,
        /// Latency model: delay per key generation, in milliseconds.
        #[arg(long, default_value_t = 0.0)]
        keygen_ms: f64,
        /// Latency model: delay per ECDSA operation, in milliseconds.
        #[arg(long, default_value_t = 0.0)]
        ec_ms: f64,
        /// Test hook: pull the card after this many APDUs (it is reinserted a second later).
        #[arg(long)]
        pull_after: Option<u64>,
    },
    /// Print what kind of card a state file holds.
    Info {
        /// The card's state file.
        #[arg(long)]
        state: PathBuf,
    },
}

fn parse_variant(s: &str) -> Result<Variant, String> {
    match s.to_ascii_lowercase().as_str() {
        "aes" => Ok(Variant::Aes),
        "fips" => Ok(Variant::Fips),
        "des" | "3des" => Ok(Variant::Des),
        other => Err(format!("unknown variant {other:?}: use aes, fips or des")),
    }
}

fn ms(v: f64) -> Duration {
    Duration::from_secs_f64(v.max(0.0) / 1000.0)
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.cmd {
        Cmd::New {
            state,
            variant,
            seed,
            capacity,
        } => {
            let opts = CardOptions {
                rng_seed: seed,
                capacity,
                ..CardOptions::default()
            };
            let card = Card::new_blank(variant, opts);
            StateFile::create(&state, &card).map_err(|e| e.to_string())?;
            println!(
                "created blank {variant:?} card, serial {}, in {}",
                hex(&card.serial()).replace(' ', ""),
                state.display()
            );
            Ok(())
        }
        Cmd::Info { state } => {
            let card = StateFile::peek(&state).map_err(|e| e.to_string())?;
            println!("variant: {:?}", card.variant());
            println!(
                "serial:  {}",
                hex(&card.serial()).replace(' ', "").to_lowercase()
            );
            println!("ATR:     {}", hex(&card.atr()));
            println!(
                "memory:  {} of {} bytes used, {} free",
                card.memory_used(),
                card.capacity(),
                card.memory_free()
            );
            for k in card.secret_keys() {
                let path: String = k.df.iter().map(|f| format!("{f:04X}")).collect();
                let what = match (k.key_type, k.kid) {
                    (0x04, 1) => "user PIN",
                    (0x04, 2) => "PUK",
                    (0x04, _) => "PIN key",
                    (0x06, _) => "plain PIN",
                    (0x01, _) => "SM ENC key",
                    (0x02, _) => "SM MAC key",
                    _ => "key",
                };
                let state = if k.max_tries != 0 && k.remaining == 0 {
                    " (blocked)"
                } else {
                    ""
                };
                println!(
                    "key:     {path}/kid {} {what}: tries left {} of {}{state}",
                    k.kid, k.remaining, k.max_tries
                );
            }
            Ok(())
        }
        Cmd::Attach {
            state,
            vpcd,
            wait,
            apdu_ms,
            rsa_ms,
            keygen_ms,
            ec_ms,
            pull_after,
        } => {
            let mut card = StateFile::open_persistent(&state).map_err(|e| e.to_string())?;
            {
                let hooks = card.hooks_mut();
                hooks.latency.per_apdu = ms(apdu_ms);
                hooks.latency.per_rsa_op = ms(rsa_ms);
                hooks.latency.per_rsa_keygen = ms(keygen_ms);
                hooks.latency.per_ec_op = ms(ec_ms);
                hooks.pull_after = pull_after;
            }
            let opts = AttachOptions {
                first_connect_timeout: Duration::from_secs_f64(wait.max(0.0)),
                ..AttachOptions::default()
            };
            eprintln!(
                "epass2003-emu: {:?} card {} from {} attaching to vpcd at {vpcd}",
                card.variant(),
                hex(&card.serial()).replace(' ', "").to_lowercase(),
                state.display()
            );
            vpcd::attach(&mut card, &vpcd, &opts).map_err(|e| e.to_string())
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EPASS2003_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("epass2003-emu: {e}");
            ExitCode::FAILURE
        }
    }
}
