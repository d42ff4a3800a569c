//! The seams between the reads of a project: the state a checkpoint carries to the next run,
//! and a projected session waiting for the parts of its messages.

use std::collections::BTreeMap;
use std::path::PathBuf;

use hindcast_core::model::ProjectedExchange;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What the next parse of a file needs to continue its session after the checkpoint: the session,
/// how many of its messages and lines come before the checkpoint, and what was learnt so far.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ContinuationState {
    pub native_id: String,
    /// Number of the line at the checkpoint.
    pub line: u64,
    pub seq_base: u64,
    pub ordinal_base: u64,
    pub facts: SessionFacts,
    pub metadata: Map<String, Value>,
    /// Lines at or after the checkpoint that the full parse did not import under their own uuid:
    /// `None` for copies of earlier lines, else the session-scoped key they were imported under.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dispositions: BTreeMap<String, Option<String>>,
    /// uuid -> identity key of the lines before the checkpoint kept under a session-scoped key
    /// (their uuid is shared with an unrelated session), and of copies of such lines: lines
    /// appended later may point at them, and resolve as a full parse would.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub keys_before: BTreeMap<String, String>,
}

/// A file read from its checkpoint.
#[derive(Clone, Debug)]
pub struct Continuation {
    pub offset: u64,
    pub line: u64,
    pub state: ContinuationState,
}

/// Session metadata gathered while walking a draft's lines.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SessionFacts {
    pub cwd: Option<String>,
    pub git_branch: Option<String>,
    pub versions: Vec<String>,
    pub entrypoint: Option<String>,
    pub permission_mode: Option<String>,
    pub models: Vec<String>,
    pub slug: Option<String>,
    pub custom_title: Option<String>,
    pub ai_title: Option<String>,
    pub agent_name: Option<String>,
    pub team_name: Option<String>,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
}

/// A projected session whose user and assistant messages still lack their parts: `part_lines[i]`
/// lists the lines of `file` whose content becomes the parts of message `i`.
pub struct ProjectedDraft {
    pub exchange: ProjectedExchange,
    pub file: PathBuf,
    pub part_lines: Vec<Vec<u64>>,
}
