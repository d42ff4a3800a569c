//! Where hindcast keeps its data, and the TOML config file (enabled providers, retention days).

use std::path::{Path, PathBuf};

use hindcast_core::provider::Environment;
use serde::{Deserialize, Serialize};

use crate::exit::ExitError;

/// The file paths one invocation uses.
#[derive(Clone, Debug)]
pub struct Paths {
    /// `$XDG_DATA_HOME/hindcast`.
    pub data_dir: PathBuf,
    /// The store: `--db`, else `$HINDCAST_DB`, else `<data_dir>/hindcast.db`.
    pub db: PathBuf,
    /// The run envelope: `$HINDCAST_EVENTS` (`off` disables), else `<data_dir>/events.jsonl`.
    pub events: Option<PathBuf>,
    /// `$XDG_CONFIG_HOME/hindcast/config.toml`.
    pub config: PathBuf,
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
        Ok(Self { data_dir, db, events, config: config_home.join("hindcast/config.toml") })
    }
}

/// The config file's contents. Every field is optional; a missing file means all defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub backfill: BackfillConfig,
    #[serde(default, skip_serializing_if = "InstallConfig::is_empty")]
    pub install: InstallConfig,
}

/// `[install]`: the per-install random id that exports hash (never a user name).
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

/// The install id from the config, creating and appending one on first use.
pub fn ensure_install_id(path: &Path) -> Result<String, ExitError> {
    let config = Config::load(path)?;
    if let Some(id) = config.install.id.filter(|id| !id.trim().is_empty()) {
        return Ok(id);
    }
    let id = uuid::Uuid::new_v4().to_string();
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    let separator = if existing.is_empty() || existing.ends_with('\n') { "" } else { "\n" };
    let text = format!("{existing}{separator}\n[install]\n# random, per-install; exports hash it\nid = \"{id}\"\n");
    let write = || -> std::io::Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)
    };
    write()
        .map_err(|error| ExitError::failure(format!("cannot write the install id to {}: {error}", path.display())))?;
    Ok(id)
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
mod install_tests {
    use super::*;

    #[test]
    fn install_id_is_created_once_and_kept_with_the_rest_of_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hindcast/config.toml");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "[backfill]\nretention_days = 30").unwrap();
        let first = ensure_install_id(&path).unwrap();
        assert_eq!(ensure_install_id(&path).unwrap(), first);
        let config = Config::load(&path).unwrap();
        assert_eq!(config.backfill.retention_days, Some(30));
        assert_eq!(config.install.id.as_deref(), Some(first.as_str()));
    }
}
