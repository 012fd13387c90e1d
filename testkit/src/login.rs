//! The login side of SQL Server beyond SQL logins: Windows authentication carried as SSPI in
//! LOGIN7 (NTLM verified for one known user and password; with the `kerberos` feature on Unix,
//! Kerberos verified through GSSAPI against a real KDC), and read-only routing (a ROUTING ENVCHANGE to another server).
use std::io;
use std::net::Ipv4Addr;

use sspi::{
    AuthIdentity, BufferType, CredentialUse, DataRepresentation, Ntlm, SecurityBuffer,
    SecurityStatus, ServerRequestFlags, Sspi, SspiImpl, Username,
};

/// How a [`crate::TdsTestServer`] treats logins (see [`crate::TdsTestServer::start_with_login`]).
#[derive(Debug, Clone)]
pub struct LoginOptions {
    /// The loopback address to listen on (127.0.0.1 by default). A distinct address per test
    /// lets a SQL Browser responder use UDP 1434 next to it without colliding.
    pub bind: Ipv4Addr,
    /// `Some`: only Windows logins (SSPI in LOGIN7) of this kind are accepted.
    pub windows: Option<WindowsLogin>,
    /// `Some((host, port))`: every login is answered with a ROUTING ENVCHANGE to there,
    /// as an AG listener with read-only routing (or Azure SQL's redirect policy) does.
    pub route_to: Option<(String, u16)>,
}

impl Default for LoginOptions {
    fn default() -> Self {
        LoginOptions {
            bind: Ipv4Addr::LOCALHOST,
            windows: None,
            route_to: None,
        }
    }
}

/// The Windows authentication a server requires.
#[derive(Debug, Clone)]
pub enum WindowsLogin {
    /// NTLMv2 for one account: `DOMAIN\user` (or `user`) and its password.
    Ntlm { user: String, password: String },
    /// Kerberos through GSSAPI: the server's keytab comes from `KRB5_KTNAME`, and its
    /// principal is `MSSQLSvc/<host>:<port>` as SQL Server registers it.
    #[cfg(all(unix, feature = "kerberos"))]
    Kerberos { service_principal: String },
}

/// One login the server saw, accepted or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRecord {
    /// The SQL login name, or the Windows account (`DOMAIN\user`, `client@REALM`).
    pub user: String,
    /// The SQL login's password as sent (test passwords only); empty for a Windows login.
    pub password: String,
    /// Whether LOGIN7 carried SSPI data (Windows authentication).
    pub integrated: bool,
    /// ApplicationIntent=ReadOnly (TypeFlags fReadOnlyIntent).
    pub read_only_intent: bool,
    /// Whether the login succeeded (a redirect counts as not logged in).
    pub accepted: bool,
}

/// The outcome of one SSPI leg.
pub(crate) enum Step {
    /// Send this token to the client and wait for its next SSPI message.
    Continue(Vec<u8>),
    /// Authenticated as this account; `Some(token)`: a last token to send first.
    Done(String, Option<Vec<u8>>),
}

/// Server side of one Windows authentication exchange.
pub(crate) enum Exchange {
    Ntlm(Box<NtlmServer>),
    #[cfg(all(unix, feature = "kerberos"))]
    Kerberos(libgssapi::context::ServerCtx),
}

impl Exchange {
    pub(crate) fn new(kind: &WindowsLogin) -> io::Result<Self> {
        match kind {
            WindowsLogin::Ntlm { user, password } => {
                Ok(Exchange::Ntlm(Box::new(NtlmServer::new(user, password)?)))
            }
            #[cfg(all(unix, feature = "kerberos"))]
            WindowsLogin::Kerberos { service_principal } => {
                use libgssapi::{
                    context::ServerCtx,
                    credential::{Cred, CredUsage},
                    name::Name,
                    oid::{OidSet, GSS_MECH_KRB5, GSS_NT_KRB5_PRINCIPAL},
                };
                let mut mechs = OidSet::new();
                mechs.add(GSS_MECH_KRB5).map_err(gss)?;
                let name = Name::new(service_principal.as_bytes(), Some(GSS_NT_KRB5_PRINCIPAL))
                    .map_err(gss)?;
                let cred = Cred::acquire(Some(&name), None, CredUsage::Accept, Some(&mechs))
                    .map_err(gss)?;
                Ok(Exchange::Kerberos(ServerCtx::new(Some(cred))))
            }
        }
    }

    /// Feeds one token from the client; an error means authentication failed.
    pub(crate) fn step(&mut self, token: &[u8]) -> io::Result<Step> {
        match self {
            Exchange::Ntlm(ntlm) => ntlm.step(token),
            #[cfg(all(unix, feature = "kerberos"))]
            Exchange::Kerberos(ctx) => {
                use libgssapi::context::SecurityContext;
                let reply = ctx.step(token, None).map_err(gss)?;
                if ctx.is_complete() {
                    let client = ctx.source_name().map_err(gss)?.to_string();
                    Ok(Step::Done(client, reply.map(|t| t.to_vec())))
                } else {
                    Ok(Step::Continue(
                        reply.map(|t| t.to_vec()).unwrap_or_default(),
                    ))
                }
            }
        }
    }
}

#[cfg(all(unix, feature = "kerberos"))]
fn gss(e: libgssapi::error::Error) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, format!("GSSAPI: {e}"))
}

fn denied(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, e.to_string())
}

/// NTLMv2 server for one account (sspi-rs): CHALLENGE, then AUTHENTICATE checked for the
/// expected user and, through its MIC keyed by the password hash, the password.
pub(crate) struct NtlmServer {
    ntlm: Ntlm,
    credentials: Option<sspi::AuthIdentityBuffers>,
    user: String,
    domain: Option<String>,
}

impl NtlmServer {
    fn new(account: &str, password: &str) -> io::Result<Self> {
        let (domain, user) = match account.split_once('\\') {
            Some((domain, user)) => (Some(domain.to_owned()), user.to_owned()),
            None => (None, account.to_owned()),
        };
        let mut ntlm = Ntlm::new();
        let identity = AuthIdentity {
            username: Username::new(&user, domain.as_deref()).map_err(denied)?,
            password: password.to_owned().into(),
        };
        let acquired = ntlm
            .acquire_credentials_handle()
            .with_credential_use(CredentialUse::Inbound)
            .with_auth_data(&identity)
            .execute(&mut ntlm)
            .map_err(denied)?;
        Ok(NtlmServer {
            ntlm,
            credentials: acquired.credentials_handle,
            user,
            domain,
        })
    }

    fn step(&mut self, token: &[u8]) -> io::Result<Step> {
        let authenticate = token.get(8) == Some(&3);
        let mut input = vec![SecurityBuffer::new(token.to_vec(), BufferType::Token)];
        let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
        let builder = self
            .ntlm
            .accept_security_context()
            .with_credentials_handle(&mut self.credentials)
            .with_context_requirements(ServerRequestFlags::ALLOCATE_MEMORY)
            .with_target_data_representation(DataRepresentation::Native)
            .with_input(&mut input)
            .with_output(&mut output);
        let result = self
            .ntlm
            .accept_security_context_impl(builder)
            .and_then(|mut r| r.resolve_to_result())
            .map_err(denied)?;
        if !authenticate {
            return Ok(Step::Continue(output[0].buffer.clone()));
        }
        let (user, domain) = authenticate_names(token)?;
        if !user.eq_ignore_ascii_case(&self.user)
            || self
                .domain
                .as_ref()
                .is_some_and(|d| !d.eq_ignore_ascii_case(&domain))
        {
            return Err(denied(format!("unknown account {domain}\\{user}")));
        }
        if [
            SecurityStatus::CompleteAndContinue,
            SecurityStatus::CompleteNeeded,
        ]
        .contains(&result.status)
        {
            // Checks the MIC, which is keyed by the NTLMv2 hash of the password.
            self.ntlm
                .complete_auth_token(&mut output)
                .map_err(|e| denied(format!("wrong password: {e}")))?;
        }
        Ok(Step::Done(format!("{domain}\\{user}"), None))
    }
}

/// User and domain names of an NTLM AUTHENTICATE message (UTF-16, MS-NLMP 2.2.1.3).
fn authenticate_names(message: &[u8]) -> io::Result<(String, String)> {
    let field = |at: usize| -> io::Result<String> {
        let len = usize::from(u16::from_le_bytes([message[at], message[at + 1]]));
        let offset = u32::from_le_bytes([
            message[at + 4],
            message[at + 5],
            message[at + 6],
            message[at + 7],
        ]) as usize;
        let bytes = message
            .get(offset..offset + len)
            .ok_or_else(|| denied("truncated NTLM AUTHENTICATE"))?;
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16(&units).map_err(denied)
    };
    if message.len() < 44 {
        return Err(denied("truncated NTLM AUTHENTICATE"));
    }
    Ok((field(36)?, field(28)?))
}
