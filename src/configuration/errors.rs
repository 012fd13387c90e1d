//! Settings errors that never quote a value: a wrong setting may hold a password or an API key,
//! and the error goes to stderr and from there to whoever reads the logs. They name the setting,
//! the line and the problem instead.
use std::path::{Path, PathBuf};

use config::ConfigError;

/// A setting that is missing or wrong; the message names it.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("invalid setting `{setting}`: {problem}")]
    Invalid {
        setting: &'static str,
        problem: String,
    },
    #[error("invalid settings: {0}")]
    Source(String),
    /// The settings file cannot be read or is not TOML; never quotes the file's content.
    #[error("settings file {path}: {problem}")]
    File { path: PathBuf, problem: String },
    /// Settings nobody reads, each with where it came from and what it probably meant.
    #[error("{}", .0.join("; "))]
    Unknown(Vec<String>),
}

impl From<config::ConfigError> for SettingsError {
    fn from(error: config::ConfigError) -> Self {
        SettingsError::Source(describe(error))
    }
}

pub(crate) fn invalid(setting: &'static str, problem: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        setting,
        problem: problem.into(),
    }
}

/// The settings file's text, once it is known to be TOML. A syntax error names the line, the
/// column and the key on that line, never the line itself (`toml`'s own message quotes it).
pub fn read_toml(path: &Path) -> Result<String, SettingsError> {
    let file_error = |problem: String| SettingsError::File {
        path: path.to_owned(),
        problem,
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| file_error(format!("cannot be read (`--config`): {}", e.kind())))?;
    if let Err(error) = toml::from_str::<toml::Table>(&text) {
        let offset = error.span().map_or(0, |span| span.start);
        let before = &text[..floor_char_boundary(&text, offset)];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        let key = text
            .lines()
            .nth(line - 1)
            .and_then(key_of_line)
            .map(|key| format!(" (the line of `{key}`)"))
            .unwrap_or_default();
        let message = error.message().lines().next().unwrap_or("syntax error");
        // `Server=sql01\CQD` in "…": TOML reads `\C` as an escape.
        let hint = if message.contains("escape") {
            "\nwrite connection strings in single-quoted (literal) TOML strings, which keep `\\` \
             as written: connection_string = 'Server=sql01\\CQD;…'"
        } else {
            ""
        };
        return Err(file_error(format!(
            "not valid TOML at line {line}, column {column}{key}: {}{hint}",
            scrub(message)
        )));
    }
    Ok(text)
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// The bare key a `key = value` line sets, if it looks like one.
fn key_of_line(line: &str) -> Option<&str> {
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    bare.then_some(key)
}

/// A `config` error in words that name the setting and the kind of value, never the value.
pub fn describe(error: ConfigError) -> String {
    describe_at(error, None)
}

fn describe_at(error: ConfigError, at: Option<String>) -> String {
    match error {
        ConfigError::Type {
            unexpected,
            expected,
            key,
            ..
        } => {
            let found = unexpected.to_string();
            // "string \"…\"", "64-bit integer `5`", "sequence": keep the kind only.
            let kind = found
                .split(['`', '"'])
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned();
            match key.or(at) {
                Some(key) => {
                    format!("invalid setting `{key}`: expected {expected}, found a {kind}")
                }
                None => format!("expected {expected}, found a {kind}"),
            }
        }
        ConfigError::At { error, key, .. } => describe_at(*error, key.or(at)),
        ConfigError::NotFound(key) => format!("missing setting `{key}`"),
        ConfigError::Message(message) => with_key(at, scrub(&message)),
        ConfigError::Foreign(error) => with_key(at, scrub(&error.to_string())),
        ConfigError::FileParse { .. } => "a settings source is not valid TOML".to_owned(),
        other => with_key(at, scrub(&other.to_string())),
    }
}

fn with_key(key: Option<String>, problem: String) -> String {
    match key {
        Some(key) => format!("invalid setting `{key}`: {problem}"),
        None => problem,
    }
}

/// Blanks out anything quoted (`"…"`, `'…'`), where serde and toml put values; keeps names in
/// backticks only when they look like setting names.
fn scrub(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(['"', '\'', '`']) {
        let quote = rest[start..].chars().next().unwrap_or('"');
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find(quote) else {
            out.push(quote);
            out.push('…');
            return out;
        };
        let inner = &after[..end];
        let name_like = quote == '`'
            && (inner
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.'))
                || (inner.chars().count() <= 2 && inner.chars().all(|c| c.is_ascii_punctuation())));
        out.push(quote);
        out.push_str(if name_like { inner } else { "…" });
        out.push(quote);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_are_blanked_and_setting_names_kept() {
        assert_eq!(
            scrub("invalid type: string \"S3cret\", expected a sequence for `http.api_keys`"),
            "invalid type: string \"…\", expected a sequence for `http.api_keys`"
        );
        assert_eq!(scrub("unknown variant `Hunter2!`"), "unknown variant `…`");
        assert_eq!(scrub("unclosed 'S3cret"), "unclosed '…");
        assert_eq!(scrub("expected `\"`, `]`"), "expected `\"`, `]`");
    }
}
