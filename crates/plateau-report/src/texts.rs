//! The words of the jury's grid, per language. French is the default; add a
//! language by adding a `Texts` value and a line to `for_language`.

use plateau_grade::result::{Status, Verdict};

pub struct Texts {
    pub lang: &'static str,
    pub grid_title: &'static str,
    pub session: &'static str,
    pub candidate: &'static str,
    pub scenario: &'static str,
    pub framework: &'static str,
    pub graded_at: &'static str,
    pub score: &'static str,
    pub summary: &'static str,
    pub block: &'static str,
    pub competence: &'static str,
    pub criterion: &'static str,
    pub evidence_checks: &'static str,
    pub automatic: &'static str,
    pub jury_decision: &'static str,
    pub points: &'static str,
    pub threshold: &'static str,
    pub checks: &'static str,
    pub check: &'static str,
    pub status: &'static str,
    pub expected: &'static str,
    pub observed: &'static str,
    pub sent_from: &'static str,
    pub no_check: &'static str,
    pub signatures: &'static str,
    pub jury_member: &'static str,
    pub name_signature: &'static str,
    pub date: &'static str,
    pub observations: &'static str,
    pub audit_head: &'static str,
    pub pass: &'static str,
    pub fail: &'static str,
    pub error: &'static str,
    pub met: &'static str,
    pub partial: &'static str,
    pub not_met: &'static str,
    pub undetermined: &'static str,
    pub jury_only: &'static str,
}

pub const FRENCH: Texts = Texts {
    lang: "fr",
    grid_title: "Grille d'évaluation",
    session: "Session",
    candidate: "Candidat",
    scenario: "Mise en situation",
    framework: "Titre professionnel",
    graded_at: "Évaluation automatique du",
    score: "Score des vérifications",
    summary: "Synthèse par compétence",
    block: "Bloc",
    competence: "Compétence",
    criterion: "Critère de performance",
    evidence_checks: "Vérifications",
    automatic: "Constat automatique",
    jury_decision: "Décision du jury",
    points: "Points",
    threshold: "Seuil",
    checks: "Détail des vérifications",
    check: "Vérification",
    status: "Résultat",
    expected: "attendu",
    observed: "constaté",
    sent_from: "depuis",
    no_check: "observé par le jury",
    signatures: "Signatures du jury",
    jury_member: "Membre du jury",
    name_signature: "Nom, prénom et signature",
    date: "Date",
    observations: "Observations",
    audit_head: "Empreinte du journal d'audit",
    pass: "réussi",
    fail: "échoué",
    error: "non vérifiable",
    met: "acquis",
    partial: "partiellement acquis",
    not_met: "non acquis",
    undetermined: "à apprécier par le jury",
    jury_only: "apprécié par le jury",
};

pub const ENGLISH: Texts = Texts {
    lang: "en",
    grid_title: "Evaluation grid",
    session: "Session",
    candidate: "Candidate",
    scenario: "Scenario",
    framework: "Professional title",
    graded_at: "Automatic grading of",
    score: "Score of the checks",
    summary: "Summary by competence",
    block: "Block",
    competence: "Competence",
    criterion: "Performance criterion",
    evidence_checks: "Checks",
    automatic: "Automatic finding",
    jury_decision: "Jury's decision",
    points: "Points",
    threshold: "Threshold",
    checks: "Checks in detail",
    check: "Check",
    status: "Result",
    expected: "expected",
    observed: "observed",
    sent_from: "from",
    no_check: "observed by the jury",
    signatures: "Jury signatures",
    jury_member: "Jury member",
    name_signature: "Name and signature",
    date: "Date",
    observations: "Remarks",
    audit_head: "Audit log head",
    pass: "passed",
    fail: "failed",
    error: "could not be checked",
    met: "met",
    partial: "partly met",
    not_met: "not met",
    undetermined: "for the jury to judge",
    jury_only: "judged by the jury",
};

impl Texts {
    /// The texts of a BCP 47 language tag; French when there are none.
    pub fn for_language(tag: &str) -> &'static Texts {
        match tag.split(['-', '_']).next().unwrap_or("") {
            "en" => &ENGLISH,
            _ => &FRENCH,
        }
    }

    pub fn status(&self, status: Status) -> &'static str {
        match status {
            Status::Pass => self.pass,
            Status::Fail => self.fail,
            Status::Error => self.error,
        }
    }

    pub fn verdict(&self, verdict: Verdict) -> &'static str {
        match verdict {
            Verdict::Met => self.met,
            Verdict::Partial => self.partial,
            Verdict::NotMet => self.not_met,
            Verdict::Undetermined => self.undetermined,
            Verdict::JuryOnly => self.jury_only,
        }
    }
}
