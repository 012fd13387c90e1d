use std::borrow::Cow;
use std::sync::LazyLock;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::domain::LogQueryError;
use crate::log_limit::RateLimit;
use crate::store::StoreError;

/// How long a client should wait before asking again after a database failure.
pub const RETRY_AFTER_SECONDS: u32 = 5;

/// The challenge a client without a valid API key gets.
pub const API_KEY_CHALLENGE: &str = r#"Bearer realm="qoe-data-service""#;

#[derive(Debug, Serialize)]
pub(super) struct ErrorBody {
    error: Cow<'static, str>,
}

impl ErrorBody {
    pub(super) fn new(error: impl Into<Cow<'static, str>>) -> Self {
        ErrorBody {
            error: error.into(),
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
        let mut response = HttpResponse::build(self.status_code());
        match self {
            ApiError::DatabaseUnavailable(_) => {
                response
                    .insert_header((header::RETRY_AFTER, RETRY_AFTER_SECONDS.to_string()))
                    .insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]));
            }
            ApiError::Unauthorized => {
                response.insert_header((header::WWW_AUTHENTICATE, API_KEY_CHALLENGE));
            }
            ApiError::InvalidQuery(_) | ApiError::BadRequest(_) | ApiError::Rendering(_) => {}
        }
        response.json(ErrorBody::new(self.to_string()))
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        // Every waiter of a failed coalesced load holds the same error: one line per window.
        static UNAVAILABLE: LazyLock<RateLimit> = LazyLock::new(RateLimit::default);
        let cause = format!("{error:?}");
        if let Some(held_back) = UNAVAILABLE.admit(&cause) {
            tracing::error!(error = %cause, held_back, "answering 503: the database is unavailable");
        }
        ApiError::DatabaseUnavailable(error)
    }
}
