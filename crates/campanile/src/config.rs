//! `campanile.cfg`: the per-instance settings the EMR bootstrap action writes.
//!
//! INI, section `[DEFAULT]` (keys before any section count too):
//! - `maxtmpsize`: bytes of an object or part kept in memory before spilling to disk
//!   (the bootstrap derives it from the instance's memory);
//! - `ephemeral`: comma-separated directories for spilled data; one is picked at random
//!   per object to spread disk load.
//!
//! Files are searched in order and the **first file that sets a value wins**, value by
//! value: the explicit `--config`, then the instance file `/etc/campanile.cfg` (written
//! by the EMR bootstrap action for the node's memory and disks), then
//! `./campanile.cfg` (the sample or default staged with the code and shipped into every
//! task's working directory by `-files`), then the built-in defaults. The instance file
//! comes before the shipped one because it describes the machine the task runs on,
//! while the shipped file is the same on every node. (The original Python passed the
//! list to `ConfigParser.read`, where the last file won.) Missing files are skipped,
//! except a `--config` file the user named explicitly.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// Default `maxtmpsize`: 128 MiB, what the original bootstrap wrote for an m2.xlarge.
pub const DEFAULT_MAX_TMP_SIZE: u64 = 128 * 1024 * 1024;

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Built-in default.
    Default,
    /// The file that set it.
    File(PathBuf),
    /// The environment variable that set it.
    Env(&'static str),
}

/// Environment variable that sets `maxtmpsize` over the files (not over `--config`):
/// `rsync --local` gives each task its share of the run's memory budget this way.
pub const MAX_TMP_SIZE_ENV: &str = "CAMPANILE_MAXTMPSIZE";

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File(path) => write!(f, "{}", path.display()),
            Source::Env(name) => write!(f, "${name}"),
        }
    }
}

/// The effective settings, with where each came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Bytes kept in memory before spilling to disk.
    pub max_tmp_size: u64,
    /// Where `max_tmp_size` came from.
    pub max_tmp_size_source: Source,
    /// Directories for spilled data.
    pub ephemeral: Vec<PathBuf>,
    /// Where `ephemeral` came from.
    pub ephemeral_source: Source,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_tmp_size: DEFAULT_MAX_TMP_SIZE,
            max_tmp_size_source: Source::Default,
            ephemeral: vec![std::env::temp_dir()],
            ephemeral_source: Source::Default,
        }
    }
}

/// The instance file the bootstrap action writes.
pub const INSTANCE_CONFIG: &str = "/etc/campanile.cfg";

/// The file shipped with the code into each task's working directory (`-files`).
pub const SHIPPED_CONFIG: &str = "./campanile.cfg";

/// Prefix of the instance file, as for the bootstrap action, which honours the same
/// variable: `$CAMPANILE_ROOT/etc/campanile.cfg`. Lets tests run the bootstrap and a
/// task against a temporary root instead of the machine's `/etc`.
pub const ROOT_ENV: &str = "CAMPANILE_ROOT";

/// The instance file: `/etc/campanile.cfg`, under `$CAMPANILE_ROOT` when that is set.
pub fn instance_path() -> PathBuf {
    match std::env::var_os(ROOT_ENV) {
        Some(root) if !root.is_empty() => PathBuf::from(root).join("etc/campanile.cfg"),
        _ => PathBuf::from(INSTANCE_CONFIG),
    }
}

/// The files searched, in order: the explicit `--config`, the instance file, then the
/// shipped `./campanile.cfg` (each once).
pub fn search_path(explicit: Option<&Path>) -> Vec<PathBuf> {
    search_path_with(explicit, &instance_path())
}

/// [`search_path`] with the instance file given.
pub fn search_path_with(explicit: Option<&Path>, instance: &Path) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    if let Some(path) = explicit {
        paths.push(path.to_path_buf());
    }
    for default in [instance.to_path_buf(), PathBuf::from(SHIPPED_CONFIG)] {
        if !paths.contains(&default) {
            paths.push(default);
        }
    }
    paths
}

impl Config {
    /// Loads the settings for a task: `explicit` is the user's `--config`, which must
    /// exist when given.
    pub fn load(explicit: Option<&Path>) -> Result<Config, Error> {
        if let Some(path) = explicit
            && !path.exists()
        {
            return Err(Error::Config {
                path: path.to_path_buf(),
                message: "no such file (given with --config)".to_string(),
            });
        }
        let mut config = Self::load_from(&search_path(explicit))?;
        let from_explicit = explicit
            .is_some_and(|path| config.max_tmp_size_source == Source::File(path.to_path_buf()));
        if !from_explicit && let Ok(value) = std::env::var(MAX_TMP_SIZE_ENV) {
            config.max_tmp_size = value.trim().parse().map_err(|_| Error::Config {
                path: PathBuf::from(format!("${MAX_TMP_SIZE_ENV}")),
                message: format!("must be a number of bytes, found {value:?}"),
            })?;
            config.max_tmp_size_source = Source::Env(MAX_TMP_SIZE_ENV);
        }
        Ok(config)
    }

    /// Loads from `paths` in order, skipping files that do not exist.
    pub fn load_from(paths: &[PathBuf]) -> Result<Config, Error> {
        let mut config = Config::default();
        let mut max_tmp_size_set = false;
        let mut ephemeral_set = false;
        for path in paths.iter().filter(|p| p.is_file()) {
            let ini = ini::Ini::load_from_file(path).map_err(|e| Error::Config {
                path: path.clone(),
                message: e.to_string(),
            })?;
            let lookup = |key: &str| {
                ini.section(Some("DEFAULT"))
                    .and_then(|s| s.get(key))
                    .or_else(|| ini.general_section().get(key))
                    .map(str::trim)
            };
            if !max_tmp_size_set && let Some(value) = lookup("maxtmpsize") {
                config.max_tmp_size = value.parse().map_err(|_| Error::Config {
                    path: path.clone(),
                    message: format!("maxtmpsize must be a number of bytes, found {value:?}"),
                })?;
                config.max_tmp_size_source = Source::File(path.clone());
                max_tmp_size_set = true;
            }
            if !ephemeral_set && let Some(value) = lookup("ephemeral") {
                let dirs: Vec<PathBuf> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|d| !d.is_empty())
                    .map(PathBuf::from)
                    .collect();
                if dirs.is_empty() {
                    return Err(Error::Config {
                        path: path.clone(),
                        message: "ephemeral lists no directory".to_string(),
                    });
                }
                config.ephemeral = dirs;
                config.ephemeral_source = Source::File(path.clone());
                ephemeral_set = true;
            }
        }
        Ok(config)
    }

    /// The effective values and their sources, one per line (for `--debug`).
    pub fn describe(&self) -> String {
        let dirs: Vec<String> = self
            .ephemeral
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        format!(
            "maxtmpsize={} (from {})\nephemeral={} (from {})",
            self.max_tmp_size,
            self.max_tmp_size_source,
            dirs.join(","),
            self.ephemeral_source
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn first_file_that_sets_a_value_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = write(dir.path(), "a.cfg", "[DEFAULT]\nmaxtmpsize=1000\n");
        let second = write(
            dir.path(),
            "b.cfg",
            "[DEFAULT]\nmaxtmpsize=2000\nephemeral=/mnt, /mnt1\n",
        );
        let config = Config::load_from(&[first.clone(), second.clone()]).expect("load");
        assert_eq!(config.max_tmp_size, 1000);
        assert_eq!(config.max_tmp_size_source, Source::File(first));
        assert_eq!(
            config.ephemeral,
            vec![PathBuf::from("/mnt"), PathBuf::from("/mnt1")]
        );
        assert_eq!(config.ephemeral_source, Source::File(second));
        assert!(config.describe().contains("maxtmpsize=1000 (from "));
    }

    #[test]
    fn missing_files_are_skipped_and_defaults_apply() {
        let config =
            Config::load_from(&[PathBuf::from("/nonexistent/campanile.cfg")]).expect("load");
        assert_eq!(config, Config::default());
    }

    #[test]
    fn an_explicit_missing_file_is_an_error() {
        let error = Config::load(Some(Path::new("/nonexistent/x.cfg"))).expect_err("missing");
        assert_eq!(error.exit_code(), 2);
        assert!(error.to_string().contains("--config"));
    }

    #[test]
    fn bad_values_name_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bad = write(dir.path(), "bad.cfg", "[DEFAULT]\nmaxtmpsize=lots\n");
        let error = Config::load_from(&[bad]).expect_err("bad");
        assert!(error.to_string().contains("bad.cfg"));
        assert!(error.to_string().contains("\"lots\""));
    }

    #[test]
    fn keys_outside_a_section_count() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(dir.path(), "plain.cfg", "maxtmpsize=42\n");
        assert_eq!(Config::load_from(&[path]).expect("load").max_tmp_size, 42);
    }

    #[test]
    fn search_path_order() {
        assert_eq!(
            search_path_with(Some(Path::new("/x/c.cfg")), Path::new(INSTANCE_CONFIG)),
            vec![
                PathBuf::from("/x/c.cfg"),
                PathBuf::from("/etc/campanile.cfg"),
                PathBuf::from("./campanile.cfg")
            ]
        );
        assert_eq!(
            search_path_with(None, Path::new("/root/etc/campanile.cfg")),
            vec![
                PathBuf::from("/root/etc/campanile.cfg"),
                PathBuf::from("./campanile.cfg")
            ]
        );
        assert_eq!(search_path(None).len(), 2);
        // An explicit ./campanile.cfg is read first, and only once.
        assert_eq!(
            search_path_with(Some(Path::new(SHIPPED_CONFIG)), Path::new(INSTANCE_CONFIG)),
            vec![
                PathBuf::from("./campanile.cfg"),
                PathBuf::from("/etc/campanile.cfg")
            ]
        );
    }

    /// The bootstrap's instance file beats the sample shipped with the code, value by
    /// value; an explicit file beats both.
    #[test]
    fn the_instance_file_beats_the_shipped_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let instance = write(
            dir.path(),
            "instance.cfg",
            "[DEFAULT]\nmaxtmpsize=1073741824\nephemeral=/mnt,/mnt1\n",
        );
        let shipped = write(
            dir.path(),
            "campanile.cfg",
            "[DEFAULT]\nmaxtmpsize=134217728\nephemeral=/tmp\n",
        );
        let config = Config::load_from(&[instance.clone(), shipped.clone()]).expect("load");
        assert_eq!(config.max_tmp_size, 1_073_741_824);
        assert_eq!(config.max_tmp_size_source, Source::File(instance.clone()));
        assert_eq!(
            config.ephemeral,
            vec![PathBuf::from("/mnt"), PathBuf::from("/mnt1")]
        );
        // The shipped file still fills in what the instance file leaves out.
        let partial = write(dir.path(), "partial.cfg", "[DEFAULT]\nmaxtmpsize=42\n");
        let config = Config::load_from(&[partial, shipped.clone()]).expect("load");
        assert_eq!(config.max_tmp_size, 42);
        assert_eq!(config.ephemeral, vec![PathBuf::from("/tmp")]);
        assert_eq!(config.ephemeral_source, Source::File(shipped));
        // --config comes first in the search path, so it beats the instance file.
        let explicit = write(dir.path(), "explicit.cfg", "[DEFAULT]\nmaxtmpsize=7\n");
        let config =
            Config::load_from(&search_path_with(Some(&explicit), &instance)).expect("load");
        assert_eq!(config.max_tmp_size, 7);
        assert_eq!(config.max_tmp_size_source, Source::File(explicit));
        assert_eq!(config.ephemeral_source, Source::File(instance));
    }
}
