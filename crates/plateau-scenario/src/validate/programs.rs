//! The programs a script runs (a `command` check, a fault's step, a step of
//! the reference solution) are on the machine it runs on. Only the programs
//! the role reference names for some role are judged: a `samba-tool` step
//! on the router is a mistake the reference can prove; a program it does
//! not list is left alone (no false alarm on `cat` or `lpstat -o`).

use super::Sink;
use crate::model::{Backend, Node, Os, Role};
use crate::roles::BASE_TOOLS;

/// Warn of each program of `script` that another role has and `node`'s lacks.
pub(super) fn programs_found(script: &str, node: &Node, what: &str, path: &str, sink: &mut Sink<'_>) {
    // Plateau knows the programs of the machines it makes from its images only.
    if node.backend == Backend::Static || node.os != Os::Linux || node.image.is_some() {
        return;
    }
    let spec = node.role.spec();
    let mut warned = Vec::new();
    for word in command_words(script) {
        if spec.has_tool(&word) || BASE_TOOLS.contains(&word.as_str()) || warned.contains(&word) {
            continue;
        }
        let with: Vec<String> = Role::ALL
            .iter()
            .filter(|r| r.spec().tools.contains(&word.as_str()))
            .map(|r| format!("`{}`", r.image_name()))
            .collect();
        if with.is_empty() {
            continue;
        }
        sink.warn(
            path,
            "program-not-on-role",
            format!("{what} runs `{word}` on `{}`, whose role ({}) has no `{word}`", node.id, node.role.image_name()),
            "no such program here",
            Some(format!(
                "run it on a node whose role has it ({}); `plateau roles` lists each role's programs",
                with.join(", ")
            )),
        );
        warned.push(word);
    }
}

/// The words a POSIX shell would run as commands, outside quotes and
/// here-documents (a remote command quoted for `ssh` is not this machine's).
fn command_words(script: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut heredoc: Option<(String, bool)> = None;
    for line in script.lines() {
        if let Some((delim, strip)) = &heredoc {
            let end = if *strip { line.trim_start_matches('\t') } else { line };
            if end == delim {
                heredoc = None;
            }
            continue;
        }
        let (found, starts) = line_commands(line);
        words.extend(found);
        heredoc = starts;
    }
    words
}

const KEYWORDS: &[&str] = &["if", "then", "else", "elif", "fi", "do", "done", "while", "until", "esac", "!", "{", "}"];
/// Words that run the next word: look past them.
const WRAPPERS: &[&str] = &["sudo", "exec", "nohup", "env", "time", "command", "setsid"];

/// The command words of one line, and the here-document it opens (its
/// delimiter; whether tabs are stripped).
fn line_commands(line: &str) -> (Vec<String>, Option<(String, bool)>) {
    let mut words = Vec::new();
    let mut heredoc = None;
    let mut at_command = true;
    let mut after_wrapper = false;
    let mut chars = line.chars().peekable();
    let mut word = String::new();
    let mut quoted_word = false;
    let mut flush = |word: &mut String, quoted: &mut bool, at_command: &mut bool, after_wrapper: &mut bool| {
        if word.is_empty() && !*quoted {
            return;
        }
        let w = std::mem::take(word);
        let was_quoted = std::mem::take(quoted);
        if !*at_command {
            return;
        }
        if *after_wrapper && (w.starts_with('-') || was_quoted) {
            return; // an option of the wrapper, or its argument (`sudo -S -p ''`)
        }
        if w == "for" || w == "case" {
            *at_command = false; // its variable or its word, not a command
            return;
        }
        if KEYWORDS.contains(&w.as_str()) {
            return;
        }
        if !was_quoted && w.contains('=') && !w.starts_with('=') {
            return; // an assignment before the command
        }
        if WRAPPERS.contains(&w.as_str()) {
            *after_wrapper = true;
            return;
        }
        if !was_quoted && !w.starts_with('$') {
            words.push(w);
        }
        *at_command = false;
        *after_wrapper = false;
    };
    while let Some(c) = chars.next() {
        match c {
            '#' if word.is_empty() => break,
            '\'' => {
                quoted_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                }
            }
            '"' => {
                quoted_word = true;
                let mut escaped = false;
                for q in chars.by_ref() {
                    match q {
                        '\\' if !escaped => escaped = true,
                        '"' if !escaped => break,
                        _ => escaped = false,
                    }
                }
            }
            ';' | '|' | '&' | '(' | '`' => {
                flush(&mut word, &mut quoted_word, &mut at_command, &mut after_wrapper);
                at_command = true;
            }
            ')' => {
                flush(&mut word, &mut quoted_word, &mut at_command, &mut after_wrapper);
            }
            '<' if chars.peek() == Some(&'<') => {
                flush(&mut word, &mut quoted_word, &mut at_command, &mut after_wrapper);
                chars.next();
                let strip = chars.peek() == Some(&'-');
                if strip {
                    chars.next();
                }
                let rest: String = chars.by_ref().collect();
                let delim: String = rest
                    .trim_start()
                    .chars()
                    .take_while(|c| !c.is_whitespace() && !matches!(c, ';' | '|' | '&' | ')'))
                    .filter(|c| !matches!(c, '\'' | '"' | '\\'))
                    .collect();
                if !delim.is_empty() {
                    heredoc = Some((delim, strip));
                }
                break;
            }
            c if c.is_whitespace() => flush(&mut word, &mut quoted_word, &mut at_command, &mut after_wrapper),
            '\\' => {
                chars.next();
            }
            c => word.push(c),
        }
    }
    flush(&mut word, &mut quoted_word, &mut at_command, &mut after_wrapper);
    (words, heredoc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_words_are_read_as_a_shell_would_run_them() {
        let check = |script: &str, expect: &[&str]| assert_eq!(command_words(script), expect, "{script}");
        check("samba-tool user enable bob >/dev/null", &["samba-tool"]);
        check(
            "set -e\nPW='x y'\necho \"$PW\" | sudo -S -p '' ip addr add 10.0.0.5/24 dev eth0",
            &["set", "echo", "ip"],
        );
        check("nft list ruleset && systemctl restart x; kea-dhcp4 -t f", &["nft", "systemctl", "kea-dhcp4"]);
        // A remote command quoted for ssh, a here-document, a comment: not this machine's.
        check("ssh $O technicien@dc 'samba-tool user list'", &["ssh"]);
        check("cat > /tmp/kea.conf <<'END'\nsamba-tool x\nEND\nlpadmin -p a", &["cat", "lpadmin"]);
        check("# samba-tool\nif grep -q x f; then wg show; fi", &["grep", "wg"]);
        check("id=$(ticket \"$1\")\nwork() {\n  curl -s x\n}", &["ticket", "work", "curl"]);
        check("for i in 1 2 3; do lp -d accueil f; done", &["lp"]);
    }
}
