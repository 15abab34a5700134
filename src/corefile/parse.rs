//! Server blocks and directives from Corefile tokens, with `import` (files, globs, snippets)
//! resolved where it stands, as CoreDNS's Caddyfile parser does: at the top level between
//! server blocks, or in place of a line inside a block.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::lexer::{Location, Token, substitute_env, tokens};

/// The most nested imports (files and snippets) before it is taken for a cycle.
const MAX_IMPORT_DEPTH: usize = 32;

/// A Corefile and every file it imported, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corefile {
    pub blocks: Vec<ServerBlock>,
    /// Every file read, with its text, in the order read: what a reload compares.
    pub sources: Vec<(PathBuf, String)>,
}

/// `<key> [<key>...] { <directives> }`: the zones and ports it serves, and its plugins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerBlock {
    pub keys: Vec<Token>,
    pub directives: Vec<Directive>,
}

/// One line of a block: a name, its arguments, and the lines of its own block if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: Token,
    pub args: Vec<Token>,
    pub block: Vec<Directive>,
}

impl Directive {
    pub fn at(&self) -> &Location {
        &self.name.at
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {message}")]
pub struct ParseError {
    pub at: Location,
    pub message: String,
}

fn error(at: &Location, message: impl Into<String>) -> ParseError {
    ParseError { at: at.clone(), message: message.into() }
}

/// Reads and parses the Corefile at `path`; `env` looks environment variables up.
pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Corefile, ParseError> {
    let mut parser = Parser { tokens: Vec::new(), next: 0, snippets: HashMap::new(), sources: Vec::new(), env };
    let start = Location { file: Arc::from(Path::new("<command line>")), line: 0 };
    parser.tokens = parser.read_file(path, &start, &[])?;
    let blocks = parser.blocks()?;
    Ok(Corefile { blocks, sources: parser.sources })
}

/// A token with the chain of files and snippets it was imported through (for cycles).
#[derive(Debug, Clone)]
struct Placed {
    token: Token,
    chain: Arc<[String]>,
}

struct Parser<'e> {
    tokens: Vec<Placed>,
    next: usize,
    snippets: HashMap<String, Vec<Placed>>,
    sources: Vec<(PathBuf, String)>,
    env: &'e dyn Fn(&str) -> Option<String>,
}

impl Parser<'_> {
    fn read_file(&mut self, path: &Path, from: &Location, chain: &[String]) -> Result<Vec<Placed>, ParseError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| error(from, format!("cannot read {}: {e}", path.display())))?;
        let file: Arc<Path> = Arc::from(path);
        let raw = tokens(&file, &text).map_err(|(at, message)| error(&at, message))?;
        self.sources.push((path.to_path_buf(), text));
        let chain: Arc<[String]> = chain.iter().cloned().chain([path.display().to_string()]).collect();
        Ok(raw
            .into_iter()
            .map(|mut token| {
                token.text = substitute_env(&token.text, self.env);
                Placed { token, chain: chain.clone() }
            })
            .collect())
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next).map(|p| &p.token)
    }

    fn take(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.next)?.token.clone();
        self.next += 1;
        Some(token)
    }

    /// The next token, if it is on the same line as `previous`.
    fn take_on_line(&mut self, previous: &Token) -> Option<Token> {
        self.peek().filter(|t| t.same_line(previous))?;
        self.take()
    }

    fn blocks(&mut self) -> Result<Vec<ServerBlock>, ParseError> {
        let mut blocks = Vec::new();
        while let Some(first) = self.peek().cloned() {
            if first.is("import") {
                self.import()?;
                continue;
            }
            if first.is("{") || first.is("}") {
                return Err(error(
                    &first.at,
                    format!("unexpected '{}' where a server block's address should be", first.text),
                ));
            }
            let keys = self.keys()?;
            if let [key] = keys.as_slice()
                && let Some(name) = key.text.strip_prefix('(').and_then(|k| k.strip_suffix(')'))
            {
                self.snippet(name.to_string(), key)?;
                continue;
            }
            let directives = match self.peek() {
                Some(t) if t.is("{") => {
                    let open = self.take().expect("peeked");
                    self.directives(Some(&open))?
                }
                // Without braces, the rest of the file is the one block's body.
                _ if blocks.is_empty() => self.directives(None)?,
                _ => return Err(error(&keys[0].at, "a server block needs '{' after its addresses")),
            };
            blocks.push(ServerBlock { keys, directives });
        }
        Ok(blocks)
    }

    /// Addresses: the tokens of one line, continued onto the next by a trailing comma.
    fn keys(&mut self) -> Result<Vec<Token>, ParseError> {
        let mut keys: Vec<Token> = Vec::new();
        let mut previous: Option<Token> = None;
        while let Some(token) = self.peek().cloned() {
            let continues = previous.as_ref().is_none_or(|p| p.same_line(&token) || p.text.ends_with(','));
            if token.is("{") || !continues {
                break;
            }
            self.take();
            // Only a trailing comma separates: `a.org,b.org` is one (bad) key, as in CoreDNS.
            let key = token.text.strip_suffix(',').unwrap_or(&token.text);
            if !key.is_empty() {
                keys.push(Token { text: key.to_string(), ..token.clone() });
            }
            previous = Some(token);
        }
        if let Some(last) = previous.filter(|p| p.text.ends_with(',') && self.peek().is_none_or(|t| t.is("{"))) {
            return Err(error(&last.at, "an address list ends with ','"));
        }
        Ok(keys)
    }

    fn snippet(&mut self, name: String, key: &Token) -> Result<(), ParseError> {
        let open =
            self.take().filter(|t| t.is("{")).ok_or_else(|| error(&key.at, format!("snippet {name} needs '{{'")))?;
        let start = self.next;
        let mut depth = 1;
        while depth > 0 {
            let token = self.take().ok_or_else(|| error(&open.at, format!("snippet {name}: '{{' is not closed")))?;
            depth = depth + usize::from(token.is("{")) - usize::from(token.is("}"));
        }
        let body = self.tokens[start..self.next - 1].to_vec();
        self.snippets.insert(name, body);
        Ok(())
    }

    /// The lines of a block up to its `}` (`open`), or to the end of the input (`None`).
    fn directives(&mut self, open: Option<&Token>) -> Result<Vec<Directive>, ParseError> {
        let mut lines = Vec::new();
        loop {
            let Some(name) = self.peek().cloned() else {
                return match open {
                    Some(open) => Err(error(&open.at, "'{' is not closed")),
                    None => Ok(lines),
                };
            };
            if name.is("}") {
                self.take();
                return match open {
                    Some(_) => Ok(lines),
                    None => Err(error(&name.at, "unexpected '}'")),
                };
            }
            if name.is("import") {
                self.import()?;
                continue;
            }
            if name.is("{") {
                return Err(error(&name.at, "unexpected '{'"));
            }
            self.take();
            let mut args = Vec::new();
            let mut block = Vec::new();
            let mut last = name.clone();
            // A `}` on the line closes the enclosing block (`cache { success 100 }`).
            while let Some(token) = self.peek().filter(|t| t.same_line(&last) && !t.is("}")).cloned() {
                self.take();
                if token.is("{") {
                    block = self.directives(Some(&token))?;
                    break;
                }
                last = token.clone();
                args.push(token);
            }
            lines.push(Directive { name, args, block });
        }
    }

    /// Replaces `import <pattern>` at the cursor with what it names: a snippet, or the tokens
    /// of every file the pattern matches (relative to the importing file's folder).
    fn import(&mut self) -> Result<(), ParseError> {
        let start = self.next;
        let keyword = self.tokens[start].clone();
        self.next += 1;
        let pattern = self
            .take_on_line(&keyword.token)
            .ok_or_else(|| error(&keyword.token.at, "import needs a file, a glob or a snippet name"))?;
        if let Some(extra) = self.take_on_line(&pattern) {
            return Err(error(&extra.at, "import takes one argument"));
        }
        if keyword.chain.len() > MAX_IMPORT_DEPTH {
            return Err(error(&keyword.token.at, "imports nest too deep (an import cycle?)"));
        }
        let imported = match self.snippets.get(&pattern.text) {
            Some(body) => {
                let link = format!("({})", pattern.text);
                if keyword.chain.contains(&link) {
                    return Err(error(&pattern.at, format!("import cycle: snippet {} imports itself", pattern.text)));
                }
                let chain: Arc<[String]> = keyword.chain.iter().cloned().chain([link]).collect();
                body.iter().map(|p| Placed { token: p.token.clone(), chain: chain.clone() }).collect()
            }
            None => self.import_files(&keyword, &pattern)?,
        };
        self.tokens.splice(start..self.next, imported);
        self.next = start;
        Ok(())
    }

    fn import_files(&mut self, keyword: &Placed, pattern: &Token) -> Result<Vec<Placed>, ParseError> {
        let relative = Path::new(&pattern.text);
        let full = match keyword.token.at.file.parent() {
            Some(dir) if relative.is_relative() => dir.join(relative),
            _ => relative.to_path_buf(),
        };
        let is_glob = pattern.text.contains(['*', '?', '[']);
        let files = if is_glob {
            super::glob::matches(&full).map_err(|e| error(&pattern.at, format!("import {}: {e}", pattern.text)))?
        } else if full.exists() {
            vec![full.clone()]
        } else {
            return Err(error(&pattern.at, format!("file to import not found: {}", full.display())));
        };
        let mut out = Vec::new();
        for file in files {
            if keyword.chain.contains(&file.display().to_string()) {
                return Err(error(&pattern.at, format!("import cycle: {} imports itself", file.display())));
            }
            out.extend(self.read_file(&file, &pattern.at, &keyword.chain)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    fn shape(corefile: &Corefile) -> Vec<String> {
        fn line(d: &Directive, depth: usize, out: &mut Vec<String>) {
            let args: Vec<&str> = d.args.iter().map(|a| a.text.as_str()).collect();
            out.push(format!("{}{} {}", "  ".repeat(depth), d.name.text, args.join(" ")).trim_end().to_string());
            for inner in &d.block {
                line(inner, depth + 1, out);
            }
        }
        let mut out = Vec::new();
        for block in &corefile.blocks {
            out.push(block.keys.iter().map(|k| k.text.as_str()).collect::<Vec<_>>().join(" "));
            for d in &block.directives {
                line(d, 1, &mut out);
            }
        }
        out
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn blocks_directives_and_nested_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let text = ".:53 {\n  errors\n  health {\n     lameduck 5s\n  }\n  kubernetes cluster.local in-addr.arpa {\n    pods insecure\n  }\n  forward . /etc/resolv.conf\n}\nconsul.local:53, example.org\n{\n  forward . 10.0.0.5\n}\n";
        let corefile = load(&write(dir.path(), "Corefile", text), &no_env).unwrap();
        let one_line = load(&write(dir.path(), "Corefile", ". {\n  cache { success 100 }\n}\n"), &no_env).unwrap();
        assert_eq!(shape(&one_line), [".", "  cache", "    success 100"]);
        let one_key = load(&write(dir.path(), "Corefile", "a.org,b.org {\n}\n"), &no_env).unwrap();
        assert_eq!(shape(&one_key), ["a.org,b.org"], "only a trailing comma separates keys");
        assert_eq!(
            shape(&corefile),
            [
                ".:53",
                "  errors",
                "  health",
                "    lameduck 5s",
                "  kubernetes cluster.local in-addr.arpa",
                "    pods insecure",
                "  forward . /etc/resolv.conf",
                "consul.local:53 example.org",
                "  forward . 10.0.0.5",
            ]
        );
        assert_eq!(corefile.blocks[0].directives[2].at().line, 6);
    }

    #[test]
    fn imports_files_globs_and_snippets_in_place() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "custom/a.override", "log\n");
        write(dir.path(), "custom/b.override", "hosts {\n  10.0.0.9 nine.example\n}\n");
        write(dir.path(), "custom/x.server", "x.example:53 {\n  forward . 10.9.9.9\n}\n");
        let text = "(common) {\n  errors\n  cache 30\n}\n.:53 {\n  import common\n  import custom/*.override\n  forward . {$UPSTREAM}\n}\nimport custom/*.server\nimport custom/*.none\n";
        let env = |name: &str| (name == "UPSTREAM").then(|| "10.1.1.1".to_string());
        let corefile = load(&write(dir.path(), "Corefile", text), &env).unwrap();
        assert_eq!(
            shape(&corefile),
            [
                ".:53",
                "  errors",
                "  cache 30",
                "  log",
                "  hosts",
                "    10.0.0.9 nine.example",
                "  forward . 10.1.1.1",
                "x.example:53",
                "  forward . 10.9.9.9",
            ]
        );
        assert_eq!(corefile.sources.len(), 4);
        let log = &corefile.blocks[0].directives[2];
        assert!(log.at().to_string().ends_with("custom/a.override:1"), "{}", log.at());
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (".:53 {\n  errors\n", "Corefile:1: '{' is not closed"),
            (".:53 {\n  import missing.conf\n}\n", "Corefile:2: file to import not found"),
            (".:53 {\n  import\n}\n", "Corefile:2: import needs"),
            ("}\n", "Corefile:1: unexpected '}'"),
            (".:53 {\n  import loop.conf\n}\n", "loop.conf:1: import cycle"),
            ("(s) {\n  import s\n}\n.:53 {\n  import s\n}\n", "Corefile:2: import cycle: snippet s"),
            (".:53 {\n}\nb.example\n", "Corefile:3: a server block needs '{'"),
        ];
        write(dir.path(), "loop.conf", "import loop.conf\n");
        for (text, want) in cases {
            let error = load(&write(dir.path(), "Corefile", text), &no_env).unwrap_err().to_string();
            assert!(error.contains(want), "{text:?}: {error}");
        }
    }
}
