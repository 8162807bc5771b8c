//! Small text helpers for the rules: loose comparison of French labels, detection of
//! pasted formatting, and the French forms used in messages.

use crate::model::Date;

/// Folds `s` for loose comparison: lower case, French accents removed, every apostrophe
/// (’ ‘ ʼ ´ ` ') and run of white space (including no-break spaces) made one plain space,
/// trimmed. `"Intention d’Embauche"` and `"intention  d' embauche"` fold alike.
pub fn plier(s: &str) -> String {
    // Most of SOFI's text is ASCII, and this runs on every long text of every offer (the
    // rules' first CPU cost in a million-session export, `docs/BENCHMARKS.md`): ASCII is
    // folded a byte at a time, and only other characters go through Unicode lower-casing.
    let mut out = Pli {
        out: String::with_capacity(s.len()),
        space: true, // drops leading spaces
    };
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii() {
            out.ascii(b);
            i += 1;
            continue;
        }
        let c = s[i..].chars().next().expect("i is on a character boundary");
        i += c.len_utf8();
        for l in c.to_lowercase() {
            out.char(l);
        }
    }
    if out.out.ends_with(' ') {
        out.out.pop();
    }
    out.out
}

/// The folded text as [`plier`] builds it.
struct Pli {
    out: String,
    /// The last thing pushed was a space (or nothing yet).
    space: bool,
}

impl Pli {
    fn space(&mut self) {
        if !self.space {
            self.out.push(' ');
            self.space = true;
        }
    }

    /// An ASCII byte: the same as [`Pli::char`] gives it, without the Unicode tables.
    fn ascii(&mut self, b: u8) {
        match b {
            b'\'' | b'`' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' => self.space(),
            _ => {
                self.out.push(char::from(b.to_ascii_lowercase()));
                self.space = false;
            }
        }
    }

    /// A character already lower-cased.
    fn char(&mut self, c: char) {
        let folded: &str = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => "a",
            'ç' => "c",
            'è' | 'é' | 'ê' | 'ë' => "e",
            'ì' | 'í' | 'î' | 'ï' => "i",
            'ñ' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' => "o",
            'ù' | 'ú' | 'û' | 'ü' => "u",
            'ý' | 'ÿ' => "y",
            'œ' => "oe",
            'æ' => "ae",
            '\'' | '’' | '‘' | 'ʼ' | '´' | '`' | '′' => return self.space(),
            c if c.is_whitespace() => return self.space(),
            _ => {
                self.out.push(c);
                self.space = false;
                return;
            }
        };
        self.out.push_str(folded);
        self.space = false;
    }
}

/// Whether `s` speaks of an "intention d'embauche" (singular or plural, any case, accents,
/// apostrophe).
pub fn mentionne_intention_embauche(s: &str) -> bool {
    let p = plier(s);
    p.contains("intention d embauche") || p.contains("intentions d embauche")
}

/// HTML tag names that signal pasted formatting rather than prose.
const BALISES: &[&str] = &[
    "a",
    "b",
    "i",
    "u",
    "p",
    "br",
    "hr",
    "em",
    "strong",
    "span",
    "div",
    "font",
    "table",
    "thead",
    "tbody",
    "tfoot",
    "tr",
    "td",
    "th",
    "caption",
    "col",
    "colgroup",
    "ul",
    "ol",
    "li",
    "dl",
    "dt",
    "dd",
    "img",
    "picture",
    "figure",
    "svg",
    "object",
    "embed",
    "iframe",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "sup",
    "sub",
    "pre",
    "code",
    "blockquote",
    "center",
    "small",
    "big",
    "style",
    "script",
    "link",
    "meta",
    "section",
    "article",
    "html",
    "body",
    "head",
];

/// What formatting `s` contains that the procedure forbids in free text ("ne pas insérer
/// de tableaux, caractères spéciaux, images"), described in French for a message; `None`
/// for plain prose. Looks for HTML tags (`<p>`, `<br/>`, `<table …>`, `<img …>`), HTML
/// entities (`&nbsp;`), Markdown images and data URIs, and tables (Markdown or ASCII
/// separator rows `|---|`, `+---+`, consecutive `| a | b |` rows, tab-separated columns
/// pasted from a spreadsheet).
pub fn mise_en_forme(s: &str) -> Option<String> {
    if let Some(what) = image(s) {
        return Some(what);
    }
    if let Some(what) = tableau(s) {
        return Some(what);
    }
    if let Some(tag) = balises(s).next() {
        return Some(format!("une balise HTML <{tag}>"));
    }
    entite_html(s).map(|e| format!("une entité HTML {e}"))
}

fn image(s: &str) -> Option<String> {
    let lower = s.to_lowercase();
    if balises(s).any(|t| t == "img" || t == "svg" || t == "picture") {
        return Some("une image (balise HTML <img>)".to_owned());
    }
    if let Some(i) = lower.find("![") {
        if lower[i..].contains("](") {
            return Some("une image (syntaxe ![…](…))".to_owned());
        }
    }
    if lower.contains("data:image/") {
        return Some("une image intégrée (data:image)".to_owned());
    }
    None
}

fn tableau(s: &str) -> Option<String> {
    if balises(s).any(|t| matches!(t.as_str(), "table" | "tr" | "td" | "th")) {
        return Some("un tableau (balise HTML <table>)".to_owned());
    }
    let lines: Vec<&str> = s.lines().map(str::trim).collect();
    let separateur = |l: &str| {
        l.chars().filter(|c| *c == '-').count() >= 3
            && l.chars().any(|c| c == '|' || c == '+')
            && l.chars()
                .all(|c| matches!(c, '|' | '+' | '-' | ':' | ' ' | '\t'))
    };
    if lines.iter().any(|l| separateur(l)) {
        return Some("un tableau (ligne de séparation |---|)".to_owned());
    }
    let rangee = |l: &str| l.starts_with('|') && l.matches('|').count() >= 3;
    let colonnes = |l: &str| l.matches('\t').count() >= 2;
    let deux_de_suite = |f: &dyn Fn(&str) -> bool| lines.windows(2).any(|w| f(w[0]) && f(w[1]));
    if deux_de_suite(&rangee) {
        return Some("un tableau (colonnes séparées par |)".to_owned());
    }
    if deux_de_suite(&colonnes) {
        return Some("un tableau (colonnes séparées par des tabulations)".to_owned());
    }
    None
}

/// Lower-cased names of the known HTML tags opened or closed in `s`.
fn balises(s: &str) -> impl Iterator<Item = String> + '_ {
    s.match_indices('<').filter_map(move |(i, _)| {
        let rest = &s[i + 1..];
        let rest = rest.strip_prefix('/').unwrap_or(rest);
        let name_len = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        let name = rest[..name_len].to_ascii_lowercase();
        let after = rest[name_len..].chars().next();
        let ends =
            matches!(after, None | Some('>') | Some('/')) || after.is_some_and(char::is_whitespace);
        (ends && BALISES.contains(&name.as_str())).then_some(name)
    })
}

fn entite_html(s: &str) -> Option<&str> {
    s.match_indices('&').find_map(|(i, _)| {
        let rest = &s[i + 1..];
        let end = rest.find(';')?;
        let body = &rest[..end];
        let named = (2..=10).contains(&body.len()) && body.chars().all(|c| c.is_ascii_alphabetic());
        let numeric = body
            .strip_prefix('#')
            .map(|n| {
                n.strip_prefix(['x', 'X']).map_or_else(
                    || (1..=7).contains(&n.len()) && n.chars().all(|c| c.is_ascii_digit()),
                    |h| (1..=6).contains(&h.len()) && h.chars().all(|c| c.is_ascii_hexdigit()),
                )
            })
            .unwrap_or(false);
        (named || numeric).then(|| &s[i..i + end + 2])
    })
}

/// At most `max` characters of `s` for quoting in a message, with an ellipsis when cut
/// and line breaks shown as spaces.
pub fn extrait(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// A date as SOFI shows it: `01/09/2025`.
pub fn date_fr(d: Date) -> String {
    d.0.format("%d/%m/%Y").to_string()
}

/// A count with French digit grouping: `3 412`.
pub fn nombre_fr(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// The edit distance (insertions, deletions, substitutions of characters) between the
/// folded forms of `a` and `b`: how far a label typed in SOFI is from a known one.
pub fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (plier(a).chars().collect(), plier(b).chars().collect());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// French month names, folded (see [`plier`]).
const MOIS: [&str; 12] = [
    "janvier",
    "fevrier",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "aout",
    "septembre",
    "octobre",
    "novembre",
    "decembre",
];

/// Whether `s` gives at least one calendar date, as an organisme writes it in a comment:
/// `08/09/2025`, `8/9`, `2025-09-08`, or a day and a month name (`du 8 au 19 septembre`,
/// `1er octobre`). A heuristic for the procedure's "précisez les dates": a number next to
/// a month, not a full parse.
pub fn contient_une_date(s: &str) -> bool {
    let p = plier(s);
    let chars: Vec<char> = p.chars().collect();
    // Digits, a separator (/ . or -), digits: a numeric date.
    for (i, c) in chars.iter().enumerate() {
        if matches!(c, '/' | '.' | '-')
            && i > 0
            && chars[i - 1].is_ascii_digit()
            && chars.get(i + 1).is_some_and(char::is_ascii_digit)
        {
            return true;
        }
    }
    // A day number (1 to 31, "1er") shortly before a month name.
    let mots: Vec<&str> = p
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    mots.iter().enumerate().any(|(i, w)| {
        MOIS.contains(w)
            && mots[i.saturating_sub(4)..i].iter().any(|d| {
                let d = d.strip_suffix("er").unwrap_or(d);
                d.parse::<u32>().is_ok_and(|n| (1..=31).contains(&n))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`plier`] as it was written first, one character at a time through Unicode
    /// lower-casing: the reference its ASCII fast path must agree with.
    fn plier_reference(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut space = true; // drops leading spaces
        for c in s.chars().flat_map(char::to_lowercase) {
            let folded: &str = match c {
                'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => "a",
                'ç' => "c",
                'è' | 'é' | 'ê' | 'ë' => "e",
                'ì' | 'í' | 'î' | 'ï' => "i",
                'ñ' => "n",
                'ò' | 'ó' | 'ô' | 'õ' | 'ö' => "o",
                'ù' | 'ú' | 'û' | 'ü' => "u",
                'ý' | 'ÿ' => "y",
                'œ' => "oe",
                'æ' => "ae",
                '\'' | '’' | '‘' | 'ʼ' | '´' | '`' | '′' => " ",
                c if c.is_whitespace() => " ",
                _ => {
                    out.push(c);
                    space = false;
                    continue;
                }
            };
            if folded == " " {
                if !space {
                    out.push(' ');
                    space = true;
                }
            } else {
                out.push_str(folded);
                space = false;
            }
        }
        if out.ends_with(' ') {
            out.pop();
        }
        out
    }

    #[test]
    fn folding_ignores_case_accents_apostrophes_and_spaces() {
        assert_eq!(
            plier("  Intention d’Embauche\u{a0}\n validée "),
            "intention d embauche validee"
        );
        assert_eq!(plier("PRÉPA Clés  Avenir"), "prepa cles avenir");
        assert_eq!(plier("Œuvre"), "oeuvre");
        assert_eq!(plier(""), "");
    }

    #[test]
    fn intention_d_embauche_in_every_spelling() {
        for yes in [
            "Session ouverte sur intention d'embauche",
            "INTENTION D’EMBAUCHE",
            "formations issues des intentions d'embauche",
            "Intention d' embauche",
            "intention d‘embauche",
            "intention d embauche",
        ] {
            assert!(mentionne_intention_embauche(yes), "{yes:?}");
        }
        for no in [
            "intention de formation",
            "embauche directe",
            "intentiond'embauche",
        ] {
            assert!(!mentionne_intention_embauche(no), "{no:?}");
        }
    }

    #[test]
    fn finds_pasted_formatting() {
        let cases = [
            ("<p>Objectif</p>", "balise HTML <p>"),
            ("ligne<br/>ligne", "balise HTML <br>"),
            ("ligne<BR >ligne", "balise HTML <br>"),
            ("<table><tr><td>1</td></tr></table>", "tableau"),
            ("voir <img src=\"x.png\">", "image"),
            ("![schéma](https://x.org/a.png)", "image"),
            ("data:image/png;base64,AAAA", "image"),
            ("| a | b |\n|---|---|\n| 1 | 2 |", "tableau"),
            ("+----+----+\n| a  | b  |", "tableau"),
            ("| a | b |\n| 1 | 2 |", "tableau"),
            ("a\tb\tc\n1\t2\t3", "tableau"),
            ("texte&nbsp;insécable", "entité HTML &nbsp;"),
            ("apostrophe&#39;s", "entité HTML &#39;"),
        ];
        for (text, expected) in cases {
            let found = mise_en_forme(text);
            assert!(
                found.as_deref().is_some_and(|f| f.contains(expected)),
                "{text:?}: {found:?}"
            );
        }
    }

    #[test]
    fn plain_prose_is_not_formatting() {
        for text in [
            "Maîtriser 3 < 5 et a > b, les bases.",
            "Tarif : 10 € & plus ; voir ci-dessous",
            "Savoir-faire - savoir-être -- le reste",
            "A | B",
            "<sans balise> mais avec chevrons",
            "une ligne\tune tabulation",
            "",
        ] {
            assert_eq!(mise_en_forme(text), None, "{text:?}");
        }
    }

    #[test]
    fn excerpts_count_characters() {
        assert_eq!(extrait("ééé", 2), "éé…");
        assert_eq!(extrait("éé", 2), "éé");
        assert_eq!(extrait("a\nb", 5), "a b");
    }

    #[test]
    fn french_forms() {
        assert_eq!(date_fr(Date::parse("2025-09-01").unwrap()), "01/09/2025");
        assert_eq!(nombre_fr(3412), "3 412");
        assert_eq!(nombre_fr(250), "250");
        assert_eq!(nombre_fr(1_000_000), "1 000 000");
    }

    #[test]
    fn distance_counts_edits_on_folded_labels() {
        assert_eq!(distance("abc", "abc"), 0);
        assert_eq!(
            distance(
                "PROGRAMME REGION - PREPA Clés Avenir",
                "programme region - prepa cles avenir"
            ),
            0
        );
        assert_eq!(
            distance(
                "PROGRAMME REGION - 1 emploi = 1 formations",
                "PROGRAMME REGION - 1 emploi = 1 formation"
            ),
            1
        );
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("chat", "chien"), 3);
    }

    #[test]
    fn dates_in_a_comment() {
        for yes in [
            "Module de remise à niveau contextualisé du 8 au 19 septembre 2025",
            "RAN : 08/09/2025 - 19/09/2025",
            "remise à niveau le 1er octobre",
            "du 2025-09-08 au 2025-09-19",
            "RAN 8/9 au 19/9",
        ] {
            assert!(contient_une_date(yes), "{yes}");
        }
        for no in [
            "Module de remise à niveau contextualisé",
            "35 heures par semaine, 2 semaines",
            "en septembre",
            "",
        ] {
            assert!(!contient_une_date(no), "{no}");
        }
    }

    proptest::proptest! {
        /// Any text, and texts made of what folding treats specially (cases, accents,
        /// apostrophes, every kind of space, letters whose lower case is several
        /// characters or ASCII): the fast path folds exactly as the reference does.
        #[test]
        fn folding_equals_the_reference(
            any in "\\PC{0,60}",
            special in "[a-zA-Z0-9 '`’‘ʼ´′\t\n\r\u{0b}\u{0c}\u{85}\u{a0}\u{2009}\u{3000}éÉèÊœŒæÆçÇİ\u{212a}Åﬁ.-]{0,60}",
        ) {
            proptest::prop_assert_eq!(plier(&any), plier_reference(&any));
            proptest::prop_assert_eq!(plier(&special), plier_reference(&special));
        }

        /// Any text: no panic, a distance to itself of 0, symmetric, and a date found in
        /// a text stays found when more text is added.
        #[test]
        fn helpers_take_any_text(a in ".{0,60}", b in ".{0,60}") {
            proptest::prop_assert_eq!(distance(&a, &a), 0);
            proptest::prop_assert_eq!(distance(&a, &b), distance(&b, &a));
            if contient_une_date(&a) {
                let plus = format!("{} {}", a, b);
                proptest::prop_assert!(contient_une_date(&plus), "{:?}", plus);
            }
        }
    }
}
