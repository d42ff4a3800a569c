//! `backfill plan`: what a run would scan, per provider, without parsing or writing anything.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use hindcast_core::provider::{Environment, Provider, Root, SkipTally};
use hindcast_core::registry::MaterializerRegistry;
use hindcast_core::time_window::TimeWindow;
use hindcast_core::time_window::format_timestamp;

/// What one provider would scan.
#[derive(Clone, Debug, Serialize)]
pub struct ProviderPlan {
    pub provider: String,
    pub dataset: String,
    /// The materializer that would receive the provider's exchanges; `None` means the run would fail.
    pub materializer: Option<String>,
    pub available: bool,
    pub reason: String,
    pub roots: Vec<Root>,
    pub units: u64,
    pub sources: u64,
    pub bytes: u64,
    pub files_by_kind: BTreeMap<String, u64>,
    pub files_skipped: SkipTally,
    pub files_outside_window: u64,
    pub warnings: Vec<String>,
    pub error: Option<String>,
}

/// What a run would scan.
#[derive(Clone, Debug, Serialize)]
pub struct PlanReport {
    pub since: Option<String>,
    pub until: Option<String>,
    pub providers: Vec<ProviderPlan>,
}

/// Discovers every provider's sources within `window`. Reads directory listings only.
pub fn plan_backfill(
    providers: &[Arc<dyn Provider>],
    materializers: &MaterializerRegistry,
    env: &Environment,
    window: &TimeWindow,
) -> PlanReport {
    let providers = providers
        .iter()
        .map(|provider| {
            let availability = provider.availability(env);
            let mut plan = ProviderPlan {
                provider: provider.name().to_string(),
                dataset: provider.dataset().to_string(),
                materializer: materializers.for_dataset(provider.dataset()).map(|m| m.name().to_string()),
                available: availability.available,
                reason: availability.reason,
                roots: provider.roots(env),
                units: 0,
                sources: 0,
                bytes: 0,
                files_by_kind: BTreeMap::new(),
                files_skipped: SkipTally::default(),
                files_outside_window: 0,
                warnings: Vec::new(),
                error: None,
            };
            if plan.materializer.is_none() {
                plan.error = Some(format!("no materializer produces dataset '{}'", plan.dataset));
            }
            match provider.discover(env, window) {
                Ok(discovery) => {
                    plan.units = discovery.units.len() as u64;
                    plan.sources = discovery.source_count() as u64;
                    plan.bytes = discovery.bytes();
                    plan.files_by_kind = discovery.files_by_kind;
                    plan.files_skipped = discovery.files_skipped;
                    plan.files_outside_window = discovery.files_outside_window;
                    plan.warnings = discovery.warnings;
                }
                Err(error) => plan.error = Some(format!("discovery failed: {error}")),
            }
            plan
        })
        .collect();
    PlanReport { since: window.since.map(format_timestamp), until: window.until.map(format_timestamp), providers }
}
