//! A backfill run: discover, parse in parallel (rayon), materialize, and write through one writer thread.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use jiff::Timestamp;
use rayon::prelude::*;
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::sync::mpsc::{Receiver, SyncSender};

use std::collections::{HashMap, HashSet};

use crate::envelope::{Event, EventLog};
use crate::keep_out::{KeepOut, KeptOut};
use hindcast_core::identity::source_path_sha256;
use hindcast_core::materialize::{Materializer, ProvenanceContext, RowBatch, SessionRow};
use hindcast_core::model::{ProjectedExchange, SourceUnit};
use hindcast_core::provider::{
    Discovery, Environment, ExchangeSink, ParseContext, ParseError, ParseReport, Provider, Root, SinkError, SkipTally,
};
use hindcast_core::registry::MaterializerRegistry;
use hindcast_core::tables::{PerTable, WriteCounts};
use hindcast_core::time_window::{TimeWindow, format_timestamp};
use hindcast_store::manifest::{
    FileChange, ManifestEntry, ResumePlan, changed_since_discovery, checkpoint_at, classify, entry_for,
};
use hindcast_store::{Store, StoreError};

mod budget;
use budget::{PARSE_BUDGET_BYTES, ParseBudget};

/// How many materialized batches may wait for the writer; bounds memory whatever the corpus size.
/// A batch is one whole session, which can be megabytes, so only a few may wait.
const CHANNEL_CAPACITY: usize = 4;
/// How many errors a provider report keeps verbatim.
const KEPT_ERRORS: usize = 5;

/// Settings of one run.
#[derive(Clone, Debug)]
pub struct BackfillOptions {
    pub run_id: String,
    pub window: TimeWindow,
    pub dry_run: bool,
    /// Rows per committed transaction into an existing store.
    pub batch_rows: usize,
    /// Rows per committed transaction while a first import builds the store: nobody reads it
    /// yet, and every commit writes out again the index pages its rows touched.
    pub building_batch_rows: usize,
    /// Parse every source even when the sources manifest shows it unchanged.
    pub reparse: bool,
    /// Sessions not imported: excluded projects and forgotten sessions.
    pub keep_out: Arc<KeepOut>,
}

impl BackfillOptions {
    /// Options with a fresh run id and the default batch size.
    pub fn new(window: TimeWindow, dry_run: bool) -> Self {
        Self {
            run_id: new_run_id(),
            window,
            dry_run,
            batch_rows: 20_000,
            building_batch_rows: 100_000,
            reparse: false,
            keep_out: Arc::default(),
        }
    }
}

/// A new, time-ordered run id.
pub fn new_run_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// `ok` or `failed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Failed,
}

/// Row counts per table; in the `--json` document a total plus one entry per table.
pub type RowTotals = PerTable<u64>;

/// The outcome of one provider in a run (SPEC §3 "Result per provider").
#[derive(Clone, Debug, Serialize)]
pub struct ProviderReport {
    pub provider: String,
    pub dataset: String,
    pub status: Status,
    pub roots: Vec<Root>,
    pub units_seen: u64,
    pub sources_seen: u64,
    pub bytes_seen: u64,
    /// Sources left unread because the sources manifest shows them unchanged since the last import.
    pub sources_unchanged: u64,
    pub bytes_unchanged: u64,
    /// Sources that only grew, parsed from their last checkpoint instead of from the start.
    pub sources_appended: u64,
    pub sessions_seen: u64,
    pub items_seen: u64,
    /// Messages dropped because their timestamp lies outside the window.
    pub items_outside_window: u64,
    /// Sessions not imported because an exclude pattern matches their project directory.
    pub sessions_excluded: u64,
    /// Sessions not imported because they were forgotten (`hindcast forget`).
    pub sessions_forgotten: u64,
    /// Rows the materializer produced (what a dry run would write at most).
    pub rows_materialized: RowTotals,
    pub rows_written: RowTotals,
    pub rows_updated: RowTotals,
    pub rows_skipped: RowTotals,
    pub lines_skipped: SkipTally,
    pub files_skipped: SkipTally,
    pub records_skipped: SkipTally,
    /// Records kept without their timestamp, which could not be read (see `ParseReport`).
    pub timestamps_unreadable: SkipTally,
    pub unknown_records: u64,
    /// Known non-transcript records by type (see `ParseReport::records_ignored`).
    pub records_ignored: std::collections::BTreeMap<String, u64>,
    /// Source files left out because they were last modified before `--since`.
    pub files_outside_window: u64,
    pub warnings: Vec<String>,
    /// Lossy or dropped fields, one line each (stored in `import_notes`).
    pub import_notes: Vec<String>,
    /// The first errors joined with "; " (see `fail`); `None` while the provider is ok.
    pub error: Option<String>,
    pub elapsed_ms: u64,
    /// Every error, in order (`error` shows the first `KEPT_ERRORS` of them).
    #[serde(skip)]
    pub errors: Vec<String>,
}

impl ProviderReport {
    fn new(provider: &dyn Provider, env: &Environment) -> Self {
        Self {
            provider: provider.name().to_string(),
            dataset: provider.dataset().to_string(),
            status: Status::Ok,
            roots: provider.roots(env),
            units_seen: 0,
            sources_seen: 0,
            bytes_seen: 0,
            sources_unchanged: 0,
            bytes_unchanged: 0,
            sources_appended: 0,
            sessions_seen: 0,
            items_seen: 0,
            items_outside_window: 0,
            sessions_excluded: 0,
            sessions_forgotten: 0,
            rows_materialized: RowTotals::default(),
            rows_written: RowTotals::default(),
            rows_updated: RowTotals::default(),
            rows_skipped: RowTotals::default(),
            lines_skipped: SkipTally::default(),
            files_skipped: SkipTally::default(),
            records_skipped: SkipTally::default(),
            timestamps_unreadable: SkipTally::default(),
            unknown_records: 0,
            records_ignored: std::collections::BTreeMap::new(),
            files_outside_window: 0,
            warnings: Vec::new(),
            import_notes: Vec::new(),
            error: None,
            elapsed_ms: 0,
            errors: Vec::new(),
        }
    }

    fn fail(&mut self, error: String) {
        self.status = Status::Failed;
        self.errors.push(error);
        let mut shown = self.errors[..self.errors.len().min(KEPT_ERRORS)].join("; ");
        if self.errors.len() > KEPT_ERRORS {
            shown.push_str("; (further errors omitted)");
        }
        self.error = Some(shown);
    }

    fn absorb_parse_report(&mut self, report: ParseReport) {
        self.sessions_seen += report.sessions_seen;
        self.items_seen += report.items_seen;
        self.lines_skipped.merge(report.lines_skipped);
        self.files_skipped.merge(report.files_skipped);
        self.records_skipped.merge(report.records_skipped);
        self.timestamps_unreadable.merge(report.timestamps_unreadable);
        self.unknown_records += report.unknown_records;
        for (kind, count) in report.records_ignored {
            *self.records_ignored.entry(kind).or_default() += count;
        }
        self.warnings.extend(report.warnings);
        self.import_notes.extend(report.notes);
    }
}

/// The outcome of a run.
#[derive(Clone, Debug, Serialize)]
pub struct BackfillReport {
    pub run_id: String,
    pub dry_run: bool,
    pub since: Option<String>,
    pub until: Option<String>,
    pub status: Status,
    /// The user interrupted the run; committed batches are kept, the rest is picked up by the next run.
    pub cancelled: bool,
    pub providers: Vec<ProviderReport>,
    pub elapsed_ms: u64,
}

/// Progress callbacks (the CLI draws a progress bar from them).
pub trait RunObserver: Sync {
    fn provider_started(&self, _provider: &str, _units: usize, _bytes: u64) {}
    fn unit_finished(&self, _provider: &str, _bytes: u64) {}
    fn provider_finished(&self, _report: &ProviderReport) {}
}

/// An observer that ignores everything.
#[derive(Debug, Default)]
pub struct SilentObserver;
impl RunObserver for SilentObserver {}

/// Everything a run needs besides the providers.
pub struct RunContext<'a> {
    pub materializers: &'a MaterializerRegistry,
    pub env: &'a Environment,
    pub events: &'a EventLog,
    pub observer: &'a dyn RunObserver,
    /// Set by a signal handler to stop the run after the current batch.
    pub cancel: Option<&'a AtomicBool>,
}

impl RunContext<'_> {
    fn cancelled(&self) -> bool {
        self.cancel.is_some_and(|cancel| cancel.load(Ordering::Relaxed))
    }
}

/// Runs the providers in order. `store` is `None` for a dry run. A provider fails (and the run
/// with it) when its dataset has no materializer, when it emits another dataset, when a unit
/// cannot be parsed, or when the store refuses a write; the other providers still run.
pub fn run_backfill(
    providers: &[Arc<dyn Provider>],
    mut store: Option<&mut Store>,
    options: &BackfillOptions,
    context: &RunContext<'_>,
) -> BackfillReport {
    let started = Instant::now();
    let emitter = Emitter { events: context.events, run_id: &options.run_id };
    let since = options.window.since.map(format_timestamp);
    let until = options.window.until.map(format_timestamp);
    let names: Vec<&str> = providers.iter().map(|provider| provider.name()).collect();
    emitter.emit(
        "backfill.start",
        None,
        None,
        json!({ "providers": names, "since": since, "until": until, "dry_run": options.dry_run }),
    );
    let mut run_record_warning = None;
    if let Some(store) = store.as_deref_mut()
        && let Err(error) =
            store.record_run_start(&options.run_id, &now_text(), &names, since.as_deref(), until.as_deref())
    {
        run_record_warning = Some(format!("could not record the run in the store: {error}"));
    }

    // Every provider's sources are listed at once, while this thread reads the manifests: on an
    // unchanged history, listing and comparing is the whole run.
    let mut planned = plan_providers(providers, store.as_deref(), options, context);
    let mut reports = Vec::with_capacity(providers.len());
    for (provider, plan) in providers.iter().zip(planned.drain(..)) {
        if context.cancelled() {
            break;
        }
        let mut report = run_provider(provider.as_ref(), store.as_deref_mut(), options, context, &emitter, plan);
        if let Some(warning) = &run_record_warning {
            report.warnings.push(warning.clone());
        }
        context.observer.provider_finished(&report);
        reports.push(report);
    }

    let cancelled = context.cancelled();
    let mut status = if !cancelled && reports.iter().all(|report| report.status == Status::Ok) {
        Status::Ok
    } else {
        Status::Failed
    };
    if let Some(store) = store {
        let _ = store.record_run_finish(&options.run_id, &now_text(), status_text(status));
        // A first import's store becomes visible only now, with every committed batch in it.
        if let Err(error) = store.finish_import() {
            status = Status::Failed;
            if let Some(last) = reports.last_mut() {
                last.fail(format!("{error}; the next run imports again"));
            }
        }
    }
    let elapsed_ms = started.elapsed().as_millis() as u64;
    emitter.emit(
        "backfill.finish",
        None,
        None,
        json!({ "status": status, "cancelled": cancelled, "elapsed_ms": elapsed_ms }),
    );
    BackfillReport {
        run_id: options.run_id.clone(),
        dry_run: options.dry_run,
        since,
        until,
        status,
        cancelled,
        providers: reports,
        elapsed_ms,
    }
}

fn status_text(status: Status) -> &'static str {
    match status {
        Status::Ok => "ok",
        Status::Failed => "failed",
    }
}

fn now_text() -> String {
    format_timestamp(Timestamp::now())
}

struct Emitter<'a> {
    events: &'a EventLog,
    run_id: &'a str,
}

impl Emitter<'_> {
    fn emit(&self, event: &'static str, provider: Option<&str>, dataset: Option<&str>, fields: Value) {
        let fields = match fields {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        self.events.emit(&Event {
            event,
            ts: now_text(),
            run_id: self.run_id.to_string(),
            provider: provider.map(str::to_string),
            dataset: dataset.map(str::to_string),
            fields,
        });
    }
}

/// Imports one unit of `provider` (the project of a growing transcript) into `store`: no
/// discovery of the provider's roots, no run record (the rows name `options.run_id`, which the
/// caller records once), only the unit's files looked up in the sources manifest.
pub fn import_unit(
    provider: &dyn Provider,
    store: &mut Store,
    unit: SourceUnit,
    options: &BackfillOptions,
    context: &RunContext<'_>,
) -> ProviderReport {
    let emitter = Emitter { events: context.events, run_id: &options.run_id };
    let discovery = Discovery { units: vec![unit], ..Discovery::default() };
    let hashes: Vec<String> =
        discovery.units.iter().flat_map(|unit| &unit.files).map(|file| source_path_sha256(&file.path)).collect();
    let manifest = if options.reparse { Ok(HashMap::new()) } else { store.load_manifest_of(provider.name(), &hashes) };
    let plan = ProviderPlan { discovery: Ok(discovery), manifest };
    let report = run_provider(provider, Some(&mut *store), options, context, &emitter, plan);
    if let Err(error) = store.commit() {
        let mut report = report;
        report.fail(error.to_string());
        return report;
    }
    report
}

/// What one provider's import starts from: its sources as listed, and the sources manifest of
/// the store (empty for a dry run or `--reparse`).
struct ProviderPlan {
    discovery: Result<Discovery, String>,
    manifest: Result<HashMap<String, ManifestEntry>, StoreError>,
}

/// Lists the sources of every provider, each on its own thread, while this one reads their
/// manifests from the store.
fn plan_providers(
    providers: &[Arc<dyn Provider>],
    store: Option<&Store>,
    options: &BackfillOptions,
    context: &RunContext<'_>,
) -> Vec<ProviderPlan> {
    std::thread::scope(|scope| {
        let listing: Vec<_> = providers
            .iter()
            .map(|provider| {
                scope.spawn(move || {
                    let discovery = provider.discover(context.env, &options.window);
                    discovery.map_err(|error| format!("discovery failed: {error}"))
                })
            })
            .collect();
        let manifests: Vec<_> = providers
            .iter()
            .map(|provider| match store {
                Some(store) if !options.reparse => store.load_manifest(provider.name()),
                _ => Ok(HashMap::new()),
            })
            .collect();
        listing
            .into_iter()
            .zip(manifests)
            .map(|(listing, manifest)| {
                let discovery = listing.join().unwrap_or_else(|_| Err("discovery failed: it panicked".to_string()));
                ProviderPlan { discovery, manifest }
            })
            .collect()
    })
}

/// Imports one provider's listed sources.
fn run_provider(
    provider: &dyn Provider,
    store: Option<&mut Store>,
    options: &BackfillOptions,
    context: &RunContext<'_>,
    emitter: &Emitter<'_>,
    plan: ProviderPlan,
) -> ProviderReport {
    let started = Instant::now();
    let name = provider.name();
    let dataset = provider.dataset();
    let mut report = ProviderReport::new(provider, context.env);
    emitter.emit("backfill.provider_start", Some(name), Some(dataset), json!({ "dry_run": options.dry_run }));

    let finish = |mut report: ProviderReport| {
        report.elapsed_ms = started.elapsed().as_millis() as u64;
        emitter.emit(
            "backfill.provider_finish",
            Some(name),
            Some(dataset),
            json!({
                "status": report.status,
                "sources_seen": report.sources_seen,
                "sessions_seen": report.sessions_seen,
                "items_seen": report.items_seen,
                "rows_written": report.rows_written.total(),
                "rows_updated": report.rows_updated.total(),
                "rows_skipped": report.rows_skipped.total(),
                "lines_skipped": report.lines_skipped.count,
                "files_skipped": report.files_skipped.count,
                "failed": report.error.is_some(),
                "elapsed_ms": report.elapsed_ms,
            }),
        );
        report
    };

    let Some(materializer) = context.materializers.for_dataset(dataset) else {
        report.fail(format!("no materializer produces dataset '{dataset}' (provider '{name}' cannot be imported)"));
        return finish(report);
    };

    let discovery = match plan.discovery {
        Ok(discovery) => discovery,
        Err(error) => {
            report.fail(error);
            return finish(report);
        }
    };
    record_discovery(&mut report, &discovery);
    emitter.emit(
        "backfill.plan",
        Some(name),
        Some(dataset),
        json!({ "units": report.units_seen, "sources": report.sources_seen, "bytes": report.bytes_seen }),
    );
    context.observer.provider_started(name, discovery.units.len(), report.bytes_seen);
    hindcast_core::failpoint::hit(hindcast_core::failpoint::DISCOVERED);

    let manifest = plan.manifest.unwrap_or_else(|error| {
        report.warnings.push(format!("cannot read the sources manifest, so every file is parsed: {error}"));
        HashMap::new()
    });
    let pipeline = Pipeline { provider, materializer: materializer.as_ref(), options, context, emitter, manifest };
    let outcome = pipeline.parse_and_write(&discovery.units, store);
    emitter.emit(
        "backfill.scan",
        Some(name),
        Some(dataset),
        json!({
            "sources_seen": report.sources_seen,
            "sessions_seen": outcome.parse.sessions_seen,
            "items_seen": outcome.parse.items_seen,
            "lines_skipped": outcome.parse.lines_skipped.count,
        }),
    );
    emitter.emit(
        "backfill.materialize",
        Some(name),
        Some(dataset),
        json!({ "rows": outcome.materialized.total(), "items_outside_window": outcome.outside_window }),
    );
    report.sources_unchanged = outcome.sources_unchanged;
    report.bytes_unchanged = outcome.bytes_unchanged;
    report.sources_appended = outcome.sources_appended;
    report.absorb_parse_report(outcome.parse);
    report.items_outside_window = outcome.outside_window;
    report.sessions_excluded = outcome.kept_out.excluded.len() as u64;
    report.sessions_forgotten = outcome.kept_out.forgotten.len() as u64;
    report.rows_materialized = outcome.materialized;
    report.rows_written = outcome.counts.written();
    report.rows_updated = outcome.counts.updated();
    report.rows_skipped = outcome.counts.skipped();
    for error in outcome.errors {
        report.fail(error);
    }
    if context.cancelled() {
        report.fail("cancelled by the user; committed batches are kept and the next run completes the import".into());
    }
    if context.events.has_failed() {
        report.warnings.push("could not append to the events file; the run envelope is incomplete".into());
    }
    finish(report)
}

fn record_discovery(report: &mut ProviderReport, discovery: &Discovery) {
    report.units_seen = discovery.units.len() as u64;
    report.sources_seen = discovery.source_count() as u64;
    report.bytes_seen = discovery.bytes();
    report.files_skipped = discovery.files_skipped.clone();
    report.files_outside_window = discovery.files_outside_window;
    report.warnings.extend(discovery.warnings.iter().cloned());
}

struct Pipeline<'a> {
    provider: &'a dyn Provider,
    materializer: &'a dyn Materializer,
    options: &'a BackfillOptions,
    context: &'a RunContext<'a>,
    emitter: &'a Emitter<'a>,
    /// The provider's sources manifest (empty on a dry run or a new store).
    manifest: HashMap<String, ManifestEntry>,
}

#[derive(Default)]
struct PipelineOutcome {
    parse: ParseReport,
    sources_unchanged: u64,
    bytes_unchanged: u64,
    sources_appended: u64,
    outside_window: u64,
    kept_out: KeptOutSessions,
    materialized: RowTotals,
    counts: WriteCounts,
    errors: Vec<String>,
}

/// What the parse threads hand the writer.
enum WriterMessage {
    Rows(RowBatch),
    /// A unit parsed completely: record its files in the manifest (after its rows).
    Manifest(Vec<ManifestEntry>),
}

/// The source bytes a unit's parse reads under `plan` (a resumed file only from its checkpoint).
fn bytes_to_read(unit: &SourceUnit, plan: &UnitPlan) -> u64 {
    match plan {
        UnitPlan::Unchanged => 0,
        UnitPlan::Full => unit.bytes(),
        UnitPlan::Resume(resume) => unit
            .files
            .iter()
            .filter_map(|file| resume.points.get(&file.path).map(|point| file.size.saturating_sub(point.offset)))
            .sum(),
    }
}

/// How a unit is parsed on this run, from the sources manifest.
enum UnitPlan {
    /// Every file is unchanged since the last import: nothing is read.
    Unchanged,
    /// Parse every file from the start.
    Full,
    /// Only appended files, each from its checkpoint.
    Resume(ResumePlan),
}

impl Pipeline<'_> {
    fn parse_and_write(&self, units: &[SourceUnit], store: Option<&mut Store>) -> PipelineOutcome {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<WriterMessage>(CHANNEL_CAPACITY);
        let stop = AtomicBool::new(false);
        let shared = Mutex::new(PipelineOutcome::default());
        let budget = ParseBudget::new(PARSE_BUDGET_BYTES);

        let writer_result = std::thread::scope(|scope| {
            let writer = scope.spawn(|| self.write_loop(receiver, store, &stop));
            units.par_iter().for_each(|unit| {
                let plan = self.plan_unit(unit);
                if let UnitPlan::Unchanged = plan {
                    self.context.observer.unit_finished(self.provider.name(), unit.bytes());
                    let mut shared = shared.lock().expect("no thread panics while holding the outcome lock");
                    shared.sources_unchanged += unit.files.len() as u64;
                    shared.bytes_unchanged += unit.bytes();
                    return;
                }
                let reservation = budget.reserve(bytes_to_read(unit, &plan));
                hindcast_core::failpoint::hit_in(hindcast_core::failpoint::UNIT_START, &unit.key);
                let unit_outcome = self.parse_unit(unit, &plan, sender.clone(), &stop);
                drop(reservation);
                self.context.observer.unit_finished(self.provider.name(), unit.bytes());
                let mut shared = shared.lock().expect("no thread panics while holding the outcome lock");
                if let UnitPlan::Resume(resume) = &plan {
                    shared.sources_appended += resume.points.len() as u64;
                    let unread = unit.files.iter().filter(|file| !resume.points.contains_key(&file.path));
                    for file in unread {
                        shared.sources_unchanged += 1;
                        shared.bytes_unchanged += file.size;
                    }
                }
                shared.outside_window += unit_outcome.outside_window;
                shared.kept_out.merge(unit_outcome.kept_out);
                shared.materialized += &unit_outcome.materialized;
                match unit_outcome.result {
                    Ok(report) => shared.parse.merge(report),
                    Err(UnitFailure::Stopped) => {}
                    Err(UnitFailure::Error(message)) => shared.errors.push(format!("{}: {message}", unit.key)),
                }
            });
            drop(sender);
            writer.join().unwrap_or_else(|_| Err("the writer thread panicked".to_string()))
        });

        let mut outcome = shared.into_inner().expect("no thread panics while holding the outcome lock");
        match writer_result {
            Ok(counts) => outcome.counts = counts,
            Err(error) => outcome.errors.insert(0, error),
        }
        outcome
    }

    /// Compares the unit's files with the manifest. Unchanged files are not opened.
    fn plan_unit(&self, unit: &SourceUnit) -> UnitPlan {
        if self.manifest.is_empty() {
            return UnitPlan::Full;
        }
        let name = self.provider.name();
        let mut points = HashMap::new();
        let mut full = false;
        for file in &unit.files {
            let entry = self.manifest.get(&source_path_sha256(&file.path));
            match classify(entry, file, name, &self.options.window) {
                FileChange::Unchanged => {}
                FileChange::Appended(point) => {
                    points.insert(file.path.clone(), point);
                }
                FileChange::New | FileChange::Changed(_) => full = true,
            }
        }
        if full || (!points.is_empty() && !self.provider.supports_resume()) {
            UnitPlan::Full
        } else if points.is_empty() {
            UnitPlan::Unchanged
        } else {
            UnitPlan::Resume(ResumePlan { points })
        }
    }

    /// The manifest entries of a unit that parsed completely: every file read on this run, with the
    /// checkpoint its provider left (hashed from the file now).
    fn manifest_entries(&self, unit: &SourceUnit, plan: &UnitPlan, report: &mut ParseReport) -> Vec<ManifestEntry> {
        let mut checkpoints: HashMap<_, _> =
            std::mem::take(&mut report.checkpoints).into_iter().map(|point| (point.path.clone(), point)).collect();
        let unsettled = std::mem::take(&mut report.unsettled);
        unit.files
            .iter()
            .filter(|file| match plan {
                UnitPlan::Resume(resume) => resume.points.contains_key(&file.path),
                _ => true,
            })
            .filter(|file| !unsettled.contains(&file.path))
            .filter(|file| match changed_since_discovery(file) {
                None => true,
                Some(change) => {
                    report.warnings.push(format!(
                        "{} was {change} while this run read it; the next run reads it again",
                        hindcast_core::provider::escaped(&file.path)
                    ));
                    false
                }
            })
            .map(|file| {
                let checkpoint = checkpoints
                    .remove(&file.path)
                    .and_then(|point| checkpoint_at(&file.path, point.offset, point.state));
                entry_for(file, checkpoint, self.provider.name(), &self.options.window)
            })
            .collect()
    }

    fn parse_unit(
        &self,
        unit: &SourceUnit,
        plan: &UnitPlan,
        sender: SyncSender<WriterMessage>,
        stop: &AtomicBool,
    ) -> UnitOutcome {
        let manifest_sender = sender.clone();
        let mut sink = ChannelSink {
            materializer: self.materializer,
            provenance: ProvenanceContext {
                provider: self.provider.name().to_string(),
                run_id: self.options.run_id.clone(),
            },
            window: &self.options.window,
            sender,
            stop,
            cancel: self.context.cancel,
            outside_window: 0,
            keep_out: &self.options.keep_out,
            kept_out: KeptOutSessions::default(),
            materialized: RowTotals::default(),
            sessions_sent: HashMap::new(),
        };
        let resume = match plan {
            UnitPlan::Resume(resume) => Some(resume),
            _ => None,
        };
        let parse_context = ParseContext { window: &self.options.window, env: self.context.env, resume };
        let parsed =
            std::panic::catch_unwind(AssertUnwindSafe(|| self.provider.parse(unit, &parse_context, &mut sink)));
        let result = match parsed {
            Ok(Ok(mut report)) => {
                if !self.options.dry_run {
                    let entries = self.manifest_entries(unit, plan, &mut report);
                    let _ = manifest_sender.send(WriterMessage::Manifest(entries));
                }
                report.checkpoints.clear();
                Ok(report)
            }
            Ok(Err(ParseError::Sink(SinkError::Stopped))) => Err(UnitFailure::Stopped),
            Ok(Err(error)) => Err(UnitFailure::Error(error.to_string())),
            Err(panic) => Err(UnitFailure::Error(format!("the parser panicked: {}", panic_message(&panic)))),
        };
        UnitOutcome {
            result,
            outside_window: sink.outside_window,
            kept_out: sink.kept_out,
            materialized: sink.materialized,
        }
    }

    /// The single writer: applies batches in transactions of about `batch_rows` rows
    /// (`building_batch_rows` into a store a first import builds). On a store error it rolls back
    /// the open batch, stops the parsers and drains the channel.
    fn write_loop(
        &self,
        receiver: Receiver<WriterMessage>,
        mut store: Option<&mut Store>,
        stop: &AtomicBool,
    ) -> Result<WriteCounts, String> {
        let name = self.provider.name();
        let dataset = self.provider.dataset();
        let mut total = WriteCounts::default();
        let mut pending = WriteCounts::default();
        let mut pending_rows = 0usize;
        let mut failure: Option<String> = None;
        let mut commits = 0u64;
        let batch_rows = match store.as_deref() {
            Some(store) if store.is_building() => self.options.building_batch_rows,
            _ => self.options.batch_rows,
        };

        let mut commit =
            |store: &mut Store, pending: &mut WriteCounts, pending_rows: &mut usize| -> Result<(), StoreError> {
                store.commit()?;
                hindcast_core::failpoint::hit(hindcast_core::failpoint::COMMITTED);
                commits += 1;
                self.emitter.emit("backfill.write", Some(name), Some(dataset), write_fields(pending, *pending_rows));
                total += &*pending;
                *pending = WriteCounts::default();
                *pending_rows = 0;
                Ok(())
            };

        for message in receiver.iter() {
            if failure.is_some() {
                continue;
            }
            let Some(store) = store.as_deref_mut() else {
                continue;
            };
            let written = match message {
                WriterMessage::Rows(batch) => store.write_rows(&batch).and_then(|counts| {
                    hindcast_core::failpoint::hit(hindcast_core::failpoint::ROWS_WRITTEN);
                    pending += &counts;
                    pending_rows += batch.len();
                    if pending_rows >= batch_rows {
                        commit(store, &mut pending, &mut pending_rows)?;
                    }
                    Ok(())
                }),
                WriterMessage::Manifest(entries) => store.write_manifest(name, &self.options.run_id, &entries),
            };
            if let Err(error) = written {
                let _ = store.rollback();
                stop.store(true, Ordering::Relaxed);
                failure = Some(format!("store write failed: {error}"));
            }
        }

        if let (None, Some(store)) = (&failure, store)
            && let Err(error) = commit(store, &mut pending, &mut pending_rows)
        {
            let _ = store.rollback();
            failure = Some(format!("store write failed: {error}"));
        }
        self.emitter.emit(
            "backfill.flush",
            Some(name),
            Some(dataset),
            json!({
                "commits": commits,
                "rows_written": total.written().total(),
                "rows_updated": total.updated().total(),
                "rows_skipped": total.skipped().total(),
                "failed": failure.is_some(),
            }),
        );
        match failure {
            Some(error) => Err(error),
            None => Ok(total),
        }
    }
}

fn write_fields(counts: &WriteCounts, rows: usize) -> Value {
    let mut fields = Map::new();
    fields.insert("rows".into(), Value::from(rows));
    for (table, table_counts) in counts.iter() {
        fields.insert(
            table.name().to_string(),
            json!({ "written": table_counts.written, "updated": table_counts.updated, "skipped": table_counts.skipped }),
        );
    }
    Value::Object(fields)
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "unknown panic".to_string()
    }
}

enum UnitFailure {
    Stopped,
    Error(String),
}

struct UnitOutcome {
    result: Result<ParseReport, UnitFailure>,
    outside_window: u64,
    kept_out: KeptOutSessions,
    materialized: RowTotals,
}

/// The sessions a run kept out, by id (a session arrives in parts, and its sub-agents in units of
/// their own).
#[derive(Default)]
struct KeptOutSessions {
    excluded: HashSet<String>,
    forgotten: HashSet<String>,
}

impl KeptOutSessions {
    fn merge(&mut self, other: Self) {
        self.excluded.extend(other.excluded);
        self.forgotten.extend(other.forgotten);
    }
}

/// The sink a parse writes into: filters by window, materializes, and hands rows to the writer.
struct ChannelSink<'a> {
    materializer: &'a dyn Materializer,
    provenance: ProvenanceContext,
    window: &'a TimeWindow,
    sender: SyncSender<WriterMessage>,
    stop: &'a AtomicBool,
    cancel: Option<&'a AtomicBool>,
    outside_window: u64,
    keep_out: &'a KeepOut,
    kept_out: KeptOutSessions,
    materialized: RowTotals,
    /// The session rows this unit sent, by session id.
    sessions_sent: HashMap<String, SessionRow>,
}

impl ExchangeSink for ChannelSink<'_> {
    fn emit(&mut self, dataset: &str, mut exchange: ProjectedExchange) -> Result<(), SinkError> {
        if self.stop.load(Ordering::Relaxed) || self.cancel.is_some_and(|cancel| cancel.load(Ordering::Relaxed)) {
            return Err(SinkError::Stopped);
        }
        let (kept, dropped) = retain_window(&mut exchange, self.window);
        self.outside_window += dropped;
        if !kept {
            return Ok(());
        }
        let mut batch = self.materializer.materialize(dataset, exchange, &self.provenance)?;
        if let Some(session) = batch.sessions.first() {
            match self.keep_out.judge(&session.session_id, session.cwd.as_deref()) {
                Some(KeptOut::Excluded) => {
                    self.kept_out.excluded.insert(session.session_id.clone());
                    return Ok(());
                }
                Some(KeptOut::Forgotten) => {
                    self.kept_out.forgotten.insert(session.session_id.clone());
                    return Ok(());
                }
                None => {}
            }
        }
        // A long session arrives in parts (`ProjectedExchange::split_front`), each carrying the
        // session row: it is written once, unless a later part brings a different one.
        if let Some(row) = batch.sessions.first() {
            if self.sessions_sent.get(&row.session_id) == Some(row) {
                batch.sessions.clear();
            } else {
                self.sessions_sent.insert(row.session_id.clone(), row.clone());
            }
        }
        self.materialized += &batch.lengths();
        self.sender.send(WriterMessage::Rows(batch)).map_err(|_| SinkError::Stopped)
    }
}

/// Drops messages and usage outside `window`. Returns whether the session is kept at all (it has
/// messages left, or its own time span overlaps the window) and how many messages were dropped.
pub fn retain_window(exchange: &mut ProjectedExchange, window: &TimeWindow) -> (bool, u64) {
    if *window == TimeWindow::ALL {
        return (true, 0);
    }
    let before = exchange.messages.len();
    exchange.messages.retain(|message| message.timestamp.is_none_or(|timestamp| window.contains(timestamp)));
    exchange.usage.retain(|usage| usage.timestamp.is_none_or(|timestamp| window.contains(timestamp)));
    let dropped = (before - exchange.messages.len()) as u64;
    let session = &exchange.session;
    let kept = !exchange.messages.is_empty() || (dropped == 0 && window.overlaps(session.started_at, session.ended_at));
    (kept, dropped)
}

#[cfg(test)]
mod tests;
