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
        let w = self.0.iter().map(|(k, _)| width(k)).max().unwrap_or(0);
        let mut s = String::new();
        for (k, v) in &self.0 {
            let pad = w - width(k);
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

/// Columns a string takes on a terminal: East Asian wide and full-width characters (kana,
/// kanji, full-width forms) take two.
pub fn width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            let u = c as u32;
            let wide = matches!(u,
                0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF
                | 0x4E00..=0x9FFF | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF
                | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6);
            if wide {
                2
            } else {
                1
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_characters_align() {
        assert_eq!(width("ラベル"), 6);
        assert_eq!(width("SO PIN"), 6);
        assert_eq!(width("（OpenSC 互換）"), 15);
        let mut l = Lines::default();
        l.add("ラベル", "a")
            .add("SO PIN", "b")
            .add("モデル名前", "c");
        let r = l.render(0);
        // Every value starts in the same terminal column.
        let cols: Vec<usize> = r
            .lines()
            .map(|x| width(&x[..x.rfind(' ').unwrap_or(0)]))
            .collect();
        assert!(cols.windows(2).all(|w| w[0] == w[1]), "{r}");
    }
}
