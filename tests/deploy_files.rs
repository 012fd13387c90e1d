//! The files under `deploy/` and the README agree with the settings' declaration: the example
//! configuration loads through the real settings loader and shows every setting with its
//! declared default, the README's Configuration table has a row for each with that default, every
//! `QOE_…__…` variable named anywhere is one a setting reads, and the systemd unit starts the
//! service the way the CLI and the settings expect.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use clap::Parser;
use qoe_data_service::cli::{Cli, Command};
use qoe_data_service::configuration::Settings;
use qoe_data_service::status_html::{escape, render_disabled, PageContext, ENABLE_LINE};

const EXAMPLE: &str = "deploy/qoe.example.toml";
const ENVIRONMENT_FILE: &str = "deploy/qoe.env.example";
const UNIT: &str = "deploy/systemd/qoe-data-service.service";

/// The declared default of `setting` as JSON (`10`, `"UTC"`); `None`: it has none, and its
/// line shows an example value instead.
fn declared_default(setting: &str) -> Option<serde_json::Value> {
    Settings::defaults()
        .into_iter()
        .find(|(key, _)| key == setting)
        .unwrap_or_else(|| panic!("`{setting}` is not declared"))
        .1
        .map(|default| serde_json::from_str(&default).expect("a default is JSON"))
}

fn path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(path(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// `NAME='value'` lines as systemd's `EnvironmentFile=` reads them: `#` and `;` start comments,
/// and inside single quotes nothing is special. The example keeps to that subset.
fn environment_file() -> HashMap<String, String> {
    read(ENVIRONMENT_FILE)
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with(['#', ';']))
        .map(|line| {
            let (name, value) = line.split_once('=').expect("NAME=value");
            let value = value
                .strip_prefix('\'')
                .and_then(|value| value.strip_suffix('\''))
                .filter(|value| !value.contains('\''))
                .unwrap_or_else(|| panic!("{name}: keep the value in one pair of single quotes"));
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

/// One `key = value` line of the example, commented or not, with the setting it sets.
struct SettingLine {
    setting: String,
    index: usize,
    commented: bool,
}

fn setting_lines(text: &str) -> Vec<SettingLine> {
    let mut section = String::new();
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let commented = line.starts_with('#');
        let bare = line.trim_start_matches('#').trim();
        if let Some(name) = bare.strip_prefix('[').and_then(|b| b.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let Some((key, _)) = bare.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            lines.push(SettingLine {
                setting: format!("{section}.{key}"),
                index,
                commented,
            });
        }
    }
    lines
}

fn write_temporary(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("qoe-deploy-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join(name);
    std::fs::write(&file, text).expect("write");
    file
}

fn loaded(file: Option<&Path>) -> String {
    match Settings::load_from(file, environment_file()) {
        Ok(settings) => format!("{settings:?}"),
        Err(e) => panic!(
            "{}: {e}",
            file.map_or("no file".into(), |f| f.display().to_string())
        ),
    }
}

#[test]
fn the_example_configuration_loads_as_it_is_and_changes_no_default() {
    let defaults = loaded(None);

    let example = loaded(Some(&path(EXAMPLE)));

    assert_eq!(example, defaults);
}

#[test]
fn every_setting_has_a_line_in_the_example_configuration() {
    let shown: Vec<String> = setting_lines(&read(EXAMPLE))
        .into_iter()
        .map(|line| line.setting)
        .collect();

    let missing: Vec<String> = Settings::known_settings()
        .into_iter()
        .filter(|setting| !shown.contains(setting))
        .collect();

    assert!(
        missing.is_empty(),
        "{EXAMPLE} has no line for {missing:?}: add each, commented, with its default"
    );
}

#[test]
fn every_line_of_the_example_configuration_is_a_setting() {
    let known = Settings::known_settings();

    for line in setting_lines(&read(EXAMPLE)) {
        assert!(
            known.contains(&line.setting),
            "{EXAMPLE} line {}: `{}` is no setting",
            line.index + 1,
            line.setting
        );
    }
}

#[test]
fn each_commented_line_shows_the_default() {
    let text = read(EXAMPLE);
    let defaults = loaded(None);

    for line in setting_lines(&text) {
        assert!(line.commented, "`{}` is set: comment it out", line.setting);
        let Some(default) = declared_default(&line.setting) else {
            continue;
        };
        let shown: toml::Table = toml::from_str(
            text.lines()
                .nth(line.index)
                .unwrap_or_default()
                .trim_start_matches('#'),
        )
        .unwrap_or_else(|e| panic!("{EXAMPLE} line {}: {e}", line.index + 1));
        let shown = serde_json::to_value(shown.values().next()).expect("TOML as JSON");
        assert_eq!(
            shown,
            default,
            "{EXAMPLE} line {}: `{}` does not show its declared default",
            line.index + 1,
            line.setting
        );
        let uncommented: Vec<&str> = text
            .lines()
            .enumerate()
            .map(|(index, l)| {
                if index == line.index {
                    l.trim_start_matches('#').trim_start()
                } else {
                    l
                }
            })
            .collect();
        let file = write_temporary("uncommented.toml", &uncommented.join("\n"));

        assert_eq!(
            loaded(Some(&file)),
            defaults,
            "`{}`, uncommented, changes the settings: show its default",
            line.setting
        );
    }
}

/// `(setting, default cell)` of each row of the README's Configuration table.
fn readme_table() -> Vec<(String, String)> {
    let readme = read("README.md");
    let start = readme
        .find("\n## Configuration\n")
        .expect("README has ## Configuration");
    let section = &readme[start + 1..];
    let section = &section[..section[3..]
        .find("\n## ")
        .map_or(section.len(), |end| end + 3)];
    section
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let setting = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((setting.to_owned(), cells.get(2)?.to_string()))
        })
        .collect()
}

#[test]
fn the_readme_configuration_table_has_a_row_for_each_setting_with_its_declared_default() {
    let rows = readme_table();
    let documented: Vec<&str> = rows.iter().map(|(setting, _)| setting.as_str()).collect();

    for (setting, default) in Settings::defaults() {
        assert!(
            documented.contains(&setting.as_str()),
            "README's Configuration table has no row for `{setting}`"
        );
        let cell = &rows[documented
            .iter()
            .position(|s| *s == setting)
            .unwrap_or_default()]
        .1;
        match default.map(|d| serde_json::from_str::<serde_json::Value>(&d).expect("JSON")) {
            Some(serde_json::Value::String(text)) => assert!(
                cell.starts_with(&format!("`{text}`")),
                "README: `{setting}` shows `{cell}`, declared default `{text}`"
            ),
            Some(other) => assert!(
                cell.starts_with(&format!("`{other}`")),
                "README: `{setting}` shows `{cell}`, declared default `{other}`"
            ),
            None => assert!(
                cell.starts_with("none") || cell.starts_with('—'),
                "README: `{setting}` has no default but shows `{cell}`"
            ),
        }
    }
    let known = Settings::known_settings();
    for setting in documented {
        assert!(
            known.iter().any(|k| k == setting),
            "README's Configuration table documents `{setting}`, which is no setting"
        );
    }
}

/// Named on purpose though no setting reads it: the README's example of a misspelt variable.
const MISSPELT_ON_PURPOSE: &[&str] = &["QOE_HTTP__API_KEY"];

#[test]
fn every_settings_variable_named_in_docs_scripts_and_code_is_one_a_setting_reads() {
    let variables: Vec<String> = Settings::known_settings()
        .iter()
        .map(|setting| qoe_data_service::configuration::env_name(setting))
        .collect();
    let mut files = vec![
        PathBuf::from("README.md"),
        PathBuf::from("docker-compose.yml"),
        PathBuf::from("Dockerfile"),
    ];
    for folder in ["deploy", "deploy/systemd", "bench", ".ci", "src"] {
        let Ok(entries) = std::fs::read_dir(path(folder)) else {
            continue;
        };
        files.extend(
            entries
                .flatten()
                .map(|entry| entry.path())
                .filter(|p| p.is_file())
                .map(|p| {
                    p.strip_prefix(env!("CARGO_MANIFEST_DIR"))
                        .map(Path::to_path_buf)
                        .unwrap_or(p)
                }),
        );
    }
    for file in files {
        let Ok(text) = std::fs::read_to_string(path(&file.to_string_lossy())) else {
            continue;
        };
        // Unit tests name wrong variables on purpose; they sit at the end of a source file.
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (at, _) in text.match_indices("QOE_") {
            let name: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if !name.contains("__") || MISSPELT_ON_PURPOSE.contains(&name.as_str()) {
                continue;
            }
            assert!(
                variables.contains(&name),
                "{}: {name} is no setting's variable",
                file.display()
            );
        }
    }
}

/// The value of `Key=` in the unit, the last one if it is given more than once.
fn unit_value(unit: &str, key: &str) -> String {
    unit.lines()
        .rev()
        .find_map(|line| line.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{UNIT} has no {key}="))
        .to_owned()
}

#[test]
fn the_unit_serves_with_the_configuration_and_environment_file_the_readme_installs() {
    let unit = read(UNIT);

    let cli = Cli::try_parse_from(unit_value(&unit, "ExecStart").split_whitespace())
        .expect("ExecStart is a command line the CLI takes");

    assert!(matches!(cli.command, Command::Serve), "{cli:?}");
    assert_eq!(
        cli.config.as_deref(),
        Some(Path::new("/etc/qoe-data-service/qoe.toml"))
    );
    assert_eq!(
        unit_value(&unit, "EnvironmentFile"),
        "/etc/qoe-data-service/qoe.env"
    );
}

#[test]
fn the_unit_waits_longer_than_the_default_drain_before_it_kills() {
    let unit = read(UNIT);
    let settings = Settings::load_from(None, environment_file()).expect("defaults");

    let timeout = unit_value(&unit, "TimeoutStopSec");
    let seconds: u64 = timeout
        .trim_end_matches('s')
        .parse()
        .unwrap_or_else(|_| panic!("TimeoutStopSec={timeout}: give whole seconds"));

    assert!(
        seconds > settings.http.shutdown_timeout.as_secs(),
        "TimeoutStopSec={timeout} cuts off http.shutdown_timeout_s"
    );
    assert_eq!(unit_value(&unit, "KillSignal"), "SIGTERM");
}

/// The disabled status page's advice, followed word for word on the installed example file:
/// the changed line enables the API and the file still loads (no duplicate section).
#[test]
fn the_disabled_pages_advice_applied_to_the_example_file_enables_the_api() {
    let (was, becomes) = ENABLE_LINE;
    let page = render_disabled(&PageContext {
        zone: chrono_tz::Tz::UTC,
        now: chrono::Utc::now(),
        stale_after: chrono::TimeDelta::minutes(30),
        refresh: None,
    });
    assert!(
        page.contains(&format!(
            "change the line <code class=\"was\">{}</code> to <code class=\"becomes\">{}</code>",
            escape(was),
            escape(becomes)
        )),
        "{page}"
    );
    let text = read(EXAMPLE);
    let section = text.find("\n[integration_log]\n").expect("the section");
    let line = section
        + text[section..]
            .find(&format!("\n{was}\n"))
            .expect("the line the page names, in [integration_log]")
        + 1;
    assert!(
        !text[section + 1..line].contains("\n["),
        "the line is in [integration_log] itself"
    );
    let followed = format!("{}{becomes}{}", &text[..line], &text[line + was.len()..]);
    let file = std::env::temp_dir().join(format!("qoe-enabled-{}.toml", std::process::id()));
    std::fs::write(&file, followed).expect("the edited copy is written");

    let settings = Settings::load_from(Some(&file), environment_file());
    let _ = std::fs::remove_file(&file);

    let settings = settings.unwrap_or_else(|e| panic!("the edited example loads: {e}"));
    assert!(settings.integration_log.enabled);
}
