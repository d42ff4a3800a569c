//! `hindcast forget`: sessions removed from the store for good (their rows, rollups and
//! references), with a tombstone so later imports leave them out; `--undo` takes them back and
//! `--list` shows what was forgotten.

use std::io::IsTerminal;

use hindcast_store::Store;
use hindcast_store::forget::Tombstone;
use hindcast_store::views::sessions::{self, SessionSummary};
use serde_json::json;

use super::Context;
use crate::cli::ForgetArgs;
use crate::exit::{self, ExitError};
use crate::grid::{Cell, Grid};
use crate::output::print_json;
use crate::prompt::{LinePrompter, Prompter};

pub fn run(context: &Context, args: &ForgetArgs) -> anyhow::Result<u8> {
    let paths = context.paths()?;
    if !paths.db.is_file() {
        return Err(ExitError::failure(format!("no store at {}: nothing to forget", paths.db.display())).into());
    }
    let _lock = super::backfill::lock_store(&paths.db)?;
    let mut store =
        Store::open(&paths.db, context.store_options).map_err(|error| ExitError::failure(error.to_string()))?;
    let failure = |error: hindcast_store::StoreError| ExitError::failure(error.to_string());
    if args.list {
        let tombstones = store.tombstones().map_err(failure)?;
        if args.json {
            print_json(&json!({ "schema": "hindcast.forgotten/v1", "forgotten": tombstones }));
        } else {
            print_tombstones(context, &tombstones, "Forgotten sessions (later imports leave them out):");
        }
        return Ok(exit::OK);
    }
    if args.undo {
        return undo(context, args, &mut store);
    }

    let mut chosen: Vec<String> = Vec::new();
    for id in &args.sessions {
        let session_id = sessions::resolve(store.connection(), id).map_err(super::sessions::view_error)?;
        if !chosen.contains(&session_id) {
            chosen.push(session_id);
        }
    }
    if !args.projects.is_empty() {
        let patterns = super::backfill::exclude_patterns(context, &Default::default(), &args.projects)?;
        for session_id in super::backfill::stored_sessions_matching(store.connection(), &patterns)? {
            if !chosen.contains(&session_id) {
                chosen.push(session_id);
            }
        }
    }
    let summaries = sessions::summaries_of(store.connection(), &chosen).map_err(super::sessions::view_error)?;
    if summaries.is_empty() {
        if args.json {
            print_json(
                &json!({ "schema": "hindcast.forget/v1", "session_ids": [], "sessions": 0, "messages": 0, "usage_records": 0, "backups": [] }),
            );
        } else {
            context.print_text("No stored session matches; nothing was forgotten.\n");
        }
        return Ok(exit::OK);
    }
    if !args.json {
        print_sessions(context, &summaries);
    }
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(ExitError::usage(
                "forgetting removes these sessions from the store for good: pass --yes to confirm".to_string(),
            )
            .into());
        }
        let question = format!(
            "Forget {} session{} and their sub-agents (the store keeps a tombstone, not their text)?",
            summaries.len(),
            plural(summaries.len() as u64)
        );
        let mut prompter = LinePrompter::new(std::io::stdin().lock(), std::io::stderr());
        if !prompter.confirm(&question, false).unwrap_or(false) {
            context.print_text("Nothing was forgotten.\n");
            return Ok(exit::OK);
        }
    }
    let at = hindcast_core::time_window::format_timestamp(context.now());
    let forgotten = store.forget_sessions(&chosen, &at).map_err(failure)?;
    let backups = backups_beside(&paths.db);
    if args.json {
        print_json(&json!({
            "schema": "hindcast.forget/v1",
            "session_ids": chosen,
            "sessions": forgotten.sessions,
            "messages": forgotten.messages,
            "usage_records": forgotten.usage_records,
            "backups": backups,
        }));
        return Ok(exit::OK);
    }
    let mut text = format!(
        "Forgot {} session{} ({} messages, {} usage records), sub-agents included; later imports leave them out \
         (`hindcast forget --undo` takes them back).\n",
        forgotten.sessions,
        plural(forgotten.sessions),
        forgotten.messages,
        forgotten.usage_records
    );
    if !backups.is_empty() {
        text.push_str(&format!(
            "Copies of the store made earlier still hold them; delete those to make them gone: {}\n",
            backups.join(", ")
        ));
    }
    context.print_text(&text);
    Ok(exit::OK)
}

fn undo(context: &Context, args: &ForgetArgs, store: &mut Store) -> anyhow::Result<u8> {
    let tombstones = store.tombstones().map_err(|error| ExitError::failure(error.to_string()))?;
    let mut chosen = Vec::new();
    for id in &args.sessions {
        let matching: Vec<&Tombstone> = tombstones
            .iter()
            .filter(|tombstone| {
                tombstone.session_id.starts_with(id.as_str()) || tombstone.native_id.starts_with(id.as_str())
            })
            .collect();
        match matching.as_slice() {
            [] => {
                return Err(ExitError::usage(format!(
                    "no forgotten session matches '{id}' (forget --list shows them)"
                ))
                .into());
            }
            [one] => chosen.push(one.session_id.clone()),
            _ => {
                return Err(ExitError::usage(format!(
                    "'{id}' matches {} forgotten sessions; give more of the id",
                    matching.len()
                ))
                .into());
            }
        }
    }
    let which = (!args.sessions.is_empty()).then_some(chosen.as_slice());
    let restored = store.unforget(which).map_err(|error| ExitError::failure(error.to_string()))?;
    if args.json {
        print_json(&json!({ "schema": "hindcast.forget-undo/v1", "restored": restored }));
    } else if restored.is_empty() {
        context.print_text("No session is forgotten; nothing to take back.\n");
    } else {
        print_tombstones(context, &restored, "Taken back:");
        context.print_text(&format!(
            "{} session{} no longer forgotten: the next `hindcast backfill` imports them again from their sources \
             (where the client still keeps them).\n",
            restored.len(),
            plural(restored.len() as u64)
        ));
    }
    Ok(exit::OK)
}

fn plural(count: u64) -> &'static str {
    if count == 1 { "" } else { "s" }
}

fn print_sessions(context: &Context, summaries: &[SessionSummary]) {
    let mut grid = Grid::new(&["started", "id", "client", "title", "?project"]);
    for summary in summaries {
        grid.row(vec![
            Cell::exact(
                summary
                    .started_at
                    .as_deref()
                    .map(|at| at.get(..16).unwrap_or(at).replace('T', " "))
                    .unwrap_or_default(),
            ),
            Cell::exact(sessions::short_id(&summary.session_id)),
            Cell::exact(&summary.client),
            Cell::text(summary.title.as_deref().unwrap_or("")),
            Cell::text(summary.cwd.as_deref().unwrap_or("")),
        ]);
    }
    context.print_grid(context.look.format(None), "", &grid, "");
}

fn print_tombstones(context: &Context, tombstones: &[Tombstone], heading: &str) {
    if tombstones.is_empty() {
        context.print_text("No session is forgotten.\n");
        return;
    }
    let mut grid = Grid::new(&["forgotten", "id", "client", "native id", "?project"]);
    for tombstone in tombstones {
        grid.row(vec![
            Cell::exact(tombstone.forgotten_at.get(..16).unwrap_or(&tombstone.forgotten_at).replace('T', " ")),
            Cell::exact(sessions::short_id(&tombstone.session_id)),
            Cell::exact(&tombstone.client),
            Cell::exact(&tombstone.native_id),
            Cell::text(tombstone.cwd.as_deref().unwrap_or("")),
        ]);
    }
    context.print_grid(context.look.format(None), &format!("{heading}\n"), &grid, "");
}

/// The copies of the store kept beside it before upgrades (`<db>.v<N>-backup`).
fn backups_beside(db: &std::path::Path) -> Vec<String> {
    let (Some(directory), Some(name)) = (db.parent(), db.file_name().and_then(|name| name.to_str())) else {
        return Vec::new();
    };
    let prefix = format!("{name}.v");
    let mut found: Vec<String> =
        std::fs::read_dir(if directory.as_os_str().is_empty() { std::path::Path::new(".") } else { directory })
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| entry.file_name().to_str().map(str::to_string))
            .filter(|file| file.starts_with(&prefix) && file.ends_with("-backup"))
            .map(|file| directory.join(file).display().to_string())
            .collect();
    found.sort();
    found
}
