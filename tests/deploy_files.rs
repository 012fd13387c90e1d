//! The files under `deploy/` agree with the code: the example configuration loads through the
//! real settings loader, shows every setting with its default, and the systemd unit starts the
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

/// Settings that have no default: their line shows an example value instead.
const WITHOUT_DEFAULT: [&str; 5] = [
    "database.connection_string",
    "database.ca_certificate_path",
    "http.tls.cert_path",
    "http.tls.key_path",
    "integration_log.sql_agent.job_name",
];

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
        if WITHOUT_DEFAULT.contains(&line.setting.as_str()) {
            continue;
        }
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
