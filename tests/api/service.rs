//! `service install | uninstall | run`, the Windows service's commands, as the binary answers
//! them outside the Service Control Manager. Under it, `.ci/wine/service-check` runs them.
use std::process::Command;

/// Runs the binary with `args` and no environment; whether it succeeded, stdout and stderr.
fn run(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_qoe-data-service"))
        .args(args)
        .env_clear()
        .output()
        .expect("the binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn service_install_help_names_the_accounts_and_where_the_log_goes() {
    let (succeeded, stdout, _) = run(&["service", "install", "--help"]);

    assert!(succeeded, "{stdout}");
    for said in [
        "--account <DOMAIN\\name$>",
        "--config <PATH>",
        "group managed service account",
        "NT AUTHORITY\\LocalService (the default",
        "NT AUTHORITY\\NetworkService",
        "service run --config PATH",
        "logs\\qoe-data-service.log",
    ] {
        assert!(stdout.contains(said), "{said}: {stdout}");
    }
}

#[test]
fn service_help_lists_install_uninstall_and_run() {
    let (succeeded, stdout, _) = run(&["service", "--help"]);

    assert!(succeeded, "{stdout}");
    for command in ["install", "uninstall", "run"] {
        assert!(
            stdout
                .lines()
                .any(|line| line.trim_start().starts_with(command)),
            "{command}: {stdout}"
        );
    }
}

#[test]
#[cfg(not(windows))]
fn the_service_commands_say_they_are_for_windows_and_point_to_systemd() {
    for args in [
        &["service", "install", "--account", "CORP\\qoe-svc$"][..],
        &["service", "uninstall"],
        &["service", "run"],
    ] {
        let (succeeded, _, stderr) = run(args);

        assert!(!succeeded, "{args:?}");
        assert!(stderr.contains("on Windows only"), "{args:?}: {stderr}");
        assert!(stderr.contains("systemd"), "{args:?}: {stderr}");
    }
}

#[test]
#[cfg(windows)]
fn service_run_in_a_console_says_to_use_serve() {
    let (succeeded, _, stderr) = run(&["service", "run"]);

    assert!(!succeeded);
    assert!(
        stderr.contains("what the Service Control Manager starts"),
        "{stderr}"
    );
    assert!(stderr.contains("`serve`"), "{stderr}");
}

#[test]
#[cfg(windows)]
fn service_install_refuses_an_account_that_needs_a_password() {
    let (succeeded, _, stderr) = run(&["service", "install", "--account", "CORP\\qoe_service"]);

    assert!(!succeeded);
    assert!(stderr.contains("DOMAIN\\name$"), "{stderr}");
}
