//! `hindcast backup PATH`: a consistent copy of the store (SQLite's backup API), private.

use hindcast_store::{Store, copy_store};

use super::Context;
use crate::cli::BackupArgs;
use crate::exit::{self, ExitError};

pub fn run(context: &Context, args: &BackupArgs) -> anyhow::Result<u8> {
    let paths = context.paths()?;
    let conn = Store::open_read_only(&paths.db).map_err(|error| ExitError::failure(error.to_string()))?;
    copy_store(&conn, &paths.db, &args.path).map_err(|error| match error {
        hindcast_store::BackupError::Exists { .. } => ExitError::usage(error.to_string()),
        other => ExitError::failure(other.to_string()),
    })?;
    context.print_text(&format!("Copied the store {} to {}\n", paths.db.display(), args.path.display()));
    Ok(exit::OK)
}
