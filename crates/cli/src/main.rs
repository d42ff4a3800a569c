//! The `hindcast` binary: parses the command line and runs the command (see `hindcast --help`).

fn main() -> std::process::ExitCode {
    hindcast_cli::main_with(hindcast_cli::EntryOptions::default())
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
