//! Settings: defaults, TOML file and `QOE_…` environment, validated at start. By concern:
//! - `declared`: every setting declared once, its default and bounds in its type (`values`);
//!   the key list, the defaults, the environment names and the aliases of renamed settings;
//! - `types`: the validated settings everything else reads;
//! - `load`: merging the sources, aliases, list variables, unknown keys, validation;
//! - `connection`: `database.connection_string` parsed once, with a real ADO.NET parser, into
//!   a typed target (server, sign-in, TLS); the accepted keys (`KEYS`);
//! - `database`: the driver's configuration built from it, and the one place the password is
//!   exposed (`auth_method`);
//! - `errors`: `SettingsError`, naming the setting and line, never a value;
//! - `keys`: "did you mean" for a setting that does not exist;
//! - `time_zone`: zones by IANA or Windows name.
mod connection;
mod database;
mod declared;
mod errors;
mod keys;
mod load;
mod time_zone;
mod types;
mod values;

pub use connection::{ConnectionString, Encrypt, Key, ServerAddress, SignIn, TlsOptions, KEYS};
pub use declared::{env_name, key, ENV_PREFIX};
pub(crate) use errors::invalid;
pub use errors::SettingsError;
pub use types::{
    ApiKeys, CacheSettings, DatabaseSettings, HttpSettings, IntegrationLogSettings, LogSettings,
    LogSource, Settings, SqlAgentSettings, TlsSettings,
};
pub use values::LogFormat;
