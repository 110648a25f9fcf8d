//! A document the candidate hands in, read from the node where the brief
//! says to put it. Its SHA-256 is taken here, over the bytes read, and
//! kept in the evidence with its beginning (what the jury reads).

use plateau_scenario::checks::document::Document;
use sha2::{Digest, Sha256};

use super::*;

/// The most read of a document: enough for any compte rendu; a larger
/// file is said to be larger, and its hash is of this part.
const READ_AT_MOST: usize = 256 * 1024;

pub(super) async fn document(kind: &Document, cx: &Cx<'_, impl Reach>, seen: &mut Seen) -> Result<(), Unable> {
    let on = cx.node()?;
    let path = sh(&kind.path);
    // Read once (a byte past the limit says it is larger); a missing file
    // is a verdict, not an error.
    let command =
        format!("test -f {path} || {{ echo 'no such file' >&2; exit 3; }}; head -c {} {path}", READ_AT_MOST + 1);
    let out = seen.run(on, &command, cx.timeout).await?;
    if out.exit_code == 3 {
        seen.expect(&kind.path, "handed in", "no such file", false);
        return Ok(());
    }
    if out.exit_code != 0 {
        return Err(Unable::Probe(format!("cannot read {}: {}", kind.path, out.stderr.trim())));
    }
    for (what, expected, actual, ok) in met(kind, &out.stdout) {
        seen.expect(&what, expected, actual, ok);
    }
    Ok(())
}

/// What a line says once a heading's `#`, a list's mark, a number or
/// emphasis is taken off.
fn bare(line: &str) -> &str {
    line.trim_start_matches(|c: char| c.is_whitespace() || "#*-_>".contains(c) || c.is_ascii_digit())
        .trim_start_matches(['.', ')'])
        .trim_start()
}

/// Each condition: what, expected, seen, met.
fn met(kind: &Document, read: &str) -> Vec<(String, String, String, bool)> {
    let text = &read[..read.floor_char_boundary(READ_AT_MOST)];
    let digest = Sha256::digest(text.as_bytes());
    let hash: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let size = if read.len() > READ_AT_MOST {
        format!("more than {READ_AT_MOST} bytes, the first {} read", text.len())
    } else {
        format!("{} bytes", text.len())
    };
    let mut rows = vec![(kind.path.clone(), "handed in".into(), format!("{size}, SHA-256 {hash}"), true)];
    let words = text.split_whitespace().filter(|w| w.chars().any(char::is_alphanumeric)).count();
    rows.push(("words".into(), format!("≥ {}", kind.min_words), words.to_string(), words as u32 >= kind.min_words));
    for section in &kind.sections {
        let wanted = section.trim().to_lowercase();
        let found = text.lines().find(|line| bare(line).to_lowercase().starts_with(&wanted));
        let shown = found.map(|l| excerpt(l.trim(), 80)).unwrap_or_else(|| "none".into());
        rows.push((format!("section « {section} »"), "present".into(), shown, found.is_some()));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: &str, text: &str, expect: &str) {
        let kind: Document = serde_json::from_str(&format!("{{\"path\": \"/home/technicien/cr.md\"{kind}}}")).unwrap();
        let rows: Vec<String> = met(&kind, text)
            .into_iter()
            .map(|(what, _, seen, ok)| format!("{}{what}: {seen}", if ok { "" } else { "!" }))
            .collect();
        assert_eq!(rows.join("\n"), expect.trim());
    }

    const REPORT: &str = "# Compte rendu — ticket 3\n\n## Diagnostic\nLe poste interrogeait un DNS public : \
        les noms du domaine agence.lan ne se résolvaient pas.\n\n2. Solution appliquée : resolv.conf pointe \
        vers le contrôleur de domaine.\n\n**Tests** : getent hosts dc.agence.lan répond, le partage s'ouvre.\n";

    #[test]
    fn a_report_with_its_sections_passes_whatever_the_headings_look_like() {
        check(
            r#", "sections": ["Diagnostic", "solution appliquée", "Tests"], "min_words": 20"#,
            REPORT,
            "/home/technicien/cr.md: 282 bytes, SHA-256 903dde2ab36facfbdd5ed1f0f5a4b35c9d3a179ecb632c61d5154cbac1fa16fb
words: 38
section « Diagnostic »: ## Diagnostic
section « solution appliquée »: 2. Solution appliquée : resolv.conf pointe vers le contrôleur de domaine.
section « Tests »: **Tests** : getent hosts dc.agence.lan répond, le partage s'ouvre.",
        );
    }

    #[test]
    fn a_title_alone_or_a_missing_section_does_not() {
        check(
            r#", "sections": ["Diagnostic", "Recette"]"#,
            "# Compte rendu\n## Diagnostic\n",
            "/home/technicien/cr.md: 29 bytes, SHA-256 82d6be5b6d30cc326a6ba076ead3e1bc4c968b6ae8574a1a6c6316d227415176
!words: 3
section « Diagnostic »: ## Diagnostic
!section « Recette »: none",
        );
    }
}
