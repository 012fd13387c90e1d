//! The integrated sign-in (`Integrated Security=SSPI` or `Trusted_Connection=yes` without a
//! User Id and Password): SQL Server is reached as the account the service runs under, with
//! no password anywhere. How depends on the platform and the build; a build that cannot do it
//! refuses when the settings are read, so `serve` and `check` stop at start, never a late 503.
use tiberius::AuthMethod;

/// Proof that this build can sign in as its own account: only [`integrated`] makes one, and on
/// a build that cannot, none can be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Integrated(Available);

#[cfg(any(windows, all(unix, feature = "kerberos")))]
type Available = ();
#[cfg(not(any(windows, all(unix, feature = "kerberos"))))]
type Available = std::convert::Infallible;

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
pub fn integrated() -> Result<Integrated, NotInThisBuild> {
    Ok(Integrated(()))
}

/// Unix without the `kerberos` feature: refused.
#[cfg(not(any(windows, all(unix, feature = "kerberos"))))]
pub fn integrated() -> Result<Integrated, NotInThisBuild> {
    Err(NotInThisBuild)
}

impl Integrated {
    /// The driver's sign-in as the service's own account.
    #[cfg(any(windows, all(unix, feature = "kerberos")))]
    pub fn auth_method(self) -> AuthMethod {
        AuthMethod::Integrated
    }

    /// No such sign-in in this build: no `Integrated` exists to call it on.
    #[cfg(not(any(windows, all(unix, feature = "kerberos"))))]
    pub fn auth_method(self) -> AuthMethod {
        match self.0 {}
    }

    /// How the service's own account signs in here, for the start line and `check`.
    pub fn describe(self) -> &'static str {
        if cfg!(windows) {
            "the service's own account, through Windows' SSPI (Kerberos or NTLM)"
        } else {
            "the service's own Kerberos identity"
        }
    }
}

/// A driver error raised by this platform's sign-in, as far as the platform can tell it apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInFailure<'a> {
    /// GSSAPI (MIT Kerberos, Unix with `kerberos`): the library's major and minor status
    /// messages, which name principals and realms, never keys.
    Kerberos(&'a str),
    /// sspi-rs NTLM (Unix).
    Ntlm,
}

/// The sign-in failure `error` is, if it is one. Its variants exist only on some platforms and
/// with some features (Windows' SSPI fails as I/O), so they are named here, behind the
/// platform seam; `db`'s error sorting asks this first.
#[allow(clippy::match_single_binding)] // On Windows no arm but the last is left.
pub fn failure(error: &tiberius::error::Error) -> Option<SignInFailure<'_>> {
    match error {
        #[cfg(all(unix, feature = "kerberos"))]
        tiberius::error::Error::Gssapi(message) => Some(SignInFailure::Kerberos(message)),
        #[cfg(unix)]
        tiberius::error::Error::SspiRs(_) => Some(SignInFailure::Ntlm),
        _ => None,
    }
}
