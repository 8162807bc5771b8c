//! Property test of issue 15: an LHÉO action's `numero` stays put when values change.
//!
//! Before, it was a hash of the action's rendering, so that changing the number of places
//! turned `19482-89393-9b2f01d8` into `19482-89393-a546f411`, and a consumer keyed on
//! actions saw one vanish and another appear. Now any edit of a value of an action or its
//! sessions (places, dates, texts, recruitment …) keeps every `numero` of the offer; only
//! a change of how sessions are grouped may change one, and then each group is still named
//! by its smallest FAS code.

use std::collections::HashMap;

use proptest::prelude::*;

use super::writer::{write_formation, WriterContext};
use crate::model::*;

/// The fixtures' organismes and the offers the writer writes whole.
fn fixtures() -> (HashMap<Siret, Organisme>, Vec<Offre>) {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/offres.jsonl"
    ))
    .unwrap();
    let mut organismes = HashMap::new();
    let mut offres = Vec::new();
    for line in text.lines() {
        match serde_json::from_str::<Record>(line) {
            Ok(Record::Organisme(o)) => {
                organismes.insert(o.siret.clone(), *o);
            }
            Ok(Record::Offre(mut o)) => {
                o.sort_sessions();
                offres.push(*o);
            }
            _ => {}
        }
    }
    let ctx = WriterContext {
        organismes: &organismes,
        today: today(),
    };
    offres.retain(|o| !o.sessions.is_empty() && write_formation(o, &ctx).is_ok());
    (organismes, offres)
}

fn today() -> Date {
    Date::parse("2025-06-02").unwrap()
}

/// (action numero, its session codes) in document order, read from the fragment.
fn actions(xml: &str) -> Vec<(String, Vec<String>)> {
    let attr = |line: &str| {
        let start = line.find("numero=\"").unwrap() + 8;
        line[start..][..line[start..].find('"').unwrap()].to_owned()
    };
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in xml.lines().map(str::trim_start) {
        if line.starts_with("<action ") {
            out.push((attr(line), Vec::new()));
        } else if line.starts_with("<session ") {
            out.last_mut().unwrap().1.push(attr(line));
        }
    }
    out
}

/// One edit of a value, applied to the action or to every session.
#[derive(Clone, Debug)]
enum Edit {
    Places(u32),
    PlacesRestantes(u32),
    ShiftDates(i64),
    Rythmes(String),
    Prerequis(String),
    PublicVise(String),
    Objectifs(String),
    UrlAction(u32),
    Recrutement(u8),
    ModalitesRecrutementTexte(String),
    CommentaireDuree(String),
    DureeHebdo(u32),
    FraisTtc(u64),
    IcPlaces(u32),
    IcDate(i64),
    ModuleRemiseANiveau(bool),
}

fn some_text() -> impl Strategy<Value = String> {
    // Hostile characters included: they must change nothing about the numbering.
    "[a-zA-Zéèà0-9 <>&'\"’;:!?\u{a0}-]{1,60}"
}

fn any_edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (1u32..500).prop_map(Edit::Places),
        (0u32..500).prop_map(Edit::PlacesRestantes),
        (-40i64..40).prop_map(Edit::ShiftDates),
        some_text().prop_map(Edit::Rythmes),
        some_text().prop_map(Edit::Prerequis),
        some_text().prop_map(Edit::PublicVise),
        some_text().prop_map(Edit::Objectifs),
        (0u32..1000).prop_map(Edit::UrlAction),
        (0u8..3).prop_map(Edit::Recrutement),
        some_text().prop_map(Edit::ModalitesRecrutementTexte),
        some_text().prop_map(Edit::CommentaireDuree),
        (1u32..50).prop_map(Edit::DureeHebdo),
        (0u64..2_000_000).prop_map(Edit::FraisTtc),
        (1u32..100).prop_map(Edit::IcPlaces),
        (-20i64..20).prop_map(Edit::IcDate),
        any::<bool>().prop_map(Edit::ModuleRemiseANiveau),
    ]
}

fn text(s: &str) -> Text {
    Text::new(s).unwrap_or_else(|| Text::new("x").unwrap())
}

fn shift(d: Date, days: i64) -> Date {
    Date(d.0 + chrono::Duration::days(days))
}

/// Applies `edit` to the action, or to `sessions` (indexes) of the offer.
fn apply(o: &mut Offre, edit: &Edit, sessions: &[usize]) {
    let a = &mut o.action;
    match edit {
        Edit::Prerequis(t) => a.prerequis = Some(text(t)),
        Edit::PublicVise(t) => a.public_vise = Some(text(t)),
        Edit::Objectifs(t) => a.objectifs = Some(text(t)),
        Edit::UrlAction(n) => a.url_action = Some(text(&format!("https://of.example.org/a/{n}"))),
        _ => {}
    }
    for &i in sessions {
        let s = &mut o.sessions[i];
        let d = &mut s.dispositif;
        match edit {
            Edit::Places(n) => d.places = Some(*n),
            Edit::PlacesRestantes(n) => d.places_restantes = Some(*n),
            Edit::FraisTtc(c) => d.frais_ttc = Some(Montant { cents: *c }),
            Edit::ShiftDates(k) => {
                s.date_debut = s.date_debut.map(|x| shift(x, *k));
                s.date_fin = s.date_fin.map(|x| shift(x, *k));
            }
            Edit::Rythmes(t) => s.rythmes = Some(text(t)),
            Edit::Recrutement(r) => {
                s.recrutement = Some(match r {
                    0 => EtatRecrutement::Ouvert,
                    1 => EtatRecrutement::Suspendu,
                    _ => EtatRecrutement::Ferme,
                })
            }
            Edit::ModalitesRecrutementTexte(t) => s.modalites_recrutement_texte = Some(text(t)),
            Edit::CommentaireDuree(t) => s.commentaire_duree = Some(text(t)),
            Edit::DureeHebdo(h) => s.duree_hebdo_heures = Some(*h),
            Edit::IcPlaces(n) => {
                for ic in &mut s.informations_collectives {
                    ic.places = Some(*n);
                }
            }
            Edit::IcDate(k) => {
                for ic in &mut s.informations_collectives {
                    ic.date = ic.date.map(|x| shift(x, *k));
                }
            }
            Edit::ModuleRemiseANiveau(b) => s.module_remise_a_niveau = Some(*b),
            _ => {}
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Edits applied alike to every session (and to the action) never regroup sessions
    /// that agreed before, so they keep every numero.
    #[test]
    fn editing_values_keeps_every_action_numero(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec(any_edit(), 1..4),
    ) {
        let (organismes, offres) = fixtures();
        let ctx = WriterContext { organismes: &organismes, today: today() };
        let before = offres[pick.index(offres.len())].clone();
        let mut after = before.clone();
        let all: Vec<usize> = (0..after.sessions.len()).collect();
        for e in &edits {
            apply(&mut after, e, &all);
        }
        let (Ok(x), Ok(y)) = (write_formation(&before, &ctx), write_formation(&after, &ctx))
        else {
            // An edit LHÉO cannot hold (a text too long for its element) is a finding,
            // not a numbering question.
            return Ok(());
        };
        let (x, y) = (actions(&x.xml), actions(&y.xml));
        // Every group named by its smallest session, after as before.
        for (numero, sessions) in x.iter().chain(&y) {
            prop_assert_eq!(Some(numero), sessions.iter().min());
        }
        let groups = |v: &[(String, Vec<String>)]| {
            let mut g: Vec<Vec<String>> = v.iter().map(|a| a.1.clone()).collect();
            g.sort();
            g
        };
        if groups(&x) == groups(&y) {
            let mut nx: Vec<&String> = x.iter().map(|a| &a.0).collect();
            let mut ny: Vec<&String> = y.iter().map(|a| &a.0).collect();
            nx.sort();
            ny.sort();
            prop_assert_eq!(nx, ny, "{:?}", edits);
        } else {
            // Only merging groups that the edit made equal can regroup sessions here.
            prop_assert!(y.len() < x.len(), "{:?}: {:?} → {:?}", edits, x, y);
        }
    }

    /// An edit of one session's own values (dates, recruitment, information collective)
    /// keeps the numero of every action, even in offers of several actions.
    #[test]
    fn editing_one_session_keeps_every_action_numero(
        pick in any::<prop::sample::Index>(),
        which in any::<prop::sample::Index>(),
        k in -30i64..30,
        r in 0u8..3,
        places in 1u32..80,
    ) {
        let (organismes, offres) = fixtures();
        let ctx = WriterContext { organismes: &organismes, today: today() };
        let before = offres[pick.index(offres.len())].clone();
        let mut after = before.clone();
        let i = which.index(after.sessions.len());
        for e in [Edit::ShiftDates(k), Edit::Recrutement(r), Edit::IcPlaces(places), Edit::IcDate(k)] {
            apply(&mut after, &e, &[i]);
        }
        if let (Ok(x), Ok(y)) = (write_formation(&before, &ctx), write_formation(&after, &ctx)) {
            prop_assert_eq!(actions(&x.xml), actions(&y.xml));
        }
    }
}

/// The property is not vacuous: the fixtures hold offers of several actions, and the
/// edit of the issue (the places of every session) keeps their numeros.
#[test]
fn places_of_every_session_keep_the_numeros_of_multi_action_offers() {
    let (organismes, offres) = fixtures();
    let ctx = WriterContext {
        organismes: &organismes,
        today: today(),
    };
    let mut multi = 0;
    for o in &offres {
        let x = actions(&write_formation(o, &ctx).unwrap().xml);
        let mut after = o.clone();
        let all: Vec<usize> = (0..after.sessions.len()).collect();
        for s in &all {
            let p = after.sessions[*s].dispositif.places.unwrap_or(0);
            after.sessions[*s].dispositif.places = Some(p + 7);
        }
        let y = actions(&write_formation(&after, &ctx).unwrap().xml);
        if x.len() > 1 {
            multi += 1;
        }
        if x.iter().map(|a| &a.1).eq(y.iter().map(|a| &a.1)) {
            assert_eq!(x, y, "{}", o.numero);
        }
    }
    assert!(multi > 0, "no offer of several actions in the fixtures");
}
