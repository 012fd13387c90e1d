mod clear_cache;
mod health;
mod integration_log;
mod prometheus;
mod status;
mod status_page;

use std::sync::LazyLock;

use actix_web::http::{header, Method};
use actix_web::{guard, web, HttpRequest, HttpResponse, Route};

use crate::api_error::{ApiError, ErrorBody};
use crate::app_state::AppState;
use crate::paths::{
    CLEAR_CACHE_PATH, HEALTHZ_PATH, LOG_PATH, METRICS_PATH, OPENAPI_PATH, READYZ_PATH,
    STATUS_PAGE_PATH, STATUS_PATH,
};
use crate::telemetry::in_request_span;

/// The one list of operations: the route table registers exactly these, and the OpenAPI
/// tests compare their methods and paths with the document.
fn endpoints() -> [(Method, &'static str, Route); 8] {
    [
        (
            Method::GET,
            STATUS_PATH,
            web::route().to(status::get_status),
        ),
        (
            Method::GET,
            STATUS_PAGE_PATH,
            web::route().to(status_page::get_status_page),
        ),
        (
            Method::GET,
            LOG_PATH,
            web::route().to(integration_log::get_log),
        ),
        (
            Method::POST,
            CLEAR_CACHE_PATH,
            web::route().to(clear_cache::clear_cache),
        ),
        (Method::GET, HEALTHZ_PATH, web::route().to(health::healthz)),
        (Method::GET, READYZ_PATH, web::route().to(health::readyz)),
        (Method::GET, OPENAPI_PATH, web::route().to(openapi)),
        (
            Method::GET,
            METRICS_PATH,
            web::route().to(prometheus::get_metrics),
        ),
    ]
}

/// Every routed method and path.
pub fn routed_operations() -> Vec<(Method, &'static str)> {
    endpoints()
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect()
}

/// The one route table, used by the server and by the in-process tests. Each path answers
/// its one method; any other method is a 405 naming the allowed ones.
pub fn routes(cfg: &mut web::ServiceConfig) {
    for (method, path, route) in endpoints() {
        // GET answers HEAD too, as the 405's `Allow` has always promised.
        let (route, allow) = match method {
            Method::GET => (
                route.guard(guard::Any(guard::Get()).or(guard::Head())),
                "GET, HEAD".to_owned(),
            ),
            other => (route.method(other.clone()), other.to_string()),
        };
        cfg.service(
            web::resource(path)
                .route(route)
                .default_service(web::to(move || method_not_allowed(allow.clone()))),
        );
    }
    cfg.default_service(web::to(not_found));
}

/// Registers the state, our extractor errors and the routes:
/// `App::new().configure(configure(state))`.
pub fn configure(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        // The middleware sees only what it needs, not the state: the requests it records and
        // the API key gate.
        cfg.app_data(web::Data::from(state.requests.clone()))
            .app_data(web::Data::from(state.api_keys.clone()))
            .app_data(web::Data::new(state))
            .app_data(web::QueryConfig::default().error_handler(|error, request| {
                extractor_error(&error, request, "malformed query string")
            }))
            .app_data(
                web::PathConfig::default().error_handler(|error, request| {
                    extractor_error(&error, request, "malformed path")
                }),
            )
            .app_data(web::JsonConfig::default().error_handler(|error, request| {
                extractor_error(&error, request, "malformed JSON body")
            }));
        routes(cfg);
    }
}

/// actix's extractor messages are not part of our API: log them, answer in our words.
fn extractor_error(
    error: &dyn std::fmt::Display,
    request: &HttpRequest,
    problem: &'static str,
) -> actix_web::Error {
    in_request_span(
        || tracing::debug!(%error, path = request.path(), "refusing a malformed request"),
    );
    ApiError::BadRequest(problem).into()
}

/// `GET /openapi.json`: the document never changes while the process runs, so it is
/// serialized once.
async fn openapi() -> HttpResponse {
    static DOCUMENT: LazyLock<web::Bytes> = LazyLock::new(|| {
        serde_json::to_vec(&crate::openapi::document())
            .expect("a serde_json::Value always serializes")
            .into()
    });
    HttpResponse::Ok()
        .insert_header(header::ContentType::json())
        .body(DOCUMENT.clone())
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(ErrorBody::new("not found"))
}

async fn method_not_allowed(allow: String) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((actix_web::http::header::ALLOW, allow))
        .json(ErrorBody::new("method not allowed"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;
    use actix_web::test::TestRequest;

    #[test]
    fn the_route_table_registers_exactly_the_routed_paths() {
        let mut registered: Vec<&str> = routed_operations()
            .into_iter()
            .map(|(_, path)| path)
            .collect();
        let mut listed = crate::paths::ROUTED_PATHS.to_vec();
        registered.sort_unstable();
        listed.sort_unstable();

        assert_eq!(registered, listed);
    }

    #[actix_web::test]
    async fn extractor_errors_are_answered_as_json_in_our_words() {
        let request = TestRequest::default().to_http_request();

        let error = extractor_error(&"Query deserialize error: …", &request, "malformed path");
        let response = error.error_response();

        assert_eq!(response.status(), actix_web::http::StatusCode::BAD_REQUEST);
        let body = to_bytes(response.into_body()).await.expect("body");
        assert_eq!(&body[..], br#"{"error":"malformed path"}"#);
    }
}
