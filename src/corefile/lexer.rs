//! Corefile tokens, split the way CoreDNS's Caddyfile lexer splits them: whitespace separates
//! tokens; a token that begins with `"` runs to the next unescaped `"` (newlines included, `\"`
//! is a quote, every other backslash stays); outside quotes `#` starts a comment to the end of
//! the line. Braces are ordinary tokens that the parser recognises when they stand alone.

use std::path::Path;
use std::sync::Arc;

/// Where a token was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: Arc<Path>,
    pub line: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub text: String,
    pub at: Location,
    /// Written in quotes: never a brace, a comment or a directive keyword.
    pub quoted: bool,
}

impl Token {
    /// Whether this is the unquoted token `text`.
    pub fn is(&self, text: &str) -> bool {
        !self.quoted && self.text == text
    }

    /// Whether `other` was written on the same line of the same file.
    pub fn same_line(&self, other: &Token) -> bool {
        self.at == other.at
    }
}

/// The tokens of one file. An unterminated quote is an error naming where it opened.
pub fn tokens(file: &Arc<Path>, text: &str) -> Result<Vec<Token>, (Location, String)> {
    let mut out = Vec::new();
    let mut line = 1;
    let mut chars = text.strip_prefix('\u{feff}').unwrap_or(text).chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '\n' => line += 1,
            c if c.is_whitespace() => {}
            '#' => while chars.next_if(|c| *c != '\n').is_some() {},
            '"' => {
                let at = Location { file: file.clone(), line };
                let mut text = String::new();
                loop {
                    match chars.next() {
                        None => return Err((at, "a quoted token is not closed".into())),
                        Some('"') => break,
                        Some('\\') if chars.peek() == Some(&'"') => text.push(chars.next().unwrap_or('"')),
                        Some(c) => {
                            line += usize::from(c == '\n');
                            text.push(c);
                        }
                    }
                }
                out.push(Token { text, at, quoted: true });
            }
            first => {
                let at = Location { file: file.clone(), line };
                let mut text = String::from(first);
                while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '#') {
                    text.push(c);
                }
                out.push(Token { text, at, quoted: false });
            }
        }
    }
    Ok(out)
}

/// Replaces `{$NAME}` and `{%NAME%}` with the environment variable's value (empty when unset),
/// as CoreDNS does in every token.
pub fn substitute_env(text: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let candidate = &rest[start..];
        let variable = candidate
            .strip_prefix("{$")
            .and_then(|v| v.split_once('}'))
            .map(|(name, _)| (name, 3))
            .or_else(|| candidate.strip_prefix("{%").and_then(|v| v.split_once("%}")).map(|(name, _)| (name, 4)));
        match variable {
            Some((name, extra)) if !name.is_empty() && !name.contains(['{', '}', ' ']) => {
                out.push_str(&env(name).unwrap_or_default());
                rest = &candidate[name.len() + extra..];
            }
            _ => {
                out.push('{');
                rest = &candidate[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(input: &str) -> Vec<(String, usize, bool)> {
        let file: Arc<Path> = Path::new("Corefile").into();
        tokens(&file, input).unwrap().into_iter().map(|t| (t.text, t.at.line, t.quoted)).collect()
    }

    #[test]
    fn tokens_split_on_whitespace_with_quotes_and_comments() {
        let got = texts(".:53 {\n  forward . 10.0.0.1 # upstream\n  log \"a b\\\" c\\d\"#x\n}\n");
        let want = [
            (".:53", 1, false),
            ("{", 1, false),
            ("forward", 2, false),
            (".", 2, false),
            ("10.0.0.1", 2, false),
            ("log", 3, false),
            ("a b\" c\\d", 3, true),
            ("}", 4, false),
        ];
        let want: Vec<(String, usize, bool)> = want.iter().map(|(t, l, q)| (t.to_string(), *l, *q)).collect();
        assert_eq!(got, want);
        assert_eq!(texts("a#b c\nd"), [("a".into(), 1, false), ("d".into(), 2, false)]);
        assert_eq!(texts("\"multi\nline\" x"), [("multi\nline".into(), 1, true), ("x".into(), 2, false)]);
        let file: Arc<Path> = Path::new("Corefile").into();
        let (at, message) = tokens(&file, "a\n\"open").unwrap_err();
        assert_eq!((at.to_string(), message.as_str()), ("Corefile:2".into(), "a quoted token is not closed"));
    }

    #[test]
    fn environment_variables_are_substituted() {
        let env = |name: &str| (name == "ZONE").then(|| "cluster.local".to_string());
        assert_eq!(substitute_env("{$ZONE}:53", &env), "cluster.local:53");
        assert_eq!(substitute_env("{%ZONE%}", &env), "cluster.local");
        assert_eq!(substitute_env("x{$UNSET}y", &env), "xy");
        assert_eq!(substitute_env("{ {$} {x} {$ZONE", &env), "{ {$} {x} {$ZONE");
    }
}
