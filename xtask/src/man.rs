//! `cargo xtask man`: the man pages, rendered by clap_mangen from the command line's definition
//! (so they cannot drift from `--help`): `hindcast.1` and `hindcast-<command>.1` for every
//! subcommand, nested ones too (`hindcast-stats-daily.1`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Writes every page into `out`; returns their paths.
pub fn write(out: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut pages = Vec::new();
    let mut command = hindcast_cli::command();
    command.build();
    write_page(&command, "hindcast", out, &mut pages)?;
    Ok(pages)
}

fn write_page(command: &clap::Command, name: &str, out: &Path, pages: &mut Vec<PathBuf>) -> Result<()> {
    let mut text = Vec::new();
    clap_mangen::Man::new(command.clone()).title(name.to_string()).render(&mut text)?;
    let path = out.join(format!("{name}.1"));
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    pages.push(path);
    for sub in command.get_subcommands().filter(|sub| sub.get_name() != "help") {
        write_page(sub, &format!("{name}-{}", sub.get_name()), out, pages)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_command_has_a_page_that_says_what_it_does() {
        let dir = tempfile::tempdir().unwrap();
        let pages = super::write(dir.path()).unwrap();
        let names: Vec<String> =
            pages.iter().map(|page| page.file_name().unwrap().to_string_lossy().into_owned()).collect();
        for expected in ["hindcast.1", "hindcast-backfill.1", "hindcast-stats-daily.1", "hindcast-statusline.1"] {
            assert!(names.iter().any(|name| name == expected), "{expected} in {names:?}");
        }
        let daily = std::fs::read_to_string(dir.path().join("hindcast-stats-daily.1")).unwrap();
        assert!(daily.contains("timezone") && daily.contains("Per day"), "{daily}");
    }
}
