use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse, ResponseError};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use crate::api_error::{ApiError, API_KEY_CHALLENGE};
use crate::configuration::ApiKeys;
use crate::log_limit::RateLimit;
use crate::paths::{
    API_KEY_HEADER, HEALTHZ_PATH, OPENAPI_PATH, READYZ_PATH, STATUS_PAGE_PATH, STATUS_PATH,
};
use crate::telemetry::in_request_span;

/// Paths anyone may ask, keys or not: probes and the API description.
const OPEN_PATHS: [&str; 3] = [HEALTHZ_PATH, READYZ_PATH, OPENAPI_PATH];

/// Paths `http.public_status = true` opens: what people read. The Integration Log, ClearCache
/// and `/metrics` keep needing a key.
const STATUS_PATHS: [&str; 2] = [STATUS_PATH, STATUS_PAGE_PATH];

/// What a browser gets instead of the JSON `401` on the status page: how to reach it. Static
/// text, so nothing in it needs escaping; no style or script, so the CSP allows nothing.
const UNAUTHORIZED_PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>API key needed · QoE Data Service</title>
</head>
<body>
<h1>This status page needs an API key</h1>
<p>The service is set up with API keys (<code>http.api_keys</code>), and a browser cannot send one.</p>
<p><strong>To read this page in a browser</strong>, the service's admin sets
<code>http.public_status = true</code> in the settings file (or
<code>QOE_HTTP__PUBLIC_STATUS=true</code>) and restarts it: the status page and the Status
operation then answer without a key, while the Integration Log, ClearCache and
<code>/metrics</code> keep needing one. To limit who reads the page, put IIS with Windows
authentication in front (README, "IIS in front").</p>
<p><strong>Scripts and monitoring</strong> send the key as <code>X-Api-Key: &lt;key&gt;</code> or
<code>Authorization: Bearer &lt;key&gt;</code>.</p>
</body>
</html>
"#;

/// Checks API keys. Keeps SHA-256 digests only, so that every comparison is between
/// equal-length values and takes the same time whatever the key and however long it is.
#[derive(Debug, Default)]
pub struct ApiKeyGate {
    digests: Vec<[u8; 32]>,
    /// `http.public_status`: [`STATUS_PATHS`] need no key.
    public_status: bool,
    rejections: AtomicU64,
}

impl ApiKeyGate {
    pub fn new(keys: &ApiKeys) -> Self {
        ApiKeyGate {
            digests: keys
                .keys()
                .iter()
                .map(|key| Sha256::digest(key.expose_secret().as_bytes()).into())
                .collect(),
            public_status: false,
            rejections: AtomicU64::new(0),
        }
    }

    /// With `open`, Status and the status page answer without a key.
    pub fn public_status(mut self, open: bool) -> Self {
        self.public_status = open;
        self
    }

    /// Whether a request for `path` must carry a key.
    fn guards(&self, path: &str) -> bool {
        let open = self.is_open()
            || OPEN_PATHS.contains(&path)
            || (self.public_status && STATUS_PATHS.contains(&path));
        !open
    }

    /// No keys configured: everything is open, as CQD is to any authenticated user.
    pub fn is_open(&self) -> bool {
        self.digests.is_empty()
    }

    /// Compares against every key without stopping at a match.
    fn accepts(&self, candidate: &[u8]) -> bool {
        let candidate: [u8; 32] = Sha256::digest(candidate).into();
        self.digests
            .iter()
            .fold(Choice::from(0), |found, digest| {
                found | digest.ct_eq(&candidate)
            })
            .into()
    }

    /// How many requests were refused since start.
    pub fn rejections(&self) -> u64 {
        self.rejections.load(Ordering::Relaxed)
    }
}

/// Middleware: every request except [`OPEN_PATHS`] and CORS preflights needs a key when keys
/// are configured. Deny by default, so that a path spelled differently (percent-encoded,
/// added later) is never open by accident. The gate is the one `AppState::api_keys` holds and
/// `routes::configure` registers: without it every request is a 500, never let through.
pub async fn require_api_key(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(gate) = request.app_data::<web::Data<ApiKeyGate>>().cloned() else {
        return Err(actix_web::error::ErrorInternalServerError(
            "the API key gate is not configured",
        ));
    };
    let needs_key =
        request.method() != Method::OPTIONS && gate.guards(request.match_info().as_str());
    if needs_key {
        let presented = presented_key(&request);
        if !presented.is_some_and(|key| gate.accepts(key)) {
            let rejections = gate.rejections.fetch_add(1, Ordering::Relaxed) + 1;
            static REFUSED: LazyLock<RateLimit> = LazyLock::new(RateLimit::default);
            if let Some(held_back) = REFUSED.admit("refused") {
                in_request_span(|| {
                    tracing::warn!(
                        rejections,
                        held_back,
                        reason = if presented.is_some() { "wrong key" } else { "no key" },
                        method = %request.method(),
                        path = request.path(),
                        "refused a request without a valid API key (at most one such line per \
                         {:?}; held_back counts the others)",
                        crate::log_limit::WINDOW
                    )
                });
            }
            let response = if wants_the_page(&request) {
                unauthorized_page()
            } else {
                ApiError::Unauthorized.error_response()
            };
            return Ok(request.into_response(response).map_into_right_body());
        }
    }
    next.call(request)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// A browser asking for the status page: it accepts HTML by name (`*/*` alone is a script's).
fn wants_the_page(request: &ServiceRequest) -> bool {
    request.match_info().as_str() == STATUS_PAGE_PATH
        && request
            .headers()
            .get_all(header::ACCEPT)
            .filter_map(|accept| accept.to_str().ok())
            .any(|accept| accept.to_ascii_lowercase().contains("text/html"))
}

/// The `401` of [`ApiError::Unauthorized`] (same status and challenge) as a page for people.
fn unauthorized_page() -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header((header::WWW_AUTHENTICATE, API_KEY_CHALLENGE))
        .insert_header((header::CONTENT_SECURITY_POLICY, "default-src 'none'"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("text/html; charset=utf-8")
        .body(UNAUTHORIZED_PAGE)
}

/// `X-Api-Key: k` or `Authorization: Bearer k`.
fn presented_key(request: &ServiceRequest) -> Option<&[u8]> {
    let headers = request.headers();
    if let Some(key) = headers.get(API_KEY_HEADER) {
        return Some(key.as_bytes());
    }
    let authorization = headers.get(header::AUTHORIZATION)?.as_bytes();
    let scheme = authorization.get(..7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| authorization[7..].trim_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn gate(keys: &[&str]) -> ApiKeyGate {
        let keys = keys.iter().map(|k| SecretString::from(*k)).collect();
        ApiKeyGate::new(&ApiKeys::new(keys).expect("valid keys"))
    }

    #[test]
    fn any_configured_key_is_accepted() {
        let gate = gate(&["first-key", "second-key"]);

        assert!(gate.accepts(b"first-key"));
        assert!(gate.accepts(b"second-key"));
    }

    #[test]
    fn a_prefix_an_extension_or_another_case_of_a_key_is_refused() {
        let gate = gate(&["first-key"]);

        for candidate in ["first", "first-key-", "FIRST-KEY", ""] {
            assert!(!gate.accepts(candidate.as_bytes()), "{candidate}");
        }
    }

    #[actix_web::test]
    async fn without_the_gate_every_request_is_refused_with_500() {
        use actix_web::{middleware::from_fn, test, App, HttpResponse};
        let app = test::init_service(
            App::new()
                .route(
                    "/QoEDataService/IntegrationLog/Status",
                    web::get().to(HttpResponse::Ok),
                )
                .wrap(from_fn(require_api_key)),
        )
        .await;

        let request = test::TestRequest::get()
            .uri("/QoEDataService/IntegrationLog/Status")
            .to_request();
        let response = test::try_call_service(&app, request).await;

        let status = match response {
            Ok(response) => response.status(),
            Err(error) => error.as_response_error().status_code(),
        };
        assert_eq!(status, actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn without_keys_the_gate_is_open() {
        assert!(gate(&[]).is_open());
        assert!(!gate(&["k"]).is_open());
    }
}
