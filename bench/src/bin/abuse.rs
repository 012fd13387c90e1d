//! Memory under abuse (issue #10): many connections each sending a large unfinished request
//! head, plus thousands of distinct `IntegrationLog` queries, against a running service on
//! loopback; prints the service's peak RSS (VmHWM). Bounded in count and time.
//!
//!   bench-abuse --port 18080 --pid <service pid> [--connections 5000] [--head-kb 120]
//!               [--queries 7000] [--seconds 120]
use std::time::{Duration, Instant};

use qoe_data_service::domain::LogCategory;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

struct Args {
    port: u16,
    pid: u32,
    connections: usize,
    head_kb: usize,
    queries: usize,
    seconds: u64,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        port: 0,
        pid: 0,
        connections: 5000,
        head_kb: 120,
        queries: 7000,
        seconds: 120,
    };
    let mut it = std::env::args().skip(1);
    while let Some(name) = it.next() {
        let value = it.next().ok_or(format!("{name} needs a value"))?;
        let number = || value.parse::<u64>().map_err(|e| format!("{name}: {e}"));
        match name.as_str() {
            "--port" => args.port = number()? as u16,
            "--pid" => args.pid = number()? as u32,
            "--connections" => args.connections = number()? as usize,
            "--head-kb" => args.head_kb = number()? as usize,
            "--queries" => args.queries = number()? as usize,
            "--seconds" => args.seconds = number()?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.port == 0 || args.pid == 0 {
        return Err("--port and --pid are required".into());
    }
    Ok(args)
}

fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[derive(Default, Debug)]
struct HeadOutcome {
    connected: usize,
    refused_connect: usize,
    cut_by_server: usize,
    held_whole_head: usize,
}

/// Connects, sends `head_kb` KB of a head that never ends, then holds the socket until `stop`.
async fn hold_unfinished_head(
    port: u16,
    head_kb: usize,
    mut stop: watch::Receiver<bool>,
) -> (bool, bool) {
    let connect = tokio::time::timeout(
        Duration::from_secs(10),
        TcpStream::connect(("127.0.0.1", port)),
    );
    let Ok(Ok(mut stream)) = connect.await else {
        return (false, false);
    };
    let mut cut = stream
        .write_all(b"GET /QoEDataService/IntegrationLog HTTP/1.1\r\nHost: x\r\nX-Pad: ")
        .await
        .is_err();
    let chunk = vec![b'a'; 8 * 1024];
    let mut sent = 0;
    while !cut && sent < head_kb * 1024 {
        let write = tokio::time::timeout(Duration::from_secs(10), stream.write_all(&chunk)).await;
        cut = !matches!(write, Ok(Ok(())));
        sent += chunk.len();
    }
    if !cut {
        // Hold until told to stop, or until the server closes.
        let mut byte = [0u8; 1];
        tokio::select! {
            _ = stop.changed() => {}
            read = stream.read(&mut byte) => cut = matches!(read, Ok(0) | Err(_)),
        }
    }
    (true, cut)
}

async fn get(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.ok()?;
    String::from_utf8_lossy(&response)
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[tokio::main]
async fn main() {
    let args = match args() {
        Ok(args) => args,
        Err(problem) => {
            eprintln!("bench-abuse: {problem}");
            std::process::exit(2);
        }
    };
    let started = Instant::now();
    let rss_before = peak_rss_kb(args.pid);
    let (stop, stopped) = watch::channel(false);
    let holders: Vec<_> = (0..args.connections)
        .map(|_| {
            tokio::spawn(hold_unfinished_head(
                args.port,
                args.head_kb,
                stopped.clone(),
            ))
        })
        .collect();

    // Distinct queries: top 1..=1000 with no category, then with each category.
    let paths: Vec<String> = (0..args.queries)
        .map(|i| {
            let top = i % 1000 + 1;
            match i / 1000 {
                0 => format!("/QoEDataService/IntegrationLog?top={top}"),
                n => format!(
                    "/QoEDataService/IntegrationLog?top={top}&category={}",
                    LogCategory::ALL[(n - 1) % LogCategory::ALL.len()].as_str()
                ),
            }
        })
        .collect();
    let (mut ok, mut failed) = (0usize, 0usize);
    let deadline = Duration::from_secs(args.seconds);
    for batch in paths.chunks(16) {
        if started.elapsed() > deadline {
            failed += batch.len();
            continue;
        }
        let port = args.port;
        let answers = futures_join(
            batch
                .iter()
                .cloned()
                .map(|path| async move { get(port, &path).await }),
        )
        .await;
        for answer in answers {
            if answer == Some(200) {
                ok += 1;
            } else {
                failed += 1;
            }
        }
    }

    let _ = stop.send(true);
    let mut outcome = HeadOutcome::default();
    for holder in holders {
        match tokio::time::timeout(Duration::from_secs(30), holder).await {
            Ok(Ok((true, cut))) => {
                outcome.connected += 1;
                if cut {
                    outcome.cut_by_server += 1;
                } else {
                    outcome.held_whole_head += 1;
                }
            }
            _ => outcome.refused_connect += 1,
        }
    }
    let peak = peak_rss_kb(args.pid);
    println!(
        "{} connections x {} KB unfinished heads: {} connected ({} cut by the server, {} held the whole head), {} not connected",
        args.connections,
        args.head_kb,
        outcome.connected,
        outcome.cut_by_server,
        outcome.held_whole_head,
        outcome.refused_connect
    );
    println!(
        "{} distinct log queries: {ok} answered 200, {failed} failed",
        args.queries
    );
    println!(
        "service peak RSS (VmHWM): {} MB before, {} MB after; {:.1} s",
        rss_before / 1024,
        peak / 1024,
        started.elapsed().as_secs_f64()
    );
}

async fn futures_join<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        if let Ok(value) = handle.await {
            out.push(value);
        }
    }
    out
}
