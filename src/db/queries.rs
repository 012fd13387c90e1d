use tiberius::Row;

use super::client::{bounded_first_result, SqlClient};
use super::DbError;
use crate::domain::{
    within_sql_server_range, CategoryTime, LogCategory, LogEntry, LogQuery, STATUS_DEPTH,
};

/// Marks the status query in SQL Server's plan cache and in the TDS test server's log.
pub const STATUS_MARKER: &str = "qoe:status";

/// The whole status in one round trip: the newest @P1 entries of each outcome category
/// (@P2–@P5) and of each job's starts (@P6, @P7); the starts pair with the outcomes into
/// runs with durations (`domain::pair_runs`). Each `TOP` is a seek on
/// `IX_IntegrationLog_Category_Time`, so the cost does not grow with the table.
pub const STATUS_QUERY: &str = include_str!("sql/status.sql");

/// Marks the log query in SQL Server's plan cache and in the TDS test server's log.
pub const LOG_MARKER: &str = "qoe:integration-log";

/// The newest @P1 entries of category @P2, or of all when @P2 is NULL; see the file for the plan.
pub const LOG_QUERY: &str = include_str!("sql/integration_log.sql");

const OUTCOME_CATEGORIES: [LogCategory; 4] = [
    LogCategory::DataIntegrationSucceeded,
    LogCategory::CubeProcessingSucceeded,
    LogCategory::DataIntegrationFailed,
    LogCategory::CubeProcessingFailed,
];
const START_CATEGORIES: [LogCategory; 2] = [
    LogCategory::DataIntegrationStarted,
    LogCategory::CubeProcessingStarted,
];

pub async fn status_entries(client: &mut SqlClient) -> Result<Vec<CategoryTime>, DbError> {
    let depth = STATUS_DEPTH as i32;
    let [succeeded_integrations, succeeded_cubes, failed_integrations, failed_cubes] =
        OUTCOME_CATEGORIES.map(LogCategory::as_str);
    let [integration_start, cube_start] = START_CATEGORIES.map(LogCategory::as_str);
    let answer = client
        .query(
            STATUS_QUERY,
            &[
                &depth,
                &succeeded_integrations,
                &succeeded_cubes,
                &failed_integrations,
                &failed_cubes,
                &integration_start,
                &cube_start,
            ],
        )
        .await
        .map_err(DbError::command("sending the status query"))?;
    let most = STATUS_DEPTH * (OUTCOME_CATEGORIES.len() + START_CATEGORIES.len());
    let rows = bounded_first_result(answer, most, "reading the status query's rows").await?;
    rows.iter().map(category_time).collect()
}

pub async fn log_entries(
    client: &mut SqlClient,
    query: LogQuery,
) -> Result<Vec<LogEntry>, DbError> {
    let top = i32::from(query.top());
    let category = query.category().map(LogCategory::as_str);
    let answer = client
        .query(LOG_QUERY, &[&top, &category])
        .await
        .map_err(DbError::command("sending the integration log query"))?;
    let rows = bounded_first_result(
        answer,
        usize::from(query.top()),
        "reading the integration log query's rows",
    )
    .await?;
    rows.iter().map(log_entry).collect()
}

fn log_entry(row: &Row) -> Result<LogEntry, DbError> {
    let CategoryTime { category, time } = category_time(row)?;
    let description: Option<&str> = row
        .try_get("LogDescription")
        .map_err(DbError::command("reading LogDescription"))?;
    Ok(LogEntry {
        category,
        time,
        description: description.map(str::to_owned),
    })
}

fn category_time(row: &Row) -> Result<CategoryTime, DbError> {
    let category: &str = row
        .try_get("LogCategory")
        .map_err(DbError::command("reading LogCategory"))?
        .ok_or_else(|| DbError::UnexpectedResult("LogCategory is NULL".into()))?;
    let category = category
        .parse()
        .map_err(|_| DbError::UnexpectedResult(format!("unknown LogCategory `{category}`")))?;
    let time: chrono::NaiveDateTime = row
        .try_get("LogTime")
        .map_err(DbError::command("reading LogTime"))?
        .ok_or_else(|| DbError::UnexpectedResult("LogTime is NULL".into()))?;
    if !within_sql_server_range(time) {
        return Err(DbError::UnexpectedResult(format!(
            "LogTime {time} is past what SQL Server's dates hold"
        )));
    }
    Ok(CategoryTime {
        category,
        time: time.and_utc(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_no_category_is_formatted_in(query: &str) {
        for category in LogCategory::ALL {
            assert!(
                !query.contains(category.as_str()),
                "{category} is formatted into the SQL instead of bound"
            );
        }
    }

    #[test]
    fn the_status_query_carries_its_marker_and_binds_every_value() {
        assert!(STATUS_QUERY.contains(STATUS_MARKER));
        assert_no_category_is_formatted_in(STATUS_QUERY);
        for parameter in ["@P1", "@P2", "@P3", "@P4", "@P5", "@P6", "@P7"] {
            assert!(STATUS_QUERY.contains(parameter), "{parameter} unused");
        }
    }

    #[test]
    fn the_log_query_carries_its_marker_and_binds_every_value() {
        assert!(LOG_QUERY.contains(LOG_MARKER));
        assert_no_category_is_formatted_in(LOG_QUERY);
        assert!(LOG_QUERY.contains("TOP (@P1)"));
        assert!(LOG_QUERY.contains("@P2"));
    }
}
