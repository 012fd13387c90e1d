use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const DEADLINE: Duration = Duration::from_secs(2);

/// Succeeds when the server listening on `listen` answers `GET /healthz` with 200.
pub async fn check(listen: SocketAddr) -> anyhow::Result<()> {
    let target = reachable(listen);
    let status_line = tokio::time::timeout(DEADLINE, fetch_status_line(target))
        .await
        .with_context(|| format!("no answer from {target} within {DEADLINE:?}"))??;
    if status_line.split_whitespace().nth(1) != Some("200") {
        bail!("{target}/healthz answered `{status_line}`");
    }
    Ok(())
}

/// A server listening on every address is asked on loopback.
fn reachable(listen: SocketAddr) -> SocketAddr {
    match listen {
        SocketAddr::V4(v4) if v4.ip().is_unspecified() => {
            SocketAddr::from((Ipv4Addr::LOCALHOST, v4.port()))
        }
        SocketAddr::V6(v6) if v6.ip().is_unspecified() => {
            SocketAddr::from((Ipv6Addr::LOCALHOST, v6.port()))
        }
        other => other,
    }
}

async fn fetch_status_line(target: SocketAddr) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(target)
        .await
        .with_context(|| format!("connecting to {target}"))?;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response);
    Ok(text.lines().next().unwrap_or_default().to_owned())
}
