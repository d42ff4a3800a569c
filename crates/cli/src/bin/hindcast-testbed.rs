//! The hindcast binary with scripted failure providers registered, for the xtask smoke suites only.

use std::sync::Arc;

use hindcast_cli::EntryOptions;
use hindcast_core::provider::Provider;
use hindcast_core::store::StoreOptions;
use hindcast_core::testing::ScriptedProvider;

fn main() -> std::process::ExitCode {
    let extra_providers: Vec<Arc<dyn Provider>> =
        ScriptedProvider::testbed_set().into_iter().map(|provider| Arc::new(provider) as Arc<dyn Provider>).collect();
    let max_page_count = std::env::var("HINDCAST_TESTBED_MAX_PAGES").ok().and_then(|pages| pages.parse().ok());
    hindcast_cli::main_with(EntryOptions { extra_providers, store_options: StoreOptions { max_page_count } })
}
