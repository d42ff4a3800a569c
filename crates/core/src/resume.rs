//! Resume plans: where a provider continues each appended file of a unit, handed in by the import
//! pipeline from the sources manifest (providers never read the manifest themselves).

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::Value;

/// Where and how a provider continues an appended file.
#[derive(Clone, Debug, PartialEq)]
pub struct ResumePoint {
    pub offset: u64,
    pub state: Value,
}

/// How a unit is parsed on this run. Files of the unit absent from `points` are unchanged since the
/// last import: the provider must not read them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResumePlan {
    pub points: HashMap<PathBuf, ResumePoint>,
}
