//! Reading the SQL the project ships as sqlcmd and an admin would run it: the compose scripts
//! under `docker/`, the migrations, and the SQL blocks of the README. Shared by the CI-runnable
//! checks (`tests/sql_scripts.rs`) and the real-SQL-Server suite (`tests/sql_server.rs`).
#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};

pub fn repository_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

pub fn read(relative: &str) -> String {
    std::fs::read_to_string(repository_file(relative))
        .unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
}

/// The scripts compose runs, in its order, with the database each runs in (`None`: the login's
/// default, master). Migrations run between init and roles (`qoe-data-service migrate`).
pub const COMPOSE_INIT: (&str, Option<&str>) = ("docker/init.sql", None);
pub const COMPOSE_SEED: [(&str, Option<&str>); 2] = [
    ("docker/roles.sql", Some("QoEArchive")),
    ("docker/demo-rows.sql", Some("QoEArchive")),
];

/// sqlcmd's batches: the text between lines that hold only `GO`.
pub fn batches(script: &str) -> Vec<String> {
    let mut batches = vec![String::new()];
    for line in script.lines() {
        if line.trim().eq_ignore_ascii_case("go") {
            batches.push(String::new());
        } else if let Some(batch) = batches.last_mut() {
            batch.push_str(line);
            batch.push('\n');
        }
    }
    batches.retain(|batch| !batch.trim().is_empty());
    batches
}

/// sqlcmd's `$(NAME)` variables in order of first use.
pub fn sqlcmd_variables(script: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = script;
    while let Some(start) = rest.find("$(") {
        let after = &rest[start + 2..];
        let end = after.find(')').expect("a sqlcmd variable is closed");
        let name = after[..end].to_owned();
        if !names.contains(&name) {
            names.push(name);
        }
        rest = &after[end..];
    }
    names
}

/// Replaces every `$(NAME)` as `sqlcmd -v NAME=value` does; a variable left without a value
/// is an error there, and a panic here.
pub fn substitute(script: &str, values: &[(&str, &str)]) -> String {
    let mut text = script.to_owned();
    for (name, value) in values {
        text = text.replace(&format!("$({name})"), value);
    }
    let left = sqlcmd_variables(&text);
    assert!(left.is_empty(), "no value for sqlcmd variables {left:?}");
    text
}

/// The `-v NAME="$$VARIABLE"` pairs of the compose service `service`'s sqlcmd command.
pub fn compose_sqlcmd_variables(service: &str) -> Vec<(String, String)> {
    let compose = read("docker-compose.yml");
    let section = compose_service(&compose, service);
    let section = section.as_str();
    let command = section
        .split(" -v ")
        .nth(1)
        .unwrap_or_else(|| panic!("compose service {service} passes no sqlcmd -v variables"));
    let command = command.split(" -i ").next().unwrap_or(command);
    command
        .split_whitespace()
        .map(|pair| {
            let (name, value) = pair
                .split_once('=')
                .unwrap_or_else(|| panic!("`{pair}` is not NAME=value"));
            let variable = value.trim_matches('"').trim_start_matches("$$");
            (name.to_owned(), variable.to_owned())
        })
        .collect()
}

/// The lines of one service in docker-compose.yml, up to the next service or top-level key.
fn compose_service(compose: &str, service: &str) -> String {
    let header = format!("  {service}:");
    let mut lines = compose.lines().skip_while(|line| *line != header);
    assert!(
        lines.next().is_some(),
        "docker-compose.yml has no service {service}"
    );
    lines
        .take_while(|line| line.is_empty() || line.starts_with("   ") || line.starts_with("  #"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The default compose gives an environment variable: `NAME: ${NAME:-default}`.
pub fn compose_default(variable: &str) -> String {
    let compose = read("docker-compose.yml");
    let marker = format!("${{{variable}:-");
    let start = compose
        .find(&marker)
        .unwrap_or_else(|| panic!("docker-compose.yml gives {variable} no default"))
        + marker.len();
    let end = compose[start..].find('}').expect("the default is closed");
    compose[start..start + end].to_owned()
}

/// The ```sql blocks of the README section whose heading is `heading`, in order.
pub fn readme_sql_blocks(heading: &str) -> Vec<String> {
    readme_blocks(heading, "sql")
}

/// The fenced blocks in `language` of the README section whose heading is `heading`, in order.
/// The status document the README shows: the CQD documentation's sample.
pub fn documented_status() -> serde_json::Value {
    let blocks = readme_blocks("### The status document", "json");
    serde_json::from_str(blocks.first().expect("README shows the status document"))
        .expect("the README's status document is JSON")
}

pub fn readme_blocks(heading: &str, language: &str) -> Vec<String> {
    let opening = format!("```{language}");
    let readme = read("README.md");
    let start = readme
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("README.md has no heading `{heading}`"));
    let section = &readme[start + heading.len() + 2..];
    let level = heading.split(' ').next().unwrap_or("##");
    let end = section
        .match_indices("\n#")
        .find(|(i, _)| {
            let next = &section[i + 1..];
            let hashes = next.chars().take_while(|&c| c == '#').count();
            hashes <= level.len() && next[hashes..].starts_with(' ')
        })
        .map_or(section.len(), |(i, _)| i);
    let section = &section[..end];
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in section.lines() {
        let fence = line.trim();
        match &mut current {
            None if fence == opening => current = Some(String::new()),
            Some(block) if fence == "```" => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line.trim_start());
                block.push('\n');
            }
            None => {}
        }
    }
    blocks
}

/// The README section that tells an admin how to set up logins on their own server.
pub const README_SETUP: &str = "## Running against an existing SQL Server";

/// Every piece of SQL the project gives an admin or runs itself, named for messages.
pub fn shipped_sql() -> Vec<(String, String)> {
    let mut scripts = Vec::new();
    for folder in ["migrations", "docker"] {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(repository_file(folder))
            .unwrap_or_else(|e| panic!("cannot list {folder}: {e}"))
            .map(|entry| entry.expect("a directory entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
            .collect();
        paths.sort();
        for path in paths {
            let text = std::fs::read_to_string(&path).expect("a readable script");
            scripts.push((path.display().to_string(), text));
        }
    }
    for (position, block) in readme_sql_blocks(README_SETUP).into_iter().enumerate() {
        scripts.push((format!("README.md setup block {}", position + 1), block));
    }
    scripts
}

/// What a statement creates or names, found by its leading words (comments removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Role(String),
    User(String),
    Login(String),
    /// `ALTER ROLE role ADD MEMBER member`.
    Membership {
        role: String,
        member: String,
    },
    /// `EXECUTE AS USER = N'user'`.
    Impersonation(String),
}

pub fn principals(sql: &str) -> Vec<Principal> {
    let words: Vec<String> = without_comments(sql)
        .split(|c: char| c.is_whitespace() || c == ';')
        .filter(|word| !word.is_empty())
        .map(unquote)
        .collect();
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let mut found = Vec::new();
    for i in 0..words.len() {
        let next = |k: usize| words.get(i + k).cloned().unwrap_or_default();
        let is = |k: usize, word: &str| upper.get(i + k).is_some_and(|w| w == word);
        if is(0, "CREATE") && is(1, "ROLE") {
            found.push(Principal::Role(next(2)));
        } else if is(0, "CREATE") && is(1, "USER") {
            found.push(Principal::User(next(2)));
        } else if is(0, "CREATE") && is(1, "LOGIN") {
            found.push(Principal::Login(next(2)));
        } else if is(0, "ALTER") && is(1, "ROLE") && is(3, "ADD") && is(4, "MEMBER") {
            found.push(Principal::Membership {
                role: next(2),
                member: next(5),
            });
        } else if is(0, "EXECUTE") && is(1, "AS") && is(2, "USER") && is(3, "=") {
            found.push(Principal::Impersonation(next(4)));
        }
    }
    found
}

fn without_comments(sql: &str) -> String {
    sql.lines()
        .map(|line| line.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `[name]`, `N'name'`, `'name'` → `name`, lower-cased as SQL Server's default collation compares.
fn unquote(word: &str) -> String {
    let word = word.strip_prefix("N'").unwrap_or(word);
    word.trim_matches(|c| matches!(c, '[' | ']' | '\'' | ','))
        .to_ascii_lowercase()
}
