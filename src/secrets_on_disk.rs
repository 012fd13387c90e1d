//! The warning at start when the settings file holds a secret (the connection string's
//! password, API keys) and users other than the service and administrators may read it.
//! Who may read it is the platform's question (`platform::readers_other_than_the_owner`).
use std::path::Path;

use connection_string::AdoNetString;

use crate::platform;

/// Settings files are small; a larger one is not inspected (loading has refused it anyway).
const MAX_SETTINGS_BYTES: u64 = 1024 * 1024;

/// The warning to log for the settings file at `path`, if it holds a secret others may read.
pub fn warning(path: &Path) -> Option<String> {
    let text = crate::files::read_bounded(path, MAX_SETTINGS_BYTES).ok()?;
    let secrets = secrets_in(std::str::from_utf8(&text).ok()?);
    if secrets.is_empty() {
        return None;
    }
    let readers = platform::readers_other_than_the_owner(path)?;
    Some(format!(
        "{path} holds {secrets} and {readers} may read it: {fix}",
        path = path.display(),
        secrets = secrets.join(" and "),
        fix = platform::fix_for_readable_secrets(path),
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
