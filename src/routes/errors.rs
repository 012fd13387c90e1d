use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::store::StoreError;

/// How long a client should wait before asking again after a database failure.
pub const RETRY_AFTER_SECONDS: u32 = 5;

#[derive(Debug, Serialize)]
pub(super) struct ErrorBody {
    error: &'static str,
}

impl ErrorBody {
    pub(super) fn new(error: &'static str) -> Self {
        ErrorBody { error }
    }
}

/// Failures of the Data API operations. The client learns only that the database is
/// unavailable: driver messages can carry server names and object names, so the cause
/// goes to the log (`Debug` prints the chain) and never into the body.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("database unavailable")]
    DatabaseUnavailable(#[source] StoreError),
    #[error("rendering the response body")]
    Rendering(#[source] serde_json::Error),
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::DatabaseUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Rendering(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::DatabaseUnavailable(_) => HttpResponse::build(self.status_code())
                .insert_header((header::RETRY_AFTER, RETRY_AFTER_SECONDS.to_string()))
                .insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]))
                .json(ErrorBody::new("database unavailable")),
            ApiError::Rendering(_) => {
                HttpResponse::build(self.status_code()).json(ErrorBody::new("internal error"))
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        tracing::error!(error = ?error, "answering 503: the database is unavailable");
        ApiError::DatabaseUnavailable(error)
    }
}
