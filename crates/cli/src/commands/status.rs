//! `hindcast status`: the store at a glance — where it is, its size and schema, the last import
//! and how it ended, and each client's sessions, messages and date range.

use hindcast_store::Store;
use serde::Serialize;
use serde_json::json;

use super::Context;
use crate::exit::{self, ExitError};
use crate::grid::{Cell, Grid};
use crate::output::{human_bytes, print_json};

#[derive(Debug, Serialize)]
struct ClientHistory {
    client: String,
    sessions: i64,
    messages: i64,
    first: Option<String>,
    last: Option<String>,
}

#[derive(Debug, Serialize)]
struct LastRun {
    run_id: String,
    started_at: String,
    finished_at: Option<String>,
    status: String,
}

pub fn run(context: &Context, json: bool) -> anyhow::Result<u8> {
    let paths = context.paths()?;
    let conn = Store::open_read_only(&paths.db).map_err(|error| ExitError::failure(error.to_string()))?;
    let bytes: u64 = ["", "-wal"]
        .iter()
        .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", paths.db.display())).ok())
        .map(|metadata| metadata.len())
        .sum();
    let meta = |key: &str| -> Option<String> {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| row.get(0)).ok()
    };
    let schema = meta("schema_version");
    let price_table = meta("price_table");
    // Runs the status line shares are not imports a person started.
    let last_run = conn
        .query_row(
            "SELECT run_id, started_at, finished_at, status FROM run WHERE status NOT IN ('shared', 'unrecorded') \
             ORDER BY started_at DESC LIMIT 1",
            [],
            |row| {
                Ok(LastRun {
                    run_id: row.get(0)?,
                    started_at: row.get(1)?,
                    finished_at: row.get(2)?,
                    status: row.get(3)?,
                })
            },
        )
        .ok();
    let mut statement = conn.prepare(
        "SELECT s.client, count(*), min(s.started_at), max(coalesce(s.ended_at, s.started_at)), \
         (SELECT coalesce(sum(r.messages), 0) FROM quarter_rollup r WHERE r.client = s.client) \
         FROM session s GROUP BY s.client ORDER BY s.client",
    )?;
    let clients: Vec<ClientHistory> = statement
        .query_map([], |row| {
            Ok(ClientHistory {
                client: row.get(0)?,
                sessions: row.get(1)?,
                first: row.get(2)?,
                last: row.get(3)?,
                messages: row.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    // A store from before forgetting existed has no tombstones.
    let forgotten: i64 = conn.query_row("SELECT count(*) FROM forgotten", [], |row| row.get(0)).unwrap_or(0);
    let exclude = crate::config::Config::load(&paths.config)?.exclude;
    let schedule = super::schedule::state(context)?;
    let last_import = last_run.as_ref().and_then(|run| run.started_at.parse::<jiff::Timestamp>().ok());
    let cleanup = if clients.iter().any(|client| client.client == "claude") {
        super::schedule::cleanup_warning(context, schedule.installed.is_some(), last_import)
    } else {
        None
    };
    if json {
        print_json(&json!({
            "schema": "hindcast.status/v1",
            "store": paths.db,
            "bytes": bytes,
            "schema_version": schema,
            "price_table": price_table,
            "last_run": last_run,
            "clients": clients,
            "forgotten": forgotten,
            "exclude": exclude,
            "schedule": schedule,
            "warnings": cleanup.iter().chain(&schedule.warnings).collect::<Vec<_>>(),
        }));
        return Ok(exit::OK);
    }
    let mut text = format!(
        "Store: {} ({}, schema {}, priced with {})\n",
        paths.db.display(),
        human_bytes(bytes),
        schema.as_deref().unwrap_or("?"),
        price_table.as_deref().unwrap_or("no table yet")
    );
    match &last_run {
        Some(run) => text.push_str(&format!(
            "Last import: {} ({}{})\n",
            run.started_at.get(..16).unwrap_or(&run.started_at).replace('T', " "),
            run.status,
            run.finished_at.as_deref().map_or_else(String::new, |finished| format!(
                ", finished {}",
                finished.get(11..16).unwrap_or(finished)
            ))
        )),
        None => text.push_str("Last import: none recorded\n"),
    }
    let mut rendered = Grid::new(&["client", "sessions", "messages", "first", "last"]);
    let day = |text: &Option<String>| text.as_deref().and_then(|text| text.get(..10)).unwrap_or("-").to_string();
    for client in &clients {
        rendered.row(vec![
            Cell::exact(&client.client),
            Cell::Count(client.sessions),
            Cell::Count(client.messages),
            Cell::exact(day(&client.first)),
            Cell::exact(day(&client.last)),
        ]);
    }
    let mut after = String::new();
    if forgotten > 0 || !exclude.is_empty() {
        let patterns: Vec<String> =
            exclude.iter().map(|pattern| crate::terminal::shown(pattern).into_owned()).collect();
        after.push_str(&format!(
            "Kept out: {forgotten} forgotten session{} (hindcast forget --list){}\n",
            if forgotten == 1 { "" } else { "s" },
            if patterns.is_empty() { String::new() } else { format!("; projects matching {}", patterns.join(", ")) }
        ));
    }
    after.push_str(&super::schedule::describe(&schedule));
    if let Some(cleanup) = &cleanup {
        after.push_str(&format!("warning: {cleanup}\n"));
    }
    context.print_report(&context.look, &text, &rendered, &after);
    Ok(exit::OK)
}
