//! Where a connection goes: the driver configuration plus what tiberius cannot tell us about
//! it (a named instance to look up through SQL Server Browser, and a template for a routing
//! redirect), all read from the one ADO.NET connection string.
use connection_string::AdoNetString;
use secrecy::{ExposeSecret, SecretString};
use tiberius::AuthMethod;

use crate::configuration::{invalid, DatabaseSettings, SettingsError};
use crate::platform::sign_in;

/// The keys tiberius reads the server from, in its order.
const TIBERIUS_SERVER_KEYS: [&str; 2] = ["server", "data source"];

/// The keys ADO.NET reads the server from, all dropped for a redirect.
const SERVER_KEYS: [&str; 5] = [
    "server",
    "data source",
    "address",
    "addr",
    "network address",
];

/// Everything `open_client` needs to reach the server, possibly by way of a redirect.
#[derive(Clone)]
pub struct ConnectTarget {
    /// The configuration for the server the connection string names.
    pub(super) config: tiberius::Config,
    /// `host\instance` without a port: the port comes from SQL Server Browser (UDP 1434).
    pub(super) named_instance: Option<String>,
    /// The same settings without a server, for the one host and port a redirect names.
    redirect_template: DatabaseSettings,
}

impl std::fmt::Debug for ConnectTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectTarget")
            .field("addr", &self.config.get_addr())
            .field("named_instance", &self.named_instance)
            .finish()
    }
}

impl ConnectTarget {
    /// Reads the connection string of `settings` (already validated by `tiberius_config`).
    pub fn from_settings(settings: &DatabaseSettings) -> Result<Self, SettingsError> {
        let mut config = settings.tiberius_config()?;
        let pairs = parse(settings.connection_string.expose_secret())?;
        apply_trusted_connection(&pairs, &mut config)?;
        let server = TIBERIUS_SERVER_KEYS.iter().find_map(|key| pairs.get(*key));
        let named_instance = server.and_then(|server| {
            let server = server.trim();
            let server = server.strip_prefix("tcp:").unwrap_or(server);
            let (host, port) = match server.split_once(',') {
                Some((host, port)) => (host, Some(port)),
                None => (server, None),
            };
            // An explicit port wins: no SQL Browser lookup, and tiberius must not ask it.
            match (host.split_once('\\'), port) {
                (Some((_, instance)), None) if !instance.trim().is_empty() => {
                    Some(instance.trim().to_owned())
                }
                _ => None,
            }
        });
        let redirect_template = without_server(settings, pairs);
        Ok(ConnectTarget {
            config,
            named_instance,
            redirect_template,
        })
    }

    /// The configuration for `host:port`, named by a routing ENVCHANGE: the same login,
    /// database, intent, TLS and timeouts, without the instance name of the first server.
    pub(super) fn redirected(&self, host: &str, port: u16) -> Result<tiberius::Config, String> {
        let mut config = self
            .redirect_template
            .tiberius_config()
            .map_err(|e| e.to_string())?;
        let pairs = parse(self.redirect_template.connection_string.expose_secret())
            .map_err(|e| e.to_string())?;
        apply_trusted_connection(&pairs, &mut config).map_err(|e| e.to_string())?;
        config.host(host);
        config.port(port);
        Ok(config)
    }
}

fn parse(connection_string: &str) -> Result<AdoNetString, SettingsError> {
    connection_string.parse::<AdoNetString>().map_err(|_| {
        invalid(
            "database.connection_string",
            "not a valid ADO.NET connection string",
        )
    })
}

/// `Trusted_Connection` is ADO.NET's synonym for `Integrated Security`, which tiberius does
/// not read: give both the same meaning (NTLM with a user and password, the service's own
/// account without, as this platform and build can: `platform::sign_in`).
fn apply_trusted_connection(
    pairs: &AdoNetString,
    config: &mut tiberius::Config,
) -> Result<(), SettingsError> {
    let Some(value) = [
        "integrated security",
        "integratedsecurity",
        "trusted_connection",
    ]
    .iter()
    .find_map(|key| pairs.get(*key)) else {
        return Ok(());
    };
    let on = match value.trim().to_ascii_lowercase().as_str() {
        "sspi" | "true" | "yes" => true,
        "false" | "no" => false,
        _ => {
            return Err(invalid(
                "database.connection_string",
                "Trusted_Connection must be SSPI, true or false",
            ))
        }
    };
    if !on {
        return Ok(());
    }
    let user = ["user id", "uid", "user", "username"]
        .iter()
        .find_map(|key| pairs.get(*key));
    let password = ["password", "pwd"].iter().find_map(|key| pairs.get(*key));
    config.authentication(match (user, password) {
        (Some(user), Some(password)) => AuthMethod::windows(user, password),
        (None, None) => sign_in::integrated()
            .map_err(|e| invalid("database.connection_string", e.to_string()))?,
        _ => {
            return Err(invalid(
                "database.connection_string",
                "Integrated Security (or Trusted_Connection) with a User Id needs a Password \
                 too (NTLM), or neither (the service's own account)",
            ))
        }
    });
    Ok(())
}

/// `settings` with the server keys removed from its connection string.
fn without_server(settings: &DatabaseSettings, mut pairs: AdoNetString) -> DatabaseSettings {
    for key in SERVER_KEYS {
        pairs.remove(key);
    }
    let mut template = settings.clone();
    template.connection_string = SecretString::from(pairs.to_string());
    template
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Built the way the service builds them, so new settings keep their defaults here.
    fn settings(connection_string: &str) -> DatabaseSettings {
        crate::configuration::Settings::load_from(
            None,
            std::collections::HashMap::from([(
                "QOE_DATABASE__CONNECTION_STRING".to_owned(),
                connection_string.to_owned(),
            )]),
        )
        .expect("valid settings")
        .database
    }

    fn target(connection_string: &str) -> ConnectTarget {
        ConnectTarget::from_settings(&settings(connection_string)).expect("valid")
    }

    #[test]
    fn a_host_backslash_instance_is_looked_up_through_sql_browser() {
        for server in ["sql01\\CQD", "tcp:sql01\\CQD"] {
            let target = target(&format!("Server={server};User Id=u;Password=p"));

            assert_eq!(target.named_instance.as_deref(), Some("CQD"), "{server}");
            assert_eq!(target.config.get_addr(), "sql01:1434");
        }
    }

    #[test]
    fn data_source_is_read_like_server() {
        let target = target("Data Source=sql01\\CQD;User Id=u;Password=p");

        assert_eq!(target.named_instance.as_deref(), Some("CQD"));
    }

    #[test]
    fn an_explicit_port_wins_over_the_instance_name() {
        let target = target("Server=tcp:sql01\\CQD,51433;User Id=u;Password=p");

        assert_eq!(target.named_instance, None);
        assert_eq!(target.config.get_addr(), "sql01:51433");
    }

    #[test]
    fn a_plain_host_and_port_needs_no_lookup() {
        let target = target("Server=tcp:sql01,1433;User Id=u;Password=p");

        assert_eq!(target.named_instance, None);
        assert_eq!(target.config.get_addr(), "sql01:1433");
    }

    #[test]
    fn integrated_security_with_a_user_is_ntlm() {
        let ntlm = target("Server=h,1;Integrated Security=SSPI;User Id=CORP\\svc;Password=pw");

        assert!(format!("{:?}", ntlm.config).contains("Windows"));
    }

    /// Integrated sign-in without a user, each way of asking for it.
    const OWN_ACCOUNT: [&str; 3] = [
        "Server=h,1;Integrated Security=SSPI",
        "Server=h,1;IntegratedSecurity=true",
        "Server=h,1;Trusted_Connection=yes",
    ];

    #[test]
    #[cfg(any(windows, all(unix, feature = "kerberos")))]
    fn integrated_security_without_a_user_is_the_services_own_account() {
        for connection_string in OWN_ACCOUNT {
            let own = target(connection_string);

            assert!(
                format!("{:?}", own.config).contains("Integrated"),
                "{connection_string}"
            );
        }
    }

    #[test]
    #[cfg(all(unix, not(feature = "kerberos")))]
    fn integrated_security_without_a_user_is_refused_at_start_without_the_kerberos_feature() {
        for connection_string in OWN_ACCOUNT {
            let error = ConnectTarget::from_settings(&settings(connection_string))
                .expect_err("refused at start");

            let text = error.to_string();
            assert!(text.contains("--features kerberos"), "{text}");
            assert!(text.contains("User Id and Password"), "{text}");
            assert!(text.contains("DOMAIN\\user"), "{text}");
        }
    }

    #[test]
    fn trusted_connection_is_a_synonym_of_integrated_security() {
        let ntlm = target("Server=h,1;Trusted_Connection=yes;User Id=CORP\\svc;Password=pw");
        let sql = target("Server=h,1;Trusted_Connection=false;User Id=u;Password=pw");

        assert!(format!("{:?}", ntlm.config).contains("Windows"));
        assert!(format!("{:?}", sql.config).contains("SqlServer"));
    }

    #[test]
    fn a_malformed_trusted_connection_names_the_setting() {
        let mut settings = settings("Server=h,1");
        settings.connection_string = SecretString::from("Server=h,1;Trusted_Connection=maybe");

        let error = ConnectTarget::from_settings(&settings).expect_err("refused");

        assert!(error.to_string().contains("Trusted_Connection"), "{error}");
    }

    #[test]
    fn a_redirect_keeps_login_intent_and_tls_but_drops_the_instance() {
        let target = target(
            "Server=listener\\AG;Database=QoEArchive;User Id=u;Password=p;\
             ApplicationIntent=ReadOnly;Encrypt=strict;MultiSubnetFailover=true",
        );

        let routed = target.redirected("replica2", 51000).expect("redirect");
        let text = format!("{routed:?}");

        assert_eq!(routed.get_addr(), "replica2:51000");
        assert!(text.contains("readonly: true"), "{text}");
        assert!(text.contains("instance_name: None"), "{text}");
        assert!(text.contains("Strict"), "{text}");
        assert!(text.contains("QoEArchive"), "{text}");
        assert!(!text.contains("\"p\""), "{text}");
    }

    #[test]
    fn a_redirect_keeps_a_quoted_password_with_special_characters() {
        let target = target("Server=listener,1433;User Id=u;Password={p;w=1};Encrypt=false");

        let routed = target.redirected("replica2", 51000).expect("redirect");

        assert_eq!(routed.get_addr(), "replica2:51000");
        assert!(format!("{routed:?}").contains("SqlServer"));
    }

    #[test]
    fn debug_output_names_the_address_only() {
        let target = target("Server=sql01,1433;User Id=u;Password=Secret-Pa55");

        let text = format!("{target:?}");

        assert!(text.contains("sql01:1433"), "{text}");
        assert!(!text.contains("Secret-Pa55"), "{text}");
    }
}
