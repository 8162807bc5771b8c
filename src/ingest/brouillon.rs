//! Drafts: offers `en_cours_de_saisie` or `en_attente_de_validation` whose starred fields
//! are still empty, as SOFI lets an organisme save them (the procedure's own screenshot
//! shows a Fiche Session with « ESP * » left blank). The model cannot hold such an offer
//! (`entrees_sorties`, `type_parcours`… are required), yet refusing the whole file for a
//! draft that will never be exported would stop the import of every validated offer.
//!
//! [`parse_brouillon`] decodes such a line with every field that *is* there checked as
//! strictly as in a validated offer (types, codes, SIRET keys, dates): only *missing*
//! required fields are tolerated. Each one is stood in for by the value of a complete
//! offer ([`MODELE`]) so that the decoder can go on and check the rest; the stand-in never
//! leaves this module: the store keeps the line as received ([`Brouillon::doc`]) and the
//! list of what is missing, for `check`. The identity of the draft (its `numero`, `etat`,
//! `mandataire` and its sessions' `code`) must be there and valid, or the line is refused
//! like any other.

use serde_json::Value;

use super::jsonl::InputError;
use crate::model::{ActionCode, EtatWorkflow, Offre, Record, Siret};

/// A draft that the model could not hold, as imported.
#[derive(Clone, Debug, PartialEq)]
pub struct Brouillon {
    pub numero: ActionCode,
    pub etat: EtatWorkflow,
    pub mandataire: Siret,
    /// The JSON paths (`offre.sessions[0].entrees_sorties`) of the required fields that
    /// are missing, in the order the decoder met them.
    pub manquants: Vec<String>,
    /// The `offre` object as received.
    pub doc: Value,
    /// The offer with stand-ins for the missing fields: for the checks of the import and
    /// for listing the empty starred fields, never stored.
    pub complete: Offre,
}

/// A complete offer whose values stand in for missing required fields while a draft is
/// decoded. Its values are never stored or shown.
pub const MODELE: &str = r#"{"offre": {
    "numero": "1-1", "etat": "en_cours_de_saisie", "mandataire": "13000511900032",
    "formation": {
        "intitule": "-", "objectif_general": "certification",
        "type_certification": "aucune", "validation": "totale"
    },
    "action": {
        "site_dispensateur": {"siret": "13000511900032", "site": "1"},
        "niveau_entree": 1
    },
    "sessions": [{
        "code": "1-1-1",
        "site_lieu": {"siret": "13000511900032", "site": "1"},
        "entrees_sorties": "dates_fixes", "type_parcours": "mixte",
        "organisme_responsable": {"siret": "13000511900032", "site": "1"},
        "dispositif": {"programme": "-"}
    }]
}}"#;

/// At most this many missing fields are stood in for (a draft has a few dozen fields).
const MAX_MANQUANTS: usize = 200;

/// Decodes a line that [`super::jsonl::parse_record`] refused, if it is a draft whose only
/// fault is missing required fields. `None`: not a draft, or its identity is missing, so
/// the strict error stands. `Some(Err)`: a draft with a value that is wrong (not merely
/// missing), reported with its path like any bad line.
pub fn parse_brouillon(file: &str, line: u64, text: &str) -> Option<Result<Brouillon, InputError>> {
    let mut v: Value = serde_json::from_str(text).ok()?;
    let offre = v.as_object()?.get("offre")?.as_object()?;
    if v.as_object()?.len() != 1 {
        return None;
    }
    let etat = offre.get("etat")?.as_str()?;
    if !matches!(etat, "en_cours_de_saisie" | "en_attente_de_validation") {
        return None;
    }
    let identite = offre.contains_key("numero")
        && offre.contains_key("mandataire")
        && offre
            .get("sessions")
            .and_then(Value::as_array)
            .is_none_or(|s| s.iter().all(|s| s.get("code").is_some()));
    if !identite {
        return None;
    }
    let doc = v["offre"].clone();
    let modele: Value = serde_json::from_str(MODELE).expect("the model offer is JSON");
    let mut manquants: Vec<String> = Vec::new();
    loop {
        match serde_path_to_error::deserialize::<_, Record>(&v) {
            Ok(Record::Offre(o)) => {
                return Some(Ok(Brouillon {
                    numero: o.numero,
                    etat: o.etat,
                    mandataire: o.mandataire.clone(),
                    manquants,
                    doc,
                    complete: *o,
                }))
            }
            Ok(_) => return None,
            Err(e) => {
                let path = e.path().to_string();
                let reason = e.inner().to_string();
                let champ = reason
                    .strip_prefix("missing field `")
                    .and_then(|r| r.split('`').next())
                    .map(str::to_owned);
                let Some(champ) = champ else {
                    return Some(Err(InputError {
                        file: file.to_owned(),
                        line,
                        field: path,
                        reason,
                    }));
                };
                let full = format!("{path}.{champ}");
                if manquants.contains(&full) || manquants.len() >= MAX_MANQUANTS {
                    return None;
                }
                let remplacant = at(&modele, &path)?.get(&champ)?.clone();
                at_mut(&mut v, &path)?
                    .as_object_mut()?
                    .insert(champ, remplacant);
                manquants.push(full);
            }
        }
    }
}

/// The segments of a serde_path_to_error path: `offre.sessions[0].dispositif` →
/// `offre`, `sessions`, `[0]`, `dispositif`.
fn segments(path: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let mut rest = part;
        while let Some(i) = rest.find('[') {
            if i > 0 {
                out.push(&rest[..i]);
            }
            let end = rest[i..].find(']').map_or(rest.len(), |e| i + e + 1);
            out.push(&rest[i..end]);
            rest = &rest[end..];
        }
        if !rest.is_empty() {
            out.push(rest);
        }
    }
    out
}

/// The value at `path` in the model: every index is the model's first element.
fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    segments(path).into_iter().try_fold(v, |v, s| {
        if s.starts_with('[') {
            v.get(0)
        } else {
            v.get(s)
        }
    })
}

fn at_mut<'a>(v: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    segments(path).into_iter().try_fold(v, |v, s| {
        match s.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            Some(i) => v.get_mut(i.parse::<usize>().ok()?),
            None => v.get_mut(s),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(edit: impl Fn(&mut Value)) -> String {
        let mut v: Value = serde_json::from_str(MODELE).unwrap();
        v["offre"]["numero"] = "20304-91222".into();
        v["offre"]["sessions"][0]["code"] = "20304-91222-146701".into();
        edit(&mut v["offre"]);
        v.to_string()
    }

    #[test]
    fn the_model_is_a_complete_offer() {
        assert!(matches!(
            crate::ingest::jsonl::parse_record("m", 1, MODELE),
            Ok(Record::Offre(_))
        ));
        assert_eq!(
            segments("offre.sessions[0].dispositif"),
            ["offre", "sessions", "[0]", "dispositif"]
        );
    }

    #[test]
    fn a_draft_with_empty_starred_fields_decodes_and_lists_them() {
        let line = draft(|o| {
            let s = o["sessions"][0].as_object_mut().unwrap();
            s.remove("entrees_sorties");
            s.remove("type_parcours");
            s["dispositif"].as_object_mut().unwrap().remove("programme");
            o["formation"].as_object_mut().unwrap().remove("intitule");
        });
        let b = parse_brouillon("f", 3, &line).unwrap().unwrap();
        assert_eq!(b.numero.to_string(), "20304-91222");
        let mut m = b.manquants.clone();
        m.sort();
        assert_eq!(
            m,
            [
                "offre.formation.intitule",
                "offre.sessions[0].dispositif.programme",
                "offre.sessions[0].entrees_sorties",
                "offre.sessions[0].type_parcours",
            ]
        );
        // What is kept is the line as received, not the stand-ins.
        assert!(b.doc["sessions"][0].get("entrees_sorties").is_none());
        // A whole missing part is one missing field.
        let line = draft(|o| {
            o.as_object_mut().unwrap().remove("action");
        });
        let b = parse_brouillon("f", 3, &line).unwrap().unwrap();
        assert_eq!(b.manquants, ["offre.action"]);
    }

    #[test]
    fn a_wrong_value_or_a_missing_identity_still_refuses_the_line() {
        // An invalid SIRET in a draft: refused, with its path.
        let line = draft(|o| {
            o["sessions"][0]
                .as_object_mut()
                .unwrap()
                .remove("type_parcours");
            o["sessions"][0]["site_lieu"]["siret"] = "13000511900033".into();
        });
        let e = parse_brouillon("f", 3, &line).unwrap().unwrap_err();
        assert_eq!(e.field, "offre.sessions[0].site_lieu.siret");
        // A wrong type.
        let line = draft(|o| o["sessions"][0]["duree_centre_heures"] = "deux cents".into());
        assert!(parse_brouillon("f", 3, &line).unwrap().is_err());
        // No numero, no session code, or a validated offer: not a draft.
        for edit in [
            (|o: &mut Value| {
                o.as_object_mut().unwrap().remove("numero");
            }) as fn(&mut Value),
            |o| {
                o["sessions"][0].as_object_mut().unwrap().remove("code");
            },
            |o| {
                o["etat"] = "validee".into();
                o["sessions"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("type_parcours");
            },
        ] {
            assert!(parse_brouillon("f", 3, &draft(edit)).is_none());
        }
        assert!(parse_brouillon("f", 3, "{not json").is_none());
    }

    use proptest::prelude::*;

    /// Every path of `v` to a field of an object (not to array elements).
    fn field_paths(v: &Value, prefix: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    out.push(p.clone());
                    field_paths(x, &p, out);
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    field_paths(x, &format!("{prefix}[{i}]"), out);
                }
            }
            _ => {}
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        /// Any line never panics the draft decoder.
        #[test]
        fn any_text_is_handled(text in ".{0,300}") {
            let _ = parse_brouillon("p", 1, &text);
        }

        /// Removing any set of fields from a draft, or putting any text in one: it
        /// decodes, listing exactly what was removed, or it is refused; never a panic,
        /// and never a draft that silently lost a field.
        #[test]
        fn removed_fields_are_listed_or_the_line_refused(
            picks in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
            replace in proptest::option::of(("[0-9]{0,20}|.{0,20}", any::<prop::sample::Index>())),
        ) {
            let mut v: Value = serde_json::from_str(&draft(|_| {})).unwrap();
            let mut paths = Vec::new();
            field_paths(&v, "", &mut paths);
            let mut removed = Vec::new();
            for pick in &picks {
                let path = pick.get(&paths).clone();
                let (parent, name) = path.rsplit_once('.').unwrap_or(("", &path));
                if let Some(obj) = at_mut(&mut v, parent).and_then(Value::as_object_mut) {
                    if obj.remove(name).is_some() {
                        removed.push(path);
                    }
                }
            }
            if let Some((text, pick)) = &replace {
                let path = pick.get(&paths);
                if let Some(x) = at_mut(&mut v, path) {
                    *x = Value::String(text.clone());
                }
            }
            match parse_brouillon("p", 1, &v.to_string()) {
                Some(Ok(b)) => {
                    for m in &b.manquants {
                        prop_assert!(
                            removed.iter().any(|r| m == r || m.starts_with(&format!("{r}."))
                                || r.starts_with(&format!("{m}."))),
                            "{m} listed but not removed ({removed:?})"
                        );
                    }
                }
                Some(Err(e)) => prop_assert!(!e.reason.is_empty()),
                None => {}
            }
        }
    }
}
