//! The hindcast binary with scripted failure providers registered and a pause hook on the backfill's
//! failpoints, for the xtask smoke suites only.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hindcast_cli::EntryOptions;
use hindcast_core::failpoint;
use hindcast_core::provider::Provider;
use hindcast_store::StoreOptions;
use hindcast_testing::ScriptedProvider;

fn main() -> std::process::ExitCode {
    install_pause_hook();
    let extra_providers: Vec<Arc<dyn Provider>> =
        ScriptedProvider::testbed_set().into_iter().map(|provider| Arc::new(provider) as Arc<dyn Provider>).collect();
    let max_page_count = std::env::var("HINDCAST_TESTBED_MAX_PAGES").ok().and_then(|pages| pages.parse().ok());
    hindcast_cli::main_with(EntryOptions {
        extra_providers,
        store_options: StoreOptions { max_page_count, ..StoreOptions::default() },
    })
}

/// `HINDCAST_TESTBED_PAUSE_AT=<point>[@<n>]` stops the run the n-th time (default: first) it reaches
/// `<point>` — counting only units whose key contains `HINDCAST_TESTBED_PAUSE_UNIT` when that is
/// set (units are parsed in parallel, in no fixed order): the hook writes `paused` (point and pid) into `HINDCAST_TESTBED_PAUSE_DIR` and waits
/// until a `resume` file appears there. The harness kills the paused process or changes its sources
/// and resumes it.
fn install_pause_hook() {
    let Ok(spec) = std::env::var("HINDCAST_TESTBED_PAUSE_AT") else { return };
    let dir = PathBuf::from(std::env::var_os("HINDCAST_TESTBED_PAUSE_DIR").expect("HINDCAST_TESTBED_PAUSE_DIR is set"));
    let (point, nth) = match spec.split_once('@') {
        Some((point, nth)) => (point.to_string(), nth.parse::<u64>().expect("the @n of HINDCAST_TESTBED_PAUSE_AT")),
        None => (spec, 1),
    };
    assert!(failpoint::POINTS.contains(&point.as_str()), "unknown failpoint {point}; points: {:?}", failpoint::POINTS);
    let unit_filter = std::env::var("HINDCAST_TESTBED_PAUSE_UNIT").unwrap_or_default();
    let hits = AtomicU64::new(0);
    failpoint::install(Box::new(move |reached, unit| {
        if reached != point || !unit.contains(&unit_filter) || hits.fetch_add(1, Ordering::SeqCst) + 1 != nth {
            return;
        }
        let marker = dir.join("paused.tmp");
        std::fs::write(&marker, format!("{reached} {}\n", std::process::id())).expect("write the pause marker");
        std::fs::rename(&marker, dir.join("paused")).expect("publish the pause marker");
        while !dir.join("resume").exists() {
            std::thread::sleep(Duration::from_millis(5));
        }
    }));
}
