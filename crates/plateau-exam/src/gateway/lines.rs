//! The lines a candidate enters, read from their terminal's screen rather
//! than from their keystrokes: the line is what the shell echoed when Enter
//! was pressed (history, completion and editing included), and a password
//! typed at a prompt that does not echo it never shows, so is never kept.

/// One entered line: when Enter was pressed, the screen line (prompt
/// included), and what was printed after it until the next line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entered {
    pub at: String,
    pub line: String,
    pub output: String,
}

/// How much of a line's output is kept for the timeline (the recording has it all).
const OUTPUT_KEPT: usize = 4000;
/// The widest line read: what a program prints beyond it (or a cursor moved
/// past it) is not followed, so no output can make the reader grow unbounded.
const WIDEST: usize = 4096;
/// Enters waiting for the shell's newline (a full-screen program takes
/// Enters without printing one): the oldest are forgotten past this.
const ENTERS_WAITING: usize = 64;

#[derive(Debug, Default)]
enum Escape {
    #[default]
    None,
    /// After ESC.
    Started,
    /// A control sequence: its parameter bytes so far.
    Csi(String),
    /// An operating system command (a window title), up to BEL or ESC \.
    Osc,
}

/// Follows a terminal's output and input to tell the lines entered.
#[derive(Debug, Default)]
pub struct LineReader {
    screen: Vec<char>,
    column: usize,
    escape: Escape,
    /// Enters typed whose newline the shell has not printed yet, with their times.
    enters: std::collections::VecDeque<String>,
    /// The line being answered, its output so far.
    open: Option<Entered>,
    done: Vec<Entered>,
}

impl LineReader {
    /// Keys typed at `at`: each Enter waits for the shell's newline.
    pub fn typed(&mut self, keys: &[u8], at: &str) {
        for _ in keys.iter().filter(|&&k| k == b'\r' || k == b'\n') {
            if self.enters.len() == ENTERS_WAITING {
                self.enters.pop_front();
            }
            self.enters.push_back(at.to_string());
        }
    }

    /// Bytes the terminal printed.
    pub fn printed(&mut self, text: &str) {
        for c in text.chars() {
            self.feed(c);
        }
    }

    /// The line being answered, with its output so far.
    pub fn open(&self) -> Option<&Entered> {
        self.open.as_ref()
    }

    /// Lines whose answer is complete (another line was entered since).
    pub fn take(&mut self) -> Vec<Entered> {
        std::mem::take(&mut self.done)
    }

    /// The terminal ended: the line being answered is complete too.
    pub fn finish(&mut self) -> Vec<Entered> {
        self.done.extend(self.open.take());
        self.take()
    }

    fn feed(&mut self, c: char) {
        match std::mem::take(&mut self.escape) {
            Escape::Started => {
                self.escape = match c {
                    '[' => Escape::Csi(String::new()),
                    ']' => Escape::Osc,
                    _ => Escape::None,
                }
            }
            Escape::Csi(mut params) => {
                if ('@'..='~').contains(&c) {
                    self.control(c, &params);
                } else {
                    params.push(c);
                    self.escape = Escape::Csi(params);
                }
            }
            Escape::Osc => {
                if c != '\u{7}' && c != '\u{1b}' {
                    self.escape = Escape::Osc;
                }
            }
            Escape::None => match c {
                '\u{1b}' => self.escape = Escape::Started,
                '\r' => self.column = 0,
                '\n' => self.newline(),
                '\u{8}' => self.column = self.column.saturating_sub(1),
                c if c.is_control() => {}
                _ if self.column >= WIDEST => {}
                c => {
                    if self.column < self.screen.len() {
                        self.screen[self.column] = c;
                    } else {
                        self.screen.resize(self.column, ' ');
                        self.screen.push(c);
                    }
                    self.column += 1;
                }
            },
        }
    }

    /// A control sequence that moves on or erases the line.
    fn control(&mut self, command: char, params: &str) {
        let n: usize = params.trim_start_matches('?').split(';').next().and_then(|p| p.parse().ok()).unwrap_or(1);
        match command {
            'C' => self.column = (self.column + n).min(WIDEST),
            'D' => self.column = self.column.saturating_sub(n),
            'G' => self.column = n.saturating_sub(1).min(WIDEST),
            // Erase to the end of the line (0), or the whole line (2).
            'K' if params != "1" => self.screen.truncate(if params == "2" { 0 } else { self.column }),
            'P' => {
                let end = (self.column + n).min(self.screen.len());
                self.screen.drain(self.column.min(end)..end);
            }
            _ => {}
        }
    }

    fn newline(&mut self) {
        let text: String = self.screen.iter().collect::<String>().trim_end().to_string();
        self.screen.clear();
        self.column = 0;
        match self.enters.pop_front() {
            Some(at) => {
                self.done.extend(self.open.take());
                self.open = Some(Entered { at, line: text, output: String::new() });
            }
            None => self.output_line(&text),
        }
    }

    fn output_line(&mut self, text: &str) {
        if let Some(open) = &mut self.open
            && open.output.len() < OUTPUT_KEPT
        {
            if !open.output.is_empty() {
                open.output.push('\n');
            }
            let room = OUTPUT_KEPT - open.output.len();
            open.output.extend(text.chars().take(room));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(keys, printed)` steps in order → the lines entered, as `at line => output`.
    fn check(steps: &[(&str, &str)]) -> String {
        let mut reader = LineReader::default();
        for (i, (keys, printed)) in steps.iter().enumerate() {
            reader.typed(keys.as_bytes(), &format!("t{i}"));
            reader.printed(printed);
        }
        let lines: Vec<String> =
            reader.finish().into_iter().map(|e| format!("{} {} => {:?}", e.at, e.line, e.output)).collect();
        lines.join("\n")
    }

    #[test]
    fn a_command_is_the_echoed_line_and_its_output_what_follows() {
        let lines = check(&[
            ("", "root@dhcp:~# "),
            ("hostname\r", "hostname\r\ndhcp\r\nroot@dhcp:~# "),
            ("ls /etc/kea\r", "ls /etc/kea\r\n\u{1b}[0m\u{1b}[01;34mkea\u{1b}[0m  kea-dhcp4.conf\r\nroot@dhcp:~# "),
        ]);
        insta::assert_snapshot!(lines, @r#"
                t1 root@dhcp:~# hostname => "dhcp"
                t2 root@dhcp:~# ls /etc/kea => "kea  kea-dhcp4.conf""#);
    }

    #[test]
    fn editing_history_and_completion_are_read_as_the_screen_shows_them() {
        let lines = check(&[
            ("", "$ "),
            // Typed `systemctl restrat`, three backspaces, `art`: readline redraws.
            (
                "systemctl restrat\u{7f}\u{7f}\u{7f}art kea\r",
                "systemctl restrat\u{8}\u{1b}[K\u{8}\u{1b}[K\u{8}\u{1b}[Kart kea\r\n$ ",
            ),
            // Up arrow: the shell prints the previous line again.
            ("\u{1b}[A\r", "systemctl restart kea\r\n$ "),
        ]);
        insta::assert_snapshot!(lines, @r#"
                t1 $ systemctl restart kea => ""
                t2 $ systemctl restart kea => """#);
    }

    #[test]
    fn a_password_typed_without_echo_is_never_kept() {
        let lines = check(&[
            ("", "$ "),
            ("su - admin\r", "su - admin\r\nPassword: "),
            ("S3cret-Pa55\r", "\r\nadmin@ws:~$ "),
            ("whoami\r", "whoami\r\nadmin\r\nadmin@ws:~$ "),
        ]);
        insta::assert_snapshot!(lines, @r#"
                t1 $ su - admin => ""
                t2 Password: => ""
                t3 admin@ws:~$ whoami => "admin""#);
    }

    #[test]
    fn no_output_makes_the_reader_grow_past_its_widest_line() {
        let mut reader = LineReader::default();
        reader.printed("$ ");
        reader.typed(b"yes | tr -d '\\n'\r", "t1");
        reader.printed("yes | tr -d '\\n'\r\n");
        // A line with no end, and a cursor sent a billion columns right.
        reader.printed(&"y".repeat(3 * WIDEST));
        reader.printed("\u{1b}[999999999C!\u{1b}[999999999G!");
        assert!(reader.screen.len() <= WIDEST && reader.column <= WIDEST, "{}", reader.screen.len());
        reader.printed("\r\n$ ");
        let entered = reader.finish();
        assert_eq!(entered.len(), 1);
        assert_eq!(entered[0].line, "$ yes | tr -d '\\n'");
        assert!(entered[0].output.starts_with("yyy") && entered[0].output.len() <= OUTPUT_KEPT);
    }
}
