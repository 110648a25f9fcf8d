//! What a long operation tells while it runs. The CLI draws bars (or one
//! plain line per event when its output is not a terminal); the web console
//! streams the same events to the page.

/// One piece of news from a running operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A stage of `total` units begins (`what`: "candidates ready").
    Stage { what: String, total: u64 },
    /// One unit of the current stage is done; `line` says which.
    Done { line: String },
    /// Raw output of a long step (an image build's log line): for a verbose
    /// view or a status line, not for the record.
    Output { line: String },
    /// A line worth keeping in the operation's transcript.
    Note { line: String },
    /// Something went wrong for one unit; the operation goes on.
    Warn { line: String },
    /// The current stage is over.
    StageEnd,
}

/// Where an operation sends its events. Must be cheap: called inline.
pub trait Progress: Send + Sync {
    fn event(&self, event: Event);

    fn stage(&self, what: &str, total: usize) {
        self.event(Event::Stage { what: what.to_string(), total: total as u64 });
    }
    fn done(&self, line: String) {
        self.event(Event::Done { line });
    }
    fn note(&self, line: String) {
        self.event(Event::Note { line });
    }
    fn warn(&self, line: String) {
        self.event(Event::Warn { line });
    }
}

/// Progress that goes nowhere (tests, callers that only want the result).
pub struct Silent;

impl Progress for Silent {
    fn event(&self, _: Event) {}
}

/// Progress kept in memory, in order (tests, and callers that show it later).
#[derive(Default)]
pub struct Recorded(pub std::sync::Mutex<Vec<Event>>);

impl Progress for Recorded {
    fn event(&self, event: Event) {
        self.0.lock().expect("progress log").push(event);
    }
}
