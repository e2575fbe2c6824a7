//! Watch PC/SC readers: print reader/card events; on each insertion connect, authenticate and
//! print the token's serial. Stops after `EPASS2003_WATCH_EVENTS` events (default: forever).
//!
//! `cargo run -p epass2003 --example pcsc_watch`
use epass2003::transport::pcsc::{PcscContext, ReaderEvent};
use epass2003::{ConnectOptions, Connection};
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let limit: usize = std::env::var("EPASS2003_WATCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX);
    let ctx = PcscContext::establish()?;
    println!("readers: {:?}", ctx.list_readers()?);
    let mut watch = ctx.watch()?;
    let mut seen = 0;
    while seen < limit {
        for ev in watch.wait(Some(Duration::from_secs(1)))? {
            seen += 1;
            println!("{ev:?}");
            if let ReaderEvent::CardInserted { reader, .. } = ev {
                match ctx
                    .connect(&reader)
                    .and_then(|t| Connection::connect(t, ConnectOptions::default()))
                {
                    Ok(mut conn) => {
                        let serial = conn.transaction().and_then(|mut s| s.get_serial());
                        println!("  mode {:?}, serial {:02X?}", conn.mode(), serial);
                        if std::env::var_os("EPASS2003_WATCH_HAMMER").is_some() {
                            // Keep the card busy until something fails (e.g. it is pulled).
                            let mut s = conn.transaction()?;
                            let e = (0..1000).find_map(|_| s.get_challenge().err());
                            println!("  hammer stopped: {e:?}");
                            drop(s);
                        }
                        let _ = conn.into_transport().disconnect();
                    }
                    Err(e) => println!("  connect failed: {e}"),
                }
            }
        }
    }
    Ok(())
}
