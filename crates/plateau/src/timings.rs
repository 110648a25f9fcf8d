//! `--timings`: where a command's time went, from its tracing spans (each
//! step of `up`, `grade`, `reset` and the freeze opens one), summed per
//! step and printed on stderr when the command ends.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::span;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The steps seen so far; cloned into the subscriber, read at the end.
#[derive(Clone, Default)]
pub struct Timings {
    steps: Arc<Mutex<BTreeMap<String, Step>>>,
    started: Option<Instant>,
}

#[derive(Clone, Copy, Default)]
struct Step {
    count: u32,
    total: Duration,
    max: Duration,
}

/// Stored in a span while it is open: when, and the step it counts for.
struct Opened(Instant, String);

/// A span's `kind` field (a check's kind) splits its step.
struct Kind(Option<String>);

impl Visit for Kind {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "kind" {
            self.0 = Some(value.to_string());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "kind" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

impl Timings {
    pub fn new() -> Timings {
        Timings { started: Some(Instant::now()), ..Default::default() }
    }

    /// The table: steps by total time, then the command's wall time. A
    /// step's total counts every time it ran, in parallel too: totals add
    /// up to more than the wall time when steps overlap.
    pub fn render(&self) -> String {
        let steps = self.steps.lock().unwrap_or_else(|p| p.into_inner());
        let mut rows: Vec<(&String, &Step)> = steps.iter().collect();
        rows.sort_by(|a, b| b.1.total.cmp(&a.1.total).then(a.0.cmp(b.0)));
        let mut table = crate::render::table(&["step", "times", "total s", "mean ms", "max ms"]);
        for (name, step) in rows {
            table.add_row(vec![
                name.clone(),
                step.count.to_string(),
                format!("{:.2}", step.total.as_secs_f64()),
                format!("{:.0}", step.total.as_secs_f64() * 1000.0 / f64::from(step.count.max(1))),
                format!("{:.0}", step.max.as_secs_f64() * 1000.0),
            ]);
        }
        let wall = self.started.map_or(0.0, |s| s.elapsed().as_secs_f64());
        format!("{table}\nwall time: {wall:.2} s (steps run in parallel: their totals overlap)")
    }
}

impl<S> Layer<S> for Timings
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let mut kind = Kind(None);
        attrs.record(&mut kind);
        let name = attrs.metadata().name();
        let step = kind.0.map_or_else(|| name.to_string(), |k| format!("{name} {k}"));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Opened(Instant::now(), step));
        }
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(Opened(at, step)) = span.extensions_mut().remove::<Opened>() else { return };
        let took = at.elapsed();
        let mut steps = self.steps.lock().unwrap_or_else(|p| p.into_inner());
        let seen = steps.entry(step).or_default();
        seen.count += 1;
        seen.total += took;
        seen.max = seen.max.max(took);
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn steps_are_summed_per_name_and_kind() {
        let timings = Timings::new();
        let subscriber = tracing_subscriber::registry().with(timings.clone());
        tracing::subscriber::with_default(subscriber, || {
            for kind in ["dhcp_offer", "dhcp_offer", "tcp_port"] {
                let _check = tracing::info_span!("check", kind).entered();
            }
            let _up = tracing::info_span!("create").entered();
        });
        let table = timings.render();
        let row =
            |step: &str| table.lines().find(|l| l.contains(step)).map(|l| l.split_whitespace().collect::<Vec<_>>());
        assert!(row("check dhcp_offer").is_some_and(|r| r.contains(&"2")), "{table}");
        assert!(row("check tcp_port").is_some_and(|r| r.contains(&"1")), "{table}");
        assert!(row("create").is_some(), "{table}");
        assert!(table.contains("wall time:"), "{table}");
    }
}
