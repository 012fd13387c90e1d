//! The HTTP API's names: every routed path and the headers it defines. A leaf module, so the
//! route table, the OpenAPI document, the middleware and the tests share it without
//! importing each other.

/// The path of the CQD "Get Last Integration Data" operation.
pub const STATUS_PATH: &str = "/QoEDataService/IntegrationLog/Status";
/// The status page for people.
pub const STATUS_PAGE_PATH: &str = "/QoEDataService/IntegrationLog/StatusPage";
/// The path of the CQD "Get Integration Log" operation.
pub const LOG_PATH: &str = "/QoEDataService/IntegrationLog";
/// The path of the CQD "Clear Cache" operation.
pub const CLEAR_CACHE_PATH: &str = "/QoEDataService/ClearCache";
pub const HEALTHZ_PATH: &str = "/healthz";
pub const READYZ_PATH: &str = "/readyz";
/// The OpenAPI 3 description of every endpoint.
pub const OPENAPI_PATH: &str = "/openapi.json";
/// Prometheus scrape endpoint.
pub const METRICS_PATH: &str = "/metrics";

/// Every routed path: the route table registers exactly these (a test in `routes` checks
/// it). All are static patterns, so a request's route pattern is the one its path equals,
/// as actix-web's `match_pattern` would find it, without walking the resource map or
/// allocating the label.
pub const ROUTED_PATHS: [&str; 8] = [
    STATUS_PATH,
    STATUS_PAGE_PATH,
    LOG_PATH,
    CLEAR_CACHE_PATH,
    HEALTHZ_PATH,
    READYZ_PATH,
    OPENAPI_PATH,
    METRICS_PATH,
];

/// The header a client may carry its key in, instead of `Authorization: Bearer`.
pub const API_KEY_HEADER: &str = "x-api-key";

/// The request id a client may send and always gets back (`middleware::request_context`).
pub const REQUEST_ID_HEADER: &str = "x-request-id";
