//! What differs by platform, so that the rest of the code carries no `cfg`.

/// The integrated sign-in to SQL Server: Windows' SSPI, or GSSAPI Kerberos on Unix.
pub mod sign_in;
