//! A deliberately strict reader of the web addresses organisations type into SOFI.
//!
//! The question is not "could a browser make sense of this" (the WHATWG parser of the
//! `url` crate accepts `http:example.org` and backslashes) but "is this a complete public
//! link that a national consumer can publish as is": `http` or `https`, `://`, a host
//! name with a dot (or an IP address), an optional port, and no white space, quotes or
//! angle brackets (signs of a pasted HTML fragment or of two links in one field).

use std::net::{Ipv4Addr, Ipv6Addr};

/// The parts of a valid address the rules look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpUrl<'a> {
    /// As written (case kept).
    pub host: &'a str,
    /// From the first `/` after the host to the query or fragment; may be empty.
    pub path: &'a str,
}

/// Why an address is not a complete web link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UrlError {
    /// No `scheme://` at all (`www.example.org`).
    SansSchema,
    /// `https:/x`, `https//x`, `http:x`.
    SchemaMalEcrit,
    /// Another scheme (`ftp://`, `file://`, `mailto:`).
    SchemaNonWeb(String),
    /// `https://` followed by nothing, a path or a port only.
    SansHote,
    /// A host that is not a domain name with a dot nor an IP address.
    HoteInvalide(String),
    PortInvalide(String),
    /// `user:password@host`.
    Identifiants,
    /// White space, control character, quote, angle bracket or backslash.
    CaractereInterdit(char),
}

impl UrlError {
    /// What is wrong, in French, to follow "l'adresse … n'est pas valide : ".
    pub fn explication(&self) -> String {
        match self {
            UrlError::SansSchema => "il manque « https:// » au début".to_owned(),
            UrlError::SchemaMalEcrit => {
                "le début de l'adresse est mal écrit (attendu « https:// » ou « http:// »)"
                    .to_owned()
            }
            UrlError::SchemaNonWeb(s) => {
                format!("seules les adresses web http:// ou https:// sont acceptées, pas « {s}: »")
            }
            UrlError::SansHote => "le nom du site (domaine) est absent".to_owned(),
            UrlError::HoteInvalide(h) => format!("« {h} » n'est pas un nom de site valide"),
            UrlError::PortInvalide(p) => format!("le numéro de port « {p} » n'est pas valide"),
            UrlError::Identifiants => {
                "elle contient un identifiant ou un mot de passe (partie avant « @ »)".to_owned()
            }
            UrlError::CaractereInterdit(c) if c.is_whitespace() => {
                "elle contient une espace ou un retour à la ligne (une seule adresse, sans espace)"
                    .to_owned()
            }
            UrlError::CaractereInterdit(c) if c.is_control() => {
                format!(
                    "elle contient un caractère invisible (U+{:04X})",
                    u32::from(*c)
                )
            }
            UrlError::CaractereInterdit(c) => format!("elle contient le caractère « {c} »"),
        }
    }
}

/// Parses `s` as an absolute `http`/`https` address with a host.
pub fn parse_http(s: &str) -> Result<HttpUrl<'_>, UrlError> {
    if let Some(c) = s
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '<' | '>' | '\\'))
    {
        return Err(UrlError::CaractereInterdit(c));
    }
    let Some((scheme, rest)) = s.split_once("://") else {
        let head = s.split([':', '/']).next().unwrap_or("");
        return Err(
            if head.eq_ignore_ascii_case("http") || head.eq_ignore_ascii_case("https") {
                UrlError::SchemaMalEcrit
            } else if s.contains(':')
                && is_scheme(head)
                && !s[head.len()..].starts_with(":/")
                && !looks_like_port(s, head)
            {
                UrlError::SchemaNonWeb(head.to_ascii_lowercase())
            } else {
                UrlError::SansSchema
            },
        );
    };
    if !is_scheme(scheme) {
        return Err(UrlError::SansSchema);
    }
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(UrlError::SchemaNonWeb(scheme.to_ascii_lowercase()));
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let path_end = tail.find(['?', '#']).unwrap_or(tail.len());
    let path = &tail[..path_end];
    if authority.contains('@') {
        return Err(UrlError::Identifiants);
    }
    let host = host_of(authority)?;
    Ok(HttpUrl { host, path })
}

fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// `www.example.org:8080/x` has a colon, but it is a port, not a scheme.
fn looks_like_port(s: &str, head: &str) -> bool {
    head.contains('.') && s[head.len()..].starts_with(':')
}

/// Checks `host[:port]` or `[v6][:port]` and returns the host.
fn host_of(authority: &str) -> Result<&str, UrlError> {
    if authority.is_empty() {
        return Err(UrlError::SansHote);
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (inside, after) = v6
            .split_once(']')
            .ok_or_else(|| UrlError::HoteInvalide(authority.to_owned()))?;
        inside
            .parse::<Ipv6Addr>()
            .map_err(|_| UrlError::HoteInvalide(authority.to_owned()))?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| UrlError::HoteInvalide(authority.to_owned()))?,
            ),
        };
        (&authority[..inside.len() + 2], port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if let Some(p) = port {
        let ok = (1..=5).contains(&p.len())
            && p.chars().all(|c| c.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n));
        if !ok {
            return Err(UrlError::PortInvalide(p.to_owned()));
        }
    }
    if host.is_empty() {
        return Err(UrlError::SansHote);
    }
    if host.starts_with('[') || valid_domain_or_ipv4(host) {
        Ok(host)
    } else {
        Err(UrlError::HoteInvalide(host.to_owned()))
    }
}

fn valid_domain_or_ipv4(host: &str) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    if labels
        .iter()
        .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_digit()))
    {
        return host.parse::<Ipv4Addr>().is_ok();
    }
    let tld = labels.last().copied().unwrap_or("");
    labels.len() >= 2
        && host.chars().count() <= 253
        && !tld.chars().all(|c| c.is_ascii_digit())
        && labels.iter().all(|l| {
            let n = l.chars().count();
            (1..=63).contains(&n)
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// Whether `url` points at a YouTube video page (youtube.com, youtu.be and their
/// sub-domains, youtube-nocookie.com) or at an MP4 file (path ending in `.mp4`).
pub fn est_video(url: &HttpUrl<'_>) -> bool {
    let host = url.host.to_lowercase();
    let on = |domain: &str| host == domain || host.ends_with(&format!(".{domain}"));
    on("youtube.com")
        || on("youtu.be")
        || on("youtube-nocookie.com")
        || url.path.to_lowercase().ends_with(".mp4")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_complete_web_addresses() {
        for (s, host, path) in [
            ("https://www.example.org", "www.example.org", ""),
            (
                "HTTP://Example.org/a/b.pdf?x=1#top",
                "Example.org",
                "/a/b.pdf",
            ),
            ("https://example.org:8443/x", "example.org", "/x"),
            ("https://cariforef-pdl.org?x", "cariforef-pdl.org", ""),
            ("https://192.168.1.20/a", "192.168.1.20", "/a"),
            ("https://[2001:db8::1]:443/v", "[2001:db8::1]", "/v"),
            ("https://formation-été.fr/é", "formation-été.fr", "/é"),
        ] {
            assert_eq!(parse_http(s), Ok(HttpUrl { host, path }), "{s}");
        }
    }

    #[test]
    fn rejects_what_a_consumer_cannot_publish() {
        use UrlError::*;
        for (s, err) in [
            ("www.example.org", SansSchema),
            ("example.org/page", SansSchema),
            ("www.example.org:8080/x", SansSchema),
            ("https:/example.org", SchemaMalEcrit),
            ("https//example.org", SchemaMalEcrit),
            ("http:example.org", SchemaMalEcrit),
            ("ftp://example.org/f", SchemaNonWeb("ftp".into())),
            ("mailto:offre@example.org", SchemaNonWeb("mailto".into())),
            ("https://", SansHote),
            ("https:///chemin", SansHote),
            ("https://:80/x", SansHote),
            ("https://localhost/x", HoteInvalide("localhost".into())),
            ("https://exa_mple.org", HoteInvalide("exa_mple.org".into())),
            ("https://example..org", HoteInvalide("example..org".into())),
            ("https://-x.org", HoteInvalide("-x.org".into())),
            ("https://999.1.1.1", HoteInvalide("999.1.1.1".into())),
            ("https://[::1", HoteInvalide("[::1".into())),
            ("https://example.org:0", PortInvalide("0".into())),
            ("https://example.org:99999", PortInvalide("99999".into())),
            ("https://example.org:", PortInvalide("".into())),
            ("https://user:pw@example.org", Identifiants),
            ("https://example.org/a b", CaractereInterdit(' ')),
            ("https://example.org/a\u{1}", CaractereInterdit('\u{1}')),
            ("<a href=\"https://x.org\">", CaractereInterdit('<')),
            ("https:\\\\example.org", CaractereInterdit('\\')),
            ("", SansSchema),
        ] {
            assert_eq!(parse_http(s), Err(err), "{s:?}");
        }
    }

    #[test]
    fn every_error_explains_itself_in_french() {
        for e in [
            UrlError::SansSchema,
            UrlError::SchemaMalEcrit,
            UrlError::SchemaNonWeb("ftp".into()),
            UrlError::SansHote,
            UrlError::HoteInvalide("x".into()),
            UrlError::PortInvalide("0".into()),
            UrlError::Identifiants,
            UrlError::CaractereInterdit(' '),
            UrlError::CaractereInterdit('\u{1}'),
            UrlError::CaractereInterdit('"'),
        ] {
            assert!(!e.explication().is_empty());
        }
        assert!(UrlError::CaractereInterdit('\u{1}')
            .explication()
            .contains("U+0001"));
    }

    #[test]
    fn videos_are_youtube_or_mp4() {
        let video = |s: &str| est_video(&parse_http(s).unwrap());
        assert!(video("https://www.youtube.com/watch?v=abc"));
        assert!(video("https://m.youtube.com/watch?v=abc"));
        assert!(video("https://youtu.be/abc"));
        assert!(video("https://www.youtube-nocookie.com/embed/abc"));
        assert!(video("https://cdn.example.org/v/presentation.MP4?t=3"));
        assert!(!video("https://vimeo.com/123"));
        assert!(!video("https://notyoutube.com/watch"));
        assert!(!video("https://youtube.com.evil.org/x"));
        assert!(!video("https://example.org/video.mp4.html"));
        assert!(!video("https://example.org/page?f=a.mp4"));
    }
}
