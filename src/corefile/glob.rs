//! File name patterns for `import`, as Go's `filepath.Glob` reads them: `*` (any run of
//! characters but `/`), `?` (one character) and `[...]` classes (`[a-z]`, `[^x]`), in any path
//! component. Matches come sorted; a pattern that matches nothing matches nothing.

use std::path::{Component, Path, PathBuf};

pub fn matches(pattern: &Path) -> Result<Vec<PathBuf>, String> {
    let mut found = vec![PathBuf::new()];
    for component in pattern.components() {
        let part = match component {
            Component::Normal(part) => part.to_str().ok_or("the pattern is not UTF-8")?,
            other => {
                found.iter_mut().for_each(|p| p.push(other.as_os_str()));
                continue;
            }
        };
        if !part.contains(['*', '?', '[']) {
            found = found.into_iter().map(|p| p.join(part)).filter(|p| p.exists()).collect();
            continue;
        }
        let mut next = Vec::new();
        for dir in &found {
            let listing = match std::fs::read_dir(if dir.as_os_str().is_empty() { Path::new(".") } else { dir }) {
                Ok(listing) => listing,
                Err(_) => continue,
            };
            for entry in listing.flatten() {
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                if matches_name(part, name)? {
                    next.push(dir.join(name));
                }
            }
        }
        next.sort();
        found = next;
    }
    Ok(found)
}

/// Whether `name` matches the single-component `pattern`.
fn matches_name(pattern: &str, name: &str) -> Result<bool, String> {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    matches_at(&pattern, &name)
}

fn matches_at(pattern: &[char], name: &[char]) -> Result<bool, String> {
    match pattern.first() {
        None => Ok(name.is_empty()),
        Some('*') => {
            for skip in 0..=name.len() {
                if matches_at(&pattern[1..], &name[skip..])? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Some('?') => Ok(!name.is_empty() && matches_at(&pattern[1..], &name[1..])?),
        Some('[') => {
            let close = pattern.iter().skip(1).position(|c| *c == ']').ok_or("a '[' class is not closed")? + 1;
            let class = &pattern[1..close];
            let (negated, class) = match class.first() {
                Some('^') => (true, &class[1..]),
                _ => (false, class),
            };
            let Some(c) = name.first() else { return Ok(false) };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == '-' {
                    hit |= (class[i]..=class[i + 2]).contains(c);
                    i += 3;
                } else {
                    hit |= class[i] == *c;
                    i += 1;
                }
            }
            Ok(hit != negated && matches_at(&pattern[close + 1..], &name[1..])?)
        }
        Some('\\') if pattern.len() > 1 => {
            Ok(name.first() == Some(&pattern[1]) && matches_at(&pattern[2..], &name[1..])?)
        }
        Some(c) => Ok(name.first() == Some(c) && matches_at(&pattern[1..], &name[1..])?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_like_go_filepath_match() {
        let cases = [
            ("*.server", "a.server", true),
            ("*.server", "a.server.bak", false),
            ("*.override", ".override", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("[a-c]x", "bx", true),
            ("[^a-c]x", "bx", false),
            ("[^a-c]x", "dx", true),
            ("\\*", "*", true),
        ];
        for (pattern, name, want) in cases {
            assert_eq!(matches_name(pattern, name).unwrap(), want, "{pattern} {name}");
        }
        assert!(matches_name("[ab", "a").is_err());
    }

    #[test]
    fn patterns_expand_over_folders_sorted() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["custom/b.server", "custom/a.server", "custom/c.override", "other/d.server"] {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        let found = matches(&dir.path().join("*/*.server")).unwrap();
        let names: Vec<String> =
            found.iter().map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string()).collect();
        assert_eq!(names, ["custom/a.server", "custom/b.server", "other/d.server"]);
        assert!(matches(&dir.path().join("custom/*.none")).unwrap().is_empty());
    }
}
