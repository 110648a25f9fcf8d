//! Plateau's checker: reach each node of a candidate's platform (SSH, docker
//! exec, WinRM), probe its networks from the controller, evaluate the
//! scenario's checks and roll the results up to the framework's criteria.

pub mod checks;
mod error;
pub mod executor;
pub mod generic;
pub mod grade;
pub mod integrity;
pub mod probe;
pub mod prober;
pub use plateau_results as result;
pub mod steps;
pub mod targets;
pub mod tls;

pub use error::Error;
