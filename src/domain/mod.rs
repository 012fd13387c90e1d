mod category;
mod status;

pub use category::{LogCategory, UnknownCategory};
pub use status::{CategoryTime, IntegrationStatus, StatusDocument, STATUS_DEPTH};
