use std::fmt;
use std::str::FromStr;

/// What an integration log entry records. The database restricts `LogCategory` to these names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogCategory {
    DataIntegrationStarted,
    DataIntegrationSucceeded,
    DataIntegrationFailed,
    CubeProcessingStarted,
    CubeProcessingSucceeded,
    CubeProcessingFailed,
}

impl LogCategory {
    pub const ALL: [LogCategory; 6] = [
        LogCategory::DataIntegrationStarted,
        LogCategory::DataIntegrationSucceeded,
        LogCategory::DataIntegrationFailed,
        LogCategory::CubeProcessingStarted,
        LogCategory::CubeProcessingSucceeded,
        LogCategory::CubeProcessingFailed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            LogCategory::DataIntegrationStarted => "DataIntegrationStarted",
            LogCategory::DataIntegrationSucceeded => "DataIntegrationSucceeded",
            LogCategory::DataIntegrationFailed => "DataIntegrationFailed",
            LogCategory::CubeProcessingStarted => "CubeProcessingStarted",
            LogCategory::CubeProcessingSucceeded => "CubeProcessingSucceeded",
            LogCategory::CubeProcessingFailed => "CubeProcessingFailed",
        }
    }
}

impl fmt::Display for LogCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown integration log category")]
pub struct UnknownCategory;

impl FromStr for LogCategory {
    type Err = UnknownCategory;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        LogCategory::ALL
            .into_iter()
            .find(|category| category.as_str() == name)
            .ok_or(UnknownCategory)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_category_parses_back_from_its_name() {
        for category in LogCategory::ALL {
            assert_eq!(category.as_str().parse(), Ok(category));
        }
    }

    #[test]
    fn names_are_case_sensitive_like_the_database_constraint() {
        assert_eq!(
            "dataintegrationstarted".parse::<LogCategory>(),
            Err(UnknownCategory)
        );
    }
}
