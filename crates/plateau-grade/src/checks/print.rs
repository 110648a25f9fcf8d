//! Printing: a network printer over IPP, a print queue on a workstation.

use plateau_scenario::checks::print::{IppPrinter, PrinterInstalled};

use super::*;

pub(super) async fn ipp_printer(kind: &IppPrinter, cx: &Cx<'_, impl Reach>, seen: &mut Seen) -> Result<(), Unable> {
    let IppPrinter { uri, test_job } = kind;
    let timeout = cx.timeout;
    let state = match cx.sender() {
        Sender::Node(on) => {
            let out = seen.run(on, &format!("ipptool -tv {} get-printer-attributes.test", sh(uri)), timeout).await?;
            (out.exit_code == 0).then(|| "answers".to_string())
        }
        Sender::Controller(prober) => {
            seen.start();
            let attrs = prober.ipp_printer(uri, timeout).await?;
            seen.probe(prober, format!("IPP Get-Printer-Attributes {uri}"), format!("{attrs:?}"));
            attrs.map(|a| a.state)
        }
    };
    seen.expect("printer answers IPP", "yes", state.clone().unwrap_or_else(|| "no".into()), state.is_some());
    if *test_job {
        let on = cx.from.ok_or_else(|| Unable::Setup("a test job needs `from` (a node with ipptool)".into()))?;
        let out = seen.run(on, &format!("ipptool -tv {} print-job.test", sh(uri)), timeout).await?;
        seen.expect("test job accepted", "yes", yes_no(out.exit_code == 0), out.exit_code == 0);
    }
    Ok(())
}

pub(super) async fn printer_installed(
    kind: &PrinterInstalled,
    cx: &Cx<'_, impl Reach>,
    seen: &mut Seen,
) -> Result<(), Unable> {
    let PrinterInstalled { queue } = kind;
    let timeout = cx.timeout;
    let on = cx.node()?;
    let windows = on.shell() == Shell::PowerShell;
    let command = if windows {
        format!("(Get-Printer -Name {} -ErrorAction SilentlyContinue).Name", ps(queue))
    } else {
        format!("lpstat -v {q} 2>&1 && lpstat -p {q} 2>&1", q = sh(queue))
    };
    let out = seen.run(on, &command, timeout).await?;
    let ok = queue_installed(out.exit_code, &out.stdout);
    seen.expect(&format!("print queue {queue}"), "installed", or_none(out.stdout.trim().to_string()), ok);
    // A paused queue holds every job: installed is not enough to print.
    if ok && !windows {
        let paused = queue_paused(&out.stdout);
        seen.expect(&format!("print queue {queue}"), "enabled", if paused { "paused" } else { "enabled" }, !paused);
    }
    Ok(())
}

/// `lpstat -v Q && lpstat -p Q` (or Get-Printer) named the queue.
fn queue_installed(exit_code: i64, stdout: &str) -> bool {
    exit_code == 0 && !stdout.trim().is_empty() && !stdout.contains("Invalid destination")
}

/// `lpstat -p`: a paused queue holds every job.
fn queue_paused(stdout: &str) -> bool {
    stdout.contains(" disabled")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_is_installed_and_enabled_or_paused() {
        let ready = "device for Accueil: ipp://10.20.1.30:8631/ipp/print\nprinter Accueil is idle.  enabled since Thu 26 Nov 2026\n";
        let paused = "device for Accueil: ipp://10.20.1.30:8631/ipp/print\nprinter Accueil disabled since Thu 26 Nov 2026 -\n\tPaused\n";
        let check = |exit: i64, out: &str, installed: bool, is_paused: bool| {
            assert_eq!((queue_installed(exit, out), queue_paused(out)), (installed, is_paused), "{out}");
        };
        check(0, ready, true, false);
        check(0, paused, true, true);
        check(1, "lpstat: Invalid destination name in list \"Accueil\".", false, false);
        check(0, "", false, false);
    }
}
