//! Logging that never stops serving: lines go through a bounded queue to one writer thread, so
//! a full stderr (the log reader stalled) never blocks a request and a closed one (the reader
//! exited: EPIPE) never panics. Lines that cannot be written are dropped and counted
//! (`qoe_log_lines_dropped_total` in `/metrics`).
use std::fmt::{self, Write as _};
use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use actix_web::http::header::HeaderValue;
use tokio::task::futures::TaskLocalFuture;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{DefaultFields, FmtSpan, Writer};
use tracing_subscriber::fmt::FormatFields;
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
        LogFormat::Text => builder.fmt_fields(EscapedFields::default()).try_init(),
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
/// A cause chain may quote the database, so its control characters are escaped as in text
/// lines.
pub fn write_line(line: &str) {
    let mut escaped = String::with_capacity(line.len() + 1);
    let _ = Escaping(&mut escaped).write_str(line);
    escaped.push('\n');
    enqueue(escaped.into_bytes());
}

/// Text lines: every field (messages, the driver's own lines, cause chains, span fields such as
/// step names) with its control characters escaped, so that nothing SQL Server or a client sent
/// can end a line early, forge one, or steer a terminal. JSON escapes them by itself.
#[derive(Default)]
struct EscapedFields(DefaultFields);

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut escaping = Escaping(&mut writer);
        self.0.format_fields(Writer::new(&mut escaping), fields)
    }
}

/// Writes through to `W`, with each control character (C0, DEL, C1) as `\n`, `\r`, `\t` or
/// `\u{1b}`.
struct Escaping<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if !text.chars().any(char::is_control) {
            return self.0.write_str(text);
        }
        for c in text.chars() {
            match c {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                c if c.is_control() => write!(self.0, "\\u{{{:x}}}", u32::from(c))?,
                c => self.0.write_char(c)?,
            }
        }
        Ok(())
    }
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

    /// The text lines `log` writes with the text format's fields.
    fn written_as_text(log: impl FnOnce()) -> String {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter(Some("trace")))
            .with_ansi(false)
            .fmt_fields(EscapedFields::default())
            .with_writer(move || Capture(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        let bytes = lines.lock().expect("lock").clone();
        String::from_utf8(bytes).expect("utf-8")
    }

    const FORGED: &str = "bad\r\n2026-01-01T00:00:00Z ERROR forged line\u{1b}[2J\u{9b}\u{7}";
    const ESCAPED: &str = r"bad\r\n2026-01-01T00:00:00Z ERROR forged line\u{1b}[2J\u{9b}\u{7}";

    /// One line per event, the forged line escaped in it (tracing-subscriber writes ESC and
    /// BEL of a message as `\x1b`, `\x07` before we see them), and no control character but
    /// the line ends.
    fn assert_escaped(text: &str, events: usize) {
        assert_eq!(text.lines().count(), events, "{text}");
        assert!(
            text.contains(r"bad\r\n2026-01-01T00:00:00Z ERROR forged line"),
            "{text}"
        );
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(!text.contains("\n2026-01-01"), "{text}");
    }

    #[test]
    fn a_server_message_the_driver_logs_stays_on_its_line() {
        // How tiberius logs an ERROR token from the server.
        let text = written_as_text(
            || tracing::event!(target: "tiberius::tds::stream::token", tracing::Level::ERROR, message = %FORGED, code = 50000),
        );

        assert_escaped(&text, 1);
    }

    #[test]
    fn a_cause_chain_in_a_field_stays_on_its_line() {
        let cause = std::io::Error::other(FORGED);
        let text = written_as_text(|| {
            tracing::error!(error = ?cause, "database unavailable");
            tracing::warn!(reason = %FORGED, "not ready");
            tracing::warn!(error = &cause as &dyn std::error::Error, "error value");
        });

        assert_escaped(&text, 3);
    }

    #[test]
    fn a_span_field_such_as_a_step_name_stays_on_its_line() {
        let text = written_as_text(|| {
            tracing::error_span!("agent", step = %FORGED)
                .in_scope(|| tracing::warn!("no SQL Server Agent job step has this name"))
        });

        assert_escaped(&text, 1);
    }

    #[test]
    fn text_without_control_characters_is_written_as_it_is() {
        let text = written_as_text(|| tracing::info!(category = "Ünïcode ✓", "plain line"));

        assert!(
            text.contains(r#"plain line category="Ünïcode ✓""#),
            "{text}"
        );
    }

    #[test]
    fn the_last_words_are_escaped_too() {
        let mut escaped = String::new();
        Escaping(&mut escaped).write_str(FORGED).expect("written");

        assert_eq!(escaped, ESCAPED);
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
