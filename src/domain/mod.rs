mod category;
mod log;
mod status;

pub use category::{LogCategory, UnknownCategory};
pub use log::{
    log_timestamp, LogEntry, LogEntryDocument, LogQuery, LogQueryError, DEFAULT_TOP, MAX_TOP,
};
pub use status::{
    cqd_timestamp, CategoryTime, Freshness, IntegrationStatus, StatusDocument, STATUS_DEPTH,
};
