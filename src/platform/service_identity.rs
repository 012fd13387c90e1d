//! The Windows service as registered, in one place for both who register it: `service install`
//! and the MSI (`cargo xtask dist` includes this very file and renders the .wxs from it). The
//! description is Cargo.toml's `description`, read by both. Plain constants only: the xtask
//! compiles this file on its own.

/// The service's name, as `Start-Service`, `sc.exe` and the Services console know it.
pub const NAME: &str = "qoe-data-service";
pub const DISPLAY_NAME: &str = "QoE Data Service";
/// What the Service Control Manager starts, followed by `--config PATH` when there is a file.
pub const RUN_ARGUMENTS: [&str; 2] = ["service", "run"];
/// What the MSI runs once it has registered the service (see `service configure`).
pub const CONFIGURE_ARGUMENTS: [&str; 2] = ["service", "configure"];
/// The account when none is given: the least privilege Windows offers.
pub const DEFAULT_ACCOUNT: &str = "NT AUTHORITY\\LocalService";
/// The settings file in `%ProgramData%\qoe-data-service`, and the example it starts from,
/// installed beside the program.
pub const SETTINGS_FILE: &str = "qoe.toml";
pub const EXAMPLE_SETTINGS_FILE: &str = "qoe.example.toml";
