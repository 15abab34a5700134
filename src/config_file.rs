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
    /// file and key when the value came from the file.
    Invalid { error: clap::Error, origin: Option<(PathBuf, String)> },
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::File(message) => f.write_str(message),
            LoadError::Invalid { error, origin: Some((file, key)) } => {
                write!(f, "config {}: key {key:?}: {}", file.display(), error.to_string().trim())
            }
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
            let key =
                arguments.from_file.iter().find(|k| arg.starts_with(&format!("--{k} ")) || arg == format!("--{k}"));
            let origin = key.cloned().zip(arguments.file.clone()).map(|(key, file)| (file, key));
            Err(LoadError::Invalid { error, origin })
        }
    }
}

#[derive(Debug)]
pub struct Arguments {
    /// The command line as given, to merge the file again on reload.
    pub original: Vec<OsString>,
    pub argv: Vec<OsString>,
    pub file: Option<PathBuf>,
    /// Keys whose value came from the file, to name them in errors.
    pub from_file: Vec<String>,
}

/// The command line with the configuration file's settings merged in.
pub fn merge(mut argv: Vec<OsString>) -> Result<Arguments, String> {
    let original = argv.clone();
    // `clusterdns check-config ...` is `clusterdns --check-config ...`.
    if argv.get(1).is_some_and(|a| a == "check-config") {
        argv[1] = "--check-config".into();
    }
    let given: Vec<String> = argv.iter().skip(1).filter_map(|a| a.to_str()).map(str::to_string).collect();
    let file =
        flag_value(&given, "--config").map(PathBuf::from).or_else(|| std::env::var_os(CONFIG_ENV).map(PathBuf::from));
    let Some(path) = file else { return Ok(Arguments { original, argv, file: None, from_file: Vec::new() }) };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("config {}: {e}", path.display()))?;
    let table: toml::Table = text.parse().map_err(|e| format!("config {}: {e}", path.display()))?;
    let command = Cli::command();
    let mut file_args: Vec<OsString> = Vec::new();
    let mut from_file = Vec::new();
    for (key, value) in &table {
        let arg = command
            .get_arguments()
            .find(|a| a.get_long() == Some(key.as_str()) && !NOT_SETTINGS.contains(&key.as_str()))
            .ok_or_else(|| format!("config {}: unknown key {key:?}", path.display()))?;
        let on_command_line = given.iter().any(|a| a == &format!("--{key}") || a.starts_with(&format!("--{key}=")));
        let in_environment = arg.get_env().is_some_and(|env| std::env::var_os(env).is_some());
        if on_command_line || in_environment {
            continue;
        }
        for item in values(value).map_err(|e| format!("config {}: key {key:?}: {e}", path.display()))? {
            match item {
                Some(text) => file_args.push(format!("--{key}={text}").into()),
                None => file_args.push(format!("--{key}").into()),
            }
        }
        from_file.push(key.clone());
    }
    let mut merged = vec![argv[0].clone()];
    merged.extend(file_args);
    merged.extend(argv.into_iter().skip(1));
    Ok(Arguments { original, argv: merged, file: Some(path), from_file })
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
