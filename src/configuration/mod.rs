//! Settings: defaults, TOML file and `QOE_…` environment, validated at start. By concern:
//! - `types`: the validated settings everything else reads;
//! - `load`: merging the sources, list variables, unknown keys, validation;
//! - `connection`: `database.connection_string` parsed once, with a real ADO.NET parser, into
//!   a typed target (server, sign-in, TLS); the accepted keys (`KEYS`);
//! - `database`: the driver's configuration built from it, and the one place the password is
//!   exposed (`auth_method`);
//! - `errors`: `SettingsError`, naming the setting and line, never a value;
//! - `keys`: which settings exist (read off the `Raw*` structs) and "did you mean";
//! - `time_zone`: zones by IANA or Windows name.
mod connection;
mod database;
mod errors;
mod keys;
mod load;
mod time_zone;
mod types;

pub use connection::{ConnectionString, Encrypt, Key, ServerAddress, SignIn, TlsOptions, KEYS};
pub(crate) use errors::invalid;
pub use errors::SettingsError;
pub use load::ENV_PREFIX;
pub use types::{
    ApiKeys, CacheSettings, DatabaseSettings, HttpSettings, IntegrationLogSettings, LogFormat,
    LogSettings, LogSource, Settings, SqlAgentSettings, TlsSettings,
};
