//! CoreDNS's configuration, read as CoreDNS reads it: the Corefile a cluster already has
//! (`--corefile PATH`) becomes clusterdns's own settings.

pub mod command;
pub mod glob;
pub mod lexer;
pub mod parse;
pub mod plugins;
pub mod translate;

use std::path::{Path, PathBuf};

use translate::{Note, Setting};

/// A Corefile read and translated.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub settings: Vec<Setting>,
    /// Lines that ask for what clusterdns does anyway, or that change no answer.
    pub notes: Vec<Note>,
    /// Lines clusterdns cannot serve, left out because the operator said so.
    pub ignored: Vec<Note>,
    /// Every file read, with its text: a reload compares them.
    pub sources: Vec<(PathBuf, String)>,
}

/// Reads the Corefile at `path` and what it imports, and translates it. The error lists every
/// problem, one `file:line: what is wrong` per line. Lines clusterdns cannot serve are errors
/// too, unless `ignore_unsupported`.
pub fn load(path: &Path, ignore_unsupported: bool) -> Result<Loaded, String> {
    let corefile = parse::load(path, &|name| std::env::var(name).ok()).map_err(|e| e.to_string())?;
    let translation = translate::translate(&corefile)
        .map_err(|errors| errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))?;
    if !ignore_unsupported && !translation.unsupported.is_empty() {
        let lines: Vec<String> = translation
            .unsupported
            .iter()
            .map(|n| format!("{n}: not supported by clusterdns (--corefile-ignore-unsupported starts without it)"))
            .collect();
        return Err(lines.join("\n"));
    }
    Ok(Loaded {
        settings: translation.settings,
        notes: translation.notes,
        ignored: translation.unsupported,
        sources: corefile.sources,
    })
}

/// The files a Corefile consists of now, with their text (imports globbed again); when it does
/// not parse, the files it consisted of (`previous`) and itself as they read now. A reload
/// compares snapshots: a few kilobytes read per check.
pub fn snapshot(path: &Path, previous: &[(PathBuf, String)]) -> Vec<(PathBuf, String)> {
    match parse::load(path, &|name| std::env::var(name).ok()) {
        Ok(corefile) => corefile.sources,
        Err(_) => {
            let files = std::iter::once(path.to_path_buf()).chain(previous.iter().map(|(file, _)| file.clone()));
            let mut seen: Vec<(PathBuf, String)> = Vec::new();
            for file in files {
                if !seen.iter().any(|(f, _)| *f == file) {
                    let text = std::fs::read_to_string(&file).unwrap_or_default();
                    seen.push((file, text));
                }
            }
            seen
        }
    }
}
