//! `generate`: deterministic synthetic FASD data shaped like the real offer, for load
//! tests and benchmarks. Not for anything else: every organisation and person is
//! invented.
//!
//! The same `--sessions N --seed S` always gives the same bytes (a SplitMix64 generator
//! of our own, so no crate upgrade can change the data behind recorded benchmarks).
//! Shape: about 3 sessions per action (1 to 6), actions spread over the five regional
//! programmes and the five départements, texts of realistic length with some close to
//! LHÉO's limits, French accents and punctuation, informations collectives in person or
//! remote, and a share of records the entry rules reject (no information collective, no
//! places, a start outside the campaign year: about 4 % of sessions), plus a share of
//! non-validated actions (3 %). Like SOFI's records, addresses carry their code INSEE and
//! coordinates, records their creation and modification timestamps, and one action in
//! five the procedure's long public visé (issue 15); these are derived without drawing,
//! so the generator draws what it drew before and the offers are the same ones, with
//! these fields added.

use std::io::{self, Write};

use crate::model::*;

/// The five programmes of the SOFI procedure, as labelled in the dispositif.
pub const PROGRAMMES: [&str; 5] = [
    "PROGRAMME REGION - 1 emploi = 1 formation",
    "PROGRAMME REGION - PREPA Avenir Sup",
    "PROGRAMME REGION - PREPA Clés Avenir",
    "PROGRAMME REGION - PASS Entreprendre en Pays de la Loire - Formation",
    "PROGRAMME REGION - PREPA Sanitaire et social",
];

/// SplitMix64: tiny, fast, and fixed forever.
pub struct Rng(u64);
impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// (code postal, commune, code INSEE, latitude, longitude of the town centre): SOFI
/// records carry the INSEE code and coordinates that national readers map, so the
/// generated documents do too.
const VILLES: [(&str, &str, &str, f64, f64); 10] = [
    ("44000", "Nantes", "44109", 47.2184, -1.5536),
    ("44600", "Saint-Nazaire", "44184", 47.2735, -2.2138),
    ("49000", "Angers", "49007", 47.4784, -0.5632),
    ("49300", "Cholet", "49099", 47.0600, -0.8797),
    ("53000", "Laval", "53130", 48.0707, -0.7734),
    ("53100", "Mayenne", "53147", 48.3031, -0.6136),
    ("72000", "Le Mans", "72181", 48.0061, 0.1996),
    ("72200", "La Flèche", "72154", 47.6990, -0.0757),
    ("85000", "La Roche-sur-Yon", "85191", 46.6705, -1.4260),
    ("85300", "Challans", "85047", 46.8467, -1.8781),
];
const RUES: [&str; 8] = [
    "rue de la Fosse",
    "boulevard des Anglais",
    "allée des Tanneurs",
    "rue Saint-Léonard",
    "quai de la Maine",
    "avenue François-Mitterrand",
    "rue du Général-de-Gaulle",
    "place de l'Église",
];
const METIERS: [&str; 12] = [
    "Assistant(e) ressources humaines",
    "Agent(e) de propreté et d'hygiène",
    "Aide-soignant(e) – préparation à l'entrée en formation",
    "Cuisinier(ère) en restauration collective",
    "Conducteur(trice) de transport en commun sur route",
    "Développeur(se) web et web mobile",
    "Électricien(ne) d'équipement du bâtiment",
    "Maçon(ne) en voirie et réseaux divers",
    "Secrétaire assistant(e) médico-social(e)",
    "Préparateur(trice) de commandes en entrepôt",
    "Soudeur(se) assembleur(se) industriel(le)",
    "Créer son entreprise : de l'idée au projet",
];
const NOMS: [&str; 10] = [
    "Martin",
    "Bernard",
    "Moreau",
    "Lefèvre",
    "Guérin",
    "Chevalier",
    "Brochard",
    "Hervé",
    "Leroux",
    "Pineau",
];
const PRENOMS: [&str; 10] = [
    "Claire", "Yann", "Maëlle", "Loïc", "Anaïs", "Gwenaël", "Chloé", "Théo", "Soizic", "Noé",
];
const PHRASES: [&str; 8] = [
    "Acquérir les gestes professionnels du métier en situation réelle.",
    "Consolider les savoirs de base : français, mathématiques, numérique.",
    "Préparer l'entrée en emploi grâce à une période en entreprise tutorée.",
    "S'approprier les règles d'hygiène, de sécurité et de qualité « zéro défaut ».",
    "Travailler en équipe, communiquer avec les usagers et la hiérarchie.",
    "Construire son projet professionnel – enquêtes métiers, stages, bilans.",
    "Valider les blocs de compétences du titre visé, à son rythme.",
    "Développer son autonomie et sa confiance en soi ; s'organiser.",
];

fn text(s: &str) -> Text {
    Text::new(s).expect("generated text is never empty")
}

/// A paragraph of about `chars` characters built from the phrases.
fn paragraph(rng: &mut Rng, chars: usize) -> Text {
    let mut out = String::with_capacity(chars + 80);
    while out.chars().count() < chars {
        if !out.is_empty() {
            out.push(' ');
        }
        let phrase: &&str = rng.pick(&PHRASES);
        out.push_str(phrase);
    }
    // Trim to the budget on a character boundary, never past it.
    let cut: String = out.chars().take(chars).collect();
    text(cut.trim_end())
}

/// A paragraph of `min .. min + spread` characters.
fn paragraph_between(rng: &mut Rng, min: usize, spread: u64) -> Text {
    let n = min + rng.below(spread) as usize;
    paragraph(rng, n)
}

/// Makes a SIRET with a valid Luhn key from a SIREN-like number.
pub fn siret_from(n: u64) -> Siret {
    let base = format!("{:013}", n % 10_000_000_000_000);
    for d in 0..10 {
        let candidate = format!("{base}{d}");
        if luhn_valid(&candidate) {
            return Siret::parse(&candidate).expect("valid by construction");
        }
    }
    unreachable!("one of ten check digits always satisfies Luhn")
}

fn adresse(rng: &mut Rng) -> Adresse {
    let (cp, ville, insee, lat, lon) = *rng.pick(&VILLES);
    let numero = 1 + rng.below(180);
    // A few hundred metres from the centre, by street number: no draw of the generator,
    // so the rest of the data is what it was before addresses had coordinates.
    let offset = (numero as f64 - 90.0) / 10_000.0;
    Adresse {
        denomination: None,
        lignes: vec![text(&format!("{numero} {}", rng.pick(&RUES)))],
        code_postal: CodePostal::parse(cp).expect("valid"),
        ville: text(ville),
        code_insee: Some(CodeInsee::parse(insee).expect("valid")),
        latitude: Some(((lat + offset) * 10_000.0).round() / 10_000.0),
        longitude: Some(((lon - offset) * 10_000.0).round() / 10_000.0),
    }
}

/// The public visé of the procedure's 1E1F example (some 700 characters).
const PUBLIC_VISE_1E1F: &str = "- Personnes en recherche d'emploi, de plus de 16 ans (sous réserve des \
conditions réglementaires d'exercice des métiers), de tous niveaux.\n- Personnes placées sous-main \
de justice. Ces entrées se font sur la validation d'un projet d'insertion professionnelle par les \
services pénitentiaires d'insertion et de probation (SPIP) et des services référents (France \
Travail ou mission locale).\n- Constituent un public prioritaire : les personnes sortant d'une \
formation PRÉPA et dont l'orientation vers le dispositif 1 Emploi = 1 Formation a été validée ; les \
personnes en situation de handicap bénéficiaires de l'obligation d'emploi (BOETH).";

/// SOFI's record timestamps, derived from the record's number (no draw of the generator):
/// created between September and November 2024, changed between December 2024 and
/// February 2025, in Paris winter time, as SOFI writes them.
fn horodatages(n: u64) -> (Option<Timestamp>, Option<Timestamp>) {
    let at = |month: u64, day: u64, hour: u64| {
        let s = format!(
            "{}-{:02}-{:02}T{:02}:{:02}:00+01:00",
            if month >= 9 { 2024 } else { 2025 },
            month,
            day,
            hour,
            n % 60
        );
        chrono::DateTime::parse_from_rfc3339(&s).expect("valid")
    };
    let cree = at(9 + n % 3, 1 + n % 28, 8 + n % 9);
    let modifie = match n % 3 {
        0 => at(12, 1 + (n / 3) % 28, 9 + n % 8),
        1 => at(1, 1 + (n / 3) % 28, 9 + n % 8),
        _ => at(2, 1 + (n / 3) % 28, 9 + n % 8),
    };
    (Some(cree), Some(modifie))
}

type Timestamp = chrono::DateTime<chrono::FixedOffset>;

fn contact(rng: &mut Rng) -> Contact {
    let nom = *rng.pick(&NOMS);
    let prenom = *rng.pick(&PRENOMS);
    Contact {
        civilite: None,
        nom: Some(text(nom)),
        prenom: Some(text(prenom)),
        telephone: Some(text(&format!(
            "02 {:02} {:02} {:02} {:02}",
            40 + rng.below(50),
            rng.below(100),
            rng.below(100),
            rng.below(100)
        ))),
        courriel: Some(text(&format!(
            "{}.{}@exemple-formation.fr",
            ascii_lower(prenom),
            ascii_lower(nom)
        ))),
    }
}

fn ascii_lower(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'ï' | 'î' => 'i',
            c => c.to_ascii_lowercase(),
        })
        .filter(|c| c.is_ascii_alphanumeric())
        .collect()
}

fn organisme(rng: &mut Rng, i: u64) -> Organisme {
    let siret = siret_from(100_000_000_000 + i * 7919);
    let sites = (0..1 + rng.below(3))
        .map(|k| Site {
            code: SiteCode::parse(&format!("{}", 10_000 + i * 10 + k)).expect("valid"),
            nom: text(if k == 0 { "Principal" } else { "Antenne" }),
            adresse: adresse(rng),
            contact: Some(contact(rng)),
            acces_handicapes: rng
                .chance(70)
                .then(|| text("Locaux accessibles aux personnes à mobilité réduite.")),
        })
        .collect();
    Organisme {
        siret,
        raison_sociale: text(&format!("ORGANISME DE FORMATION N°{i} – LOIRE & OCÉAN")),
        nom: Some(text(&format!("Formations Loire-Océan {i}"))),
        nda: Some(Nda::parse(&format!("52{:09}", 440_000_000 + i)).expect("valid")),
        code_cr: Some(text(&format!("{}", 10 + i))),
        adresse: Some(adresse(rng)),
        telephone: Some(text("02 40 00 00 00")),
        courriel: Some(text(&format!("contact{i}@exemple-formation.fr"))),
        web: Some(text(&format!("https://of{i}.exemple-formation.fr"))),
        contacts: vec![contact(rng)],
        sites,
        stocke: StoreDates::default(),
    }
}

/// Writes `sessions` sessions (and their organismes and offers) as FASD JSON Lines.
/// Returns (organismes, offres, sessions) written.
pub fn generate<W: Write>(mut out: W, sessions: u64, seed: u64) -> io::Result<(u64, u64, u64)> {
    let mut rng = Rng::new(seed);
    // About one organisme per 60 sessions, bounded: SOFI has ~3 200 organisations.
    let n_orgs = (sessions / 60).clamp(1, 5_000);
    let mut orgs = Vec::with_capacity(n_orgs as usize);
    for i in 0..n_orgs {
        let o = organisme(&mut rng, i);
        serde_json::to_writer(&mut out, &Record::Organisme(Box::new(o.clone())))?;
        out.write_all(b"\n")?;
        // Keep only what offers need to reference.
        orgs.push((
            o.siret,
            o.sites.iter().map(|s| s.code.clone()).collect::<Vec<_>>(),
        ));
    }
    let mut written = 0u64;
    let mut offres = 0u64;
    let mut formation_no = 10_000u64;
    let mut action_no = 50_000u64;
    let mut session_no = 100_000u64;
    while written < sessions {
        formation_no += 1 + rng.below(3);
        action_no += 1 + rng.below(5);
        let (siret, sites) = rng.pick(&orgs).clone();
        let site = rng.pick(&sites).clone();
        let programme = *rng.pick(&PROGRAMMES);
        let n_sessions = (1 + rng.below(6)).min(sessions - written);
        let numero = ActionCode {
            formation: formation_no,
            action: action_no,
        };
        let offre = offre(
            &mut rng,
            numero,
            &siret,
            &site,
            &sites,
            programme,
            n_sessions,
            &mut session_no,
        );
        serde_json::to_writer(&mut out, &Record::Offre(Box::new(offre)))?;
        out.write_all(b"\n")?;
        written += n_sessions;
        offres += 1;
    }
    out.flush()?;
    Ok((n_orgs, offres, written))
}

#[allow(clippy::too_many_arguments)]
fn offre(
    rng: &mut Rng,
    numero: ActionCode,
    siret: &Siret,
    site: &SiteCode,
    sites: &[SiteCode],
    programme: &str,
    n_sessions: u64,
    session_no: &mut u64,
) -> Offre {
    let metier = *rng.pick(&METIERS);
    let certifiante = rng.chance(70);
    let rncp = 30_000 + rng.below(9_000);
    let blocs = blocs(rng, certifiante, rncp);
    let partielle = certifiante && blocs.len() > 1 && rng.chance(15);
    let ref_site = SiteRef {
        siret: siret.clone(),
        site: site.clone(),
    };
    // Some texts close to the LHÉO limit (3000), a few just over to exercise the rules.
    let programme_len = if rng.chance(3) {
        2_990 + rng.below(30) as usize
    } else {
        200 + rng.below(1_500) as usize
    };
    // The draws happen in this order (and each record's fields in their written order):
    // the same seed gives the same bytes.
    let formation = formation(rng, metier, certifiante, rncp, blocs, partielle);
    let action = action(rng, numero, &ref_site, programme_len);
    let mut sessions = Vec::with_capacity(n_sessions as usize);
    for _ in 0..n_sessions {
        *session_no += 1 + rng.below(3);
        let code = FasCode {
            action: numero,
            session: *session_no,
        };
        sessions.push(session(rng, code, &ref_site, sites, programme));
    }
    Offre {
        numero,
        etat: if rng.chance(3) {
            EtatWorkflow::EnAttenteDeValidation
        } else {
            EtatWorkflow::Validee
        },
        mandataire: siret.clone(),
        formation,
        action,
        sessions,
        cree_le: horodatages(numero.action).0,
        modifie_le: horodatages(numero.action).1,
        stocke: StoreDates::default(),
        extras_lheo: None,
    }
}

fn blocs(rng: &mut Rng, certifiante: bool, rncp: u64) -> Vec<Bloc> {
    if certifiante {
        (1..=1 + rng.below(3))
            .map(|b| Bloc {
                code: CodeBloc::parse(&format!("RNCP{rncp}BC{b:02}")).expect("valid"),
                type_module: TypeModule::Obligatoire,
                intitule: text(&format!("Bloc {b} : {}", *rng.pick(&PHRASES))),
                objectif: Some(paragraph(rng, 120)),
                programme: Some(paragraph(rng, 300)),
            })
            .collect()
    } else {
        Vec::new()
    }
}

fn formation(
    rng: &mut Rng,
    metier: &str,
    certifiante: bool,
    rncp: u64,
    blocs: Vec<Bloc>,
    partielle: bool,
) -> Formation {
    Formation {
        certifinfo: certifiante
            .then(|| Certifinfo::parse(&format!("{}", 80_000 + rng.below(40_000))).expect("valid")),
        rncp: certifiante.then(|| Rncp::parse(&format!("{rncp}")).expect("valid")),
        intitule: text(metier),
        objectif_general: if certifiante {
            ObjectifGeneral::Certification
        } else {
            ObjectifGeneral::PreparationQualification
        },
        objectif: Some(paragraph_between(rng, 300, 600)),
        resultats_attendus: Some(text(if certifiante {
            "Obtention du titre ou de blocs de compétences."
        } else {
            "Attestation de fin de formation et projet professionnel validé."
        })),
        type_certification: if certifiante {
            TypeCertification::TitreProfessionnel
        } else {
            TypeCertification::Aucune
        },
        description: Some(paragraph_between(rng, 400, 1_000)),
        formacodes: vec![
            Formacode::parse(&format!("{}", 10_000 + rng.below(89_999))).expect("valid")
        ],
        codes_nsf: Vec::new(),
        codes_rome: vec![
            CodeRome::parse(&format!("M{:04}", 1_000 + rng.below(900))).expect("valid")
        ],
        niveau_sortie: certifiante.then(|| Niveau::new(13 + rng.below(3) as u8).expect("valid")),
        individualisation_par_bloc: certifiante && rng.chance(50),
        validation: if partielle {
            Validation::Partielle
        } else {
            Validation::Totale
        },
        blocs_valides: if partielle {
            vec![blocs[0].code.clone()]
        } else {
            Vec::new()
        },
        blocs,
    }
}

fn action(rng: &mut Rng, numero: ActionCode, ref_site: &SiteRef, programme_len: usize) -> Action {
    Action {
        site_dispensateur: ref_site.clone(),
        complement_intitule: rng.chance(20).then(|| text("parcours renforcé")),
        complement_programme: Some(paragraph(rng, programme_len)),
        objectifs: rng.chance(40).then(|| paragraph_between(rng, 200, 800)),
        resultats_attendus: None,
        le_plus_formation: rng.chance(50).then(|| paragraph_between(rng, 60, 180)),
        url_video: rng
            .chance(20)
            .then(|| text("https://www.youtube.com/watch?v=dQw4w9WgXcQ")),
        url_pdf: None,
        url_action: Some(text(&format!(
            "https://of.exemple-formation.fr/actions/{numero}"
        ))),
        equipements: Vec::new(),
        niveau_entree: Niveau::new(1).expect("valid"),
        niveau_entree_obligatoire: false,
        prerequis: Some(text(
            "Savoir lire, écrire et compter ; projet professionnel validé.",
        )),
        commentaire_prerequis: None,
        // One action in five (by number: no draw) has a public visé as long as the
        // procedure's own 1E1F text, too long for info-public-vise.
        public_vise: Some(text(if numero.action.is_multiple_of(5) {
            PUBLIC_VISE_1E1F
        } else {
            "Personnes en recherche d'emploi, de plus de 16 ans, de tous niveaux."
        })),
        contact: None,
    }
}

/// One session of the offre: at its own site one time in five, an information collective
/// except for 2 % (rejected), a start in 2024 for 1 % and no place for 1 % (rejected too).
fn session(
    rng: &mut Rng,
    code: FasCode,
    ref_site: &SiteRef,
    sites: &[SiteCode],
    programme: &str,
) -> Session {
    // The draws keep their order (calendar, enseignement, alternance, parcours, durées,
    // then the rest in field order): a seed gives the same data as before.
    let when = calendar(rng, code, ref_site, sites);
    let enseignement = *rng.pick(&[
        ModalitesEnseignement::Presentiel,
        ModalitesEnseignement::Presentiel,
        ModalitesEnseignement::Mixte,
        ModalitesEnseignement::Distance,
    ]);
    let alternance = rng.chance(10);
    let parcours = parcours(rng, programme == PROGRAMMES[0]);
    let (duree_centre, duree_entreprise, commentaire_duree) = durees(rng);
    Session {
        code,
        site_lieu: when.lieu,
        date_debut: Some(Date(when.start)),
        date_fin: Some(Date(when.end)),
        entrees_sorties: parcours.entrees_sorties,
        rythmes: parcours.rythmes,
        periodes_formation: Vec::new(),
        type_parcours: parcours.type_parcours,
        modalites_pedagogiques: vec![Formacode::parse("96133").expect("valid")],
        modalites_pedagogiques_texte: None,
        modalites_enseignement: Some(enseignement),
        duree_centre_heures: Some(duree_centre),
        duree_entreprise_heures: Some(duree_entreprise),
        duree_hebdo_heures: Some(35),
        commentaire_duree,
        cycle_alternance: alternance.then_some(CycleAlternance {
            type_alternance: TypeAlternance::Professionnalisation,
            unite: UniteRythme::Semaine,
            unites_entreprise: 2,
            unites_centre: 1,
        }),
        organisme_responsable: ref_site.clone(),
        recrutement: Some(*rng.pick(&[
            EtatRecrutement::Ouvert,
            EtatRecrutement::Ouvert,
            EtatRecrutement::Ouvert,
            EtatRecrutement::Suspendu,
            EtatRecrutement::Ferme,
        ])),
        modalites_recrutement: vec![ModaliteRecrutement::Entretien],
        modalites_recrutement_texte: None,
        informations_collectives: when.ics,
        periodes_inscription: vec![PeriodeInscription {
            type_inscription: TypeInscription::Candidature,
            debut: Date(when.ic_date - chrono::Days::new(30)),
            fin: Some(Date(when.start)),
        }],
        adresse_inscription: None,
        referent_pmr: Some(contact(rng)),
        referent_prf: rng.chance(30).then(|| contact(rng)),
        mail_liaison: rng.chance(50).then(|| text("liaison@exemple-formation.fr")),
        referent_mobilite: Some(contact(rng)),
        module_remise_a_niveau: Some(rng.chance(50)),
        dispositif: dispositif(rng, programme, when.broken),
        cree_le: horodatages(code.session).0,
        modifie_le: horodatages(code.session).1,
        stocke: StoreDates::default(),
        extras_lheo: None,
    }
}

/// A session's calendar and place, with the draw that breaks a few sessions on purpose.
struct Calendar {
    start: chrono::NaiveDate,
    end: chrono::NaiveDate,
    lieu: SiteRef,
    /// Below 2: no information collective; 2: starts in 2024 (both rejected); passed on to
    /// [`dispositif`], which breaks others.
    broken: u64,
    ic_date: chrono::NaiveDate,
    ics: Vec<InformationCollective>,
}

fn calendar(rng: &mut Rng, code: FasCode, ref_site: &SiteRef, sites: &[SiteCode]) -> Calendar {
    let month = 1 + rng.below(12) as u32;
    let start =
        chrono::NaiveDate::from_ymd_opt(2025, month, 1 + rng.below(28) as u32).expect("valid");
    let end = start + chrono::Days::new(60 + rng.below(240));
    let lieu_site = if rng.chance(20) {
        rng.pick(sites).clone()
    } else {
        ref_site.site.clone()
    };
    let lieu = SiteRef {
        siret: ref_site.siret.clone(),
        site: lieu_site,
    };
    let broken = rng.below(100);
    let ic_date = start - chrono::Days::new(10 + rng.below(40));
    let ics = if broken < 2 {
        Vec::new() // rejected: no information collective
    } else {
        vec![information_collective(rng, code.session, ic_date)]
    };
    let start = if broken == 2 {
        start.with_year_2024()
    } else {
        start
    };
    Calendar {
        start,
        end,
        lieu,
        broken,
        ic_date,
        ics,
    }
}

struct Parcours {
    entrees_sorties: EntreesSorties,
    rythmes: Option<Text>,
    type_parcours: TypeParcours,
}

/// 1 emploi = 1 formation admits only dates fixes and mixte or modulaire parcours (the
/// procedure, rules::config): the same draws, mapped, so that the rest of the data stays
/// as it was for a seed.
fn parcours(rng: &mut Rng, un_emploi: bool) -> Parcours {
    let entrees_sorties = if rng.chance(20) && !un_emploi {
        EntreesSorties::Permanentes
    } else {
        EntreesSorties::DatesFixes
    };
    let rythmes = Some(text(if rng.chance(80) {
        "temps plein"
    } else {
        "temps partiel"
    }));
    let type_parcours = match *rng.pick(&[
        TypeParcours::Groupe,
        TypeParcours::Mixte,
        TypeParcours::Individualise,
    ]) {
        TypeParcours::Groupe | TypeParcours::Individualise if un_emploi => TypeParcours::Modularise,
        t => t,
    };
    Parcours {
        entrees_sorties,
        rythmes,
        type_parcours,
    }
}

/// Hours in the centre and in the firm, and now and then a comment on the duration.
fn durees(rng: &mut Rng) -> (u32, u32, Option<Text>) {
    let centre = 100 + 10 * rng.below(60) as u32;
    let entreprise = 35 * rng.below(8) as u32;
    let commentaire = rng
        .chance(30)
        .then(|| text("Module de remise à niveau contextualisé les deux premières semaines."));
    (centre, entreprise, commentaire)
}

fn information_collective(
    rng: &mut Rng,
    session_no: u64,
    date: chrono::NaiveDate,
) -> InformationCollective {
    let remote = rng.chance(30);
    InformationCollective {
        code: Some(text(&format!("IC-{session_no}"))),
        date: Some(Date(date)),
        heure_debut: Some(Heure { h: 9, m: 30 }),
        heure_fin: Some(Heure { h: 12, m: 0 }),
        lieu: (!remote).then(|| adresse(rng)),
        lien_distance: remote.then(|| text("https://visio.exemple-formation.fr/ic")),
        places: Some(10 + rng.below(20) as u32),
        commentaire: rng
            .chance(30)
            .then(|| text("Se munir d'un CV et d'une pièce d'identité.")),
    }
}

/// The dispositif: a lot among 60, no place at all for `broken == 3` (rejected).
fn dispositif(rng: &mut Rng, programme: &str, broken: u64) -> Dispositif {
    Dispositif {
        programme: text(programme),
        publics: vec![Formacode::parse("80006").expect("valid")],
        numero_lot_cr: Some(text(&format!("LOT2025_{}", 1 + rng.below(60)))),
        id_action_cr: Some(text(&format!("{}", 1_000 + rng.below(9_000)))),
        of_mandataire_cr: Some(text(&format!("{}", 10 + rng.below(500)))),
        places: if broken == 3 {
            Some(0)
        } else {
            Some(5 + rng.below(15) as u32)
        },
        places_restantes: Some(rng.below(5) as u32),
        effectif_minimal: Some(4),
        capacite_simultanee: Some(20),
        frais_ht: Some(Montant { cents: 350_000 }),
        taux_tva: Some(TauxTva { hundredths: 2_000 }),
        frais_ttc: Some(Montant { cents: 420_000 }),
        frais_additionnels: None,
        frais_certification: None,
        frais_certification_inclus: Some(true),
        prise_en_charge_frais_pedagogiques: Some(true),
    }
}

trait WithYear2024 {
    fn with_year_2024(self) -> Self;
}
impl WithYear2024 for chrono::NaiveDate {
    /// A start outside the 2025 campaign, for the rules to reject.
    fn with_year_2024(self) -> Self {
        use chrono::Datelike;
        self.with_year(2024).unwrap_or(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_parseable() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        let counts = generate(&mut a, 500, 7).unwrap();
        generate(&mut b, 500, 7).unwrap();
        assert_eq!(a, b, "same seed, same bytes");
        assert_eq!(counts.2, 500);
        let mut c = Vec::new();
        generate(&mut c, 500, 8).unwrap();
        assert_ne!(a, c, "another seed, other data");
        for line in std::str::from_utf8(&a).unwrap().lines() {
            serde_json::from_str::<Record>(line).unwrap();
        }
    }

    #[test]
    fn generated_sirets_pass_luhn() {
        for n in [0, 1, 99, 123_456_789] {
            assert!(Siret::parse(siret_from(n).as_str()).is_ok());
        }
    }
}
