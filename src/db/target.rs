//! Where a connection goes, as the pool needs it: the driver configuration built once, the
//! named instance to look up through SQL Server Browser, and the configuration for a routing
//! redirect. No parsing here: `configuration` reads the connection string, once.
use crate::configuration::DatabaseSettings;

/// Everything `open_client` needs to reach the server, possibly by way of a redirect.
#[derive(Clone)]
pub struct ConnectTarget {
    /// The configuration for the server the connection string names.
    pub(super) config: tiberius::Config,
    /// The instance whose port SQL Server Browser (UDP 1434) tells; `None` with a port.
    pub(super) named_instance: Option<String>,
    /// What a redirect's configuration is built from.
    settings: DatabaseSettings,
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
    pub fn from_settings(settings: &DatabaseSettings) -> Self {
        ConnectTarget {
            config: settings.tiberius_config(),
            named_instance: settings
                .connection_string
                .server
                .browser_instance()
                .map(str::to_owned),
            settings: settings.clone(),
        }
    }

    /// The configuration for `host:port`, named by a routing ENVCHANGE.
    pub(super) fn redirected(&self, host: &str, port: u16) -> tiberius::Config {
        self.settings.redirected_config(host, port)
    }
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
        ConnectTarget::from_settings(&settings(connection_string))
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
    fn a_redirect_keeps_login_intent_and_tls_but_drops_the_instance() {
        let target = target(
            "Server=listener\\AG;Database=QoEArchive;User Id=u;Password=p;\
             ApplicationIntent=ReadOnly;Encrypt=strict;MultiSubnetFailover=true",
        );

        let routed = target.redirected("replica2", 51000);
        let text = format!("{routed:?}");

        assert_eq!(routed.get_addr(), "replica2:51000");
        assert!(text.contains("readonly: true"), "{text}");
        assert!(text.contains("instance_name: None"), "{text}");
        assert!(text.contains("Strict"), "{text}");
        assert!(text.contains("QoEArchive"), "{text}");
        assert!(!text.contains("\"p\""), "{text}");
    }

    #[test]
    fn a_redirect_keeps_a_windows_login_and_the_application_name() {
        let target = target(
            "Server=listener\\AG,1433;Integrated Security=SSPI;User Id=CORP\\svc;Password=pw;\
             Application Name=CQD status",
        );

        let text = format!("{:?}", target.redirected("replica2", 51000));

        assert!(text.contains("Windows"), "{text}");
        assert!(text.contains("CQD status"), "{text}");
        assert!(text.contains("instance_name: None"), "{text}");
    }

    #[test]
    fn debug_output_names_the_address_only() {
        let target = target("Server=sql01,1433;User Id=u;Password=Secret-Pa55");

        let text = format!("{target:?}");

        assert!(text.contains("sql01:1433"), "{text}");
        assert!(!text.contains("Secret-Pa55"), "{text}");
    }
}
