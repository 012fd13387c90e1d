//! Logging that never stops serving: lines go through a bounded queue to one writer thread, so
//! a full stderr (the log reader stalled) never blocks a request and a closed one (the reader
//! exited: EPIPE) never panics. Lines that cannot be written are dropped and counted
//! (`qoe_log_lines_dropped_total` in `/metrics`).
use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use actix_web::http::header::HeaderValue;
use tokio::task::futures::TaskLocalFuture;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::configuration::LogFormat;
use crate::metrics::Counter;

/// Lines waiting for the writer thread; past this, new lines are dropped, not waited for.
const QUEUE_LINES: usize = 1024;

static PENDING: AtomicUsize = AtomicUsize::new(0);
static QUEUE: OnceLock<Queue> = OnceLock::new();

/// The one writer of the process (a subscriber is global) and what it could not write.
struct Queue {
    /// To the writer thread; `None` when lines cannot be written at all (stderr discarded, or
    /// no thread), so each is dropped at once.
    lines: Option<SyncSender<Vec<u8>>>,
    /// Log lines lost since start because stderr was closed, failing or not keeping up.
    dropped: Counter,
}

/// Where the lines go.
pub enum Sink {
    Stderr,
    /// A service without a console: a file (`platform::log_file::RotatingFile`), never coloured.
    File(Box<dyn Write + Send>),
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`), as text or JSON lines.
/// JSON lines carry the current span's fields (`request_id` for a line about a request).
/// Text carries ANSI colour only when stderr is a terminal. Returns the count of lines that
/// could not be written, for `/metrics`.
pub fn init(format: LogFormat) -> Counter {
    init_to(format, Sink::Stderr)
}

/// Logs as [`init`] does, to `sink`.
pub fn init_to(format: LogFormat, sink: Sink) -> Counter {
    let (ansi, discarded) = match sink {
        Sink::Stderr => (io::stderr().is_terminal(), stderr_is_discarded()),
        Sink::File(_) => (false, false),
    };
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref());
    let dropped = start_writer(sink, discarded);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(QueuedStderr)
        .with_ansi(ansi)
        .with_span_events(FmtSpan::NONE);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    dropped
}

/// actix-http's dispatchers write one `ERROR … stream error` line per malformed request, so a
/// client could fill the disk; the listener counts and logs those errors at a bounded rate
/// instead. Only a `RUST_LOG` that names `actix_http` itself lets the lines through.
const QUIET_DISPATCHERS: [&str; 2] = [
    "actix_http::h1::dispatcher=off",
    "actix_http::h2::dispatcher=off",
];

/// The filter for `RUST_LOG` (`None` or unparsable: `info`), with [`QUIET_DISPATCHERS`].
fn filter(rust_log: Option<&str>) -> EnvFilter {
    let mut filter = rust_log
        .and_then(|directives| EnvFilter::try_new(directives).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    if !rust_log.is_some_and(|directives| directives.contains("actix_http")) {
        for directive in QUIET_DISPATCHERS {
            if let Ok(directive) = directive.parse() {
                filter = filter.add_directive(directive);
            }
        }
    }
    filter
}

tokio::task_local! {
    /// The id of the request the current task is answering, as the header value it is sent
    /// back in (a client's id is shared with its request, not copied).
    static REQUEST_ID: HeaderValue;
}

/// Runs `answer` as the answer to the request `request_id`, for [`in_request_span`]. Once it
/// is done, `take_value` on the pinned future hands the id back for the response header:
/// cloning it instead would allocate for a generated id. (The future itself, not an `async fn`
/// around it: each level an answer passes through is a copy of it.)
pub fn answering<F: std::future::Future>(
    request_id: HeaderValue,
    answer: F,
) -> TaskLocalFuture<HeaderValue, F> {
    REQUEST_ID.scope(request_id, answer)
}

/// Runs `log` in an `http_request{request_id}` span when the current task is answering a
/// request, so that the lines it writes name the request. The span is made only when a line
/// is written: one made and entered for every request cost a fifth of a cached Status hit's
/// CPU. It is at `error` level so that the id shows at any `RUST_LOG` that lets a line through.
pub fn in_request_span<T>(log: impl FnOnce() -> T) -> T {
    let span = |id: &HeaderValue| {
        // Valid ids are printable ASCII (`request_context`), so `to_str` cannot fail here.
        tracing::error_span!("http_request", request_id = %id.to_str().unwrap_or_default())
    };
    match REQUEST_ID.try_with(span) {
        Ok(span) => span.in_scope(log),
        Err(_) => log(),
    }
}

/// Waits up to `limit` for queued lines to be written (call before the process exits).
pub fn flush(limit: Duration) {
    let deadline = Instant::now() + limit;
    while PENDING.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Writes one message to stderr through the queue (for the binary's last words), or drops it.
pub fn write_line(line: &str) {
    enqueue(format!("{line}\n").into_bytes());
}

/// Started with stderr closed (`2>&-`), the Rust runtime points descriptor 2 at `/dev/null`
/// before `main` (so it never becomes a socket); lines sent there are lost, so they are
/// counted as dropped instead of being written.
fn stderr_is_discarded() -> bool {
    std::fs::read_link("/proc/self/fd/2")
        .is_ok_and(|target| target == std::path::Path::new("/dev/null"))
}

fn enqueue(line: Vec<u8>) {
    let Some(queue) = QUEUE.get() else {
        // Before `init`: straight to stderr, errors ignored.
        let _ = io::stderr().write_all(&line);
        return;
    };
    let Some(lines) = &queue.lines else {
        queue.dropped.increment();
        return;
    };
    PENDING.fetch_add(1, Ordering::AcqRel);
    match lines.try_send(line) {
        Ok(()) => {}
        Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
            PENDING.fetch_sub(1, Ordering::AcqRel);
            queue.dropped.increment();
        }
    }
}

/// Starts the one writer thread, unless one runs already or `discarded` says nothing could be
/// written; its count of dropped lines.
fn start_writer(sink: Sink, discarded: bool) -> Counter {
    let queue = QUEUE.get_or_init(|| {
        let dropped = Counter::default();
        if discarded {
            return Queue {
                lines: None,
                dropped,
            };
        }
        let (sender, receiver) = sync_channel::<Vec<u8>>(QUEUE_LINES);
        let failed_writes = dropped.clone();
        let spawned = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || {
                let mut out: Box<dyn Write + Send> = match sink {
                    Sink::Stderr => Box::new(io::stderr()),
                    Sink::File(file) => file,
                };
                for line in receiver {
                    if out.write_all(&line).is_err() {
                        failed_writes.increment();
                    }
                    PENDING.fetch_sub(1, Ordering::AcqRel);
                }
            });
        Queue {
            // No thread, no logging: every line counts as dropped.
            lines: spawned.is_ok().then_some(sender),
            dropped,
        }
    });
    queue.dropped.clone()
}

/// The `MakeWriter` behind the subscriber: each event is one `write` of one whole line.
#[derive(Clone, Copy)]
struct QueuedStderr;

impl<'a> MakeWriter<'a> for QueuedStderr {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter(Vec::new())
    }
}

/// Collects one event's bytes and queues them as one line when dropped.
pub struct LineWriter(Vec<u8>);

impl Write for LineWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            enqueue(std::mem::take(&mut self.0));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// The lines `log` writes through [`filter`] for `rust_log`.
    fn written(rust_log: Option<&str>, log: impl FnOnce()) -> String {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter(rust_log))
            .with_ansi(false)
            .with_writer(move || Capture(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        let bytes = lines.lock().expect("lock").clone();
        String::from_utf8(bytes).expect("utf-8")
    }

    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn dispatcher_and_service_errors() {
        tracing::error!(target: "actix_http::h1::dispatcher", "stream error: parse");
        tracing::error!(target: "qoe_data_service::listener", "service line");
    }

    #[test]
    fn the_dispatchers_lines_a_client_can_repeat_are_off_at_any_level() {
        for rust_log in [
            None,
            Some("info"),
            Some("trace"),
            Some("debug,tiberius=warn"),
        ] {
            let text = written(rust_log, dispatcher_and_service_errors);

            assert!(!text.contains("stream error"), "{rust_log:?}: {text}");
            assert!(text.contains("service line"), "{rust_log:?}: {text}");
        }
    }

    #[test]
    fn a_rust_log_that_names_actix_http_lets_them_through() {
        let text = written(Some("info,actix_http=error"), dispatcher_and_service_errors);

        assert!(text.contains("stream error"), "{text}");
    }
}
