//! Which proxy a request goes through: `HTTPS_PROXY` / `HTTP_PROXY` (either case) by the
//! URL's scheme, unless `NO_PROXY` names the host (or a domain it is in, or `*`) or the
//! caller said `--no-proxy`.

/// The proxy URL for a request to `scheme://host`, from `env` (a lookup of variables).
pub fn proxy_for(
    scheme: &str,
    host: &str,
    no_proxy_switch: bool,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    if no_proxy_switch {
        return None;
    }
    let get = |n: &str| {
        env(n)
            .or_else(|| env(&n.to_ascii_lowercase()))
            .filter(|v| !v.trim().is_empty())
    };
    if let Some(list) = get("NO_PROXY") {
        if excluded(host, &list) {
            return None;
        }
    }
    if scheme.eq_ignore_ascii_case("https") {
        get("HTTPS_PROXY")
    } else {
        get("HTTP_PROXY")
    }
}

/// Whether `host` matches an entry of a NO_PROXY list (comma separated; `*` matches all;
/// `example.com` and `.example.com` match it and its subdomains; ports are ignored).
pub fn excluded(host: &str, list: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    list.split(',').map(str::trim).any(|e| {
        if e == "*" {
            return true;
        }
        let e = e.trim_start_matches('[');
        let e = match e.rsplit_once(':') {
            Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !h.contains(':') => h,
            _ => e,
        };
        let e = e
            .trim_end_matches(']')
            .trim_start_matches('.')
            .to_ascii_lowercase();
        !e.is_empty() && (host == e || host.ends_with(&format!(".{e}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |n| {
            vars.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn scheme_and_case() {
        let e = env(&[
            ("http_proxy", "http://p:3128"),
            ("HTTPS_PROXY", "http://s:3128"),
        ]);
        assert_eq!(
            proxy_for("http", "ca", false, &e).as_deref(),
            Some("http://p:3128")
        );
        assert_eq!(
            proxy_for("https", "ca", false, &e).as_deref(),
            Some("http://s:3128")
        );
        assert_eq!(proxy_for("https", "ca", true, &e), None);
    }

    #[test]
    fn no_proxy_list() {
        let e = env(&[
            ("HTTP_PROXY", "http://p:3128"),
            ("NO_PROXY", "localhost, .corp.example,10.0.0.1:8080"),
        ]);
        assert_eq!(proxy_for("http", "localhost", false, &e), None);
        assert_eq!(proxy_for("http", "ca.corp.example", false, &e), None);
        assert_eq!(proxy_for("http", "corp.example", false, &e), None);
        assert_eq!(proxy_for("http", "10.0.0.1", false, &e), None);
        assert!(proxy_for("http", "othercorp.example", false, &e).is_some());
        assert!(excluded("anything", "*"));
        assert!(!excluded("host", ""));
    }
}
