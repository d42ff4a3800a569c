//! `hindcast serve`: the local web page (crates/serve) over the store, on 127.0.0.1; prints the
//! link with its one-time token, or hands it to the browser through a private file (`--open`).

use std::sync::Arc;

use hindcast_serve::{ServeOptions, Server};
use hindcast_store::Store;

use super::Context;
use crate::cli::ServeArgs;
use crate::exit::ExitError;
use crate::terminal::shown;

pub fn run(context: &Context, args: &ServeArgs) -> anyhow::Result<u8> {
    let paths = context.paths()?;
    let failure = |error: String| ExitError::failure(error);
    let pending = {
        let conn = Store::open_read_only(&paths.db).map_err(|error| failure(error.to_string()))?;
        conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM meta WHERE key = ?1) OR NOT EXISTS \
             (SELECT 1 FROM sqlite_schema WHERE name = 'search_words')",
            [hindcast_store::search::PENDING_KEY],
            |row| row.get::<_, bool>(0),
        )
        .map_err(|error| failure(error.to_string()))?
    };
    if pending {
        // The search page needs the index; an upgraded store builds it once, as `search` does.
        super::search::build_index(context, &paths.db, false)?;
    }
    let registry = context.registry.clone();
    let options = ServeOptions {
        db: paths.db.clone(),
        port: args.port,
        zone: super::stats::report_zone(context, args.timezone.as_deref(), false)?,
        shown,
        resume_command: Arc::new(move |client, native_id| registry.get(client)?.resume_command(native_id)),
    };
    let server = Server::bind(options).map_err(|error| failure(error.to_string()))?;
    eprintln!("hindcast serve: {} (read-only; Ctrl-C stops it)", paths.db.display());
    if args.open {
        let dir = std::env::var_os("XDG_RUNTIME_DIR").map(std::path::PathBuf::from).unwrap_or_else(std::env::temp_dir);
        let file = server.write_redirect_file(&dir).map_err(|error| failure(error.to_string()))?;
        let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
        match std::process::Command::new(opener).arg(&file).spawn() {
            Ok(_) => eprintln!("opened the page in your browser (through {}, readable by you alone)", file.display()),
            Err(error) => {
                eprintln!("could not start {opener} ({error}); open this link:");
                println!("{}", server.url());
            }
        }
    } else {
        println!("{}", server.url());
    }
    server.run().map_err(|error| failure(error.to_string()))?;
    Ok(crate::exit::OK)
}
