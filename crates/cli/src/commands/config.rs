//! `hindcast config path|show`: where the config is, and the settings in effect.

use super::Context;
use crate::cli::ConfigAction;
use crate::config::Config;
use crate::exit;

pub fn run(context: &Context, action: &ConfigAction) -> anyhow::Result<u8> {
    let paths = context.paths()?;
    match action {
        ConfigAction::Path => context.print_text(&format!("{}\n", paths.config.display())),
        ConfigAction::Show => {
            let config = Config::load(&paths.config)?;
            let source = if paths.config.is_file() { "" } else { " (no such file: the defaults apply)" };
            let providers = config.backfill.providers.as_ref().map_or_else(
                || "every compiled-in client with history on this machine".to_string(),
                |names| names.join(", "),
            );
            let retention = config
                .backfill
                .retention_days
                .map_or_else(|| "all history".to_string(), |days| format!("the last {days} days (retention_days)"));
            context.print_text(&format!(
                "config: {}{source}\nbackfill providers: {providers}\nbackfill history: {retention}\n",
                paths.config.display()
            ));
        }
    }
    Ok(exit::OK)
}
