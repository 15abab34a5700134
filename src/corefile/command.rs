//! `clusterdns corefile translate PATH` and `clusterdns corefile check PATH`.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::Path;

use crate::config::EXIT_USAGE;

const USAGE: &str = "usage: clusterdns corefile translate PATH   print the Corefile as clusterdns's TOML configuration
       clusterdns corefile check PATH       check that clusterdns can run from the Corefile";

/// Runs the subcommand given after `corefile`; returns the exit code.
pub fn run(args: &[OsString]) -> i32 {
    let args: Vec<&str> = args.iter().filter_map(|a| a.to_str()).collect();
    match args.as_slice() {
        ["translate", path] => translate(Path::new(path)),
        ["check", path] => check(Path::new(path)),
        _ => {
            eprintln!("{USAGE}");
            EXIT_USAGE
        }
    }
}

fn translate(path: &Path) -> i32 {
    match super::load(path, true) {
        Ok(loaded) => {
            print!("{}", toml_of(path, &loaded));
            0
        }
        Err(errors) => {
            eprintln!("{errors}");
            EXIT_USAGE
        }
    }
}

/// The settings as a configuration file, each with the line it came from; then, as comments,
/// what the other lines mean here and what could not be translated.
pub fn toml_of(path: &Path, loaded: &super::Loaded) -> String {
    let mut out = format!("# clusterdns configuration translated from {}\n", path.display());
    for setting in &loaded.settings {
        let _ = writeln!(out, "{} = {}  # {}", setting.key, setting.value, setting.at);
    }
    if !loaded.notes.is_empty() {
        out.push_str("\n# Lines that need no setting here:\n");
        for note in &loaded.notes {
            let _ = writeln!(out, "# {note}");
        }
    }
    if !loaded.ignored.is_empty() {
        out.push_str("\n# Not translated (clusterdns cannot serve these as written):\n");
        for note in &loaded.ignored {
            let _ = writeln!(out, "# {note}");
        }
    }
    out
}

fn check(path: &Path) -> i32 {
    let argv: Vec<OsString> = ["clusterdns", "--corefile"].iter().map(OsString::from).chain([path.into()]).collect();
    match crate::config_file::load(argv) {
        Ok(loaded) => {
            let settings = loaded.arguments.corefile.as_ref().map_or(0, |c| c.loaded.settings.len());
            println!("{}: clusterdns can run from it ({settings} settings)", path.display());
            0
        }
        Err(error) => {
            eprintln!("{error}");
            EXIT_USAGE
        }
    }
}
