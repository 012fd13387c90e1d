//! Settings errors that never quote a value: a wrong setting may hold a password or an API key,
//! and the error goes to stderr and from there to whoever reads the logs. They name the setting,
//! the line and the problem instead.
use std::path::{Path, PathBuf};

use config::ConfigError;

use crate::files::{read_bounded, FileProblem};

/// The most a settings file may hold: the example, with every setting explained, is ~8 KiB.
pub const MAX_SETTINGS_BYTES: u64 = 1024 * 1024;

/// A setting that is missing or wrong; the message names it.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("invalid setting `{setting}`: {problem}")]
    Invalid { setting: String, problem: String },
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
        match describe_at(error, None) {
            (Some(setting), problem) => SettingsError::Invalid { setting, problem },
            (None, problem) => SettingsError::Source(problem),
        }
    }
}

pub(crate) fn invalid(setting: impl Into<String>, problem: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        setting: setting.into(),
        problem: problem.into(),
    }
}

impl SettingsError {
    /// The error with every quoted value that holds one of `secrets` (the API keys) replaced:
    /// a key pasted into the wrong setting is not echoed by that setting's error.
    pub(crate) fn hiding(self, secrets: &[String]) -> Self {
        let hide = |text: String| hide_quoted(&text, secrets);
        match self {
            SettingsError::Invalid { setting, problem } => SettingsError::Invalid {
                setting,
                problem: hide(problem),
            },
            SettingsError::Source(problem) => SettingsError::Source(hide(problem)),
            other => other,
        }
    }
}

fn hide_quoted(text: &str, secrets: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    for (position, part) in text.split('`').enumerate() {
        let quoted = position % 2 == 1;
        if quoted
            && secrets
                .iter()
                .any(|secret| !secret.is_empty() && part.contains(secret.as_str()))
        {
            out.push_str("a value holding an API key (not shown)");
        } else {
            if quoted {
                out.push('`');
            }
            out.push_str(part);
            if quoted {
                out.push('`');
            }
        }
    }
    out
}

/// Most characters of a value an error may quote.
pub const MAX_SHOWN_CHARS: usize = 100;

/// A value as an error may quote it: in backticks when it is short and holds no password; else
/// named by its length or by what it holds.
pub fn shown(value: &str) -> String {
    let lower = value.to_ascii_lowercase();
    let length = value.chars().count();
    if lower.contains("password=") || lower.contains("pwd=") {
        "a value holding a password (not shown)".to_owned()
    } else if length > MAX_SHOWN_CHARS {
        format!("a value of {length} characters (not shown)")
    } else if value.chars().any(char::is_control) {
        format!("a value of {length} characters with control characters (not shown)")
    } else {
        format!("`{value}`")
    }
}

/// Marks a problem written by our own value checks, which quote values only through
/// [`shown`], so that [`describe`] keeps it as written instead of blanking every quote.
const CHECKED: char = '\u{1}';

pub fn checked(problem: impl Into<String>) -> String {
    format!("{CHECKED}{}", problem.into())
}

/// The settings file's text, once it is known to be TOML. A syntax error names the line, the
/// column and the key on that line, never the line itself (`toml`'s own message quotes it).
pub fn read_toml(path: &Path) -> Result<String, SettingsError> {
    let file_error = |problem: String| SettingsError::File {
        path: path.to_owned(),
        problem,
    };
    let bytes = read_bounded(path, MAX_SETTINGS_BYTES).map_err(|problem| {
        let problem = match problem {
            FileProblem::Unreadable(e) => format!("cannot be read: {}", e.kind()),
            FileProblem::NotRegular => "is not a regular file".to_owned(),
            FileProblem::TooLarge(_) => "is too large".to_owned(),
        };
        file_error(format!(
            "{problem}; `--config` takes a regular file of at most {MAX_SETTINGS_BYTES} bytes \
             (1 MiB)"
        ))
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        file_error(format!(
            "is not UTF-8 text (byte {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
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
        if message.starts_with("duplicate key") {
            if let Some(first) = first_setting_of(&text, line) {
                return Err(file_error(format!(
                    "not valid TOML at line {line}, column {column}: {first}; change it there \
                     instead of setting it again"
                )));
            }
        }
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

/// For a key or table set again at `line`: "`integration_log` is set again, first at line 88".
/// Reads the file line by line, as an admin does: `[table]` headers and `key = value` lines.
fn first_setting_of(text: &str, line: usize) -> Option<String> {
    let mut section = String::new();
    let mut paths = Vec::new();
    for source in text.lines() {
        let bare = source.trim();
        let path = if let Some(header) = bare
            .strip_prefix('[')
            .and_then(|rest| rest.split(']').next())
        {
            section = header.trim_matches(['[', ' ']).to_owned();
            Some(section.clone())
        } else {
            key_of_line(bare).map(|key| match section.as_str() {
                "" => key.to_owned(),
                section => format!("{section}.{key}"),
            })
        };
        paths.push(path);
    }
    let repeated = paths.get(line - 1)?.as_ref()?;
    let first = paths
        .iter()
        .position(|path| path.as_ref() == Some(repeated))?
        + 1;
    (first < line).then(|| format!("`{repeated}` is set again, first at line {first}"))
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

/// A `config` error in words that name the setting and the kind of value, never the value:
/// the setting (when known) and the problem.
fn describe_at(error: ConfigError, at: Option<String>) -> (Option<String>, String) {
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
            (key.or(at), format!("expected {expected}, found a {kind}"))
        }
        ConfigError::At { error, key, .. } => describe_at(*error, key.or(at)),
        ConfigError::NotFound(key) => (Some(key), "missing".to_owned()),
        ConfigError::Message(message) => match message.strip_prefix(CHECKED) {
            Some(problem) => (at, problem.to_owned()),
            None => (at, scrub(&message)),
        },
        ConfigError::Foreign(error) => (at, scrub(&error.to_string())),
        ConfigError::FileParse { .. } => (at, "a settings source is not valid TOML".to_owned()),
        other => (at, scrub(&other.to_string())),
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
