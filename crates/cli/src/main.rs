//! The `epass2003-tool` binary: builds the runtime from the environment and runs the command.

use epass2003_tool::error::Exit;
use epass2003_tool::secrets::Interactive;
use epass2003_tool::{run, startup_error, Runtime};
use std::io::{BufRead, IsTerminal, Write};

/// The value of `--NAME V` / `--NAME=V` (before `--`), read before clap so the secret
/// sources exist when the command runs.
fn option<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let mut it = args.iter();
    let eq = format!("{name}=");
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        if a == name {
            return it.next().map(String::as_str);
        }
        if let Some(v) = a.strip_prefix(&eq) {
            return Some(v);
        }
    }
    None
}

fn main() {
    if let Ok(filter) = std::env::var("EPASS2003_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            // Colour codes only on a terminal: a log redirected to a file stays plain text.
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init();
    }
    let args: Vec<String> = std::env::args().collect();
    let json = args.iter().any(|a| a == "--json");
    let fd = option(&args, "--secrets-fd").and_then(|v| v.parse().ok());
    let file = option(&args, "--secrets-file").map(std::path::Path::new);
    let mut secrets = match Interactive::with_sources(fd, file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}", startup_error(&e));
            std::process::exit(e.exit as i32);
        }
    };
    let mut confirm = |q: &str| -> bool {
        if !std::io::stdin().is_terminal() {
            eprintln!("{q} [y/N] {}", epass2003_tool::t!("confirm-no-terminal"));
            return false;
        }
        eprint!("{q} [y/N] ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line).is_err() {
            return false;
        }
        matches!(line.trim().to_lowercase().as_str(), "y" | "yes")
    };
    let mut progress = |m: &str| {
        if !json {
            eprintln!("{m}");
        }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut rt = Runtime {
        config: token::config::Config::from_env(),
        secrets: &mut secrets,
        confirm: &mut confirm,
        progress: &mut progress,
        now,
        lang: epass2003_tool::i18n::Lang::from_env(),
        state_dir: std::env::var_os("XDG_STATE_HOME")
            .map(std::path::PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".local/state"))
            })
            .map(|d| d.join("epass2003")),
    };
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let code = run(args, &mut rt, &mut stdout.lock(), &mut stderr.lock());
    std::process::exit(match code {
        Exit::Ok => 0,
        c => c as i32,
    });
}
