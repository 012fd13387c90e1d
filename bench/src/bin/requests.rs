//! `bench-requests`: sends exactly `--count` GET requests for `--path`, one after another on one
//! keep-alive connection to `127.0.0.1:--port`, reads each answer whole and fails on any status
//! but 200. `bench/instructions.sh` counts a server's instructions for two such runs and
//! divides the difference by the difference in requests, so the server's start-up cancels out.
//!
//! Every request is the same bytes, whoever answers: the service and bench-server's bare
//! endpoints see the same path and headers.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

type Failure = Box<dyn std::error::Error>;

fn main() -> Result<(), Failure> {
    let mut port = 0u16;
    let mut path = String::from("/");
    let mut count = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().unwrap_or_default();
        match arg.as_str() {
            "--port" => port = value.parse()?,
            "--path" => path = value,
            "--count" => count = value.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_nodelay(true)?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: bench-requests\r\nAccept: */*\r\n\r\n"
    );
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut body = Vec::new();
    for sent in 0..count {
        writer.write_all(request.as_bytes())?;
        let length = read_head(&mut reader).map_err(|e| format!("answer {sent}: {e}"))?;
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    }
    println!("requests={count} last_body_bytes={}", body.len());
    Ok(())
}

/// Reads a response head; returns its Content-Length. Anything but a 200 is an error.
fn read_head(reader: &mut impl BufRead) -> Result<usize, Failure> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    if !line.starts_with("HTTP/1.1 200 ") {
        return Err(format!("unexpected status line {line:?}").into());
    }
    let mut length = None;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err("connection closed inside a response head".into());
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.trim().parse()?);
            }
        }
    }
    length.ok_or_else(|| "no Content-Length".into())
}
