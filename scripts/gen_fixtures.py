#!/usr/bin/env python3
"""Writes fixtures/offres.jsonl and fixtures/expectations.json.

The fixtures are generated rather than typed so that the invented SIRETs carry real Luhn
check digits, the sessions of one action share their addresses and contacts, and the
expectations (which session is exportable, which breaks which rule) are written from the
same source as the data. Edit this script, run it, commit both outputs:

    python3 scripts/gen_fixtures.py

Standard library only. Output is deterministic (no clock, no randomness).
Everything here except the procedure's own example (CARIFOREF DES PAYS DE LA LOIRE,
19482-89393) is invented: organisations, people, addresses, SIRETs, Certif Info and RNCP
codes. Telephone numbers use the ranges ARCEP reserves for fiction (02 61 91 xx xx,
06 39 98 xx xx).
"""

import json
import os
import sys
from datetime import date, timedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The date the expectations are computed for: a session whose date_fin is before it is
# inactive (not exported, not an error). The exporter under test must be run "as of" it.
REFERENCE_DATE = "2025-06-02"

# Programme labels: exactly one spelling each, as SOFI's "Dispositif" list shows them.
P_1E1F = "PROGRAMME REGION - 1 emploi = 1 formation"
P_AVENIR_SUP = "PROGRAMME REGION - PREPA Avenir Sup"
P_CLES_AVENIR = "PROGRAMME REGION - PREPA Clés Avenir"
P_PASS = "PROGRAMME REGION - PASS Entreprendre en Pays de la Loire - Formation"
P_SANITAIRE = "PROGRAMME REGION - PREPA Sanitaire et social"
PROGRAMMES = [P_1E1F, P_AVENIR_SUP, P_CLES_AVENIR, P_PASS, P_SANITAIRE]


# ---------------------------------------------------------------------------------------
# Check digits


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def complete_luhn(prefix: str) -> str:
    for d in "0123456789":
        if luhn_ok(prefix + d):
            return prefix + d
    raise AssertionError(prefix)


def siret(siren8: str, nic4: str) -> str:
    """A SIRET whose SIREN (9 digits) and whole 14 digits both pass Luhn, as INSEE's do."""
    siren = complete_luhn(siren8)
    s = complete_luhn(siren + nic4)
    assert len(s) == 14 and luhn_ok(s) and luhn_ok(s[:9])
    return s


# ---------------------------------------------------------------------------------------
# Organismes

CARIF = "13000511900032"
assert luhn_ok(CARIF)


def adresse(lignes, cp, ville, insee, lat, lon, denomination=None):
    a = {}
    if denomination:
        a["denomination"] = denomination
    a["lignes"] = lignes
    a["code_postal"] = cp
    a["ville"] = ville
    a["code_insee"] = insee
    a["latitude"] = lat
    a["longitude"] = lon
    return a


def contact(nom=None, prenom=None, civilite=None, telephone=None, courriel=None):
    c = {}
    for k, v in (("civilite", civilite), ("nom", nom), ("prenom", prenom),
                 ("telephone", telephone), ("courriel", courriel)):
        if v is not None:
            c[k] = v
    return c


ORGS = {}  # key -> organisme dict
SITES = {}  # (key, code) -> site dict


def organisme(key, siret_, raison_sociale, sites, nom=None, nda=None, code_cr=None,
              adresse_=None, telephone=None, courriel=None, web=None, contacts=()):
    o = {"siret": siret_, "raison_sociale": raison_sociale}
    if nom:
        o["nom"] = nom
    if nda:
        o["nda"] = nda
    if code_cr:
        o["code_cr"] = code_cr
    if adresse_:
        o["adresse"] = adresse_
    if telephone:
        o["telephone"] = telephone
    if courriel:
        o["courriel"] = courriel
    if web:
        o["web"] = web
    if contacts:
        o["contacts"] = list(contacts)
    o["sites"] = sites
    ORGS[key] = o
    for s in sites:
        SITES[(key, s["code"])] = s
    return o


def site(code, nom, adr, contact_=None, acces=None):
    s = {"code": code, "nom": nom, "adresse": adr}
    if contact_:
        s["contact"] = contact_
    if acces:
        s["acces_handicapes"] = acces
    return s


ACCES_PLAIN_PIED = "Locaux de plain-pied accessibles aux personnes à mobilité réduite ; place de stationnement réservée."

carif_adr = adresse(["Le Sillon", "14 rue de la Fosse"], "44000", "Nantes", "44109", 47.2128, -1.5613)
service_offre = contact(nom="Service Offre", telephone="02 40 20 40 20", courriel="offre@cariforef-pdl.org")
organisme(
    "carif", CARIF, "CARIFOREF DES PAYS DE LA LOIRE",
    nda="52440912344", code_cr="75", adresse_=carif_adr,
    telephone="02 40 20 40 20", courriel="offre@cariforef-pdl.org",
    web="https://pro.choisirmonmetier-paysdelaloire.fr/",
    contacts=[service_offre],
    sites=[site("36364", "Principal",
                dict(carif_adr, denomination="CARIFOREF DES PAYS DE LA LOIRE – Principal"),
                contact_=service_offre, acces=ACCES_PLAIN_PIED)],
)

AFLO = siret("78451203", "0018")
aflo_sn = adresse(["2 boulevard des Apprentis"], "44600", "Saint-Nazaire", "44184", 47.2801, -2.2137,
                  denomination="AFLO – site de Saint-Nazaire")
organisme(
    "aflo", AFLO, "ASSOCIATION ATELIERS DE FORMATION LOIRE OCEAN", nom="AFLO Formation",
    nda="52440851244", code_cr="112", adresse_=aflo_sn, telephone="02 61 91 10 10",
    courriel="contact@aflo-formation.fr", web="https://www.aflo-formation.fr",
    contacts=[contact(civilite="Madame", nom="Le Goff", prenom="Maëlle", telephone="02 61 91 10 11",
                      courriel="m.legoff@aflo-formation.fr")],
    sites=[
        site("41207", "Saint-Nazaire – Ville-Port", aflo_sn,
             contact_=contact(nom="Accueil Saint-Nazaire", telephone="02 61 91 10 10",
                              courriel="saint-nazaire@aflo-formation.fr"),
             acces=ACCES_PLAIN_PIED),
        site("41208", "Châteaubriant",
             adresse(["Zone d’activités de la Ville en Bois", "7 rue des Forgerons"], "44110",
                     "Châteaubriant", "44036", 47.7178, -1.3761, denomination="AFLO – site de Châteaubriant"),
             contact_=contact(nom="Accueil Châteaubriant", telephone="02 61 91 10 20",
                              courriel="chateaubriant@aflo-formation.fr")),
    ],
)

IFSA = siret("41736920", "0035")
ifsa_angers = adresse(["Bâtiment B", "18 quai Félix Faure"], "49100", "Angers", "49007", 47.4786, -0.5563,
                      denomination="IFSA – campus Saint-Serge")
organisme(
    "ifsa", IFSA, "INSTITUT DE FORMATION SANITAIRE ET SOCIALE D'ANJOU",
    nom="IFSA – Institut de formation sanitaire et sociale d’Anjou",
    nda="52490387649", code_cr="214", adresse_=ifsa_angers, telephone="02 61 91 20 00",
    courriel="accueil@ifsa-anjou.fr", web="https://www.ifsa-anjou.fr",
    contacts=[contact(civilite="Madame", nom="Pasquier", prenom="Solène", telephone="02 61 91 20 04",
                      courriel="s.pasquier@ifsa-anjou.fr")],
    sites=[
        site("52011", "Angers – Saint-Serge", ifsa_angers,
             contact_=contact(nom="Secrétariat pédagogique", telephone="02 61 91 20 01",
                              courriel="angers@ifsa-anjou.fr"), acces=ACCES_PLAIN_PIED),
        site("52012", "Cholet",
             adresse(["Espace Saint-Pierre", "5 rue du Bois Grolleau"], "49300", "Cholet", "49099",
                     47.0600, -0.8792, denomination="IFSA – antenne de Cholet"),
             contact_=contact(nom="Antenne de Cholet", telephone="02 61 91 20 02",
                              courriel="cholet@ifsa-anjou.fr")),
        site("52013", "Saumur",
             adresse(["31 rue de la Petite Bilange"], "49400", "Saumur", "49328", 47.2597, -0.0769,
                     denomination="IFSA – antenne de Saumur"),
             contact_=contact(nom="Antenne de Saumur", telephone="02 61 91 20 03",
                              courriel="saumur@ifsa-anjou.fr")),
    ],
)

MAYC = siret("52904418", "0027")
mayc_laval = adresse(["Quartier Ferrié", "40 rue du 124e Régiment d’Infanterie"], "53000", "Laval", "53130",
                     48.0593, -0.7577, denomination="Mayenne Compétences – Laval")
organisme(
    "mayc", MAYC, "SCOP MAYENNE COMPETENCES", nom="Mayenne Compétences",
    nda="52530127553", code_cr="301", adresse_=mayc_laval, telephone="02 61 91 30 00",
    courriel="contact@mayenne-competences.fr", web="https://www.mayenne-competences.fr",
    sites=[
        site("60321", "Laval – Quartier Ferrié", mayc_laval,
             contact_=contact(nom="Accueil Laval", telephone="02 61 91 30 00",
                              courriel="laval@mayenne-competences.fr"), acces=ACCES_PLAIN_PIED),
        site("60322", "Château-Gontier-sur-Mayenne",
             adresse(["Pôle formation du Bazouges", "3 rue Pasteur"], "53200",
                     "Château-Gontier-sur-Mayenne", "53062", 47.8286, -0.7029),
             contact_=contact(nom="Accueil Château-Gontier", telephone="02 61 91 30 10",
                              courriel="chateau-gontier@mayenne-competences.fr")),
        site("60323", "Mayenne",
             adresse(["12 rue Ambroise de Loré"], "53100", "Mayenne", "53147", 48.3031, -0.6136),
             contact_=contact(nom="Accueil Mayenne", telephone="02 61 91 30 20",
                              courriel="mayenne@mayenne-competences.fr")),
    ],
)

SFP = siret("33821765", "0041")
sfp_lemans = adresse(["Technopôle Université", "9 avenue René Laennec"], "72000", "Le Mans", "72181",
                     48.0166, 0.1650, denomination="Sarthe Formation Professionnelle – Le Mans")
organisme(
    "sfp", SFP, "SARTHE FORMATION PROFESSIONNELLE", nom="SFP – Sarthe Formation Pro",
    nda="52720094272", code_cr="405", adresse_=sfp_lemans, telephone="02 61 91 40 00",
    courriel="contact@sarthe-formation-pro.fr", web="https://www.sarthe-formation-pro.fr",
    sites=[
        site("70101", "Le Mans – Université", sfp_lemans,
             contact_=contact(nom="Accueil Le Mans", telephone="02 61 91 40 00",
                              courriel="lemans@sarthe-formation-pro.fr"), acces=ACCES_PLAIN_PIED),
        site("70102", "La Flèche",
             adresse(["ZA du Bœuf", "22 rue de la Beufferie"], "72200", "La Flèche", "72154", 47.6989, -0.0741),
             contact_=contact(nom="Accueil La Flèche", telephone="02 61 91 40 10",
                              courriel="lafleche@sarthe-formation-pro.fr")),
        site("70103", "Sablé-sur-Sarthe",
             adresse(["Parc d’activités de l’Aubrée", "4 allée des Tisserands"], "72300", "Sablé-sur-Sarthe",
                     "72264", 47.8399, -0.3339),
             contact_=contact(nom="Accueil Sablé", telephone="02 61 91 40 20",
                              courriel="sable@sarthe-formation-pro.fr")),
    ],
)

VAF = siret("44120935", "0052")
vaf_lry = adresse(["Les Oudairies", "15 rue Sarah Bernhardt"], "85000", "La Roche-sur-Yon", "85191",
                  46.6847, -1.4110, denomination="Vendée Avenir Formation – La Roche-sur-Yon")
organisme(
    "vaf", VAF, "VENDEE AVENIR FORMATION", nom="Vendée Avenir Formation",
    nda="52850311185", code_cr="518", adresse_=vaf_lry, telephone="02 61 91 50 00",
    courriel="contact@vendee-avenir-formation.fr", web="https://www.vendee-avenir-formation.fr",
    contacts=[contact(civilite="Monsieur", nom="Girard", prenom="Benoît", telephone="02 61 91 50 01",
                      courriel="b.girard@vendee-avenir-formation.fr")],
    sites=[
        site("80451", "La Roche-sur-Yon – Les Oudairies", vaf_lry,
             contact_=contact(nom="Accueil La Roche-sur-Yon", telephone="02 61 91 50 00",
                              courriel="larochesuryon@vendee-avenir-formation.fr"), acces=ACCES_PLAIN_PIED),
        site("80452", "Les Sables-d’Olonne",
             adresse(["6 rue du Docteur Canteteau"], "85100", "Les Sables-d'Olonne", "85194", 46.4969, -1.7836),
             contact_=contact(nom="Accueil Les Sables", telephone="02 61 91 50 10",
                              courriel="lessables@vendee-avenir-formation.fr")),
        site("80453", "Challans",
             adresse(["ZI du Pas Opton", "2 rue des Artisans"], "85300", "Challans", "85047", 46.8458, -1.8781),
             contact_=contact(nom="Accueil Challans", telephone="02 61 91 50 20",
                              courriel="challans@vendee-avenir-formation.fr")),
        site("80454", "Fontenay-le-Comte",
             adresse(["9 rue Rabelais"], "85200", "Fontenay-le-Comte", "85092", 46.4668, -0.8066),
             contact_=contact(nom="Accueil Fontenay", telephone="02 61 91 50 30",
                              courriel="fontenay@vendee-avenir-formation.fr")),
    ],
)

CAE = siret("81265430", "0013")
cae_nantes = adresse(["Halle 6 Ouest", "42 rue la Tour d’Auvergne"], "44200", "Nantes", "44109", 47.2059, -1.5644,
                     denomination="Entreprendre en Loire – Île de Nantes")
organisme(
    "cae", CAE, "ENTREPRENDRE EN LOIRE - COOPERATIVE D'ACTIVITE ET D'EMPLOI",
    nom="Entreprendre en Loire", nda="52441766044", code_cr="622", adresse_=cae_nantes,
    telephone="02 61 91 60 00", courriel="bonjour@entreprendre-en-loire.coop",
    web="https://www.entreprendre-en-loire.coop",
    sites=[
        site("90011", "Nantes – Île de Nantes", cae_nantes,
             contact_=contact(nom="Accueil créateurs", telephone="02 61 91 60 00",
                              courriel="nantes@entreprendre-en-loire.coop"), acces=ACCES_PLAIN_PIED),
        site("90012", "Angers – Belle-Beille",
             adresse(["Maison de l’entrepreneuriat", "8 boulevard Victor Beaussier"], "49000", "Angers",
                     "49007", 47.4794, -0.6010),
             contact_=contact(nom="Accueil Angers", telephone="02 61 91 60 10",
                              courriel="angers@entreprendre-en-loire.coop")),
        site("90013", "Le Mans – Gare Sud",
             adresse(["27 boulevard Marie et Alexandre Oyon"], "72100", "Le Mans", "72181", 47.9935, 0.1917),
             contact_=contact(nom="Accueil Le Mans", telephone="02 61 91 60 20",
                              courriel="lemans@entreprendre-en-loire.coop")),
    ],
)

ENS = siret("89033214", "0019")
organisme(
    "ens", ENS, "L'ECOLE DU NUMERIQUE SOLIDAIRE", nom="L’École du numérique solidaire", nda="52530288153",
    telephone="02 61 91 70 00", courriel="hello@ecole-numerique-solidaire.fr",
    web="https://www.ecole-numerique-solidaire.fr",
    sites=[
        site("61001", "Laval – Espace numérique",
             adresse(["Espace numérique", "6 rue Léonard de Vinci"], "53000", "Laval", "53130", 48.0846, -0.7574,
                     denomination="L’École du numérique solidaire"),
             contact_=contact(nom="Équipe pédagogique", telephone="02 61 91 70 00",
                              courriel="hello@ecole-numerique-solidaire.fr"), acces=ACCES_PLAIN_PIED),
    ],
)

BTPA = siret("30298712", "0066")
btpa_reze = adresse(["ZAC Atout Sud", "11 rue de la Galarne"], "44400", "Rezé", "44143", 47.1766, -1.5420,
                    denomination="BTP Formation Atlantique – plateau technique de Rezé")
organisme(
    "btpa", BTPA, "BTP FORMATION ATLANTIQUE", nda="52440203444", code_cr="733", adresse_=btpa_reze,
    telephone="02 61 91 80 00", courriel="formation@btp-formation-atlantique.fr",
    web="https://www.btp-formation-atlantique.fr",
    sites=[
        site("43001", "Rezé – plateau technique", btpa_reze,
             contact_=contact(nom="Accueil Rezé", telephone="02 61 91 80 00",
                              courriel="reze@btp-formation-atlantique.fr"), acces=ACCES_PLAIN_PIED),
        site("43002", "Saint-Herblain – logistique",
             adresse(["Parc d’activités de la Lorie", "3 rue Gutenberg"], "44800", "Saint-Herblain", "44162",
                     47.2305, -1.6330, denomination="BTP Formation Atlantique – pôle logistique"),
             contact_=contact(nom="Accueil Saint-Herblain", telephone="02 61 91 80 10",
                              courriel="saint-herblain@btp-formation-atlantique.fr")),
    ],
)

AMB = siret("49611387", "0024")
amb_saumur = adresse(["Ancienne manufacture", "27 rue du Maréchal Leclerc"], "49400", "Saumur", "49328",
                     47.2551, -0.0735, denomination="Atelier des métiers de bouche du Saumurois")
organisme(
    "amb", AMB, "ATELIER DES METIERS DE BOUCHE DU SAUMUROIS", nom="Atelier des métiers de bouche",
    nda="52490612449", code_cr="841", adresse_=amb_saumur, telephone="02 61 91 90 00",
    courriel="contact@metiers-bouche-saumur.fr", web="https://www.metiers-bouche-saumur.fr",
    sites=[
        site("52901", "Saumur – cuisine pédagogique", amb_saumur,
             contact_=contact(nom="Accueil", telephone="02 61 91 90 00",
                              courriel="contact@metiers-bouche-saumur.fr"), acces=ACCES_PLAIN_PIED),
    ],
)


def ref(org, code):
    assert (org, code) in SITES, (org, code)
    return {"siret": ORGS[org]["siret"], "site": code}


def site_addr(org, code):
    return dict(SITES[(org, code)]["adresse"])


# ---------------------------------------------------------------------------------------
# Builders for sessions and dispositifs

# The entry rules the fixtures plant, by their code in the registry (src/rules/mod.rs) and
# their severity there. A reject_session finding keeps its session out of the export, a
# reject_offer finding the whole offer; a warning changes nothing in the export.
SEVERITY = {
    "IC_ABSENTE": "reject_session",
    "IC_INCOMPLETE": "reject_session",
    "DATES_INVERSEES": "reject_session",
    "DEBUT_HORS_CAMPAGNE": "reject_session",
    "RYTHMES_ABSENTS": "reject_session",
    "TYPE_PARCOURS_INCONNU": "reject_session",
    "MODALITES_ENSEIGNEMENT_ABSENTES": "reject_session",
    "DUREE_CENTRE_ABSENTE": "reject_session",
    "RESPONSABLE_NON_MANDATAIRE": "reject_session",
    "RECRUTEMENT_ABSENT": "reject_session",
    "REFERENT_PMR_ABSENT": "reject_session",
    "REFERENT_MOBILITE_ABSENT": "reject_session",
    "PLACES_DISPOSITIF_ABSENTES": "reject_session",
    "PRISE_EN_CHARGE_NON": "reject_session",
    "INTENTION_EMBAUCHE_PREREQUIS": "warning",
    "COMPLEMENT_PROGRAMME_TROP_LONG": "reject_offer",
    "VALIDATION_PARTIELLE_SANS_BLOC": "reject_offer",
    "PLUS_FORMATION_TROP_LONG": "warning",
    "OBJECTIFS_MISE_EN_FORME": "warning",
    "URL_VIDEO_FORMAT": "warning",
    "URL_INVALIDE": "warning",
    "CERTIFINFO_ABSENT": "warning",
    "PROGRAMME_INCONNU": "reject_session",
    "LOT_AUTRE_MANDATAIRE": "reject_session",
    "IC_PASSEES": "reject_session",
}

EXPECT = {}  # FAS code -> {"status": accepted|rejected|inactive|not_validated, "codes", "warnings", …}
OFFER_EXPECT = {}  # numero -> {"etat", "codes", "warnings", …}; the status is computed in main()


def ic(code, date, hd="09:30", hf="12:00", lieu=None, lien=None, places=None, commentaire=None):
    i = {"code": code, "date": date, "heure_debut": hd, "heure_fin": hf}
    if lieu is not None:
        i["lieu"] = lieu
    if lien is not None:
        i["lien_distance"] = lien
    if places is not None:
        i["places"] = places
    if commentaire is not None:
        i["commentaire"] = commentaire
    return i


def dispositif(programme, lot, id_action, of_cr, places, publics=("80006",), restantes=None, eff_min=None,
               capacite=None, ht=None, tva=None, ttc=None, additionnels=None, certif=None, certif_inclus=None,
               prise_en_charge=True):
    d = {"programme": programme, "publics": list(publics), "numero_lot_cr": lot, "id_action_cr": id_action,
         "of_mandataire_cr": of_cr}
    if places is not None:
        d["places"] = places
    for k, v in (("places_restantes", restantes), ("effectif_minimal", eff_min),
                 ("capacite_simultanee", capacite), ("frais_ht", ht), ("taux_tva", tva), ("frais_ttc", ttc),
                 ("frais_additionnels", additionnels), ("frais_certification", certif),
                 ("frais_certification_inclus", certif_inclus)):
        if v is not None:
            d[k] = v
    if prise_en_charge is not None:
        d["prise_en_charge_frais_pedagogiques"] = prise_en_charge
    return d


def session(code, lieu, responsable, debut, fin, disp, *, es="dates_fixes", rythmes="Temps plein, 35 heures par semaine",
            parcours="mixte", modalites=None, modalites_texte=None, enseignement="presentiel", centre=None,
            entreprise=None, hebdo=None, commentaire_duree=None, cycle=None, periodes=None, recrutement="ouvert",
            modalites_recrutement=None, modalites_recrutement_texte=None, ics=(), inscriptions=(),
            adresse_inscription=None, pmr=None, prf=None, mail_liaison=None, mobilite=None, remise_a_niveau=None,
            cree_le=None, modifie_le=None):
    s = {"code": code, "site_lieu": lieu}
    if debut is not None:
        s["date_debut"] = debut
    if fin is not None:
        s["date_fin"] = fin
    s["entrees_sorties"] = es
    if rythmes is not None:
        s["rythmes"] = rythmes
    if periodes:
        s["periodes_formation"] = periodes
    s["type_parcours"] = parcours
    if modalites:
        s["modalites_pedagogiques"] = modalites
    if modalites_texte:
        s["modalites_pedagogiques_texte"] = modalites_texte
    if enseignement is not None:
        s["modalites_enseignement"] = enseignement
    for k, v in (("duree_centre_heures", centre), ("duree_entreprise_heures", entreprise),
                 ("duree_hebdo_heures", hebdo), ("commentaire_duree", commentaire_duree),
                 ("cycle_alternance", cycle)):
        if v is not None:
            s[k] = v
    s["organisme_responsable"] = responsable
    if recrutement is not None:
        s["recrutement"] = recrutement
    if modalites_recrutement:
        s["modalites_recrutement"] = modalites_recrutement
    if modalites_recrutement_texte:
        s["modalites_recrutement_texte"] = modalites_recrutement_texte
    if ics:
        s["informations_collectives"] = list(ics)
    if inscriptions:
        s["periodes_inscription"] = list(inscriptions)
    if adresse_inscription:
        s["adresse_inscription"] = adresse_inscription
    for k, v in (("referent_pmr", pmr), ("referent_prf", prf), ("mail_liaison", mail_liaison),
                 ("referent_mobilite", mobilite), ("module_remise_a_niveau", remise_a_niveau)):
        if v is not None:
            s[k] = v
    s["dispositif"] = disp
    if cree_le:
        s["cree_le"] = cree_le
    if modifie_le:
        s["modifie_le"] = modifie_le
    return s


def _planted(rule, field, label):
    """The expectation entries for one planted defect: `codes` (blocking) or `warnings`."""
    e = {"codes": [], "warnings": []}
    if rule:
        assert rule in SEVERITY, rule
        e["warnings" if SEVERITY[rule] == "warning" else "codes"].append(rule)
        e["field"] = field
        e["label"] = label
    return e


def expect(code, status, rule=None, field=None, label=None):
    """What `check --today REFERENCE_DATE` must say about a session.

    status: accepted | rejected | inactive | not_validated. rule: the registry code of the
    session's one planted defect; field: the SOFI field the finding names; label: the gist,
    in French, of what the organisme is told."""
    assert code not in EXPECT, code
    assert status in ("accepted", "rejected", "inactive", "not_validated"), status
    e = {"status": status}
    e.update(_planted(rule, field, label))
    if rule:
        severity = SEVERITY[rule]
        assert severity != "reject_offer", (code, rule)
        assert (status == "rejected") == (severity == "reject_session"), (code, status, rule)
    EXPECT[code] = e


def periode(t, d, f):
    return {"type": t, "debut": d, "fin": f}


def _jour(iso, delta):
    return (date.fromisoformat(iso) + timedelta(days=delta)).isoformat()


def _veille_ouvree(iso):
    """The working day before `iso` (Friday for a Monday)."""
    d = date.fromisoformat(iso) - timedelta(days=1)
    while d.weekday() >= 5:
        d -= timedelta(days=1)
    return d.isoformat()


def _lendemain_ouvre(iso):
    """The working day after `iso` (Monday for a Friday)."""
    d = date.fromisoformat(iso) + timedelta(days=1)
    while d.weekday() >= 5:
        d += timedelta(days=1)
    return d.isoformat()


def en_centre(debut, fin):
    """Périodes de formation of a session without time in a company: one, in centre."""
    return [periode("centre", debut, fin)]


def avec_stages(debut, fin, *stages):
    """Centre periods around one or more company placements (stage_debut, stage_fin)."""
    out, cursor = [], debut
    for sd, sf in stages:
        out.append(periode("centre", cursor, _veille_ouvree(sd)))
        out.append(periode("entreprise", sd, sf))
        cursor = _lendemain_ouvre(sf)
    if cursor <= fin:
        out.append(periode("centre", cursor, fin))
    return out


def alternance(debut, fin, semaines_centre, semaines_entreprise):
    """Alternating whole weeks (Monday to Friday), centre first, from `debut` (a Monday)
    to `fin` (a Friday): the périodes SOFI lists for an alternance cycle."""
    assert date.fromisoformat(debut).weekday() == 0 and date.fromisoformat(fin).weekday() == 4, (debut, fin)
    out, cursor, t = [], debut, "centre"
    while cursor <= fin:
        semaines = semaines_centre if t == "centre" else semaines_entreprise
        end = min(_jour(cursor, 7 * semaines - 3), fin)
        out.append(periode(t, cursor, end))
        cursor = _jour(end, 3)
        t = "entreprise" if t == "centre" else "centre"
    return out


def permanentes(debut, fin, stage_apres_semaines=None):
    """Entrées/sorties permanentes: each person's parcours falls somewhere in the session, so
    SOFI holds the whole span in centre and, when there is a placement, the span in which
    it can take place."""
    out = [periode("centre", debut, fin)]
    if stage_apres_semaines is not None:
        out.append(periode("entreprise", _jour(debut, 7 * stage_apres_semaines), fin))
    return out


def inscription(t, d, f=None):
    p = {"type": t, "debut": d}
    if f:
        p["fin"] = f
    return p


def bloc(code, intitule, objectif=None, programme=None, type_module="obligatoire"):
    b = {"code": code, "type_module": type_module, "intitule": intitule}
    if objectif:
        b["objectif"] = objectif
    if programme:
        b["programme"] = programme
    return b


def equip(t, cout=None, commentaire=None):
    e = {"type": t}
    if cout is not None:
        e["cout_indicatif"] = cout
    if commentaire:
        e["commentaire"] = commentaire
    return e


OFFRES = []


def offre(numero, mandataire, formation, action, sessions, etat="validee", cree_le=None, modifie_le=None,
          offer_rule=None, offer_field=None, offer_label=None):
    """An offer. offer_rule: the registry code of a defect planted in the Formation or Action
    (with the field the finding names and the gist of the message). When it rejects the whole
    offer, every session is expected rejected with it; otherwise (a warning) each session
    still needs its own expect()."""
    o = {"numero": numero, "etat": etat, "mandataire": mandataire, "formation": formation, "action": action,
         "sessions": sessions}
    if cree_le:
        o["cree_le"] = cree_le
    if modifie_le:
        o["modifie_le"] = modifie_le
    for s in sessions:
        assert s["code"].startswith(numero + "-"), s["code"]
    OFFRES.append(o)
    OFFER_EXPECT[numero] = {"etat": etat}
    OFFER_EXPECT[numero].update(_planted(offer_rule, offer_field, offer_label))
    if offer_rule and SEVERITY[offer_rule] == "reject_offer":
        for s in sessions:
            expect(s["code"], "rejected")
    elif etat != "validee":
        for s in sessions:
            expect(s["code"], "not_validated")
    return o


# Reusable people (référents). All invented.
def pmr(nom, prenom, tel, mail):
    return contact(civilite="Madame", nom=nom, prenom=prenom, telephone=tel, courriel=mail)


def person(civ, nom, prenom, tel, mail):
    return contact(civilite=civ, nom=nom, prenom=prenom, telephone=tel, courriel=mail)


# ---------------------------------------------------------------------------------------
# 19482-89393 – the procedure's own example, rebuilt field by field

ex_site = ref("carif", "36364")
ex_lieu_ic = site_addr("carif", "36364")
offre(
    "19482-89393", CARIF,
    {
        "certifinfo": "109049",
        "rncp": "35030",
        "intitule": "Titre professionnel assistant ressources humaines",
        "objectif_general": "certification",
        "objectif": "L’assistant ressources humaines assure le traitement administratif des dossiers individuels "
                    "des salariés, prépare les éléments de la paie, suit les indicateurs ressources humaines et "
                    "contribue au recrutement, à l’intégration et au développement des compétences du personnel.",
        "type_certification": "titre_professionnel",
        "formacodes": ["33054"],
        "codes_nsf": ["315"],
        "codes_rome": ["M1501"],
        "niveau_sortie": 6,
        "blocs": [
            bloc("RNCP35030BC01", "Assurer les missions opérationnelles de la gestion des ressources humaines",
                 objectif="1. Assurer les missions opérationnelles de la gestion des ressources humaines",
                 programme="Assurer la gestion administrative du personnel\n"
                           "Assurer la gestion des variables et paramètres de paie\n"
                           "Mettre en place et suivre les indicateurs ressources humaines"),
            bloc("RNCP35030BC02", "Contribuer au développement des ressources humaines",
                 objectif="2. Contribuer au développement des ressources humaines",
                 programme="Contribuer aux opérations liées à la gestion des emplois et carrières\n"
                           "Contribuer au processus de recrutement et d'intégration du personnel\n"
                           "Contribuer à la mise en œuvre du processus formation"),
        ],
        "resultats_attendus": "Titre professionnel assistant ressources humaines (niveau 5, bac + 2), ou l’un de "
                              "ses deux certificats de compétences professionnelles (CCP).",
        "individualisation_par_bloc": True,
        "validation": "totale",
    },
    {
        "site_dispensateur": ex_site,
        "niveau_entree": 1,
        "niveau_entree_obligatoire": False,
        "prerequis": "niveau A2 du CECRL, motivation, avoir quitté la formation initiale, projet professionnel validé.",
        "commentaire_prerequis": "Avoir levé les freins à l'entrée en formation professionnelle.",
        "public_vise": "- Personnes en recherche d'emploi, de plus de 16 ans (sous réserve des conditions "
                       "réglementaires d'exercice des métiers), de tous niveaux.\n"
                       "- Personnes placées sous-main de justice. Ces entrées se font sur la validation d'un "
                       "projet d'insertion professionnelle par les services pénitentiaires d'insertion et de "
                       "probation (SPIP) et des services référents (France Travail ou mission locale).\n"
                       "- Constituent un public prioritaire : les personnes sortant d'une formation PRÉPA et dont "
                       "l'orientation vers le dispositif 1 Emploi = 1 Formation a été validée ; les personnes en "
                       "situation de handicap bénéficiaires de l'obligation d'emploi (BOETH).",
    },
    [
        session(
            "19482-89393-143842", ex_site, ex_site, "2025-09-01", "2025-12-19",
            # "Frais afférents au passage de la certification : non", in the procedure's
            # block of fees *not covered*: no certification fee is left to the learner.
            dispositif(P_1E1F, "1E1F2025_4", "2872", "75", 5, publics=("80006", "80008"),
                       certif_inclus=True, prise_en_charge=True),
            rythmes="temps plein",
            periodes=avec_stages("2025-09-01", "2025-12-19", ("2025-10-06", "2025-12-12")),
            parcours="mixte", modalites_texte="En établissement de formation et en entreprise.",
            enseignement="presentiel", centre=200, entreprise=350,
            recrutement="ouvert", modalites_recrutement=["candidature", "entretien"],
            ics=[
                ic("58210", "2025-06-24", lieu=ex_lieu_ic, places=12,
                   commentaire="Présentation du titre professionnel et du déroulé de la session ; se munir d’un CV."),
                ic("58211", "2025-07-08", lieu=ex_lieu_ic, places=12),
            ],
            pmr=service_offre, mobilite=service_offre,
        )
    ],
)
expect("19482-89393-143842", "accepted")

# ---------------------------------------------------------------------------------------
# 19510-89420 – TP secrétaire assistant médico-social, Vendée (85): three sites-worth of
# variety, one broken information collective.

vaf_lry_ref = ref("vaf", "80451")
vaf_pmr = pmr("Morineau", "Sandrine", "02 61 91 50 05", "referent.handicap@vendee-avenir-formation.fr")
vaf_mob = person("Monsieur", "Rabiller", "Thomas", "02 61 91 50 06", "mobilite@vendee-avenir-formation.fr")
vaf_prf = person("Madame", "Chauvet", "Élodie", "02 61 91 50 07", "prf@vendee-avenir-formation.fr")
d_sams = dict(lot="1E1F2025_17", of_cr="518", publics=("80006", "80008", "81020"), ht="6545.00", tva=0,
              ttc="6545.00", certif="0", certif_inclus=True)
offre(
    "19510-89420", VAF,
    {
        "certifinfo": "900210", "rncp": "RNCP90210",
        "intitule": "Titre professionnel secrétaire assistant médico-social",
        "objectif_general": "certification",
        "objectif": "Assurer l’accueil des patients et usagers, la gestion administrative de leur dossier et la "
                    "coordination des opérations liées à leur parcours dans une structure sanitaire, médico-sociale "
                    "ou sociale.",
        "resultats_attendus": "Titre professionnel de niveau 4, ou un ou plusieurs certificats de compétences "
                              "professionnelles (CCP).",
        "type_certification": "titre_professionnel",
        "formacodes": ["35054", "43454"], "codes_nsf": ["324"], "codes_rome": ["M1609"], "niveau_sortie": 14,
        "blocs": [
            bloc("RNCP90210BC01", "Assurer les travaux courants de secrétariat et d’assistanat",
                 programme="Produire des documents professionnels courants\nRechercher et communiquer des "
                           "informations\nAssurer la traçabilité et la conservation des informations"),
            bloc("RNCP90210BC02", "Assurer l’accueil et le traitement administratif du parcours de l’usager",
                 programme="Accueillir et orienter le patient ou l’usager\nPlanifier et organiser les activités "
                           "de l’équipe\nTraiter les dossiers et coordonner le parcours"),
        ],
        "individualisation_par_bloc": True, "validation": "totale",
    },
    {
        "site_dispensateur": vaf_lry_ref,
        "complement_intitule": "Module gériatrie et coordination de parcours",
        "objectifs": "Être capable d’accueillir, d’informer et d’orienter les patients ; de gérer les dossiers "
                     "médicaux et administratifs dans le respect du secret professionnel ; d’utiliser la "
                     "terminologie médicale courante.",
        "le_plus_formation": "Plateau technique reproduisant un secrétariat de cabinet médical ; six semaines de "
                             "stage en établissement de santé du territoire.",
        "url_video": "https://www.youtube.com/watch?v=Vf3sAms2025",
        "url_pdf": "https://www.vendee-avenir-formation.fr/docs/plaquette-tp-sams-2025.pdf",
        "url_action": "https://www.vendee-avenir-formation.fr/formations/secretaire-assistant-medico-social",
        "equipements": [equip("numerique", 0, "Ordinateur portable prêté pour la durée de la formation.")],
        "niveau_entree": 13, "niveau_entree_obligatoire": False,
        "prerequis": "Maîtrise du français écrit et oral (niveau B1), aisance avec l’outil informatique, projet "
                     "professionnel validé.",
        "commentaire_prerequis": "Tests de positionnement en français et bureautique lors de l’information collective.",
        "public_vise": "Demandeurs d’emploi, dont licenciés pour motif économique et personnes bénéficiaires de "
                       "l’obligation d’emploi.",
        "contact": person("Madame", "Chauvet", "Élodie", "02 61 91 50 07", "sams@vendee-avenir-formation.fr"),
    },
    [
        session(
            "19510-89420-144011", vaf_lry_ref, vaf_lry_ref, "2025-09-08", "2026-03-20",
            dispositif(P_1E1F, d_sams["lot"], "3104", d_sams["of_cr"], 12, publics=d_sams["publics"], restantes=9,
                       eff_min=8, capacite=12, ht=d_sams["ht"], tva=d_sams["tva"], ttc=d_sams["ttc"],
                       certif=d_sams["certif"], certif_inclus=True),
            rythmes="Temps plein, 35 heures par semaine (8h45–12h15 / 13h30–17h)",
            periodes=[periode("centre", "2025-09-08", "2026-01-30"), periode("entreprise", "2026-02-02", "2026-03-13"),
                      periode("centre", "2026-03-16", "2026-03-20")],
            modalites=["96414"], enseignement="presentiel", centre=595, entreprise=210, hebdo=35,
            commentaire_duree="Module de remise à niveau contextualisé du 8 au 19 septembre 2025.",
            modalites_recrutement=["epreuves_ecrites", "entretien"],
            modalites_recrutement_texte="Tests écrits de positionnement puis entretien individuel de motivation.",
            ics=[ic("60112", "2025-06-17", lieu=site_addr("vaf", "80451"), places=15),
                 ic("60113", "2025-07-03", "14:00", "16:30", lieu=site_addr("vaf", "80451"), places=15)],
            inscriptions=[inscription("candidature", "2025-05-12", "2025-08-29")],
            pmr=vaf_pmr, prf=vaf_prf, mail_liaison="liaison.prf@vendee-avenir-formation.fr", mobilite=vaf_mob,
            remise_a_niveau=True, cree_le="2025-03-11T10:02:00+01:00", modifie_le="2025-05-20T16:45:00+02:00",
        ),
        session(
            "19510-89420-144012", ref("vaf", "80452"), vaf_lry_ref, "2025-10-06", "2026-05-29",
            dispositif(P_1E1F, d_sams["lot"], "3105", d_sams["of_cr"], 10, publics=d_sams["publics"],
                       ht=d_sams["ht"], tva=d_sams["tva"], ttc=d_sams["ttc"], certif_inclus=True),
            rythmes="Temps partiel, 28 heures par semaine : trois jours en centre, un jour en FOAD",
            modalites=["96133", "96414"],
            modalites_texte="Trois jours en centre ; un jour en formation à distance avec tutorat asynchrone.",
            enseignement="mixte", centre=595, entreprise=210, hebdo=28,
            periodes=avec_stages("2025-10-06", "2026-05-29", ("2026-04-13", "2026-05-22")),
            modalites_recrutement=["epreuves_ecrites", "entretien"],
            ics=[ic("60121", "2025-09-02", lieu=site_addr("vaf", "80452"), places=12),
                 ic("60122", "2025-09-16", "17:30", "18:30", lien="https://visio.vendee-avenir-formation.fr/ic-sams-sables",
                    places=30, commentaire="Réunion à distance ; le lien est actif dix minutes avant le début.")],
            inscriptions=[inscription("recrutement", "2025-06-02", "2025-09-26")],
            pmr=vaf_pmr, mobilite=vaf_mob, mail_liaison="liaison.prf@vendee-avenir-formation.fr",
        ),
        session(
            "19510-89420-144014", vaf_lry_ref, vaf_lry_ref, "2025-11-03", "2026-05-29",
            dispositif(P_1E1F, d_sams["lot"], "3106", d_sams["of_cr"], 12, publics=d_sams["publics"],
                       ht=d_sams["ht"], tva=d_sams["tva"], ttc=d_sams["ttc"]),
            periodes=avec_stages("2025-11-03", "2026-05-29", ("2026-04-13", "2026-05-22")),
            modalites=["96414"], centre=595, entreprise=210, hebdo=35,
            modalites_recrutement=["epreuves_ecrites", "entretien"],
            ics=[ic("60131", "2025-10-07", places=15, commentaire="Lieu communiqué à la convocation.")],
            pmr=vaf_pmr, mobilite=vaf_mob,
        ),
    ],
)
expect("19510-89420-144011", "accepted")
expect("19510-89420-144012", "accepted")
expect("19510-89420-144014", "rejected", "IC_INCOMPLETE", "session.informations_collectives[0].lieu",
       "information collective sans lieu ni lien de connexion à distance")

# ---------------------------------------------------------------------------------------
# 19633-90102 – TP agent de propreté et d'hygiène, Loire-Atlantique (44): validation
# partielle, alternance, équipement; one session without rythmes.

aflo_sn_ref = ref("aflo", "41207")
aflo_pmr = pmr("Guérin", "Nadège", "02 61 91 10 15", "handicap@aflo-formation.fr")
aflo_mob = person("Monsieur", "Tessier", "Yann", "02 61 91 10 16", "mobilite@aflo-formation.fr")
aph_disp = lambda id_cr, places, **kw: dispositif(P_1E1F, "1E1F2025_9", id_cr, "112", places,  # noqa: E731
                                                  publics=("80006",), ht="4920.00", tva=20, ttc="5904.00",
                                                  additionnels="0", **kw)
offre(
    "19633-90102", AFLO,
    {
        "certifinfo": "900633", "rncp": "RNCP90633",
        "intitule": "Titre professionnel agent de propreté et d’hygiène",
        "objectif_general": "certification", "type_certification": "titre_professionnel",
        "objectif": "Réaliser des prestations de nettoyage manuel et mécanisé dans tous types de locaux, dans le "
                    "respect des règles d’hygiène, de sécurité et de l’environnement.",
        "formacodes": ["42826"], "codes_nsf": ["343"], "codes_rome": ["K2204"], "niveau_sortie": 13,
        "blocs": [
            bloc("RNCP90633BC01", "Réaliser une prestation de nettoyage manuel"),
            bloc("RNCP90633BC02", "Réaliser une prestation de nettoyage mécanisé"),
            bloc("RNCP90633BC03", "Réaliser une prestation de remise en état mécanisée", type_module="personnalisable"),
        ],
        "resultats_attendus": "Les certificats de compétences professionnelles « Réaliser une prestation de "
                              "nettoyage manuel » et « Réaliser une prestation de nettoyage mécanisé » du titre "
                              "professionnel agent de propreté et d’hygiène (niveau 3).",
        "individualisation_par_bloc": True, "validation": "partielle",
        "blocs_valides": ["RNCP90633BC01", "RNCP90633BC02"],
    },
    {
        "site_dispensateur": aflo_sn_ref,
        "complement_programme": "Sensibilisation aux produits écolabellisés et au tri des déchets ; gestes et "
                                "postures ; habilitation à l’utilisation de l’autolaveuse.",
        "le_plus_formation": "Chantiers réels dans les équipements publics de la CARENE et accompagnement vers "
                             "l’emploi par un chargé de relations entreprises.",
        "url_action": "https://www.aflo-formation.fr/formations/agent-proprete-hygiene",
        "equipements": [
            equip("protection_pieds", 65, "Chaussures de sécurité S3, fournies par l’organisme."),
            equip("tenue_professionnelle", 40, "Deux tenues de travail fournies."),
            equip("protection_mains"),
        ],
        "niveau_entree": 1,
        "prerequis": "Savoir lire et écrire le français (niveau A2), absence de contre-indication médicale aux "
                     "travaux de nettoyage.",
        "public_vise": "Demandeurs d’emploi de tous niveaux souhaitant travailler dans la propreté.",
    },
    [
        session(
            "19633-90102-144101", aflo_sn_ref, aflo_sn_ref, "2025-09-15", "2025-12-19", aph_disp("2251", 10, restantes=10),
            rythmes="Alternance : trois semaines en centre, une semaine en entreprise",
            cycle={"type_alternance": "tout", "unite": "semaine", "unites_entreprise": 1, "unites_centre": 3},
            periodes=[periode("centre", "2025-09-15", "2025-10-03"), periode("entreprise", "2025-10-06", "2025-10-10"),
                      periode("centre", "2025-10-13", "2025-10-31"), periode("entreprise", "2025-11-03", "2025-11-07"),
                      periode("centre", "2025-11-10", "2025-11-28"), periode("entreprise", "2025-12-01", "2025-12-05"),
                      periode("centre", "2025-12-08", "2025-12-19")],
            modalites=["96142"], centre=350, entreprise=105, hebdo=35,
            modalites_recrutement=["tests_pratiques", "entretien"],
            ics=[ic("41871", "2025-07-01", lieu=site_addr("aflo", "41207"), places=16),
                 ic("41872", "2025-08-28", lieu=site_addr("aflo", "41207"), places=16)],
            pmr=aflo_pmr, mobilite=aflo_mob, mail_liaison="prf@aflo-formation.fr",
        ),
        session(
            "19633-90102-144102", ref("aflo", "41208"), aflo_sn_ref, "2025-10-06", "2026-01-30",
            aph_disp("2252", 8), rythmes=None,
            periodes=avec_stages("2025-10-06", "2026-01-30", ("2025-11-17", "2025-11-28"), ("2026-01-19", "2026-01-23")),
            modalites=["96142"], centre=350, entreprise=105,
            modalites_recrutement=["tests_pratiques", "entretien"],
            ics=[ic("41881", "2025-09-09", "14:00", "16:00", lieu=site_addr("aflo", "41208"), places=10)],
            pmr=aflo_pmr, mobilite=aflo_mob,
        ),
        session(
            "19633-90102-144103", aflo_sn_ref, aflo_sn_ref, "2025-11-17", "2026-03-06", aph_disp("2253", 10),
            rythmes="Alternance : trois semaines en centre, une semaine en entreprise",
            cycle={"type_alternance": "tout", "unite": "semaine", "unites_entreprise": 1, "unites_centre": 3},
            periodes=alternance("2025-11-17", "2026-03-06", 3, 1),
            modalites=["96142"], centre=350, entreprise=105, hebdo=35, recrutement="ouvert",
            modalites_recrutement=["tests_pratiques", "entretien"],
            ics=[ic("41873", "2025-10-14", lieu=site_addr("aflo", "41207"), places=16)],
            pmr=aflo_pmr, mobilite=aflo_mob,
        ),
    ],
)
expect("19633-90102-144101", "accepted")
expect("19633-90102-144102", "rejected", "RYTHMES_ABSENTS", "session.rythmes", "champ obligatoire manquant : rythmes")
expect("19633-90102-144103", "accepted")

# ---------------------------------------------------------------------------------------
# 19701-90233 – TP maçon, Loire-Atlantique: socle + intention d'embauche (correctly
# declared) + one session starting in 2026.

btpa_reze_ref = ref("btpa", "43001")
btpa_pmr = pmr("Rousseau", "Karine", "02 61 91 80 05", "handicap@btp-formation-atlantique.fr")
btpa_mob = person("Monsieur", "Brelet", "Kévin", "02 61 91 80 06", "mobilite@btp-formation-atlantique.fr")
macon_disp = lambda id_cr, places: dispositif(P_1E1F, "1E1F2025_11", id_cr, "733", places,  # noqa: E731
                                              publics=("80006", "80008"), ht="7480.00", tva=0, ttc="7480.00",
                                              certif="120.00", certif_inclus=True)
offre(
    "19701-90233", BTPA,
    {
        "certifinfo": "900701", "rncp": "RNCP90701", "intitule": "Titre professionnel maçon",
        "objectif_general": "certification", "type_certification": "titre_professionnel",
        "objectif": "Construire des ouvrages en maçonnerie de petits éléments, des ouvrages en béton armé "
                    "coffrés en place et réaliser des dallages et planchers.",
        "formacodes": ["22454"], "codes_nsf": ["232"], "codes_rome": ["F1703"], "niveau_sortie": 13,
        "blocs": [
            bloc("RNCP90701BC01", "Construire les ouvrages en maçonnerie"),
            bloc("RNCP90701BC02", "Construire les ouvrages en béton armé"),
        ],
        "resultats_attendus": "Titre professionnel maçon (niveau 3), ou l’un de ses certificats de compétences "
                              "professionnelles (CCP).",
        "validation": "totale",
    },
    {
        "site_dispensateur": btpa_reze_ref,
        "objectifs": "Lire un plan, implanter et monter des murs en blocs béton et briques, réaliser coffrages, "
                     "ferraillages et coulages, poser des planchers poutrelles-hourdis.",
        "le_plus_formation": "Plateau technique couvert de 1 800 m² ; passage du CACES® R482 cat. A intégré au parcours.",
        "url_video": "https://videos.btp-formation-atlantique.fr/metiers/macon-2025.mp4",
        "url_action": "https://www.btp-formation-atlantique.fr/formations/macon",
        "equipements": [
            equip("protection_tete", 25, "Casque de chantier fourni."),
            equip("protection_pieds", 70), equip("protection_mains", 12),
            equip("outillage", 150, "Caisse à outils du maçon (truelles, niveau, fil à plomb), remise en début de formation."),
        ],
        "niveau_entree": 1,
        "prerequis": "Aptitude au port de charges et au travail en hauteur. Pour les sessions ouvertes sur "
                     "intention d’embauche : intention d’embauche de l’entreprise partenaire validée par la Région.",
        "commentaire_prerequis": "Visite médicale d’aptitude avant l’entrée en formation.",
        "public_vise": "Demandeurs d’emploi, dont licenciés économiques, attirés par les métiers du gros œuvre.",
    },
    [
        session(
            "19701-90233-144201", btpa_reze_ref, btpa_reze_ref, "2025-09-01", "2026-02-27", macon_disp("2710", 12),
            periodes=[periode("centre", "2025-09-01", "2026-01-16"), periode("entreprise", "2026-01-19", "2026-02-20"),
                      periode("centre", "2026-02-23", "2026-02-27")],
            modalites=["96414"], centre=665, entreprise=175, hebdo=35,
            modalites_recrutement=["tests_pratiques", "entretien"],
            ics=[ic("71201", "2025-06-19", "09:00", "11:30", lieu=site_addr("btpa", "43001"), places=20,
                    commentaire="Visite du plateau technique et tests pratiques le même jour.")],
            pmr=btpa_pmr, mobilite=btpa_mob,
        ),
        session(
            "19701-90233-144202", ref("btpa", "43002"), btpa_reze_ref, "2025-10-13", "2026-04-10", macon_disp("2711", 6),
            rythmes="Alternance : trois semaines en centre, deux semaines chez l’employeur",
            cycle={"type_alternance": "professionnalisation", "unite": "semaine", "unites_entreprise": 2,
                   "unites_centre": 3},
            periodes=alternance("2025-10-13", "2026-04-10", 3, 2), modalites=["96142"],
            centre=525, entreprise=315, hebdo=35,
            commentaire_duree="Session ouverte sur intention d’embauche de l’entreprise Bâtir Estuaire (6 postes).",
            modalites_recrutement=["entretien"],
            modalites_recrutement_texte="Recrutement conjoint avec l’entreprise Bâtir Estuaire : intention "
                                        "d’embauche validée par la Région.",
            ics=[ic("71202", "2025-09-11", "14:00", "16:00", lieu=site_addr("btpa", "43002"), places=12)],
            pmr=btpa_pmr, mobilite=btpa_mob,
        ),
        session(
            "19701-90233-144203", btpa_reze_ref, btpa_reze_ref, "2026-01-12", "2026-07-03", macon_disp("2712", 12),
            periodes=avec_stages("2026-01-12", "2026-07-03", ("2026-05-11", "2026-06-12")),
            modalites=["96414"], centre=665, entreprise=175, hebdo=35,
            modalites_recrutement=["tests_pratiques", "entretien"],
            ics=[ic("71203", "2025-11-27", lieu=site_addr("btpa", "43001"), places=20)],
            pmr=btpa_pmr, mobilite=btpa_mob,
        ),
    ],
)
expect("19701-90233-144201", "accepted")
expect("19701-90233-144202", "accepted")
expect("19701-90233-144203", "rejected", "DEBUT_HORS_CAMPAGNE", "session.date_debut",
       "session de la campagne 2025 qui ne débute pas en 2025")

# ---------------------------------------------------------------------------------------
# 19702-90240 – CQPM conducteur d'équipements industriels, Sarthe (72): an intention
# d'embauche session whose pré-requis does not say so.

sfp_lm_ref = ref("sfp", "70101")
sfp_pmr = pmr("Lemaître", "Aurélie", "02 61 91 40 05", "handicap@sarthe-formation-pro.fr")
sfp_mob = person("Monsieur", "Hamon", "Jérôme", "02 61 91 40 06", "mobilite@sarthe-formation-pro.fr")
offre(
    "19702-90240", SFP,
    {
        "certifinfo": "900702", "rncp": "RNCP90702",
        "intitule": "CQPM conducteur d’équipements industriels",
        "objectif_general": "certification", "type_certification": "cqp",
        "objectif": "Conduire des équipements de production automatisés, réaliser les changements de série et "
                    "contrôler la conformité des pièces.",
        "description": "Sécurité en environnement industriel, lecture des documents de production, conduite et "
                       "surveillance d’une ligne automatisée, changements de série et réglages, autocontrôle et "
                       "maintenance de premier niveau.",
        "formacodes": ["31734"], "codes_nsf": ["250"], "codes_rome": ["H2913"], "niveau_sortie": 13,
        "resultats_attendus": "Certificat de qualification paritaire de la métallurgie (CQPM) conducteur "
                              "d’équipements industriels.",
        "validation": "totale",
    },
    {
        "site_dispensateur": sfp_lm_ref,
        "le_plus_formation": "Ligne de production école équipée d’un îlot robotisé.",
        "url_action": "https://www.sarthe-formation-pro.fr/formations/cqpm-conducteur-equipements",
        "equipements": [equip("protection_pieds", 60), equip("protection_yeux", 8), equip("protection_ouie", 5)],
        "niveau_entree": 1,
        "prerequis": "Maîtrise des quatre opérations et lecture de consignes écrites, projet professionnel validé.",
        "public_vise": "Demandeurs d’emploi intéressés par l’industrie.",
    },
    [
        session(
            "19702-90240-144301", sfp_lm_ref, sfp_lm_ref, "2025-09-22", "2026-01-23",
            dispositif(P_1E1F, "1E1F2025_23", "2904", "405", 10, ht="5100.00", tva=20, ttc="6120.00"),
            periodes=avec_stages("2025-09-22", "2026-01-23", ("2025-11-24", "2025-12-19")),
            modalites=["96414"], centre=420, entreprise=140, hebdo=35,
            modalites_recrutement=["tests_pratiques", "entretien"],
            ics=[ic("72301", "2025-07-10", lieu=site_addr("sfp", "70101"), places=14)],
            pmr=sfp_pmr, mobilite=sfp_mob,
        ),
        session(
            "19702-90240-144302", ref("sfp", "70102"), sfp_lm_ref, "2025-10-20", "2026-02-13",
            dispositif(P_1E1F, "1E1F2025_23", "2905", "405", 8, ht="5100.00", tva=20, ttc="6120.00"),
            periodes=avec_stages("2025-10-20", "2026-02-13", ("2026-01-19", "2026-02-13")),
            modalites=["96414"], centre=420, entreprise=140, hebdo=35,
            modalites_recrutement=["entretien"],
            commentaire_duree="Session ouverte sur intention d’embauche de la société Fonderie du Loir (8 postes).",
            ics=[ic("72302", "2025-09-25", lieu=site_addr("sfp", "70102"), places=10,
                    commentaire="En présence de l’entreprise qui recrute.")],
            pmr=sfp_pmr, mobilite=sfp_mob,
        ),
    ],
)
expect("19702-90240-144301", "accepted")
expect("19702-90240-144302", "accepted", "INTENTION_EMBAUCHE_PREREQUIS", "action.prerequis",
       "session sur intention d’embauche dont les pré-requis ne mentionnent pas « intention d’embauche »")

# ---------------------------------------------------------------------------------------
# 19745-90311 – PRÉPA Sanitaire et social, Maine-et-Loire (49): three sites, one with
# recruitment suspended, one closed (both stay exportable).

ifsa_angers_ref = ref("ifsa", "52011")
ifsa_pmr = pmr("Brossard", "Hélène", "02 61 91 20 05", "referent.handicap@ifsa-anjou.fr")
ifsa_mob = person("Monsieur", "Cailleau", "Antoine", "02 61 91 20 06", "mobilite@ifsa-anjou.fr")
pss = lambda id_cr, places, **kw: dispositif(P_SANITAIRE, "PSS2025_3", id_cr, "214", places,  # noqa: E731
                                             publics=("80006", "80009"), ht="2380.00", tva=0, ttc="2380.00", **kw)
offre(
    "19745-90311", IFSA,
    {
        "intitule": "Préparation aux sélections des formations d’aide-soignant et d’auxiliaire de puériculture",
        "objectif_general": "preparation_qualification", "type_certification": "aucune",
        "description": "Consolidation des savoirs de base, découverte des métiers du soin, préparation de "
                       "l’entretien de sélection et du dossier Parcoursup ou de sélection directe.",
        "formacodes": ["43436"], "codes_nsf": ["331"], "codes_rome": ["J1501", "J1304"],
        "validation": "totale",
    },
    {
        "site_dispensateur": ifsa_angers_ref,
        "objectifs": "Confirmer son projet professionnel dans le soin, se préparer aux épreuves de sélection et "
                     "réussir son entrée en institut de formation.",
        "resultats_attendus": "Attestation de fin de formation ; dossier de candidature complet et préparation "
                              "à l’entretien de sélection en IFAS ou en IFAP.",
        "le_plus_formation": "Deux stages d’observation en EHPAD et en crèche ; 87 % d’entrées en IFAS en 2024.",
        "url_action": "https://www.ifsa-anjou.fr/prepa-sanitaire-social/aide-soignant",
        "niveau_entree": 1,
        "prerequis": "Projet professionnel dans le soin ou la petite enfance ; vaccinations à jour pour les stages.",
        "public_vise": "Demandeurs d’emploi, en priorité de moins de 26 ans, visant une formation paramédicale.",
    },
    [
        session(
            "19745-90311-144401", ifsa_angers_ref, ifsa_angers_ref, "2025-09-15", "2025-12-12", pss("4410", 15, restantes=4),
            rythmes="Temps plein, 30 heures par semaine", parcours="groupe", centre=300, entreprise=70, hebdo=30,
            periodes=avec_stages("2025-09-15", "2025-12-12", ("2025-10-13", "2025-10-17"), ("2025-11-24", "2025-11-28")),
            modalites=["96414"], modalites_recrutement=["dossier", "entretien"],
            ics=[ic("52401", "2025-06-12", lieu=site_addr("ifsa", "52011"), places=25),
                 ic("52402", "2025-07-02", "14:00", "16:30", lieu=site_addr("ifsa", "52011"), places=25)],
            inscriptions=[inscription("inscription", "2025-05-05", "2025-09-05")],
            pmr=ifsa_pmr, mobilite=ifsa_mob, prf=person("Madame", "Hervé", "Claire", "02 61 91 20 07",
                                                       "prf@ifsa-anjou.fr"),
        ),
        session(
            "19745-90311-144402", ref("ifsa", "52012"), ifsa_angers_ref, "2025-09-22", "2025-12-19", pss("4411", 12),
            rythmes="Temps plein, 30 heures par semaine", parcours="groupe", centre=300, entreprise=70, hebdo=30,
            periodes=avec_stages("2025-09-22", "2025-12-19", ("2025-10-20", "2025-10-24"), ("2025-12-01", "2025-12-05")),
            modalites=["96414"], recrutement="suspendu", modalites_recrutement=["dossier", "entretien"],
            ics=[ic("52411", "2025-06-26", lieu=site_addr("ifsa", "52012"), places=18,
                    commentaire="Recrutement suspendu dans l’attente de la confirmation du nombre de places.")],
            pmr=ifsa_pmr, mobilite=ifsa_mob,
        ),
        session(
            "19745-90311-144403", ref("ifsa", "52013"), ifsa_angers_ref, "2025-04-07", "2025-07-04", pss("4412", 12, restantes=0),
            rythmes="Temps plein, 30 heures par semaine", parcours="groupe", centre=300, entreprise=70, hebdo=30,
            periodes=avec_stages("2025-04-07", "2025-07-04", ("2025-05-05", "2025-05-09"), ("2025-06-09", "2025-06-13")),
            modalites=["96414"], recrutement="ferme", modalites_recrutement=["dossier", "entretien"],
            ics=[ic("52421", "2025-03-13", lieu=site_addr("ifsa", "52013"), places=18)],
            pmr=ifsa_pmr, mobilite=ifsa_mob,
        ),
    ],
)
expect("19745-90311-144401", "accepted")
expect("19745-90311-144402", "accepted")
expect("19745-90311-144403", "accepted")

# ---------------------------------------------------------------------------------------
# 19746-90318 – PRÉPA Sanitaire et social (accompagnement social), entrées/sorties
# permanentes, remote information collective; one session with frais not covered.

offre(
    "19746-90318", IFSA,
    {
        "intitule": "Découverte et préparation aux métiers de l’accompagnement social et éducatif",
        "objectif_general": "preparation_qualification", "type_certification": "aucune",
        "description": "Découverte des métiers d’accompagnant éducatif et social, de moniteur-éducateur et "
                       "d’éducateur spécialisé ; stages d’immersion ; préparation aux sélections.",
        "formacodes": ["44028"], "codes_nsf": ["332"], "codes_rome": ["K1207", "K1301"],
        "validation": "totale",
    },
    {
        "site_dispensateur": ifsa_angers_ref,
        "objectifs": "Valider un projet dans le travail social et se préparer aux sélections du DEAES ou du DEME.",
        "resultats_attendus": "Attestation de fin de formation ; projet professionnel validé par les stages "
                              "d’immersion et dossier de candidature aux sélections du DEAES, du DEME ou du DEES.",
        "url_video": "https://youtu.be/pSs2025aEs",
        "niveau_entree": 1,
        "prerequis": "Intérêt pour l’accompagnement des personnes ; savoir lire et écrire le français.",
        "public_vise": "Demandeurs d’emploi souhaitant s’orienter vers le travail social.",
    },
    [
        session(
            "19746-90318-144501", ifsa_angers_ref, ifsa_angers_ref, "2025-01-06", "2025-12-19",
            dispositif(P_SANITAIRE, "PSS2025_3", "4420", "214", 20, publics=("80006",), capacite=10),
            es="permanentes", rythmes="Temps partiel, 24 heures par semaine sur quatre jours",
            parcours="individualise", centre=250, entreprise=105, hebdo=24,
            periodes=permanentes("2025-01-06", "2025-12-19", 3), modalites=["96125"],
            modalites_texte="Parcours individualisé : ateliers collectifs, entretiens individuels et stages d’immersion.",
            modalites_recrutement=["dossier", "entretien"],
            commentaire_duree="Parcours de 6 à 10 semaines selon le positionnement ; entrées chaque lundi.",
            ics=[ic("52431", "2025-06-05", "10:00", "11:30",
                    lien="https://teams.microsoft.com/l/meetup-join/ifsa-anjou-ic-prepa-social-juin",
                    places=40, commentaire="Information collective en visio ; un lien personnel est envoyé la veille."),
                 ic("52432", "2025-07-03", "10:00", "11:30",
                    lien="https://teams.microsoft.com/l/meetup-join/ifsa-anjou-ic-prepa-social-juillet", places=40),
                 ic("52433", "2025-09-04", lieu=site_addr("ifsa", "52011"), places=20)],
            inscriptions=[inscription("candidature", "2025-01-02")],
            pmr=ifsa_pmr, mobilite=ifsa_mob,
        ),
        session(
            "19746-90318-144502", ref("ifsa", "52012"), ifsa_angers_ref, "2025-03-03", "2025-12-19",
            dispositif(P_SANITAIRE, "PSS2025_3", "4421", "214", 12, publics=("80006",),
                       prise_en_charge=False),
            es="permanentes", rythmes="Temps partiel, 24 heures par semaine", parcours="individualise",
            centre=250, entreprise=105, periodes=permanentes("2025-03-03", "2025-12-19", 3), modalites=["96125"],
            modalites_recrutement=["dossier", "entretien"],
            ics=[ic("52441", "2025-06-19", lieu=site_addr("ifsa", "52012"), places=15)],
            pmr=ifsa_pmr, mobilite=ifsa_mob,
        ),
    ],
)
expect("19746-90318-144501", "accepted")
expect("19746-90318-144502", "rejected", "PRISE_EN_CHARGE_NON", "session.dispositif.prise_en_charge_frais_pedagogiques",
       "prise en charge des frais pédagogiques à « non » dans un programme régional")

# ---------------------------------------------------------------------------------------
# 19801-90412 – PRÉPA Clés Avenir, Mayenne (53): three sites with different rythmes and
# modalités; one session without modalités d'enseignement.

mayc_laval_ref = ref("mayc", "60321")
mayc_pmr = pmr("Fouquet", "Anne-Laure", "02 61 91 30 05", "handicap@mayenne-competences.fr")
mayc_mob = person("Monsieur", "Derouet", "Mickaël", "02 61 91 30 06", "mobilite@mayenne-competences.fr")
pca = lambda id_cr, places, **kw: dispositif(P_CLES_AVENIR, "PCA2025_6", id_cr, "301", places,  # noqa: E731
                                             publics=("80006", "81019"), ht="1820.00", tva=0, ttc="1820.00", **kw)
offre(
    "19801-90412", MAYC,
    {
        "certifinfo": "900801",
        "intitule": "Compétences clés – savoirs de base et certification CléA",
        "objectif_general": "remise_a_niveau", "type_certification": "certification_rs",
        "objectif": "Acquérir le socle de connaissances et de compétences professionnelles : communiquer en "
                    "français, calculer, utiliser un ordinateur, travailler en équipe, apprendre à apprendre.",
        "description": "Les sept domaines du socle CléA : communiquer en français ; utiliser les règles de base de "
                       "calcul et du raisonnement mathématique ; utiliser les techniques usuelles de l’information et "
                       "de la communication numérique ; travailler dans le cadre de règles définies d’un travail en "
                       "équipe ; travailler en autonomie et réaliser un objectif individuel ; apprendre à apprendre "
                       "tout au long de la vie ; maîtriser les gestes et postures et respecter les règles d’hygiène, "
                       "de sécurité et environnementales élémentaires.",
        "formacodes": ["15040", "15061"], "codes_nsf": ["411"],
        "resultats_attendus": "Certificat CléA (socle de connaissances et de compétences professionnelles), en "
                              "totalité ou par domaines ; attestation des acquis pour les domaines non validés.",
        "validation": "totale",
    },
    {
        "site_dispensateur": mayc_laval_ref,
        "complement_intitule": "Parcours individualisé",
        "objectifs": "Consolider les savoirs de base pour accéder à une formation qualifiante ou à un emploi, et "
                     "obtenir tout ou partie de la certification CléA.",
        "le_plus_formation": "Entrées chaque semaine, parcours construit sur mesure après positionnement.",
        "url_action": "https://www.mayenne-competences.fr/prepa-cles-avenir",
        "niveau_entree": 1,
        "prerequis": "Aucun pré-requis de niveau ; entretien de positionnement préalable.",
        "public_vise": "Demandeurs d’emploi ayant besoin de consolider les savoirs de base, y compris en "
                       "situation d’illettrisme.",
    },
    [
        session(
            "19801-90412-144601", mayc_laval_ref, mayc_laval_ref, "2025-01-06", "2025-12-19", pca("5101", 24, capacite=12),
            es="permanentes", rythmes="Temps partiel, 21 heures par semaine (matins et mardi après-midi)",
            parcours="individualise", modalites=["96125"], enseignement="presentiel", centre=280, entreprise=0,
            hebdo=21, periodes=permanentes("2025-01-06", "2025-12-19"), modalites_recrutement=["entretien"],
            commentaire_duree="Durée moyenne de parcours : 280 heures, de 100 à 400 heures selon le positionnement.",
            ics=[ic("53101", "2025-06-10", lieu=site_addr("mayc", "60321"), places=12),
                 ic("53102", "2025-07-08", lieu=site_addr("mayc", "60321"), places=12),
                 ic("53103", "2025-09-09", lieu=site_addr("mayc", "60321"), places=12)],
            inscriptions=[inscription("candidature", "2025-01-02")],
            pmr=mayc_pmr, mobilite=mayc_mob, mail_liaison="prf@mayenne-competences.fr",
        ),
        session(
            "19801-90412-144602", ref("mayc", "60322"), mayc_laval_ref, "2025-01-13", "2025-12-19", pca("5102", 12),
            es="permanentes", rythmes="Temps partiel, 15 heures par semaine dont 3 heures à distance",
            parcours="individualise", modalites=["96125", "96133"],
            modalites_texte="Ateliers en centre et exercices en ligne suivis par le formateur.",
            enseignement="mixte", centre=200, entreprise=0, hebdo=15,
            periodes=permanentes("2025-01-13", "2025-12-19"), modalites_recrutement=["entretien"],
            ics=[ic("53111", "2025-06-17", "14:00", "16:00", lieu=site_addr("mayc", "60322"), places=8)],
            pmr=mayc_pmr, mobilite=mayc_mob,
        ),
        session(
            "19801-90412-144603", ref("mayc", "60323"), mayc_laval_ref, "2025-02-03", "2025-12-19", pca("5103", 12),
            es="permanentes", rythmes="Temps partiel, 18 heures par semaine", parcours="individualise",
            modalites=["96125"], enseignement=None, centre=220, entreprise=0, hebdo=18,
            periodes=permanentes("2025-02-03", "2025-12-19"), modalites_recrutement=["entretien"],
            ics=[ic("53121", "2025-06-24", lieu=site_addr("mayc", "60323"), places=8)],
            pmr=mayc_pmr, mobilite=mayc_mob,
        ),
    ],
)
expect("19801-90412-144601", "accepted")
expect("19801-90412-144602", "accepted")
expect("19801-90412-144603", "rejected", "MODALITES_ENSEIGNEMENT_ABSENTES", "session.modalites_enseignement",
       "champ obligatoire manquant : modalités d’enseignement")

# ---------------------------------------------------------------------------------------
# 19802-90420 – PRÉPA Clés Avenir, remobilisation, Vendée (85).

vaf_chal_ref = ref("vaf", "80453")
offre(
    "19802-90420", VAF,
    {
        "intitule": "Remobilisation et construction du projet professionnel – « Cap Avenir »",
        "objectif_general": "remobilisation", "type_certification": "aucune",
        "description": "Ateliers de confiance en soi, découverte des métiers qui recrutent sur le territoire, "
                       "immersions en entreprise (PMSMP), construction d’un plan d’action.",
        "formacodes": ["15081"], "codes_nsf": ["415"], "validation": "totale",
    },
    {
        "site_dispensateur": vaf_chal_ref,
        "objectifs": "Retrouver une dynamique, identifier ses atouts et construire un projet professionnel "
                     "réaliste, validé par une immersion en entreprise.",
        "resultats_attendus": "Attestation de fin de formation et plan d’action professionnel validé par une "
                              "immersion en entreprise.",
        "le_plus_formation": "Petits groupes de 8, ateliers de théâtre-forum et un parrain ou une marraine en entreprise.",
        "niveau_entree": 1,
        "prerequis": "Aucun.",
        "public_vise": "Demandeurs d’emploi sans projet professionnel défini, jeunes et adultes.",
    },
    [
        session(
            "19802-90420-144701", vaf_chal_ref, vaf_lry_ref, "2025-01-06", "2025-12-19",
            dispositif(P_CLES_AVENIR, "PCA2025_14", "5140", "518", 16, publics=("80006", "81024"), capacite=8,
                       ht="1450.00", tva=0, ttc="1450.00"),
            es="permanentes", rythmes="Temps partiel, 20 heures par semaine, du lundi au jeudi",
            parcours="individualise", centre=160, entreprise=70, hebdo=20,
            periodes=permanentes("2025-01-06", "2025-12-19", 2), modalites=["96125"],
            modalites_recrutement=["candidature", "entretien"],
            ics=[ic("60141", "2025-06-05", lieu=site_addr("vaf", "80453"), places=10),
                 ic("60142", "2025-06-19", lieu=site_addr("vaf", "80453"), places=10)],
            inscriptions=[inscription("candidature", "2025-01-02")],
            pmr=vaf_pmr, mobilite=vaf_mob, prf=vaf_prf,
        ),
        session(
            "19802-90420-144702", ref("vaf", "80452"), vaf_lry_ref, "2025-03-03", "2025-12-19",
            dispositif(P_CLES_AVENIR, "PCA2025_14", "5141", "518", 8, publics=("80006", "81024"),
                       ht="1450.00", tva=0, ttc="1450.00"),
            es="permanentes", rythmes="Temps partiel, 20 heures par semaine", parcours="individualise",
            centre=160, entreprise=70, hebdo=20,
            periodes=permanentes("2025-03-03", "2025-12-19", 2), modalites=["96125"],
            modalites_recrutement=["candidature", "entretien"],
            ics=[ic("60151", "2025-06-26", "14:00", "16:00", lieu=site_addr("vaf", "80452"), places=8)],
            pmr=vaf_pmr, mobilite=vaf_mob,
        ),
    ],
)
expect("19802-90420-144701", "accepted")
expect("19802-90420-144702", "accepted")

# ---------------------------------------------------------------------------------------
# 19855-90501 – PRÉPA Avenir Sup, numérique, entirely remote; taught by a partner
# organisme (site dispensateur of another SIRET). One session names the partner as
# organisme responsable instead of the mandataire.

ens_ref = ref("ens", "61001")
offre(
    "19855-90501", MAYC,
    {
        "intitule": "PRÉPA Avenir Sup – accès aux formations supérieures du numérique",
        "objectif_general": "preparation_qualification", "type_certification": "attestation",
        "description": "Mathématiques appliquées, algorithmique, anglais technique et méthodologie du travail "
                       "universitaire, pour préparer l’entrée en BTS SIO, BUT informatique ou titre de niveau 5.",
        "formacodes": ["31054"], "codes_nsf": ["326"], "validation": "totale",
    },
    {
        "site_dispensateur": ens_ref,
        "objectifs": "Acquérir les bases scientifiques et méthodologiques attendues à l’entrée d’une formation "
                     "supérieure du numérique, et constituer un dossier de candidature solide.",
        "resultats_attendus": "Attestation de fin de formation détaillant les acquis, et dossier de candidature "
                              "en BTS SIO, en BUT informatique ou en titre professionnel de niveau 5.",
        "le_plus_formation": "100 % à distance avec classes virtuelles quotidiennes et un mentor étudiant.",
        "url_video": "https://www.youtube.com/watch?v=AvSupNum25",
        "url_action": "https://www.ecole-numerique-solidaire.fr/prepa-avenir-sup",
        "equipements": [equip("numerique", 0, "Ordinateur et connexion internet ; un ordinateur peut être prêté.")],
        "niveau_entree": 14, "niveau_entree_obligatoire": True,
        "prerequis": "Baccalauréat ou niveau équivalent ; connexion internet stable.",
        "public_vise": "Demandeurs d’emploi titulaires du baccalauréat visant une formation supérieure du numérique.",
        "contact": person("Madame", "Nguyen", "Linh", "06 39 98 12 34", "linh.nguyen@ecole-numerique-solidaire.fr"),
    },
    [
        session(
            "19855-90501-144801", ens_ref, mayc_laval_ref, "2025-09-29", "2026-01-30",
            dispositif(P_AVENIR_SUP, "PAS2025_2", "6201", "301", 18, publics=("80006", "80009"),
                       ht="3150.00", tva=0, ttc="3150.00"),
            rythmes="Temps plein à distance, 30 heures par semaine (classes virtuelles de 9h à 12h)",
            parcours="groupe", modalites=["96130", "96133"],
            modalites_texte="Classes virtuelles synchrones chaque matin, travaux tutorés l’après-midi.",
            enseignement="distance", centre=480, entreprise=0, hebdo=30,
            periodes=en_centre("2025-09-29", "2026-01-30"), modalites_recrutement=["dossier", "entretien"],
            ics=[ic("61011", "2025-06-18", "18:00", "19:30", lien="https://meet.ecole-numerique-solidaire.fr/ic-avenir-sup",
                    places=50, commentaire="Réunion en ligne ; prévoir un ordinateur avec micro."),
                 ic("61012", "2025-09-04", "18:00", "19:30", lien="https://meet.ecole-numerique-solidaire.fr/ic-avenir-sup",
                    places=50)],
            pmr=mayc_pmr, mobilite=mayc_mob,
        ),
        session(
            "19855-90501-144802", ens_ref, ens_ref, "2025-11-03", "2026-03-06",
            dispositif(P_AVENIR_SUP, "PAS2025_2", "6202", "301", 18, publics=("80006", "80009"),
                       ht="3150.00", tva=0, ttc="3150.00"),
            rythmes="Temps plein à distance, 30 heures par semaine", parcours="groupe", modalites=["96130"],
            enseignement="distance", centre=480, entreprise=0, hebdo=30,
            periodes=en_centre("2025-11-03", "2026-03-06"), modalites_recrutement=["dossier", "entretien"],
            ics=[ic("61021", "2025-10-09", "18:00", "19:30", lien="https://meet.ecole-numerique-solidaire.fr/ic-avenir-sup",
                    places=50)],
            pmr=mayc_pmr, mobilite=mayc_mob,
        ),
    ],
)
expect("19855-90501-144801", "accepted")
expect("19855-90501-144802", "rejected", "RESPONSABLE_NON_MANDATAIRE", "session.organisme_responsable",
       "organisme responsable autre que le mandataire de la commande régionale")

# ---------------------------------------------------------------------------------------
# 19856-90507 – PRÉPA Avenir Sup, industrie, Sarthe: one session ends before it starts.

offre(
    "19856-90507", SFP,
    {
        "intitule": "Préparation à l’entrée en BTS et BUT industriels",
        "objectif_general": "preparation_qualification", "type_certification": "attestation",
        "description": "Remise à niveau en mathématiques, physique et expression écrite ; découverte des filières "
                       "maintenance, électrotechnique et conception de produits ; visites d’entreprises.",
        "formacodes": ["11054"], "codes_nsf": ["200"], "validation": "totale",
    },
    {
        "site_dispensateur": sfp_lm_ref,
        "objectifs": "Sécuriser l’entrée et la réussite en BTS ou BUT industriel par alternance ou en formation continue.",
        "resultats_attendus": "Attestation de fin de formation et dossier de candidature en BTS ou BUT industriel.",
        "url_pdf": "https://www.sarthe-formation-pro.fr/docs/prepa-avenir-sup-industrie.pdf",
        "niveau_entree": 14,
        "prerequis": "Baccalauréat général, technologique ou professionnel.",
        "public_vise": "Demandeurs d’emploi bacheliers attirés par les métiers techniques de l’industrie.",
    },
    [
        session(
            "19856-90507-144901", sfp_lm_ref, sfp_lm_ref, "2025-09-08", "2025-12-19",
            dispositif(P_AVENIR_SUP, "PAS2025_5", "6231", "405", 14, publics=("80006",), eff_min=8,
                       ht="2640.00", tva=0, ttc="2640.00"),
            rythmes="Temps plein, 32 heures par semaine dont une journée à distance", parcours="groupe",
            modalites=["96133"], enseignement="mixte", centre=400, entreprise=35, hebdo=32,
            periodes=avec_stages("2025-09-08", "2025-12-19", ("2025-11-17", "2025-11-21")),
            modalites_recrutement=["dossier", "entretien"],
            ics=[ic("72401", "2025-06-26", lieu=site_addr("sfp", "70101"), places=20),
                 ic("72402", "2025-07-15", "17:30", "19:00", lien="https://visio.sarthe-formation-pro.fr/ic-avenir-sup",
                    places=40)],
            pmr=sfp_pmr, mobilite=sfp_mob,
        ),
        session(
            # Date début and date fin swapped in SOFI: the session runs from 2025-10-06 to 2025-12-19.
            "19856-90507-144902", ref("sfp", "70103"), sfp_lm_ref, "2025-12-19", "2025-10-06",
            dispositif(P_AVENIR_SUP, "PAS2025_5", "6232", "405", 12, publics=("80006",),
                       ht="2640.00", tva=0, ttc="2640.00"),
            rythmes="Temps plein, 32 heures par semaine", parcours="groupe", modalites=["96414"],
            enseignement="presentiel", centre=400, entreprise=35,
            periodes=avec_stages("2025-10-06", "2025-12-19", ("2025-11-24", "2025-11-28")),
            modalites_recrutement=["dossier", "entretien"],
            ics=[ic("72411", "2025-09-11", lieu=site_addr("sfp", "70103"), places=15)],
            pmr=sfp_pmr, mobilite=sfp_mob,
        ),
    ],
)
expect("19856-90507-144901", "accepted")
expect("19856-90507-144902", "rejected", "DATES_INVERSEES", "session.date_fin",
       "date de fin antérieure à la date de début (les deux dates interverties)")

# ---------------------------------------------------------------------------------------
# 19901-90612 – PASS Entreprendre, three departments with different modalités; one
# session without a number of places.

cae_nantes_ref = ref("cae", "90011")
cae_pmr = pmr("Douillard", "Gwenaëlle", "02 61 91 60 05", "accessibilite@entreprendre-en-loire.coop")
cae_mob = person("Monsieur", "Pineau", "Romain", "02 61 91 60 06", "mobilite@entreprendre-en-loire.coop")
pass_d = lambda id_cr, places, **kw: dispositif(P_PASS, "PASSE2025_1", id_cr, "622", places,  # noqa: E731
                                                publics=("80006", "80010"), ht="2100.00", tva=0, ttc="2100.00", **kw)
offre(
    "19901-90612", CAE,
    {
        "intitule": "PASS Entreprendre en Pays de la Loire – construire et tester son projet de création d’entreprise",
        "objectif_general": "creation_entreprise", "type_certification": "attestation",
        "description": "Étude de marché, modèle économique, prévisionnel financier, statuts juridiques et "
                       "protection sociale, démarche commerciale ; test d’activité au sein de la coopérative.",
        "formacodes": ["32047"], "codes_nsf": ["310"], "validation": "totale",
    },
    {
        "site_dispensateur": cae_nantes_ref,
        "objectifs": "Évaluer la faisabilité de son projet, bâtir un business plan présentable à un financeur et "
                     "tester son activité en conditions réelles.",
        "resultats_attendus": "Attestation de fin de formation et dossier de création finalisé.",
        "le_plus_formation": "Test d’activité en couveuse coopérative et jury de porteurs de projet en fin de parcours.",
        "url_video": "https://www.youtube.com/watch?v=PassEntr25",
        "url_action": "https://www.entreprendre-en-loire.coop/pass-entreprendre",
        "niveau_entree": 1,
        "prerequis": "Avoir une idée de création ou de reprise d’entreprise.",
        "public_vise": "Demandeurs d’emploi, dont bénéficiaires du RSA, porteurs d’un projet de création d’entreprise.",
    },
    [
        session(
            "19901-90612-145001", cae_nantes_ref, cae_nantes_ref, "2025-09-15", "2025-11-28", pass_d("7001", 14),
            rythmes="Temps plein, 35 heures par semaine", parcours="groupe", centre=280, entreprise=70, hebdo=35,
            periodes=avec_stages("2025-09-15", "2025-11-28", ("2025-11-03", "2025-11-14")), modalites=["96414"],
            modalites_recrutement=["dossier", "entretien"],
            ics=[ic("90101", "2025-06-20", lieu=site_addr("cae", "90011"), places=20),
                 ic("90102", "2025-07-04", lieu=site_addr("cae", "90011"), places=20)],
            pmr=cae_pmr, mobilite=cae_mob,
        ),
        session(
            "19901-90612-145002", ref("cae", "90012"), cae_nantes_ref, "2025-10-06", "2025-12-19", pass_d("7002", 12),
            rythmes="Temps partiel, 21 heures par semaine : deux jours en centre, un jour à distance",
            parcours="groupe", modalites=["96130"], enseignement="mixte", centre=210, entreprise=70, hebdo=21,
            periodes=avec_stages("2025-10-06", "2025-12-19", ("2025-12-01", "2025-12-12")),
            modalites_recrutement=["dossier", "entretien"],
            ics=[ic("90111", "2025-09-12", lieu=site_addr("cae", "90012"), places=16),
                 ic("90112", "2025-09-19", "12:30", "13:30", lien="https://visio.entreprendre-en-loire.coop/ic-pass-angers",
                    places=30)],
            pmr=cae_pmr, mobilite=cae_mob,
        ),
        session(
            "19901-90612-145003", ref("cae", "90013"), cae_nantes_ref, "2025-10-13", "2025-12-19", pass_d("7003", None),
            rythmes="Temps plein, 35 heures par semaine", parcours="groupe", centre=280, entreprise=70, hebdo=35,
            periodes=avec_stages("2025-10-13", "2025-12-19", ("2025-12-01", "2025-12-12")), modalites=["96414"],
            modalites_recrutement=["dossier", "entretien"],
            ics=[ic("90121", "2025-09-16", lieu=site_addr("cae", "90013"), places=16)],
            pmr=cae_pmr, mobilite=cae_mob,
        ),
    ],
)
expect("19901-90612-145001", "accepted")
expect("19901-90612-145002", "accepted")
expect("19901-90612-145003", "rejected", "PLACES_DISPOSITIF_ABSENTES", "session.dispositif.places",
       "nombre de places du dispositif non renseigné")

# ---------------------------------------------------------------------------------------
# 19902-90618 – PASS Entreprendre, reprise d'entreprise, Vendée: one session without
# durée en centre.

offre(
    "19902-90618", VAF,
    {
        "intitule": "Reprendre une entreprise artisanale ou commerciale",
        "objectif_general": "creation_entreprise", "type_certification": "attestation",
        "description": "Diagnostic de l’entreprise cible, évaluation, montage financier, négociation avec le "
                       "cédant, management de la transition.",
        "formacodes": ["32047"], "codes_nsf": ["310"], "validation": "totale",
    },
    {
        "site_dispensateur": vaf_lry_ref,
        "objectifs": "Conduire un projet de reprise de l’identification de la cible jusqu’au plan de financement.",
        "resultats_attendus": "Attestation de fin de formation et plan de reprise chiffré, présentable aux "
                              "financeurs.",
        "le_plus_formation": "Rencontres avec des cédants de la Chambre de métiers et mise en relation avec les banques.",
        "niveau_entree": 1,
        "prerequis": "Projet de reprise identifié ou en cours de recherche.",
        "public_vise": "Demandeurs d’emploi porteurs d’un projet de reprise d’entreprise.",
    },
    [
        session(
            "19902-90618-145101", vaf_lry_ref, vaf_lry_ref, "2025-09-22", "2025-11-14",
            dispositif(P_PASS, "PASSE2025_4", "7041", "518", 12, publics=("80006",), ht="1960.00", tva=0,
                       ttc="1960.00"),
            rythmes="Temps plein, 35 heures par semaine", parcours="groupe", centre=210, entreprise=70, hebdo=35,
            periodes=avec_stages("2025-09-22", "2025-11-14", ("2025-10-27", "2025-11-07")), modalites=["96414"],
            modalites_recrutement=["dossier", "entretien"],
            ics=[ic("60161", "2025-09-04", lieu=site_addr("vaf", "80451"), places=15)],
            pmr=vaf_pmr, mobilite=vaf_mob,
        ),
        session(
            "19902-90618-145102", ref("vaf", "80454"), vaf_lry_ref, "2025-10-13", "2025-12-05",
            dispositif(P_PASS, "PASSE2025_4", "7042", "518", 10, publics=("80006",), ht="1960.00", tva=0,
                       ttc="1960.00"),
            rythmes="Temps plein, 35 heures par semaine", parcours="groupe", centre=None, entreprise=70,
            periodes=avec_stages("2025-10-13", "2025-12-05", ("2025-11-17", "2025-11-28")), modalites=["96414"],
            modalites_recrutement=["dossier", "entretien"],
            ics=[ic("60171", "2025-09-23", lieu=site_addr("vaf", "80454"), places=12)],
            pmr=vaf_pmr, mobilite=vaf_mob,
        ),
    ],
)
expect("19902-90618-145101", "accepted")
expect("19902-90618-145102", "rejected", "DUREE_CENTRE_ABSENTE", "session.duree_centre_heures",
       "champ obligatoire manquant : durée en centre")

# ---------------------------------------------------------------------------------------
# 19960-90702 – CAP cuisine, Saumur (49): équipement with costs; one session without
# recruitment state.

amb_ref = ref("amb", "52901")
amb_pmr = pmr("Chevalier", "Isabelle", "02 61 91 90 05", "handicap@metiers-bouche-saumur.fr")
amb_mob = person("Monsieur", "Joubert", "Damien", "02 61 91 90 06", "mobilite@metiers-bouche-saumur.fr")
offre(
    "19960-90702", AMB,
    {
        "certifinfo": "900960", "rncp": "RNCP90960", "intitule": "CAP cuisine",
        "objectif_general": "certification", "type_certification": "diplome",
        "objectif": "Réaliser des préparations culinaires de base, des plats simples et des desserts en respectant "
                    "les règles d’hygiène et de sécurité alimentaire.",
        "formacodes": ["42752"], "codes_nsf": ["221"], "codes_rome": ["G1602"], "niveau_sortie": 13,
        "blocs": [
            bloc("RNCP90960BC01", "Organiser la production de cuisine",
                 programme="Œufs, fonds et sauces de base ; approvisionnement et stockage ; plan de travail."),
            bloc("RNCP90960BC02", "Réaliser la production de cuisine"),
            bloc("RNCP90960BC03", "Français, histoire-géographie, enseignement moral et civique",
                 type_module="personnalisable"),
        ],
        "resultats_attendus": "CAP cuisine (diplôme de niveau 3), ou un ou plusieurs de ses blocs de compétences.",
        "individualisation_par_bloc": True, "validation": "totale",
    },
    {
        "site_dispensateur": amb_ref,
        "complement_intitule": "Option cuisine du terroir ligérien",
        "objectifs": "Maîtriser les techniques de base de la cuisine française, travailler les produits locaux "
                     "(sandre, rillauds, Saumur brut) et s’intégrer dans une brigade.",
        "le_plus_formation": "Restaurant d’application ouvert au public deux midis par semaine ; cours de sommellerie.",
        "url_video": "https://www.metiers-bouche-saumur.fr/media/cap-cuisine-presentation.MP4",
        "url_action": "https://www.metiers-bouche-saumur.fr/cap-cuisine",
        "equipements": [
            equip("tenue_professionnelle", 95, "Veste, pantalon, tablier et toque ; deux jeux fournis."),
            equip("outillage", 180, "Mallette de couteaux professionnels conservée par le stagiaire."),
            equip("protection_pieds", 55, "Chaussures de cuisine antidérapantes."),
        ],
        "niveau_entree": 1,
        "prerequis": "Goût pour le travail en équipe et station debout prolongée ; aptitude médicale.",
        "public_vise": "Demandeurs d’emploi en reconversion vers la restauration.",
    },
    [
        session(
            "19960-90702-145201", amb_ref, amb_ref, "2025-09-01", "2026-04-24",
            dispositif(P_1E1F, "1E1F2025_21", "3310", "841", 12, publics=("80006", "80008"), eff_min=6,
                       capacite=12, ht="8910.50", tva=0, ttc="8910,50", additionnels="180", certif_inclus=True),
            rythmes="Temps plein, 35 heures par semaine ; deux services du soir par mois", parcours="mixte",
            centre=840, entreprise=280, hebdo=35,
            periodes=[periode("centre", "2025-09-01", "2025-12-19"), periode("entreprise", "2026-01-05", "2026-02-27"),
                      periode("centre", "2026-03-02", "2026-04-24")],
            modalites=["96414"], modalites_recrutement=["tests_pratiques", "entretien"],
            ics=[ic("29011", "2025-06-11", "14:00", "16:30", lieu=site_addr("amb", "52901"), places=18,
                    commentaire="Dégustation et visite de la cuisine pédagogique."),
                 ic("29012", "2025-07-09", "14:00", "16:30", lieu=site_addr("amb", "52901"), places=18)],
            inscriptions=[inscription("candidature", "2025-04-01", "2025-08-22")],
            adresse_inscription=site_addr("amb", "52901"),
            pmr=amb_pmr, mobilite=amb_mob, remise_a_niveau=False,
        ),
        session(
            "19960-90702-145202", amb_ref, amb_ref, "2025-11-03", "2026-06-26",
            dispositif(P_1E1F, "1E1F2025_21", "3311", "841", 12, publics=("80006",), ht="8910.50", tva=0,
                       ttc="8910.50"),
            rythmes="Temps plein, 35 heures par semaine", parcours="mixte", centre=840, entreprise=280,
            periodes=avec_stages("2025-11-03", "2026-06-26", ("2026-03-02", "2026-04-24")), modalites=["96414"],
            recrutement=None, modalites_recrutement=["tests_pratiques", "entretien"],
            ics=[ic("29021", "2025-10-08", "14:00", "16:30", lieu=site_addr("amb", "52901"), places=18)],
            pmr=amb_pmr, mobilite=amb_mob,
        ),
    ],
)
expect("19960-90702-145201", "accepted")
expect("19960-90702-145202", "rejected", "RECRUTEMENT_ABSENT", "session.recrutement",
       "champ obligatoire manquant : état du recrutement")

# ---------------------------------------------------------------------------------------
# 20011-90803 – TP agent magasinier, Sarthe: one session without référent PMR.

sfp_lf_ref = ref("sfp", "70102")
offre(
    "20011-90803", SFP,
    {
        "certifinfo": "901011", "rncp": "RNCP91011", "intitule": "Titre professionnel agent magasinier",
        "objectif_general": "certification", "type_certification": "titre_professionnel",
        "objectif": "Réceptionner, stocker et préparer des commandes ; conduire des chariots en sécurité ; "
                    "tenir les stocks à jour dans un logiciel de gestion d’entrepôt.",
        "formacodes": ["31815"], "codes_nsf": ["311"], "codes_rome": ["N1103"], "niveau_sortie": 13,
        "blocs": [
            bloc("RNCP91011BC01", "Réaliser les opérations de réception et d’expédition des marchandises"),
            bloc("RNCP91011BC02", "Préparer les commandes et tenir les stocks"),
        ],
        "resultats_attendus": "Titre professionnel agent magasinier (niveau 3), ou l’un de ses certificats de "
                              "compétences professionnelles (CCP) ; CACES® R489 catégories 1A, 3 et 5.",
        "validation": "totale",
    },
    {
        "site_dispensateur": sfp_lf_ref,
        "le_plus_formation": "CACES® R489 catégories 1A, 3 et 5 passés pendant la formation.",
        "url_action": "https://www.sarthe-formation-pro.fr/formations/agent-magasinier",
        "equipements": [equip("protection_pieds", 60), equip("protection_corps", 15, "Gilet haute visibilité.")],
        "niveau_entree": 1,
        "prerequis": "Aptitude médicale à la conduite de chariots ; lecture et calcul simples.",
        "public_vise": "Demandeurs d’emploi intéressés par la logistique.",
    },
    [
        session(
            "20011-90803-145301", sfp_lf_ref, sfp_lm_ref, "2025-09-08", "2026-01-16",
            dispositif(P_1E1F, "1E1F2025_24", "2950", "405", 12, publics=("80006",), ht="5460.00", tva=20,
                       ttc="6552.00"),
            rythmes="Alternance : deux semaines en centre, deux semaines en entreprise",
            cycle={"type_alternance": "tout", "unite": "semaine", "unites_entreprise": 2, "unites_centre": 2},
            periodes=alternance("2025-09-08", "2026-01-16", 2, 2), modalites=["96142"],
            centre=385, entreprise=210, hebdo=35, modalites_recrutement=["tests_pratiques", "entretien"],
            ics=[ic("72501", "2025-06-24", lieu=site_addr("sfp", "70102"), places=15),
                 ic("72502", "2025-07-22", lieu=site_addr("sfp", "70102"), places=15)],
            pmr=sfp_pmr, mobilite=sfp_mob, prf=person("Madame", "Pottier", "Julie", "02 61 91 40 07",
                                                     "prf@sarthe-formation-pro.fr"),
        ),
        session(
            "20011-90803-145302", sfp_lm_ref, sfp_lm_ref, "2025-10-20", "2026-02-27",
            dispositif(P_1E1F, "1E1F2025_24", "2951", "405", 12, publics=("80006",), ht="5460.00", tva=20,
                       ttc="6552.00"),
            periodes=avec_stages("2025-10-20", "2026-02-27", ("2026-01-05", "2026-02-13")), modalites=["96414"],
            centre=385, entreprise=210, hebdo=35, modalites_recrutement=["tests_pratiques", "entretien"],
            ics=[ic("72511", "2025-09-23", lieu=site_addr("sfp", "70101"), places=15)],
            pmr=None, mobilite=sfp_mob,
        ),
    ],
)
expect("20011-90803-145301", "accepted")
expect("20011-90803-145302", "rejected", "REFERENT_PMR_ABSENT", "session.referent_pmr",
       "champ obligatoire manquant : référent PMR")

# ---------------------------------------------------------------------------------------
# 20045-90850 – TP conseiller relation client à distance, Vendée: a fully remote
# session, an in-person one, and one without référent mobilité.

offre(
    "20045-90850", VAF,
    {
        "certifinfo": "901045", "rncp": "RNCP91045",
        "intitule": "Titre professionnel conseiller relation client à distance",
        "objectif_general": "certification", "type_certification": "titre_professionnel",
        "objectif": "Traiter les demandes des clients par téléphone, courriel et messagerie instantanée, et "
                    "réaliser des actions de vente et de fidélisation à distance.",
        "formacodes": ["34582"], "codes_nsf": ["312"], "codes_rome": ["D1408"], "niveau_sortie": 14,
        "blocs": [
            bloc("RNCP91045BC01", "Représenter l’entreprise et assurer un service client à distance"),
            bloc("RNCP91045BC02", "Réaliser des actions commerciales à distance"),
        ],
        "resultats_attendus": "Titre professionnel conseiller relation client à distance (niveau 4), ou l’un de "
                              "ses certificats de compétences professionnelles (CCP).",
        "validation": "totale",
    },
    {
        "site_dispensateur": vaf_lry_ref,
        "objectifs": "Maîtriser les outils d’un centre de contacts multicanal et les techniques de communication "
                     "et de vente à distance.",
        "le_plus_formation": "Plateau de relation client équipé (CRM, téléphonie IP) et stage dans un centre de "
                             "contacts vendéen.",
        "url_video": "https://www.youtube.com/embed/CrcdVaf2025",
        "niveau_entree": 13,
        "prerequis": "Bonne expression orale et écrite ; aisance avec l’informatique.",
        "public_vise": "Demandeurs d’emploi souhaitant travailler dans la relation client.",
    },
    [
        session(
            "20045-90850-145401", vaf_lry_ref, vaf_lry_ref, "2025-09-15", "2026-02-13",
            dispositif(P_1E1F, "1E1F2025_18", "3150", "518", 14, publics=("80006",), ht="5985.00", tva=0,
                       ttc="5985.00"),
            rythmes="Temps plein à distance, 35 heures par semaine", parcours="mixte",
            modalites=["96130", "96133"], modalites_texte="Classe virtuelle le matin, mises en situation tutorées l’après-midi.",
            enseignement="distance", centre=595, entreprise=140, hebdo=35,
            periodes=avec_stages("2025-09-15", "2026-02-13", ("2026-01-19", "2026-02-13")),
            modalites_recrutement=["simulation", "entretien"],
            ics=[ic("60181", "2025-07-01", "10:00", "11:30", lien="https://visio.vendee-avenir-formation.fr/ic-crcd",
                    places=40)],
            pmr=vaf_pmr, mobilite=vaf_mob,
        ),
        session(
            "20045-90850-145402", vaf_chal_ref, vaf_lry_ref, "2025-10-06", "2026-03-13",
            dispositif(P_1E1F, "1E1F2025_18", "3151", "518", 12, publics=("80006",), ht="5985.00", tva=0,
                       ttc="5985.00"),
            rythmes="Temps plein, 35 heures par semaine", parcours="mixte", modalites=["96414"],
            enseignement="presentiel", centre=595, entreprise=140, hebdo=35,
            periodes=avec_stages("2025-10-06", "2026-03-13", ("2026-02-16", "2026-03-13")),
            modalites_recrutement=["simulation", "entretien"],
            ics=[ic("60191", "2025-09-09", lieu=site_addr("vaf", "80453"), places=12)],
            pmr=vaf_pmr, mobilite=vaf_mob,
        ),
        session(
            "20045-90850-145403", vaf_lry_ref, vaf_lry_ref, "2025-11-17", "2026-04-17",
            dispositif(P_1E1F, "1E1F2025_18", "3152", "518", 14, publics=("80006",), ht="5985.00", tva=0,
                       ttc="5985.00"),
            rythmes="Temps plein, 35 heures par semaine", parcours="mixte", modalites=["96414"],
            enseignement="presentiel", centre=595, entreprise=140,
            periodes=avec_stages("2025-11-17", "2026-04-17", ("2026-03-23", "2026-04-17")),
            modalites_recrutement=["simulation", "entretien"],
            ics=[ic("60201", "2025-10-16", lieu=site_addr("vaf", "80451"), places=15)],
            pmr=vaf_pmr, mobilite=None,
        ),
    ],
)
expect("20045-90850-145401", "accepted")
expect("20045-90850-145402", "accepted")
expect("20045-90850-145403", "rejected", "REFERENT_MOBILITE_ABSENT", "session.referent_mobilite",
       "champ obligatoire manquant : référent mobilité")

# ---------------------------------------------------------------------------------------
# 20102-90911 – TP développeur web et web mobile, Laval: one session left with SOFI's
# default "type de parcours inconnu".

offre(
    "20102-90911", MAYC,
    {
        "certifinfo": "901102", "rncp": "RNCP91102",
        "intitule": "Titre professionnel développeur web et web mobile",
        "objectif_general": "certification", "type_certification": "titre_professionnel",
        "objectif": "Développer la partie front-end et back-end d’applications web et web mobile sécurisées.",
        "formacodes": ["31088"], "codes_nsf": ["326"], "codes_rome": ["M1805"], "niveau_sortie": 15,
        "blocs": [
            bloc("RNCP91102BC01", "Développer la partie front-end d’une application web ou web mobile sécurisée"),
            bloc("RNCP91102BC02", "Développer la partie back-end d’une application web ou web mobile sécurisée"),
        ],
        "resultats_attendus": "Titre professionnel développeur web et web mobile (niveau 5, bac + 2), ou l’un de "
                              "ses certificats de compétences professionnelles (CCP).",
        "individualisation_par_bloc": True, "validation": "totale",
    },
    {
        "site_dispensateur": mayc_laval_ref,
        "complement_programme": "Accessibilité numérique (RGAA), éco-conception des services numériques et "
                                "initiation à l’intelligence artificielle générative appliquée au code.",
        "objectifs": "Concevoir, coder, tester et déployer une application web complète en équipe, selon une "
                     "méthode agile.",
        "le_plus_formation": "Projet fil rouge commandé par une association mayennaise et hackathon de fin de parcours.",
        "url_video": "https://www.youtube.com/watch?v=DwwmLaval25",
        "url_pdf": "https://www.mayenne-competences.fr/docs/dwwm-2025.pdf",
        "url_action": "https://www.mayenne-competences.fr/formations/developpeur-web",
        "equipements": [equip("numerique", 900, "Ordinateur portable récent (16 Go de mémoire) ; prêt possible.")],
        "niveau_entree": 14,
        "prerequis": "Niveau baccalauréat ; logique et autonomie ; premiers pas en programmation appréciés.",
        "commentaire_prerequis": "Test de logique et entretien technique en amont.",
        "public_vise": "Demandeurs d’emploi en reconversion vers le développement web.",
    },
    [
        session(
            "20102-90911-145501", mayc_laval_ref, mayc_laval_ref, "2025-09-29", "2026-06-12",
            dispositif(P_1E1F, "1E1F2025_30", "3601", "301", 14, publics=("80006", "80008"), eff_min=10,
                       ht="10640.00", tva=0, ttc="10640.00", certif="0", certif_inclus=True),
            rythmes="Temps plein, 35 heures par semaine ; un jour par semaine à distance",
            modalites=["96130", "96414"], enseignement="mixte", centre=805, entreprise=280, hebdo=35,
            periodes=avec_stages("2025-09-29", "2026-06-12", ("2026-04-13", "2026-06-05")),
            modalites_recrutement=["tests_pratiques", "entretien"],
            ics=[ic("53201", "2025-06-25", "18:00", "19:30", lieu=site_addr("mayc", "60321"), places=25),
                 ic("53202", "2025-07-09", "18:00", "19:30", lien="https://visio.mayenne-competences.fr/ic-dwwm",
                    places=60)],
            pmr=mayc_pmr, mobilite=mayc_mob,
        ),
        session(
            "20102-90911-145502", mayc_laval_ref, mayc_laval_ref, "2025-11-24", "2026-07-31",
            dispositif(P_1E1F, "1E1F2025_30", "3602", "301", 14, publics=("80006",), ht="10640.00", tva=0,
                       ttc="10640.00"),
            rythmes="Temps plein, 35 heures par semaine", parcours="inconnu", modalites=["96130", "96414"],
            enseignement="mixte", centre=805, entreprise=280,
            periodes=avec_stages("2025-11-24", "2026-07-31", ("2026-06-01", "2026-07-24")),
            modalites_recrutement=["tests_pratiques", "entretien"],
            ics=[ic("53211", "2025-10-22", "18:00", "19:30", lieu=site_addr("mayc", "60321"), places=25)],
            pmr=mayc_pmr, mobilite=mayc_mob,
        ),
    ],
)
expect("20102-90911-145501", "accepted")
expect("20102-90911-145502", "rejected", "TYPE_PARCOURS_INCONNU", "session.type_parcours",
       "type de parcours laissé à « inconnu », la valeur par défaut de SOFI")

# ---------------------------------------------------------------------------------------
# 20150-91002 – CACES® R489, Saint-Herblain: short sessions every quarter; the first one
# ended on 2025-03-31 (inactive), a fourth is added by a {"session": …} line at the end.

btpa_sh_ref = ref("btpa", "43002")
caces = lambda id_cr, places: dispositif(P_1E1F, "1E1F2025_12", id_cr, "733", places,  # noqa: E731
                                         publics=("80006",), ht="1150", tva=20, ttc="1380")
caces_session = lambda code, debut, fin, id_cr, ic_code, ic_date: session(  # noqa: E731
    code, btpa_sh_ref, btpa_reze_ref, debut, fin, caces(id_cr, 8),
    rythmes="Temps plein, 35 heures par semaine sur deux semaines", parcours="modularise", centre=70, entreprise=0,
    hebdo=35, periodes=en_centre(debut, fin), modalites=["96414"],
    modalites_texte="Théorie en salle, puis conduite encadrée sur l’aire d’évolution de l’entrepôt pédagogique.",
    modalites_recrutement=["tests_pratiques"],
    ics=[ic(ic_code, ic_date, "08:30", "10:00", lieu=site_addr("btpa", "43002"), places=10,
            commentaire="Test d’aptitude à la conduite à l’issue de la réunion.")],
    pmr=btpa_pmr, mobilite=btpa_mob,
)
offre(
    "20150-91002", BTPA,
    {
        "certifinfo": "901150",
        "intitule": "CACES® R489 – chariots de manutention automoteurs à conducteur porté",
        "objectif_general": "professionnalisation", "type_certification": "habilitation",
        "objectif": "Conduire en sécurité les chariots élévateurs des catégories 1A, 3 et 5 et obtenir le "
                    "certificat d’aptitude à la conduite en sécurité.",
        "description": "Réglementation et responsabilités du cariste, technologie et stabilité des chariots, "
                       "vérifications de prise de poste, circulation, prise et dépose de charges en palettier ; "
                       "tests théorique et pratique du CACES® R489.",
        "formacodes": ["31812"], "codes_nsf": ["311"], "codes_rome": ["N1101"],
        "resultats_attendus": "Certificat d’aptitude à la conduite en sécurité (CACES®) R489, catégories 1A, 3 et 5.",
        "validation": "totale",
    },
    {
        "site_dispensateur": btpa_sh_ref,
        "le_plus_formation": "Entrepôt pédagogique de 1 200 m² et testeurs certifiés sur place.",
        "equipements": [equip("protection_pieds", 60), equip("protection_corps", 15, "Gilet haute visibilité fourni.")],
        "niveau_entree": 1, "niveau_entree_obligatoire": False,
        "prerequis": "Avoir 18 ans ; aptitude médicale ; comprendre les consignes de sécurité en français.",
        "public_vise": "Demandeurs d’emploi ayant un projet dans la logistique ou le BTP.",
    },
    [
        caces_session("20150-91002-145601", "2025-03-17", "2025-03-31", "2801", "71301", "2025-03-04"),
        caces_session("20150-91002-145602", "2025-06-16", "2025-06-27", "2802", "71302", "2025-06-05"),
        caces_session("20150-91002-145603", "2025-09-15", "2025-09-26", "2803", "71303", "2025-09-02"),
    ],
    cree_le="2025-01-14T09:12:00+01:00", modifie_le="2025-05-28T11:30:00+02:00",
)
expect("20150-91002-145601", "inactive")
expect("20150-91002-145602", "accepted")
expect("20150-91002-145603", "accepted")

# ---------------------------------------------------------------------------------------
# Offers the rules must reject as a whole (one defect each, in the offer's own fields).

WEEKS = [
    ("Semaine 1", "accueil, présentation du métier d’employé commercial, visite de deux magasins partenaires, "
                  "positionnement en français et en calcul commercial"),
    ("Semaine 2", "réception des marchandises : contrôle quantitatif et qualitatif, bon de livraison, réserves, "
                  "gestion des litiges avec le transporteur"),
    ("Semaine 3", "mise en rayon : règles de merchandising, implantation, facing, rotation des produits (FIFO), "
                  "étiquetage et affichage des prix"),
    ("Semaine 4", "hygiène et sécurité alimentaire : chaîne du froid, traçabilité, dates limites, plan de "
                  "maîtrise sanitaire du magasin"),
    ("Semaine 5", "gestes et postures, prévention des troubles musculo-squelettiques, utilisation du transpalette "
                  "manuel et électrique"),
    ("Semaine 6", "période en entreprise n° 1 : observation du fonctionnement d’un rayon et participation à la "
                  "réception et à la mise en rayon"),
    ("Semaine 7", "accueil et information du client : posture professionnelle, écoute active, reformulation, "
                  "orientation dans le magasin"),
    ("Semaine 8", "tenue de caisse : ouverture et clôture, encaissement des différents moyens de paiement, "
                  "gestion des retours et avoirs"),
    ("Semaine 9", "gestion des stocks : inventaire tournant, casse et démarque, commande assistée par ordinateur"),
    ("Semaine 10", "animation commerciale : promotions, tête de gondole, PLV, suivi des ventes et des indicateurs"),
    ("Semaine 11", "période en entreprise n° 2 : prise en charge d’un rayon sous la responsabilité du tuteur"),
    ("Semaine 12", "période en entreprise n° 2 (suite) : mise en place d’une opération promotionnelle et bilan "
                   "avec le chef de rayon"),
    ("Semaine 13", "retour en centre : analyse des pratiques, préparation du dossier professionnel et entraînement "
                   "à la mise en situation de l’examen"),
    ("Semaine 14", "sauveteur secouriste du travail (SST), techniques de recherche d’emploi, simulation "
                   "d’entretien avec des recruteurs de la grande distribution"),
    ("Semaine 15", "épreuves du titre professionnel devant le jury et bilan individuel de fin de formation"),
]
long_programme = "Programme détaillé semaine par semaine :\n" + "\n".join(
    f"{w} – {t} ; travaux pratiques en magasin pédagogique et évaluation formative en fin de semaine." for w, t in WEEKS
)
assert len(long_programme) > 3000, len(long_programme)

vaf_generic = dict(pmr=vaf_pmr, mobilite=vaf_mob)
offre(
    "20201-91101", VAF,
    {
        "certifinfo": "901201", "rncp": "RNCP91201", "intitule": "Titre professionnel employé commercial",
        "objectif_general": "certification", "type_certification": "titre_professionnel",
        "formacodes": ["34566"], "codes_nsf": ["312"], "codes_rome": ["D1507"], "niveau_sortie": 13,
        "resultats_attendus": "Titre professionnel employé commercial (niveau 3), ou l’un de ses certificats de "
                              "compétences professionnelles (CCP).",
        "validation": "totale",
    },
    {
        "site_dispensateur": vaf_chal_ref,
        "complement_programme": long_programme,
        "niveau_entree": 1,
        "prerequis": "Aptitude à la station debout et au port de charges.",
        "public_vise": "Demandeurs d’emploi attirés par le commerce de détail.",
    },
    [
        session(
            "20201-91101-145701", vaf_chal_ref, vaf_lry_ref, "2025-09-22", "2026-01-09",
            dispositif(P_1E1F, "1E1F2025_19", "3170", "518", 12, ht="4725.00", tva=0, ttc="4725.00"),
            periodes=avec_stages("2025-09-22", "2026-01-09", ("2025-10-27", "2025-10-31"), ("2025-12-01", "2025-12-12")),
            modalites=["96414"], centre=420, entreprise=105, hebdo=35, modalites_recrutement=["entretien"],
            ics=[ic("60211", "2025-09-02", lieu=site_addr("vaf", "80453"), places=15)], **vaf_generic,
        ),
    ],
    offer_rule="COMPLEMENT_PROGRAMME_TROP_LONG", offer_field="action.complement_programme",
    offer_label="complément programme de plus de 3000 caractères",
)

offre(
    "20202-91108", AFLO,
    {
        "intitule": "Savoirs numériques de base pour l’emploi",
        "objectif_general": "remise_a_niveau", "type_certification": "aucune",
        "description": "Prise en main de l’ordinateur et du smartphone, messagerie, démarches en ligne, "
                       "espace France Travail, sécurité numérique.",
        "formacodes": ["70332"], "codes_nsf": ["326"], "validation": "totale",
    },
    {
        "site_dispensateur": aflo_sn_ref,
        "objectifs": "Utiliser un ordinateur et un smartphone en autonomie, gérer sa messagerie, faire ses démarches "
                     "en ligne et protéger ses données personnelles.",
        "resultats_attendus": "Attestation des compétences numériques acquises ; certification Pix possible en "
                              "fin de parcours.",
        "le_plus_formation": "Des groupes de 6 personnes au maximum, un ordinateur portable prêté pendant toute la "
                             "durée du parcours et à la sortie, un accompagnement individuel pour obtenir un "
                             "équipement reconditionné à bas prix grâce à notre partenariat avec une ressourcerie "
                             "locale ; et la possibilité de passer le certificat Pix en fin de parcours, dans nos "
                             "locaux, sans frais supplémentaires pour la personne.",
        "niveau_entree": 1,
        "prerequis": "Aucun.",
        "public_vise": "Demandeurs d’emploi éloignés du numérique.",
    },
    [
        session(
            "20202-91108-145801", aflo_sn_ref, aflo_sn_ref, "2025-01-13", "2025-12-19",
            dispositif(P_CLES_AVENIR, "PCA2025_2", "5020", "112", 18, publics=("80006",), ht="980.00", tva=0,
                       ttc="980.00"),
            es="permanentes", rythmes="Temps partiel, 12 heures par semaine", parcours="individualise",
            modalites=["96125"], centre=90, entreprise=0, hebdo=12,
            periodes=permanentes("2025-01-13", "2025-12-19"), modalites_recrutement=["entretien"],
            ics=[ic("41891", "2025-06-13", lieu=site_addr("aflo", "41207"), places=8)],
            pmr=aflo_pmr, mobilite=aflo_mob,
        ),
    ],
    offer_rule="PLUS_FORMATION_TROP_LONG", offer_field="action.le_plus_formation",
    offer_label="« le plus » formation de plus de 250 caractères",
)
expect("20202-91108-145801", "accepted")

offre(
    "20203-91115", SFP,
    {
        "intitule": "Préparation aux études supérieures en santé et sciences",
        "objectif_general": "preparation_qualification", "type_certification": "attestation",
        "description": "Biologie, chimie, mathématiques et méthodologie pour préparer l’entrée en licence ou en "
                       "institut de formation paramédicale.",
        "formacodes": ["11554"], "codes_nsf": ["110"], "validation": "totale",
    },
    {
        "site_dispensateur": sfp_lm_ref,
        "objectifs": "<p><strong>Objectifs :</strong></p><table border=\"1\"><tr><td>Module 1</td><td>Biologie "
                     "humaine</td></tr><tr><td>Module 2</td><td>Chimie générale</td></tr><tr><td>Module 3</td>"
                     "<td>Méthodologie</td></tr></table>",
        "resultats_attendus": "Attestation de fin de formation et dossier de candidature en licence ou en "
                              "institut de formation paramédicale.",
        "niveau_entree": 14,
        "prerequis": "Baccalauréat.",
        "public_vise": "Demandeurs d’emploi bacheliers visant une formation supérieure scientifique.",
    },
    [
        session(
            "20203-91115-145901", sfp_lm_ref, sfp_lm_ref, "2025-09-15", "2026-01-30",
            dispositif(P_AVENIR_SUP, "PAS2025_5", "6240", "405", 15, ht="3360.00", tva=0, ttc="3360.00"),
            rythmes="Temps plein, 30 heures par semaine", parcours="groupe", modalites=["96414"], centre=480,
            entreprise=0, hebdo=30, periodes=en_centre("2025-09-15", "2026-01-30"),
            modalites_recrutement=["dossier", "entretien"],
            ics=[ic("72421", "2025-07-03", lieu=site_addr("sfp", "70101"), places=20)],
            pmr=sfp_pmr, mobilite=sfp_mob,
        ),
    ],
    offer_rule="OBJECTIFS_MISE_EN_FORME", offer_field="action.objectifs",
    offer_label="objectifs saisis avec du balisage HTML et un tableau",
)
expect("20203-91115-145901", "accepted")

ifsa_cholet_ref = ref("ifsa", "52012")
offre(
    "20204-91122", IFSA,
    {
        "certifinfo": "901204", "rncp": "RNCP91204", "intitule": "Titre professionnel assistant de vie aux familles",
        "objectif_general": "certification", "type_certification": "titre_professionnel",
        "objectif": "Accompagner les personnes à leur domicile dans les actes essentiels du quotidien, entretenir "
                    "leur logement et leur linge, et assurer la garde d’enfants.",
        "description": "Entretien du logement et du linge, préparation des repas, aide à la toilette, à l’habillage "
                       "et aux déplacements, relais des parents auprès des enfants, communication avec la personne "
                       "et son entourage ; sauveteur secouriste du travail.",
        "formacodes": ["44054"], "codes_nsf": ["330"], "codes_rome": ["K1302"], "niveau_sortie": 13,
        "resultats_attendus": "Titre professionnel assistant de vie aux familles (niveau 3), ou l’un de ses "
                              "certificats de compétences professionnelles (CCP).",
        "validation": "totale",
    },
    {
        "site_dispensateur": ifsa_cholet_ref,
        "url_video": "https://vimeo.com/812345678",
        "niveau_entree": 1,
        "prerequis": "Permis B souhaité ; intérêt pour l’aide à la personne.",
        "public_vise": "Demandeurs d’emploi souhaitant travailler auprès des personnes âgées ou des familles.",
    },
    [
        session(
            "20204-91122-146001", ifsa_cholet_ref, ifsa_angers_ref, "2025-09-29", "2026-02-20",
            dispositif(P_1E1F, "1E1F2025_27", "3410", "214", 12, ht="5880.00", tva=0, ttc="5880.00"),
            periodes=avec_stages("2025-09-29", "2026-02-20", ("2026-01-12", "2026-02-20")),
            modalites=["96414"], centre=560, entreprise=210, hebdo=35, modalites_recrutement=["entretien"],
            ics=[ic("52451", "2025-09-04", lieu=site_addr("ifsa", "52012"), places=15)],
            pmr=ifsa_pmr, mobilite=ifsa_mob,
        ),
    ],
    offer_rule="URL_VIDEO_FORMAT", offer_field="action.url_video",
    offer_label="URL vidéo qui n’est ni YouTube ni un fichier MP4 (Vimeo)",
)
expect("20204-91122-146001", "accepted")

sfp_sable_ref = ref("sfp", "70103")
offre(
    "20205-91129", SFP,
    {
        "certifinfo": "901205", "rncp": "RNCP91205",
        "intitule": "Titre professionnel préparateur de commandes en entrepôt",
        "objectif_general": "certification", "type_certification": "titre_professionnel",
        "objectif": "Réceptionner et stocker les marchandises, préparer les commandes et conduire en sécurité les "
                    "chariots de manutention dans un entrepôt.",
        "description": "Réception et contrôle des marchandises, stockage, préparation de commandes à la voix et au "
                       "scanner, emballage et expédition, conduite de chariots R489 catégorie 1A, gestes et "
                       "postures, sécurité en entrepôt.",
        "formacodes": ["31812"], "codes_nsf": ["311"], "codes_rome": ["N1103"], "niveau_sortie": 13,
        "resultats_attendus": "Titre professionnel préparateur de commandes en entrepôt (niveau 3), ou l’un de ses "
                              "certificats de compétences professionnelles (CCP).",
        "validation": "totale",
    },
    {
        "site_dispensateur": sfp_sable_ref,
        "url_action": "www.sarthe-formation-pro.fr/formations/preparateur-commandes",
        "niveau_entree": 1,
        "prerequis": "Aptitude médicale à la manutention.",
        "public_vise": "Demandeurs d’emploi intéressés par la logistique.",
    },
    [
        session(
            "20205-91129-146101", sfp_sable_ref, sfp_lm_ref, "2025-10-06", "2026-01-23",
            dispositif(P_1E1F, "1E1F2025_24", "2960", "405", 10, ht="4410.00", tva=20, ttc="5292.00"),
            periodes=avec_stages("2025-10-06", "2026-01-23", ("2025-11-24", "2025-12-19")),
            modalites=["96414"], centre=350, entreprise=140, hebdo=35,
            modalites_recrutement=["tests_pratiques", "entretien"],
            ics=[ic("72431", "2025-09-10", lieu=site_addr("sfp", "70103"), places=12)],
            pmr=sfp_pmr, mobilite=sfp_mob,
        ),
    ],
    offer_rule="URL_INVALIDE", offer_field="action.url_action",
    offer_label="URL action sans « https:// » (adresse web incomplète)",
)
expect("20205-91129-146101", "accepted")

offre(
    "20206-91136", BTPA,
    {
        "certifinfo": "901206", "rncp": "RNCP91206", "intitule": "Titre professionnel plaquiste",
        "objectif_general": "certification", "type_certification": "titre_professionnel",
        "formacodes": ["22403"], "codes_nsf": ["233"], "codes_rome": ["F1604"], "niveau_sortie": 13,
        "blocs": [
            bloc("RNCP91206BC01", "Réaliser des cloisons et doublages en plaques de plâtre"),
            bloc("RNCP91206BC02", "Réaliser des plafonds en plaques de plâtre et des ouvrages complexes"),
        ],
        "resultats_attendus": "Titre professionnel plaquiste (niveau 3), ou l’un de ses certificats de compétences "
                              "professionnelles (CCP).",
        "individualisation_par_bloc": True, "validation": "partielle",
    },
    {
        "site_dispensateur": btpa_reze_ref,
        "niveau_entree": 1,
        "prerequis": "Aptitude au travail en hauteur.",
        "public_vise": "Demandeurs d’emploi attirés par le second œuvre.",
    },
    [
        session(
            "20206-91136-146201", btpa_reze_ref, btpa_reze_ref, "2025-09-22", "2025-12-19",
            dispositif(P_1E1F, "1E1F2025_11", "2720", "733", 10, ht="3920.00", tva=0, ttc="3920.00"),
            periodes=avec_stages("2025-09-22", "2025-12-19", ("2025-11-24", "2025-12-05")),
            modalites=["96414"], centre=350, entreprise=70, hebdo=35,
            modalites_recrutement=["tests_pratiques", "entretien"],
            ics=[ic("71211", "2025-09-04", lieu=site_addr("btpa", "43001"), places=12)],
            pmr=btpa_pmr, mobilite=btpa_mob,
        ),
    ],
    offer_rule="VALIDATION_PARTIELLE_SANS_BLOC", offer_field="formation.blocs_valides",
    offer_label="validation partielle sans bloc de compétences sélectionné",
)

offre(
    "20207-91143", AMB,
    {
        "rncp": "RNCP91207", "intitule": "Titre professionnel serveur en restauration",
        "objectif_general": "certification", "type_certification": "titre_professionnel",
        "objectif": "Accueillir les clients, prendre les commandes, assurer le service en salle et au bar et "
                    "contribuer à la vente.",
        "description": "Mise en place de la salle, accueil et conseil du client, prise de commande, service à "
                       "l’assiette et au plat, service des boissons, encaissement, hygiène et sécurité alimentaire, "
                       "anglais professionnel.",
        "formacodes": ["42788"], "codes_nsf": ["334"], "codes_rome": ["G1803"], "niveau_sortie": 13,
        "resultats_attendus": "Titre professionnel serveur en restauration (niveau 3), ou l’un de ses certificats "
                              "de compétences professionnelles (CCP).",
        "validation": "totale",
    },
    {
        "site_dispensateur": amb_ref,
        "niveau_entree": 1,
        "prerequis": "Bonne présentation ; disponibilité en soirée et le week-end pendant les stages.",
        "public_vise": "Demandeurs d’emploi souhaitant travailler en salle.",
    },
    [
        session(
            "20207-91143-146301", amb_ref, amb_ref, "2025-10-06", "2026-02-27",
            dispositif(P_1E1F, "1E1F2025_21", "3320", "841", 12, ht="5320.00", tva=0, ttc="5320.00"),
            periodes=avec_stages("2025-10-06", "2026-02-27", ("2026-01-19", "2026-02-27")),
            modalites=["96414"], centre=490, entreprise=210, hebdo=35,
            modalites_recrutement=["tests_pratiques", "entretien"],
            ics=[ic("29031", "2025-09-10", "14:00", "16:30", lieu=site_addr("amb", "52901"), places=18)],
            pmr=amb_pmr, mobilite=amb_mob,
        ),
    ],
    offer_rule="CERTIFINFO_ABSENT", offer_field="formation.certifinfo",
    offer_label="titre professionnel (certifiant) sans code Certif Info",
)
expect("20207-91143-146301", "accepted")

mayc_cg_ref = ref("mayc", "60322")
offre(
    "20208-91150", MAYC,
    {
        "intitule": "Entreprendre en milieu rural – de l’idée au projet",
        "objectif_general": "creation_entreprise", "type_certification": "attestation",
        "description": "Émergence et structuration d’un projet d’activité en milieu rural : agriculture, "
                       "artisanat, services à la population, tiers-lieux.",
        "formacodes": ["32047"], "codes_nsf": ["310"], "validation": "totale",
    },
    {
        "site_dispensateur": mayc_cg_ref,
        "objectifs": "Passer de l’idée à un projet argumenté et chiffré, adapté aux ressources du territoire.",
        "resultats_attendus": "Attestation de fin de formation et projet d’activité argumenté et chiffré.",
        "niveau_entree": 1,
        "prerequis": "Avoir une idée d’activité à développer en Mayenne.",
        "public_vise": "Demandeurs d’emploi porteurs d’une idée de création en milieu rural.",
    },
    [
        session(
            "20208-91150-146401", mayc_cg_ref, mayc_laval_ref, "2025-09-08", "2025-11-07",
            dispositif(P_PASS, "PASSE2025_3", "7060", "301", 12, ht="1890.00", tva=0, ttc="1890.00"),
            rythmes="Temps plein, 35 heures par semaine", parcours="groupe", centre=245, entreprise=70, hebdo=35,
            periodes=avec_stages("2025-09-08", "2025-11-07", ("2025-10-13", "2025-10-24")), modalites=["96414"],
            modalites_recrutement=["dossier", "entretien"],
            pmr=mayc_pmr, mobilite=mayc_mob,
        ),
        session(
            "20208-91150-146402", mayc_cg_ref, mayc_laval_ref, "2025-10-13", "2025-12-12",
            dispositif(P_PASS, "PASSE2025_3", "7061", "301", 0, ht="1890.00", tva=0, ttc="1890.00"),
            rythmes="Temps plein, 35 heures par semaine", parcours="groupe", centre=245, entreprise=70, hebdo=35,
            periodes=avec_stages("2025-10-13", "2025-12-12", ("2025-11-17", "2025-11-28")), modalites=["96414"],
            modalites_recrutement=["dossier", "entretien"],
            ics=[ic("53301", "2025-09-18", lieu=site_addr("mayc", "60322"), places=12)],
            pmr=mayc_pmr, mobilite=mayc_mob,
        ),
    ],
)
expect("20208-91150-146401", "rejected", "IC_ABSENTE", "session.informations_collectives",
       "session sans information collective")
expect("20208-91150-146402", "rejected", "PLACES_DISPOSITIF_ABSENTES", "session.dispositif.places",
       "dispositif à 0 place")

# ---------------------------------------------------------------------------------------
# Offers not validated by the Carif-Oref: never exported, whatever their content.

offre(
    "20301-91201", CAE,
    {
        "intitule": "Créer son activité dans l’économie sociale et solidaire",
        "objectif_general": "creation_entreprise", "type_certification": "attestation",
        "description": "Statuts de l’ESS (association, SCOP, SCIC), modèle économique hybride, financements "
                       "solidaires, gouvernance partagée.",
        "formacodes": ["32047"], "codes_nsf": ["310"], "validation": "totale",
    },
    {
        "site_dispensateur": cae_nantes_ref,
        "objectifs": "Construire un projet d’activité d’utilité sociale viable et choisir la forme juridique adaptée.",
        "resultats_attendus": "Attestation de fin de formation et projet d’activité d’utilité sociale formalisé.",
        "niveau_entree": 1,
        "prerequis": "Projet ou idée relevant de l’économie sociale et solidaire.",
        "public_vise": "Demandeurs d’emploi porteurs d’un projet collectif ou solidaire.",
    },
    [
        session(
            "20301-91201-146501", cae_nantes_ref, cae_nantes_ref, "2025-10-06", "2025-12-12",
            pass_d("7090", 14), rythmes="Temps plein, 35 heures par semaine", parcours="groupe",
            centre=245, entreprise=70, hebdo=35, modalites=["96414"],
            periodes=avec_stages("2025-10-06", "2025-12-12", ("2025-11-17", "2025-11-28")),
            modalites_recrutement=["dossier", "entretien"],
            ics=[ic("90131", "2025-09-11", lieu=site_addr("cae", "90011"), places=20)],
            pmr=cae_pmr, mobilite=cae_mob,
        ),
    ],
    etat="en_cours_de_saisie",
)

ifsa_saumur_ref = ref("ifsa", "52013")
offre(
    "20302-91208", IFSA,
    {
        "intitule": "Préparation aux sélections des instituts de formation en soins infirmiers",
        "objectif_general": "preparation_qualification", "type_certification": "aucune",
        "description": "Épreuves écrites et orales de la sélection FPC, calculs de doses, culture sanitaire et "
                       "sociale, préparation du dossier.",
        "formacodes": ["43448"], "codes_nsf": ["331"], "codes_rome": ["J1506"], "validation": "totale",
    },
    {
        "site_dispensateur": ifsa_saumur_ref,
        "objectifs": "Réussir la sélection d’entrée en IFSI par la voie de la formation professionnelle continue.",
        "resultats_attendus": "Attestation de fin de formation ; préparation complète aux épreuves de sélection "
                              "FPC des IFSI.",
        "niveau_entree": 1,
        "prerequis": "Trois ans d’expérience professionnelle à la date de l’épreuve.",
        "public_vise": "Demandeurs d’emploi justifiant de trois ans de cotisation sociale.",
    },
    [
        session(
            "20302-91208-146601", ifsa_saumur_ref, ifsa_angers_ref, "2025-10-06", "2026-01-30",
            pss("4430", 14), rythmes="Temps partiel, 21 heures par semaine", parcours="groupe",
            modalites=["96414"], centre=300, entreprise=0, hebdo=21, periodes=en_centre("2025-10-06", "2026-01-30"),
            modalites_recrutement=["dossier", "entretien"],
            ics=[ic("52461", "2025-09-11", lieu=site_addr("ifsa", "52013"), places=20)],
            pmr=ifsa_pmr, mobilite=ifsa_mob,
        ),
    ],
    etat="en_attente_de_validation",
)

# ---------------------------------------------------------------------------------------
# What the Region referential and the day of the run decide (rules of issue 16): three
# BTP Formation Atlantique offers, each with one session carrying one defect. They need
# the Region file imported first (region-2025.csv).


def btpa_offre(numero, intitule, session_):
    return offre(
        numero, BTPA,
        {
            "intitule": intitule, "objectif_general": "professionnalisation", "type_certification": "attestation",
            "description": "Lecture de plans, implantation, sécurité sur chantier, gestes et postures.",
            "formacodes": ["22454"], "codes_nsf": ["232"], "codes_rome": ["F1703"], "validation": "totale",
        },
        {
            "site_dispensateur": btpa_reze_ref,
            "objectifs": "Acquérir les gestes professionnels du chantier et les règles de sécurité.",
            "resultats_attendus": "Attestation de fin de formation et attestation de compétences.",
            "niveau_entree": 1,
            "prerequis": "Aptitude au travail en hauteur.",
            "public_vise": "Demandeurs d’emploi souhaitant travailler dans le bâtiment.",
        },
        [session_],
    )


def btpa_session(code, disp, ics):
    return session(
        code, btpa_reze_ref, btpa_reze_ref, "2025-09-22", "2025-12-19", disp,
        periodes=avec_stages("2025-09-22", "2025-12-19", ("2025-11-24", "2025-12-05")),
        modalites=["96414"], centre=350, entreprise=70, hebdo=35,
        modalites_recrutement=["tests_pratiques", "entretien"], ics=ics,
        pmr=btpa_pmr, mobilite=btpa_mob,
    )


# A programme misspelt by one letter: no regional rule would apply to it.
btpa_offre("20401-91220", "Coffreur bancheur", btpa_session(
    "20401-91220-146701",
    dispositif("PROGRAMME REGION - 1 emploi = 1 formations", "1E1F2025_11", "2731", "733", 10,
               ht="3920.00", tva=0, ttc="3920.00"),
    [ic("71221", "2025-09-04", lieu=site_addr("btpa", "43001"), places=12)],
))
expect("20401-91220-146701", "rejected", "PROGRAMME_INCONNU", "session.dispositif.programme",
       "dispositif inconnu du référentiel de la Région ; « Vouliez-vous dire … ? »")

# The lot of another mandataire (1E1F2025_9 is AFLO Formation's in the Region file).
btpa_offre("20402-91227", "Canalisateur", btpa_session(
    "20402-91227-146801",
    dispositif(P_1E1F, "1E1F2025_9", "2732", "733", 10, ht="3920.00", tva=0, ttc="3920.00"),
    [ic("71222", "2025-09-04", lieu=site_addr("btpa", "43001"), places=12)],
))
expect("20402-91227-146801", "rejected", "LOT_AUTRE_MANDATAIRE", "session.dispositif.numero_lot_cr",
       "lot 1E1F2025_9 attribué par la Région à un autre mandataire")

# Information collectives all in May 2025, before the reference date, for a session that
# starts in September with its recruitment open: no meeting left for a candidate.
btpa_offre("20403-91234", "Façadier peintre", btpa_session(
    "20403-91234-146901",
    dispositif(P_1E1F, "1E1F2025_12", "2733", "733", 10, ht="3920.00", tva=0, ttc="3920.00"),
    [ic("71223", "2025-05-13", lieu=site_addr("btpa", "43001"), places=12),
     ic("71224", "2025-05-27", lieu=site_addr("btpa", "43001"), places=12)],
))
expect("20403-91234-146901", "rejected", "IC_PASSEES", "session.informations_collectives",
       "informations collectives toutes passées : une nouvelle date à ajouter")


# ---------------------------------------------------------------------------------------
# fixtures/brouillons.jsonl: a draft as the procedure's screenshot shows one (Fiche Session
# with « ESP * » blank, « type de parcours inconnu », no périodes, modalités, durée en
# entreprise, modalité de recrutement nor information collective). The model cannot hold
# it (entrees_sorties is required), so it lives apart from offres.jsonl, which stays
# valid against schemas/fasd.schema.json. It imports (never exported) and `check` lists
# what it lacks, for its organisme (the mandataire).

BROUILLONS = [{
    "numero": "20303-91215", "etat": "en_cours_de_saisie", "mandataire": CAE,
    "formation": {
        "intitule": "Piloter sa coopérative d’activité et d’emploi",
        "objectif_general": "creation_entreprise", "type_certification": "attestation",
        "formacodes": ["32047"], "validation": "totale",
    },
    "action": {
        "site_dispensateur": cae_nantes_ref,
        "objectifs": "Tester son activité dans le cadre d’une coopérative d’activité et d’emploi.",
        "niveau_entree": 1,
    },
    "sessions": [{
        "code": "20303-91215-146502", "site_lieu": cae_nantes_ref,
        "date_debut": "2026-02-10", "date_fin": "2026-02-10",
        "rythmes": "temps plein", "type_parcours": "inconnu", "modalites_enseignement": "presentiel",
        "duree_centre_heures": 200, "organisme_responsable": cae_nantes_ref, "recrutement": "ouvert",
        "referent_pmr": cae_pmr, "referent_mobilite": cae_mob,
        "dispositif": pass_d("7091", 5),
    }],
}]
# What `check` must list for it, in its order: the field the line lacks, then the empty
# starred fields of the Fiche Session.
BROUILLON_CHAMPS = {
    "20303-91215": [
        "offre.sessions[0].entrees_sorties",
        "offre.sessions[0].periodes_formation",
        "offre.sessions[0].type_parcours",
        "offre.sessions[0].modalites_pedagogiques",
        "offre.sessions[0].duree_entreprise_heures",
        "offre.sessions[0].modalites_recrutement",
        "offre.sessions[0].informations_collectives",
    ],
}


# ---------------------------------------------------------------------------------------
# A standalone {"session": …} line: adds a fourth CACES session to 20150-91002.

SESSION_LINES = [caces_session("20150-91002-145604", "2025-11-17", "2025-11-28", "2804", "71304", "2025-11-04")]
expect("20150-91002-145604", "accepted")


# ---------------------------------------------------------------------------------------
# Output


def dump(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def numkey(code):
    return tuple(int(x) for x in code.split("-"))


def check_session(s):
    """The star fields of a session agree with each other, so that only the planted
    defects remain: périodes within the session's dates, a période en entreprise exactly
    when there are hours in a company."""
    debut, fin = s.get("date_debut"), s.get("date_fin")
    for p in s.get("periodes_formation", []):
        assert p["debut"] <= p["fin"], (s["code"], p)
        if debut and fin and debut <= fin:
            assert debut <= p["debut"] and p["fin"] <= fin, (s["code"], p)
    types = {p["type"] for p in s.get("periodes_formation", [])}
    if "duree_entreprise_heures" in s:
        assert ("entreprise" in types) == (s["duree_entreprise_heures"] > 0), s["code"]


def offer_status(numero, session_codes):
    e = OFFER_EXPECT[numero]
    statuses = [EXPECT[c]["status"] for c in session_codes]
    if e["etat"] != "validee":
        assert set(statuses) == {"not_validated"}, numero
        return "not_validated"
    assert "not_validated" not in statuses, numero
    if e["codes"]:
        assert all(EXPECT[c] == {"status": "rejected", "codes": [], "warnings": []} for c in session_codes), numero
        return "rejected"
    if "accepted" in statuses:
        return "exportable"
    if set(statuses) == {"inactive"}:
        return "inactive"
    return "rejected"


def main():
    OFFRES.sort(key=lambda o: numkey(o["numero"]))
    numeros = [o["numero"] for o in OFFRES]
    assert len(set(numeros)) == len(numeros)
    codes = [s["code"] for o in OFFRES for s in o["sessions"]] + [s["code"] for s in SESSION_LINES]
    assert len(set(codes)) == len(codes)
    missing = set(codes) ^ set(EXPECT)
    assert not missing, missing
    # Each referenced site exists (the importer's own check, done here to keep the
    # fixtures importable).
    for o in OFFRES:
        refs = [o["action"]["site_dispensateur"]] + [r for s in o["sessions"]
                                                     for r in (s["site_lieu"], s["organisme_responsable"])]
        for r in refs:
            assert any(org["siret"] == r["siret"] and any(st["code"] == r["site"] for st in org["sites"])
                       for org in ORGS.values()), r
    for s in [s for o in OFFRES for s in o["sessions"]] + SESSION_LINES:
        check_session(s)

    lines = [dump({"organisme": o}) for o in ORGS.values()]
    lines += [dump({"offre": o}) for o in OFFRES]
    lines += [dump({"session": s}) for s in SESSION_LINES]
    with open(os.path.join(ROOT, "fixtures", "offres.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(ROOT, "fixtures", "brouillons.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(dump({"offre": o}) for o in BROUILLONS) + "\n")

    sessions_of = {n: [] for n in numeros}
    for c in sorted(codes, key=numkey):
        sessions_of[c.rsplit("-", 1)[0]].append(c)
    offres = {}
    for n in numeros:
        e = OFFER_EXPECT[n]
        entry = {"status": offer_status(n, sessions_of[n]), "codes": e["codes"], "warnings": e["warnings"]}
        if e["etat"] != "validee":
            entry["etat"] = e["etat"]
        for k in ("field", "label"):
            if k in e:
                entry[k] = e[k]
        entry["sessions"] = sessions_of[n]
        offres[n] = entry
    sessions = {c: EXPECT[c] for c in sorted(EXPECT, key=numkey)}

    def count(table, status):
        return sum(1 for e in table.values() if e["status"] == status)

    expectations = {
        "comment": "Generated by scripts/gen_fixtures.py with fixtures/offres.jsonl; see fixtures/README.md. "
                   "What `lheo-feed check --today <reference_date>` must report: per offer and per session, "
                   "the status and the codes of the entry rules (src/rules/mod.rs), blocking (`codes`) and "
                   "warnings (`warnings`); offer-level findings are on the offer, session-level ones on the "
                   "session. `field` and `label` describe the one planted defect, when there is one.",
        "reference_date": REFERENCE_DATE,
        "programmes": PROGRAMMES,
        "counts": {
            "organismes": len(ORGS),
            "offres": len(OFFRES),
            "sessions_in_offres": sum(len(o["sessions"]) for o in OFFRES),
            "session_lines": len(SESSION_LINES),
            "offres_exportable": count(offres, "exportable"),
            "offres_rejected": count(offres, "rejected"),
            "offres_inactive": count(offres, "inactive"),
            "offres_not_validated": count(offres, "not_validated"),
            "sessions_accepted": count(sessions, "accepted"),
            "sessions_rejected": count(sessions, "rejected"),
            "sessions_inactive": count(sessions, "inactive"),
            "sessions_not_validated": count(sessions, "not_validated"),
        },
        "offres": offres,
        "sessions": sessions,
        "brouillons": {
            b["numero"]: {"etat": b["etat"], "organisme": b["mandataire"], "champs": BROUILLON_CHAMPS[b["numero"]]}
            for b in BROUILLONS
        },
    }
    with open(os.path.join(ROOT, "fixtures", "expectations.json"), "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(expectations, ensure_ascii=False, indent=2) + "\n")
    print(json.dumps(expectations["counts"]), file=sys.stderr)


if __name__ == "__main__":
    main()
