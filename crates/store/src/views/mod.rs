//! Derived views over the store, answered from SQL: sessions and lineage, daily statistics, cost
//! reports and privacy-preserving exports.

pub mod conversation;
pub mod export;
pub mod render;
pub mod report;
pub mod search;
pub mod sessions;
pub mod stats;

/// A view could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("query failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("no session matches '{0}'")]
    NotFound(String),
    #[error("'{prefix}' matches {count} sessions; give more characters (e.g. {examples})")]
    Ambiguous { prefix: String, count: usize, examples: String },
}

/// Optional time bounds as stored text (RFC 3339 UTC with milliseconds, comparable as strings).
#[derive(Clone, Debug, Default)]
pub struct TextWindow {
    pub since: Option<String>,
    pub until: Option<String>,
}

impl TextWindow {
    /// The window of `window` in stored-text form.
    pub fn from_window(window: &hindcast_core::time_window::TimeWindow) -> Self {
        Self {
            since: window.since.map(hindcast_core::time_window::format_timestamp),
            until: window.until.map(hindcast_core::time_window::format_timestamp),
        }
    }
}
