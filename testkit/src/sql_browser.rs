//! A SQL Server Browser (MS-SQLR / SSRP) responder: answers CLNT_UCAST_INST for the instances it
//! knows with their TCP port, and stays silent for others, as the real service does; answers
//! CLNT_UCAST_EX with every instance it knows.
use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// SSRP request opcodes for every instance of the host and for one named instance, and the
/// response opcode.
const CLNT_UCAST_EX: u8 = 0x03;
const CLNT_UCAST_INST: u8 = 0x04;
const SVR_RESP: u8 = 0x05;
/// The port clients ask SQL Server Browser on; tiberius always uses it for `host\instance`.
pub const SQL_BROWSER_PORT: u16 = 1434;

/// Answers SSRP on `ip:port` until dropped.
#[derive(Debug)]
pub struct SqlBrowserResponder {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl SqlBrowserResponder {
    /// Listens on `ip:port` (UDP 1434 needs root; give each test its own 127.x.y.z).
    pub async fn start(
        ip: Ipv4Addr,
        port: u16,
        instances: HashMap<String, u16>,
    ) -> io::Result<Self> {
        let socket = UdpSocket::bind((ip, port)).await?;
        let addr = socket.local_addr()?;
        let instances: HashMap<String, u16> = instances
            .into_iter()
            .map(|(name, port)| (name.to_ascii_uppercase(), port))
            .collect();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 1024];
            loop {
                let Ok((len, from)) = socket.recv_from(&mut buf).await else {
                    continue;
                };
                if let Some(reply) = answer(&buf[..len], &instances) {
                    let _ = socket.send_to(&reply, from).await;
                }
            }
        });
        Ok(SqlBrowserResponder { addr, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for SqlBrowserResponder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn answer(request: &[u8], instances: &HashMap<String, u16>) -> Option<Vec<u8>> {
    let (&opcode, name) = request.split_first()?;
    let data = match opcode {
        CLNT_UCAST_INST => {
            let name = String::from_utf8_lossy(name)
                .trim_end_matches('\0')
                .to_ascii_uppercase();
            instance_record(&name, *instances.get(&name)?)
        }
        CLNT_UCAST_EX => {
            let mut names: Vec<_> = instances.iter().collect();
            names.sort();
            names
                .into_iter()
                .map(|(name, port)| instance_record(name, *port))
                .collect()
        }
        _ => return None,
    };
    let mut reply = vec![SVR_RESP];
    reply.extend_from_slice(&(data.len() as u16).to_le_bytes());
    reply.extend_from_slice(data.as_bytes());
    Some(reply)
}

fn instance_record(name: &str, port: u16) -> String {
    format!(
        "ServerName;TESTKIT;InstanceName;{name};IsClustered;No;Version;16.0.2000.0;tcp;{port};;"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_instance_is_answered_with_its_port_and_an_unknown_one_not_at_all() {
        let instances = HashMap::from([("CQD".to_owned(), 51433)]);

        let reply = answer(b"\x04cqd", &instances).expect("answered");
        let unknown = answer(b"\x04OTHER", &instances);

        assert_eq!(reply[0], SVR_RESP);
        assert!(String::from_utf8_lossy(&reply[3..]).contains(";tcp;51433;"));
        assert_eq!(unknown, None);
    }

    #[test]
    fn a_listing_request_is_answered_with_every_instance() {
        let instances = HashMap::from([("CQD".to_owned(), 51433), ("OTHER".to_owned(), 51434)]);

        let reply = answer(b"\x03", &instances).expect("answered");
        let text = String::from_utf8_lossy(&reply[3..]).into_owned();

        assert_eq!(reply[0], SVR_RESP);
        assert!(text.contains("InstanceName;CQD;"), "{text}");
        assert!(text.contains("InstanceName;OTHER;"), "{text}");
    }
}
