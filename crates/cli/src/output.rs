//! Text for people, one JSON document for scripts (`--json`).

use crate::error::{Exit, ToolError};
use serde_json::Value;
use std::io::Write;

/// What a command produced.
#[derive(Debug, Clone)]
pub struct Report {
    /// Exit code (non-zero without an error: `expiring`).
    pub exit: Exit,
    /// The JSON document.
    pub json: Value,
    /// The text for people (may be empty).
    pub text: String,
}

impl Report {
    /// A successful report.
    pub fn ok(json: Value, text: impl Into<String>) -> Self {
        Report {
            exit: Exit::Ok,
            json,
            text: text.into(),
        }
    }
}

/// Write a report.
pub fn emit(out: &mut dyn Write, json: bool, r: &Report) -> std::io::Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&r.json)?)
    } else if r.text.is_empty() {
        Ok(())
    } else if r.text.ends_with('\n') {
        write!(out, "{}", r.text)
    } else {
        writeln!(out, "{}", r.text)
    }
}

/// Write an error.
pub fn emit_error(out: &mut dyn Write, json: bool, e: &ToolError) -> std::io::Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&e.to_json())?)
    } else {
        writeln!(out, "epass2003-tool: {}", e.message)
    }
}

/// Aligned "key: value" lines.
#[derive(Default)]
pub struct Lines(Vec<(String, String)>);

impl Lines {
    /// Add a line.
    pub fn add(&mut self, k: impl Into<String>, v: impl std::fmt::Display) -> &mut Self {
        self.0.push((k.into(), v.to_string()));
        self
    }
    /// Render with the values aligned, each line indented by `indent` spaces.
    pub fn render(&self, indent: usize) -> String {
        let w = self
            .0
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        let mut s = String::new();
        for (k, v) in &self.0 {
            let pad = w - k.chars().count();
            s.push_str(&format!(
                "{:indent$}{k}:{:pad$} {v}\n",
                "",
                "",
                indent = indent,
                pad = pad
            ));
        }
        s
    }
}
