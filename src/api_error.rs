//! The API's errors by meaning, mapped to HTTP in this one place: the handlers and the
//! middleware answer through it.
use std::borrow::Cow;
use std::sync::LazyLock;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};
use serde::Serialize;

use crate::domain::LogQueryError;
use crate::log_limit::RateLimit;
use crate::store::StoreError;
use crate::telemetry::in_request_span;

/// How long a client should wait before asking again after a database failure.
pub const RETRY_AFTER_SECONDS: u32 = 5;

/// The challenge a client without a valid API key gets.
pub const API_KEY_CHALLENGE: &str = r#"Bearer realm="qoe-data-service""#;

#[derive(Debug, Serialize)]
pub(crate) struct ErrorBody {
    error: Cow<'static, str>,
    /// Why the database is unavailable, in `/readyz`'s words (our words, never the driver's).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

impl ErrorBody {
    pub(crate) fn new(error: impl Into<Cow<'static, str>>) -> Self {
        ErrorBody {
            error: error.into(),
            reason: None,
        }
    }
}

/// Failures of the Data API operations. The client learns only that the database is
/// unavailable: driver messages can carry server names and object names, so the cause
/// goes to the log (`Debug` prints the chain) and never into the body. Request errors
/// are ours to word: they name what was wrong, never echo framework text.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("database unavailable")]
    DatabaseUnavailable(#[source] StoreError),
    #[error(transparent)]
    InvalidQuery(#[from] LogQueryError),
    #[error("{0}")]
    BadRequest(&'static str),
    #[error("missing or invalid API key")]
    Unauthorized,
    #[error("internal error while rendering the response")]
    Rendering(#[source] serde_json::Error),
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::DatabaseUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::InvalidQuery(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Rendering(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = match self {
            ApiError::DatabaseUnavailable(error) => service_unavailable_for(error),
            _ => HttpResponse::build(self.status_code()),
        };
        if let ApiError::Unauthorized = self {
            response.insert_header((header::WWW_AUTHENTICATE, API_KEY_CHALLENGE));
        }
        let mut body = ErrorBody::new(self.to_string());
        if let ApiError::DatabaseUnavailable(error) = self {
            body.reason = Some(error.kind().reason());
        }
        response.json(body)
    }
}

/// Every 503 the service gives (a failed read, `/readyz`) says when to ask again and must not
/// be kept by a cache in between.
pub(crate) fn service_unavailable() -> HttpResponseBuilder {
    service_unavailable_after(RETRY_AFTER_SECONDS)
}

/// A 503 for a failed read: while the store backs off after failed logins, `Retry-After` is
/// the wait left (rounded up), else the usual [`RETRY_AFTER_SECONDS`].
pub(crate) fn service_unavailable_for(error: &StoreError) -> HttpResponseBuilder {
    service_unavailable_after(retry_after_seconds(error))
}

pub(crate) fn retry_after_seconds(error: &StoreError) -> u32 {
    error.retry_after().map_or(RETRY_AFTER_SECONDS, |after| {
        u32::try_from(after.as_millis().div_ceil(1000))
            .unwrap_or(u32::MAX)
            .max(1)
    })
}

fn service_unavailable_after(seconds: u32) -> HttpResponseBuilder {
    let mut response = HttpResponse::ServiceUnavailable();
    response
        .insert_header((header::RETRY_AFTER, seconds.to_string()))
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]));
    response
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        log_unavailable(&error);
        ApiError::DatabaseUnavailable(error)
    }
}

/// Logs the cause of a 503 (the status page answers its own 503 with a page, not JSON).
pub(crate) fn log_unavailable(error: &StoreError) {
    // Every waiter of a failed coalesced load holds the same error: one line per window.
    static UNAVAILABLE: LazyLock<RateLimit> = LazyLock::new(RateLimit::default);
    let cause = format!("{error:?}");
    if let Some(held_back) = UNAVAILABLE.admit(&cause) {
        in_request_span(
            || tracing::error!(error = %cause, held_back, "answering 503: the database is unavailable"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Unavailability;

    #[test]
    fn every_503_says_when_to_retry_and_must_not_be_cached() {
        let stalled = std::io::Error::from(std::io::ErrorKind::TimedOut);
        let failed_read =
            ApiError::DatabaseUnavailable(StoreError::new(Unavailability::TimedOut, stalled))
                .error_response();
        let not_ready = service_unavailable().finish();

        for response in [failed_read, not_ready] {
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            let retry_after = response.headers().get(header::RETRY_AFTER).unwrap();
            assert_eq!(retry_after, RETRY_AFTER_SECONDS.to_string().as_str());
            let cache_control = response.headers().get(header::CACHE_CONTROL).unwrap();
            assert_eq!(cache_control, "no-store");
        }
    }
}
