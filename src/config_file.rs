//! The TOML configuration file (`--config PATH` or `CLUSTERDNS_CONFIG`): every flag can be a
//! key of the same name. Precedence: flag > environment (`CLUSTERDNS_*`) > file > default.
//!
//! The file's settings become command-line arguments placed before the real ones, except
//! where a flag or an environment variable already sets the same key; so the flag parser does
//! all validation, and one set of rules applies to all three sources.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::error::ContextKind;
use clap::{CommandFactory, FromArgMatches};

use crate::config::{Cli, NOT_SETTINGS, Settings};

pub const CONFIG_ENV: &str = "CLUSTERDNS_CONFIG";
const COREFILE_ENV: &str = "CLUSTERDNS_COREFILE";
const IGNORE_UNSUPPORTED: &str = "corefile-ignore-unsupported";
const IGNORE_UNSUPPORTED_ENV: &str = "CLUSTERDNS_COREFILE_IGNORE_UNSUPPORTED";

/// A configuration read and checked: the typed settings, each key's values as given, and the
/// command line with the file merged in.
pub struct Loaded {
    pub cli: Cli,
    pub settings: Settings,
    pub arguments: Arguments,
}

#[derive(Debug)]
pub enum LoadError {
    /// The file cannot be read, is not TOML, or names an unknown key.
    File(String),
    /// A flag or a value is wrong (or help or the version was asked for); `origin` names the
    /// file and key (or Corefile line) when the value came from a file.
    Invalid { error: clap::Error, origin: Option<String> },
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::File(message) => f.write_str(message),
            LoadError::Invalid { error, origin: Some(origin) } => write!(f, "{origin}: {}", error.to_string().trim()),
            LoadError::Invalid { error, origin: None } => f.write_str(error.to_string().trim()),
        }
    }
}

/// The one way the configuration is read, at start and on every reload: the file merged into
/// the command line, then every value checked by the flag parser.
pub fn load(argv: Vec<OsString>) -> Result<Loaded, LoadError> {
    let arguments = merge(argv).map_err(LoadError::File)?;
    let parsed = Cli::command().args_override_self(true).try_get_matches_from(&arguments.argv);
    let parsed = parsed.and_then(|matches| Ok((Cli::from_arg_matches(&matches)?, matches)));
    match parsed {
        Ok((cli, matches)) => Ok(Loaded { cli, settings: Settings::from_matches(&matches), arguments }),
        Err(error) => {
            let arg = error.get(ContextKind::InvalidArg).map(ToString::to_string).unwrap_or_default();
            let named = |k: &String| arg.starts_with(&format!("--{k} ")) || arg == format!("--{k}");
            let origin = arguments.origins.iter().find(|(key, _)| named(key)).map(|(_, origin)| origin.clone());
            Err(LoadError::Invalid { error, origin })
        }
    }
}

#[derive(Debug)]
pub struct Arguments {
    /// The command line as given, to merge the files again on reload.
    pub original: Vec<OsString>,
    pub argv: Vec<OsString>,
    pub file: Option<PathBuf>,
    /// Where each key set by a file came from, to name it in errors.
    pub origins: Vec<(String, String)>,
    pub corefile: Option<CorefileState>,
}

/// The Corefile in use and what it translated to.
#[derive(Debug, Clone)]
pub struct CorefileState {
    pub path: PathBuf,
    pub loaded: crate::corefile::Loaded,
}

/// The command line with the configuration file's settings, and below them the Corefile's,
/// merged in.
pub fn merge(mut argv: Vec<OsString>) -> Result<Arguments, String> {
    let original = argv.clone();
    // `clusterdns check-config ...` is `clusterdns --check-config ...`.
    if argv.get(1).is_some_and(|a| a == "check-config") {
        argv[1] = "--check-config".into();
    }
    // CoreDNS's own `-conf PATH` (what its Deployment passes): an image swap needs no new args.
    for arg in argv.iter_mut().skip(1) {
        if arg == "-conf" {
            *arg = "--corefile".into();
        } else if let Some(path) = arg.to_str().and_then(|a| a.strip_prefix("-conf=")) {
            *arg = format!("--corefile={path}").into();
        }
    }
    let given: Vec<String> = argv.iter().skip(1).filter_map(|a| a.to_str()).map(str::to_string).collect();
    let command = Cli::command();
    // Set by a flag or an environment variable: files do not override it.
    let is_given = |key: &str| {
        let on_command_line = given.iter().any(|a| a == &format!("--{key}") || a.starts_with(&format!("--{key}=")));
        let env = command.get_arguments().find(|a| a.get_long() == Some(key)).and_then(|a| a.get_env());
        on_command_line || env.is_some_and(|env| std::env::var_os(env).is_some())
    };
    let file =
        flag_value(&given, "--config").map(PathBuf::from).or_else(|| std::env::var_os(CONFIG_ENV).map(PathBuf::from));
    let table: toml::Table = match &file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("config {}: {e}", path.display()))?;
            text.parse().map_err(|e| format!("config {}: {e}", path.display()))?
        }
        None => toml::Table::new(),
    };
    let mut file_args: Vec<OsString> = Vec::new();
    let mut origins = Vec::new();
    let file_name = file.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    for (key, value) in &table {
        command
            .get_arguments()
            .find(|a| a.get_long() == Some(key.as_str()) && !NOT_SETTINGS.contains(&key.as_str()))
            .ok_or_else(|| format!("config {file_name}: unknown key {key:?}"))?;
        if is_given(key) {
            continue;
        }
        let items = values(value).map_err(|e| format!("config {file_name}: key {key:?}: {e}"))?;
        push_args(&mut file_args, key, items);
        origins.push((key.clone(), format!("config {file_name}: key {key:?}")));
    }
    let corefile = corefile_of(&given, &table, &is_given)?;
    let mut corefile_args: Vec<OsString> = Vec::new();
    for setting in corefile.iter().flat_map(|c| &c.loaded.settings) {
        if is_given(setting.key) || table.contains_key(setting.key) {
            continue;
        }
        let items = values(&setting.value).map_err(|e| format!("{}: {e}", setting.at))?;
        push_args(&mut corefile_args, setting.key, items);
        origins.push((setting.key.to_string(), format!("{} (key {:?})", setting.at, setting.key)));
    }
    let mut merged = vec![argv[0].clone()];
    merged.extend(corefile_args);
    merged.extend(file_args);
    merged.extend(argv.into_iter().skip(1));
    Ok(Arguments { original, argv: merged, file, origins, corefile })
}

fn push_args(args: &mut Vec<OsString>, key: &str, items: Vec<Option<String>>) {
    for item in items {
        match item {
            Some(text) => args.push(format!("--{key}={text}").into()),
            None => args.push(format!("--{key}").into()),
        }
    }
}

/// The Corefile named by a flag, the environment or the configuration file, read and
/// translated.
fn corefile_of(
    given: &[String],
    table: &toml::Table,
    is_given: &dyn Fn(&str) -> bool,
) -> Result<Option<CorefileState>, String> {
    let path = flag_value(given, "--corefile")
        .or_else(|| std::env::var(COREFILE_ENV).ok())
        .or_else(|| table.get("corefile").and_then(|v| v.as_str()).map(str::to_string));
    let Some(path) = path.map(PathBuf::from) else { return Ok(None) };
    let ignore = if is_given(IGNORE_UNSUPPORTED) {
        given.iter().any(|a| a == &format!("--{IGNORE_UNSUPPORTED}"))
            || std::env::var(IGNORE_UNSUPPORTED_ENV).is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"))
    } else {
        table.get(IGNORE_UNSUPPORTED).and_then(toml::Value::as_bool).unwrap_or(false)
    };
    let loaded = crate::corefile::load(&path, ignore)?;
    Ok(Some(CorefileState { path, loaded }))
}

fn flag_value(args: &[String], flag: &str) -> Option<String> {
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == flag {
            return iter.next().cloned();
        }
        if let Some(value) = arg.strip_prefix(&format!("{flag}=")) {
            return Some(value.to_string());
        }
    }
    None
}

/// A TOML value as flag values: `Some(text)` per value, `None` for a switch that is on.
fn values(value: &toml::Value) -> Result<Vec<Option<String>>, String> {
    Ok(match value {
        toml::Value::String(s) => vec![Some(s.clone())],
        toml::Value::Integer(i) => vec![Some(i.to_string())],
        toml::Value::Float(f) => vec![Some(f.to_string())],
        toml::Value::Boolean(true) => vec![None],
        toml::Value::Boolean(false) => Vec::new(),
        toml::Value::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                match item {
                    toml::Value::Array(_) | toml::Value::Table(_) => {
                        return Err("lists may hold only plain values".into());
                    }
                    other => out.extend(values(other)?),
                }
            }
            out
        }
        toml::Value::Datetime(d) => vec![Some(d.to_string())],
        toml::Value::Table(_) => return Err("a table is not a setting".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(file: &str, args: &[&str]) -> Result<Vec<String>, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clusterdns.toml");
        std::fs::write(&path, file).unwrap();
        let mut argv: Vec<OsString> = vec!["clusterdns".into(), "--config".into(), path.clone().into()];
        argv.extend(args.iter().map(OsString::from));
        merge(argv).map(|a| a.argv.iter().skip(1).map(|s| s.to_string_lossy().into_owned()).collect())
    }

    #[test]
    fn file_settings_go_before_the_flags_and_yield_to_them() {
        let args = merged(
            "ttl = 30\nlisten = [\"127.0.0.1:53\", \"[::1]:53\"]\nno-reverse-fallthrough = true\n",
            &["--ttl", "7"],
        )
        .unwrap();
        assert!(!args.iter().any(|a| a == "--ttl=30"), "the flag wins: {args:?}");
        assert!(args.contains(&"--listen=127.0.0.1:53".to_string()) && args.contains(&"--listen=[::1]:53".to_string()));
        assert!(args.contains(&"--no-reverse-fallthrough".to_string()));
    }

    #[test]
    fn unknown_keys_are_errors_that_name_the_key_and_the_file() {
        let error = merged("ttl = 30\ncolour = \"blue\"\n", &[]).unwrap_err();
        assert!(error.contains("unknown key \"colour\"") && error.contains("clusterdns.toml"), "{error}");
        let error = merged("[upstream]\nx = 1\n", &[]).unwrap_err();
        assert!(error.contains("upstream"), "{error}");
    }
}
