//! The integrated sign-in (`Integrated Security=SSPI` or `Trusted_Connection=yes` without a
//! User Id and Password): SQL Server is reached as the account the service runs under, with
//! no password anywhere. How depends on the platform and the build.
use tiberius::AuthMethod;

/// This build cannot sign in as its own account: on Unix that needs the `kerberos` feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "Integrated Security without User Id and Password signs in through Kerberos, which this \
     build leaves out: build with `cargo build --release --features kerberos` (needs \
     libkrb5-dev and libclang), or give User Id and Password (a SQL login, or NTLM with \
     User Id=DOMAIN\\user)"
)]
pub struct NotInThisBuild;

/// Windows: SSPI, Kerberos or NTLM as the domain decides (tiberius' `winauth`). Unix with the
/// `kerberos` feature: MIT GSSAPI with the account's ticket cache or client keytab.
#[cfg(any(windows, all(unix, feature = "kerberos")))]
pub fn integrated() -> Result<AuthMethod, NotInThisBuild> {
    Ok(AuthMethod::Integrated)
}

/// Unix without the `kerberos` feature: refused when the settings are read, not at the first
/// login.
#[cfg(not(any(windows, all(unix, feature = "kerberos"))))]
pub fn integrated() -> Result<AuthMethod, NotInThisBuild> {
    Err(NotInThisBuild)
}
