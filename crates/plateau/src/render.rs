//! Progress events drawn for a person: a bar per stage on a terminal, one
//! plain line per event otherwise (logs, CI, pipes).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use plateau_exam::{Event, Progress};

pub struct Render {
    bar: Mutex<Option<ProgressBar>>,
    terminal: bool,
    /// Print each unit's line (`Done`) as it comes, not only tick the bar.
    echo: bool,
    /// Print raw output lines (build logs, solution steps' output).
    verbose: bool,
    /// Everything to stderr: standard output carries the command's result.
    stderr_only: bool,
}

impl Render {
    /// Lines for each unit done, as they come.
    pub fn lines() -> Render {
        Render::new(true, false)
    }

    fn new(echo: bool, stderr_only: bool) -> Render {
        Render { bar: Mutex::new(None), terminal: std::io::stderr().is_terminal(), echo, verbose: false, stderr_only }
    }

    /// A bar only: the command prints a summary at the end.
    pub fn bar_only() -> Render {
        Render::new(false, false)
    }

    /// Lines as they come, all on stderr.
    pub fn lines_to_stderr() -> Render {
        Render::new(true, true)
    }

    pub fn verbose(mut self, verbose: bool) -> Render {
        self.verbose = verbose;
        self
    }

    /// Print above the bar, if there is one.
    fn say(&self, line: &str, to_stderr: bool) {
        let to_stderr = to_stderr || self.stderr_only;
        let print = || if to_stderr { eprintln!("{line}") } else { println!("{line}") };
        match &*self.bar.lock().expect("bar") {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }
}

impl Progress for Render {
    fn event(&self, event: Event) {
        match event {
            Event::Stage { what, total } => {
                if self.terminal {
                    let bar = ProgressBar::new(total);
                    // A stage of unknown length (an image build) spins without a count.
                    let template = if total == 0 {
                        "{spinner} {prefix} {elapsed} {wide_msg}"
                    } else {
                        "{spinner} {pos}/{len} {prefix} {elapsed} {wide_msg}"
                    };
                    bar.set_style(ProgressStyle::with_template(template).expect("template"));
                    bar.set_prefix(what);
                    bar.enable_steady_tick(Duration::from_millis(120));
                    if let Some(old) = self.bar.lock().expect("bar").replace(bar) {
                        old.finish_and_clear();
                    }
                }
            }
            Event::Done { line } => {
                if let Some(bar) = &*self.bar.lock().expect("bar") {
                    bar.inc(1);
                }
                if self.echo {
                    self.say(&line, false);
                } else if !self.terminal {
                    // The transcript of a bar nobody sees; stdout keeps the result.
                    self.say(&line, true);
                }
            }
            Event::Output { line } => {
                if self.verbose {
                    self.say(&line, false);
                } else if let Some(bar) = &*self.bar.lock().expect("bar") {
                    bar.set_message(line.chars().take(100).collect::<String>());
                }
            }
            Event::Note { line } => self.say(&line, false),
            Event::Warn { line } => self.say(&line, true),
            Event::StageEnd => {
                if let Some(bar) = self.bar.lock().expect("bar").take() {
                    bar.finish_and_clear();
                }
            }
        }
    }
}

impl Drop for Render {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.lock().expect("bar").take() {
            bar.finish_and_clear();
        }
    }
}

/// A table as every command prints one: compact UTF-8 borders, this header.
pub fn table(header: &[&str]) -> comfy_table::Table {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED).set_header(header);
    table
}
