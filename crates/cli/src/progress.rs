//! A progress bar on stderr, drawn only when stderr is a terminal.

use hindcast_import::backfill::{ProviderReport, RunObserver};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Draws bytes parsed per provider.
pub struct ProgressObserver {
    bar: ProgressBar,
}

impl ProgressObserver {
    /// A bar on stderr; indicatif hides it when stderr is not a terminal.
    /// A bar on stderr; `hidden` (for `-q`) draws nothing.
    pub fn new(hidden: bool) -> Self {
        let target = if hidden { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() };
        let bar = ProgressBar::with_draw_target(Some(0), target);
        bar.set_style(
            ProgressStyle::with_template("{msg:>8} {bar:30} {binary_bytes}/{binary_total_bytes} ({eta})")
                .expect("the template is valid"),
        );
        Self { bar }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl RunObserver for ProgressObserver {
    fn provider_started(&self, provider: &str, _units: usize, bytes: u64) {
        self.bar.set_message(provider.to_string());
        self.bar.inc_length(bytes);
    }

    fn unit_finished(&self, _provider: &str, bytes: u64) {
        self.bar.inc(bytes);
    }

    fn provider_finished(&self, _report: &ProviderReport) {}
}
