//! The tool's messages in English and Japanese (Project Fluent catalogues in
//! `crates/cli/i18n/*.ftl`, built into the binary). The language comes from `LC_ALL`,
//! `LC_MESSAGES`, `LANG` (the first one set and non-empty, as POSIX orders them); `ja*` selects
//! Japanese, anything else English, which is also the fallback for a message a catalogue lacks.
//! JSON keys and exit codes never change with the language.
//!
//! The current language is per thread (set by [`crate::run`] for the duration of a command), so
//! in-process tests in parallel threads can use different languages.

use fluent_bundle::{FluentArgs, FluentBundle, FluentResource, FluentValue};
use std::cell::{Cell, RefCell};

/// A language of the tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// English (the fallback).
    #[default]
    En,
    /// Japanese.
    Ja,
}

impl Lang {
    /// From a locale name such as `ja_JP.UTF-8`, `en_US`, `C`.
    pub fn from_locale(name: &str) -> Lang {
        if name.to_ascii_lowercase().starts_with("ja") {
            Lang::Ja
        } else {
            Lang::En
        }
    }

    /// From the environment: `LC_ALL`, then `LC_MESSAGES`, then `LANG`.
    pub fn from_env() -> Lang {
        for var in ["LC_ALL", "LC_MESSAGES", "LANG"] {
            if let Ok(v) = std::env::var(var) {
                if !v.is_empty() {
                    return Lang::from_locale(&v);
                }
            }
        }
        Lang::En
    }

    fn source(self) -> &'static str {
        match self {
            Lang::En => include_str!("../i18n/en.ftl"),
            Lang::Ja => include_str!("../i18n/ja.ftl"),
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Lang::En => "en-US",
            Lang::Ja => "ja-JP",
        }
    }
}

type Bundle = FluentBundle<FluentResource>;

fn bundle(lang: Lang) -> Option<Bundle> {
    let res = FluentResource::try_new(lang.source().to_string()).ok()?;
    let id: unic_langid::LanguageIdentifier = lang.tag().parse().ok()?;
    let mut b = FluentBundle::new(vec![id]);
    // No Unicode isolation marks around placeables: the output goes to terminals and logs.
    b.set_use_isolating(false);
    b.add_resource(res).ok()?;
    Some(b)
}

thread_local! {
    static CURRENT: Cell<Lang> = const { Cell::new(Lang::En) };
    static BUNDLES: RefCell<Vec<(Lang, Option<Bundle>)>> = const { RefCell::new(Vec::new()) };
}

/// Set this thread's language; returns the previous one.
pub fn set_lang(lang: Lang) -> Lang {
    CURRENT.with(|c| c.replace(lang))
}

/// This thread's language.
pub fn lang() -> Lang {
    CURRENT.with(Cell::get)
}

fn format_in(lang: Lang, id: &str, args: Option<&FluentArgs<'_>>) -> Option<String> {
    BUNDLES.with(|bs| {
        let mut bs = bs.borrow_mut();
        if !bs.iter().any(|(l, _)| *l == lang) {
            bs.push((lang, bundle(lang)));
        }
        let b = bs.iter().find(|(l, _)| *l == lang)?.1.as_ref()?;
        let msg = b.get_message(id)?;
        let pattern = msg.value()?;
        let mut errors = Vec::new();
        let s = b.format_pattern(pattern, args, &mut errors);
        Some(s.into_owned())
    })
}

/// The message `id` in this thread's language (English if the catalogue lacks it; the id
/// itself if no catalogue has it, which the catalogue test rules out).
pub fn tr(id: &str, args: &[(&str, FluentValue<'_>)]) -> String {
    let mut fa = FluentArgs::new();
    for (k, v) in args {
        fa.set(*k, v.clone());
    }
    let fa = if args.is_empty() { None } else { Some(&fa) };
    format_in(lang(), id, fa)
        .or_else(|| format_in(Lang::En, id, fa))
        .unwrap_or_else(|| id.to_string())
}

/// `t!("id")` or `t!("id", name = value, ...)`: a message of the catalogue. Values may be
/// strings or numbers.
#[macro_export]
macro_rules! t {
    ($id:literal) => {
        $crate::i18n::tr($id, &[])
    };
    ($id:literal, $($k:ident = $v:expr),+ $(,)?) => {
        $crate::i18n::tr($id, &[$((stringify!($k), $crate::i18n::val($v))),+])
    };
}

/// Turn a value into a Fluent argument (strings as they are, numbers as numbers).
pub fn val<T: IntoArg>(v: T) -> FluentValue<'static> {
    v.into_arg()
}

/// Values a message argument can take.
pub trait IntoArg {
    /// The Fluent value.
    fn into_arg(self) -> FluentValue<'static>;
}

impl IntoArg for String {
    fn into_arg(self) -> FluentValue<'static> {
        FluentValue::from(self)
    }
}
impl IntoArg for &String {
    fn into_arg(self) -> FluentValue<'static> {
        FluentValue::from(self.clone())
    }
}
impl IntoArg for &str {
    fn into_arg(self) -> FluentValue<'static> {
        FluentValue::from(self.to_string())
    }
}
macro_rules! num_arg {
    ($($t:ty),*) => {$(
        impl IntoArg for $t {
            fn into_arg(self) -> FluentValue<'static> {
                FluentValue::from(self as f64)
            }
        }
    )*};
}
num_arg!(u8, u16, u32, u64, usize, i32, i64);

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(src: &str) -> Vec<String> {
        src.lines()
            .filter(|l| {
                l.chars().next().is_some_and(|c| c.is_ascii_lowercase()) && l.contains(" =")
            })
            .filter_map(|l| l.split(" =").next())
            .map(|s| s.trim().to_string())
            .collect()
    }

    #[test]
    fn catalogues_parse_and_have_the_same_messages() {
        for l in [Lang::En, Lang::Ja] {
            let r = FluentResource::try_new(l.source().to_string());
            assert!(r.is_ok(), "{l:?}: {:?}", r.err().map(|e| e.1));
        }
        let en = ids(Lang::En.source());
        let ja = ids(Lang::Ja.source());
        let missing: Vec<&String> = en.iter().filter(|i| !ja.contains(i)).collect();
        assert!(missing.is_empty(), "not in ja.ftl: {missing:?}");
        let extra: Vec<&String> = ja.iter().filter(|i| !en.contains(i)).collect();
        assert!(extra.is_empty(), "only in ja.ftl: {extra:?}");
    }

    #[test]
    fn every_message_used_in_the_code_exists() {
        let en = ids(Lang::En.source());
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        let mut used = Vec::new();
        let mut stack = vec![std::path::PathBuf::from(dir)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("i18n.rs") {
                    let s = std::fs::read_to_string(&p).unwrap();
                    let parts: Vec<&str> = s.split("t!(\"").collect();
                    for w in parts.windows(2) {
                        // `t!(` itself, not `format!(` or `print!(`.
                        let word = w[0]
                            .chars()
                            .last()
                            .is_some_and(|c| c.is_alphanumeric() || c == '_');
                        if word {
                            continue;
                        }
                        if let Some(id) = w[1].split('"').next() {
                            used.push((id.to_string(), p.display().to_string()));
                        }
                    }
                }
            }
        }
        let missing: Vec<_> = used.iter().filter(|(i, _)| !en.contains(i)).collect();
        assert!(missing.is_empty(), "not in en.ftl: {missing:?}");
    }

    #[test]
    fn english_minutes_take_the_singular_for_one() {
        let prev = set_lang(Lang::En);
        assert_eq!(crate::t!("timeout-minutes", minutes = 1u32), "1 minute");
        assert_eq!(
            crate::t!("timeout-minutes", minutes = 600u32),
            "600 minutes"
        );
        set_lang(prev);
    }

    #[test]
    fn locale_choice_and_fallback() {
        assert_eq!(Lang::from_locale("ja_JP.UTF-8"), Lang::Ja);
        assert_eq!(Lang::from_locale("en_US.UTF-8"), Lang::En);
        assert_eq!(Lang::from_locale("C"), Lang::En);
        let prev = set_lang(Lang::Ja);
        assert_eq!(tr("err-wrong-pin", &[]), "PIN が正しくありません");
        assert_eq!(tr("no-such-id", &[]), "no-such-id");
        set_lang(prev);
    }
}
