//! The Conseil régional's extraction that seeds a campaign (`lheo-feed import-region`):
//! programmes, lots, organismes mandataires and formateurs, as one CSV file with a `type`
//! column (format: `docs/region-file.md`, columns: `schemas/region-file.schema.json`).
//!
//! Files come from regional offices' spreadsheets, so the reader accepts what they
//! produce: `;` or `,` separators (detected on the header line), UTF-8 with or without a
//! byte-order mark, or Windows-1252 when the bytes are not UTF-8 (the summary says which
//! was used), quoted fields with doubled quotes and line breaks. Errors are
//! `FILE:LINE: column: reason` with the *physical* line where the record starts.
//!
//! Like the JSONL import it is all-or-nothing: every row of every file is checked first
//! (types, SIRET keys, duplicates, each lot's programme and mandataire), then everything
//! is written in one transaction. Organismes are merged into the stored ones: the Region
//! file sets what it carries and keeps the rest (sites, contacts, web…).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::{ImportError, InputError, MAX_REPORTED_ERRORS, WHOLE_LINE};
use crate::model::{Adresse, CodePostal, Nda, Organisme, Siret, Text};
use crate::store::{Lot, Store, UpsertCounts};

/// Largest accepted Region file: a campaign has a few thousand rows.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The columns, in the order the documentation lists them.
pub const COLUMNS: [&str; 11] = [
    "type",
    "code",
    "programme",
    "annee",
    "siret",
    "raison_sociale",
    "nda",
    "code_cr",
    "adresse",
    "code_postal",
    "ville",
];

/// How one file was read.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FileFormat {
    pub file: String,
    /// `UTF-8`, `UTF-8 with BOM` or `Windows-1252`.
    pub encoding: &'static str,
    pub separator: char,
    pub rows: u64,
}

/// What a Region import did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RegionSummary {
    pub files: Vec<FileFormat>,
    pub programmes: UpsertCounts,
    pub lots: UpsertCounts,
    pub organismes: UpsertCounts,
}

/// A row's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Programme,
    Lot,
    Mandataire,
    Formateur,
}

impl Kind {
    fn parse(s: &str) -> Option<Kind> {
        match s.trim().to_lowercase().as_str() {
            "programme" => Some(Kind::Programme),
            "lot" => Some(Kind::Lot),
            "mandataire" => Some(Kind::Mandataire),
            "formateur" => Some(Kind::Formateur),
            _ => None,
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            Kind::Programme => "programme",
            Kind::Lot => "lot",
            Kind::Mandataire => "mandataire",
            Kind::Formateur => "formateur",
        }
    }
    /// Required and optional columns besides `type`.
    fn columns(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Kind::Programme => (&["programme"], &[]),
            Kind::Lot => (&["code", "programme", "annee", "siret"], &[]),
            Kind::Mandataire | Kind::Formateur => (
                &["siret", "raison_sociale"],
                &["nda", "code_cr", "adresse", "code_postal", "ville"],
            ),
        }
    }
}

/// An organisme as the Region file describes it.
#[derive(Clone, Debug)]
struct RegionOrganisme {
    siret: Siret,
    raison_sociale: Text,
    nda: Option<Nda>,
    code_cr: Option<Text>,
    adresse: Option<(Vec<Text>, CodePostal, Text)>,
}

/// One CSV record: the physical line it starts on and its fields.
struct CsvRecord {
    line: u64,
    fields: Vec<String>,
}

/// Decodes a file's bytes: UTF-8 (a BOM is dropped) or else Windows-1252.
/// An error is the offset of the bad byte and the reason.
fn decode(bytes: &[u8]) -> Result<(String, &'static str), (usize, String)> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return match std::str::from_utf8(rest) {
            Ok(s) => Ok((s.to_owned(), "UTF-8 with BOM")),
            Err(e) => Err((
                e.valid_up_to() + 3,
                format!(
                    "the file starts with a UTF-8 byte-order mark but byte {} is not UTF-8",
                    e.valid_up_to() + 4
                ),
            )),
        };
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Ok((s.to_owned(), "UTF-8"));
    }
    let mut out = String::with_capacity(bytes.len() + bytes.len() / 8);
    for (i, &b) in bytes.iter().enumerate() {
        match cp1252(b) {
            Some(c) => out.push(c),
            None => {
                return Err((
                    i,
                    format!(
                        "byte {} (0x{b:02X}) is neither UTF-8 nor Windows-1252: save the file \
                         as UTF-8 CSV",
                        i + 1
                    ),
                ))
            }
        }
    }
    Ok((out, "Windows-1252"))
}

/// Windows-1252: Latin-1 except 0x80–0x9F, where five bytes are undefined.
fn cp1252(b: u8) -> Option<char> {
    const HIGH: [u16; 32] = [
        0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039,
        0x0152, 0, 0x017D, 0, 0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC,
        0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
    ];
    match b {
        0x80..=0x9F => match HIGH[usize::from(b - 0x80)] {
            0 => None,
            u => char::from_u32(u32::from(u)),
        },
        _ => Some(char::from(b)),
    }
}

/// The separator: `;` or `,`, whichever the header line (outside quotes) has more of.
fn detect_separator(text: &str) -> char {
    let (mut semi, mut comma, mut quoted) = (0, 0, false);
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            '\n' if !quoted => break,
            ';' if !quoted => semi += 1,
            ',' if !quoted => comma += 1,
            _ => {}
        }
    }
    if comma > semi {
        ','
    } else {
        ';'
    }
}

/// Splits CSV text into records (RFC 4180 with either separator), each with the physical
/// line it starts on. Line breaks inside quotes are kept (as `\n`); a blank line is no
/// record. Errors are (line, reason).
fn parse_csv(text: &str, sep: char) -> Result<Vec<CsvRecord>, (u64, String)> {
    let mut records = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut line = 1u64;
    let mut start = 1u64;
    let mut quoted = false;
    // Whether the current field started with a quote, and whether its quotes closed.
    let mut was_quoted = false;
    let mut chars = text.chars().peekable();
    let end_record =
        |fields: &mut Vec<String>, field: &mut String, start: u64, records: &mut Vec<CsvRecord>| {
            fields.push(std::mem::take(field));
            let blank = fields.len() == 1 && fields[0].trim().is_empty();
            if !blank {
                records.push(CsvRecord {
                    line: start,
                    fields: std::mem::take(fields),
                });
            }
            fields.clear();
        };
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\r' => {
                    if chars.peek() == Some(&'\n') {
                        chars.next();
                    }
                    line += 1;
                    field.push('\n');
                }
                '\n' => {
                    line += 1;
                    field.push('\n');
                }
                c => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.trim().is_empty() && !was_quoted => {
                field.clear();
                quoted = true;
                was_quoted = true;
            }
            '"' => {
                return Err((
                    line,
                    "a quote inside an unquoted field: quote the whole field and double the \
                     quote (\"\")"
                        .into(),
                ))
            }
            c if c == sep => {
                fields.push(std::mem::take(&mut field));
                was_quoted = false;
            }
            '\r' | '\n' => {
                if c == '\r' && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                end_record(&mut fields, &mut field, start, &mut records);
                was_quoted = false;
                line += 1;
                start = line;
            }
            c if was_quoted => {
                if !c.is_whitespace() {
                    return Err((
                        line,
                        format!("text after a closing quote ({c:?}): double a quote inside a quoted field"),
                    ));
                }
            }
            c => field.push(c),
        }
    }
    if quoted {
        return Err((
            start,
            "a quoted field is never closed (missing \" before the end of the file)".into(),
        ));
    }
    if !field.is_empty() || !fields.is_empty() {
        end_record(&mut fields, &mut field, start, &mut records);
    }
    Ok(records)
}

/// One row's trimmed values by column.
struct Row<'a>(HashMap<&'static str, &'a str>);

impl<'a> Row<'a> {
    /// The value, `None` when empty or when the header has no such column.
    fn get(&self, c: &str) -> Option<&'a str> {
        self.0.get(c).copied().filter(|v| !v.is_empty())
    }
    fn v(&self, c: &str) -> &'a str {
        self.get(c).unwrap_or_default()
    }
}

/// Pass 1's state: everything read and checked, nothing written.
#[derive(Default)]
struct Checker {
    errors: Vec<InputError>,
    total: u64,
    programmes: Vec<String>,
    programme_set: HashSet<String>,
    lots: Vec<(String, u64, Lot)>,
    lot_codes: HashSet<String>,
    organismes: Vec<RegionOrganisme>,
    sirets: HashSet<Siret>,
}

impl Checker {
    fn error(&mut self, file: &str, line: u64, field: &str, reason: impl Into<String>) {
        self.total += 1;
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(InputError {
                file: file.to_owned(),
                line,
                field: field.to_owned(),
                reason: reason.into(),
            });
        }
    }

    /// Reads one file; returns how it was read (`None` when it could not be read at all).
    fn file(&mut self, file: &str, path: &Path) -> Option<FileFormat> {
        let bytes = match read_capped(path) {
            Ok(b) => b,
            Err(reason) => {
                self.error(file, 0, WHOLE_LINE, reason);
                return None;
            }
        };
        let (text, encoding) = match decode(&bytes) {
            Ok(x) => x,
            Err((at, reason)) => {
                // The line of the bad byte: the LF bytes before it, plus one.
                let line = 1 + bytes[..at.min(bytes.len())]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count() as u64;
                self.error(file, line, WHOLE_LINE, reason);
                return None;
            }
        };
        let separator = detect_separator(&text);
        let records = match parse_csv(&text, separator) {
            Ok(r) => r,
            Err((line, reason)) => {
                self.error(file, line, WHOLE_LINE, reason);
                return None;
            }
        };
        let mut records = records.into_iter();
        let Some(header) = records.next() else {
            self.error(
                file,
                1,
                WHOLE_LINE,
                "empty file: the header line is missing",
            );
            return None;
        };
        let columns = self.header(file, &header)?;
        let mut rows = 0;
        for r in records {
            rows += 1;
            self.row(file, &columns, r);
        }
        Some(FileFormat {
            file: file.to_owned(),
            encoding,
            separator,
            rows,
        })
    }

    /// Maps each header position to a known column.
    fn header(&mut self, file: &str, header: &CsvRecord) -> Option<Vec<&'static str>> {
        let mut columns = Vec::new();
        let mut ok = true;
        for name in &header.fields {
            let norm = name.trim().trim_start_matches('\u{FEFF}').to_lowercase();
            match COLUMNS.iter().find(|c| **c == norm) {
                Some(c) if columns.contains(c) => {
                    self.error(file, header.line, c, "column appears twice in the header");
                    ok = false;
                }
                Some(c) => columns.push(*c),
                None => {
                    self.error(
                        file,
                        header.line,
                        name.trim(),
                        format!("unknown column; the columns are {}", COLUMNS.join(", ")),
                    );
                    ok = false;
                }
            }
        }
        if !columns.contains(&"type") {
            self.error(
                file,
                header.line,
                "type",
                "the header has no type column (the first line must name the columns)",
            );
            ok = false;
        }
        ok.then_some(columns)
    }

    fn row(&mut self, file: &str, columns: &[&'static str], r: CsvRecord) {
        let line = r.line;
        if r.fields.len() != columns.len() {
            self.error(
                file,
                line,
                WHOLE_LINE,
                format!(
                    "{} fields where the header has {} columns",
                    r.fields.len(),
                    columns.len()
                ),
            );
            return;
        }
        let row = Row(columns
            .iter()
            .copied()
            .zip(r.fields.iter().map(|f| f.trim()))
            .collect());
        let get = |c: &str| row.get(c);
        let Some(kind) = get("type").and_then(Kind::parse) else {
            self.error(
                file,
                line,
                "type",
                format!(
                    "{:?} is not a row type: use programme, lot, mandataire or formateur",
                    row.v("type")
                ),
            );
            return;
        };
        let (required, optional) = kind.columns();
        let before = self.total;
        for c in required {
            if get(c).is_none() {
                self.error(
                    file,
                    line,
                    c,
                    if columns.contains(c) {
                        format!("required for a {} row", kind.as_str())
                    } else {
                        format!(
                            "the header has no {c} column, required for a {} row",
                            kind.as_str()
                        )
                    },
                );
            }
        }
        for c in columns {
            if *c != "type" && !required.contains(c) && !optional.contains(c) && get(c).is_some() {
                self.error(
                    file,
                    line,
                    c,
                    format!("not used by a {} row: leave it empty", kind.as_str()),
                );
            }
        }
        if self.total > before {
            return;
        }
        match kind {
            Kind::Programme => self.programme(file, line, row.v("programme")),
            Kind::Lot => self.lot(file, line, &row),
            Kind::Mandataire | Kind::Formateur => self.organisme(file, line, &row),
        }
    }

    fn programme(&mut self, file: &str, line: u64, label: &str) {
        let Some(label) = Text::new(label) else {
            self.error(file, line, "programme", "required for a programme row");
            return;
        };
        let label = label.as_str().to_owned();
        if !self.programme_set.insert(label.clone()) {
            self.error(
                file,
                line,
                "programme",
                format!("programme {label:?} appears twice in this import"),
            );
            return;
        }
        self.programmes.push(label);
    }

    fn lot(&mut self, file: &str, line: u64, row: &Row) {
        let v = |c: &str| row.v(c);
        let before = self.total;
        let code = v("code");
        if code.len() > 50
            || !code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            self.error(
                file,
                line,
                "code",
                format!("a lot code is up to 50 letters, digits, _ or -, such as 1E1F2025_4, got {code:?}"),
            );
        } else if !self.lot_codes.insert(code.to_owned()) {
            self.error(
                file,
                line,
                "code",
                format!("lot {code} appears twice in this import"),
            );
        }
        let annee = match v("annee").parse::<i64>() {
            Ok(y) if (2000..=2100).contains(&y) => y,
            _ => {
                self.error(
                    file,
                    line,
                    "annee",
                    format!("a campaign year such as 2025, got {:?}", v("annee")),
                );
                0
            }
        };
        let siret = match Siret::parse(v("siret")) {
            Ok(s) => Some(s),
            Err(e) => {
                self.error(file, line, "siret", e);
                None
            }
        };
        let programme = Text::new(v("programme"))
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default();
        if self.total > before {
            return;
        }
        self.lots.push((
            file.to_owned(),
            line,
            Lot {
                code: code.to_owned(),
                programme,
                annee,
                mandataire: siret.expect("checked"),
            },
        ));
    }

    fn organisme(&mut self, file: &str, line: u64, row: &Row) {
        let get = |c: &str| row.get(c);
        let before = self.total;
        let siret = match Siret::parse(get("siret").unwrap_or_default()) {
            Ok(s) => Some(s),
            Err(e) => {
                self.error(file, line, "siret", e);
                None
            }
        };
        let raison_sociale = Text::new(get("raison_sociale").unwrap_or_default());
        let nda = match get("nda").map(Nda::parse).transpose() {
            Ok(n) => n,
            Err(e) => {
                self.error(file, line, "nda", e);
                None
            }
        };
        let code_cr = get("code_cr").and_then(Text::new);
        let lignes: Vec<Text> = get("adresse")
            .unwrap_or_default()
            .lines()
            .filter_map(Text::new)
            .collect();
        if lignes.len() > 4 {
            self.error(
                file,
                line,
                "adresse",
                format!("at most 4 address lines, got {}", lignes.len()),
            );
        }
        let cp = get("code_postal");
        let ville = get("ville").and_then(Text::new);
        let adresse = match (lignes.is_empty(), cp, ville) {
            (true, None, None) => None,
            (_, Some(cp), Some(ville)) => match CodePostal::parse(cp) {
                Ok(cp) => Some((lignes, cp, ville)),
                Err(e) => {
                    self.error(file, line, "code_postal", e);
                    None
                }
            },
            (_, None, _) => {
                self.error(file, line, "code_postal", "required with an address");
                None
            }
            (_, _, None) => {
                self.error(file, line, "ville", "required with an address");
                None
            }
        };
        if let Some(s) = &siret {
            if !self.sirets.insert(s.clone()) {
                self.error(
                    file,
                    line,
                    "siret",
                    format!("organisme {s} appears twice in this import"),
                );
            }
        }
        if self.total > before {
            return;
        }
        self.organismes.push(RegionOrganisme {
            siret: siret.expect("checked"),
            raison_sociale: raison_sociale.expect("required"),
            nda,
            code_cr,
            adresse,
        });
    }
}

fn read_capped(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| format!("cannot read the file: {e}"))?;
    let mut bytes = Vec::new();
    f.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the file: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "larger than {} MiB: this is not a Region extraction",
            MAX_FILE_BYTES / (1024 * 1024)
        ));
    }
    Ok(bytes)
}

/// The stored organisme updated with what the Region file says; fields the Region file
/// does not carry (nom, sites, contacts, telephone, courriel, web) are kept, and so are
/// the NDA and code CR when the row leaves them empty. A new address keeps the stored
/// denomination; it keeps the INSEE code and coordinates only in the same commune.
fn merge(stored: Option<Organisme>, r: RegionOrganisme) -> Organisme {
    let adresse = |old: Option<Adresse>| match (old, r.adresse.clone()) {
        (old, None) => old,
        (None, Some((lignes, code_postal, ville))) => Some(Adresse {
            denomination: None,
            lignes,
            code_postal,
            ville,
            code_insee: None,
            latitude: None,
            longitude: None,
        }),
        (Some(old), Some((lignes, code_postal, ville))) => {
            let same_commune = old.code_postal == code_postal && old.ville == ville;
            Some(Adresse {
                denomination: old.denomination,
                lignes,
                code_postal,
                ville,
                code_insee: old.code_insee.filter(|_| same_commune),
                latitude: old.latitude.filter(|_| same_commune),
                longitude: old.longitude.filter(|_| same_commune),
            })
        }
    };
    match stored {
        None => Organisme {
            siret: r.siret.clone(),
            raison_sociale: r.raison_sociale.clone(),
            nom: None,
            nda: r.nda.clone(),
            code_cr: r.code_cr.clone(),
            adresse: adresse(None),
            telephone: None,
            courriel: None,
            web: None,
            contacts: Vec::new(),
            sites: Vec::new(),
            stocke: crate::model::StoreDates::default(),
        },
        Some(o) => Organisme {
            raison_sociale: r.raison_sociale.clone(),
            nda: r.nda.clone().or(o.nda.clone()),
            code_cr: r.code_cr.clone().or(o.code_cr.clone()),
            adresse: adresse(o.adresse.clone()),
            ..o
        },
    }
}

/// Imports Region files into `store` in one transaction: all or nothing.
pub async fn import_region_files(
    store: &Store,
    paths: &[PathBuf],
) -> Result<RegionSummary, ImportError> {
    let mut tx = store.begin_import().await?;
    let mut c = Checker::default();
    let mut summary = RegionSummary::default();
    for path in paths {
        let file = path.display().to_string();
        if let Some(f) = c.file(&file, path) {
            summary.files.push(f);
        }
    }
    // Each lot's programme and mandataire: in these files or already stored.
    for (file, line, lot) in std::mem::take(&mut c.lots) {
        if !c.programme_set.contains(&lot.programme) && !tx.programme_exists(&lot.programme).await?
        {
            c.error(
                &file,
                line,
                "programme",
                format!(
                    "unknown programme {:?}: add a programme row for it",
                    lot.programme
                ),
            );
        }
        if !c.sirets.contains(&lot.mandataire) && tx.organisme(&lot.mandataire).await?.is_none() {
            c.error(
                &file,
                line,
                "siret",
                format!(
                    "unknown organisme mandataire {}: add a mandataire row for it",
                    lot.mandataire
                ),
            );
        }
        c.lots.push((file, line, lot));
    }
    if c.total > 0 {
        let mut errors = c.errors;
        let order: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        errors.sort_by_key(|e| (order.iter().position(|f| *f == e.file), e.line));
        return Err(ImportError::Input {
            errors,
            total: c.total,
        });
    }

    summary.programmes = tx.upsert_programmes(&c.programmes).await?;
    let mut merged = Vec::with_capacity(c.organismes.len());
    for r in c.organismes {
        let stored = tx.organisme(&r.siret).await?;
        merged.push(merge(stored, r));
    }
    summary.organismes = tx.upsert_organismes(&merged).await?;
    let lots: Vec<Lot> = c.lots.into_iter().map(|(_, _, l)| l).collect();
    summary.lots = tx.upsert_lots(&lots).await?;
    tx.commit().await?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cp1252_is_latin1_with_the_windows_block() {
        let (s, enc) = decode(b"caf\xE9 \x80 \x9C\x92").unwrap();
        assert_eq!(s, "café € œ’");
        assert_eq!(enc, "Windows-1252");
        assert!(decode(b"a\x81").is_err());
        assert_eq!(decode("é".as_bytes()).unwrap().1, "UTF-8");
        assert_eq!(
            decode(b"\xEF\xBB\xBFx").unwrap(),
            ("x".into(), "UTF-8 with BOM")
        );
    }

    #[test]
    fn csv_keeps_physical_lines_and_quoted_breaks() {
        let text = "type;adresse\r\nformateur;\"a\r\nb\"\"c\"\n\nlot;x\n";
        assert_eq!(detect_separator(text), ';');
        let r = parse_csv(text, ';').unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[1].line, 2);
        assert_eq!(r[1].fields, vec!["formateur", "a\nb\"c"]);
        assert_eq!(r[2].line, 5);
        assert_eq!(detect_separator("\"a;b\",c,d\n"), ',');
        assert!(parse_csv("a;\"b\n", ';').is_err());
        assert!(parse_csv("a;b\"c\n", ';').is_err());
    }
}
