//! `hindcast export session-events | daily-activity`: files of hashes and numbers, sent nowhere.

use std::path::Path;

use hindcast_store::Store;
use hindcast_store::views::export::{self, ExportKey};

use super::Context;
use super::sessions::view_error;
use crate::cli::ExportAction;
use crate::exit::{self, ExitError};
use crate::output::print_exact;

pub fn run(context: &Context, action: &ExportAction) -> anyhow::Result<u8> {
    let paths = context.paths()?;
    let conn = Store::open_read_only(&paths.db).map_err(|error| ExitError::failure(error.to_string()))?;
    match action {
        ExportAction::SessionEvents { out } => {
            let key = export_key(&paths)?;
            let events = export::session_events(&conn, &key).map_err(view_error)?;
            let mut lines = Vec::new();
            for event in &events {
                jsonl::write(&mut lines, event).expect("events serialize into memory");
            }
            write_out(out.as_deref(), &String::from_utf8(lines).expect("JSON is UTF-8"))?;
        }
        ExportAction::DailyActivity { format: _, out } => {
            if context.env.var("DO_NOT_TRACK").is_some_and(|value| value != "0" && !value.eq_ignore_ascii_case("false"))
            {
                return Err(ExitError::usage(
                    "DO_NOT_TRACK is set: refusing to export daily activity for an analytics service (unset it to export)".into(),
                )
                .into());
            }
            let key = export_key(&paths)?;
            let batch = export::posthog_daily_activity(&conn, &key, jiff::Timestamp::now()).map_err(view_error)?;
            let mut text = serde_json::to_string_pretty(&batch).expect("the batch serializes");
            text.push('\n');
            write_out(out.as_deref(), &text)?;
        }
    }
    Ok(exit::OK)
}

fn export_key(paths: &crate::config::Paths) -> Result<ExportKey, ExitError> {
    ExportKey::load_or_create(&paths.export_key).map_err(|error| ExitError::failure(error.to_string()))
}

/// Writes the export to `out` (a 0600 file: it holds this install's activity) or stdout.
fn write_out(out: Option<&Path>, text: &str) -> Result<(), ExitError> {
    match out {
        Some(path) => hindcast_store::private::write_file(path, text.as_bytes())
            .map_err(|error| ExitError::failure(format!("cannot write {}: {error}", path.display()))),
        None => {
            print_exact(text);
            Ok(())
        }
    }
}
