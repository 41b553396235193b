//! The profiles file: named switches and a default.
//!
//! ```toml
//! default = "fs1"
//!
//! [profiles.fs1]
//! host = "10.0.0.1"
//! port = 8021
//! password = "ClueCon"
//! user = "1000@default"   # userauth instead of auth
//! timeout = 10            # seconds, connect and each reply
//! job_timeout = 120       # seconds, a bgapi job or an originate
//! ```
//!
//! It lives at `$XDG_CONFIG_HOME/librevox/config.toml` (by default
//! `~/.config/librevox/config.toml`), or wherever `--config` /
//! `LIBREVOX_CONFIG` says.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use etcetera::BaseStrategy;
use serde::Deserialize;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfigFile {
    /// The profile used when none is named.
    pub(crate) default: Option<String>,
    /// Named switches.
    #[serde(default)]
    pub(crate) profiles: BTreeMap<String, Profile>,
}

/// One switch. Every field is optional: what a profile leaves out comes
/// from the environment or the built-in defaults.
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Profile {
    pub(crate) host: Option<String>,
    pub(crate) port: Option<u16>,
    pub(crate) password: Option<String>,
    pub(crate) user: Option<String>,
    pub(crate) timeout: Option<f64>,
    pub(crate) job_timeout: Option<f64>,
}

/// Where the file is looked for when `--config` is not given.
pub(crate) fn default_path() -> Option<PathBuf> {
    etcetera::choose_base_strategy()
        .ok()
        .map(|s| s.config_dir().join("librevox").join("config.toml"))
}

/// Where the console keeps its history.
pub(crate) fn history_path() -> Option<PathBuf> {
    etcetera::choose_base_strategy()
        .ok()
        .map(|s| s.data_dir().join("librevox").join("history"))
}

/// Reads the file at `path`. A file that does not exist is an empty
/// configuration when it was not asked for by name (`explicit` false).
pub(crate) fn load(path: &Path, explicit: bool) -> Result<ConfigFile, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(ConfigFile::default())
        }
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let file: ConfigFile = toml::from_str(&text)
        .map_err(|e| format!("{}: {}", path.display(), e.to_string().trim_end()))?;
    if let Some(d) = &file.default {
        if !file.profiles.contains_key(d) {
            return Err(format!(
                "{}: `default = \"{d}\"` names no profile ({})",
                path.display(),
                names(&file)
            ));
        }
    }
    if file.profiles.values().any(|p| p.password.is_some()) {
        if let Some(warning) = permission_warning(path) {
            eprintln!("librevox: warning: {warning}");
        }
    }
    Ok(file)
}

/// The profiles' names, for messages.
pub(crate) fn names(file: &ConfigFile) -> String {
    if file.profiles.is_empty() {
        "it defines none".to_owned()
    } else {
        let list: Vec<&str> = file.profiles.keys().map(String::as_str).collect();
        format!("it has {}", list.join(", "))
    }
}

/// A warning when a file holding passwords can be read by every user.
#[cfg(unix)]
fn permission_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o004 != 0).then(|| {
        format!(
            "{} holds a password and every user can read it (mode {:o}); run `chmod 600 {}`",
            path.display(),
            mode & 0o777,
            path.display()
        )
    })
}

#[cfg(not(unix))]
fn permission_warning(_path: &Path) -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str, text: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("librevox-config-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn reads_profiles_and_the_default() {
        let path = temp(
            "ok",
            "default = \"a\"\n[profiles.a]\nhost = \"h\"\nport = 1\n[profiles.b]\nuser = \"u@d\"\n",
        );
        let f = load(&path, true).unwrap();
        assert_eq!(f.default.as_deref(), Some("a"));
        assert_eq!(f.profiles["a"].host.as_deref(), Some("h"));
        assert_eq!(f.profiles["a"].port, Some(1));
        assert_eq!(f.profiles["b"].user.as_deref(), Some("u@d"));
    }

    #[test]
    fn a_typo_names_the_key_and_the_line() {
        let path = temp("typo", "[profiles.a]\nhots = \"h\"\n");
        let e = load(&path, true).unwrap_err();
        assert!(e.contains("hots") && e.contains("line 2"), "{e}");
    }

    #[test]
    fn a_default_naming_no_profile_is_refused() {
        let path = temp("nodefault", "default = \"x\"\n[profiles.a]\n");
        let e = load(&path, true).unwrap_err();
        assert!(e.contains("names no profile (it has a)"), "{e}");
    }

    #[test]
    fn a_missing_file_is_empty_unless_asked_for() {
        let path = std::env::temp_dir().join("librevox-no-such-dir/config.toml");
        assert!(load(&path, false).unwrap().profiles.is_empty());
        assert!(load(&path, true).unwrap_err().contains("cannot read"));
    }

    #[cfg(unix)]
    #[test]
    fn world_readable_passwords_are_flagged() {
        use std::os::unix::fs::PermissionsExt;
        let path = temp("perm", "[profiles.a]\npassword = \"p\"\n");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let w = permission_warning(&path).unwrap();
        assert!(w.contains("mode 644") && w.contains("chmod 600"), "{w}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(permission_warning(&path), None);
    }
}
