//! hindcast's provider contract: the canonical model, the `Provider` trait and its environment,
//! reports and skip tallies, the provider and materializer registries, the `messages`
//! materializer, identities, and the shared reading helpers (JSON Lines, directory walks, time
//! windows). Depends on no store and no thread pool: providers build against this crate alone.

pub mod failpoint;
pub mod identity;
pub mod json_text;
pub mod jsonl;
pub mod materialize;
pub mod model;
pub mod provider;
pub mod registry;
pub mod resume;
pub mod tables;
pub mod time_window;
pub mod walk;
