//! Steps a trainer or the jury has run on a platform (a fault's injection or
//! revert) through the grader's own access: never as the candidate, so they
//! never show in the candidate's shell history.

use crate::Error;
use std::time::Duration;

use plateau_scenario::model::Step;

use crate::checks::Reach;
use crate::executor::Execute;
use crate::result::{Action, excerpt, millis};

/// Run `steps` in order; stop at the first that fails. Returns what ran.
pub async fn run_steps(reach: &impl Reach, steps: &[Step], timeout: Duration) -> Result<Vec<Action>, Error> {
    let mut actions = Vec::new();
    for step in steps {
        let on =
            reach.node(&step.node).ok_or_else(|| Error::Step(format!("node `{}` has no grader access", step.node)))?;
        let started = std::time::Instant::now();
        let out = on.run(&step.run, timeout).await.map_err(|e| Error::Step(format!("on `{}`: {e}", step.node)))?;
        let output = format!("{}{}", out.stdout, out.stderr);
        actions.push(Action {
            from: on.describe(),
            sent: step.run.clone(),
            exit_code: Some(out.exit_code),
            output: excerpt(&output, 2048),
            duration_ms: millis(started.elapsed()),
        });
        if out.exit_code != 0 {
            return Err(Error::Step(format!(
                "on `{}`, `{}` ended with exit code {}: {}",
                step.node,
                step.run,
                out.exit_code,
                output.trim()
            )));
        }
    }
    Ok(actions)
}
