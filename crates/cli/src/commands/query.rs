//! `hindcast query SQL`: read-only SQL over the store.

use hindcast_store::Store;
use rusqlite::types::ValueRef;
use serde_json::{Value, json};

use super::Context;
use crate::cli::QueryArgs;
use crate::exit::{self, ExitError};
use crate::output::{print_json, print_stdout, table};

/// Runs one read-only statement; a statement that would write is refused (exit 2).
pub fn run(context: &Context, args: &QueryArgs) -> anyhow::Result<u8> {
    let paths = context.paths()?;
    let conn = Store::open_read_only(&paths.db).map_err(|error| ExitError::failure(error.to_string()))?;
    let mut statement = conn.prepare(&args.sql).map_err(|error| ExitError::usage(format!("invalid SQL: {error}")))?;
    if !statement.readonly() {
        return Err(ExitError::usage("hindcast query is read-only: refusing a statement that writes".into()).into());
    }
    let columns: Vec<String> = statement.column_names().map(str::to_string).collect();
    let mut rows = statement.query([]).map_err(|error| ExitError::failure(format!("query failed: {error}")))?;
    let mut values: Vec<Vec<Value>> = Vec::new();
    while let Some(row) = rows.next().map_err(|error| ExitError::failure(format!("query failed: {error}")))? {
        let record = (0..columns.len())
            .map(|index| row.get_ref(index).map(json_value))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| ExitError::failure(format!("query failed: {error}")))?;
        values.push(record);
    }
    if args.json {
        print_json(&json!({ "columns": columns, "rows": values }));
    } else {
        let header: Vec<&str> = columns.iter().map(String::as_str).collect();
        let mut rendered = table(&header);
        for record in &values {
            rendered.add_row(record.iter().map(|value| match value {
                Value::Null => String::new(),
                Value::String(text) => text.clone(),
                other => other.to_string(),
            }));
        }
        print_stdout(&format!("{rendered}\n({} row{})\n", values.len(), if values.len() == 1 { "" } else { "s" }));
    }
    Ok(exit::OK)
}

fn json_value(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(integer) => Value::from(integer),
        ValueRef::Real(real) => Value::from(real),
        ValueRef::Text(text) => Value::String(String::from_utf8_lossy(text).into_owned()),
        ValueRef::Blob(blob) => json!({ "blob_hex": hex::encode(blob) }),
    }
}
