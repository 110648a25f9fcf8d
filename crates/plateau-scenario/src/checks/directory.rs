//! Active Directory: accounts, the password policy, domain membership.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Kind, KindSpec, Runs};
use crate::model::{Os, Role};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[schemars(inline)]
pub struct AdUser {
    pub user: String,
    #[serde(default = "crate::model::yes")]
    pub exists: bool,
    pub enabled: Option<bool>,
    #[serde(default)]
    pub member_of: Vec<String>,
}

impl Kind for AdUser {
    const SPEC: KindSpec = KindSpec {
        name: "ad_user",
        runs: Runs::OnNode,
        roles: &[Role::DomainController],
        os: &[Os::Linux, Os::Windows],
        tools: &["samba-tool"],
    };
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[schemars(inline)]
pub struct AdPasswordPolicy {
    pub min_length: Option<u32>,
    pub complexity: Option<bool>,
}

impl Kind for AdPasswordPolicy {
    const SPEC: KindSpec = KindSpec {
        name: "ad_password_policy",
        runs: Runs::OnNode,
        roles: &[Role::DomainController],
        os: &[Os::Linux, Os::Windows],
        tools: &["samba-tool"],
    };
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[schemars(inline)]
pub struct DomainJoined {
    pub computer: String,
}

impl Kind for DomainJoined {
    const SPEC: KindSpec = KindSpec {
        name: "domain_joined",
        runs: Runs::OnNode,
        roles: &[],
        os: &[Os::Linux, Os::Windows],
        tools: &["kinit", "klist"],
    };
}
