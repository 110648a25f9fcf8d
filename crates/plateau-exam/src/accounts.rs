//! Who may use the web console, and as what: operators run the room,
//! trainers inject faults, a jury grades its own candidates, a candidate sees
//! their own practice results. Passwords are kept as argon2 hashes; a
//! signed-in browser holds a random token (kept as its SHA-256) and must
//! send the session's CSRF token with every form.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use plateau_state::{AccountRecord, WebSession, sha256};

use crate::context::Workspace;
use crate::error::{Error, Result, refuse};

/// How long a signed-in browser stays signed in: an exam day.
const SIGNED_IN_FOR: i64 = 12 * 3600;

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Runs the room: clock, access, freeze, reset, regrade; sees everything.
    Operator,
    /// Injects and reverts faults, watches progress.
    Trainer,
    /// Grades its own candidates: their grids, its decisions.
    Jury,
    /// Sees their own practice results, nothing else.
    Candidate,
}

impl Role {
    pub fn token(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Trainer => "trainer",
            Role::Jury => "jury",
            Role::Candidate => "candidate",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        [Role::Operator, Role::Trainer, Role::Jury, Role::Candidate].into_iter().find(|r| r.token() == text)
    }
}

/// A console account, as the console trusts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub role: Role,
    /// The exam session it is for; every session when `None`.
    pub session: Option<String>,
    /// A jury's candidates, or the candidate an account is.
    pub candidates: Vec<String>,
}

impl Account {
    /// Whether this account may see (or act on) a candidate of a session.
    pub fn sees(&self, session: &str, candidate: &str) -> bool {
        let in_session = self.session.as_deref().is_none_or(|s| s == session);
        in_session
            && match self.role {
                Role::Operator | Role::Trainer => true,
                Role::Jury | Role::Candidate => self.candidates.iter().any(|c| c == candidate),
            }
    }
}

/// A browser just signed in: the cookie token and the CSRF token.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub token: String,
    pub csrf: String,
    pub account: Account,
}

fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn now() -> i64 {
    crate::clock::now()
}

impl crate::SessionCtx {
    /// The candidate's console account (named by their id), made or made
    /// again at `up` when the session goes through the seat gateway; its
    /// password is drawn from the session's secret, so every run prints the
    /// same one on their sheet. Returns it.
    pub(crate) fn console_account(&self, candidate: &plateau_state::CandidateRecord) -> Result<String> {
        let generated = plateau_scenario::model::Variant { password: Some(12), ..Default::default() };
        let secret = self.db().session_secret(self.name())?;
        let around = plateau_scenario::vars::Around { secret: &secret, ..Default::default() };
        let password = plateau_scenario::vars::draw(
            &generated,
            &self.record.seed,
            "console-account",
            &plateau_scenario::Candidate {
                id: candidate.id.clone(),
                name: candidate.plan.candidate.name.clone(),
                index: candidate.plan.candidate.index,
                engine: None,
            },
            around,
        );
        let candidates = [candidate.id.clone()];
        self.workspace.add_account(&candidate.id, Role::Candidate, &password, Some(self.name()), &candidates)?;
        Ok(password)
    }
}

impl Workspace {
    /// Create or replace an account; juries and candidates name their
    /// session and candidates.
    pub fn add_account(
        &self,
        name: &str,
        role: Role,
        password: &str,
        session: Option<&str>,
        candidates: &[String],
    ) -> Result<()> {
        if password.chars().count() < 10 {
            refuse!("a console password has at least 10 characters");
        }
        if matches!(role, Role::Jury | Role::Candidate) && (session.is_none() || candidates.is_empty()) {
            refuse!("a {} account names its session and its candidate(s) (--session, --candidates)", role.token());
        }
        if role == Role::Candidate && candidates.len() != 1 {
            refuse!("a candidate account is one candidate");
        }
        let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>()).expect("16 bytes make a salt");
        let hash = Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| Error::Refused(format!("hashing the password: {e}")))?
            .to_string();
        self.store()?.put_account(&AccountRecord {
            name: name.to_string(),
            role: role.token().to_string(),
            password_hash: hash,
            session: session.map(str::to_string),
            candidates: candidates.to_vec(),
        })?;
        Ok(())
    }

    pub fn remove_account(&self, name: &str) -> Result<bool> {
        Ok(self.store()?.remove_account(name)?)
    }

    /// Every account's name and role.
    pub fn accounts(&self) -> Result<Vec<(String, String)>> {
        Ok(self.store()?.accounts()?)
    }

    /// The account of this name and password; `None` for a wrong name or
    /// password (which one is not said).
    pub fn check_password(&self, name: &str, password: &str) -> Result<Option<Account>> {
        let store = self.store()?;
        let Some(record) = store.account(name)? else { return Ok(None) };
        let Ok(hash) = PasswordHash::new(&record.password_hash) else { return Ok(None) };
        if Argon2::default().verify_password(password.as_bytes(), &hash).is_err() {
            return Ok(None);
        }
        Ok(Some(account(record)?))
    }

    /// Sign a browser in; `None` for a wrong name or password (which one is not said).
    pub fn sign_in(&self, name: &str, password: &str) -> Result<Option<SignedIn>> {
        let Some(account) = self.check_password(name, password)? else { return Ok(None) };
        let store = self.store()?;
        let (token, csrf) = (random_token(), random_token());
        let session =
            WebSession { account: account.name.clone(), csrf: csrf.clone(), expires_at: now() + SIGNED_IN_FOR };
        store.open_web_session(&sha256(&token), &session)?;
        Ok(Some(SignedIn { token, csrf, account }))
    }

    /// The account and CSRF token of a signed-in browser's cookie token.
    pub fn signed_in(&self, token: &str) -> Result<Option<(Account, String)>> {
        let store = self.store()?;
        let Some(web) = store.web_session(&sha256(token), now())? else { return Ok(None) };
        let Some(record) = store.account(&web.account)? else { return Ok(None) };
        Ok(Some((account(record)?, web.csrf)))
    }

    pub fn sign_out(&self, token: &str) -> Result<()> {
        Ok(self.store()?.close_web_session(&sha256(token))?)
    }
}

fn account(record: AccountRecord) -> Result<Account> {
    let role = Role::parse(&record.role)
        .ok_or_else(|| Error::Refused(format!("account {} has an unknown role `{}`", record.name, record.role)))?;
    Ok(Account { name: record.name, role, session: record.session, candidates: record.candidates })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jury_signs_in_sees_its_candidates_only_and_signs_out() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::new(dir.path().join("state.db"), "op");
        let mine = ["c01".to_string(), "c02".to_string()];
        assert!(ws.add_account("m.martin", Role::Jury, "court", Some("exam1"), &mine).is_err(), "too short");
        assert!(ws.add_account("m.martin", Role::Jury, "mot-de-passe-long", None, &mine).is_err(), "no session");
        ws.add_account("m.martin", Role::Jury, "mot-de-passe-long", Some("exam1"), &mine).unwrap();
        assert!(ws.sign_in("m.martin", "mot-de-passe-faux").unwrap().is_none());
        assert!(ws.sign_in("personne", "mot-de-passe-long").unwrap().is_none());
        let signed = ws.sign_in("m.martin", "mot-de-passe-long").unwrap().unwrap();
        let (account, csrf) = ws.signed_in(&signed.token).unwrap().unwrap();
        assert_eq!((account.role, csrf), (Role::Jury, signed.csrf));
        assert!(account.sees("exam1", "c02"));
        assert!(!account.sees("exam1", "c03"), "another jury's candidate");
        assert!(!account.sees("exam2", "c01"), "another session");
        ws.sign_out(&signed.token).unwrap();
        assert!(ws.signed_in(&signed.token).unwrap().is_none());
    }
}
