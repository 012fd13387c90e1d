//! The warning at start when the settings file holds a secret (the connection string's
//! password, API keys) and users other than the service and administrators may read it.
//! Who may read is asked of the system: the mode bits on Unix, `icacls` on Windows (no unsafe
//! code, no ACL crate; the well-known groups are matched by their English names and SIDs).
use std::path::Path;

use connection_string::AdoNetString;

/// Settings files are small; a larger one is not inspected (loading has refused it anyway).
const MAX_SETTINGS_BYTES: u64 = 1024 * 1024;

/// The warning to log for the settings file at `path`, if it holds a secret others may read.
pub fn warning(path: &Path) -> Option<String> {
    let text = crate::files::read_bounded(path, MAX_SETTINGS_BYTES).ok()?;
    let secrets = secrets_in(std::str::from_utf8(&text).ok()?);
    if secrets.is_empty() {
        return None;
    }
    let readers = readable_by_others(path)?;
    Some(format!(
        "{path} holds {secrets} and {readers} may read it: {fix}",
        path = path.display(),
        secrets = secrets.join(" and "),
        fix = fix(path),
    ))
}

/// What secrets a settings file's text holds, by name (never by value).
pub fn secrets_in(text: &str) -> Vec<&'static str> {
    let Ok(table) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let mut secrets = Vec::new();
    let password = table
        .get("database")
        .and_then(|database| database.get("connection_string"))
        .and_then(toml::Value::as_str)
        .and_then(|connection| connection.parse::<AdoNetString>().ok())
        .is_some_and(|pairs| {
            ["password", "pwd"]
                .iter()
                .any(|key| pairs.get(*key).is_some_and(|value| !value.is_empty()))
        });
    if password {
        secrets.push("a password (database.connection_string)");
    }
    let keys = table
        .get("http")
        .and_then(|http| http.get("api_keys"))
        .is_some_and(|keys| match keys {
            toml::Value::Array(keys) => !keys.is_empty(),
            toml::Value::String(keys) => !keys.trim().is_empty(),
            _ => false,
        });
    if keys {
        secrets.push("API keys (http.api_keys)");
    }
    secrets
}

/// Who else may read the file, as the warning names them; `None` when nobody else may (or
/// the system cannot tell).
#[cfg(unix)]
fn readable_by_others(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    readers_by_mode(std::fs::metadata(path).ok()?.permissions().mode())
}

#[cfg(unix)]
fn fix(path: &Path) -> String {
    format!(
        "move the secrets to the environment file (QOE_DATABASE__CONNECTION_STRING, \
         QOE_HTTP__API_KEYS in /etc/qoe-data-service/qoe.env, mode 0600; README 'Install'), \
         or if the service's own user owns the file: chmod 0600 {}",
        path.display()
    )
}

/// Group and other read bits, as `ls -l` shows them.
pub fn readers_by_mode(mode: u32) -> Option<String> {
    match (mode & 0o040 != 0, mode & 0o004 != 0) {
        (false, false) => None,
        (true, false) => Some("its group".to_owned()),
        (false, true) => Some("every user".to_owned()),
        (true, true) => Some("its group and every user".to_owned()),
    }
}

#[cfg(windows)]
fn readable_by_others(path: &Path) -> Option<String> {
    let output = std::process::Command::new("icacls")
        .arg(path)
        .output()
        .ok()?;
    readers_by_icacls(&String::from_utf8_lossy(&output.stdout))
}

#[cfg(windows)]
fn fix(path: &Path) -> String {
    format!(
        "let only SYSTEM, Administrators and the service's account read it: icacls \"{}\" \
         /inheritance:r /grant:r *S-1-5-18:F *S-1-5-32-544:F *S-1-5-19:R (S-1-5-19 is \
         LocalService; name a gMSA as 'CORP\\qoe-svc$:R'), or take the connection string from \
         the service's environment (README 'Secrets on Windows')",
        path.display()
    )
}

/// The broad groups an `icacls FILE` listing lets read the file: Users, Authenticated Users,
/// Everyone (by English name, or by SID where icacls cannot name them).
pub fn readers_by_icacls(listing: &str) -> Option<String> {
    const GROUPS: [(&str, &[&str]); 3] = [
        ("Users", &["BUILTIN\\Users:", "*S-1-5-32-545:"]),
        (
            "Authenticated Users",
            &["NT AUTHORITY\\Authenticated Users:", "*S-1-5-11:"],
        ),
        ("Everyone", &["Everyone:", "*S-1-1-0:"]),
    ];
    const READING: [&str; 7] = ["(F)", "(M)", "(RX)", "(R)", "(GR)", "(GA)", "(RD)"];
    let readers: Vec<&str> = GROUPS
        .iter()
        .filter(|(_, names)| {
            listing.lines().any(|line| {
                names.iter().any(|name| {
                    line.find(name).is_some_and(|at| {
                        let rights = &line[at + name.len()..];
                        !rights.contains("(DENY)") && READING.iter().any(|r| rights.contains(r))
                    })
                })
            })
        })
        .map(|(group, _)| *group)
        .collect();
    if readers.is_empty() {
        None
    } else {
        Some(readers.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_the_connection_string_and_api_keys_are_secrets_named_not_quoted() {
        let text = "[database]\nconnection_string = 'Server=db;User Id=qoe;Password=S3cret'\n\
                    [http]\napi_keys = ['K3y']\n";

        let secrets = secrets_in(text);

        assert_eq!(
            secrets,
            [
                "a password (database.connection_string)",
                "API keys (http.api_keys)"
            ]
        );
        assert!(!secrets.join(" ").contains("S3cret"));
    }

    #[test]
    fn a_file_without_a_password_or_keys_holds_no_secret() {
        for text in [
            "",
            "[database]\nconnection_string = 'Server=db;Integrated Security=SSPI'\n",
            "[http]\napi_keys = []\n",
            "# connection_string = 'Server=db;Password=x'\n",
            "not toml at all = = =",
        ] {
            assert!(secrets_in(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn group_or_other_read_bits_make_a_file_readable_by_others() {
        assert_eq!(readers_by_mode(0o100600), None);
        assert_eq!(readers_by_mode(0o100700), None);
        assert_eq!(readers_by_mode(0o100640).as_deref(), Some("its group"));
        assert_eq!(
            readers_by_mode(0o100644).as_deref(),
            Some("its group and every user")
        );
        assert_eq!(readers_by_mode(0o100604).as_deref(), Some("every user"));
    }

    #[test]
    fn users_reading_by_inheritance_is_found_in_an_icacls_listing() {
        let listing = "C:\\ProgramData\\qoe-data-service\\qoe.toml BUILTIN\\Users:(I)(RX)\r\n\
            \x20                                        NT AUTHORITY\\SYSTEM:(I)(F)\r\n\
            \x20                                        BUILTIN\\Administrators:(I)(F)\r\n\
            \r\nSuccessfully processed 1 files; Failed processing 0 files\r\n";

        assert_eq!(readers_by_icacls(listing).as_deref(), Some("Users"));
    }

    #[test]
    fn a_file_only_system_administrators_and_the_account_read_is_not_flagged() {
        let listing = "C:\\ProgramData\\qoe-data-service\\qoe.toml NT AUTHORITY\\SYSTEM:(F)\r\n\
            \x20   BUILTIN\\Administrators:(F)\r\n\
            \x20   NT AUTHORITY\\LOCAL SERVICE:(R)\r\n\
            \x20   Everyone:(DENY)(R)\r\n";

        assert_eq!(readers_by_icacls(listing), None);
    }

    #[test]
    fn everyone_and_authenticated_users_by_sid_are_flagged_too() {
        let listing = "qoe.toml *S-1-1-0:(R)\r\n    *S-1-5-11:(I)(M)\r\n";

        assert_eq!(
            readers_by_icacls(listing).as_deref(),
            Some("Authenticated Users, Everyone")
        );
    }

    #[test]
    fn a_readable_settings_file_with_a_password_is_warned_about_naming_the_file_and_the_fix() {
        let path = std::env::temp_dir().join(format!("qoe-secret-{}.toml", std::process::id()));
        std::fs::write(
            &path,
            "[database]\nconnection_string = 'Server=db;User Id=qoe;Password=S3cret'\n",
        )
        .expect("settings");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            let warned = warning(&path).expect("a warning");
            assert!(warned.contains(&path.display().to_string()), "{warned}");
            assert!(warned.contains("every user"), "{warned}");
            assert!(warned.contains("chmod 0600"), "{warned}");
            assert!(!warned.contains("S3cret"), "{warned}");

            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
            assert_eq!(warning(&path), None);
        }
        let _ = std::fs::remove_file(&path);
    }
}
