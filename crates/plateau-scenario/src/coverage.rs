//! Which criteria of the framework a scenario's checks evidence, and which
//! are left to the jury: the coverage table, computed from the scenario alone.

use crate::Scenario;
use crate::framework::{CriterionRef, block_in_scope};

/// One criterion of the scenario's blocks and the checks that evidence it.
#[derive(Debug, Clone)]
pub struct CriterionCoverage<'s> {
    pub criterion: CriterionRef<'static>,
    /// Ids and points of the checks naming this criterion; empty: jury-only.
    pub checks: Vec<(&'s str, u32)>,
    /// Faults whose repair the jury judges on this criterion.
    pub faults: Vec<&'s str>,
    /// The scenario says this exam does not examine it (`grading.not_examined`).
    pub not_examined: bool,
    /// What the platform keeps for the jury to judge it on (`grading.material`).
    pub material: Option<&'s str>,
}

impl CriterionCoverage<'_> {
    pub fn jury_only(&self) -> bool {
        self.checks.is_empty() && !self.not_examined
    }
}

impl Scenario {
    /// Every criterion of the blocks the scenario evidences, and of other
    /// blocks those its checks name (as the grid shows them), in framework order.
    pub fn coverage(&self) -> Vec<CriterionCoverage<'_>> {
        let blocks = &self.file().scenario.blocks;
        self.framework()
            .criteria()
            .map(|criterion| CriterionCoverage {
                criterion,
                checks: self
                    .file()
                    .checks
                    .iter()
                    .filter(|check| check.criteria.contains(&criterion.criterion.id))
                    .map(|check| (check.id.as_str(), check.points))
                    .collect(),
                faults: self
                    .file()
                    .faults
                    .iter()
                    .filter(|fault| fault.criteria.contains(&criterion.criterion.id))
                    .map(|fault| fault.id.as_str())
                    .collect(),
                not_examined: self.file().grading.not_examined.contains(&criterion.criterion.id),
                material: self.file().grading.material.get(&criterion.criterion.id).map(String::as_str),
            })
            .filter(|row| block_in_scope(blocks, &row.criterion.block.id) || !row.checks.is_empty())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::Scenario;

    #[test]
    fn criteria_without_checks_are_jury_only_and_other_blocks_show_only_what_checks_name() {
        let source = r#"
[scenario]
id = "cov"
title = "t"
version = "1.0.0"
framework = "tai-2023"
blocks = ["CCP3"]
language = "fr"
total_points = 3

[[nodes]]
id = "ws"
role = "workstation"
grader = { via = "exec" }

[[checks]]
id = "a"
title = "a"
criteria = ["CP7.2", "CP8.2", "CP4.5"]
points = 2
kind = "service_running"
node = "ws"
service = "sshd"

[[checks]]
id = "b"
title = "b"
criteria = ["CP7.2"]
points = 1
kind = "service_running"
node = "ws"
service = "sshd"
"#;
        let scenario = Scenario::parse("cov.toml", source).unwrap();
        let coverage = scenario.coverage();
        let outside: Vec<&str> = coverage
            .iter()
            .filter(|c| c.criterion.block.id != "CCP3")
            .map(|c| c.criterion.criterion.id.as_str())
            .collect();
        assert_eq!(outside, ["CP4.5"], "named by a check, so on the grid too");
        assert_eq!(coverage.len(), 17, "CP7 (5) + CP8 (6) + CP9 (5) + CP4.5");
        let find = |id: &str| coverage.iter().find(|c| c.criterion.criterion.id == id).unwrap();
        assert_eq!(find("CP7.2").checks, vec![("a", 2), ("b", 1)]);
        assert_eq!(find("CP8.2").checks, vec![("a", 2)]);
        assert!(find("CP9.5").jury_only());
    }
}
