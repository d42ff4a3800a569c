//! Where hindcast keeps its data, and the TOML config file (enabled providers, retention days).

use std::path::{Path, PathBuf};

use hindcast_core::provider::Environment;
use hindcast_store::private::{self, Tightened};
use serde::{Deserialize, Serialize};

use crate::exit::ExitError;

/// The variable that chooses the config file.
pub const CONFIG_VARIABLE: &str = "HINDCAST_CONFIG";

/// The file paths one invocation uses.
#[derive(Clone, Debug)]
pub struct Paths {
    /// `$XDG_DATA_HOME/hindcast`.
    pub data_dir: PathBuf,
    /// The store: `--db`, else `$HINDCAST_DB`, else `<data_dir>/hindcast.db`.
    pub db: PathBuf,
    /// The run envelope: `$HINDCAST_EVENTS` (`off` disables), else `<data_dir>/events.jsonl`.
    pub events: Option<PathBuf>,
    /// `$HINDCAST_CONFIG`, else `$XDG_CONFIG_HOME/hindcast/config.toml`.
    pub config: PathBuf,
    /// Whether `$HINDCAST_CONFIG` chose the config (its directory is then the user's, left as it is).
    pub config_chosen: bool,
    /// `<data_dir>/export.key`: the secret that keys the exports' hashes.
    pub export_key: PathBuf,
}

impl Paths {
    /// Resolves the paths from flags and environment.
    pub fn resolve(env: &Environment, db_flag: Option<&Path>) -> Result<Self, ExitError> {
        let data_home = env.xdg_data_home().ok_or_else(|| {
            ExitError::usage("cannot find a data directory: set HOME or XDG_DATA_HOME, or pass --db".to_string())
        })?;
        let data_dir = data_home.join("hindcast");
        let db = db_flag.map(Path::to_path_buf).unwrap_or_else(|| data_dir.join("hindcast.db"));
        let events = match env.var("HINDCAST_EVENTS") {
            Some("off") => None,
            Some(path) => Some(PathBuf::from(path)),
            None => Some(data_dir.join("events.jsonl")),
        };
        let config_home = env.xdg_config_home().unwrap_or_else(|| data_home.clone());
        let export_key = data_dir.join("export.key");
        let chosen = env.var(CONFIG_VARIABLE).filter(|path| !path.is_empty()).map(PathBuf::from);
        let config_chosen = chosen.is_some();
        let config = chosen.unwrap_or_else(|| config_home.join("hindcast/config.toml"));
        Ok(Self { data_dir, db, events, config, config_chosen, export_key })
    }

    /// Narrows what an earlier release (or the umask) left readable by others: the store and the
    /// files beside it wherever it is, and hindcast's own data and config directories with their
    /// files — never a directory the user chose for `--db`.
    pub fn tighten(&self) -> Vec<Tightened> {
        let mut tightened = private::tighten_store(&self.db);
        let mut own = vec![self.data_dir.clone()];
        if !self.config_chosen {
            own.extend(self.config.parent().map(Path::to_path_buf));
            own.push(self.config.clone());
        }
        own.extend(self.events.iter().cloned());
        own.push(self.export_key.clone());
        tightened.extend(own.iter().filter_map(|path| private::tighten(path).ok().flatten()));
        tightened
    }
}

/// The config file's contents. Every field is optional; a missing file means all defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Glob patterns over project directories whose sessions are never imported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub backfill: BackfillConfig,
    #[serde(default, skip_serializing_if = "InstallConfig::is_empty")]
    pub install: InstallConfig,
}

/// `[install]`: the per-install random id that earlier releases' exports hashed; read so that
/// their configs stay valid, no longer used (exports are keyed by the data directory's
/// `export.key`, which is never kept in a config people may share).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InstallConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl InstallConfig {
    fn is_empty(&self) -> bool {
        self.id.is_none()
    }
}

/// `[backfill]` settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BackfillConfig {
    /// Providers a plain `hindcast backfill` runs; absent means every compiled-in, available one.
    pub providers: Option<Vec<String>>,
    /// Default `--since` as a number of days back; absent means all history.
    pub retention_days: Option<u32>,
}

impl Config {
    /// Reads the config file; a missing file is the default config, a broken one a usage error.
    pub fn load(path: &Path) -> Result<Self, ExitError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(error) => return Err(ExitError::usage(format!("cannot read config {}: {error}", path.display()))),
        };
        toml::from_str(&text).map_err(|error| ExitError::usage(format!("invalid config {}: {error}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_xdg_and_overrides() {
        let env = Environment::with_home("/h");
        let paths = Paths::resolve(&env, None).unwrap();
        assert_eq!(paths.db, PathBuf::from("/h/.local/share/hindcast/hindcast.db"));
        assert_eq!(paths.events, Some(PathBuf::from("/h/.local/share/hindcast/events.jsonl")));
        assert_eq!(paths.config, PathBuf::from("/h/.config/hindcast/config.toml"));
        assert_eq!(paths.export_key, PathBuf::from("/h/.local/share/hindcast/export.key"));
        let env = Environment::with_home("/h").set_var("XDG_DATA_HOME", "/d").set_var("HINDCAST_EVENTS", "off");
        let paths = Paths::resolve(&env, Some(Path::new("/x.db"))).unwrap();
        assert_eq!((paths.db, paths.events), (PathBuf::from("/x.db"), None));
        assert_eq!(paths.data_dir, PathBuf::from("/d/hindcast"));
    }

    #[test]
    fn config_parses_and_rejects_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        assert_eq!(Config::load(&path).unwrap(), Config::default());
        std::fs::write(&path, "[backfill]\nproviders = [\"claude\"]\nretention_days = 90\n").unwrap();
        let config = Config::load(&path).unwrap();
        assert_eq!(config.backfill.providers, Some(vec!["claude".to_string()]));
        assert_eq!(config.backfill.retention_days, Some(90));
        std::fs::write(&path, "[backfill]\nretention = 90\n").unwrap();
        let error = Config::load(&path).unwrap_err();
        assert_eq!(error.code, crate::exit::USAGE);
        assert!(error.message.contains("config.toml"), "{}", error.message);
    }
}

#[cfg(test)]
mod privacy_tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn hindcasts_own_directories_and_files_are_tightened_but_a_chosen_directory_is_not() {
        let home = tempfile::tempdir().unwrap();
        let env = Environment::with_home(home.path());
        let chosen = home.path().join("chosen");
        std::fs::create_dir_all(&chosen).unwrap();
        set_mode(&chosen, 0o755);
        let db = chosen.join("x.db");
        let paths = Paths::resolve(&env, Some(&db)).unwrap();
        std::fs::create_dir_all(&paths.data_dir).unwrap();
        std::fs::create_dir_all(paths.config.parent().unwrap()).unwrap();
        for file in [&db, &private::sidecar(&db, "-wal"), paths.events.as_ref().unwrap(), &paths.config] {
            std::fs::write(file, "x").unwrap();
            set_mode(file, 0o644);
        }
        set_mode(&paths.data_dir, 0o755);
        set_mode(paths.config.parent().unwrap(), 0o755);
        let tightened: Vec<PathBuf> = paths.tighten().into_iter().map(|t| t.path).collect();
        assert_eq!(tightened.len(), 6, "{tightened:?}");
        assert_eq!((mode(&db), mode(&private::sidecar(&db, "-wal")), mode(&paths.config)), (0o600, 0o600, 0o600));
        assert_eq!((mode(&paths.data_dir), mode(paths.config.parent().unwrap())), (0o700, 0o700));
        assert_eq!(mode(&chosen), 0o755, "a directory the user chose is left alone");
        assert!(paths.tighten().is_empty(), "a second run has nothing to say");
    }
}
