//! `epass2003-emu`: create emulated ePass2003 cards and insert them into pcscd's vpcd reader.
//!
//! ```text
//! epass2003-emu new    --state FILE [--variant aes|fips|des] [--seed N] [--factory] [--capacity BYTES]
//! epass2003-emu attach --state FILE [--vpcd HOST:PORT] [--wait SECS] [latency and test-hook options]
//! epass2003-emu info   --state FILE
//! ```
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use epass2003_emu::espk;
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
    /// Create a card in a new state file: blank (erased), or with --factory as Feitian ships it.
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
        /// The vendor's factory state instead of a blank card: Feitian's own layout
        /// (ENTERSAFE-ESPK), label "ePass2003", user PIN 12345678, SO PIN entersafe, 10 tries
        /// each, no timeout. Built from the documented layout, not captured from a real token.
        #[arg(long)]
        factory: bool,
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
        /// Test hook: play a card of another kind, with this ATR (hex), answering every command
        /// `6E 00`.
        #[arg(long, value_name = "HEX")]
        foreign_atr: Option<String>,
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
            factory,
            capacity,
        } => {
            let opts = CardOptions {
                rng_seed: seed,
                capacity,
                ..CardOptions::default()
            };
            let (card, what) = if factory {
                let f = espk::Factory::default();
                let card = espk::factory_card(variant, opts, &f).map_err(|e| e.to_string())?;
                (card, "factory-state (Feitian layout, label \"ePass2003\")")
            } else {
                (Card::new_blank(variant, opts), "blank")
            };
            StateFile::create(&state, &card).map_err(|e| e.to_string())?;
            println!(
                "created {what} {variant:?} card, serial {}, in {}",
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
                let feitian = k.df == [0x3F00, espk::APP_DF_FID];
                let what = match (k.key_type, k.kid) {
                    (0x04, 1) => "user PIN",
                    (0x04, 2) if feitian => "SO PIN",
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
            foreign_atr,
        } => {
            let foreign_atr = foreign_atr
                .map(|h| {
                    hex::decode(h.replace(' ', ""))
                        .map_err(|_| "--foreign-atr: not hex".to_string())
                })
                .transpose()?;
            let mut card = StateFile::open_persistent(&state).map_err(|e| e.to_string())?;
            {
                let hooks = card.hooks_mut();
                hooks.latency.per_apdu = ms(apdu_ms);
                hooks.latency.per_rsa_op = ms(rsa_ms);
                hooks.latency.per_rsa_keygen = ms(keygen_ms);
                hooks.latency.per_ec_op = ms(ec_ms);
                hooks.pull_after = pull_after;
                hooks.foreign_atr = foreign_atr;
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
