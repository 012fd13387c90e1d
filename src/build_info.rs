//! What this build is: the version (from `Cargo.toml` alone), the target it was built for and
//! whether the `kerberos` feature is in (both from `build.rs`). Shown by `--version`, the start
//! line, `/metrics` (`qoe_build_info`) and `/openapi.json`.

/// The package version, as `Cargo.toml` says.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The target triple the binary was built for (e.g. `x86_64-unknown-linux-gnu`).
pub const TARGET: &str = env!("QOE_BUILD_TARGET");

/// `on` when the `kerberos` feature (Integrated Security on Unix through GSSAPI) is built in,
/// else `off`.
pub const KERBEROS: &str = env!("QOE_BUILD_KERBEROS");

/// `--version`'s text after the program name: `0.1.0 (x86_64-unknown-linux-gnu, kerberos off)`.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("QOE_BUILD_TARGET"),
    ", kerberos ",
    env!("QOE_BUILD_KERBEROS"),
    ")"
);
