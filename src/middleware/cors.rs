//! CORS for CQD's `corsTrustedOrigin`: exact origins only.
use actix_cors::Cors;
use actix_web::http::{header, Method};

use crate::paths::API_KEY_HEADER;

/// How long a browser may reuse a preflight answer.
const PREFLIGHT_MAX_AGE_SECONDS: usize = 3600;

/// CQD's `corsTrustedOrigin`: exact origins only; any other origin gets no grant.
pub fn cors(origins: &[String]) -> Cors {
    origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .allowed_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allowed_headers([
            header::AUTHORIZATION,
            header::ACCEPT,
            header::CONTENT_TYPE,
            header::HeaderName::from_static(API_KEY_HEADER),
        ])
        .max_age(PREFLIGHT_MAX_AGE_SECONDS)
}
