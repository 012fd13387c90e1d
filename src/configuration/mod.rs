//! Settings: defaults, TOML file and `QOE_…` environment, validated at start. By concern:
//! - `types`: the validated settings everything else reads;
//! - `load`: merging the sources, list variables, unknown keys, validation;
//! - `database`: `database.connection_string` read with a real ADO.NET parser, the allowed
//!   keys, and the one place the password is exposed (the tiberius `Config`);
//! - `errors`: `SettingsError`, naming the setting and line, never a value;
//! - `keys`: which settings exist (read off the `Raw*` structs) and "did you mean";
//! - `time_zone`: zones by IANA or Windows name.
mod database;
mod errors;
mod keys;
mod load;
mod time_zone;
mod types;

pub use database::ALLOWED_KEYS;
pub(crate) use errors::invalid;
pub use errors::SettingsError;
pub use load::ENV_PREFIX;
pub use types::{
    ApiKeys, CacheSettings, DatabaseSettings, HttpSettings, IntegrationLogSettings, LogFormat,
    LogSettings, LogSource, Settings, SqlAgentSettings, TlsSettings,
};
