//! The binary itself: a wrong setting stops it before it binds, naming the setting.
use std::process::Command;

fn run_serve(env: &[(&str, &str)]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_qoe-data-service"))
        .arg("serve")
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_wrong_setting_exits_non_zero_naming_it_and_not_the_password() {
    let (succeeded, stderr) = run_serve(&[
        (
            "QOE_DATABASE__CONNECTION_STRING",
            "Server=tcp:127.0.0.1,1433;User Id=qoe_reader;Password=S3cret-Pa55",
        ),
        ("QOE_INTEGRATION_LOG__TIME_ZONE", "Moscow"),
    ]);

    assert!(!succeeded);
    assert!(stderr.contains("integration_log.time_zone"), "{stderr}");
    assert!(!stderr.contains("S3cret-Pa55"), "{stderr}");
}

#[test]
fn a_missing_connection_string_exits_non_zero_naming_it() {
    let (succeeded, stderr) = run_serve(&[]);

    assert!(!succeeded);
    assert!(stderr.contains("database.connection_string"), "{stderr}");
}
