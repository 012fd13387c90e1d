//! The request id (taken or generated, returned to the client, named by every line logged
//! while answering: `telemetry::in_request_span`), the `answered` line, the request's entry
//! in the HTTP metrics and the count of requests in flight a shutdown reports on.
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest};

use crate::log_limit::RateLimit;
use crate::metrics::Metrics;
use crate::paths::{REQUEST_ID_HEADER, ROUTED_PATHS};
use crate::telemetry::{answering, in_request_span};

/// Taken from the request when valid, otherwise generated; always on the response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static(REQUEST_ID_HEADER);

/// Longest request id accepted from a client.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// What [`request_context`] records every request into, one for all the server's workers
/// (`AppState::requests`): the HTTP metrics, and the requests in flight with, once a shutdown
/// has begun, how each of them ended.
pub struct Requests {
    metrics: Arc<Metrics>,
    in_flight: AtomicU64,
    draining: AtomicBool,
    drained: AtomicU64,
    cut_off: AtomicU64,
}

/// How a shutdown ended the requests it found: `drained` finished, `cut_off` were dropped
/// unfinished (the shutdown timeout passed, or their client went away).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    pub drained: u64,
    pub cut_off: u64,
}

impl Requests {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Requests {
            metrics,
            in_flight: AtomicU64::new(0),
            draining: AtomicBool::new(false),
            drained: AtomicU64::new(0),
            cut_off: AtomicU64::new(0),
        }
    }

    /// Requests being handled right now.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Acquire)
    }

    /// From now on every request that ends counts in the [`ShutdownReport`]. Returns how many
    /// are in flight.
    pub fn start_draining(&self) -> u64 {
        self.draining.store(true, Ordering::Release);
        self.in_flight()
    }

    /// How the requests that ended since [`Requests::start_draining`] ended, once the server
    /// has stopped: a request still counted in flight then will never finish (its worker was
    /// stopped and is still dropping it), so it is cut off too.
    pub fn shutdown_report(&self) -> ShutdownReport {
        ShutdownReport {
            drained: self.drained.load(Ordering::Acquire),
            cut_off: self.cut_off.load(Ordering::Acquire) + self.in_flight(),
        }
    }
}

/// Held while a request is handled; `finish` it when the answer is ready. Dropped unfinished,
/// the request was abandoned.
struct InFlight<'a> {
    requests: &'a Requests,
    finished: bool,
}

impl<'a> InFlight<'a> {
    fn enter(requests: &'a Requests) -> Self {
        requests.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight {
            requests,
            finished: false,
        }
    }

    fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let requests = self.requests;
        requests.in_flight.fetch_sub(1, Ordering::AcqRel);
        // Only while stopping: the hot path stays one increment and one decrement.
        if requests.draining.load(Ordering::Acquire) {
            let ended = if self.finished {
                &requests.drained
            } else {
                &requests.cut_off
            };
            ended.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// `App::wrap(from_fn(request_context))`, with [`Requests`] in the app data (`routes::configure`
/// puts it there); without it every request is a 500, so that a wiring slip is seen at once.
pub async fn request_context(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // A client's id is shared with the request's bytes, not copied.
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .filter(|value| value.to_str().is_ok_and(is_valid_request_id))
        .cloned()
        .unwrap_or_else(generate_request_id);
    let Some(requests) = request.app_data::<web::Data<Requests>>().cloned() else {
        return Err(actix_web::error::ErrorInternalServerError(
            "the request context is not configured",
        ));
    };
    let method = method_label(request.method());
    // For the path in the `answered` line: the URI's bytes are shared (a reference count),
    // where the path's own `String` was an allocation per request. (A clone of the
    // `HttpRequest` would be cheaper still, but routing needs to be its only owner.)
    let uri = request.uri().clone();
    let started = Instant::now();
    let mut answer = std::pin::pin!(answering(request_id, async move {
        let in_flight = InFlight::enter(&requests);
        let result = next.call(request).await;
        in_flight.finish();
        let elapsed = started.elapsed();
        let (status, route) = match &result {
            Ok(response) => (response.status(), route_label(response.request())),
            Err(error) => (error.as_response_error().status_code(), None),
        };
        let route = route.unwrap_or("unmatched");
        log_answer(method, uri.path(), route, status, elapsed);
        requests
            .metrics
            .observe_http(route, method, status.as_str(), elapsed);
        result
    }));
    let mut response = answer.as_mut().await?;
    if let Some(id) = answer.as_mut().take_value() {
        response.headers_mut().insert(REQUEST_ID, id);
    }
    Ok(response)
}

/// Server errors at `warn`; everything else at `debug`: a line per request at `info` would
/// be a synchronous write to stderr on every request (it cut cached Status throughput by half).
fn log_answer(method: &str, path: &str, route: &str, status: StatusCode, elapsed: Duration) {
    let status = status.as_u16();
    let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
    if status >= 500 {
        // An outage answers every request with 503: one line per route and status per window.
        static SERVER_ERRORS: LazyLock<RateLimit> = LazyLock::new(RateLimit::default);
        if let Some(held_back) = SERVER_ERRORS.admit((route, status)) {
            in_request_span(|| {
                tracing::warn!(method, path, route, status, elapsed_ms, held_back, "answered")
            });
        }
    } else if tracing::enabled!(tracing::Level::DEBUG) {
        in_request_span(|| tracing::debug!(method, path, route, status, elapsed_ms, "answered"));
    }
}

/// Printable ASCII without spaces, 1 to 128 characters: safe to log and to echo back.
pub fn is_valid_request_id(id: &str) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

/// 32 hex digits, unique within the process and different from one process to the next: a
/// random per-process key mixed with a sequence number (a bijection, so no two are equal),
/// then the sequence number itself.
fn generate_request_id() -> HeaderValue {
    static KEY: LazyLock<u64> = LazyLock::new(|| RandomState::new().hash_one(0u64));
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let sequence = NEXT.fetch_add(1, Ordering::Relaxed);
    // Hex by hand into a stack buffer, with a cheap mix: `format!`, a `String` and SipHash
    // were each a measurable part of a cached hit.
    let mut id = [0u8; 32];
    let words = [mix(*KEY ^ sequence), sequence];
    for (digits, word) in id.chunks_exact_mut(16).zip(words) {
        for (at, digit) in digits.iter_mut().enumerate() {
            *digit = b"0123456789abcdef"[((word >> (60 - 4 * at)) & 0xf) as usize];
        }
    }
    HeaderValue::from_bytes(&id).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// splitmix64's finalizer: a bijection on `u64` that spreads every input bit over the output.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The route pattern a request was routed by, or `None` for an unrouted one (404). Every
/// route is a static path, so a request whose path is written as its pattern needs neither
/// `HttpRequest::match_pattern`'s walk of the resource map nor its `String` (both were a
/// measurable part of a cached hit); only a path written differently (percent-encoded) asks
/// the router.
fn route_label(request: &HttpRequest) -> Option<&'static str> {
    let routed = |path: &str| ROUTED_PATHS.into_iter().find(|pattern| *pattern == path);
    routed(request.path()).or_else(|| request.match_pattern().and_then(|p| routed(&p)))
}

/// Metric label for the method; unknown methods share one label so series stay bounded.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requests() -> Requests {
        Requests::new(Arc::new(Metrics::new(Default::default())))
    }

    #[test]
    fn requests_that_end_before_the_shutdown_are_not_in_its_report() {
        let requests = requests();
        InFlight::enter(&requests).finish();
        drop(InFlight::enter(&requests));

        assert_eq!(requests.start_draining(), 0);
        assert_eq!(requests.shutdown_report(), ShutdownReport::default());
    }

    #[test]
    fn the_report_counts_requests_in_flight_at_the_stop_as_drained_or_cut_off() {
        let requests = requests();
        let (finishing, abandoned) = (InFlight::enter(&requests), InFlight::enter(&requests));
        let _never_ends = InFlight::enter(&requests);

        assert_eq!(requests.start_draining(), 3);
        finishing.finish();
        drop(abandoned);

        assert_eq!(requests.in_flight(), 1);
        assert_eq!(
            requests.shutdown_report(),
            ShutdownReport {
                drained: 1,
                cut_off: 2
            }
        );
    }

    #[actix_web::test]
    async fn without_its_counters_the_request_context_answers_500() {
        use actix_web::{middleware::from_fn, test, App, HttpResponse};
        let app = test::init_service(
            App::new()
                .route("/healthz", web::get().to(HttpResponse::Ok))
                .wrap(from_fn(request_context)),
        )
        .await;

        let request = test::TestRequest::get().uri("/healthz").to_request();
        let response = test::try_call_service(&app, request).await;

        let status = match response {
            Ok(response) => response.status(),
            Err(error) => error.as_response_error().status_code(),
        };
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn request_ids_must_be_short_printable_ascii() {
        let too_long = "a".repeat(MAX_REQUEST_ID_LEN + 1);
        let longest = "a".repeat(MAX_REQUEST_ID_LEN);
        for (id, valid) in [
            ("4bf92f3577b34da6a3ce929d0e0e4736", true),
            ("req-1/2:3", true),
            (longest.as_str(), true),
            ("", false),
            ("has space", false),
            ("tab\there", false),
            ("ünïcode", false),
            (too_long.as_str(), false),
        ] {
            assert_eq!(is_valid_request_id(id), valid, "{id:?}");
        }
    }

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let (a, b) = (generate_request_id(), generate_request_id());
        let (a, b) = (a.to_str().expect("ascii"), b.to_str().expect("ascii"));

        assert!(is_valid_request_id(a), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn generated_ids_are_32_lowercase_hex_digits_ending_in_the_sequence() {
        let (a, b) = (generate_request_id(), generate_request_id());
        let (a, b) = (a.to_str().expect("ascii"), b.to_str().expect("ascii"));

        for id in [a, b] {
            assert_eq!(id.len(), 32, "{id}");
            assert!(
                id.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')),
                "{id}"
            );
        }
        let sequence = |id: &str| u64::from_str_radix(&id[16..], 16).expect("hex");
        assert_eq!(sequence(b), sequence(a) + 1);
    }
}
