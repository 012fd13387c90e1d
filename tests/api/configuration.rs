//! The binary itself: a wrong setting stops it before it binds, naming the setting.
use std::process::Command;

/// Runs the binary with `args` and only `env`; whether it succeeded, and its stderr.
fn run(args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_qoe-data-service"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn run_serve(env: &[(&str, &str)]) -> (bool, String) {
    run(&["serve".as_ref()], env)
}

#[test]
fn a_wrong_setting_exits_non_zero_naming_it_and_not_the_password() {
    let (succeeded, stderr) = run_serve(&[
        (
            "QOE_DATABASE__CONNECTION_STRING",
            "Server=tcp:127.0.0.1,1433;User Id=qoe_service;Password=S3cret-Pa55",
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

fn serve_with_file(toml: &str, env: &[(&str, &str)]) -> (bool, String) {
    let dir = std::env::temp_dir().join(format!("qoe-bin-settings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join(format!("{:x}.toml", toml.len() * 31 + env.len()));
    std::fs::write(&file, toml).expect("write settings");
    run(
        &["--config".as_ref(), file.as_os_str(), "serve".as_ref()],
        env,
    )
}

#[test]
fn broken_toml_or_a_wrong_type_around_a_secret_never_reaches_stderr() {
    for toml in [
        "[database]\nconnection_string = \"Server=db;Password=S3cret-Pa55\n",
        "[http]\napi_keys = \"S3cret-Pa55\"\n",
        "[http]\napi_keys = [\"S3cret-Pa55\",\n",
    ] {
        let (succeeded, stderr) = serve_with_file(toml, &[]);

        assert!(!succeeded, "{toml:?} started");
        assert!(
            stderr.contains("line") || stderr.contains("http.api_keys"),
            "{stderr}"
        );
        assert!(!stderr.contains("S3cret-Pa55"), "{toml:?}: {stderr}");
    }
}

#[test]
fn a_misspelt_api_key_variable_stops_the_start_instead_of_serving_open() {
    let (succeeded, stderr) = run_serve(&[
        (
            "QOE_DATABASE__CONNECTION_STRING",
            "Server=tcp:127.0.0.1,1433;User Id=qoe_service;Password=S3cret-Pa55",
        ),
        ("QOE_HTTP__LISTEN", "127.0.0.1:0"),
        ("QOE_HTTP__API_KEY", "S3cret-Key"),
    ]);

    assert!(!succeeded);
    assert!(stderr.contains("QOE_HTTP__API_KEY"), "{stderr}");
    assert!(stderr.contains("did you mean `http.api_keys`"), "{stderr}");
    assert!(!stderr.contains("S3cret"), "{stderr}");
}

#[test]
fn a_connection_string_with_a_misspelt_password_key_stops_the_start() {
    let (succeeded, stderr) = run_serve(&[(
        "QOE_DATABASE__CONNECTION_STRING",
        "Server=tcp:127.0.0.1,1433;User Id=qoe_service;Pasword=S3cret-Pa55",
    )]);

    assert!(!succeeded);
    assert!(stderr.contains("did you mean `Password`"), "{stderr}");
    assert!(!stderr.contains("S3cret-Pa55"), "{stderr}");
}

/// Runs the binary with `args` and no environment but a connection string, killing it after
/// five seconds; whether it exited in time, and its stdout and stderr.
fn run_briefly(args: &[&std::ffi::OsStr]) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_qoe-data-service"))
        .args(args)
        .env_clear()
        .env(
            "QOE_DATABASE__CONNECTION_STRING",
            "Server=tcp:127.0.0.1,1;User Id=u;Password=p",
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut exited = false;
    while std::time::Instant::now() < deadline {
        if child.try_wait().expect("wait").is_some() {
            exited = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    if !exited {
        let _ = child.kill();
    }
    let output = child.wait_with_output().expect("output");
    let mut said = String::from_utf8_lossy(&output.stdout).into_owned();
    said.push_str(&String::from_utf8_lossy(&output.stderr));
    (exited && !output.status.success(), said)
}

#[test]
fn serve_and_check_refuse_a_settings_file_that_is_no_small_regular_file_at_once() {
    let dir = std::env::temp_dir().join(format!("qoe-bin-bounded-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let sparse = dir.join("sparse.toml");
    std::fs::File::create(&sparse)
        .and_then(|file| file.set_len(2 * 1024 * 1024 * 1024))
        .expect("a 2 GiB sparse file");
    let mut files = vec![dir.clone(), sparse.clone()];
    if cfg!(unix) {
        let fifo = dir.join("fifo.toml");
        let _ = std::fs::remove_file(&fifo);
        let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
        assert!(made.success());
        files.extend(["/dev/zero", "/dev/urandom"].map(std::path::PathBuf::from));
        files.push(fifo);
    }
    for file in &files {
        for command in ["serve", "check"] {
            let (refused, said) =
                run_briefly(&["--config".as_ref(), file.as_os_str(), command.as_ref()]);

            assert!(refused, "{command} --config {}: {said}", file.display());
            assert!(
                said.contains(&file.display().to_string()) && said.contains("1048576 bytes"),
                "{command} --config {}: {said}",
                file.display()
            );
        }
    }
    std::fs::remove_file(&sparse).expect("clean up");
}
