//! hindcast's core: the canonical model, the provider and materializer contracts and registries,
//! the `messages` materializer, the SQLite store, the run envelope and the backfill pipeline.

pub mod backfill;
pub mod envelope;
pub mod failpoint;
pub mod identity;
pub mod json_text;
pub mod jsonl;
pub mod manifest;
pub mod materialize;
pub mod model;
pub mod plan;
pub mod provider;
pub mod registry;
pub mod store;
pub mod time_window;
pub mod views;
pub mod walk;

#[cfg(any(test, feature = "testing"))]
pub mod testing;
