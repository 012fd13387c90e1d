//! `bench-tds-loop`: case (d) of `bench/run.sh`, the driver's own floor for the uncached Status
//! read. Sends the service's status query (same text, same parameters) over one tiberius
//! connection, one after the other, for `--seconds`, decoding each row as the service does
//! (category name and time), and prints one line:
//! `queries=N seconds=S cpu_us_per_query=C p50_us=P p99_us=Q`.
//! `--queries N` sends exactly N queries instead (after the one warm-up query), for
//! `bench/instructions.sh`, which counts this process's instructions for two such runs.
//! `--command-timeout-ms N` sets tiberius' per-round-trip `command_timeout` as the service
//! does (`database.command_timeout_ms`); by default none is set (the driver's bare floor).
//!
//! The CPU figure is this process's own user + system time (`/proc/self/stat`), so it holds
//! the driver's work and nothing of the service's: compare it with case (b)'s CPU per request.
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use qoe_data_service::db::STATUS_QUERY;
use qoe_data_service::domain::{LogCategory, STATUS_DEPTH};
use tiberius::{AuthMethod, Client, Config, EncryptionLevel};
use tokio::net::TcpStream;
use tokio_util::compat::TokioAsyncWriteCompatExt;

type Failure = Box<dyn std::error::Error>;

fn main() -> Result<(), Failure> {
    let mut port = 1433u16;
    let mut seconds = 10.0f64;
    let mut command_timeout = None;
    let mut queries = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().unwrap_or_default();
        match arg.as_str() {
            "--tds-port" => port = value.parse()?,
            "--seconds" => seconds = value.parse()?,
            "--queries" => queries = Some(value.parse::<usize>()?),
            "--command-timeout-ms" => {
                command_timeout = Some(Duration::from_millis(value.parse()?));
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(
            port,
            Duration::from_secs_f64(seconds),
            queries,
            command_timeout,
        ))
}

async fn run(
    port: u16,
    duration: Duration,
    queries: Option<usize>,
    command_timeout: Option<Duration>,
) -> Result<(), Failure> {
    let mut config = Config::new();
    config.host("127.0.0.1");
    config.port(port);
    config.database("QoEArchive");
    config.authentication(AuthMethod::sql_server("qoe_service", "test-password"));
    config.encryption(EncryptionLevel::NotSupported);
    config.command_timeout(command_timeout);
    let tcp = TcpStream::connect(config.get_addr()).await?;
    tcp.set_nodelay(true)?;
    let mut client = Client::connect(config, tcp.compat_write()).await?;

    let depth = STATUS_DEPTH as i32;
    let [a, b, c, d, e, f] = [
        LogCategory::DataIntegrationSucceeded,
        LogCategory::CubeProcessingSucceeded,
        LogCategory::DataIntegrationFailed,
        LogCategory::CubeProcessingFailed,
        LogCategory::DataIntegrationStarted,
        LogCategory::CubeProcessingStarted,
    ]
    .map(LogCategory::as_str);
    // One query before measuring, as the service's pool is warm in case (b).
    status_query(&mut client, depth, [a, b, c, d, e, f]).await?;

    let cpu_before = cpu_micros()?;
    let started = Instant::now();
    let mut latencies = Vec::new();
    let more = |sent: usize| match queries {
        Some(count) => sent < count,
        None => started.elapsed() < duration,
    };
    while more(latencies.len()) {
        let sent = Instant::now();
        status_query(&mut client, depth, [a, b, c, d, e, f]).await?;
        latencies.push(sent.elapsed());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_micros()? - cpu_before;
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "queries={} seconds={elapsed:.2} cpu_us_per_query={:.1} p50_us={} p99_us={}",
        latencies.len(),
        cpu as f64 / latencies.len() as f64,
        at(0.50).as_micros(),
        at(0.99).as_micros()
    );
    Ok(())
}

async fn status_query(
    client: &mut Client<tokio_util::compat::Compat<TcpStream>>,
    depth: i32,
    [a, b, c, d, e, f]: [&str; 6],
) -> Result<usize, Failure> {
    let rows = client
        .query(STATUS_QUERY, &[&depth, &a, &b, &c, &d, &e, &f])
        .await?
        .into_first_result()
        .await?;
    let mut decoded = 0;
    for row in &rows {
        let category: Option<&str> = row.try_get("LogCategory")?;
        let category: LogCategory = category
            .ok_or("LogCategory is NULL")?
            .parse()
            .map_err(|_| "unknown LogCategory")?;
        let time: Option<NaiveDateTime> = row.try_get("LogTime")?;
        let _ = (category, time.ok_or("LogTime is NULL")?.and_utc());
        decoded += 1;
    }
    Ok(decoded)
}

/// User + system CPU time of this process so far, in microseconds.
fn cpu_micros() -> Result<u64, Failure> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let after = stat.rsplit_once(')').ok_or("unreadable /proc/self/stat")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    // CLK_TCK is 100 on Linux (every architecture Rust targets there).
    Ok(ticks * 10_000)
}
