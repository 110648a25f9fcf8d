//! The console's accounts and its signed-in browsers. A password is stored
//! as the hash the application layer made of it; a browser's cookie token
//! only as its SHA-256 (a database reader cannot sign in with it).

use rusqlite::{OptionalExtension, params};

use crate::{Error, Store};

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS accounts (
  name TEXT PRIMARY KEY,
  role TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  session TEXT,
  candidates TEXT NOT NULL DEFAULT '[]',
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS web_sessions (
  token_sha256 TEXT PRIMARY KEY,
  account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
  csrf TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
";

/// An account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    pub name: String,
    /// `operator`, `trainer`, `jury` or `candidate`.
    pub role: String,
    /// A PHC string (argon2).
    pub password_hash: String,
    /// The exam session the account is for (juries, candidates); all when `None`.
    pub session: Option<String>,
    /// The candidates a jury grades, or the candidate an account is.
    pub candidates: Vec<String>,
}

/// A signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    pub account: String,
    /// The token every form must carry.
    pub csrf: String,
    /// Unix time.
    pub expires_at: i64,
}

impl Store {
    /// Create or replace an account.
    pub fn put_account(&self, a: &AccountRecord) -> Result<(), Error> {
        let candidates = serde_json::to_string(&a.candidates).expect("a list serializes");
        self.conn
            .execute(
                "INSERT OR REPLACE INTO accounts (name, role, password_hash, session, candidates) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![a.name, a.role, a.password_hash, a.session, candidates],
            )
            .map_err(self.fail())?;
        Ok(())
    }

    pub fn account(&self, name: &str) -> Result<Option<AccountRecord>, Error> {
        self.conn
            .query_row(
                "SELECT name, role, password_hash, session, candidates FROM accounts WHERE name = ?1",
                [name],
                |r| {
                    let candidates: String = r.get(4)?;
                    Ok(AccountRecord {
                        name: r.get(0)?,
                        role: r.get(1)?,
                        password_hash: r.get(2)?,
                        session: r.get(3)?,
                        candidates: serde_json::from_str(&candidates).unwrap_or_default(),
                    })
                },
            )
            .optional()
            .map_err(self.fail())
    }

    /// Every account's name and role, by name.
    pub fn accounts(&self) -> Result<Vec<(String, String)>, Error> {
        let mut stmt = self.conn.prepare("SELECT name, role FROM accounts ORDER BY name").map_err(self.fail())?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(self.fail())?;
        rows.collect::<Result<_, _>>().map_err(self.fail())
    }

    /// Remove an account and its signed-in browsers; whether it existed.
    pub fn remove_account(&self, name: &str) -> Result<bool, Error> {
        self.conn.execute("DELETE FROM web_sessions WHERE account = ?1", [name]).map_err(self.fail())?;
        Ok(self.conn.execute("DELETE FROM accounts WHERE name = ?1", [name]).map_err(self.fail())? > 0)
    }

    pub fn open_web_session(&self, token_sha256: &str, s: &WebSession) -> Result<(), Error> {
        self.conn
            .execute(
                "INSERT INTO web_sessions (token_sha256, account, csrf, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![token_sha256, s.account, s.csrf, s.expires_at],
            )
            .map_err(self.fail())?;
        Ok(())
    }

    /// The signed-in browser with this token, if it has not expired at `now`.
    pub fn web_session(&self, token_sha256: &str, now: i64) -> Result<Option<WebSession>, Error> {
        self.conn
            .query_row(
                "SELECT account, csrf, expires_at FROM web_sessions WHERE token_sha256 = ?1 AND expires_at > ?2",
                params![token_sha256, now],
                |r| Ok(WebSession { account: r.get(0)?, csrf: r.get(1)?, expires_at: r.get(2)? }),
            )
            .optional()
            .map_err(self.fail())
    }

    pub fn close_web_session(&self, token_sha256: &str) -> Result<(), Error> {
        self.conn.execute("DELETE FROM web_sessions WHERE token_sha256 = ?1", [token_sha256]).map_err(self.fail())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_and_signed_in_browsers_come_and_go() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let jury = AccountRecord {
            name: "m.martin".into(),
            role: "jury".into(),
            password_hash: "$argon2id$…".into(),
            session: Some("exam1".into()),
            candidates: vec!["c01".into(), "c02".into()],
        };
        store.put_account(&jury).unwrap();
        assert_eq!(store.account("m.martin").unwrap(), Some(jury));
        let browser = WebSession { account: "m.martin".into(), csrf: "k".into(), expires_at: 1000 };
        store.open_web_session("t", &browser).unwrap();
        assert_eq!(store.web_session("t", 999).unwrap(), Some(browser));
        assert_eq!(store.web_session("t", 1000).unwrap(), None, "expired");
        assert!(store.remove_account("m.martin").unwrap());
        assert_eq!(store.web_session("t", 0).unwrap(), None, "an account removed signs its browsers out");
    }
}
